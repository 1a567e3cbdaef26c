/**
 * Route tables (src/tables/lpm.ts, lpm6.ts): insert rate and lookup cost at 1k, 100k and 1M
 * routes in one VNI, IPv4 and IPv6, for two length mixes:
 *   vpc    what a VPC holds: one /0, 2% /16 (/48), 18% /24 (/64), 80% /32 (/128)
 *   spread every length from /8 to /32 (/16 to /128) equally: the worst case of the algorithm
 * Lookups: a fixed set of 64Ki addresses, half inside random routes of the table, half random,
 * one at a time (`lookup`) and in batches of 64 (`lookupBulk`, what a graph node would call).
 * At 1k routes the same lookups go through two naive tables for comparison: a linear scan over
 * typed arrays, and a Map keyed by "vni/len/prefix" strings probed per length in use.
 *
 *   node dist/bench/routes.js [--sizes 1000,100000,1000000] [--family 4,6] [--mix vpc,spread] [--trials 25] [--cpu] [--huge]
 */
import { Lpm4Table, MASK4 } from '../src/tables/lpm.js';
import { Lpm6Table, MASK6 } from '../src/tables/lpm6.js';
import { loadShim } from '../src/ffi/dpdk.js';

const VNI = 100;
/** --huge: transparent huge pages for the tables, as the service advises them (Dataplane). */
const HUGE = process.argv.includes('--huge');
const NLOOKUP = 1 << 16;
/** Lookups per lookupBulk call: a graph batch. */
const BATCH = 64;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] ?? def : def;
}

/** mulberry32: a small seeded generator, so every run measures the same tables. */
function rng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) | 0;
  };
}

type Mix = 'vpc' | 'spread';

function pickLen(mix: Mix, v6: boolean, rnd: () => number): number {
  const u = (rnd() >>> 0) / 2 ** 32;
  if (mix === 'spread') return v6 ? 16 + Math.floor(u * 113) : 8 + Math.floor(u * 25);
  if (v6) return u < 0.02 ? 48 : u < 0.2 ? 64 : 128;
  return u < 0.02 ? 16 : u < 0.2 ? 24 : 32;
}

/** n distinct routes as words (1 per IPv4 prefix, 4 per IPv6 prefix) and lengths; the first is /0. */
function makeRoutes(n: number, mix: Mix, v6: boolean, seed: number): { words: Int32Array; lens: Int32Array } {
  const rnd = rng(seed);
  const k = v6 ? 4 : 1;
  const words = new Int32Array(n * k);
  const lens = new Int32Array(n);
  const seen = new Set<string>(['0/0']);
  let i = 1;
  while (i < n) {
    const len = pickLen(mix, v6, rnd);
    let key = `${len}`;
    for (let w = 0; w < k; w++) {
      const x = rnd() & (v6 ? MASK6[len * 4 + w]! : MASK4[len]!);
      words[i * k + w] = x;
      key += `/${x}`;
    }
    if (seen.has(key)) continue;
    seen.add(key);
    lens[i++] = len;
  }
  return { words, lens };
}

/** Lookup addresses: even ones inside a random route (random host bits), odd ones random. */
function makeAddrs(r: { words: Int32Array; lens: Int32Array }, v6: boolean, seed: number): Int32Array {
  const rnd = rng(seed);
  const k = v6 ? 4 : 1;
  const n = r.lens.length;
  const out = new Int32Array(NLOOKUP * k);
  for (let i = 0; i < NLOOKUP; i++) {
    const j = ((rnd() >>> 0) % n);
    const len = r.lens[j]!;
    for (let w = 0; w < k; w++) {
      const m = v6 ? MASK6[len * 4 + w]! : MASK4[len]!;
      out[i * k + w] = (i & 1) === 0 ? (r.words[j * k + w]! & m) | (rnd() & ~m) : rnd();
    }
  }
  return out;
}

function toBytes(words: Int32Array): Uint8Array {
  const b = new Uint8Array(words.length * 4);
  for (let i = 0; i < words.length; i++) {
    const x = words[i]!;
    b[4 * i] = x >>> 24;
    b[4 * i + 1] = (x >>> 16) & 0xff;
    b[4 * i + 2] = (x >>> 8) & 0xff;
    b[4 * i + 3] = x & 0xff;
  }
  return b;
}

/** CPU time of this process in ns (user + system): time spent waiting for a CPU is not counted. */
function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/**
 * ns per lookup of `run` (which does NLOOKUP lookups and returns a checksum): the best of
 * `trials` timings of one run each. Other sessions load this 2-vCPU machine (load average 5-9
 * while this was written) and single timings vary 3-8x; the best one is the machine's figure.
 * With --cpu, CPU time instead of wall time (time waiting for a CPU is not counted).
 */
