import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import test, { type ExecutionContext } from 'ava';
import { Lpm4Table, LpmError, lpmErrorName, MASK4 } from '../../src/tables/lpm.js';
import { Qsbr } from '../../src/tables/qsbr.js';

const NH = Uint8Array.of(0xfc, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9);
const ZERO = new Uint8Array(16);

function ip(s: string): number {
  return s.split('.').reduce((a, x) => a * 256 + Number(x), 0);
}

function fmt(t: Lpm4Table, r: number): string {
  const p = t.prefix(r);
  return `${p >>> 24}.${(p >>> 16) & 255}.${(p >>> 8) & 255}.${p & 255}/${t.length(r)}`;
}

/** Inserts `cidr` strings into `vni` with target = position; returns name -> index. */
function fill(t: Lpm4Table, vni: number, cidrs: string[]): Map<string, number> {
  const m = new Map<string, number>();
  cidrs.forEach((c, i) => {
    const [a, l] = c.split('/');
    const r = t.insert(vni, ip(a!), Number(l), i, 0, ZERO);
    if (r < 0) throw new Error(`insert ${c}: ${lpmErrorName(r)}`);
    m.set(c, r);
  });
  return m;
}

/** A seeded generator (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return (x ^ (x >>> 14)) >>> 0;
  };
}

const CASES: [string, string | null][] = [
  ['10.1.2.3', '10.1.2.3/32'],
  ['10.1.2.4', '10.1.2.0/24'],
  ['10.1.3.1', '10.1.0.0/16'],
  ['10.200.0.1', '10.0.0.0/8'],
  ['11.0.0.1', '0.0.0.0/0'],
  ['255.255.255.255', '0.0.0.0/0'],
];

test('the longest matching prefix wins, whatever the insertion order', (t) => {
  const routes = ['0.0.0.0/0', '10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '10.1.2.3/32'];
  for (const order of [routes, [...routes].reverse(), [routes[2]!, routes[4]!, routes[0]!, routes[3]!, routes[1]!]]) {
    const tab = Lpm4Table.create({ maxRoutes: 64 });
    const idx = fill(tab, 7, order);
    for (const [addr, want] of CASES) t.is(tab.lookup(7, ip(addr)), want === null ? -1 : idx.get(want)!, `${addr} in order ${order.join(' ')}`);
  }
});

test('a default route matches every address, a /32 only its own, and no route means -1', (t) => {
  const tab = Lpm4Table.create({ maxRoutes: 64 });
  t.is(tab.lookup(1, ip('1.2.3.4')), -1, 'empty table');
  const out = Int32Array.of(5, 5);
  tab.bulkMinRoutes = 0;
  tab.lookupBulk(1, Int32Array.of(0, 1), out, 2);
  t.deepEqual(out, Int32Array.of(-1, -1), 'empty table, bulk');
  const host = tab.insert(1, ip('192.168.7.7'), 32, 3, 0, ZERO);
  t.is(tab.lookup(1, ip('192.168.7.7')), host);
  t.is(tab.lookup(1, ip('192.168.7.6')), -1);
  t.is(tab.lookup(1, ip('192.168.7.8')), -1);
  const def = tab.insert(1, 0, 0, 4, 0, ZERO);
  for (const a of ['0.0.0.0', '1.2.3.4', '192.168.7.6', '255.255.255.255']) t.is(tab.lookup(1, ip(a)), def, a);
  t.is(tab.lookup(1, ip('192.168.7.7')), host);
  t.is(tab.find(1, 0, 0), def);
  t.is(tab.find(1, ip('192.168.7.7'), 32), host);
  t.is(tab.find(1, ip('192.168.7.7'), 31), -1);
});

test('host bits are ignored as rte_rib does: a second 1.2.3.x/24 is EXISTS and deletes by any host', (t) => {
  const tab = Lpm4Table.create({ maxRoutes: 64 });
  const r = tab.insert(9, ip('1.2.3.4'), 24, -1, 5, NH);
  t.true(r > 0);
  t.is(tab.prefix(r), ip('1.2.3.0'));
  t.is(tab.insert(9, ip('1.2.3.255'), 24, -1, 5, NH), LpmError.EXISTS);
  t.is(tab.insert(9, ip('1.2.3.4'), 25, -1, 5, NH) > 0, true, 'a different length is a different route');
  t.is(tab.delete(9, ip('1.2.3.77'), 24), r);
  t.is(tab.delete(9, ip('1.2.3.4'), 24), LpmError.NOT_FOUND);
  t.is(tab.size, 1);
});

test('route fields read back as inserted', (t) => {
  const tab = Lpm4Table.create({ maxRoutes: 64 });
  const r = tab.insert(0xfffffffe, ip('172.16.0.0'), 12, -1, 0x80000001, NH);
  t.is(tab.vni(r), 0xfffffffe);
  t.is(tab.prefix(r), ip('172.16.0.0'));
  t.is(tab.length(r), 12);
  t.is(tab.target(r), -1);
  t.is(tab.nexthopVni(r), 0x80000001);
  const out = new Uint8Array(20);
  tab.copyNexthop(r, out, 4);
  t.deepEqual(out.subarray(4), NH);
  t.deepEqual(tab.fieldBytes.subarray(tab.nexthopOffset(r), tab.nexthopOffset(r) + 16), NH);
  const local = tab.insert(3, ip('10.0.0.5'), 32, 17, 0, ZERO);
  t.is(tab.target(local), 17);
  t.is(tab.lookup(0xfffffffe, ip('172.31.255.255')), r);
});

test('VNIs are isolated: the same prefix in two VNIs is two routes, and each sees only its own', (t) => {
  const tab = Lpm4Table.create({ maxRoutes: 64 });
  const a = tab.insert(100, ip('10.0.0.0'), 8, 1, 0, ZERO);
  const b = tab.insert(200, ip('10.0.0.0'), 8, 2, 0, ZERO);
  const c = tab.insert(200, ip('10.1.0.0'), 16, 3, 0, ZERO);
  t.not(a, b);
  t.is(tab.lookup(100, ip('10.1.1.1')), a);
  t.is(tab.lookup(200, ip('10.1.1.1')), c);
  t.is(tab.lookup(300, ip('10.1.1.1')), -1);
  t.is(tab.delete(100, ip('10.1.0.0'), 16), LpmError.NOT_FOUND, 'a route of another VNI is not found');
  t.is(tab.delete(200, ip('10.0.0.0'), 8), b);
  t.is(tab.lookup(100, ip('10.2.2.2')), a);
  t.deepEqual([tab.count(100), tab.count(200), tab.count(300)], [1, 1, 0]);
  t.deepEqual(tab.vnis(), [100, 200]);
});

test('deleting a route restores the next shorter match', (t) => {
  const tab = Lpm4Table.create({ maxRoutes: 64 });
  const idx = fill(tab, 5, ['0.0.0.0/0', '10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '10.1.2.3/32']);
  const chain = ['10.1.2.3/32', '10.1.2.0/24', '10.1.0.0/16', '10.0.0.0/8', '0.0.0.0/0'];
  for (let i = 0; i < chain.length; i++) {
    t.is(tab.lookup(5, ip('10.1.2.3')), idx.get(chain[i]!)!, `with ${chain[i]} longest`);
    const [a, l] = chain[i]!.split('/');
    t.is(tab.delete(5, ip(a!), Number(l)), idx.get(chain[i]!)!);
  }
  t.is(tab.lookup(5, ip('10.1.2.3')), -1);
  t.is(tab.count(5), 0);
  t.is(tab.vniCount, 0);
});

test('bad lengths and VNIs are refused with codes, and lookups in them find nothing', (t) => {
  const tab = Lpm4Table.create({ maxRoutes: 64 });
  t.is(tab.insert(1, 0, 33, 0, 0, ZERO), LpmError.BAD_LENGTH);
  t.is(tab.insert(1, 0, -1, 0, 0, ZERO), LpmError.BAD_LENGTH);
  t.is(tab.insert(1, 0, 1.5, 0, 0, ZERO), LpmError.BAD_LENGTH);
  t.is(tab.insert(0xffffffff, 0, 0, 0, 0, ZERO), LpmError.BAD_VNI);
  t.is(tab.insert(-1, 0, 0, 0, 0, ZERO), LpmError.BAD_VNI);
  t.is(tab.delete(1, 0, 40), LpmError.NOT_FOUND);
  t.is(tab.lookup(0xffffffff, 0), -1);
  t.is(tab.size, 0);
  t.is(lpmErrorName(LpmError.VNI_LIMIT), 'VNI_LIMIT');
  t.is(lpmErrorName(5), 'OK');
});

test('a full table answers FULL, VNI_LIMIT or VNI_FULL and keeps every route it had', (t) => {
  const tab = Lpm4Table.create({ maxRoutes: 10, maxRoutesPerVni: 6, maxVnis: 2 });
  const want = new Map<number, number>();
  for (let i = 0; i < 6; i++) want.set(ip(`10.0.${i}.0`), tab.insert(1, ip(`10.0.${i}.0`), 24, i, 0, ZERO));
  t.is(tab.insert(1, ip('10.0.9.0'), 24, 0, 0, ZERO), LpmError.VNI_LIMIT);
  for (let i = 0; i < 4; i++) tab.insert(2, ip(`10.0.${i}.0`), 24, i, 0, ZERO);
  t.is(tab.size, 10);
  t.is(tab.insert(2, ip('10.0.9.0'), 24, 0, 0, ZERO), LpmError.FULL);
  t.is(tab.insert(3, ip('10.0.9.0'), 24, 0, 0, ZERO), LpmError.FULL);
  t.is(tab.delete(2, ip('10.0.3.0'), 24) > 0, true);
  t.is(tab.insert(3, ip('10.0.9.0'), 24, 0, 0, ZERO), LpmError.VNI_FULL, 'two VNIs have routes');
  // nothing changed by the refusals
  t.is(tab.size, 9);
  t.is(tab.count(1), 6);
  t.is(tab.count(2), 3);
  t.is(tab.count(3), 0);
  for (const [p, r] of want) t.is(tab.lookup(1, p + 1), r);
  t.is(tab.lookup(2, ip('10.0.3.1')), -1);
  t.is(tab.lookup(3, ip('10.0.9.1')), -1);
  // room again once a VNI is emptied
  t.is(tab.flushVni(2), 3);
  t.true(tab.insert(3, ip('10.0.9.0'), 24, 0, 0, ZERO) > 0);
  t.deepEqual(tab.vnis(), [1, 3]);
});

test('flushing a VNI removes all its routes and nothing else; freed records are reused', (t) => {
  const tab = Lpm4Table.create({ maxRoutes: 100 });
  const keep = fill(tab, 2, ['0.0.0.0/0', '10.0.0.0/8']);
  fill(tab, 1, ['0.0.0.0/0', '10.0.0.0/8', '10.1.0.0/16', '10.1.1.1/32']);
  t.is(tab.flushVni(1), 4);
  t.is(tab.flushVni(1), 0);
  t.is(tab.flushVni(12345), 0);
  t.is(tab.count(1), 0);
  t.is(tab.size, 2);
  t.deepEqual(tab.list(1), new Int32Array(0));
  for (const a of ['10.1.1.1', '1.1.1.1']) t.is(tab.lookup(1, ip(a)), -1);
  t.is(tab.lookup(2, ip('10.1.1.1')), keep.get('10.0.0.0/8')!);
  t.is(tab.lookup(2, ip('1.1.1.1')), keep.get('0.0.0.0/0')!);
  // the VNI works again afterwards
  const again = fill(tab, 1, ['10.1.0.0/16']);
  t.is(tab.lookup(1, ip('10.1.1.1')), again.get('10.1.0.0/16')!);
  t.is(tab.lookup(1, ip('11.1.1.1')), -1);
});

/** rte_rib's post-order walk, stated on bit strings: an extension before its prefix, else 0 before 1. */
function ribOrder(a: string, b: string): number {
  if (a === '') return -1;
  if (b === '') return 1;
  if (b.startsWith(a)) return 1;
  if (a.startsWith(b)) return -1;
  return a < b ? -1 : 1;
}

