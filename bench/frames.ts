/** Frames the benchmarks feed: a VM-to-VM UDP packet (64 bytes on the wire without FCS). */

export function udpFrame(src: number, dst: number, sport: number): Uint8Array {
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
  dv.setUint16(36, 5001);
  dv.setUint16(38, 30);
  return f;
}
