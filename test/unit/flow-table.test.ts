import test from 'ava';
import {
  AgingPace, BUCKET_WAYS, BUCKET_WORDS, CHUNK, FLOW_DECIDED, FLOW_DST_NAT, FLOW_SRC_NAT, flowHash, flowHashV4, FlowOwner, flowSeen, FlowTable, K_DST, K_PORTS, K_PROTO, K_SRC, K_VNI, KEY_STRIDE, KEY_WORDS,
  R_FLAGS, R_GEN, R_HASH, R_KEY, R_OWNER, R_PORT, R_SEEN, RECORD, reverseKey, setNatFlags, UL_REF_MAX_RECORD, UL_REF_SHIFT, ulRef,
} from '../../src/tables/flow-table.js';
import { fmix32 } from '../../src/tables/lpm-core.js';
import { Qsbr } from '../../src/tables/qsbr.js';
import { ip4num, ip6 } from './frames.js';

/** A key (at 0) and its reverse (at KEY_WORDS), as conntrack builds them. */
function key4(vni: number, src: string, dst: string, sport: number, dport: number, proto = 17): Int32Array {
  const k = new Int32Array(KEY_WORDS * 2);
  k[K_VNI] = vni;
  k[K_PORTS] = (sport << 16) | dport;
  k[K_PROTO] = proto;
  k[K_SRC] = ip4num(src) | 0;
  k[K_DST] = ip4num(dst) | 0;
  reverseKey(k, 0, k, KEY_WORDS);
  return k;
}

function key6(vni: number, src: string, dst: string, sport: number, dport: number, proto = 17): Int32Array {
  const k = new Int32Array(KEY_WORDS * 2);
  k[K_VNI] = vni;
  k[K_PORTS] = (sport << 16) | dport;
  k[K_PROTO] = proto | 0x100;
  const dv = (a: Uint8Array): DataView => new DataView(a.buffer);
  const s = dv(ip6(src));
  const d = dv(ip6(dst));
  for (let i = 0; i < 4; i++) {
    k[K_SRC + i] = s.getInt32(i * 4);
    k[K_DST + i] = d.getInt32(i * 4);
  }
  reverseKey(k, 0, k, KEY_WORDS);
  return k;
}

function insert(o: FlowOwner, k: Int32Array, port = 3, now = 10): number {
  return o.insert(k, 0, flowHash(k, 0), KEY_WORDS, flowHash(k, KEY_WORDS), port, now);
}

/** flow << 1 | dir of the key at k[off..], or -1. */
function find(t: FlowTable, k: Int32Array, off = 0): number {
  return t.lookup(k, off, flowHash(k, off));
}

test('a flow is found by its key in direction 0 and by the reverse key in direction 1, IPv4 and IPv6', (t) => {
  const table = FlowTable.create(256);
  const o = new FlowOwner(table, 5);
  const keys = [key4(100, '10.0.0.1', '10.0.0.2', 1234, 80), key6(100, '2000::1', '2000::2', 1234, 80)];
  for (const k of keys) {
    const f = insert(o, k, 7, 42);
    t.true(f >= 0);
    t.is(find(table, k, 0), f << 1);
    t.is(find(table, k, KEY_WORDS), (f << 1) | 1);
    const base = f * RECORD;
    t.is(table.rec[base + R_OWNER], 5);
    t.is(table.rec[base + R_OWNER + KEY_STRIDE], 5, 'the owner is on both directions\' lines');
    t.is(table.rec[base + R_PORT], 7);
    t.is(table.rec[base + R_SEEN], 42);
    t.is(flowSeen(table.rec, f), 42);
    t.is(table.rec[base + R_HASH], flowHash(k, 0));
    t.is(table.rec[base + R_HASH + KEY_STRIDE], flowHash(k, KEY_WORDS));
    const copy = new Int32Array(KEY_WORDS * 2);
    table.copyKey(f, 0, copy, 0);
    table.copyKey(f, 1, copy, KEY_WORDS);
    t.deepEqual(Array.from(copy), Array.from(k));
  }
  t.is(table.live, 2);
  t.is(o.ownedCount, 2);
});

