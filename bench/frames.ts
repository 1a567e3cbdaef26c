/**
 * Frames the benchmarks feed: VM-to-VM UDP or TCP packets (64 bytes on the wire without FCS), the same
 * packet tunnelled IPv4-in-IPv6 as it arrives on an uplink (104 bytes), and pcap files of frames
 * for DPDK's pcap PMD (bench/overlay.ts replays them with infinite_rx).
 */
// the tunnel, as the workers' warm-up builds it too
export { ipipFrame } from '../src/packet/synthetic.js';

/** A 64-byte IPv4/UDP frame from `src` to `dst` (uint32 addresses), ports `sport` -> 5001. */
export function udpFrame(src: number, dst: number, sport: number): Uint8Array {
  return udpFlowFrame(src, dst, sport, 5001);
}

/** A 64-byte IPv4/UDP frame of the 5-tuple (src, dst, UDP, sport, dport); 22 bytes of zero payload. */
export function udpFlowFrame(src: number, dst: number, sport: number, dport: number): Uint8Array {
  const f = new Uint8Array(64);
  const dv = new DataView(f.buffer);
  f.set([0x66, 0x66, 0x66, 0x66, 0x66, 0x01, 0x52, 0x54, 0, 0, 0, 1], 0);
  dv.setUint16(12, 0x0800);
  f[14] = 0x45;
  dv.setUint16(16, 50);
  f[22] = 64;
  f[23] = 17;
  dv.setUint32(26, src);
  dv.setUint32(30, dst);
  dv.setUint16(34, sport);
  dv.setUint16(36, dport);
  dv.setUint16(38, 30);
  return f;
}

/**
 * A 64-byte IPv4/TCP frame of the 5-tuple (src, dst, TCP, sport, dport): an ACK of an established
 * connection (sequence 1, acknowledgment 1, window 65535) with 10 bytes of zero payload.
 */
export function tcpFlowFrame(src: number, dst: number, sport: number, dport: number): Uint8Array {
  const f = udpFlowFrame(src, dst, sport, dport);
  const dv = new DataView(f.buffer);
  f[23] = 6;
  dv.setUint32(38, 1);
  dv.setUint32(42, 1);
  f[46] = 5 << 4;
  f[47] = 0x10;
  dv.setUint16(48, 65535);
  return f;
}

/** A pcap file (libpcap format, Ethernet link type, microsecond timestamps) holding `frames` in order. */
export function pcapFile(frames: readonly Uint8Array[]): Uint8Array {
  const size = 24 + frames.reduce((s, f) => s + 16 + f.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  // the writer's byte order (little-endian here); readers detect it from the magic number
  dv.setUint32(0, 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, 65535, true);
  dv.setUint32(20, 1, true);
  let at = 24;
  frames.forEach((f, i) => {
    dv.setUint32(at, Math.floor(i / 1e6), true);
    dv.setUint32(at + 4, i % 1e6, true);
    dv.setUint32(at + 8, f.length, true);
    dv.setUint32(at + 12, f.length, true);
    out.set(f, at + 16);
    at += 16 + f.length;
  });
  return out;
}
