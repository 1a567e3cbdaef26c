/**
 * Frames the benchmarks feed: VM-to-VM UDP or TCP packets (64 bytes on the wire without FCS), the same
 * packet tunnelled IPv4-in-IPv6 as it arrives on an uplink (104 bytes), and pcap files of frames
 * for DPDK's pcap PMD (bench/overlay.ts replays them with infinite_rx).
 */
import { udpFlowFrame } from '../src/packet/synthetic.js';

// the VM's packets and the tunnel, as the workers' warm-up builds them too
export { ipipFrame, tcpFlowFrame, udpFlowFrame } from '../src/packet/synthetic.js';

/** A 64-byte IPv4/UDP frame from `src` to `dst` (uint32 addresses), ports `sport` -> 5001. */
export function udpFrame(src: number, dst: number, sport: number): Uint8Array {
  return udpFlowFrame(src, dst, sport, 5001);
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