test('a key differing in any field (VNI, ports, protocol, family, any address word) is another flow', (t) => {
  const table = FlowTable.create(256);
  const o = new FlowOwner(table, 0);
  const v4 = key4(100, '10.0.0.1', '10.0.0.2', 1234, 80);
  const v6 = key6(100, '2000::1', '2000::2', 1234, 80);
  insert(o, v4);
  insert(o, v6);
  const variants: [string, Int32Array, number][] = [
    ['VNI', v4, K_VNI], ['ports', v4, K_PORTS], ['protocol', v4, K_PROTO], ['IPv4 source', v4, K_SRC],
    ['IPv4 destination', v4, K_DST], ['IPv6 family bit', v6, K_PROTO],
    ...[0, 1, 2, 3].map((i): [string, Int32Array, number] => [`IPv6 source word ${i}`, v6, K_SRC + i]),
    ...[0, 1, 2, 3].map((i): [string, Int32Array, number] => [`IPv6 destination word ${i}`, v6, K_DST + i]),
  ];
  for (const [what, base, word] of variants) {
    const k = base.slice(0, KEY_WORDS);
    k[word] = k[word]! ^ (word === K_PROTO ? 0x100 : 1);
    t.is(find(table, k), -1, what);
  }
  // an IPv4 key is compared on its used words only (conntrack zeroes the others)
  t.is(find(table, v4), 0);
  // same addresses and ports, UDP vs TCP
  t.is(find(table, key4(100, '10.0.0.1', '10.0.0.2', 1234, 80, 6)), -1);
});

test('many flows of both families are all found in both directions', (t) => {
  const table = FlowTable.create(2048);
  const o = new FlowOwner(table, 0);
  const keys: Int32Array[] = [];
  for (let i = 0; i < 1000; i++) {
    keys.push(i % 2 === 0 ? key4(i % 7, `10.0.${i >> 8}.${i & 255}`, '10.1.0.1', 1000 + i, 53)
      : key6(i % 7, `2000::${i.toString(16)}`, '2000::ffff', 1000 + i, 53));
  }
  const flows = keys.map((k) => insert(o, k));
  t.true(flows.every((f) => f >= 0));
  t.is(new Set(flows).size, 1000, 'distinct records');
  keys.forEach((k, i) => {
    t.is(find(table, k, 0), flows[i]! << 1);
    t.is(find(table, k, KEY_WORDS), (flows[i]! << 1) | 1);
  });
  t.is(table.live, 1000);
});

test('the index takes as many flows as the table has records (two choices keep buckets even)', (t) => {
  const n = 16384;
  const table = FlowTable.create(n);
  const o = new FlowOwner(table, 0);
  let refused = 0;
  const k = new Int32Array(KEY_WORDS * 2);
  for (let i = 0; i < n; i++) {
    k.set(key4(i % 13, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, '10.200.0.1', 1024 + (i % 50000), 443, 6));
    if (insert(o, k) < 0) refused++;
  }
  t.is(refused, 0);
  t.is(table.live, n);
});

test('a full table refuses a new flow with -1 and keeps every flow it holds intact', (t) => {
  const table = FlowTable.create(CHUNK);
  const o = new FlowOwner(table, 0);
  const keys = Array.from({ length: CHUNK }, (_, i) => key4(1, '10.0.0.1', '10.0.0.2', i, 80));
  const flows = keys.map((k) => insert(o, k));
  t.deepEqual(flows, Array.from({ length: CHUNK }, (_, i) => i));
  const extra = key4(1, '10.0.0.1', '10.0.0.2', 9999, 80);
  t.is(insert(o, extra), -1);
  t.is(insert(o, extra), -1, 'and again');
  t.is(find(table, extra), -1);
  keys.forEach((k, i) => {
    t.is(find(table, k, 0), i << 1);
    t.is(find(table, k, KEY_WORDS), (i << 1) | 1);
  });
  t.is(table.live, CHUNK);
});

