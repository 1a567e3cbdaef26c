// ipv6_nd: answers neighbour solicitations for fe80::1 with a router NA and router solicitations
// with an RA, in place, and learns the VM MAC from the NS. Budget: ~60 ns (one ICMPv6 checksum).
// On an uplink it is the host's side of neighbour discovery with the underlay router: it answers NS
// for addresses of this host's underlay /64 and its link-local address, and learns the router's MAC
// from the router's ND messages and from replies to the probes rx_periodic sends (echo to ff02::2).
import type { PacketBatch } from '../../packet/batch.js';
import { setIcmpv6Checksum } from '../../packet/checksum.js';
import { DropReason } from '../../packet/drop-reasons.js';
import {
  ETH_DST, ETH_HLEN, ETH_SRC, GATEWAY_IPV6, ICMPV6_NA, ICMPV6_NS, ICMPV6_RA, ICMPV6_RS, IPPROTO_ICMPV6, IPV6_DST,
  IPV6_HLEN, IPV6_NEXT, IPV6_PAYLOAD_LEN, IPV6_SRC,
} from '../../packet/headers.js';
import { B_OWN_MAC, PortState, type PortTable } from '../../tables/port-table.js';
import { drop, GraphNode, TX_EDGE } from '../graph.js';
import type { NodeContext } from '../node-context.js';

const E_TX = 1;

/** ICMPv6 header (type, code, checksum, 4 message bytes) and the ND message sizes. */
export const ICMPV6_HLEN = 8;
/** NS/NA: header + 16-byte target. */
export const ND_MSG_LEN = 24;
/** RA: header + reachable time + retrans timer. */
export const RA_MSG_LEN = 16;
/** One link-layer address option (type, length in 8-octet units, MAC). */
export const ND_OPT_LL_LEN = 8;
export const ND_OPT_SOURCE_LL = 1;
export const ND_OPT_TARGET_LL = 2;
/** NA flags byte (ICMPv6 byte 4): router, solicited, override. */
export const NA_FLAG_ROUTER = 0x80;
export const NA_FLAG_SOLICITED = 0x40;
export const NA_FLAG_OVERRIDE = 0x20;
/** RA flags byte (ICMPv6 byte 5): managed address configuration, other configuration. */
export const RA_FLAG_MANAGED = 0x80;
export const RA_FLAG_OTHER = 0x40;
/** RA values upstream announces: current hop limit 255, router lifetime 0xffff s, timers 0. */
export const RA_HOP_LIMIT = 255;
export const RA_ROUTER_LIFETIME = 0xffff;
/** All-nodes multicast ff02::1, where replies to the unspecified address go. */
export const ALL_NODES_IPV6 = Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);

/**
 * Writes upstream's RA (dp_ipv6_fill_ra) at `icmp`: type 134, hop limit 255, M and O flags, router
 * lifetime 0xffff, reachable/retrans 0, one source link-layer option with the MAC at mac[macOff..].
 * The checksum field is left zero. Returns the ICMPv6 length (24).
 */
export function writeRa(bytes: Uint8Array, icmp: number, mac: Uint8Array, macOff: number): number {
  bytes[icmp] = ICMPV6_RA;
  bytes[icmp + 1] = 0;
  bytes[icmp + 2] = 0;
  bytes[icmp + 3] = 0;
  bytes[icmp + 4] = RA_HOP_LIMIT;
  bytes[icmp + 5] = RA_FLAG_MANAGED | RA_FLAG_OTHER;
  bytes[icmp + 6] = RA_ROUTER_LIFETIME >>> 8;
  bytes[icmp + 7] = RA_ROUTER_LIFETIME & 0xff;
  for (let i = 8; i < RA_MSG_LEN; i++) bytes[icmp + i] = 0;
  const opt = icmp + RA_MSG_LEN;
  bytes[opt] = ND_OPT_SOURCE_LL;
  bytes[opt + 1] = 1;
  for (let i = 0; i < 6; i++) bytes[opt + 2 + i] = mac[macOff + i]!;
  return RA_MSG_LEN + ND_OPT_LL_LEN;
}

export class Ipv6NdNode extends GraphNode {
  readonly name = 'ipv6_nd';
  readonly edges: readonly string[] = ['drop', TX_EDGE];
  private readonly ports: PortTable;
  private readonly ctx: NodeContext;

  constructor(ctx: NodeContext) {
    super();
    this.ctx = ctx;
    this.ports = ctx.ports;
  }