function bits(p: number, len: number): string {
  return (p >>> 0).toString(2).padStart(32, '0').slice(0, len);
}

test('routes are listed in upstream ListRoutes order: /0 first, then the rib post-order walk', (t) => {
  const tab = Lpm4Table.create({ maxRoutes: 64 });
  fill(tab, 4, ['11.0.0.0/16', '10.0.0.0/8', '10.0.0.0/24', '0.0.0.0/0', '10.0.0.128/25', '10.0.0.0/25', '9.255.0.0/16', '128.0.0.0/1']);
  t.deepEqual([...tab.list(4)].map((r) => fmt(tab, r)),
    ['0.0.0.0/0', '9.255.0.0/16', '10.0.0.0/25', '10.0.0.128/25', '10.0.0.0/24', '10.0.0.0/8', '11.0.0.0/16', '128.0.0.0/1']);
  // and for random tables, against the bit-string statement of the walk
  const rnd = rng(42);
  const big = Lpm4Table.create({ maxRoutes: 2000 });
  for (let i = 0; i < 1500; i++) {
    const len = rnd() % 33;
    big.insert(8, (rnd() & 0xf0ff0000) & MASK4[len]!, len, 0, 0, ZERO);
  }
  const got = [...big.list(8)].map((r) => bits(big.prefix(r), big.length(r)));
  const want = [...got].sort(ribOrder);
  t.is(got.length, big.count(8));
  t.deepEqual(got, want);
});

