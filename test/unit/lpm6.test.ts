import { once } from 'node:events';
import { isIPv6 } from 'node:net';
import { Worker } from 'node:worker_threads';
import test from 'ava';
import { Lpm6Table, LpmError, MASK6 } from '../../src/tables/lpm6.js';
import { Qsbr } from '../../src/tables/qsbr.js';

const NH = Uint8Array.of(0xfc, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9);
const ZERO = new Uint8Array(16);

/** 16 bytes of an IPv6 address in text ("::" allowed). */
function v6(s: string): Uint8Array {
  if (!isIPv6(s)) throw new Error(`not IPv6: ${s}`);
  const [head, tail] = s.includes('::') ? s.split('::') as [string, string] : [s, undefined];
  const h = head === '' ? [] : head.split(':');
  const tl = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array<string>(8 - h.length - tl.length).fill('0'), ...tl];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const x = parseInt(g, 16);
    out[2 * i] = x >>> 8;
    out[2 * i + 1] = x & 0xff;
  });
  return out;
}

function cidr(t: Lpm6Table, r: number): string {
  const b = new Uint8Array(16);
  t.copyPrefix(r, b, 0);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return `${groups.join(':')}/${t.length(r)}`;
}

function fill(t: Lpm6Table, vni: number, cidrs: string[]): Map<string, number> {
  const m = new Map<string, number>();
  cidrs.forEach((c, i) => {
    const [a, l] = c.split('/');
    const r = t.insert(vni, v6(a!), Number(l), i, 0, ZERO);
    if (r < 0) throw new Error(`insert ${c}: ${r}`);
    m.set(c, r);
  });
  return m;
}

function rng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return (x ^ (x >>> 14)) >>> 0;
  };
}

/** The address bytes with everything after `len` bits cleared, or set from `fill`. */
function withHost(p: Uint8Array, len: number, fill: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const keep = Math.min(8, Math.max(0, len - 8 * i));
    const m = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    out[i] = (p[i]! & m) | (fill[i]! & ~m & 0xff);
  }
  return out;
}

test('the longest matching IPv6 prefix wins, whatever the insertion order', (t) => {
  const routes = ['::/0', '2001:db8::/32', '2001:db8:1::/48', '2001:db8:1:2::/64', '2001:db8:1:2::7/127', '2001:db8:1:2::7/128'];
  const cases: [string, string][] = [
    ['2001:db8:1:2::7', '2001:db8:1:2::7/128'],
    ['2001:db8:1:2::6', '2001:db8:1:2::7/127'],
    ['2001:db8:1:2::8', '2001:db8:1:2::/64'],
    ['2001:db8:1:3::1', '2001:db8:1::/48'],
    ['2001:db8:ffff::1', '2001:db8::/32'],
    ['fe80::1', '::/0'],
  ];
  for (const order of [routes, [...routes].reverse()]) {
    const tab = Lpm6Table.create({ maxRoutes: 64 });
    const idx = fill(tab, 7, order);
    for (const [a, want] of cases) t.is(tab.lookup(7, v6(a), 0), idx.get(want)!, a);
  }
});

test('an IPv6 address is read at any offset of the packet', (t) => {
  const tab = Lpm6Table.create({ maxRoutes: 64 });
  const r = tab.insert(3, v6('fd00::'), 8, 1, 0, ZERO);
  const pkt = new Uint8Array(100);
  pkt.set(v6('fd12:3456::9'), 38); // where an IPv6 header's destination is in an Ethernet frame
  t.is(tab.lookup(3, pkt, 38), r);
  t.is(tab.lookup(3, pkt, 37), -1);
});

