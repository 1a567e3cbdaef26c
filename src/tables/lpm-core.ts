/**
 * What the IPv4 and IPv6 route tables (`lpm.ts`, `lpm6.ts`) share: the buffer layout, the VNI
 * directory, the route keys and fields, the hash chains, the per-VNI route lists and the free queue.
 * The algorithm, the publication protocol and the measurements are described in `lpm.ts`.
 *
 * One SharedArrayBuffer, 64-byte aligned regions:
 *
 *   header      64 Int32 words: sizes, counts, free-queue state
 *   buckets     B Int32 chain heads, B = 2^k >= 2 * maxRoutes (load factor <= 0.5)
 *   filter      4 * B bits: bit (hash mod 4B) is set while a key with that hash residue exists. A
 *               probe whose bit is clear (about 7 in 8 of those that find nothing) skips the bucket:
 *               the filter (1 byte per route) stays in cache when the buckets (8 bytes) do not
 *   keys        R + 1 route keys: what a lookup reads. 4 words for IPv4 (next, vni, length, prefix),
 *               8 for IPv6 (next, vni, length, 4 prefix words, spare). Index 0 is unused, so that 0
 *               means "none" in a chain word. R = maxRoutes + a reserve for records that wait out a
 *               grace period after a delete.
 *   fields      R + 1 route fields of 8 words (32 bytes): target, nexthop VNI, nexthop underlay
 *               address (bytes 16..31): what the caller reads after a lookup
 *   links       R + 1 pairs of words: the per-VNI route list (writer only)
 *   directory   D slots of 8 words, D = 2^k >= 2 * maxVnis: the VNI key, its route count, the head
 *               of its route list and its prefix-length bitmask
 *   lenCounts   D * (W + 1) words: routes per VNI and prefix length (writer only)
 *   free queue  2 * R words: record index and grace token, first in first out
 *
 * Keys and fields are apart so that what lookups touch stays small: 16 (IPv4) or 32 (IPv6) bytes
 * per route plus 8 of buckets, a quarter of what one 64-byte record per route would be.
 */
import type { GracePeriod } from './qsbr.js';

/**
 * Result codes of the writer operations. Successful operations return a route index (>= 1) or a
 * count (>= 0); failures return one of these negative numbers and leave the table as it was.
 * At the gRPC boundary EXISTS is ROUTE_EXISTS (301), NOT_FOUND is ROUTE_NOT_FOUND (302), and the
 * others are ROUTE_INSERT (303), which is what upstream answers when rte_rib_insert fails.
 */
export const LpmError = {
  /** insert: the (VNI, prefix, length) is already there (after masking the host bits) */
  EXISTS: -1,
  /** delete: no such (VNI, prefix, length) */
  NOT_FOUND: -2,
  /** insert: the table holds `maxRoutes` routes */
  FULL: -3,
  /** insert: the VNI holds `maxRoutesPerVni` routes */
  VNI_LIMIT: -4,
  /** insert: `maxVnis` VNIs have routes already (or no directory slot near the VNI's hash) */
  VNI_FULL: -5,
  /** insert: every spare record still waits for the readers' grace period; retry after a batch */
  PENDING: -6,
  /** prefix length beyond 32 (IPv4) or 128 (IPv6), or not an integer */
  BAD_LENGTH: -7,
  /** VNI not an integer in 0..0xfffffffe */
  BAD_VNI: -8,
} as const;

export type LpmErrorCode = (typeof LpmError)[keyof typeof LpmError];

/** Symbolic name of a result code, for log lines and error messages. */
export function lpmErrorName(code: number): string {
  for (const [name, value] of Object.entries(LpmError)) if (value === code) return name;
  return code >= 0 ? 'OK' : `LPM_${code}`;
}

/** Sizing of a route table. */
export interface LpmConfig {
  /** Routes over all VNIs (at most 15,000,000). */
  maxRoutes: number;
  /** Routes in one VNI (at most maxRoutes). */
  maxRoutesPerVni: number;
  /** VNIs that have routes at the same time. */
  maxVnis: number;
}

/** Defaults: 256Ki routes in all, 128Ki in one VNI, 1024 VNIs (upstream: 1024 per VNI, 512 VNIs). */
export const LPM_DEFAULTS: Readonly<LpmConfig> = { maxRoutes: 262144, maxRoutesPerVni: 131072, maxVnis: 1024 };

