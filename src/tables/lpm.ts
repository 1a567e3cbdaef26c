/**
 * Per-VNI longest-prefix-match route tables in a SharedArrayBuffer: one writer (the supervisor),
 * any number of lock-free readers (the workers). This file: the IPv4 table and the description of
 * both; `lpm6.ts` is the IPv6 table, `lpm-core.ts` what they share (and the buffer layout),
 * `qsbr.ts` the grace periods that make deleted entries safe to reuse.
 *
 * ALGORITHM. One hash table per family over all (VNI, prefix length, prefix) keys, chained through
 * the route keys, plus a bitmask per VNI of the prefix lengths it uses. A lookup finds the VNI's
 * directory slot, then probes the hash with the address masked to each length of the mask, longest
 * first, and stops at the first hit. A probe is a hash (fmix32 over Math.imul), one bit of an
 * occupancy filter (1 byte per route: stays in cache), and only if that bit is set the 4-byte
 * bucket word, whose 6-bit fingerprint says whether the key (16 bytes; 32 for IPv6) is worth
 * reading. So a lookup costs one probe per length in use down to the matching one: 1-4 in a VPC
 * (/32 and /128 for VMs, a subnet or aggregate length or two, /0). `lookupBulk` does the same for a
 * batch, length by length, so that the memory accesses of 64 lookups overlap.
 *
 * Measured here (bench/routes.ts: 2 vCPU EPYC VM shared with other sessions, Node 20, best of 25-40
 * runs, 64Ki lookups half inside routes; ns per lookup, ranges over 3 runs; "bulk" is
 * lookupBulk in batches of 64):
 *
 *   routes in one VNI          1k      100k    1M: lookup / bulk    inserts/s at 100k-1M
 *   IPv4, VPC mix (4 lengths)  34-50   44-74   150-252 / 132-189    1.5-2.0 M
 *   IPv6, VPC mix (4 lengths)  56-60   74-89   261-316 / 180-222    1.4-2.0 M
 *   IPv4, every length 8-32    164-172 172-184 547-704              1.8-2.7 M
 *   IPv6, every length 16-128  814-872 959-1159 3075-3569           1.4-2.0 M
 *   naive at 1k: linear scan 1111-1918 (IPv6 2906-2978), Map keyed by "vni/len/prefix" 497-906
 *   (IPv6 840-880)
 *
 * Under 100 ns at 1k and 100k routes. At 1M routes the tables (24 MiB of buckets and keys for
 * IPv4, 40 MiB for IPv6, on 4 KiB pages: no huge pages for a SharedArrayBuffer) are far beyond the
 * caches and the TLB, and this machine's dependent random load over 8-32 MiB takes 98-205 ns (the
 * bench prints it; the 1M figures follow it from run to run): an address inside a route needs two
 * such loads (bucket, then key), one that misses needs mostly none. That is the memory, not the
 * algorithm; a flow cache in front (a lookup per flow, not per packet) or tables in hugepage memory
 * are the remedies, not another structure. With every length in use the probes add up (a binary
 * trie such as upstream's rte_rib walks up to 32/128 nodes then too); only the VNI with such a
 * table pays for it.
 *
 * Why not the alternatives:
 * - DIR-24-8 per VNI: 64 MiB per VNI before the first route; with many VNIs it does not fit.
 * - Multibit tries (stride 8, 1 KiB nodes): up to ~1 KiB per scattered /32 route (1M random /32s:
 *   about 1 GiB), and for IPv6 up to 16 dependent loads per lookup; path compression fixes the
 *   memory but not the chain of dependent cache misses, which is what costs here.
 * - A binary trie (rte_rib, upstream): up to 32/128 dependent loads per lookup.
 * - Binary search on lengths (Waldvogel) bounds the probes at 6 / 8 whatever the lengths, at the
 *   price of markers (up to 5-7 extra entries per route) whose best-match pointers must be rewritten
 *   under every shorter route inserted. Not worth it while tables use a few lengths.
 * - Open addressing with the key inline in the bucket would save the second miss of a hit at 1M
 *   routes, at the price of tombstones that need grace periods and rebuilds under churn.
 * Memory per route: 8 bytes of buckets (load factor <= 0.5), 1 of filter, 16 of key (IPv6: 32),
 * 32 of fields (target, nexthop VNI and underlay), 8 of list links, 8 of free queue, and a 1/16
 * reserve: 77 bytes for IPv4, 94 for IPv6 (plus 8 words and W+1 counters per VNI slot).
 *
 * PUBLICATION PROTOCOL (why readers need no Atomics).
 * - A chain word (bucket head, or a key's next word) is one Int32: route index (24 bits), a MORE
 *   bit (the route has a successor) and the fingerprint. It is always written with Atomics.store
 *   and is never seen torn (aligned 32-bit accesses are tear-free in JS).
 * - Insert writes the key and fields of a fresh index, sets its next word to the current bucket
 *   head, then Atomics.store()s the bucket head to point to it. Delete Atomics.store()s the word
 *   that pointed to the route with the route's own next word. Nothing of a route a reader can reach
 *   is ever rewritten (only its next word, which goes from one valid successor to another), so a
 *   reader sees either the old or the new chain, and any route it reaches is complete.
 * - Readers use plain loads. The store that publishes a route is sequentially consistent: on
 *   x86-64 (xchg) and arm64 (stlr) every earlier write is visible before it is. The reader's loads
 *   of the key and fields take their address from the index it loaded: an address dependency,
 *   which every CPU V8 runs on orders without a barrier and which the JIT cannot break (it cannot
 *   know the index before loading it). This is RCU's rcu_dereference argument; the JS memory model
 *   does not spell out dependency ordering, which is why it is argued here. An Atomics.load per
 *   probe would cost 4-35 ns here (measured: 3.3 vs 40 ns per random load over 16 MiB, 5 vs 9 ns
 *   in cache: V8 does not turn it into a plain load).
 * - The per-VNI length mask and the filter are hints read with plain loads: a bit goes on after
 *   the route is published and off after the last route needing it is unlinked, so a stale bit
 *   only makes a lookup miss a route being inserted, or probe where a route was just removed. For
 *   these (no address dependency) the argument is x86-64's load order (TSO); on a weaker CPU a
 *   stale bit lasts as long as the store takes to become visible.
 * - So a lookup answers with the longest route it found present, probing lengths longest first.
 *   If one change overlaps the lookup, that is the old or the new answer. If several do, it is a
 *   route that covered the address and was present when its length was probed, every longer length
 *   having been probed empty; never another key's route, never a half-written one (tested).
 * - Reuse: a deleted index goes to a FIFO with a grace token and is rewritten only after every
 *   reader passed a quiescent point (`Qsbr`, given to the writer's table), so a reader never sees a
 *   route change under it, and an index a worker got stays valid until its next quiescent point.
 *   Never-used indices are taken before freed ones.
 *
 * Listing order is upstream's (dp_list_route_table): the /0 route first, then rte_rib_get_nxt's
 * post-order walk of the binary trie, which is: ascending by the prefix's last address, and for
 * the same last address the longer prefix first (10.0.0.0/24 before 10.0.0.0/8 before 11.0.0.0/16).
 */
