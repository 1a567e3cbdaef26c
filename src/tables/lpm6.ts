/**
 * Per-VNI longest-prefix-match table for IPv6, read lock-free by the workers. Same algorithm,
 * layout and publication protocol as the IPv4 table (described in `lpm.ts`): a hash over
 * (VNI, length, prefix) with a per-VNI bitmask of the 129 lengths, probed longest first. A prefix
 * is four big-endian Int32 words in the key; lookups read the address from the packet bytes.
 */
import { D_MASK, DIR_SHIFT, F_NH, F_NH_VNI, F_SHIFT, F_TARGET, findVni, fmix32, FP_ONE, IDX_MASK, K_LEN,
  K_NEXT, K_PREFIX, K_VNI, LpmCore, type LpmConfig, LpmError, lpmByteSize, lpmCreateBuffer, MORE,
  validVni } from './lpm-core.js';
import type { GracePeriod } from './qsbr.js';

export { LpmError, lpmErrorName, LPM_DEFAULTS, type LpmConfig, type LpmErrorCode } from './lpm-core.js';

/** Lookups per group in `lookupBulk`. */
const BULK = 64;
/** log2 of the key words per IPv6 route. */
const KS = 3;

/** Network masks by prefix length, four words each: MASK6[len * 4 + word] (len 0..128). */
export const MASK6 = new Int32Array(129 * 4);
for (let len = 0; len <= 128; len++) {
  for (let w = 0; w < 4; w++) {
    const bits = Math.min(32, Math.max(0, len - 32 * w));
    MASK6[len * 4 + w] = bits === 0 ? 0 : (-1 << (32 - bits)) | 0;
  }
}

/**
 * Hash of an IPv6 key; the words have their host bits cleared. Each word is multiplied by its own
 * odd constant (a bijection of the word), the products folded with xor, then fmix32: 4 multiplies
 * and a finalizer, a third of murmur3's per-word rounds, and the per-length loop calls it a lot.
 */
export function hash6(vni: number, len: number, p0: number, p1: number, p2: number, p3: number): number {
  return fmix32(Math.imul(vni, 0x9e3779b1) ^ Math.imul(len + 1, 0x7feb352d) ^ Math.imul(p0, 0x85ebca77)
    ^ Math.imul(p1, 0xc2b2ae3d) ^ Math.imul(p2, 0x27d4eb2f) ^ Math.imul(p3, 0x165667b1));
}

