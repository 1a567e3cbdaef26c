/**
 * The VNF table: underlay IPv6 address -> {type, VNI, port}, shared with the workers. The
 * supervisor is the only writer (it follows the registry's vnf-added/removed changes); workers look
 * up the outer destination of every tunnelled packet arriving on an uplink (ipip_decap).
 *
 * Open addressing with linear probing over SLOTS slots of WORDS Int32 words. A slot is free,
 * used or deleted (a tombstone a later insert reuses). Each slot has its own sequence word (odd
 * while the writer changes the slot); readers check it around their reads and retry, so they never
 * take fields of one address with the key of another.
 */
import { fmix32 } from './lpm-core.js';

const W_SEQ = 0;
const W_STATE = 1;
const W_ADDR = 2;   // 4 words
const W_TYPE = 6;
const W_VNI = 7;
const W_PORT = 8;
const WORDS = 12;
const H_COUNT = 0;
const HEADER = 4;

const FREE = 0;
const USED = 1;
const DELETED = 2;

export interface VnfValue { type: number; vni: number; port: number }

export class VnfTable {
  readonly w: Int32Array;
  readonly slots: number;
  /**
   * Addresses the table takes: half its slots, so that a lookup that misses (a tunnel to an
   * address this host does not serve) ends at a free slot after a few probes. The registry
   * refuses addresses beyond it (VNF_INSERT), as upstream does when its VNF hash is full.
   */
  readonly maxEntries: number;
  private readonly mask: number;
  /** Results of the last successful `lookup` (worker-local, no allocation). */
  type = 0;
  vni = 0;
  port = -1;

  static create(slots = 65536): VnfTable {
    if ((slots & (slots - 1)) !== 0) throw new RangeError('VNF table size must be a power of two');
    return new VnfTable(new SharedArrayBuffer((HEADER + slots * WORDS) * 4));
  }

  constructor(readonly sab: SharedArrayBuffer) {
    this.w = new Int32Array(sab);
    this.slots = (this.w.length - HEADER) / WORDS;
    this.mask = this.slots - 1;
    this.maxEntries = this.slots >>> 1;
  }

  get size(): number {
    return this.w[H_COUNT]!;
  }

  /**
   * The four words multiplied side by side, then one finalisation: three multiplies deep instead
   * of eight (a chain of fmix32), for a lookup on every tunnelled packet.
   */
  private static hashWords(a0: number, a1: number, a2: number, a3: number): number {
    return fmix32(Math.imul(a0, 0x9e3779b1) ^ Math.imul(a1, 0x85ebca6b) ^ Math.imul(a2, 0xc2b2ae35) ^ Math.imul(a3, 0x27d4eb2f));
  }

  /**
   * Looks up the 16-byte address at bytes[off..]; on a hit sets `type`, `vni`, `port` and returns
   * true.
   */
  lookup(dv: DataView, off: number): boolean {
    const a0 = dv.getInt32(off);
    const a1 = dv.getInt32(off + 4);
    const a2 = dv.getInt32(off + 8);
    const a3 = dv.getInt32(off + 12);
    const w = this.w;
    let i = VnfTable.hashWords(a0, a1, a2, a3) & this.mask;
    for (let n = 0; n < this.slots; n++) {
      const s = HEADER + i * WORDS;
      const seq = Atomics.load(w, s + W_SEQ);
      const state = w[s + W_STATE]!;
      if (state === FREE && (seq & 1) === 0) return false;
      if (state === USED && w[s + W_ADDR] === a0 && w[s + W_ADDR + 1] === a1 && w[s + W_ADDR + 2] === a2
        && w[s + W_ADDR + 3] === a3) {
        const type = w[s + W_TYPE]!;
        const vni = w[s + W_VNI]! >>> 0;
        const port = w[s + W_PORT]!;
        if ((seq & 1) === 0 && Atomics.load(w, s + W_SEQ) === seq) {
          this.type = type;
          this.vni = vni;
          this.port = port;
          return true;
        }
        continue; // changed under us: read the slot again
      }
      i = (i + 1) & this.mask;
    }
    return false;
  }