import { D_MASK, DIR_SHIFT, F_NH, F_NH_VNI, F_SHIFT, F_TARGET, findVni, fmix32, FP_ONE, IDX_MASK, K_LEN,
  K_NEXT, K_PREFIX, K_VNI, LpmCore, type LpmConfig, LpmError, lpmByteSize, lpmCreateBuffer, MORE,
  validVni } from './lpm-core.js';
import type { GracePeriod } from './qsbr.js';

export { LpmError, lpmErrorName, LPM_DEFAULTS, type LpmConfig, type LpmErrorCode } from './lpm-core.js';

/** Lookups per group in `lookupBulk`. */
const BULK = 64;
/** log2 of the key words per IPv4 route. */
const KS = 2;

/** Network masks by prefix length: MASK4[len] (len 0..32). */
export const MASK4 = new Int32Array(33);
for (let len = 1; len <= 32; len++) MASK4[len] = (-1 << (32 - len)) | 0;

/** Hash of an IPv4 key; `p` has its host bits cleared. */
export function hash4(vni: number, len: number, p: number): number {
  return fmix32(Math.imul(vni, 0x9e3779b1) ^ Math.imul(len + 1, 0x7feb352d) ^ p);
}

export class Lpm4Table extends LpmCore {
  static byteSize(cfg: Partial<LpmConfig>): number {
    return lpmByteSize(32, cfg);
  }

  /** A new empty table (writer). `grace`: see LpmCore's constructor. */
  static create(cfg: Partial<LpmConfig> = {}, grace: GracePeriod | null = null): Lpm4Table {
    return new Lpm4Table(lpmCreateBuffer(32, cfg), grace);
  }