// ---- chain words: a route index plus hints about its key, written with one Atomics.store ----
/** Route index (1..2^24-1), 0 = end of chain. */
export const IDX_MASK = 0x00ffffff;
/** The route pointed to has a successor: without it a reader stops without reading the key. */
export const MORE = 0x01000000;
/**
 * The key's fingerprint: the top 7 bits of its hash with the lowest of them forced to 1 (so 64
 * values), so that an empty word never matches. A reader compares the key only when the
 * fingerprint matches: `((w ^ (h | FP_ONE)) >>> 25) === 0`.
 */
export const FP_MASK = 0xfe000000 | 0;
export const FP_ONE = 0x02000000;
const MAX_RECORDS = IDX_MASK;

// ---- keys: 4 (IPv4) or 8 (IPv6) Int32 words per route ----
/** Chain word of the next key in the bucket (changes when the successor is unlinked). */
export const K_NEXT = 0;
export const K_VNI = 1;
export const K_LEN = 2;
/** Prefix: 1 word (IPv4) or 4 words (IPv6, most significant first), host bits zero. */
export const K_PREFIX = 3;

// ---- fields: 8 Int32 words (32 bytes) per route ----
export const F_SHIFT = 3;
export const F_TARGET = 0;
export const F_NH_VNI = 1;
/** Nexthop underlay IPv6: 16 bytes from word 4 (byte 16 of the fields). */
export const F_NH = 4;

/**
 * The word in a table's `fields` where route r's nexthop underlay address starts (four words, its
 * bytes in order: read them little-endian for a byte copy).
 */
export function nexthopWord(r: number): number {
  return (r << F_SHIFT) + F_NH;
}

// ---- links: 2 words per route (writer only) ----
const L_VNEXT = 0;
const L_VPREV = 1;

// ---- directory slots: 8 words ----
export const DIR_SHIFT = 3;
/** vni + 1 (0 = never used). A slot keeps its key while its VNI has no routes, then may be re-keyed. */
export const D_KEY = 0;
const D_COUNT = 1;
const D_HEAD = 2;
/** Prefix-length bitmask: length L is bit (L & 31) of word D_MASK + (L >>> 5). */
export const D_MASK = 3;
/** A VNI lives within this many slots of its hash; lookups of unknown VNIs stop there. */
const DIR_PROBE = 32;

// ---- header words ----
const H_MAGIC = 0;
const H_WIDTH = 1;
const H_MAX_ROUTES = 2;
const H_MAX_PER_VNI = 3;
const H_MAX_VNIS = 4;
const H_RECORDS = 5;
const H_BUCKETS = 6;
const H_DIR = 7;
const H_LIVE = 8;
const H_ACTIVE_VNIS = 9;
const H_FRESH = 10;       // next never-used record (records are used fresh first, then FIFO)
const H_FREE_HEAD = 11;
const H_FREE_COUNT = 12;
const HEADER_WORDS = 64;
const MAGIC = 0x4c504d00; // "LPM\0"

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function align64(n: number): number {
  return Math.ceil(n / 64) * 64;
}

interface Layout {
  records: number;
  buckets: number;
  dir: number;
  oBuckets: number;
  oFilter: number;
  oKeys: number;
  oFields: number;
  oLinks: number;
  oDir: number;
  oLenCounts: number;
  oFreeIdx: number;
  oFreeTok: number;
  bytes: number;
}

/** log2 of the key words per route: 4 words for IPv4, 8 for IPv6. */
function keyShiftOf(width: number): number {
  return width === 32 ? 2 : 3;
}

function layoutOf(width: number, records: number, buckets: number, dir: number): Layout {
  const oBuckets = HEADER_WORDS * 4;
  const oFilter = align64(oBuckets + buckets * 4);
  const oKeys = align64(oFilter + buckets / 2);
  const oFields = align64(oKeys + ((records + 1) << keyShiftOf(width)) * 4);
  const oLinks = align64(oFields + ((records + 1) << F_SHIFT) * 4);
  const oDir = align64(oLinks + (records + 1) * 8);
  const oLenCounts = align64(oDir + dir * 32);
  const oFreeIdx = align64(oLenCounts + dir * (width + 1) * 4);
  const oFreeTok = align64(oFreeIdx + records * 4);
  return { records, buckets, dir, oBuckets, oFilter, oKeys, oFields, oLinks, oDir, oLenCounts, oFreeIdx, oFreeTok, bytes: align64(oFreeTok + records * 4) };
}