test('a flow whose two buckets are both full is refused with -2 and its record is used by the next flow', (t) => {
  const table = FlowTable.create(1024);
  const o = new FlowOwner(table, 0);
  // every key given the same hash h lands in the same two buckets (chosen distinct)
  let h = 1;
  while (((h & table.bucketMask) === (fmix32(h ^ 0x5bd1e995) & table.bucketMask))) h++;
  const ins = (i: number): number => {
    const k = key4(1, '10.0.0.1', '10.0.0.2', i, 80);
    return o.insert(k, 0, h, KEY_WORDS, flowHash(k, KEY_WORDS), 3, 0);
  };
  const ok = Array.from({ length: 2 * BUCKET_WAYS }, (_, i) => ins(i));
  t.true(ok.every((f) => f >= 0));
  t.is(ins(100), -2);
  t.is(table.live, 2 * BUCKET_WAYS);
  for (let i = 0; i < 2 * BUCKET_WAYS; i++) {
    const k = key4(1, '10.0.0.1', '10.0.0.2', i, 80);
    t.is(table.lookup(k, 0, h), ok[i]! << 1, `flow ${i} still found`);
  }
  const next = insert(o, key4(1, '10.0.0.1', '10.0.0.9', 1, 80));
  t.is(next, 2 * BUCKET_WAYS, 'the refused record is handed out again');
});

test('a key goes to its first bucket while that is at most half full, then to the less loaded of its two', (t) => {
  const table = FlowTable.create(1024);
  const o = new FlowOwner(table, 0);
  let h = 1;
  while (((h & table.bucketMask) === (fmix32(h ^ 0x5bd1e995) & table.bucketMask))) h++;
  const first = (h & table.bucketMask) * BUCKET_WORDS;
  const second = (fmix32(h ^ 0x5bd1e995) & table.bucketMask) * BUCKET_WORDS;
  const used = (b: number): number => Array.from({ length: BUCKET_WAYS }, (_, i) => table.idx[b + BUCKET_WAYS + i]!).filter((e) => e > 0).length;
  const seen: [number, number][] = [];
  for (let i = 0; i < 2 * BUCKET_WAYS; i++) {
    const k = key4(1, '10.0.0.1', '10.0.0.2', i, 80);
    t.true(o.insert(k, 0, h, KEY_WORDS, flowHash(k, KEY_WORDS), 3, 0) >= 0);
    seen.push([used(first), used(second)]);
  }
  // five in the first (it had at least half its ways free each time), then alternating
  t.deepEqual(seen.slice(0, 6), [[1, 0], [2, 0], [3, 0], [4, 0], [5, 0], [5, 1]]);
  t.deepEqual(seen[2 * BUCKET_WAYS - 1], [BUCKET_WAYS, BUCKET_WAYS]);
  for (let i = 0; i < 2 * BUCKET_WAYS; i++) {
    const k = key4(1, '10.0.0.1', '10.0.0.2', i, 80);
    t.not(table.lookup(k, 0, h), -1, `flow ${i} found`);
  }
});

test('a flow whose reply key cannot be indexed is refused whole: neither direction is found', (t) => {
  const table = FlowTable.create(1024);
  const o = new FlowOwner(table, 0);
  let h = 1;
  while (((h & table.bucketMask) === (fmix32(h ^ 0x5bd1e995) & table.bucketMask))) h++;
  // fill both buckets of reply hash h with other flows' original keys
  for (let i = 0; i < 2 * BUCKET_WAYS; i++) {
    const k = key4(1, '10.0.0.1', '10.0.0.2', i, 80);
    t.true(o.insert(k, 0, h, KEY_WORDS, flowHash(k, KEY_WORDS), 3, 0) >= 0);
  }
  const live = table.live;
  const k = key4(2, '10.0.0.1', '10.0.0.2', 1, 80);
  t.is(o.insert(k, 0, flowHash(k, 0), KEY_WORDS, h, 3, 0), -2);
  t.is(find(table, k, 0), -1, 'the original key was unpublished again');
  t.is(table.live, live);
  t.is(o.ownedCount, live);
});

test('a removed flow is gone at once in both directions and its record is reused only after the grace period', (t) => {
  const table = FlowTable.create(CHUNK);
  const o = new FlowOwner(table, 0);
  const keys = Array.from({ length: CHUNK }, (_, i) => key4(1, '10.0.0.1', '10.0.0.2', i, 80));
  keys.forEach((k) => insert(o, k));
  const qsbr = Qsbr.create(2);
  qsbr.online(1);           // another worker is reading the table
  o.remove(5, qsbr.start());
  t.is(find(table, keys[5]!, 0), -1);
  t.is(find(table, keys[5]!, KEY_WORDS), -1);
  t.is(table.live, CHUNK - 1);
  t.is(o.ownedCount, CHUNK - 1);
  const fresh = key4(1, '10.0.0.1', '10.0.0.3', 1, 80);
  o.reclaim((tok) => qsbr.check(tok));
  t.is(insert(o, fresh), -1, 'the reader has not passed a quiescent point: the record is not reused');
  qsbr.quiescent(1);
  o.reclaim((tok) => qsbr.check(tok));
  t.is(insert(o, fresh), 5, 'after the grace period the record is reused');
  t.is(find(table, fresh), 5 << 1);
  keys.forEach((k, i) => {
    if (i !== 5) t.is(find(table, k), i << 1, `flow ${i} untouched`);
  });
});