function timeLookups(run: () => number, trials: number): number {
  const useCpu = process.argv.includes('--cpu');
  let sink = 0;
  for (let i = 0; i < 3; i++) sink += run();
  let best = Infinity;
  for (let k = 0; k < trials; k++) {
    const w0 = process.hrtime.bigint();
    const c0 = cpuNs();
    sink += run();
    const ns = useCpu ? cpuNs() - c0 : Number(process.hrtime.bigint() - w0);
    best = Math.min(best, ns / NLOOKUP);
  }
  if (sink === 0.5) console.log('');
  return best;
}

// ---- naive tables for comparison ----

function naiveLinear4(r: { words: Int32Array; lens: Int32Array }, addrs: Int32Array): () => number {
  const n = r.lens.length;
  const masks = new Int32Array(n);
  for (let j = 0; j < n; j++) masks[j] = MASK4[r.lens[j]!]!;
  return () => {
    let s = 0;
    for (let i = 0; i < NLOOKUP; i++) {
      const a = addrs[i]!;
      let best = -1;
      let bestLen = -1;
      for (let j = 0; j < n; j++) {
        if ((a & masks[j]!) === r.words[j] && r.lens[j]! > bestLen) {
          best = j;
          bestLen = r.lens[j]!;
        }
      }
      s += best;
    }
    return s;
  };
}

function naiveMap4(r: { words: Int32Array; lens: Int32Array }, addrs: Int32Array): () => number {
  const m = new Map<string, number>();
  const used = new Set<number>();
  for (let j = 0; j < r.lens.length; j++) {
    m.set(`${VNI}/${r.lens[j]}/${r.words[j]}`, j);
    used.add(r.lens[j]!);
  }
  const lens = [...used].sort((a, b) => b - a);
  return () => {
    let s = 0;
    for (let i = 0; i < NLOOKUP; i++) {
      const a = addrs[i]!;
      for (const len of lens) {
        const hit = m.get(`${VNI}/${len}/${a & MASK4[len]!}`);
        if (hit !== undefined) {
          s += hit;
          break;
        }
      }
    }
    return s;
  };
}

function naiveLinear6(r: { words: Int32Array; lens: Int32Array }, addrs: Int32Array): () => number {
  const n = r.lens.length;
  return () => {
    let s = 0;
    for (let i = 0; i < NLOOKUP; i++) {
      let best = -1;
      let bestLen = -1;
      for (let j = 0; j < n; j++) {
        const len = r.lens[j]!;
        if (len <= bestLen) continue;
        let w = 0;
        while (w < 4 && (addrs[i * 4 + w]! & MASK6[len * 4 + w]!) === r.words[j * 4 + w]) w++;
        if (w === 4) {
          best = j;
          bestLen = len;
        }
      }
      s += best;
    }
    return s;
  };
}

function naiveMap6(r: { words: Int32Array; lens: Int32Array }, addrs: Int32Array): () => number {
  const m = new Map<string, number>();
  const used = new Set<number>();
  const key = (len: number, a: Int32Array, at: number): string =>
    `${VNI}/${len}/${a[at]! & MASK6[len * 4]!}/${a[at + 1]! & MASK6[len * 4 + 1]!}/${a[at + 2]! & MASK6[len * 4 + 2]!}/${a[at + 3]! & MASK6[len * 4 + 3]!}`;
  for (let j = 0; j < r.lens.length; j++) {
    m.set(key(r.lens[j]!, r.words, j * 4), j);
    used.add(r.lens[j]!);
  }
  const lens = [...used].sort((a, b) => b - a);
  return () => {
    let s = 0;
    for (let i = 0; i < NLOOKUP; i++) {
      for (const len of lens) {
        const hit = m.get(key(len, addrs, i * 4));
        if (hit !== undefined) {
          s += hit;
          break;
        }
      }
    }
    return s;
  };
}

// ---- the measured table ----

interface Row {
  family: string;
  mix: Mix;
  routes: number;
  insertPerS: number;
  lookupNs: number;
  bulkNs: number;
  linearNs: number;
  mapNs: number;
  bytesPerRoute: number;
}