  /**
   * lookupBulk goes by groups from this many routes in the table on; below it the table is in
   * cache and the plain loop is as fast (measured at 100k: 44 vs 49 ns). Tests set it to 0.
   */
  bulkMinRoutes = 200000;

  // lookupBulk's scratch: pending lookups, their hashes and bucket words
  private readonly sPend = new Int32Array(BULK);
  private readonly sHash = new Int32Array(BULK);
  private readonly sWord = new Int32Array(BULK);

  /** Wraps the buffer of an existing table (workers pass no grace period). */
  constructor(sab: SharedArrayBuffer, grace: GracePeriod | null = null) {
    super(sab, 32, grace);
  }

  /**
   * The route with the longest prefix of `vni` that contains `addr` (a uint32), or -1. The hot
   * path: no allocation, no Atomics, no throw.
   */
  lookup(vni: number, addr: number): number {
    const dir = this.dir;
    const d = findVni(dir, this.dirMask, vni);
    if (d < 0) return -1;
    const base = (d << DIR_SHIFT) + D_MASK;
    const v = vni | 0;
    const a = addr | 0;
    let r = 0;
    if (dir[base + 1] !== 0) {
      r = this.probe(v, 32, a);
      if (r !== 0) return r;
    }
    let m = dir[base]!;
    while (m !== 0) {
      const len = 31 - Math.clz32(m);
      m ^= 1 << len;
      r = this.probe(v, len, a & MASK4[len]!);
      if (r !== 0) return r;
    }
    return -1;
  }

  /** The route of exactly (vni, prefix/len), host bits ignored, or -1. */
  find(vni: number, prefix: number, len: number): number {
    if (!validVni(vni) || !Number.isInteger(len) || len < 0 || len > 32) return -1;
    const r = this.probe(vni | 0, len, prefix & MASK4[len]!);
    return r === 0 ? -1 : r;
  }

  /**
   * Looks up n addresses of one VNI: out[i] = lookup(vni, addrs[i]) for i < n. Same answers and
   * guarantees as `lookup`, faster for big tables: it goes length by length over groups of 64
   * addresses, first reading every filter bit and bucket word of the group (independent loads the
   * CPU overlaps), then checking them. Below `bulkMinRoutes` it is the plain loop. No allocation
   * (scratch arrays belong to this view of the table, one per thread).
   */
  lookupBulk(vni: number, addrs: Int32Array, out: Int32Array, n: number): void {
    if (this.size < this.bulkMinRoutes) {
      for (let i = 0; i < n; i++) out[i] = this.lookup(vni, addrs[i]!);
      return;
    }
    for (let from = 0; from < n; from += BULK) this.bulkGroup(vni, addrs, out, from, from + BULK < n ? from + BULK : n);
  }

  private bulkGroup(vni: number, addrs: Int32Array, out: Int32Array, from: number, to: number): void {
    for (let i = from; i < to; i++) out[i] = -1;
    const dir = this.dir;
    const d = findVni(dir, this.dirMask, vni);
    if (d < 0) return;
    const base = (d << DIR_SHIFT) + D_MASK;
    const v = vni | 0;
    const pend = this.sPend;
    const hs = this.sHash;
    const ws = this.sWord;
    const buckets = this.buckets;
    const bm = this.bucketMask;
    const filter = this.filter;
    const fm = this.filterMask;
    let np = 0;
    for (let i = from; i < to; i++) pend[np++] = i;
    let m = dir[base]!;
    let len = dir[base + 1] !== 0 ? 32 : m !== 0 ? 31 - Math.clz32(m) : -1;
    while (len >= 0 && np > 0) {
      const mk = MASK4[len]!;
      for (let j = 0; j < np; j++) {
        const h = hash4(v, len, addrs[pend[j]!]! & mk);
        const x = h & fm;
        hs[j] = h;
        ws[j] = ((filter[x >>> 5]! >>> (x & 31)) & 1) === 0 ? 0 : buckets[h & bm]!;
      }
      let left = 0;
      for (let j = 0; j < np; j++) {
        const i = pend[j]!;
        const w = ws[j]!;
        const f = hs[j]! | FP_ONE;
        const r = ((((((w ^ f) >>> 25) - 1) >> 31) | (w & MORE)) !== 0) ? this.chain(w, f, v, len, addrs[i]! & mk) : 0;
        if (r !== 0) out[i] = r;
        else pend[left++] = i;
      }
      np = left;
      if (len < 32) m ^= 1 << len;
      len = m !== 0 ? 31 - Math.clz32(m) : -1;
    }
  }