test('reclaim stops at the first record whose grace period has not ended (FIFO)', (t) => {
  const table = FlowTable.create(CHUNK);
  const o = new FlowOwner(table, 0);
  for (let i = 0; i < CHUNK; i++) insert(o, key4(1, '10.0.0.1', '10.0.0.2', i, 80));
  o.remove(1, 1);
  o.remove(2, 2);
  o.remove(3, 3);
  o.reclaim((tok) => tok <= 1);
  const a = insert(o, key4(2, '10.0.0.1', '10.0.0.2', 1, 80));
  t.is(a, 1);
  t.is(insert(o, key4(2, '10.0.0.1', '10.0.0.2', 2, 80)), -1);
  o.reclaim(() => true);
  const rest = [insert(o, key4(2, '10.0.0.1', '10.0.0.2', 3, 80)), insert(o, key4(2, '10.0.0.1', '10.0.0.2', 4, 80))];
  t.deepEqual(rest.sort(), [2, 3]);
});

test('age checks at most max owned flows per call, removes the expired ones, one grace token per call', (t) => {
  const table = FlowTable.create(256);
  const o = new FlowOwner(table, 0);
  const keys = Array.from({ length: 10 }, (_, i) => key4(1, '10.0.0.1', '10.0.0.2', i, 80));
  const flows = keys.map((k, i) => insert(o, k, 3, i));   // flow i last seen at i
  const expired = (f: number): boolean => flowSeen(table.rec, f) < 5;
  let checks = 0;
  const counted = (f: number): boolean => (checks++, expired(f));
  let tokens = 0;
  const token = (): number => ++tokens;
  const first = o.age(3, counted, token);
  t.is(checks, 3);
  t.true(first >= 1 && first <= 3);
  t.is(tokens, 1);
  const rest = o.age(100, expired, token) + o.age(100, expired, token);
  t.is(first + rest, 5);
  t.is(tokens, 2, 'the second full pass found nothing: no token taken');
  keys.forEach((k, i) => t.is(find(table, k), i < 5 ? -1 : flows[i]! << 1, `flow ${i}`));
  t.is(o.ownedCount, 5);
  t.is(table.live, 5);
  checks = 0;
  t.is(o.age(100, counted, token), 0);
  t.is(checks, 100, 'the cursor wraps around the 5 remaining flows');
});

test('age visits every owned flow over successive calls (rotating cursor)', (t) => {
  const table = FlowTable.create(256);
  const o = new FlowOwner(table, 0);
  for (let i = 0; i < 20; i++) insert(o, key4(1, '10.0.0.1', '10.0.0.2', i, 80));
  const seen = new Set<number>();
  for (let call = 0; call < 5; call++) o.age(4, (f) => (seen.add(f), false), () => 1);
  t.is(seen.size, 20);
});

test('removeWhere removes exactly the owned flows that match (a port flush)', (t) => {
  const table = FlowTable.create(256);
  const o = new FlowOwner(table, 0);
  const keys = Array.from({ length: 12 }, (_, i) => key4(1, '10.0.0.1', '10.0.0.2', i, 80));
  keys.forEach((k, i) => insert(o, k, i % 3));
  t.is(o.removeWhere((f) => table.rec[f * RECORD + R_PORT] === 1, 1), 4);
  keys.forEach((k, i) => t.is(find(table, k) >= 0, i % 3 !== 1, `flow ${i}`));
  t.is(o.removeWhere(() => true, 2), 8);
  t.is(table.live, 0);
  t.is(o.ownedCount, 0);
});

