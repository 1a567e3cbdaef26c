/**
 * In-place IPv4 address rewriting with incremental checksum updates (RFC 1624): the IPv4 header
 * checksum and, for TCP and UDP, the L4 checksum over the pseudo header. Every checksum is right on
 * the wire afterwards; nothing is left to an offload the port may not have.
 */
import {
  ICMP_CODE, ICMP_CSUM, ICMP_DEST_UNREACH, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_FRAG_NEEDED, ICMP_ID, ICMP_PORT_UNREACH,
  ICMP_PROTO_UNREACH, ICMP_QUOTED, ICMP_TYPE, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_CSUM, IPV4_SRC, TCP_CSUM, UDP_CSUM,
} from './headers.js';

/** Adjusts the 16-bit ones'-complement checksum at dv[off] for a 32-bit field changing old -> new. */
export function csumReplace32(dv: DataView, off: number, oldV: number, newV: number): void {
  let sum = ~dv.getUint16(off) & 0xffff;
  sum += ~(oldV >>> 16) & 0xffff;
  sum += ~oldV & 0xffff;
  sum += (newV >>> 16) & 0xffff;
  sum += newV & 0xffff;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  dv.setUint16(off, ~sum & 0xffff);
}

/**
 * Replaces the IPv4 address at ip+field (IPV4_SRC or IPV4_DST) with `addr` and fixes the header
 * and L4 checksums. `l4` is the absolute L4 offset, `l4len` the bytes available from it.
 */
export function rewriteIpv4(dv: DataView, ip: number, field: number, addr: number, proto: number, l4: number, l4len: number): void {
  const old = dv.getUint32(ip + field);
  const nv = addr >>> 0;
  if (old === nv) return;
  dv.setUint32(ip + field, nv);
  csumReplace32(dv, ip + IPV4_CSUM, old, nv);
  if (proto === IPPROTO_TCP && l4len >= TCP_CSUM + 2) {
    csumReplace32(dv, l4 + TCP_CSUM, old, nv);
  } else if (proto === IPPROTO_UDP && l4len >= UDP_CSUM + 2 && dv.getUint16(l4 + UDP_CSUM) !== 0) {
    csumReplace32(dv, l4 + UDP_CSUM, old, nv);
    // 0 means "no checksum" in UDP: a computed 0 is sent as 0xffff
    if (dv.getUint16(l4 + UDP_CSUM) === 0) dv.setUint16(l4 + UDP_CSUM, 0xffff);
  }
}

/** Adjusts the 16-bit ones'-complement checksum at dv[off] for a 16-bit field changing old -> new. */
export function csumReplace16(dv: DataView, off: number, oldV: number, newV: number): void {
  let sum = ~dv.getUint16(off) & 0xffff;
  sum += ~oldV & 0xffff;
  sum += newV & 0xffff;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  dv.setUint16(off, ~sum & 0xffff);
}

/**
 * Replaces an L4 port of the IPv4 packet whose L4 header is at `l4` (`l4len` bytes available) with
 * `port` and fixes the L4 checksum: TCP or UDP the source (`dst` false) or destination port, ICMP
 * the echo identifier (ICMP's checksum covers no pseudo header; it is fixed the same way).
 */
export function rewriteL4Port(dv: DataView, l4: number, l4len: number, proto: number, dst: boolean, port: number): void {
  if (proto === IPPROTO_ICMP) {
    if (l4len < ICMP_ID + 2) return;
    const type = dv.getUint8(l4 + ICMP_TYPE);
    if (type !== ICMP_ECHO_REQUEST && type !== ICMP_ECHO_REPLY) return;
    const old = dv.getUint16(l4 + ICMP_ID);
    if (old === port) return;
    dv.setUint16(l4 + ICMP_ID, port);
    csumReplace16(dv, l4 + ICMP_CSUM, old, port);
    return;
  }
  const at = l4 + (dst ? 2 : 0);
  if (l4len < 4) return;
  const old = dv.getUint16(at);
  if (old === port) return;
  dv.setUint16(at, port);
  if (proto === IPPROTO_TCP && l4len >= TCP_CSUM + 2) {
    csumReplace16(dv, l4 + TCP_CSUM, old, port);
  } else if (proto === IPPROTO_UDP && l4len >= UDP_CSUM + 2 && dv.getUint16(l4 + UDP_CSUM) !== 0) {
    csumReplace16(dv, l4 + UDP_CSUM, old, port);
    if (dv.getUint16(l4 + UDP_CSUM) === 0) dv.setUint16(l4 + UDP_CSUM, 0xffff);
  }
}

/**
 * The offset of the IPv4 header an ICMP error at `l4` (`l4len` bytes) quotes, when it is one
 * upstream ties to a flow (destination unreachable: protocol, port, fragmentation needed) about a
 * TCP or UDP packet whose ports are there; else -1.
 */
export function quotedPacket(dv: DataView, l4: number, l4len: number): number {
  if (l4len < ICMP_QUOTED + 20 + 4 || dv.getUint8(l4 + ICMP_TYPE) !== ICMP_DEST_UNREACH) return -1;
  const code = dv.getUint8(l4 + ICMP_CODE);
  if (code !== ICMP_PROTO_UNREACH && code !== ICMP_PORT_UNREACH && code !== ICMP_FRAG_NEEDED) return -1;
  const q = l4 + ICMP_QUOTED;
  const vihl = dv.getUint8(q);
  const ihl = (vihl & 0x0f) * 4;
  if (vihl >> 4 !== 4 || ihl < 20 || l4len < ICMP_QUOTED + ihl + 4) return -1;
  const proto = dv.getUint8(q + 9);
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP ? q : -1;
}

/**
 * In the packet an ICMP error at `l4` quotes (IPv4 header at `q`): replaces address `field`
 * (IPV4_SRC or IPV4_DST) with `addr`, and with `port` >= 0 the L4 port on the same side, keeping
 * the quoted header's checksum and the ICMP checksum right. The quoted L4 checksum is left: a
 * receiver matches the error to its connection by addresses and ports.
 */
export function rewriteQuoted(dv: DataView, l4: number, q: number, field: number, addr: number, port: number): void {
  const csum = l4 + ICMP_CSUM;
  const old = dv.getUint32(q + field);
  const nv = addr >>> 0;
  if (old !== nv) {
    const oldSum = dv.getUint16(q + IPV4_CSUM);
    dv.setUint32(q + field, nv);
    csumReplace32(dv, q + IPV4_CSUM, old, nv);
    csumReplace32(dv, csum, old, nv);
    csumReplace16(dv, csum, oldSum, dv.getUint16(q + IPV4_CSUM));
  }
  if (port < 0) return;
  const at = q + (dv.getUint8(q) & 0x0f) * 4 + (field === IPV4_SRC ? 0 : 2);
  const oldPort = dv.getUint16(at);
  if (oldPort === port) return;
  dv.setUint16(at, port);
  csumReplace16(dv, csum, oldPort, port);
}
