/**
 * The load balancers the workers balance to (upstream dp_lb.c, dp_maglev.c): per load balancer its
 * VNI, address (IPv4 or IPv6), ports (protocol and port), target underlay addresses and the Maglev
 * lookup table built from them. A new flow to a load balancer's address and one of its ports gets
 * the target at maglev[upstream's flow hash % MAGLEV_SIZE], as upstream's, so a flow reaches the
 * same target through either implementation, and a target's removal moves only its own flows.
 *
 * LAYOUT (one SharedArrayBuffer of Int32 words): MAX_LBS entries of ENTRY words [sequence, VNI,
 * family (0 free, 4, 6), address (4 words, IPv4 in the first), port count, ports (MAX_PORTS words:
 * protocol << 16 | port), target count, targets (MAX_TARGETS x 4 words, ascending by bytes),
 * Maglev table (MAGLEV_SIZE target indexes, two per word)], then the end of the entries in use.
 *
 * CONSISTENCY: the supervisor alone writes, each entry under its sequence word (odd while
 * writing); a worker reads an entry until it saw the same even sequence before and after. Workers
 * read it for a flow's first packet only (the flow keeps its target).
 */
export const MAX_LBS = 256;
/** Upstream DP_LB_MAX_IPS_PER_VIP and DP_LB_MAX_PORTS (16, 15 usable: a 0 port ends its list). */
export const MAX_TARGETS = 64;
export const MAX_LB_PORTS = 16;
/** Upstream DP_LB_MAGLEV_LOOKUP_SIZE: a prime at least twice MAX_TARGETS. */
export const MAGLEV_SIZE = 503;

const E_SEQ = 0;
const E_VNI = 1;
const E_FAMILY = 2;
const E_ADDR = 3;
const E_NPORTS = 7;
const E_PORTS = 8;
const E_NTARGETS = E_PORTS + MAX_LB_PORTS;
const E_TARGETS = E_NTARGETS + 1;
const E_MAGLEV = E_TARGETS + MAX_TARGETS * 4;
const ENTRY = E_MAGLEV + Math.ceil(MAGLEV_SIZE / 2);
const LIMIT = MAX_LBS * ENTRY;
const WORDS = LIMIT + 1;