  /** One hash probe: the route of (v, len, p) or 0. */
  private probe(v: number, len: number, p: number): number {
    const h = hash4(v, len, p);
    const x = h & this.filterMask;
    if (((this.filter[x >>> 5]! >>> (x & 31)) & 1) === 0) return 0;
    return this.chain(this.buckets[h & this.bucketMask]!, h | FP_ONE, v, len, p);
  }

  /**
   * Walks a chain from word w for the key (v, len, p) whose hash, with FP_ONE set, is f. The loop
   * condition is one branch, rarely taken: a fingerprint match or a chain of two or more; a
   * mispredicted branch per probe (empty or not, 40/60) cost more than the probe (measured: 32 vs
   * 25 ns per 4-probe lookup at 1k routes).
   */
  private chain(w: number, f: number, v: number, len: number, p: number): number {
    const keys = this.keys;
    while ((((((w ^ f) >>> 25) - 1) >> 31) | (w & MORE)) !== 0) {
      const kb = (w & IDX_MASK) << KS;
      if (((w ^ f) >>> 25) === 0 && keys[kb + K_PREFIX] === p && keys[kb + K_LEN] === len && keys[kb + K_VNI] === v) {
        return w & IDX_MASK;
      }
      if ((w & MORE) === 0) return 0;
      w = keys[kb + K_NEXT]!;
    }
    return 0;
  }

  /** The prefix of route r (uint32, host bits zero). */
  prefix(r: number): number {
    return this.keys[(r << KS) + K_PREFIX]! >>> 0;
  }

  // ---- writer (supervisor) ----

  /**
   * Adds prefix/len (host bits ignored, as rte_rib does) to `vni`: `target` is the caller's small
   * integer, `nhVni` and `nh` (16 bytes) the nexthop. Returns the route index (>= 1) or a negative
   * LpmError; on error nothing changed.
   */
  insert(vni: number, prefix: number, len: number, target: number, nhVni: number, nh: Uint8Array): number {
    if (!validVni(vni)) return LpmError.BAD_VNI;
    if (!Number.isInteger(len) || len < 0 || len > 32) return LpmError.BAD_LENGTH;
    const v = vni | 0;
    const p = prefix & MASK4[len]!;
    if (this.probe(v, len, p) !== 0) return LpmError.EXISTS;
    const d = this.admit(vni);
    if (d < 0) return d;
    const r = this.takeRecord();
    const kb = r << KS;
    this.keys[kb + K_VNI] = v;
    this.keys[kb + K_LEN] = len;
    this.keys[kb + K_PREFIX] = p;
    const fb = r << F_SHIFT;
    this.fields[fb + F_TARGET] = target | 0;
    this.fields[fb + F_NH_VNI] = nhVni | 0;
    const at = (fb + F_NH) << 2;
    for (let i = 0; i < 16; i++) this.fieldBytes[at + i] = nh[i] ?? 0;
    this.publish(r, hash4(v, len, p), d, vni, len);
    return r;
  }

  /** Removes prefix/len (host bits ignored) from `vni`; returns the index it had or NOT_FOUND. */
  delete(vni: number, prefix: number, len: number): number {
    if (!validVni(vni)) return LpmError.NOT_FOUND;
    if (!Number.isInteger(len) || len < 0 || len > 32) return LpmError.NOT_FOUND;
    const v = vni | 0;
    const p = prefix & MASK4[len]!;
    const r = this.probe(v, len, p);
    if (r === 0) return LpmError.NOT_FOUND;
    this.remove(r, hash4(v, len, p), findVni(this.dir, this.dirMask, vni));
    return r;
  }

  /** Route indices of `vni` in upstream's ListRoutes order (allocates). */
  list(vni: number): Int32Array {
    const idx = this.collect(vni);
    const n = idx.length;
    // sort key: the last address (/0 first), then the longer prefix first
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const r = idx[i]!;
      const len = this.length(r);
      keys[i] = len === 0 ? -1 : ((this.prefix(r) | ~MASK4[len]!) >>> 0) * 64 + (63 - len);
    }
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((x, y) => keys[x]! - keys[y]!);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = idx[order[i]!]!;
    return out;
  }

  protected hashOf(r: number): number {
    const kb = r << KS;
    return hash4(this.keys[kb + K_VNI]!, this.keys[kb + K_LEN]!, this.keys[kb + K_PREFIX]!);
  }
}
