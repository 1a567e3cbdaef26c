/**
 * NAT64 header translation (upstream dp_nat_chg_ipv6_to_ipv4_hdr and back): a VM's IPv6 packet to
 * 64:ff9b::a.b.c.d leaves as IPv4 from its NAT address and port to a.b.c.d, and the answer comes
 * back as IPv6 from 64:ff9b::a.b.c.d. The L4 header stays where it is; the Ethernet header moves by
 * the 20 bytes the IP header shrinks or grows. TCP, UDP and ICMP echo (ICMPv6 128/129 <-> ICMP 8/0,
 * identifier translated like a port); checksums are computed anew, as the pseudo header changes.
 * IPv4 gets upstream's fields: identification 0, no fragment bits, TTL = hop limit, TOS = traffic
 * class; IPv6 flow label 0. Only packets without IPv6 extension headers or IPv4 options (conntrack
 * keys no others).
 */
import type { PacketBatch } from './batch.js';
import { PF_IPV6 } from './batch.js';
import {
  setIcmpChecksum, setIcmpv6Checksum, setIpv4HeaderChecksum, setTcp4Checksum, setTcp6Checksum, setUdp4Checksum,
  setUdp6Checksum,
} from './checksum.js';
import {
  ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_ID, ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, IPV6_HLEN,
} from './headers.js';

/** IPv6 header bytes beyond IPv4's (20 without options). */
const GROWTH = 20;
const IPV4_HLEN = 20;

/** Whether the 16-byte IPv6 address at dv[at..] is in the NAT64 prefix 64:ff9b::/96. */
export function isNat64(dv: DataView, at: number): boolean {
  return dv.getUint32(at) === 0x0064ff9b && dv.getUint32(at + 4) === 0 && dv.getUint32(at + 8) === 0;
}

/**
 * Replaces the IPv6 header of `slot` (no extension headers) by an IPv4 header of protocol `proto`
 * from `src` to `dst`: TOS `tos`, identification `id`, no fragment bits, TTL the hop limit, its
 * checksum. The L4 header stays where it is; the Ethernet addresses move up by the 20 bytes the
 * header shrinks. Read what else the IPv6 header says first: the IPv4 header overwrites its
 * destination. Returns the IPv4 header's offset (the L4 header follows it).
 */
export function ipv6ToIpv4Header(b: PacketBatch, slot: number, proto: number, tos: number, id: number, src: number, dst: number): number {
  const dv = b.dv;
  const bytes = b.bytes;
  const s = b.start[slot]!;
  const ip6 = s + ETH_HLEN;
  const plen = dv.getUint16(ip6 + 4);
  const hop = bytes[ip6 + 7]!;
  const ns = s + GROWTH;
  bytes.copyWithin(ns, s, s + 12);
  dv.setUint16(ns + ETH_TYPE, ETHERTYPE_IPV4);
  const ip4 = ns + ETH_HLEN;
  dv.setUint32(ip4, 0x45000000 | (tos << 16) | (plen + IPV4_HLEN));
  dv.setUint32(ip4 + 4, (id & 0xffff) << 16);
  dv.setUint32(ip4 + 8, (hop << 24) | (proto << 16));
  dv.setUint32(ip4 + 12, src >>> 0);
  dv.setUint32(ip4 + 16, dst >>> 0);
  setIpv4HeaderChecksum(bytes, ip4);
  b.start[slot] = ns;
  b.len[slot] = ETH_HLEN + IPV4_HLEN + plen;
  b.l4[slot] = ETH_HLEN + IPV4_HLEN;
  b.proto[slot] = proto;
  b.flags[slot] = b.flags[slot]! & ~PF_IPV6;
  return ip4;
}

/**
 * Replaces the IPv4 header (20 bytes, no options) of `slot` by an IPv6 header without its
 * addresses: `vtcFlow` (version, traffic class, flow label), next header `next`, hop limit the TTL.
 * The caller writes the addresses (read what the IPv4 header says first: they overwrite it).
 * Returns the IPv6 header's offset, or -1 (nothing changed) without 20 bytes of headroom.
 */
export function ipv4ToIpv6Header(b: PacketBatch, slot: number, vtcFlow: number, next: number): number {
  const dv = b.dv;
  const bytes = b.bytes;
  const s = b.start[slot]!;
  const ip4 = s + ETH_HLEN;
  const plen = dv.getUint16(ip4 + 2) - IPV4_HLEN;
  const ttl = bytes[ip4 + 8]!;
  if (!b.prepend(slot, GROWTH)) return -1;
  const ns = s - GROWTH;
  bytes.copyWithin(ns, s, s + 12);
  dv.setUint16(ns + ETH_TYPE, ETHERTYPE_IPV6);
  const ip6 = ns + ETH_HLEN;
  dv.setUint32(ip6, vtcFlow);
  dv.setUint32(ip6 + 4, (plen << 16) | (next << 8) | ttl);
  b.len[slot] = ETH_HLEN + IPV6_HLEN + plen;
  b.l4[slot] = ETH_HLEN + IPV6_HLEN;
  b.proto[slot] = next;
  b.flags[slot] = b.flags[slot]! | PF_IPV6;
  return ip6;
}