/** What a load balancer is made of, as the supervisor writes it. */
export interface LbSpec {
  vni: number;
  /** 4 bytes (IPv4) or 16 (IPv6). */
  address: Uint8Array;
  ports: readonly { port: number; protocol: number }[];
  /** 16 bytes each, any order (sorted here). */
  targets: readonly Uint8Array[];
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** Upstream's MurmurHash2 (seed 0) over the 16 address bytes, as little-endian words. */
export function maglevOffsetHash(a: Uint8Array): number {
  const M = 0x5bd1e995;
  let h = 16;
  for (let i = 0; i < 16; i += 4) {
    let k = a[i]! | (a[i + 1]! << 8) | (a[i + 2]! << 16) | (a[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h >>> 0;
}

/** Upstream's DJB hash over the 16 address bytes, top bit cleared. */
export function maglevSkipHash(a: Uint8Array): number {
  let h = 5381;
  for (let i = 0; i < 16; i++) h = (Math.imul(h, 33) + a[i]!) | 0;
  return (h & 0x7fffffff) >>> 0;
}

/**
 * The Maglev lookup table for `targets` (ascending): each target's permutation of the slots
 * (offset by MurmurHash2, skip by DJB), targets taking turns at their next free preferred slot,
 * unfilled slots (none, in practice) given round-robin; upstream's dp_maglev_populate step for step.
 */
export function maglevTable(targets: readonly Uint8Array[]): Int16Array {
  const n = targets.length;
  const table = new Int16Array(MAGLEV_SIZE).fill(-1);
  if (n === 0) return table;
  const offset = targets.map((t) => maglevOffsetHash(t) % MAGLEV_SIZE);
  const skip = targets.map((t) => (maglevSkipHash(t) % (MAGLEV_SIZE - 1)) + 1);
  const next = new Int32Array(n);
  let filled = 0;
  for (;;) {
    let full = false;
    for (let i = 0; i < n && !full; i++) {
      for (let j = next[i]!; j < MAGLEV_SIZE; j++) {
        const pos = (offset[i]! + j * skip[i]!) % MAGLEV_SIZE;
        next[i] = next[i]! + 1;
        if (table[pos] === -1) {
          table[pos] = i;
          if (++filled === MAGLEV_SIZE) full = true;
          break;
        }
      }
    }
    if (full) break;
    if (next.every((x) => x >= MAGLEV_SIZE)) break;
  }
  for (let i = 0; i < MAGLEV_SIZE; i++) if (table[i] === -1) table[i] = i % n;
  return table;
}

export class LbTable {
  readonly words: Int32Array;

  static create(): LbTable {
    return new LbTable(new SharedArrayBuffer(WORDS * 4));
  }

  constructor(readonly sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab);
  }

  // ---- supervisor -----------------------------------------------------------------------------

  /** Writes (or rewrites) the load balancer of `spec.vni` and address; false if the table is full. */
  set(spec: LbSpec): boolean {
    const w = this.words;
    let e = this.entryOf(spec.vni, spec.address);
    if (e < 0) {
      for (let i = 0; i < LIMIT; i += ENTRY) {
        if (w[i + E_FAMILY] === 0) {
          e = i;
          break;
        }
      }
    }
    if (e < 0) return false;
    const targets = [...spec.targets].sort(compareBytes).slice(0, MAX_TARGETS);
    const maglev = maglevTable(targets);
    Atomics.add(w, e + E_SEQ, 1);
    w[e + E_VNI] = spec.vni | 0;
    const dv = new DataView(spec.address.buffer, spec.address.byteOffset, spec.address.length);
    for (let i = 0; i < 4; i++) w[e + E_ADDR + i] = spec.address.length === 4 ? (i === 0 ? dv.getInt32(0) : 0) : dv.getInt32(i * 4);
    const ports = spec.ports.filter((p) => p.port !== 0).slice(0, MAX_LB_PORTS);
    w[e + E_NPORTS] = ports.length;
    ports.forEach((p, i) => { w[e + E_PORTS + i] = (p.protocol << 16) | p.port; });
    w[e + E_NTARGETS] = targets.length;
    targets.forEach((t, i) => {
      const tv = new DataView(t.buffer, t.byteOffset, 16);
      for (let k = 0; k < 4; k++) w[e + E_TARGETS + i * 4 + k] = tv.getInt32(k * 4);
    });
    for (let i = 0; i < MAGLEV_SIZE; i += 2) w[e + E_MAGLEV + i / 2] = (maglev[i]! & 0xffff) | ((maglev[i + 1] ?? 0) << 16);
    w[e + E_FAMILY] = spec.address.length === 4 ? 4 : 6;
    Atomics.add(w, e + E_SEQ, 1);
    if (e + ENTRY > w[LIMIT]!) Atomics.store(w, LIMIT, e + ENTRY);
    return true;
  }

  /** Removes the load balancer of `vni` and `address` (if present). */
  remove(vni: number, address: Uint8Array): void {
    const w = this.words;
    const e = this.entryOf(vni, address);
    if (e < 0) return;
    Atomics.add(w, e + E_SEQ, 1);
    w[e + E_FAMILY] = 0;
    Atomics.add(w, e + E_SEQ, 1);
  }

  private entryOf(vni: number, address: Uint8Array): number {
    const w = this.words;
    const fam = address.length === 4 ? 4 : 6;
    const dv = new DataView(address.buffer, address.byteOffset, address.length);
    const end = w[LIMIT]!;
    for (let e = 0; e < end; e += ENTRY) {
      if (w[e + E_FAMILY] !== fam || w[e + E_VNI] !== (vni | 0)) continue;
      let same = true;
      for (let i = 0; i < (fam === 4 ? 1 : 4); i++) if (w[e + E_ADDR + i] !== dv.getInt32(i * 4)) same = false;
      if (same) return e;
    }
    return -1;
  }

  // ---- workers ----------------------------------------------------------------------------------

  /**
   * The load balancer of `vni` whose address is a0..a3 (big-endian words; IPv4: a0, the rest 0,
   * `v6` false): its entry offset, or -1.
   */
  find(vni: number, v6: boolean, a0: number, a1: number, a2: number, a3: number): number {
    const w = this.words;
    const fam = v6 ? 6 : 4;
    const v = vni | 0;
    const end = Atomics.load(w, LIMIT);
    for (let e = 0; e < end; e += ENTRY) {
      if (w[e + E_FAMILY] === fam && w[e + E_VNI] === v && w[e + E_ADDR] === a0 && w[e + E_ADDR + 1] === a1
        && w[e + E_ADDR + 2] === a2 && w[e + E_ADDR + 3] === a3) return e;
    }
    return -1;
  }

  /** Whether load balancer entry `e` still has the target at dv[at..at+16]. */
  hasTarget(e: number, dv: DataView, at: number): boolean {
    const w = this.words;
    const t0 = dv.getInt32(at);
    const t1 = dv.getInt32(at + 4);
    const t2 = dv.getInt32(at + 8);
    const t3 = dv.getInt32(at + 12);
    for (;;) {
      const s1 = Atomics.load(w, e + E_SEQ);
      let found = false;
      const n = w[e + E_NTARGETS]!;
      for (let i = 0; i < n && !found; i++) {
        const o = e + E_TARGETS + i * 4;
        found = w[o] === t0 && w[o + 1] === t1 && w[o + 2] === t2 && w[o + 3] === t3;
      }
      if ((s1 & 1) === 0 && Atomics.load(w, e + E_SEQ) === s1) return found && w[e + E_FAMILY] !== 0;
    }
  }

  /**
   * The target of load balancer entry `e` for a flow of `proto` to `port` with upstream's flow hash
   * `hash`: its underlay address goes to out[at..at+16] and true is returned; false if the load
   * balancer does not balance that port and protocol, has no target, or went away.
   */
  target(e: number, proto: number, port: number, hash: number, out: DataView, at: number): boolean {
    const w = this.words;
    for (;;) {
      const s1 = Atomics.load(w, e + E_SEQ);
      let ok = (s1 & 1) === 0 && w[e + E_FAMILY] !== 0 && w[e + E_NTARGETS]! > 0;
      if (ok) {
        const want = (proto << 16) | port;
        let match = false;
        const n = w[e + E_NPORTS]!;
        for (let i = 0; i < n; i++) if (w[e + E_PORTS + i] === want) match = true;
        ok = match;
      }
      if (ok) {
        const slot = (hash >>> 0) % MAGLEV_SIZE;
        const word = w[e + E_MAGLEV + (slot >> 1)]!;
        const t = (slot & 1) === 0 ? word & 0xffff : word >>> 16;
        ok = t < w[e + E_NTARGETS]!;
        if (ok) for (let k = 0; k < 4; k++) out.setInt32(at + k * 4, w[e + E_TARGETS + t * 4 + k]!);
      }
      if (Atomics.load(w, e + E_SEQ) === s1 && (s1 & 1) === 0) return ok;
    }
  }
}