  process(b: PacketBatch, slot: number): number {
    if (this.ports.state(b.inPort[slot]!) === PortState.PF) return this.uplink(b, slot);
    // upstream forwards everything to drop unless --enable-ipv6-overlay
    if (!this.ctx.settings.ipv6Overlay) return drop(b, slot, DropReason.ND_NOT_HANDLED);
    const s = b.start[slot]!;
    const len = b.len[slot]!;
    const bytes = b.bytes;
    const dv = b.dv;
    if (len < ETH_HLEN + IPV6_HLEN) return drop(b, slot, DropReason.TRUNCATED);
    const ip = s + ETH_HLEN;
    const plen = dv.getUint16(ip + IPV6_PAYLOAD_LEN);
    if (ETH_HLEN + IPV6_HLEN + plen > len) return drop(b, slot, DropReason.TRUNCATED);
    if (bytes[ip + IPV6_NEXT] !== IPPROTO_ICMPV6) return drop(b, slot, DropReason.MALFORMED);
    if (plen < ICMPV6_HLEN) return drop(b, slot, DropReason.TRUNCATED);
    const icmp = ip + IPV6_HLEN;
    const type = bytes[icmp]!;
    if (type !== ICMPV6_NS && type !== ICMPV6_RS) return drop(b, slot, DropReason.ND_NOT_HANDLED);

    const port = b.inPort[slot]!;
    const ports = this.ports;
    const pb = ports.bytes;
    const own = ports.at(port, B_OWN_MAC);
    let icmpLen = plen;

    if (type === ICMPV6_NS) {
      if (plen < ND_MSG_LEN) return drop(b, slot, DropReason.TRUNCATED);
      for (let i = 0; i < 16; i++) {
        if (bytes[icmp + 8 + i] !== GATEWAY_IPV6[i]) return drop(b, slot, DropReason.ND_NOT_HANDLED);
      }
    } else if (!b.setLength(slot, ETH_HLEN + IPV6_HLEN + RA_MSG_LEN + ND_OPT_LL_LEN)) {
      return drop(b, slot, DropReason.NO_ROOM);
    }

    // back to the sender, from the port MAC and the gateway address
    for (let i = 0; i < 6; i++) {
      bytes[s + ETH_DST + i] = bytes[s + ETH_SRC + i]!;
      bytes[s + ETH_SRC + i] = pb[own + i]!;
    }
    let unspecified = true;
    for (let i = 0; i < 16; i++) {
      if (bytes[ip + IPV6_SRC + i] !== 0) {
        unspecified = false;
        break;
      }
    }
    if (unspecified) {
      for (let i = 0; i < 16; i++) bytes[ip + IPV6_DST + i] = ALL_NODES_IPV6[i]!;
    } else {
      bytes.copyWithin(ip + IPV6_DST, ip + IPV6_SRC, ip + IPV6_SRC + 16);
    }
    for (let i = 0; i < 16; i++) bytes[ip + IPV6_SRC + i] = GATEWAY_IPV6[i]!;

    if (type === ICMPV6_NS) {
      ports.learnVmMac(port, bytes, s + ETH_DST);
      bytes[icmp] = ICMPV6_NA;
      // upstream sets the three flag bits and keeps whatever else the NS had in those bytes
      bytes[icmp + 4] = bytes[icmp + 4]! | NA_FLAG_ROUTER | NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE;
      // The target link-layer option replaces the NS's first option. Upstream writes it even when
      // the NS had none, past the payload, where it is never sent: so only within the payload here.
      if (plen >= ND_MSG_LEN + ND_OPT_LL_LEN) {
        const opt = icmp + ND_MSG_LEN;
        bytes[opt] = ND_OPT_TARGET_LL;
        bytes[opt + 1] = 1;
        for (let i = 0; i < 6; i++) bytes[opt + 2 + i] = pb[own + i]!;
      }
    } else {
      icmpLen = writeRa(bytes, icmp, pb, own);
      dv.setUint16(ip + IPV6_PAYLOAD_LEN, icmpLen);
    }
    bytes[icmp + 2] = 0;
    bytes[icmp + 3] = 0;
    setIcmpv6Checksum(bytes, ip, icmp, icmpLen);
    b.outPort[slot] = port;
    return E_TX;
  }

