// checksum: Internet (ones'-complement) checksums over byte ranges of a packet buffer: IPv4 header,
// UDP/TCP/ICMPv6 with IPv4/IPv6 pseudo headers, ICMP. Budget: ~0.5 ns per byte summed, no allocation.
//
// Sums are kept unfolded in a plain number and folded once at the end: a 64 KiB range adds at most
// 32768 words of 0xffff, far below 2^32, so `>>> 16` folding is exact.

import { IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, IPV4_SRC, IPV6_SRC, TCP_CSUM, UDP_CSUM } from './headers.js';

/** Offset of the checksum field in ICMP and ICMPv6 headers. */
const ICMP_CSUM_OFF = 2;
/** Offset of the header checksum field in an IPv4 header. */
const IPV4_CSUM_OFF = 10;

/**
 * Adds the big-endian 16-bit words of bytes[off, off+len) to `acc` and returns the unfolded sum.
 * An odd trailing byte counts as the high byte of a word padded with zero.
 */
export function sumWords(bytes: Uint8Array, off: number, len: number, acc: number): number {
  let s = acc;
  const end = off + (len & ~1);
  for (let i = off; i < end; i += 2) s += (bytes[i]! << 8) | bytes[i + 1]!;
  if ((len & 1) !== 0) s += bytes[end]! << 8;
  return s;
}