test('counts per VNI and in total follow inserts, deletes and flushes', (t) => {
  const tab = Lpm4Table.create({ maxRoutes: 1000, maxRoutesPerVni: 500, maxVnis: 8 });
  t.deepEqual([tab.capacity, tab.vniCapacity, tab.maxVnis], [1000, 500, 8]);
  for (let i = 0; i < 30; i++) tab.insert(1 + (i % 3), ip(`10.${i}.0.0`), 16, 0, 0, ZERO);
  t.deepEqual([tab.size, tab.vniCount, tab.count(1), tab.count(2), tab.count(3)], [30, 3, 10, 10, 10]);
  tab.delete(1, ip('10.0.0.0'), 16);
  tab.flushVni(2);
  t.deepEqual([tab.size, tab.vniCount, tab.count(1), tab.count(2), tab.count(3)], [19, 2, 9, 0, 10]);
});

test('another view of the same buffer sees the same routes', (t) => {
  const tab = Lpm4Table.create({ maxRoutes: 64 });
  const idx = fill(tab, 3, ['10.0.0.0/8', '10.1.0.0/16']);
  const view = new Lpm4Table(tab.sab);
  t.is(view.lookup(3, ip('10.1.2.3')), idx.get('10.1.0.0/16')!);
  t.is(view.size, 2);
  t.is(view.capacity, 64);
  tab.delete(3, ip('10.1.0.0'), 16);
  t.is(view.lookup(3, ip('10.1.2.3')), idx.get('10.0.0.0/8')!);
  t.throws(() => new Lpm4Table(new SharedArrayBuffer(4096)), { instanceOf: TypeError });
});

