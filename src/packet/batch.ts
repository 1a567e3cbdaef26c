/**
 * Per-worker packet metadata, struct-of-arrays over slots. A slot is one packet in flight in the
 * current graph run; its bytes live in `bytes` (the zero-copy view over the mbuf pool, or a plain
 * buffer in tests). Everything is allocated once at worker start; nothing here allocates per packet.
 */

/** Most packets one graph run holds (rx bursts of every port plus locally generated packets). */
export const MAX_SLOTS = 1024;

/** Packet flags (bits of PacketBatch.flags). */
export const PF_FROM_PF = 1;       // received on a physical (uplink) port
export const PF_IPV6 = 2;          // L3 is IPv6
export const PF_DECAPPED = 4;      // arrived tunnelled on an uplink; ipip_decap removed the outer headers
export const PF_SOUTH_NORTH = 8;   // routed by a default route (upstream DP_FLOW_SOUTH_NORTH)
export const PF_ENCAP = 16;        // leaves by an uplink: ipip_encap adds the outer headers

export class PacketBatch {
  /** The packet memory. */
  bytes: Uint8Array;
  /** DataView over `bytes` for big-endian 16/32-bit access. */
  dv: DataView;
  /** Bytes from an mbuf header to its data buffer, and the buffer size (headroom included). */
  readonly bufShift: number;
  readonly bufLen: number;

  readonly mbuf = new Uint32Array(MAX_SLOTS);   // mbuf offset in `bytes`
  readonly start = new Uint32Array(MAX_SLOTS);  // absolute offset of the frame's first byte
  readonly len = new Uint16Array(MAX_SLOTS);    // frame length
  readonly inPort = new Uint16Array(MAX_SLOTS);
  readonly outPort = new Uint16Array(MAX_SLOTS);
  readonly etherType = new Uint16Array(MAX_SLOTS);
  readonly l3 = new Uint16Array(MAX_SLOTS);      // L3 offset from frame start
  readonly l4 = new Uint16Array(MAX_SLOTS);      // L4 offset from frame start (0: none)
  readonly proto = new Uint8Array(MAX_SLOTS);    // L4 protocol number
  readonly flags = new Uint8Array(MAX_SLOTS);
  readonly vni = new Uint32Array(MAX_SLOTS);
  /** Connection-tracking flow of the packet (conntrack sets it), and its direction (0 original, 1 reply). */
  readonly flow = new Int32Array(MAX_SLOTS);
  readonly dir = new Uint8Array(MAX_SLOTS);
  /** VNF type of the outer destination of a decapsulated packet (ipip_decap). */
  readonly vnfType = new Uint8Array(MAX_SLOTS);
  /** Encapsulation: outer destination (16 bytes per slot); the source is the in port's underlay. */
  readonly ulDst = new Uint8Array(MAX_SLOTS * 16);
  /** The same bytes for 32-bit big-endian access (four words per slot). */
  readonly ulDv = new DataView(this.ulDst.buffer);
  /**
   * With PF_ENCAP: the route record that holds ulDst as its nexthop (flow-table ulRef), or 0. Every
   * node that sets PF_ENCAP writes it; the firewall caches it with the flow's decision.
   */
  readonly ulRef = new Int32Array(MAX_SLOTS);
  /** Configuration generation conntrack saw for the packet (its decision is cached under it). */
  readonly gen = new Int32Array(MAX_SLOTS);
  /** Why the packet goes to drop (DropReason), set by the node that drops it. */
  readonly dropReason = new Uint8Array(MAX_SLOTS);

  /** Slots in use this run; freed slots are recycled by the worker. */
  count = 0;

  constructor(bytes: Uint8Array, bufShift: number, bufLen: number) {
    this.bytes = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.bufShift = bufShift;
    this.bufLen = bufLen;
  }

  /** Absolute offset of the first usable byte of the slot's buffer (headroom start). */
  bufStart(slot: number): number {
    return this.mbuf[slot]! + this.bufShift;
  }

  /** Headroom left in front of the frame. */
  headroom(slot: number): number {
    return this.start[slot]! - this.bufStart(slot);
  }

  /** Tailroom left behind the frame. */
  tailroom(slot: number): number {
    return this.bufStart(slot) + this.bufLen - this.start[slot]! - this.len[slot]!;
  }

  /** Makes `n` more bytes at the front (push a header); false if the headroom is too small. */
  prepend(slot: number, n: number): boolean {
    if (this.headroom(slot) < n) return false;
    this.start[slot] = this.start[slot]! - n;
    this.len[slot] = this.len[slot]! + n;
    return true;
  }

  /** Removes `n` bytes from the front (strip a header); false if the frame is shorter. */
  strip(slot: number, n: number): boolean {
    if (this.len[slot]! < n) return false;
    this.start[slot] = this.start[slot]! + n;
    this.len[slot] = this.len[slot]! - n;
    return true;
  }

  /** Sets the frame length; false if it would not fit in the buffer. */
  setLength(slot: number, n: number): boolean {
    if (this.start[slot]! - this.bufStart(slot) + n > this.bufLen) return false;
    this.len[slot] = n;
    return true;
  }

  /**
   * Resets the per-packet metadata of a slot for a frame at `start` of `len` bytes. Only what a
   * node may read before writing it is reset (six stores, for every packet): cls writes etherType
   * and l3, conntrack l4 and proto, every node that drops writes dropReason first.
   */
  reset(slot: number, mbuf: number, start: number, len: number, port: number): void {
    this.mbuf[slot] = mbuf;
    this.start[slot] = start;
    this.len[slot] = len;
    this.inPort[slot] = port;
    this.outPort[slot] = port;
    this.flags[slot] = 0;
    this.vni[slot] = 0;
  }
}

/**
 * A batch over a plain buffer, for unit tests and benchmarks: slot i's mbuf sits at
 * i * (bufShift + bufLen). Allocates (test helper).
 */
export function makeTestBatch(slots = 64, bufShift = 128, bufLen = 2176): PacketBatch {
  const bytes = new Uint8Array(slots * (bufShift + bufLen));
  return new PacketBatch(bytes, bufShift, bufLen);
}

/** Copies a frame into slot `slot` of a test batch with the default 128 bytes of headroom. */
export function loadFrame(b: PacketBatch, slot: number, frame: Uint8Array, port: number, headroom = 128): void {
  const mbuf = slot * (b.bufShift + b.bufLen);
  const start = mbuf + b.bufShift + headroom;
  b.bytes.set(frame, start);
  b.reset(slot, mbuf, start, frame.length, port);
  if (slot >= b.count) b.count = slot + 1;
}

/** The frame bytes of a slot, copied out (test helper, allocates). */
export function frameOf(b: PacketBatch, slot: number): Uint8Array {
  const s = b.start[slot]!;
  return b.bytes.slice(s, s + b.len[slot]!);
}