test('rekeyReply replaces the reply key: the old one is gone, the new one finds direction 1', (t) => {
  const table = FlowTable.create(256);
  const o = new FlowOwner(table, 0);
  const k = key4(1, '10.0.0.1', '45.0.0.1', 1234, 80);
  const f = insert(o, k);
  const nk = key4(1, '10.0.0.1', '10.0.0.9', 1234, 80);   // reply now from 10.0.0.9
  t.true(o.rekeyReply(f, nk, KEY_WORDS, flowHash(nk, KEY_WORDS)));
  t.is(find(table, k, KEY_WORDS), -1);
  t.is(find(table, nk, KEY_WORDS), (f << 1) | 1);
  t.is(find(table, k, 0), f << 1, 'the original direction is unchanged');
  t.is(table.rec[f * RECORD + R_KEY + KEY_STRIDE + K_SRC], ip4num('10.0.0.9') | 0);
  o.remove(f, 1);
  t.is(find(table, nk, KEY_WORDS), -1, 'remove unlinks the new reply key');
});

test('a key published while the index holds it under another record counts in dupEpoch; other keys, removals and rekeys do not', (t) => {
  const table = FlowTable.create(256);
  const o = new FlowOwner(table, 0);
  const a = key4(1, '10.0.0.1', '10.0.0.2', 1234, 80);
  const fa = insert(o, a);
  const b = key4(1, '10.0.0.3', '10.0.0.4', 1234, 80);
  const fb = insert(o, b);
  t.is(table.dupEpoch, 0);
  // b's reply key becomes a's original key (NAT can do this)
  const dup = new Int32Array(KEY_WORDS * 2);
  dup.set(a.subarray(0, KEY_WORDS), KEY_WORDS);
  t.true(o.rekeyReply(fb, dup, KEY_WORDS, flowHash(dup, KEY_WORDS)));
  t.is(table.dupEpoch, 1, 'the second record holding a key');
  t.true([fa << 1, (fb << 1) | 1].includes(find(table, a, 0)), 'a lookup finds one of the two');
  const c = key4(1, '10.0.0.5', '10.0.0.6', 1234, 80);
  const fc = insert(o, c);
  o.remove(fc, 1);
  const nk = key4(1, '10.0.0.3', '10.0.0.9', 80, 1234);
  t.true(o.rekeyReply(fa, nk, 0, flowHash(nk, 0)));
  t.is(table.dupEpoch, 1, 'new keys, a removal and a rekey to a new key do not count');
});

test('an unlinked key no longer has its hash in the record (a flow cache\'s check), whichever way it left the index', (t) => {
  const table = FlowTable.create(256);
  const o = new FlowOwner(table, 0);
  const k = key4(1, '10.0.0.1', '10.0.0.2', 1234, 80);
  const f = insert(o, k);
  const h0 = flowHash(k, 0);
  const h1 = flowHash(k, KEY_WORDS);
  const v = (dir: number, h: number): boolean => table.holdsV4((f << 1) | dir, h, k[KEY_WORDS * dir + K_VNI]!, k[KEY_WORDS * dir + K_PORTS]!,
    k[KEY_WORDS * dir + K_PROTO]!, k[KEY_WORDS * dir + K_SRC]!, k[KEY_WORDS * dir + K_DST]!);
  t.true(v(0, h0));
  t.true(v(1, h1));
  t.false(v(0, h1), 'another hash');
  o.remove(f, 1);
  t.false(v(0, h0), 'removed: direction 0');
  t.false(v(1, h1), 'removed: direction 1');
});

test('owners sharing a table allocate distinct records in chunks and find each other\'s flows', (t) => {
  const table = FlowTable.create(4 * CHUNK);
  const a = new FlowOwner(table, 0);
  const b = new FlowOwner(new FlowTable(table.sab), 1);
  const fa = Array.from({ length: CHUNK }, (_, i) => insert(a, key4(1, '10.0.0.1', '10.0.0.2', i, 80)));
  const fb = Array.from({ length: CHUNK + 1 }, (_, i) => insert(b, key4(2, '10.0.0.1', '10.0.0.2', i, 80)));
  fa.push(insert(a, key4(1, '10.0.0.1', '10.0.0.2', CHUNK, 80)));
  t.is(new Set([...fa, ...fb]).size, 2 * CHUNK + 2);
  t.deepEqual(fa.slice(0, 3), [0, 1, 2]);
  t.deepEqual(fb.slice(0, 3), [CHUNK, CHUNK + 1, CHUNK + 2], 'b took the next chunk');
  t.is(fb[CHUNK], 2 * CHUNK, 'b took a third chunk for its 65th flow');
  t.is(fa[CHUNK], 3 * CHUNK, 'a took the fourth');
  t.is(find(b.table, key4(1, '10.0.0.1', '10.0.0.2', 7, 80), KEY_WORDS), (fa[7]! << 1) | 1);
  t.is(table.live, 2 * CHUNK + 2);
});