test('::/0 matches every address and a /128 only its own', (t) => {
  const tab = Lpm6Table.create({ maxRoutes: 64 });
  t.is(tab.lookup(1, v6('::1'), 0), -1);
  const host = tab.insert(1, v6('2001:db8::5'), 128, 2, 0, ZERO);
  t.is(tab.lookup(1, v6('2001:db8::5'), 0), host);
  t.is(tab.lookup(1, v6('2001:db8::4'), 0), -1);
  t.is(tab.lookup(1, v6('2001:db8::5:0'), 0), -1);
  const def = tab.insert(1, v6('::'), 0, 3, 0, ZERO);
  for (const a of ['::', '2001:db8::4', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']) t.is(tab.lookup(1, v6(a), 0), def, a);
  t.is(tab.lookup(1, v6('2001:db8::5'), 0), host);
  t.is(tab.find(1, v6('::'), 0), def);
  t.is(tab.find(1, v6('2001:db8::5'), 127), -1);
});

test('IPv6 host bits are ignored and fields read back as inserted', (t) => {
  const tab = Lpm6Table.create({ maxRoutes: 64 });
  const r = tab.insert(0x123456, v6('2001:db8:aaaa:bbbb:cccc::1'), 50, -1, 99, NH);
  t.is(cidr(tab, r), '2001:db8:aaaa:8000:0:0:0:0/50');
  t.is(tab.insert(0x123456, v6('2001:db8:aaaa:bfff::'), 50, -1, 99, NH), LpmError.EXISTS);
  t.is(tab.vni(r), 0x123456);
  t.is(tab.target(r), -1);
  t.is(tab.nexthopVni(r), 99);
  const out = new Uint8Array(16);
  tab.copyNexthop(r, out, 0);
  t.deepEqual(out, NH);
  t.is(tab.delete(0x123456, v6('2001:db8:aaaa:8000::ffff'), 50), r);
  t.is(tab.size, 0);
  t.is(tab.insert(1, ZERO, 129, 0, 0, ZERO), LpmError.BAD_LENGTH);
});

test('IPv6 VNIs are isolated and deletes restore the next shorter match', (t) => {
  const tab = Lpm6Table.create({ maxRoutes: 64 });
  const a = fill(tab, 10, ['::/0', '2001:db8::/32', '2001:db8::/64']);
  const b = fill(tab, 20, ['2001:db8::/48']);
  const addr = v6('2001:db8::1');
  t.is(tab.lookup(10, addr, 0), a.get('2001:db8::/64')!);
  t.is(tab.lookup(20, addr, 0), b.get('2001:db8::/48')!);
  t.is(tab.lookup(30, addr, 0), -1);
  t.is(tab.delete(20, v6('2001:db8::'), 64), LpmError.NOT_FOUND);
  for (const [c, next] of [['2001:db8::/64', '2001:db8::/32'], ['2001:db8::/32', '::/0']] as const) {
    const [p, l] = c.split('/');
    t.is(tab.delete(10, v6(p!), Number(l)), a.get(c)!);
    t.is(tab.lookup(10, addr, 0), a.get(next)!);
  }
  t.is(tab.lookup(20, addr, 0), b.get('2001:db8::/48')!);
});

test('a full IPv6 table answers FULL or VNI_LIMIT and keeps what it had; a flush frees the VNI', (t) => {
  const tab = Lpm6Table.create({ maxRoutes: 8, maxRoutesPerVni: 5, maxVnis: 4 });
  const p = (i: number): Uint8Array => v6(`2001:db8:${i.toString(16)}::`);
  const mine: number[] = [];
  for (let i = 0; i < 5; i++) mine.push(tab.insert(1, p(i), 48, i, 0, ZERO));
  t.is(tab.insert(1, p(9), 48, 0, 0, ZERO), LpmError.VNI_LIMIT);
  for (let i = 0; i < 3; i++) t.true(tab.insert(2, p(i), 48, i, 0, ZERO) > 0);
  t.is(tab.insert(2, p(9), 48, 0, 0, ZERO), LpmError.FULL);
  t.is(tab.size, 8);
  for (let i = 0; i < 5; i++) t.is(tab.lookup(1, withHost(p(i), 48, NH), 0), mine[i]!);
  t.is(tab.flushVni(1), 5);
  t.is(tab.size, 3);
  t.is(tab.lookup(1, p(0), 0), -1);
  t.true(tab.lookup(2, p(0), 0) > 0);
  t.true(tab.insert(2, p(9), 48, 0, 0, ZERO) > 0);
  t.deepEqual(tab.vnis(), [2]);
});

function bitsOf(t: Lpm6Table, r: number): string {
  const b = new Uint8Array(16);
  t.copyPrefix(r, b, 0);
  return [...b].map((x) => x.toString(2).padStart(8, '0')).join('').slice(0, t.length(r));
}

test('IPv6 routes are listed like IPv4 ones: ::/0 first, then the rib post-order walk', (t) => {
  const tab = Lpm6Table.create({ maxRoutes: 64 });
  fill(tab, 4, ['2001:db9::/32', '2001:db8::/32', '::/0', '2001:db8::/48', '2001:db8:0:1::/64', '2001:db8::/64', '8000::/1']);
  t.deepEqual([...tab.list(4)].map((r) => cidr(tab, r)), [
    '0:0:0:0:0:0:0:0/0', '2001:db8:0:0:0:0:0:0/64', '2001:db8:0:1:0:0:0:0/64', '2001:db8:0:0:0:0:0:0/48',
    '2001:db8:0:0:0:0:0:0/32', '2001:db9:0:0:0:0:0:0/32', '8000:0:0:0:0:0:0:0/1']);
  const rnd = rng(3);
  const big = Lpm6Table.create({ maxRoutes: 1000 });
  const b = new Uint8Array(16);
  for (let i = 0; i < 800; i++) {
    for (let j = 0; j < 16; j++) b[j] = j < 2 ? 0x20 : rnd() & (j < 8 ? 0x11 : 0xff);
    big.insert(8, b, rnd() % 129, 0, 0, ZERO);
  }
  const got = [...big.list(8)].map((r) => bitsOf(big, r));
  const ribOrder = (x: string, y: string): number =>
    x === '' ? -1 : y === '' ? 1 : y.startsWith(x) ? 1 : x.startsWith(y) ? -1 : x < y ? -1 : 1;
  t.is(got.length, big.count(8));
  t.deepEqual(got, [...got].sort(ribOrder));
});

interface Ref6 {
  vni: number;
  p: Uint8Array;
  len: number;
  r: number;
}

function covers(p: Uint8Array, len: number, a: Uint8Array): boolean {
  for (let w = 0; w < 4; w++) {
    const aw = (a[4 * w]! << 24) | (a[4 * w + 1]! << 16) | (a[4 * w + 2]! << 8) | a[4 * w + 3]!;
    const pw = (p[4 * w]! << 24) | (p[4 * w + 1]! << 16) | (p[4 * w + 2]! << 8) | p[4 * w + 3]!;
    if ((aw & MASK6[len * 4 + w]!) !== pw) return false;
  }
  return true;
}

test('random IPv6 inserts, deletes, lookups and bulk lookups agree with a naive reference', (t) => {
  const rnd = rng(11);
  const tab = Lpm6Table.create({ maxRoutes: 8000, maxRoutesPerVni: 8000, maxVnis: 8 });
  tab.bulkMinRoutes = 0; // the grouped path, not the plain loop it takes for small tables
  const ref: Ref6[] = [];
  const lens = [0, 1, 16, 32, 33, 47, 48, 56, 63, 64, 65, 96, 112, 120, 127, 128];
  // addresses share most of their bits so that prefixes nest: 2001:db8:<few>:<few>:<few>...
  const addr = (): Uint8Array => {
    const b = new Uint8Array(16);
    b[0] = 0x20; b[1] = 0x01; b[2] = 0x0d; b[3] = 0xb8;
    for (let i = 4; i < 16; i++) b[i] = i % 4 === 0 ? rnd() % 3 : rnd() & 0xff;
    return b;
  };
  let mismatches = 0;
  let bulkMismatches = 0;
  let checked = 0;
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 150; i++) {
      const vni = 1 + (rnd() % 3);
      const len = lens[rnd() % lens.length]!;
      const p = withHost(addr(), len, ZERO);
      const r = tab.insert(vni, p, len, i, 0, ZERO);
      const exists = ref.some((x) => x.vni === vni && x.len === len && x.p.every((v, j) => v === p[j]));
      if (exists ? r !== LpmError.EXISTS : r < 0) mismatches++;
      if (!exists && r > 0) ref.push({ vni, p, len, r });
    }
    for (let i = 0; i < 50 && ref.length > 0; i++) {
      const j = rnd() % ref.length;
      const x = ref[j]!;
      if (tab.delete(x.vni, withHost(x.p, x.len, addr()), x.len) !== x.r) mismatches++;
      ref.splice(j, 1);
    }
    const pkt = new Uint8Array(400 * 20);
    const offs = new Int32Array(400);
    const wants = new Int32Array(400);
    const vni = 1 + (round % 4);
    for (let i = 0; i < 400; i++) {
      let a = addr();
      if (i % 2 === 0 && ref.length > 0) {
        const x = ref[rnd() % ref.length]!;
        a = withHost(x.p, x.len, a);
      }
      let want = -1;
      let wantLen = -1;
      for (const x of ref) {
        if (x.vni === vni && x.len > wantLen && covers(x.p, x.len, a)) {
          want = x.r;
          wantLen = x.len;
        }
      }
      checked++;
      if (tab.lookup(vni, a, 0) !== want) mismatches++;
      offs[i] = i * 20 + 3;
      pkt.set(a, offs[i]!);
      wants[i] = want;
    }
    const out = new Int32Array(400);
    for (let i = 0; i < 400; i += 100) tab.lookupBulk(vni, pkt, offs.subarray(i), out.subarray(i), 100);
    for (let i = 0; i < 400; i++) if (out[i] !== wants[i]) bulkMismatches++;
  }
  t.is(mismatches, 0);
  t.is(bulkMismatches, 0);
  t.true(checked >= 16000);
  t.true(ref.length > 2000, `${ref.length} routes at the end`);
  t.is(tab.size, ref.length);
  for (const vni of [1, 2, 3]) {
    t.deepEqual([...tab.list(vni)].sort((x, y) => x - y), ref.filter((x) => x.vni === vni).map((x) => x.r).sort((x, y) => x - y));
  }
});