function sizing(width: number, cfg: Partial<LpmConfig>): { c: LpmConfig; l: Layout } {
  const c: LpmConfig = { ...LPM_DEFAULTS, ...cfg };
  if (cfg.maxRoutesPerVni === undefined) c.maxRoutesPerVni = Math.min(LPM_DEFAULTS.maxRoutesPerVni, c.maxRoutes);
  for (const [k, v] of Object.entries(c)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`route table ${k} ${v} must be a positive integer`);
  }
  if (c.maxRoutes > 15_000_000) throw new RangeError(`route table maxRoutes ${c.maxRoutes} above 15,000,000`);
  if (c.maxRoutesPerVni > c.maxRoutes) throw new RangeError(`route table maxRoutesPerVni ${c.maxRoutesPerVni} above maxRoutes ${c.maxRoutes}`);
  if (c.maxVnis > 1 << 20) throw new RangeError(`route table maxVnis ${c.maxVnis} above ${1 << 20}`);
  const records = Math.min(MAX_RECORDS, c.maxRoutes + Math.max(64, c.maxRoutes >>> 4));
  return { c, l: layoutOf(width, records, pow2AtLeast(Math.max(64, 2 * c.maxRoutes)), pow2AtLeast(Math.max(16, 2 * c.maxVnis))) };
}

/** Bytes of a table of prefix width `width` (32 or 128) and the given sizing. */
export function lpmByteSize(width: number, cfg: Partial<LpmConfig>): number {
  return sizing(width, cfg).l.bytes;
}

/** A new, empty table buffer. */
export function lpmCreateBuffer(width: number, cfg: Partial<LpmConfig>): SharedArrayBuffer {
  const { c, l } = sizing(width, cfg);
  const sab = new SharedArrayBuffer(l.bytes);
  const h = new Int32Array(sab, 0, HEADER_WORDS);
  h[H_WIDTH] = width;
  h[H_MAX_ROUTES] = c.maxRoutes;
  h[H_MAX_PER_VNI] = c.maxRoutesPerVni;
  h[H_MAX_VNIS] = c.maxVnis;
  h[H_RECORDS] = l.records;
  h[H_BUCKETS] = l.buckets;
  h[H_DIR] = l.dir;
  h[H_FRESH] = 1;
  Atomics.store(h, H_MAGIC, MAGIC | width);
  return sab;
}