/**
 * Translates the IPv6 packet of `slot` to IPv4 from `src`:`port` (ICMP: identifier `port`) to the
 * IPv4 address embedded in its destination. False (nothing changed) for what cannot be translated:
 * ICMPv6 other than echo, another next header.
 */
export function nat64Out(b: PacketBatch, slot: number, src: number, port: number): boolean {
  const dv = b.dv;
  const bytes = b.bytes;
  const ip6 = b.start[slot]! + ETH_HLEN;
  const next = bytes[ip6 + 6]!;
  const l4 = ip6 + IPV6_HLEN;
  const plen = dv.getUint16(ip6 + 4);
  if (next === IPPROTO_ICMPV6) {
    const t = bytes[l4]!;
    if (t !== ICMPV6_ECHO_REQUEST && t !== ICMPV6_ECHO_REPLY) return false;
  } else if (next !== IPPROTO_TCP && next !== IPPROTO_UDP) {
    return false;
  }
  const tos = (dv.getUint32(ip6) >>> 20) & 0xff;
  const proto = next === IPPROTO_ICMPV6 ? IPPROTO_ICMP : next;
  const ip4 = ipv6ToIpv4Header(b, slot, proto, tos, 0, src, dv.getUint32(ip6 + 36));
  if (proto === IPPROTO_ICMP) {
    bytes[l4] = bytes[l4] === ICMPV6_ECHO_REQUEST ? ICMP_ECHO_REQUEST : ICMP_ECHO_REPLY;
    bytes[l4 + 1] = 0;
    dv.setUint16(l4 + ICMP_ID, port);
    setIcmpChecksum(bytes, l4, plen);
  } else {
    dv.setUint16(l4, port);
    if (proto === IPPROTO_TCP) setTcp4Checksum(bytes, ip4, l4, plen);
    else setUdp4Checksum(bytes, ip4, l4, plen);
  }
  return true;
}

/**
 * Translates the IPv4 packet of `slot` (an answer to a NAT64 flow) to IPv6 from 64:ff9b::<its
 * source> to the VM address at `dst`[dOff..dOff+4] (big-endian words), destination port `port`
 * (ICMP: identifier `port`). False (nothing changed) without 20 bytes of headroom, with IPv4
 * options, or for ICMP other than echo.
 */
export function nat64Back(b: PacketBatch, slot: number, dst: Int32Array, dOff: number, port: number): boolean {
  const dv = b.dv;
  const bytes = b.bytes;
  const ip4 = b.start[slot]! + ETH_HLEN;
  if (bytes[ip4] !== 0x45) return false;
  const proto = bytes[ip4 + 9]!;
  const l4 = ip4 + IPV4_HLEN;
  const plen = dv.getUint16(ip4 + 2) - IPV4_HLEN;
  if (proto === IPPROTO_ICMP) {
    const t = bytes[l4]!;
    if (t !== ICMP_ECHO_REQUEST && t !== ICMP_ECHO_REPLY) return false;
  } else if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) {
    return false;
  }
  const tos = bytes[ip4 + 1]!;
  const src = dv.getUint32(ip4 + 12);
  const next = proto === IPPROTO_ICMP ? IPPROTO_ICMPV6 : proto;
  const ip6 = ipv4ToIpv6Header(b, slot, (6 << 28) | (tos << 20), next);
  if (ip6 < 0) return false;
  dv.setUint32(ip6 + 8, 0x0064ff9b);
  dv.setUint32(ip6 + 12, 0);
  dv.setUint32(ip6 + 16, 0);
  dv.setUint32(ip6 + 20, src);
  for (let i = 0; i < 4; i++) dv.setInt32(ip6 + 24 + i * 4, dst[dOff + i]!);
  if (next === IPPROTO_ICMPV6) {
    bytes[l4] = bytes[l4] === ICMP_ECHO_REQUEST ? ICMPV6_ECHO_REQUEST : ICMPV6_ECHO_REPLY;
    bytes[l4 + 1] = 0;
    dv.setUint16(l4 + ICMP_ID, port);
    setIcmpv6Checksum(bytes, ip6, l4, plen);
  } else {
    dv.setUint16(l4 + 2, port);
    if (proto === IPPROTO_TCP) setTcp6Checksum(bytes, ip6, l4, plen);
    else setUdp6Checksum(bytes, ip6, l4, plen);
  }
  return true;
}