// ---- concurrency ----

interface ReaderData {
  lpmUrl: string;
  qsbrUrl: string;
  table: SharedArrayBuffer;
  qsbr: SharedArrayBuffer;
  ctl: SharedArrayBuffer;
  expected: SharedArrayBuffer;
  vni: number;
  addr: Uint8Array;
  strict: boolean;
}

const C_STOP = 0;
const C_EPOCH = 1;
const C_LOOKUPS = 2;
const C_BAD = 3;
const C_READY = 4;
const C_BAD_DETAIL = 5;
const C_IDLE = 9; // never written: the writer sleeps on it
const EXP_RING = 1 << 16;

/** The worker's loop; see lpm.test.ts. Uses the ctl word numbers, as it cannot see the constants. */
async function readerLoop(d: ReaderData): Promise<void> {
  const { Lpm6Table: Table, MASK6: masks } = await import(d.lpmUrl) as typeof import('../../src/tables/lpm6.js');
  const { Qsbr: Q } = await import(d.qsbrUrl) as typeof import('../../src/tables/qsbr.js');
  const tab = new Table(d.table);
  const q = new Q(d.qsbr);
  const ctl = new Int32Array(d.ctl);
  const exp = new Int32Array(d.expected);
  const ring = exp.length - 1;
  const pkt = new Uint8Array(64);
  pkt.set(d.addr, 24);
  const aw: number[] = [];
  for (let w = 0; w < 4; w++) aw.push((d.addr[4 * w]! << 24) | (d.addr[4 * w + 1]! << 16) | (d.addr[4 * w + 2]! << 8) | d.addr[4 * w + 3]!);
  const pfx = new Uint8Array(16);
  q.online(0);
  Atomics.store(ctl, 4, 1);
  let n = 0;
  while (Atomics.load(ctl, 0) === 0) {
    const e1 = Atomics.load(ctl, 1);
    const r = tab.lookup(d.vni, pkt, 24);
    const e2 = Atomics.load(ctl, 1);
    let ok = r === -1;
    if (r !== -1) {
      const len = tab.length(r);
      tab.copyPrefix(r, pfx, 0);
      ok = tab.vni(r) === d.vni && tab.target(r) === len;
      for (let w = 0; w < 4; w++) {
        const pw = (pfx[4 * w]! << 24) | (pfx[4 * w + 1]! << 16) | (pfx[4 * w + 2]! << 8) | pfx[4 * w + 3]!;
        if ((aw[w]! & masks[len * 4 + w]!) !== pw) ok = false;
      }
    }
    if (ok && d.strict) {
      let seen = false;
      for (let e = e1; e <= e2 && !seen; e++) seen = Atomics.load(exp, e & ring) === r;
      if (!seen) {
        while (Atomics.load(ctl, 1) === e2 && Atomics.load(ctl, 0) === 0) { /* the writer is mid-change */ }
        seen = Atomics.load(ctl, 1) > e2 && Atomics.load(exp, (e2 + 1) & ring) === r;
      }
      ok = seen;
    }
    if (!ok && Atomics.add(ctl, 3, 1) === 0) {
      Atomics.store(ctl, 5, e1);
      Atomics.store(ctl, 6, e2);
      Atomics.store(ctl, 7, r);
    }
    q.quiescent(0);
    Atomics.store(ctl, 2, ++n);
  }
  q.offline(0);
}

