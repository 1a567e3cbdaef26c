/**
 * The order in which upstream lists a hash table, reproduced for tables whose keys are two 32-bit
 * words (e.g. the SNAT table keyed by {interface IPv4, VNI}, which ListLocalNats walks).
 *
 * Upstream lists such tables with rte_hash_iterate(): bucket by bucket, and inside a bucket by
 * slot. A key's bucket is its hash (rte_jhash_2words with dpservice's seed) masked to the bucket
 * count; a new key takes the lowest free slot of its bucket. The bucket count follows from the
 * capacity dpservice asks for (plus its 20% margin, rounded up to a power of two, 8 slots per
 * bucket). Clients see that order (upstream's test suite asserts it), so a drop-in must list in
 * it too. Keys that find their bucket full (cuckoo displacement upstream) are listed last; with
 * upstream's table sizes that does not happen at realistic fill levels.
 *
 * Control path only (allocates).
 */

/** dpservice's seed for every jhash table (`hash_func_init_val`). */
export const DP_JHASH_SEED = 0xfee1900d;
const JHASH_GOLDEN_RATIO = 0xdeadbeef;
const BUCKET_SLOTS = 8;

function rot(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** DPDK's rte_jhash_2words (Bob Jenkins' lookup3 final mix over three words). */
export function jhash2Words(w0: number, w1: number, seed: number): number {
  const init = (JHASH_GOLDEN_RATIO + seed) >>> 0;
  let a = (w0 + 8 + init) >>> 0;
  let b = (w1 + 8 + init) >>> 0;
  let c = (8 + init) >>> 0;
  c = ((c ^ b) - rot(b, 14)) >>> 0;
  a = ((a ^ c) - rot(c, 11)) >>> 0;
  b = ((b ^ a) - rot(a, 25)) >>> 0;
  c = ((c ^ b) - rot(b, 16)) >>> 0;
  a = ((a ^ c) - rot(c, 4)) >>> 0;
  b = ((b ^ a) - rot(a, 14)) >>> 0;
  c = ((c ^ b) - rot(b, 24)) >>> 0;
  return c;
}

/** rte_align32pow2. */
function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Number of buckets of a dpservice jhash table created for `capacity` entries. */
export function dpJhashBuckets(capacity: number): number {
  const entries = Math.floor(capacity * 1.2);  // DP_JHASH_MARGIN_COEF
  return Math.max(1, pow2AtLeast(entries) / BUCKET_SLOTS);
}

/** Tracks where items sit in an emulated rte_hash so they can be listed in its iteration order. */
export class RteHashOrder<T> {
  private readonly mask: number;
  private readonly buckets = new Map<number, Array<T | undefined>>();
  private readonly overflow: T[] = [];

  constructor(capacity: number, private readonly seed = DP_JHASH_SEED) {
    this.mask = dpJhashBuckets(capacity) - 1;
  }

  /** The bucket a two-word key lands in. */
  bucketOf(w0: number, w1: number): number {
    return jhash2Words(w0 >>> 0, w1 >>> 0, this.seed) & this.mask;
  }

  /** Adds an item under its key (the key's two words as the C struct holds them). */
  insert(item: T, w0: number, w1: number): void {
    const b = this.bucketOf(w0, w1);
    let slots = this.buckets.get(b);
    if (slots === undefined) {
      slots = new Array<T | undefined>(BUCKET_SLOTS).fill(undefined);
      this.buckets.set(b, slots);
    }
    const free = slots.indexOf(undefined);
    if (free >= 0) slots[free] = item;
    else this.overflow.push(item);
  }

  /** Removes an item (by identity); false if it was not there. */
  remove(item: T): boolean {
    for (const [b, slots] of this.buckets) {
      const i = slots.indexOf(item);
      if (i < 0) continue;
      slots[i] = undefined;
      if (slots.every((s) => s === undefined)) this.buckets.delete(b);
      return true;
    }
    const i = this.overflow.indexOf(item);
    if (i < 0) return false;
    this.overflow.splice(i, 1);
    return true;
  }

  /** Every item in iteration order. */
  ordered(): T[] {
    const out: T[] = [];
    for (const b of [...this.buckets.keys()].sort((x, y) => x - y)) {
      for (const item of this.buckets.get(b)!) if (item !== undefined) out.push(item);
    }
    return out.concat(this.overflow);
  }

  get size(): number {
    let n = this.overflow.length;
    for (const slots of this.buckets.values()) for (const s of slots) if (s !== undefined) n++;
    return n;
  }
}
