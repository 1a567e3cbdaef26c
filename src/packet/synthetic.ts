/**
 * Synthetic frames the workers' warm-up (src/workers/warmup.ts) and the benchmarks (bench/frames.ts)
 * build: not on the packet path.
 */

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

/** The underlay router's MAC in synthetic tunnels, and the destination MAC they get by default. */
const ROUTER_MAC = Uint8Array.of(0x52, 0x54, 0, 0, 0, 0xfe);
const ALL_NODES_MAC = Uint8Array.of(0x33, 0x33, 0, 0, 0, 0x02);

/**
 * The IPv4 packet of `inner` (an Ethernet frame; its Ethernet header and any padding dropped)
 * tunnelled in IPv6 from `outerSrc` to `outerDst` (16 bytes each), next header 4, hop limit 64,
 * with an Ethernet header in front (to `dstMac`, from the underlay router 52:54:00:00:00:fe): what
 * an uplink receives for a VM of this host.
 */
export function ipipFrame(outerSrc: Uint8Array, outerDst: Uint8Array, inner: Uint8Array, dstMac: Uint8Array = ALL_NODES_MAC): Uint8Array {
  const innerDv = new DataView(inner.buffer, inner.byteOffset, inner.byteLength);
  const ipLen = innerDv.getUint16(14 + 2);
  const f = new Uint8Array(14 + 40 + ipLen);
  const dv = new DataView(f.buffer);
  f.set(dstMac.subarray(0, 6), 0);
  f.set(ROUTER_MAC, 6);
  dv.setUint16(12, 0x86dd);
  dv.setUint32(14, 0x60000000);
  dv.setUint16(18, ipLen);
  f[20] = 4;
  f[21] = 64;
  f.set(outerSrc.subarray(0, 16), 22);
  f.set(outerDst.subarray(0, 16), 38);
  f.set(inner.subarray(14, 14 + ipLen), 54);
  return f;
}