/** Big-endian 32-bit word of b at off. */
function word(b: Uint8Array, off: number): number {
  return (b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!;
}

export class Lpm6Table extends LpmCore {
  static byteSize(cfg: Partial<LpmConfig>): number {
    return lpmByteSize(128, cfg);
  }

  /** A new empty table (writer). `grace`: see LpmCore's constructor. */
  static create(cfg: Partial<LpmConfig> = {}, grace: GracePeriod | null = null): Lpm6Table {
    return new Lpm6Table(lpmCreateBuffer(128, cfg), grace);
  }

  /** lookupBulk goes by groups from this many routes on (see Lpm4Table). Tests set it to 0. */
  bulkMinRoutes = 200000;

  // lookupBulk's scratch: pending lookups, their hashes, bucket words and addresses
  private readonly sPend = new Int32Array(BULK);
  private readonly sHash = new Int32Array(BULK);
  private readonly sWord = new Int32Array(BULK);
  private readonly sAddr = new Int32Array(BULK * 4);

  /** Wraps the buffer of an existing table (workers pass no grace period). */
  constructor(sab: SharedArrayBuffer, grace: GracePeriod | null = null) {
    super(sab, 128, grace);
  }

  /**
   * The route with the longest prefix of `vni` that contains the address at pkt[off..off+16], or
   * -1. The hot path: no allocation, no Atomics, no throw.
   */
  lookup(vni: number, pkt: Uint8Array, off: number): number {
    const dir = this.dir;
    const d = findVni(dir, this.dirMask, vni);
    if (d < 0) return -1;
    const base = (d << DIR_SHIFT) + D_MASK;
    const v = vni | 0;
    const a0 = word(pkt, off);
    const a1 = word(pkt, off + 4);
    const a2 = word(pkt, off + 8);
    const a3 = word(pkt, off + 12);
    let r = 0;
    if (dir[base + 4] !== 0) {
      r = this.probe(v, 128, a0, a1, a2, a3);
      if (r !== 0) return r;
    }
    for (let j = 3; j >= 0; j--) {
      let m = dir[base + j]!;
      while (m !== 0) {
        const bit = 31 - Math.clz32(m);
        m ^= 1 << bit;
        const len = (j << 5) + bit;
        const mi = len << 2;
        r = this.probe(v, len, a0 & MASK6[mi]!, a1 & MASK6[mi + 1]!, a2 & MASK6[mi + 2]!, a3 & MASK6[mi + 3]!);
        if (r !== 0) return r;
      }
    }
    return -1;
  }

  /** The route of exactly (vni, prefix/len) (prefix: 16 bytes, host bits ignored), or -1. */
  find(vni: number, prefix: Uint8Array, len: number): number {
    if (!validVni(vni) || !Number.isInteger(len) || len < 0 || len > 128) return -1;
    const mi = len << 2;
    const r = this.probe(vni | 0, len, word(prefix, 0) & MASK6[mi]!, word(prefix, 4) & MASK6[mi + 1]!,
      word(prefix, 8) & MASK6[mi + 2]!, word(prefix, 12) & MASK6[mi + 3]!);
    return r === 0 ? -1 : r;
  }

  /**
   * Looks up n addresses of one VNI, the i-th at pkt[offs[i]..+16]: out[i] = lookup(vni, pkt,
   * offs[i]). Same answers as `lookup`; faster for big tables (see Lpm4Table.lookupBulk).
   */
  lookupBulk(vni: number, pkt: Uint8Array, offs: Int32Array, out: Int32Array, n: number): void {
    if (this.size < this.bulkMinRoutes) {
      for (let i = 0; i < n; i++) out[i] = this.lookup(vni, pkt, offs[i]!);
      return;
    }
    for (let from = 0; from < n; from += BULK) this.bulkGroup(vni, pkt, offs, out, from, from + BULK < n ? from + BULK : n);
  }

  private bulkGroup(vni: number, pkt: Uint8Array, offs: Int32Array, out: Int32Array, from: number, to: number): void {
    for (let i = from; i < to; i++) out[i] = -1;
    const dir = this.dir;
    const d = findVni(dir, this.dirMask, vni);
    if (d < 0) return;
    const base = (d << DIR_SHIFT) + D_MASK;
    const v = vni | 0;
    const pend = this.sPend;
    const hs = this.sHash;
    const ws = this.sWord;
    const as = this.sAddr;
    const buckets = this.buckets;
    const bm = this.bucketMask;
    const filter = this.filter;
    const fm = this.filterMask;
    let np = 0;
    for (let i = from; i < to; i++) {
      const o = offs[i]!;
      const k = (i - from) << 2;
      as[k] = word(pkt, o);
      as[k + 1] = word(pkt, o + 4);
      as[k + 2] = word(pkt, o + 8);
      as[k + 3] = word(pkt, o + 12);
      pend[np++] = i;
    }
    let j4 = 5; // mask words 4 (length 128) down to 0
    let m = 0;
    let len = -1;
    for (;;) {
      // next length in use, longest first
      while (m === 0 && j4 > 0) m = dir[base + --j4]!;
      if (m === 0 || np === 0) return;
      const bit = 31 - Math.clz32(m);
      m ^= 1 << bit;
      len = (j4 << 5) + bit;
      const mi = len << 2;
      const m0 = MASK6[mi]!;
      const m1 = MASK6[mi + 1]!;
      const m2 = MASK6[mi + 2]!;
      const m3 = MASK6[mi + 3]!;
      for (let j = 0; j < np; j++) {
        const k = (pend[j]! - from) << 2;
        const h = hash6(v, len, as[k]! & m0, as[k + 1]! & m1, as[k + 2]! & m2, as[k + 3]! & m3);
        const x = h & fm;
        hs[j] = h;
        ws[j] = ((filter[x >>> 5]! >>> (x & 31)) & 1) === 0 ? 0 : buckets[h & bm]!;
      }
      let left = 0;
      for (let j = 0; j < np; j++) {
        const i = pend[j]!;
        const w = ws[j]!;
        const f = hs[j]! | FP_ONE;
        let r = 0;
        if ((((((w ^ f) >>> 25) - 1) >> 31) | (w & MORE)) !== 0) {
          const k = (i - from) << 2;
          r = this.chain(w, f, v, len, as[k]! & m0, as[k + 1]! & m1, as[k + 2]! & m2, as[k + 3]! & m3);
        }
        if (r !== 0) out[i] = r;
        else pend[left++] = i;
      }
      np = left;
    }
  }

  /** One hash probe: the record of (v, len, p0..p3) or 0. */
  private probe(v: number, len: number, p0: number, p1: number, p2: number, p3: number): number {
    const h = hash6(v, len, p0, p1, p2, p3);
    const x = h & this.filterMask;
    if (((this.filter[x >>> 5]! >>> (x & 31)) & 1) === 0) return 0;
    return this.chain(this.buckets[h & this.bucketMask]!, h | FP_ONE, v, len, p0, p1, p2, p3);
  }

  /** Walks a chain from word w for a key whose hash, with FP_ONE set, is f (see Lpm4Table). */
  private chain(w: number, f: number, v: number, len: number, p0: number, p1: number, p2: number, p3: number): number {
    const keys = this.keys;
    while ((((((w ^ f) >>> 25) - 1) >> 31) | (w & MORE)) !== 0) {
      const kb = (w & IDX_MASK) << KS;
      if (((w ^ f) >>> 25) === 0 && keys[kb + K_PREFIX + 3] === p3 && keys[kb + K_PREFIX + 2] === p2
        && keys[kb + K_PREFIX + 1] === p1 && keys[kb + K_PREFIX] === p0 && keys[kb + K_LEN] === len && keys[kb + K_VNI] === v) {
        return w & IDX_MASK;
      }
      if ((w & MORE) === 0) return 0;
      w = keys[kb + K_NEXT]!;
    }
    return 0;
  }

  /** Copies the prefix of route r (host bits zero) to dst[off..off+16]. */
  copyPrefix(r: number, dst: Uint8Array, off: number): void {
    const kb = (r << KS) + K_PREFIX;
    for (let w = 0; w < 4; w++) {
      const x = this.keys[kb + w]!;
      dst[off + 4 * w] = x >>> 24;
      dst[off + 4 * w + 1] = (x >>> 16) & 0xff;
      dst[off + 4 * w + 2] = (x >>> 8) & 0xff;
      dst[off + 4 * w + 3] = x & 0xff;
    }
  }

  // ---- writer (supervisor) ----

  /**
   * Adds prefix/len (16 bytes, host bits ignored) to `vni`: `target` is the caller's small integer,
   * `nhVni` and `nh` (16 bytes) the nexthop. Returns the route index (>= 1) or a negative LpmError;
   * on error nothing changed.
   */
  insert(vni: number, prefix: Uint8Array, len: number, target: number, nhVni: number, nh: Uint8Array): number {
    if (!validVni(vni)) return LpmError.BAD_VNI;
    if (!Number.isInteger(len) || len < 0 || len > 128) return LpmError.BAD_LENGTH;
    const v = vni | 0;
    const mi = len << 2;
    const p0 = word(prefix, 0) & MASK6[mi]!;
    const p1 = word(prefix, 4) & MASK6[mi + 1]!;
    const p2 = word(prefix, 8) & MASK6[mi + 2]!;
    const p3 = word(prefix, 12) & MASK6[mi + 3]!;
    if (this.probe(v, len, p0, p1, p2, p3) !== 0) return LpmError.EXISTS;
    const d = this.admit(vni);
    if (d < 0) return d;
    const r = this.takeRecord();
    const kb = r << KS;
    const keys = this.keys;
    keys[kb + K_VNI] = v;
    keys[kb + K_LEN] = len;
    keys[kb + K_PREFIX] = p0;
    keys[kb + K_PREFIX + 1] = p1;
    keys[kb + K_PREFIX + 2] = p2;
    keys[kb + K_PREFIX + 3] = p3;
    const fb = r << F_SHIFT;
    this.fields[fb + F_TARGET] = target | 0;
    this.fields[fb + F_NH_VNI] = nhVni | 0;
    const at = (fb + F_NH) << 2;
    for (let i = 0; i < 16; i++) this.fieldBytes[at + i] = nh[i] ?? 0;
    this.publish(r, hash6(v, len, p0, p1, p2, p3), d, vni, len);
    return r;
  }

  /** Removes prefix/len (16 bytes, host bits ignored) from `vni`; returns its index or NOT_FOUND. */
  delete(vni: number, prefix: Uint8Array, len: number): number {
    const r = this.find(vni, prefix, len);
    if (r < 0) return LpmError.NOT_FOUND;
    this.remove(r, this.hashOf(r), findVni(this.dir, this.dirMask, vni));
    return r;
  }

  /** Route indices of `vni` in upstream's ListRoutes order (see lpm.ts; allocates). */
  list(vni: number): Int32Array {
    const idx = this.collect(vni);
    const n = idx.length;
    // last address of each prefix as 4 unsigned words, then the length
    const last = new Float64Array(n * 4);
    const lens = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const r = idx[i]!;
      const len = this.length(r);
      lens[i] = len;
      const kb = (r << KS) + K_PREFIX;
      for (let w = 0; w < 4; w++) last[i * 4 + w] = (this.keys[kb + w]! | ~MASK6[len * 4 + w]!) >>> 0;
    }
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((x, y) => {
      const lx = lens[x]!;
      const ly = lens[y]!;
      if (lx === 0 || ly === 0) return (lx === 0 ? 0 : 1) - (ly === 0 ? 0 : 1);
      for (let w = 0; w < 4; w++) {
        const c = last[x * 4 + w]! - last[y * 4 + w]!;
        if (c !== 0) return c;
      }
      return ly - lx;
    });
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = idx[order[i]!]!;
    return out;
  }

  protected hashOf(r: number): number {
    const kb = r << KS;
    const keys = this.keys;
    return hash6(keys[kb + K_VNI]!, keys[kb + K_LEN]!, keys[kb + K_PREFIX]!, keys[kb + K_PREFIX + 1]!,
      keys[kb + K_PREFIX + 2]!, keys[kb + K_PREFIX + 3]!);
  }
}