/** murmur3's finalizer: a bijection of int32 that spreads every input bit over the output. */
export function fmix32(x: number): number {
  let h = x ^ (x >>> 16);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * The directory slot of `vni`, or -1. Reader-safe: keys are single words, a slot's key changes only
 * while its VNI has no routes (mask 0), and a probe never passes an unused slot.
 */
export function findVni(dir: Int32Array, dirMask: number, vni: number): number {
  const key = (vni + 1) | 0;
  let s = fmix32(vni | 0) & dirMask;
  for (let i = 0; i < DIR_PROBE; i++) {
    const k = dir[s << DIR_SHIFT]!;
    if (k === 0) return -1;
    if (k === key) return s;
    s = (s + 1) & dirMask;
  }
  return -1;
}

/** 2^32 - 1 would be key 0 (an unused slot): the one VNI the tables refuse. */
export function validVni(vni: number): boolean {
  return Number.isInteger(vni) && vni >= 0 && vni < 0xffffffff;
}

/**
 * The state and writer operations both families share. Subclasses add the key handling (hashing,
 * comparing, masking) and the hot `lookup`.
 */
export abstract class LpmCore {
  readonly header: Int32Array;
  readonly buckets: Int32Array;
  /** Occupancy bits by hash residue (see the layout above). */
  readonly filter: Int32Array;
  readonly filterMask: number;
  /** Route keys, 1 << keyShift words each. */
  readonly keys: Int32Array;
  readonly keyShift: number;
  /** Route fields, 8 words each. */
  readonly fields: Int32Array;
  /** The same as bytes: the nexthop underlay address is at `nexthopOffset(r)`. */
  readonly fieldBytes: Uint8Array;
  readonly dir: Int32Array;
  readonly bucketMask: number;
  readonly dirMask: number;
  /** Prefix width in bits: 32 or 128. */
  readonly width: number;
  private readonly links: Int32Array;
  private readonly lenCounts: Int32Array;
  private readonly freeIdx: Int32Array;
  private readonly freeTok: Int32Array;
  private readonly nRecords: number;
  private readonly maskWords: number;
  /**
   * Writer: deleted records wait for startGrace() before their grace period starts (false: it starts
   * at the delete). Set by a writer whose readers keep a route's index beyond a batch: a flow's
   * cached decision names the route that holds its outer destination (flow-table R_OWNER), valid
   * while the configuration generation it was made in is current; so a record may be reused only
   * after every reader has passed a quiescent point after the next generation bump, and the route
   * sync starts the grace period right after that bump. Set it before the first delete.
   */
  deferGrace = false;
  /** Records at the free queue's tail whose grace period has not started (deferGrace). */
  private held = 0;

  /**
   * Wraps an existing table buffer. Readers (workers) need nothing else; the writer passes the
   * grace period its readers report to (`Qsbr`), so that a deleted route's record is not reused
   * while a reader may still hold its index. Without one, records are reused first-in first-out
   * after every never-used record: safe as long as no reader holds an index across as many inserts
   * as there are spare records (the control path flushes workers after deletes anyway).
   */
  protected constructor(readonly sab: SharedArrayBuffer, width: number, private readonly grace: GracePeriod | null) {
    this.header = new Int32Array(sab, 0, HEADER_WORDS);
    if (Atomics.load(this.header, H_MAGIC) !== (MAGIC | width)) throw new TypeError(`not an IPv${width === 32 ? 4 : 6} route table buffer`);
    const l = layoutOf(width, this.header[H_RECORDS]!, this.header[H_BUCKETS]!, this.header[H_DIR]!);
    this.width = width;
    this.buckets = new Int32Array(sab, l.oBuckets, l.buckets);
    this.filter = new Int32Array(sab, l.oFilter, l.buckets / 8);
    this.filterMask = 4 * l.buckets - 1;
    this.keyShift = keyShiftOf(width);
    this.keys = new Int32Array(sab, l.oKeys, (l.records + 1) << this.keyShift);
    this.fields = new Int32Array(sab, l.oFields, (l.records + 1) << F_SHIFT);
    this.fieldBytes = new Uint8Array(sab, l.oFields, (l.records + 1) << (F_SHIFT + 2));
    this.links = new Int32Array(sab, l.oLinks, (l.records + 1) * 2);
    this.dir = new Int32Array(sab, l.oDir, l.dir << DIR_SHIFT);
    this.lenCounts = new Int32Array(sab, l.oLenCounts, l.dir * (width + 1));
    this.freeIdx = new Int32Array(sab, l.oFreeIdx, l.records);
    this.freeTok = new Int32Array(sab, l.oFreeTok, l.records);
    this.bucketMask = l.buckets - 1;
    this.dirMask = l.dir - 1;
    this.nRecords = l.records;
    this.maskWords = (width >>> 5) + 1;
  }

  // ---- sizes and counts (any thread; plain reads of single words) ----

  /** Routes the table may hold over all VNIs. */
  get capacity(): number {
    return this.header[H_MAX_ROUTES]!;
  }
  /** Routes one VNI may hold. */
  get vniCapacity(): number {
    return this.header[H_MAX_PER_VNI]!;
  }
  /** VNIs that may have routes at the same time. */
  get maxVnis(): number {
    return this.header[H_MAX_VNIS]!;
  }
  /** Routes in the table. */
  get size(): number {
    return this.header[H_LIVE]!;
  }
  /** VNIs with at least one route. */
  get vniCount(): number {
    return this.header[H_ACTIVE_VNIS]!;
  }
  /** Routes of `vni`. */
  count(vni: number): number {
    const d = findVni(this.dir, this.dirMask, vni);
    return d < 0 ? 0 : this.dir[(d << DIR_SHIFT) + D_COUNT]!;
  }

  // ---- route fields by index (any thread; allocation-free) ----

  vni(r: number): number {
    return this.keys[(r << this.keyShift) + K_VNI]! >>> 0;
  }
  length(r: number): number {
    return this.keys[(r << this.keyShift) + K_LEN]!;
  }
  /** The caller's small integer (a local port id, or -1 for a remote nexthop). */
  target(r: number): number {
    return this.fields[(r << F_SHIFT) + F_TARGET]!;
  }
  nexthopVni(r: number): number {
    return this.fields[(r << F_SHIFT) + F_NH_VNI]! >>> 0;
  }
  /** Offset in `fieldBytes` of the 16-byte nexthop underlay address (read it in place). */
  nexthopOffset(r: number): number {
    return nexthopWord(r) << 2;
  }
  /** Copies the nexthop underlay address to dst[off..off+16]. */
  copyNexthop(r: number, dst: Uint8Array, off: number): void {
    const b = this.fieldBytes;
    const at = nexthopWord(r) << 2;
    for (let i = 0; i < 16; i++) dst[off + i] = b[at + i]!;
  }

  // ---- VNIs (writer, control path) ----

  /** VNIs that have routes, ascending (allocates). */
  vnis(): number[] {
    const out: number[] = [];
    for (let s = 0; s <= this.dirMask; s++) {
      const base = s << DIR_SHIFT;
      if (this.dir[base + D_KEY] !== 0 && this.dir[base + D_COUNT]! > 0) out.push((this.dir[base + D_KEY]! - 1) >>> 0);
    }
    return out.sort((a, b) => a - b);
  }

  /**
   * Removes every route of `vni` (upstream's ResetVni of the route tables); returns how many.
   * Readers see the routes disappear one by one, each lookup answering from a state the table
   * passed through.
   */
  flushVni(vni: number): number {
    const d = findVni(this.dir, this.dirMask, vni);
    if (d < 0) return 0;
    const base = d << DIR_SHIFT;
    const n = this.dir[base + D_COUNT]!;
    if (n === 0) return 0;
    const links = this.links;
    for (let r = this.dir[base + D_HEAD]!; r !== 0; r = links[2 * r + L_VNEXT]!) this.unlinkChain(r, this.hashOf(r));
    // one grace period for all of them
    const token = this.graceToken();
    for (let r = this.dir[base + D_HEAD]!; r !== 0; r = links[2 * r + L_VNEXT]!) this.pushFree(r, token);
    for (let w = 0; w < this.maskWords; w++) Atomics.store(this.dir, base + D_MASK + w, 0);
    this.lenCounts.fill(0, d * (this.width + 1), (d + 1) * (this.width + 1));
    this.dir[base + D_HEAD] = 0;
    Atomics.store(this.dir, base + D_COUNT, 0);
    Atomics.store(this.header, H_LIVE, this.header[H_LIVE]! - n);
    Atomics.store(this.header, H_ACTIVE_VNIS, this.header[H_ACTIVE_VNIS]! - 1);
    return n;
  }

  /** Route indices of `vni` in list order (allocates; subclasses sort them). */
  protected collect(vni: number): Int32Array {
    const d = findVni(this.dir, this.dirMask, vni);
    if (d < 0) return new Int32Array(0);
    const base = d << DIR_SHIFT;
    const out = new Int32Array(this.dir[base + D_COUNT]!);
    let i = 0;
    for (let r = this.dir[base + D_HEAD]!; r !== 0; r = this.links[2 * r + L_VNEXT]!) out[i++] = r;
    return out;
  }

  // ---- writer steps, in the order insert and delete use them ----

  /** The hash of record r's key (what insert used). */
  protected abstract hashOf(r: number): number;

  /**
   * Checks everything an insert into `vni` needs (directory slot, limits, a record) without
   * changing anything; returns the directory slot to use or a negative LpmError.
   */
  protected admit(vni: number): number {
    const key = (vni + 1) | 0;
    let s = fmix32(vni | 0) & this.dirMask;
    let slot = -1;
    for (let i = 0; i < DIR_PROBE; i++) {
      const k = this.dir[s << DIR_SHIFT]!;
      if (k === key) {
        slot = s;
        break;
      }
      // a slot whose VNI has no routes may take another VNI; an unused slot ends the probe
      if (slot < 0 && (k === 0 || this.dir[(s << DIR_SHIFT) + D_COUNT] === 0)) slot = s;
      if (k === 0) break;
      s = (s + 1) & this.dirMask;
    }
    if (slot < 0) return LpmError.VNI_FULL;
    const n = this.dir[(slot << DIR_SHIFT) + D_COUNT]!;
    if (this.header[H_LIVE]! >= this.header[H_MAX_ROUTES]!) return LpmError.FULL;
    if (n >= this.header[H_MAX_PER_VNI]!) return LpmError.VNI_LIMIT;
    if (n === 0 && this.header[H_ACTIVE_VNIS]! >= this.header[H_MAX_VNIS]!) return LpmError.VNI_FULL;
    if (this.header[H_FRESH]! > this.nRecords) {
      const c = this.header[H_FREE_COUNT]!;
      if (c === 0) return LpmError.FULL;
      if (c === this.held) return LpmError.PENDING;
      if (this.grace !== null && !this.grace.check(this.freeTok[this.header[H_FREE_HEAD]!]!)) return LpmError.PENDING;
    }
    return slot;
  }

  /** Takes a record admit() found available: never-used ones first, then the oldest freed one. */
  protected takeRecord(): number {
    const h = this.header;
    const fresh = h[H_FRESH]!;
    if (fresh <= this.nRecords) {
      h[H_FRESH] = fresh + 1;
      return fresh;
    }
    const head = h[H_FREE_HEAD]!;
    const r = this.freeIdx[head]!;
    h[H_FREE_HEAD] = head + 1 === this.nRecords ? 0 : head + 1;
    h[H_FREE_COUNT] = h[H_FREE_COUNT]! - 1;
    return r;
  }

  /**
   * Publishes route r (key and fields written) at the head of its bucket's chain, then accounts
   * for it in directory slot d. The Atomics.store of the chain word is the publication: everything
   * written to the route before it is visible to a reader that reaches the route through it.
   */
  protected publish(r: number, h: number, d: number, vni: number, len: number): void {
    const kb = r << this.keyShift;
    const b = h & this.bucketMask;
    const head = this.buckets[b]!;
    this.keys[kb + K_NEXT] = head;
    Atomics.store(this.buckets, b, ((h | FP_ONE) & FP_MASK) | (head !== 0 ? MORE : 0) | r);
    // the filter bit after the chain word: a reader that sees the bit finds the route
    const x = h & this.filterMask;
    Atomics.store(this.filter, x >>> 5, this.filter[x >>> 5]! | (1 << (x & 31)));

    const base = d << DIR_SHIFT;
    const key = (vni + 1) | 0;
    if (this.dir[base + D_KEY] !== key) {
      // an unused slot, or one whose VNI has no routes left (mask 0): readers of the old VNI find
      // nothing here either way
      Atomics.store(this.dir, base + D_KEY, key);
    }
    const n = this.dir[base + D_COUNT]!;
    if (n === 0) Atomics.store(this.header, H_ACTIVE_VNIS, this.header[H_ACTIVE_VNIS]! + 1);
    Atomics.store(this.dir, base + D_COUNT, n + 1);
    Atomics.store(this.header, H_LIVE, this.header[H_LIVE]! + 1);
    // per-VNI list, at the head
    const links = this.links;
    const first = this.dir[base + D_HEAD]!;
    links[2 * r + L_VNEXT] = first;
    links[2 * r + L_VPREV] = 0;
    if (first !== 0) links[2 * first + L_VPREV] = r;
    this.dir[base + D_HEAD] = r;
    // the length bit goes on after the route is reachable: a reader that sees the bit finds it
    const lc = d * (this.width + 1) + len;
    const c = this.lenCounts[lc]!;
    this.lenCounts[lc] = c + 1;
    if (c === 0) {
      const mw = base + D_MASK + (len >>> 5);
      Atomics.store(this.dir, mw, this.dir[mw]! | (1 << (len & 31)));
    }
  }

  /**
   * Removes route r (found in slot d of the directory) from the table; its key and fields stay as
   * they are until the index is reused after a grace period, so a reader that already reached it
   * answers with the route it was (the old answer).
   */
  protected remove(r: number, h: number, d: number): void {
    const len = this.keys[(r << this.keyShift) + K_LEN]!;
    this.unlinkChain(r, h);
    const base = d << DIR_SHIFT;
    const lc = d * (this.width + 1) + len;
    const c = this.lenCounts[lc]! - 1;
    this.lenCounts[lc] = c;
    if (c === 0) {
      const mw = base + D_MASK + (len >>> 5);
      Atomics.store(this.dir, mw, this.dir[mw]! & ~(1 << (len & 31)));
    }
    const links = this.links;
    const next = links[2 * r + L_VNEXT]!;
    const prev = links[2 * r + L_VPREV]!;
    if (prev === 0) this.dir[base + D_HEAD] = next;
    else links[2 * prev + L_VNEXT] = next;
    if (next !== 0) links[2 * next + L_VPREV] = prev;
    const n = this.dir[base + D_COUNT]! - 1;
    Atomics.store(this.dir, base + D_COUNT, n);
    if (n === 0) Atomics.store(this.header, H_ACTIVE_VNIS, this.header[H_ACTIVE_VNIS]! - 1);
    Atomics.store(this.header, H_LIVE, this.header[H_LIVE]! - 1);
    this.pushFree(r, this.graceToken());
  }

  /**
   * Starts the grace period of the records deleted since the last call (deferGrace): the writer
   * calls it after the change that deleted them is visible to every reader (the generation bump).
   */
  startGrace(): void {
    if (this.held === 0) return;
    const token = this.startToken();
    const h = this.header;
    let at = h[H_FREE_HEAD]! + h[H_FREE_COUNT]! - this.held;
    if (at >= this.nRecords) at -= this.nRecords;
    for (let i = 0; i < this.held; i++) {
      this.freeTok[at] = token;
      if (++at === this.nRecords) at = 0;
    }
    this.held = 0;
  }

  /** The grace token of a record deleted now: started now, or held for startGrace (deferGrace). */
  private graceToken(): number {
    return this.deferGrace ? 0 : this.startToken();
  }

  /** Starts a grace period now: its token (0 without readers to wait for). */
  private startToken(): number {
    return this.grace === null ? 0 : this.grace.start();
  }

  /**
   * Unlinks r from its chain with one Atomics.store to the word that pointed to it. r keeps its own
   * chain word, so a reader standing on r still walks on to the rest of the chain.
   */
  private unlinkChain(r: number, h: number): void {
    const keys = this.keys;
    const ks = this.keyShift;
    const b = h & this.bucketMask;
    const succ = keys[(r << ks) + K_NEXT]!;
    const first = this.buckets[b]!;
    if ((first & IDX_MASK) === r) {
      Atomics.store(this.buckets, b, succ);
      this.dropFilterBit(h);
      return;
    }
    // find the predecessor, and the word that points to it (its MORE bit may need clearing)
    let ptrArr = this.buckets;
    let ptrAt = b;
    let pred = first & IDX_MASK;
    for (;;) {
      const w = keys[(pred << ks) + K_NEXT]!;
      if ((w & IDX_MASK) === r) break;
      ptrArr = keys;
      ptrAt = (pred << ks) + K_NEXT;
      pred = w & IDX_MASK;
    }
    Atomics.store(keys, (pred << ks) + K_NEXT, succ);
    // pred is now last: readers may stop at it (a stale MORE only costs them one key read)
    if (succ === 0) Atomics.store(ptrArr, ptrAt, ptrArr[ptrAt]! & ~MORE);
    this.dropFilterBit(h);
  }

  /**
   * Clears the filter bit of hash h (after its key was unlinked) unless a key left in the bucket
   * has the same residue: those keys all live in that bucket, as the bucket index is the low bits
   * of the residue.
   */
  private dropFilterBit(h: number): void {
    const x = h & this.filterMask;
    for (let w = this.buckets[h & this.bucketMask]!; w !== 0; w = this.keys[((w & IDX_MASK) << this.keyShift) + K_NEXT]!) {
      if ((this.hashOf(w & IDX_MASK) & this.filterMask) === x) return;
    }
    Atomics.store(this.filter, x >>> 5, this.filter[x >>> 5]! & ~(1 << (x & 31)));
  }

  private pushFree(r: number, token: number): void {
    const h = this.header;
    const c = h[H_FREE_COUNT]!;
    let at = h[H_FREE_HEAD]! + c;
    if (at >= this.nRecords) at -= this.nRecords;
    this.freeIdx[at] = r;
    this.freeTok[at] = token;
    h[H_FREE_COUNT] = c + 1;
    if (this.deferGrace) this.held++;
  }
}