/** Folds an unfolded sum (below 2^32) into 16 bits with end-around carry. */
export function foldSum(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** True if a range whose checksum field is included sums to 0xffff (the receiver's check). */
export function sumIsValid(sum: number): boolean {
  return foldSum(sum) === 0xffff;
}

/** IPv4 header checksum over IHL*4 bytes at `ip`, the checksum field counted as zero. */
export function ipv4HeaderChecksum(bytes: Uint8Array, ip: number): number {
  const hlen = (bytes[ip]! & 0x0f) * 4;
  let s = sumWords(bytes, ip, IPV4_CSUM_OFF, 0);
  s = sumWords(bytes, ip + IPV4_CSUM_OFF + 2, hlen - IPV4_CSUM_OFF - 2, s);
  return ~foldSum(s) & 0xffff;
}

/** Computes and stores the IPv4 header checksum of the header at `ip`. */
export function setIpv4HeaderChecksum(bytes: Uint8Array, ip: number): void {
  const c = ipv4HeaderChecksum(bytes, ip);
  bytes[ip + IPV4_CSUM_OFF] = c >>> 8;
  bytes[ip + IPV4_CSUM_OFF + 1] = c & 0xff;
}

/** Unfolded sum of the IPv4 pseudo header (src, dst, protocol, upper-layer length). */
export function ipv4PseudoSum(bytes: Uint8Array, ip: number, proto: number, l4len: number): number {
  return sumWords(bytes, ip + IPV4_SRC, 8, 0) + proto + l4len;
}

/** Unfolded sum of the IPv6 pseudo header (src, dst, 32-bit upper-layer length, next header). */
export function ipv6PseudoSum(bytes: Uint8Array, ip: number, proto: number, l4len: number): number {
  return sumWords(bytes, ip + IPV6_SRC, 32, 0) + (l4len >>> 16) + (l4len & 0xffff) + proto;
}

/**
 * Checksum of an L4 segment of `len` bytes at `l4` whose checksum field sits at l4 + `csumOff`
 * (counted as zero), seeded with a pseudo header sum. A result of 0 is sent as 0xffff, as DPDK's
 * rte_ipv4/ipv6_udptcp_cksum do for every protocol (mandatory for UDP, equivalent for the others).
 */
export function l4Checksum(bytes: Uint8Array, l4: number, len: number, csumOff: number, pseudo: number): number {
  let s = sumWords(bytes, l4, csumOff, pseudo);
  s = sumWords(bytes, l4 + csumOff + 2, len - csumOff - 2, s);
  const c = ~foldSum(s) & 0xffff;
  return c === 0 ? 0xffff : c;
}

function store16(bytes: Uint8Array, at: number, v: number): void {
  bytes[at] = v >>> 8;
  bytes[at + 1] = v & 0xff;
}

/** UDP checksum over `len` bytes at `l4` under the IPv4 header at `ip`. */
export function udp4Checksum(bytes: Uint8Array, ip: number, l4: number, len: number): number {
  return l4Checksum(bytes, l4, len, UDP_CSUM, ipv4PseudoSum(bytes, ip, IPPROTO_UDP, len));
}

/** TCP checksum over `len` bytes at `l4` under the IPv4 header at `ip`. */
export function tcp4Checksum(bytes: Uint8Array, ip: number, l4: number, len: number): number {
  return l4Checksum(bytes, l4, len, TCP_CSUM, ipv4PseudoSum(bytes, ip, IPPROTO_TCP, len));
}

/** UDP checksum over `len` bytes at `l4` under the IPv6 header at `ip`. */
export function udp6Checksum(bytes: Uint8Array, ip: number, l4: number, len: number): number {
  return l4Checksum(bytes, l4, len, UDP_CSUM, ipv6PseudoSum(bytes, ip, IPPROTO_UDP, len));
}

/** TCP checksum over `len` bytes at `l4` under the IPv6 header at `ip`. */
export function tcp6Checksum(bytes: Uint8Array, ip: number, l4: number, len: number): number {
  return l4Checksum(bytes, l4, len, TCP_CSUM, ipv6PseudoSum(bytes, ip, IPPROTO_TCP, len));
}

/** ICMPv6 checksum over `len` bytes at `l4` under the IPv6 header at `ip`. */
export function icmpv6Checksum(bytes: Uint8Array, ip: number, l4: number, len: number): number {
  return l4Checksum(bytes, l4, len, ICMP_CSUM_OFF, ipv6PseudoSum(bytes, ip, IPPROTO_ICMPV6, len));
}

/** ICMP (v4) checksum over `len` bytes at `off`, no pseudo header, the checksum field counted as zero. */
export function icmpChecksum(bytes: Uint8Array, off: number, len: number): number {
  let s = sumWords(bytes, off, ICMP_CSUM_OFF, 0);
  s = sumWords(bytes, off + ICMP_CSUM_OFF + 2, len - ICMP_CSUM_OFF - 2, s);
  return ~foldSum(s) & 0xffff;
}

/** Stores the UDP checksum of an IPv4 datagram (field at l4 + 6). */
export function setUdp4Checksum(bytes: Uint8Array, ip: number, l4: number, len: number): void {
  store16(bytes, l4 + UDP_CSUM, udp4Checksum(bytes, ip, l4, len));
}

/** Stores the UDP checksum of an IPv6 datagram (field at l4 + 6). */
export function setUdp6Checksum(bytes: Uint8Array, ip: number, l4: number, len: number): void {
  store16(bytes, l4 + UDP_CSUM, udp6Checksum(bytes, ip, l4, len));
}

/** Stores the TCP checksum of an IPv4 segment (field at l4 + 16). */
export function setTcp4Checksum(bytes: Uint8Array, ip: number, l4: number, len: number): void {
  store16(bytes, l4 + TCP_CSUM, tcp4Checksum(bytes, ip, l4, len));
}

/** Stores the TCP checksum of an IPv6 segment (field at l4 + 16). */
export function setTcp6Checksum(bytes: Uint8Array, ip: number, l4: number, len: number): void {
  store16(bytes, l4 + TCP_CSUM, tcp6Checksum(bytes, ip, l4, len));
}

/** Stores the ICMPv6 checksum (field at l4 + 2). */
export function setIcmpv6Checksum(bytes: Uint8Array, ip: number, l4: number, len: number): void {
  store16(bytes, l4 + ICMP_CSUM_OFF, icmpv6Checksum(bytes, ip, l4, len));
}

/** Stores the ICMP checksum (field at off + 2). */
export function setIcmpChecksum(bytes: Uint8Array, off: number, len: number): void {
  store16(bytes, off + ICMP_CSUM_OFF, icmpChecksum(bytes, off, len));
}