interface RefRoute {
  vni: number;
  p: number;
  len: number;
  r: number;
}

function refLookup(ref: RefRoute[], vni: number, a: number): number {
  let best = -1;
  let bestLen = -1;
  for (const x of ref) {
    if (x.vni === vni && x.len > bestLen && ((a & MASK4[x.len]!) | 0) === x.p) {
      best = x.r;
      bestLen = x.len;
    }
  }
  return best;
}

test('random inserts, deletes, lookups and bulk lookups agree with a naive reference', (t) => {
  const rnd = rng(7);
  const tab = Lpm4Table.create({ maxRoutes: 5000, maxRoutesPerVni: 5000, maxVnis: 8 });
  tab.bulkMinRoutes = 0; // the grouped path, not the plain loop it takes for small tables
  const ref: RefRoute[] = [];
  // addresses cluster in a few /8s so that prefixes nest and overlap
  const addr = (): number => (((rnd() % 4) + 10) << 24) | (rnd() & 0x00ffffff);
  const lens = [0, 1, 8, 9, 12, 16, 17, 20, 23, 24, 25, 28, 30, 31, 32];
  let mismatches = 0;
  let bulkMismatches = 0;
  let checked = 0;
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 150; i++) {
      const vni = 1 + (rnd() % 3);
      const len = lens[rnd() % lens.length]!;
      const p = addr() & MASK4[len]!;
      const r = tab.insert(vni, p, len, i, vni, ZERO);
      const exists = ref.some((x) => x.vni === vni && x.len === len && x.p === p);
      if (exists) {
        if (r !== LpmError.EXISTS) mismatches++;
      } else if (r < 0) {
        mismatches++;
      } else {
        ref.push({ vni, p, len, r });
      }
    }
    for (let i = 0; i < 60 && ref.length > 0; i++) {
      const j = rnd() % ref.length;
      const x = ref[j]!;
      if (tab.delete(x.vni, x.p | (rnd() & ~MASK4[x.len]!), x.len) !== x.r) mismatches++;
      ref.splice(j, 1);
      if (tab.delete(x.vni, x.p, x.len) !== LpmError.NOT_FOUND) mismatches++;
    }
    const addrs = new Int32Array(500);
    const want = new Int32Array(500);
    const vni = 1 + (round % 4);
    for (let i = 0; i < 500; i++) {
      let a = addr();
      if (i % 2 === 0 && ref.length > 0) {
        const x = ref[rnd() % ref.length]!;
        a = x.p | (rnd() & ~MASK4[x.len]!);
      }
      addrs[i] = a;
      want[i] = refLookup(ref, vni, a);
      checked++;
      if (tab.lookup(vni, a) !== want[i]) mismatches++;
    }
    // the same lookups in batches of up to 100 (groups of 64 inside)
    const out = new Int32Array(500);
    for (let i = 0; i < 500; i += 100) tab.lookupBulk(vni, addrs.subarray(i), out.subarray(i), 100);
    for (let i = 0; i < 500; i++) if (out[i] !== want[i]) bulkMismatches++;
  }
  t.is(mismatches, 0);
  t.is(bulkMismatches, 0);
  t.true(checked >= 20000);
  t.true(ref.length > 2000, `${ref.length} routes at the end`);
  t.is(tab.size, ref.length);
  for (const vni of [1, 2, 3]) {
    t.is(tab.count(vni), ref.filter((x) => x.vni === vni).length);
    t.deepEqual([...tab.list(vni)].sort((a, b) => a - b), ref.filter((x) => x.vni === vni).map((x) => x.r).sort((a, b) => a - b));
  }
});