async function race(strict: boolean, ms: number, minChanges: number): Promise<{ changes: number; lookups: number; bad: number; detail: string }> {
  const q = Qsbr.create(1);
  const tab = Lpm6Table.create({ maxRoutes: 24, maxRoutesPerVni: 24, maxVnis: 4 }, q);
  const VNI = 55;
  const A = v6('2001:db8:1234:5678:9abc:def0:1357:2468');
  const chainLens = [0, 16, 32, 48, 56, 64, 96, 112, 127, 128];
  const present = new Map<number, number>();
  const ctl = new Int32Array(new SharedArrayBuffer(64));
  const exp = new Int32Array(new SharedArrayBuffer(EXP_RING * 4));
  exp.fill(-1);
  const data: ReaderData = {
    lpmUrl: new URL('../../src/tables/lpm6.js', import.meta.url).href,
    qsbrUrl: new URL('../../src/tables/qsbr.js', import.meta.url).href,
    table: tab.sab, qsbr: q.sab, ctl: ctl.buffer as SharedArrayBuffer, expected: exp.buffer as SharedArrayBuffer,
    vni: VNI, addr: A, strict,
  };
  const src = `const { workerData } = require('node:worker_threads');
(${readerLoop.toString()})(workerData).catch((e) => { console.error(e); process.exit(1); });`;
  const worker = new Worker(src, { eval: true, workerData: data });
  const exited = once(worker, 'exit');
  try {
    while (Atomics.load(ctl, C_READY) === 0) await new Promise((res) => setTimeout(res, 5));
    const rnd = rng(strict ? 99 : 98);
    const churn: Uint8Array[] = [];
    let epoch = 0;
    let changes = 0;
    const longest = (): number => {
      for (let i = chainLens.length - 1; i >= 0; i--) {
        const r = present.get(chainLens[i]!);
        if (r !== undefined) return r;
      }
      return -1;
    };
    const settle = (): void => {
      if (!strict) return;
      // wait until the worker finished the lookup that overlapped the change and one more;
      // sleep a little between checks, so that a busy machine still runs the worker
      // (a bad answer can stall the worker waiting for an epoch: give up after 2 s, it is counted)
      const want = Atomics.load(ctl, C_LOOKUPS) + 2;
      const deadline = Date.now() + 2000;
      for (let spins = 0; Atomics.load(ctl, C_LOOKUPS) < want && ((spins & 255) !== 0 || Date.now() < deadline); spins++) {
        if (spins > 200) Atomics.wait(ctl, C_IDLE, 0, 0.05);
      }
    };
    const until = Date.now() + ms;
    while (Date.now() < until || changes < minChanges) {
      if (Date.now() > until + 10000) break;
      for (let k = 0; k < 200; k++) {
        if (rnd() % 3 === 0) {
          if (churn.length > 6 || (churn.length > 0 && rnd() % 2 === 0)) {
            tab.delete(VNI, churn.splice(rnd() % churn.length, 1)[0]!, 128);
          } else {
            const p = v6('fd00::');
            p[14] = rnd() & 0xff;
            p[15] = rnd() & 0xff;
            if (tab.insert(VNI, p, 128, 0, 0, ZERO) > 0) churn.push(p);
          }
          settle();
          continue;
        }
        const len = chainLens[rnd() % chainLens.length]!;
        const p = withHost(A, len, ZERO);
        const had = present.get(len);
        if (had === undefined) {
          const r = tab.insert(VNI, p, len, len, 0, ZERO);
          if (r < 0) continue;
          present.set(len, r);
        } else {
          tab.delete(VNI, p, len);
          present.delete(len);
        }
        Atomics.store(exp, (epoch + 1) & (EXP_RING - 1), longest());
        Atomics.store(ctl, C_EPOCH, ++epoch);
        changes++;
        settle();
      }
      await new Promise((res) => setImmediate(res));
    }
    Atomics.store(ctl, C_STOP, 1);
    await exited;
    return {
      changes, lookups: Atomics.load(ctl, C_LOOKUPS), bad: Atomics.load(ctl, C_BAD),
      detail: `answer ${Atomics.load(ctl, C_BAD_DETAIL + 2)} in epochs ${Atomics.load(ctl, C_BAD_DETAIL)}..${Atomics.load(ctl, C_BAD_DETAIL + 1)}`,
    };
  } finally {
    Atomics.store(ctl, C_STOP, 1);
    await worker.terminate();
  }
}

test.serial('an IPv6 reader worker sees the old or the new answer of each change that overlaps its lookup', async (t) => {
  const res = await race(true, 1500, 2000);
  t.is(res.bad, 0, res.detail);
  t.true(res.changes >= 1000, `${res.changes} changes`);
  t.log(`${res.changes} changes, ${res.lookups} lookups checked`);
});

test.serial('an IPv6 reader worker never sees garbage while changes race its lookups', async (t) => {
  const res = await race(false, 1500, 5000);
  t.is(res.bad, 0, res.detail);
  t.true(res.changes >= 2000, `${res.changes} changes`);
  t.true(res.lookups > 1000, `${res.lookups} lookups`);
  t.log(`${res.changes} changes, ${res.lookups} lookups checked`);
});