test('the generation starts at 1, bumps by one and skips 0 when it wraps', (t) => {
  const table = FlowTable.create(64);
  t.is(table.generation, 1);
  table.bumpGeneration();
  t.is(new FlowTable(table.sab).generation, 2, 'seen through another view');
  table.header[2] = -1;   // H_GEN just before the wrap
  table.bumpGeneration();
  t.is(table.generation, 1);
});

test('reverseKey swaps addresses and ports and keeps VNI and protocol', (t) => {
  const k = key6(7, '2000::1', '2000::2', 1, 2, 6);
  const r = new Int32Array(KEY_WORDS);
  reverseKey(k, KEY_WORDS, r, 0);
  t.deepEqual(Array.from(r), Array.from(k.subarray(0, KEY_WORDS)));
  t.is(k[KEY_WORDS + K_PORTS], (2 << 16) | 1);
  t.is(k[KEY_WORDS + K_PROTO], 6 | 0x100);
});

test('a table is created only for 1 to 2^28 flows', (t) => {
  for (const bad of [0, -1, 1.5, 2 ** 28 + 1, NaN]) t.throws(() => FlowTable.create(bad), { instanceOf: RangeError }, `${bad}`);
  const small = FlowTable.create(1);
  t.is(small.capacity, 1);
  t.is(small.sab.byteLength, FlowTable.byteSize(1));
  const o = new FlowOwner(small, 0);
  t.is(insert(o, key4(1, '1.1.1.1', '2.2.2.2', 1, 2)), 0);
  t.is(insert(o, key4(1, '1.1.1.1', '2.2.2.2', 1, 3)), -1);
});

test('hashV4 and lookupV4 (the fast path\'s word forms) agree with hash and lookup, including the second bucket', (t) => {
  const table = FlowTable.create(512);
  const o = new FlowOwner(table, 1);
  const keys: Int32Array[] = [];
  for (let i = 0; i < 600; i++) {
    const k = key4(100 + (i % 3), `10.${i >> 8}.${i & 255}.1`, '192.168.7.9', 1000 + i, 80, i % 2 === 0 ? 17 : 6);
    keys.push(k);
    insert(o, k);
  }
  let found = 0;
  for (const k of keys) {
    for (const off of [0, KEY_WORDS]) {
      const h = flowHash(k, off);
      t.is(flowHashV4(k[off + K_VNI]!, k[off + K_PORTS]!, k[off + K_PROTO]!, k[off + K_SRC]!, k[off + K_DST]!), h);
      const want = table.lookup(k, off, h);
      t.is(table.lookupV4(h, k[off + K_VNI]!, k[off + K_PORTS]!, k[off + K_PROTO]!, k[off + K_SRC]!, k[off + K_DST]!), want);
      if (want >= 0) found++;
    }
  }
  t.true(found >= 1000, `most keys indexed (${found})`);
  // a key that differs in one word only is not found
  const k = keys[0]!;
  const h = flowHash(k, 0);
  t.is(table.lookupV4(h, k[K_VNI]! + 1, k[K_PORTS]!, k[K_PROTO]!, k[K_SRC]!, k[K_DST]!), -1);
  // an IPv6 key whose first address words equal an IPv4 key's is not taken for it
  const k6 = key6(100, '2000::1', '2000::2', 1, 2);
  insert(o, k6);
  t.is(table.lookupV4(flowHashV4(k6[K_VNI]!, k6[K_PORTS]!, 17, k6[K_SRC]!, k6[K_DST]!), k6[K_VNI]!, k6[K_PORTS]!, 17, k6[K_SRC]!, k6[K_DST]!), -1);
});