  /** ND and probe replies on an uplink (cls sends NS, NA, RA and echo replies here). */
  private uplink(b: PacketBatch, slot: number): number {
    const s = b.start[slot]!;
    const len = b.len[slot]!;
    const bytes = b.bytes;
    const dv = b.dv;
    const ip = s + ETH_HLEN;
    if (len < ETH_HLEN + IPV6_HLEN + ICMPV6_HLEN) return drop(b, slot, DropReason.TRUNCATED);
    const plen = dv.getUint16(ip + IPV6_PAYLOAD_LEN);
    if (bytes[ip + IPV6_NEXT] !== IPPROTO_ICMPV6 || plen < ICMPV6_HLEN) return drop(b, slot, DropReason.MALFORMED);
    const icmp = ip + IPV6_HLEN;
    const type = bytes[icmp]!;
    const port = b.inPort[slot]!;
    const ports = this.ports;
    const pb = ports.bytes;
    const own = ports.at(port, B_OWN_MAC);
    // the only neighbour on an uplink is the underlay router: its ND messages and its answers to
    // our probes carry its MAC (a multicast source is never a neighbour, nor is our own MAC)
    let fromSelf = true;
    for (let i = 0; i < 6; i++) if (bytes[s + ETH_SRC + i] !== pb[own + i]) fromSelf = false;
    let unspecified = true;
    for (let i = 0; i < 16; i++) if (bytes[ip + IPV6_SRC + i] !== 0) unspecified = false;
    if (!fromSelf && (bytes[s + ETH_SRC]! & 1) === 0 && !unspecified) ports.learnVmMac(port, bytes, s + ETH_SRC);
    if (type !== ICMPV6_NS) return drop(b, slot, DropReason.CONSUMED);
    if (plen < ND_MSG_LEN) return drop(b, slot, DropReason.TRUNCATED);
    const target = icmp + 8;
    if (!this.ownUnderlay(bytes, target, pb, own)) return drop(b, slot, DropReason.ND_NOT_HANDLED);

    // a solicited NA from the target address with our MAC (no router flag: a host answers)
    if (!b.setLength(slot, ETH_HLEN + IPV6_HLEN + ND_MSG_LEN + ND_OPT_LL_LEN)) return drop(b, slot, DropReason.NO_ROOM);
    for (let i = 0; i < 6; i++) {
      bytes[s + ETH_DST + i] = bytes[s + ETH_SRC + i]!;
      bytes[s + ETH_SRC + i] = pb[own + i]!;
    }
    if (unspecified) {
      for (let i = 0; i < 16; i++) bytes[ip + IPV6_DST + i] = ALL_NODES_IPV6[i]!;
    } else {
      bytes.copyWithin(ip + IPV6_DST, ip + IPV6_SRC, ip + IPV6_SRC + 16);
    }
    bytes.copyWithin(ip + IPV6_SRC, target, target + 16);
    dv.setUint16(ip + IPV6_PAYLOAD_LEN, ND_MSG_LEN + ND_OPT_LL_LEN);
    bytes[ip + 7] = 255;
    bytes[icmp] = ICMPV6_NA;
    bytes[icmp + 1] = 0;
    bytes[icmp + 2] = 0;
    bytes[icmp + 3] = 0;
    bytes[icmp + 4] = (unspecified ? 0 : NA_FLAG_SOLICITED) | NA_FLAG_OVERRIDE;
    bytes[icmp + 5] = 0;
    bytes[icmp + 6] = 0;
    bytes[icmp + 7] = 0;
    const opt = icmp + ND_MSG_LEN;
    bytes[opt] = ND_OPT_TARGET_LL;
    bytes[opt + 1] = 1;
    for (let i = 0; i < 6; i++) bytes[opt + 2 + i] = pb[own + i]!;
    setIcmpv6Checksum(bytes, ip, icmp, ND_MSG_LEN + ND_OPT_LL_LEN);
    b.outPort[slot] = port;
    return E_TX;
  }

  /** Whether bytes[at..at+16] is in this host's underlay /64, or the uplink's link-local address. */
  private ownUnderlay(bytes: Uint8Array, at: number, pb: Uint8Array, own: number): boolean {
    const prefix = this.ctx.fwd.settings.underlayPrefix;
    let inPrefix = true;
    for (let i = 0; i < 8; i++) if (bytes[at + i] !== prefix[i]) inPrefix = false;
    if (inPrefix) return true;
    return bytes[at] === 0xfe && bytes[at + 1] === 0x80 && bytes[at + 2] === 0 && bytes[at + 3] === 0
      && bytes[at + 4] === 0 && bytes[at + 5] === 0 && bytes[at + 6] === 0 && bytes[at + 7] === 0
      && bytes[at + 8] === (pb[own]! ^ 2) && bytes[at + 9] === pb[own + 1] && bytes[at + 10] === pb[own + 2]
      && bytes[at + 11] === 0xff && bytes[at + 12] === 0xfe && bytes[at + 13] === pb[own + 3]
      && bytes[at + 14] === pb[own + 4] && bytes[at + 15] === pb[own + 5];
  }
}

/** Writes the EUI-64 link-local address of `mac` (at mac[off..]) to dst[at..at+16]. */
export function linkLocalOf(mac: Uint8Array, off: number, dst: Uint8Array, at: number): void {
  dst[at] = 0xfe;
  dst[at + 1] = 0x80;
  for (let i = 2; i < 8; i++) dst[at + i] = 0;
  dst[at + 8] = mac[off]! ^ 2;
  dst[at + 9] = mac[off + 1]!;
  dst[at + 10] = mac[off + 2]!;
  dst[at + 11] = 0xff;
  dst[at + 12] = 0xfe;
  dst[at + 13] = mac[off + 3]!;
  dst[at + 14] = mac[off + 4]!;
  dst[at + 15] = mac[off + 5]!;
}