function bench(v6: boolean, mix: Mix, n: number, trials: number): Row {
  const r = makeRoutes(n, mix, v6, n * 7 + (v6 ? 1 : 0) + (mix === 'spread' ? 2 : 0));
  const addrs = makeAddrs(r, v6, 99);
  const nh = new Uint8Array(16);
  const cfg = { maxRoutes: n, maxRoutesPerVni: n, maxVnis: 16 };
  let insertPerS: number;
  let lookup: () => number;
  let bulk: () => number;
  let bytes: number;
  const out = new Int32Array(NLOOKUP);
  const sum = (): number => {
    let s = 0;
    for (let i = 0; i < NLOOKUP; i++) s += out[i]!;
    return s;
  };
  if (v6) {
    const t = Lpm6Table.create(cfg);
    if (HUGE) loadShim().adviseHuge(t.sab);
    const pb = toBytes(r.words);
    const pfx = Array.from({ length: n }, (_, i) => pb.subarray(i * 16, i * 16 + 16));
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (t.insert(VNI, pfx[i]!, r.lens[i]!, -1, VNI, nh) < 0) throw new Error(`insert ${i} failed`);
    insertPerS = n / (Number(process.hrtime.bigint() - t0) / 1e9);
    const ab = toBytes(addrs);
    lookup = () => {
      let s = 0;
      for (let i = 0; i < NLOOKUP; i++) s += t.lookup(VNI, ab, i * 16);
      return s;
    };
    const offs = Int32Array.from({ length: NLOOKUP }, (_, i) => i * 16);
    bulk = () => {
      for (let i = 0; i < NLOOKUP; i += BATCH) t.lookupBulk(VNI, ab, offs.subarray(i, i + BATCH), out.subarray(i, i + BATCH), BATCH);
      return sum();
    };
    bytes = Lpm6Table.byteSize(cfg);
  } else {
    const t = Lpm4Table.create(cfg);
    if (HUGE) loadShim().adviseHuge(t.sab);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (t.insert(VNI, r.words[i]!, r.lens[i]!, -1, VNI, nh) < 0) throw new Error(`insert ${i} failed`);
    insertPerS = n / (Number(process.hrtime.bigint() - t0) / 1e9);
    lookup = () => {
      let s = 0;
      for (let i = 0; i < NLOOKUP; i++) s += t.lookup(VNI, addrs[i]!);
      return s;
    };
    bulk = () => {
      for (let i = 0; i < NLOOKUP; i += BATCH) t.lookupBulk(VNI, addrs.subarray(i, i + BATCH), out.subarray(i, i + BATCH), BATCH);
      return sum();
    };
    bytes = Lpm4Table.byteSize(cfg);
  }
  const lookupNs = timeLookups(lookup, trials);
  const bulkNs = timeLookups(bulk, trials);
  if (bulk() !== lookup()) throw new Error('lookupBulk and lookup disagree');
  let linearNs = NaN;
  let mapNs = NaN;
  if (n <= 1000) {
    linearNs = timeLookups(v6 ? naiveLinear6(r, addrs) : naiveLinear4(r, addrs), 3);
    mapNs = timeLookups(v6 ? naiveMap6(r, addrs) : naiveMap4(r, addrs), 5);
  }
  return { family: v6 ? 'IPv6' : 'IPv4', mix, routes: n, insertPerS, lookupNs, bulkNs, linearNs, mapNs, bytesPerRoute: bytes / n };
}

/**
 * This machine's latency of a dependent random load over `mb` MiB (a pointer chase through one
 * word per cache line): what one lookup that misses the caches waits for, per miss.
 */
function chaseNs(mb: number): number {
  const n = (mb * 1024 * 1024) / 4;
  const lines = n >> 4;
  const a = new Int32Array(n);
  const perm = Int32Array.from({ length: lines }, (_, i) => i);
  const rnd = rng(mb);
  for (let i = lines - 1; i > 0; i--) {
    const j = (rnd() >>> 0) % (i + 1);
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  for (let i = 0; i < lines; i++) a[perm[i]! << 4] = perm[(i + 1) % lines]! << 4;
  let p = 0;
  for (let i = 0; i < 100000; i++) p = a[p]!;
  let best = Infinity;
  for (let k = 0; k < 5; k++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 200000; i++) p = a[p]!;
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 200000);
  }
  if (p === -1) console.log('');
  return best;
}

/** Runs the insert and lookup paths once on small tables, so that the first row is not the JIT's. */
function warmUp(): void {
  for (const v6 of [false, true]) {
    for (const mix of ['vpc', 'spread'] as const) bench(v6, mix, 2000, 2);
  }
}

function main(): void {
  const sizes = arg('--sizes', '1000,100000,1000000').split(',').map(Number);
  const trials = Number(arg('--trials', '25'));
  const families = arg('--family', '4,6').split(',');
  const mixes = arg('--mix', 'vpc,spread').split(',') as Mix[];
  warmUp();
  const rows: Row[] = [];
  for (const v6 of families.map((f) => f === '6')) {
    for (const mix of mixes) {
      for (const n of sizes) rows.push(bench(v6, mix, n, trials));
    }
  }
  const f = (x: number, d: number): string => (Number.isNaN(x) ? '-' : x.toFixed(d));
  const head = ['family', 'mix', 'routes', 'insert/s', 'lookup ns', `bulk/${BATCH} ns`, 'linear ns', 'Map<string> ns', 'bytes/route'];
  const body = rows.map((r) => [r.family, r.mix, String(r.routes), f(r.insertPerS, 0), f(r.lookupNs, 1), f(r.bulkNs, 1), f(r.linearNs, 1),
    f(r.mapNs, 1), f(r.bytesPerRoute, 0)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  const clock = process.argv.includes('--cpu') ? 'CPU time' : 'wall time';
  console.log(`route tables, one VNI, ${NLOOKUP} lookup addresses (half inside routes), best of ${trials} runs, ${clock}`);
  console.log(line(head));
  for (const b of body) console.log(line(b));
  const chase = [1, 8, 32].map((mb) => `${mb} MiB ${chaseNs(mb).toFixed(0)} ns`).join(', ');
  console.log(`memory latency on this machine (dependent random loads): ${chase}`);
}

main();