/**
 * Inserts and at once deletes a route until the table answers PENDING: every never-used record has
 * been used once, and each waits out its grace period. Returns the records used.
 */
function useUpRecords(t: ExecutionContext, tab: Lpm4Table): Set<number> {
  const used = new Set<number>();
  let last = 0;
  for (let i = 0; i < 1000; i++) {
    last = tab.insert(1, i << 8, 24, 0, 0, ZERO);
    if (last < 0) break;
    t.false(used.has(last));
    used.add(last);
    t.is(tab.delete(1, i << 8, 24), last);
  }
  t.is(last, LpmError.PENDING);
  return used;
}

test('a deleted route\'s record is not reused until every online reader passed a quiescent point', (t) => {
  const q = Qsbr.create(2);
  const tab = Lpm4Table.create({ maxRoutes: 1 }, q);
  q.online(0);
  q.offline(1);
  // every record used once and deleted: then nothing can be reused, as no reader passed a
  // quiescent point since the deletes
  const used = useUpRecords(t, tab);
  t.true(used.size > 1);
  t.is(tab.size, 0);
  q.quiescent(0);
  const r = tab.insert(1, ip('9.9.9.0'), 24, 0, 0, ZERO);
  t.true(used.has(r), 'the oldest freed record comes back');
  t.is(tab.lookup(1, ip('9.9.9.9')), r);
});