test('AgingPace: every owned flow is checked about once per period, whatever the loop rate', (t) => {
  // a busy loop (an iteration every 3 µs) over 100,000 flows: one pass a second, not per 6,250 iterations
  const busy = new AgingPace(1000, 256, 0);
  let checked = 0;
  for (let now = 0.003; now <= 1000; now += 0.003) checked += busy.take(100000, now);
  t.true(Math.abs(checked - 100000) <= 256, `busy: ${checked} checks in one period`);
  // an idle loop waking every 100 ms: the same pass, 256 at a time per iteration
  const idle = new AgingPace(1000, 256, 0);
  checked = 0;
  for (let now = 100; now <= 1000; now += 100) {
    for (let spin = 0; spin < 64; spin++) checked += idle.take(100000, now);
  }
  t.true(checked >= 90000 - 256 && checked <= 100000, `idle: ${checked} checks in one period`);
  // few flows: each still checked once a period; the credit never exceeds one pass
  const few = new AgingPace(1000, 256, 0);
  t.is(few.take(3, 10000), 3);
  t.is(few.take(3, 10000), 0);
  t.is(few.take(3, 10500), 1);
  t.is(few.take(0, 20000), 0);
  // time going backwards (it does not, but a clock source may) adds nothing
  t.is(few.take(3, 5000), 0);
});

test('age with maxRemoved: removals do not count against the budget, at most maxRemoved a call', (t) => {
  const table = FlowTable.create(256);
  const o = new FlowOwner(table, 0);
  for (let i = 0; i < 20; i++) insert(o, key4(1, '10.0.0.1', '10.0.0.2', i, 80), 3, i);   // flow i last seen at i
  const expired = (f: number): boolean => flowSeen(table.rec, f) < 12;
  // a budget of 8 flows that stay: the expired ones met on the way go too, and do not use it up
  t.is(o.age(8, expired, () => 1, 100), 8);
  t.is(o.age(1, expired, () => 1, 100), 4);
  t.is(o.ownedCount, 8);
  t.is(o.age(100, expired, () => 1, 100), 0);
  // at most maxRemoved go in one call
  const all = new FlowOwner(table, 2);
  for (let i = 0; i < 20; i++) insert(all, key4(3, '10.0.0.1', '10.0.0.2', i, 80), 3, 0);
  t.is(all.age(1, () => true, () => 1, 5), 5);
  t.is(all.ownedCount, 15);
  // without maxRemoved a removal is one of the budget, as before
  const p = new FlowOwner(table, 1);
  for (let i = 0; i < 4; i++) insert(p, key4(2, '10.0.0.1', '10.0.0.2', i, 80), 3, 0);
  t.is(p.age(2, () => true, () => 1), 2);
});

test('NAT set on a flow another worker already decided withdraws its decisions; on an undecided one it leaves them', (t) => {
  const table = FlowTable.create(64);
  const o = new FlowOwner(table, 0);
  const f = insert(o, key4(1, '10.0.0.1', '10.0.0.2', 1, 80), 3, 0);
  const base = f * RECORD;
  table.rec[base + R_GEN] = 5;
  table.rec[base + R_GEN + KEY_STRIDE] = 5;
  setNatFlags(table.rec, f, FLOW_SRC_NAT);
  t.is(table.rec[base + R_FLAGS], FLOW_SRC_NAT);
  t.deepEqual([table.rec[base + R_GEN], table.rec[base + R_GEN + KEY_STRIDE]], [5, 5], 'not decided yet: the decisions to come will see the flag');
  table.rec[base + R_FLAGS] = FLOW_DECIDED;
  setNatFlags(table.rec, f, FLOW_DST_NAT);
  t.is(table.rec[base + R_FLAGS], FLOW_DECIDED | FLOW_DST_NAT);
  t.deepEqual([table.rec[base + R_GEN], table.rec[base + R_GEN + KEY_STRIDE]], [0, 0], 'decided without the NAT: both decisions withdrawn');
});

test('the route named by an IPv4 or IPv6 decision: r << 1 and the table bit, none for records beyond 23 bits', (t) => {
  t.is(ulRef(1, false), 2);
  t.is(ulRef(1, true), 3);
  t.is(ulRef(UL_REF_MAX_RECORD, true), (UL_REF_MAX_RECORD << 1) | 1);
  t.true(ulRef(UL_REF_MAX_RECORD, true) << UL_REF_SHIFT >>> UL_REF_SHIFT === ulRef(UL_REF_MAX_RECORD, true), 'fits beside the owner');
  t.is(ulRef(UL_REF_MAX_RECORD + 1, false), 0);
});
