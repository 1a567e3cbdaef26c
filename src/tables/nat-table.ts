/**
 * What the workers need of network NAT besides the port table (each interface's own NAT address
 * and port range live there, see PortTable.setNat): the port ranges other hosts own of a NAT
 * address (neighbour NATs: an inbound packet for one of their ports is relayed to that host), and
 * per VM port how many NAT ports its flows hold (telemetry, metrics).
 *
 * LAYOUT (one SharedArrayBuffer of Int32 words): MAX_NEIGHBOR_NATS entries of ENTRY words
 * [sequence, NAT address, VNI, max << 16 | min, underlay address (4 words)], then one counter per
 * port, then the end of the entries in use (scans stop there). A free entry has range 0 (a range
 * is never empty: min < max).
 *
 * CONSISTENCY: the supervisor alone writes the entries, each under its sequence word (odd while
 * writing); a worker reads an entry until it saw the same even sequence before and after, so it
 * never acts on half of an entry. Workers count ports with Atomics.add.
 */
import { MAX_PORTS } from './port-table.js';

/** Upstream keeps neighbour NATs in an unbounded list; 4,096 ranges here (the registry refuses more). */
export const MAX_NEIGHBOR_NATS = 4096;
const ENTRY = 8;
const E_SEQ = 0;
const E_IP = 1;
const E_VNI = 2;
const E_RANGE = 3;
const E_UL = 4;
const USED = MAX_NEIGHBOR_NATS * ENTRY;
/** Entries in use lie below this word's value (in words): scans stop there. */
const LIMIT = USED + MAX_PORTS;
const WORDS = LIMIT + 1;

export class NatTable {
  readonly words: Int32Array;

  static create(): NatTable {
    return new NatTable(new SharedArrayBuffer(WORDS * 4));
  }

  constructor(readonly sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab);
  }

  // ---- supervisor: neighbour ranges --------------------------------------------------------

  /** Adds another host's range [min, max) of `natIp` in `vni`, reached at `underlay`; false if full. */
  addNeighbor(natIp: number, vni: number, minPort: number, maxPort: number, underlay: Uint8Array): boolean {
    const w = this.words;
    for (let e = 0; e < USED; e += ENTRY) {
      if (w[e + E_RANGE] !== 0) continue;
      // the entry is written before the limit moves past it: a reader that sees the new limit sees the entry
      Atomics.add(w, e + E_SEQ, 1);
      w[e + E_IP] = natIp | 0;
      w[e + E_VNI] = vni | 0;
      const dv = new DataView(underlay.buffer, underlay.byteOffset, 16);
      for (let i = 0; i < 4; i++) w[e + E_UL + i] = dv.getInt32(i * 4);
      w[e + E_RANGE] = (maxPort << 16) | minPort;
      Atomics.add(w, e + E_SEQ, 1);
      if (e + ENTRY > w[LIMIT]!) Atomics.store(w, LIMIT, e + ENTRY);
      return true;
    }
    return false;
  }

  /** Removes the range with exactly these values (if present). */
  removeNeighbor(natIp: number, vni: number, minPort: number, maxPort: number): void {
    const w = this.words;
    const end = w[LIMIT]!;
    for (let e = 0; e < end; e += ENTRY) {
      if (w[e + E_RANGE] !== ((maxPort << 16) | minPort) || w[e + E_IP] !== (natIp | 0) || w[e + E_VNI] !== (vni | 0)) continue;
      Atomics.add(w, e + E_SEQ, 1);
      w[e + E_RANGE] = 0;
      Atomics.add(w, e + E_SEQ, 1);
      return;
    }
  }

  // ---- workers ------------------------------------------------------------------------------

  /** Whether some neighbour owns a range of `natIp` in `vni`. */
  isNeighborAddress(vni: number, natIp: number): boolean {
    return this.findNeighbor(vni, natIp, -1, null, 0) >= 0;
  }

  /**
   * The neighbour entry whose range of `natIp` in `vni` holds `port` (-1: any range), or -1. Its
   * underlay address goes to out[at..at+16] (out null: not wanted).
   */
  findNeighbor(vni: number, natIp: number, port: number, out: DataView | null, at: number): number {
    const w = this.words;
    const ip = natIp | 0;
    const v = vni | 0;
    const end = Atomics.load(w, LIMIT);
    for (let e = 0; e < end; e += ENTRY) {
      const range = w[e + E_RANGE]!;
      if (range === 0 || w[e + E_IP] !== ip || w[e + E_VNI] !== v) continue;
      for (;;) {
        const s1 = Atomics.load(w, e + E_SEQ);
        const r = w[e + E_RANGE]!;
        const match = r !== 0 && w[e + E_IP] === ip && w[e + E_VNI] === v
          && (port < 0 || (port >= (r & 0xffff) && port < r >>> 16));
        if (match && out !== null) for (let i = 0; i < 4; i++) out.setInt32(at + i * 4, w[e + E_UL + i]!);
        if ((s1 & 1) !== 0 || Atomics.load(w, e + E_SEQ) !== s1) continue;
        if (match) return e / ENTRY;
        break;
      }
    }
    return -1;
  }

  /** NAT ports the flows of VM port `port` hold. */
  usedPorts(port: number): number {
    return Atomics.load(this.words, USED + port);
  }

  /** A flow of `port` took (1) or gave back (-1) a NAT port. */
  countPort(port: number, delta: number): void {
    Atomics.add(this.words, USED + port, delta);
  }
}