test('with deferGrace a deleted route\'s record waits for startGrace, then for the readers', (t) => {
  const q = Qsbr.create(1);
  const tab = Lpm4Table.create({ maxRoutes: 1 }, q);
  tab.deferGrace = true;
  q.online(0);
  const used = useUpRecords(t, tab);
  // the reader passes a quiescent point, but no grace period has started: still nothing to reuse
  q.quiescent(0);
  t.is(tab.insert(1, ip('9.9.9.0'), 24, 0, 0, ZERO), LpmError.PENDING);
  tab.startGrace();
  t.is(tab.insert(1, ip('9.9.9.0'), 24, 0, 0, ZERO), LpmError.PENDING, 'the reader has not passed a quiescent point since');
  q.quiescent(0);
  const r = tab.insert(1, ip('9.9.9.0'), 24, 0, 0, ZERO);
  t.true(used.has(r), 'the oldest freed record comes back');
  // a record deleted after startGrace waits for the next one
  t.is(tab.delete(1, ip('9.9.9.0'), 24), r);
  tab.startGrace();
  q.quiescent(0);
  t.true(tab.insert(1, ip('8.8.8.0'), 24, 0, 0, ZERO) > 0);
});

test('a grace period waits for online readers only', (t) => {
  const q = Qsbr.create(3);
  t.true(q.check(q.start()), 'no reader online');
  q.online(0);
  q.online(2);
  const tok = q.start();
  t.false(q.check(tok));
  q.quiescent(0);
  t.false(q.check(tok), 'reader 2 still holds what it read');
  q.offline(2);
  t.true(q.check(tok));
  t.true(q.check(tok - 1), 'older tokens are complete too');
  const view = new Qsbr(q.sab);
  t.is(view.maxReaders, 3);
});

// ---- concurrency: a worker looks up while this thread changes the routes ----

interface ReaderData {
  lpmUrl: string;
  qsbrUrl: string;
  table: SharedArrayBuffer;
  qsbr: SharedArrayBuffer;
  ctl: SharedArrayBuffer;
  expected: SharedArrayBuffer;
  vni: number;
  addr: number;
  strict: boolean;
}

// ctl words (the worker uses the numbers: it is stringified and cannot see these constants)
const C_STOP = 0;
const C_EPOCH = 1;
const C_LOOKUPS = 2;
const C_BAD = 3;
const C_READY = 4;
const C_BAD_DETAIL = 5; // epoch from, epoch to, result
const C_IDLE = 9; // never written: the writer sleeps on it
const EXP_RING = 1 << 16;

/**
 * The worker's loop (stringified into an eval Worker, so it imports what it needs itself). After
 * each lookup, before its quiescent point, it checks that the answer is -1 or a chain route that
 * covers the address; in strict mode also that it is the expected answer of a state the table
 * was in during the lookup (e1..e2), or of the change that was in flight (e2 + 1).
 */