  /** Writer: adds or replaces the entry of `addr`. False when a new address finds the table full (maxEntries). */
  set(addr: Uint8Array, v: VnfValue): boolean {
    const dv = new DataView(addr.buffer, addr.byteOffset, 16);
    const a = [dv.getInt32(0), dv.getInt32(4), dv.getInt32(8), dv.getInt32(12)] as const;
    const w = this.w;
    let i = VnfTable.hashWords(a[0], a[1], a[2], a[3]) & this.mask;
    let reuse = -1;
    for (let n = 0; n < this.slots; n++) {
      const s = HEADER + i * WORDS;
      const state = w[s + W_STATE]!;
      if (state === USED && w[s + W_ADDR] === a[0] && w[s + W_ADDR + 1] === a[1] && w[s + W_ADDR + 2] === a[2]
        && w[s + W_ADDR + 3] === a[3]) {
        this.write(s, a, v, false);
        return true;
      }
      if (state === DELETED && reuse < 0) reuse = s;
      if (state === FREE) {
        if (w[H_COUNT]! >= this.maxEntries) return false;
        this.write(reuse >= 0 ? reuse : s, a, v, true);
        return true;
      }
      i = (i + 1) & this.mask;
    }
    if (reuse >= 0 && w[H_COUNT]! < this.maxEntries) {
      this.write(reuse, a, v, true);
      return true;
    }
    return false;
  }

  private write(s: number, a: readonly number[], v: VnfValue, fresh: boolean): void {
    const w = this.w;
    Atomics.add(w, s + W_SEQ, 1);
    for (let k = 0; k < 4; k++) w[s + W_ADDR + k] = a[k]!;
    w[s + W_TYPE] = v.type;
    w[s + W_VNI] = v.vni | 0;
    w[s + W_PORT] = v.port;
    w[s + W_STATE] = USED;
    Atomics.add(w, s + W_SEQ, 1);
    if (fresh) w[H_COUNT] = w[H_COUNT]! + 1;
  }

  /** Writer: removes the entry of `addr` if present. */
  delete(addr: Uint8Array): boolean {
    const dv = new DataView(addr.buffer, addr.byteOffset, 16);
    const a = [dv.getInt32(0), dv.getInt32(4), dv.getInt32(8), dv.getInt32(12)] as const;
    const w = this.w;
    let i = VnfTable.hashWords(a[0], a[1], a[2], a[3]) & this.mask;
    for (let n = 0; n < this.slots; n++) {
      const s = HEADER + i * WORDS;
      const state = w[s + W_STATE]!;
      if (state === FREE) return false;
      if (state === USED && w[s + W_ADDR] === a[0] && w[s + W_ADDR + 1] === a[1] && w[s + W_ADDR + 2] === a[2]
        && w[s + W_ADDR + 3] === a[3]) {
        Atomics.add(w, s + W_SEQ, 1);
        w[s + W_STATE] = DELETED;
        Atomics.add(w, s + W_SEQ, 1);
        w[H_COUNT] = w[H_COUNT]! - 1;
        this.reclaimTombstones(i);
        return true;
      }
      i = (i + 1) & this.mask;
    }
    return false;
  }

  /**
   * Turns the tombstone at slot i, and those before it, back into free slots while the slot after
   * them is free: no probe sequence passes a free slot, so no key lies beyond them. Keeps lookup
   * misses short under churn (tombstones otherwise only go when an insert reuses them).
   */
  private reclaimTombstones(i: number): void {
    const w = this.w;
    if (w[HEADER + ((i + 1) & this.mask) * WORDS + W_STATE] !== FREE) return;
    let j = i;
    for (let n = 0; n < this.slots; n++) {
      const s = HEADER + j * WORDS;
      if (w[s + W_STATE] !== DELETED) return;
      Atomics.add(w, s + W_SEQ, 1);
      w[s + W_STATE] = FREE;
      Atomics.add(w, s + W_SEQ, 1);
      j = (j - 1) & this.mask;
    }
  }

  /**
   * Writer: removes every entry. The slots become free, not tombstones (with no entry left, no
   * probe sequence needs to pass them), so later misses stay short.
   */
  clear(): void {
    const w = this.w;
    for (let i = 0; i < this.slots; i++) {
      const s = HEADER + i * WORDS;
      if (w[s + W_STATE] === FREE) continue;
      Atomics.add(w, s + W_SEQ, 1);
      w[s + W_STATE] = FREE;
      Atomics.add(w, s + W_SEQ, 1);
    }
    w[H_COUNT] = 0;
  }
}