async function readerLoop(d: ReaderData): Promise<void> {
  const { Lpm4Table: Table, MASK4: masks } = await import(d.lpmUrl) as typeof import('../../src/tables/lpm.js');
  const { Qsbr: Q } = await import(d.qsbrUrl) as typeof import('../../src/tables/qsbr.js');
  const tab = new Table(d.table);
  const q = new Q(d.qsbr);
  const ctl = new Int32Array(d.ctl);
  const exp = new Int32Array(d.expected);
  const ring = exp.length - 1;
  q.online(0);
  Atomics.store(ctl, 4, 1);
  let n = 0;
  while (Atomics.load(ctl, 0) === 0) {
    const e1 = Atomics.load(ctl, 1);
    const r = tab.lookup(d.vni, d.addr);
    const e2 = Atomics.load(ctl, 1);
    // chain routes carry their length as target
    let ok = r === -1 || (tab.vni(r) === d.vni && ((d.addr & masks[tab.length(r)]!) >>> 0) === tab.prefix(r)
      && tab.target(r) === tab.length(r));
    if (ok && d.strict) {
      let seen = false;
      for (let e = e1; e <= e2 && !seen; e++) seen = Atomics.load(exp, e & ring) === r;
      if (!seen) {
        // the answer of change e2 + 1 is written before the epoch moves on
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

/**
 * Runs a reader worker on a small VNI table while this thread toggles a chain of routes that
 * cover one address (/0 .. /32) and churns unrelated routes (so that freed records are reused all
 * the time). `strict`: after each change, wait until the worker finished two lookups, so that no
 * lookup overlaps two changes.
 */
async function race(strict: boolean, ms: number, minChanges: number): Promise<{ changes: number; lookups: number; bad: number; detail: string; wrongDeletes: number }> {
  const q = Qsbr.create(1);
  const tab = Lpm4Table.create({ maxRoutes: 24, maxRoutesPerVni: 24, maxVnis: 4 }, q);
  const VNI = 77;
  const A = ip('10.20.30.40');
  const chainLens = [0, 4, 8, 12, 16, 20, 24, 28, 31, 32];
  const present = new Map<number, number>(); // length -> route index
  const ctl = new Int32Array(new SharedArrayBuffer(64));
  const exp = new Int32Array(new SharedArrayBuffer(EXP_RING * 4));
  exp.fill(-1);
  const data: ReaderData = {
    lpmUrl: new URL('../../src/tables/lpm.js', import.meta.url).href,
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
    const rnd = rng(strict ? 1234 : 4321);
    const churn: [number, number][] = [];
    let epoch = 0;
    let changes = 0;
    let wrongDeletes = 0;
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
            const [v, p] = churn.splice(rnd() % churn.length, 1)[0]!;
            tab.delete(v, p, 32);
          } else {
            const v = rnd() % 2 === 0 ? VNI : VNI + 1;
            const p = (ip('192.168.0.0') | (rnd() & 0xffff)) | 0;
            if (tab.insert(v, p, 32, 0, 0, ZERO) > 0) churn.push([v, p]);
          }
          settle();
          continue;
        }
        const len = chainLens[rnd() % chainLens.length]!;
        const p = A & MASK4[len]!;
        const had = present.get(len);
        if (had === undefined) {
          const r = tab.insert(VNI, p, len, len, 0, ZERO);
          if (r < 0) continue; // FULL or PENDING: nothing changed
          present.set(len, r);
        } else {
          if (tab.delete(VNI, p, len) !== had) wrongDeletes++;
          present.delete(len);
        }
        // the answer of the new state, then the epoch that names it
        Atomics.store(exp, (epoch + 1) & (EXP_RING - 1), longest());
        Atomics.store(ctl, C_EPOCH, ++epoch);
        changes++;
        settle();
      }
      // let timers run; the worker keeps passing quiescent points meanwhile
      await new Promise((res) => setImmediate(res));
    }
    Atomics.store(ctl, C_STOP, 1);
    await exited;
    return {
      changes, wrongDeletes, lookups: Atomics.load(ctl, C_LOOKUPS), bad: Atomics.load(ctl, C_BAD),
      detail: `answer ${Atomics.load(ctl, C_BAD_DETAIL + 2)} in epochs ${Atomics.load(ctl, C_BAD_DETAIL)}..${Atomics.load(ctl, C_BAD_DETAIL + 1)}`,
    };
  } finally {
    Atomics.store(ctl, C_STOP, 1);
    await worker.terminate();
  }
}

test.serial('a reader worker sees the old or the new answer of each change that overlaps its lookup', async (t) => {
  const res = await race(true, 1500, 2000);
  t.is(res.bad, 0, res.detail);
  t.is(res.wrongDeletes, 0);
  t.true(res.changes >= 1000, `${res.changes} changes`);
  t.log(`${res.changes} changes, ${res.lookups} lookups checked`);
});

test.serial('a reader worker never sees garbage while changes race its lookups', async (t) => {
  const res = await race(false, 1500, 5000);
  t.is(res.bad, 0, res.detail);
  t.is(res.wrongDeletes, 0);
  t.true(res.changes >= 2000, `${res.changes} changes`);
  t.true(res.lookups > 1000, `${res.lookups} lookups`);
  t.log(`${res.changes} changes, ${res.lookups} lookups checked`);
});
