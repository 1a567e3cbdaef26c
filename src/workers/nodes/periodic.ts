// periodic: builders for the packets the service sends on VM ports on its own (gratuitous ARP,
// unsolicited NA, RA) into a freshly allocated slot, and upstream's schedule. Budget: ~100 ns each.
import { PF_IPV6, type PacketBatch } from '../../packet/batch.js';
import { setIcmpv6Checksum } from '../../packet/checksum.js';
import {
  ARP_LEN, ARP_OP_REQUEST, ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, GATEWAY_IPV4, GATEWAY_IPV6,
  ICMPV6_NA, IPPROTO_ICMPV6, IPV6_HLEN,
} from '../../packet/headers.js';
import { B_OWN_MAC, PORT_HAS_IPV6, PortState, type PortTable } from '../../tables/port-table.js';
import type { NodeContext } from '../node-context.js';
import { arpCycleNeeded } from './arp.js';
import {
  ALL_NODES_IPV6, linkLocalOf, NA_FLAG_OVERRIDE, NA_FLAG_ROUTER, ND_MSG_LEN, ND_OPT_LL_LEN, ND_OPT_SOURCE_LL, RA_MSG_LEN, writeRa,
} from './ipv6-nd.js';

/**
 * Upstream's maintenance timer (src/dp_timers.c): a cycle every 5 s; once gRPC Initialize has been
 * called, 5 more 5-second cycles, then every 30 s. The first cycle runs 5 s after start. Each cycle
 * sends, on every VM port with an interface: with --enable-ipv6-overlay an RA and an unsolicited NA
 * to ports that have an IPv6 address, then a gratuitous ARP to ports that have an IPv4 address
 * (all RAs first, then all NAs, then all GARPs, ports in id order: src/dp_periodic_msg.c).
 */
export const PERIODIC_FAST_INTERVAL_MS = 5000;
/** Fast cycles counted after initialization before switching to the slow interval. */
export const PERIODIC_FAST_CYCLES = 5;
export const PERIODIC_SLOW_INTERVAL_MS = 30000;

/** Frame sizes: Ethernet + ARP; Ethernet + IPv6 + NA (no option); Ethernet + IPv6 + RA + SLLA. */
export const GARP_FRAME_LEN = ETH_HLEN + ARP_LEN;
export const UNSOLICITED_NA_FRAME_LEN = ETH_HLEN + IPV6_HLEN + ND_MSG_LEN;
export const RA_FRAME_LEN = ETH_HLEN + IPV6_HLEN + RA_MSG_LEN + ND_OPT_LL_LEN;

/** All-nodes multicast MAC 33:33:00:00:00:01. */
export const ALL_NODES_MAC = Uint8Array.of(0x33, 0x33, 0, 0, 0, 1);

/**
 * Upstream's back-off of the maintenance timer: call `next` after each cycle with whether gRPC
 * Initialize has happened; it returns the milliseconds until the next cycle.
 */
export class PeriodicSchedule {
  private fastAfterInit = 0;

  next(initialized: boolean): number {
    if (this.fastAfterInit >= PERIODIC_FAST_CYCLES) return PERIODIC_SLOW_INTERVAL_MS;
    if (initialized) this.fastAfterInit++;
    return this.fastAfterInit >= PERIODIC_FAST_CYCLES ? PERIODIC_SLOW_INTERVAL_MS : PERIODIC_FAST_INTERVAL_MS;
  }
}

/** Whether a cycle sends a gratuitous ARP on `port`: a VM port with an interface that has IPv4. */
export function garpWanted(ctx: NodeContext, port: number): boolean {
  const ports = ctx.ports;
  return ports.state(port) === PortState.VF_ACTIVE && ports.ipv4(port) !== 0;
}

/** Whether a cycle sends an RA and an unsolicited NA on `port`: IPv6 overlay on, interface with IPv6. */
export function ndWanted(ctx: NodeContext, port: number): boolean {
  const ports = ctx.ports;
  return ctx.settings.ipv6Overlay && ports.state(port) === PortState.VF_ACTIVE
    && (ports.flags(port) & PORT_HAS_IPV6) !== 0;
}

/**
 * Gratuitous ARP request on `port`: broadcast, from the port MAC, sender 169.254.0.1. The target
 * is 169.254.0.1 too, except while the port waits for the VM's first ARP, when it asks for the VM's
 * own address so that the VM's answer teaches its MAC (see ArpNode).
 * Returns false (slot untouched) if the port gets no GARP or the buffer is too small.
 */
export function buildGarp(b: PacketBatch, slot: number, port: number, ctx: NodeContext): boolean {
  if (!garpWanted(ctx, port) || !b.setLength(slot, GARP_FRAME_LEN)) return false;
  const ports = ctx.ports;
  const bytes = b.bytes;
  const dv = b.dv;
  const s = b.start[slot]!;
  for (let i = 0; i < 6; i++) bytes[s + i] = 0xff;
  copyOwnMac(ports, port, bytes, s + 6);
  dv.setUint16(s + 12, ETHERTYPE_ARP);
  const a = s + ETH_HLEN;
  dv.setUint16(a, 1);
  dv.setUint16(a + 2, ETHERTYPE_IPV4);
  bytes[a + 4] = 6;
  bytes[a + 5] = 4;
  dv.setUint16(a + 6, ARP_OP_REQUEST);
  copyOwnMac(ports, port, bytes, a + 8);
  dv.setUint32(a + 14, GATEWAY_IPV4);
  for (let i = 0; i < 6; i++) bytes[a + 18 + i] = 0;
  dv.setUint32(a + 24, arpCycleNeeded(ports, port) ? ports.ipv4(port) : GATEWAY_IPV4);
  setMeta(b, slot, port, ETHERTYPE_ARP, 0, 0);
  return true;
}

/**
 * Unsolicited neighbour advertisement of fe80::1 on `port`: to ff02::1 / 33:33:00:00:00:01 from the
 * port MAC, hop limit 255, router and override flags (not solicited), no link-layer option.
 * Returns false (slot untouched) if the port gets no NA or the buffer is too small.
 */
export function buildUnsolicitedNa(b: PacketBatch, slot: number, port: number, ctx: NodeContext): boolean {
  if (!ndWanted(ctx, port) || !b.setLength(slot, UNSOLICITED_NA_FRAME_LEN)) return false;
  const bytes = b.bytes;
  const s = b.start[slot]!;
  const ip = writeEthIpv6(b, s, port, ctx.ports, ND_MSG_LEN);
  const icmp = ip + IPV6_HLEN;
  for (let i = 0; i < 8; i++) bytes[icmp + i] = 0;
  bytes[icmp] = ICMPV6_NA;
  bytes[icmp + 4] = NA_FLAG_ROUTER | NA_FLAG_OVERRIDE;
  for (let i = 0; i < 16; i++) bytes[icmp + 8 + i] = GATEWAY_IPV6[i]!;
  setIcmpv6Checksum(bytes, ip, icmp, ND_MSG_LEN);
  setMeta(b, slot, port, ETHERTYPE_IPV6, ETH_HLEN + IPV6_HLEN, IPPROTO_ICMPV6);
  return true;
}

/**
 * Router advertisement on `port`: to ff02::1 / 33:33:00:00:00:01 from fe80::1 and the port MAC,
 * the same RA the ipv6_nd node sends for an RS (writeRa), source link-layer option = port MAC.
 * Returns false (slot untouched) if the port gets no RA or the buffer is too small.
 */
export function buildRa(b: PacketBatch, slot: number, port: number, ctx: NodeContext): boolean {
  if (!ndWanted(ctx, port) || !b.setLength(slot, RA_FRAME_LEN)) return false;
  const ports = ctx.ports;
  const bytes = b.bytes;
  const s = b.start[slot]!;
  const icmpLen = RA_MSG_LEN + ND_OPT_LL_LEN;
  const ip = writeEthIpv6(b, s, port, ports, icmpLen);
  const icmp = ip + IPV6_HLEN;
  writeRa(bytes, icmp, ports.bytes, ports.at(port, B_OWN_MAC));
  setIcmpv6Checksum(bytes, ip, icmp, icmpLen);
  setMeta(b, slot, port, ETHERTYPE_IPV6, ETH_HLEN + IPV6_HLEN, IPPROTO_ICMPV6);
  return true;
}

/** Ethernet to all-nodes from the port MAC and an IPv6 header fe80::1 -> ff02::1; returns its offset. */
function writeEthIpv6(b: PacketBatch, s: number, port: number, ports: PortTable, payloadLen: number): number {
  const bytes = b.bytes;
  const dv = b.dv;
  for (let i = 0; i < 6; i++) bytes[s + i] = ALL_NODES_MAC[i]!;
  copyOwnMac(ports, port, bytes, s + 6);
  dv.setUint16(s + 12, ETHERTYPE_IPV6);
  const ip = s + ETH_HLEN;
  dv.setUint32(ip, 0x60000000);
  dv.setUint16(ip + 4, payloadLen);
  bytes[ip + 6] = IPPROTO_ICMPV6;
  bytes[ip + 7] = 255;
  for (let i = 0; i < 16; i++) {
    bytes[ip + 8 + i] = GATEWAY_IPV6[i]!;
    bytes[ip + 24 + i] = ALL_NODES_IPV6[i]!;
  }
  return ip;
}

function copyOwnMac(ports: PortTable, port: number, dst: Uint8Array, off: number): void {
  const at = ports.at(port, B_OWN_MAC);
  const pb = ports.bytes;
  for (let i = 0; i < 6; i++) dst[off + i] = pb[at + i]!;
}

function setMeta(b: PacketBatch, slot: number, port: number, etherType: number, l4: number, proto: number): void {
  b.outPort[slot] = port;
  b.etherType[slot] = etherType;
  b.l3[slot] = ETH_HLEN;
  b.l4[slot] = l4;
  b.proto[slot] = proto;
  if (etherType === ETHERTYPE_IPV6) b.flags[slot] = b.flags[slot]! | PF_IPV6;
}

/** All-routers multicast ff02::2 and its MAC 33:33:00:00:00:02 (router probes on uplinks). */
export const ALL_ROUTERS_IPV6 = Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2);
const ALL_ROUTERS_MAC = Uint8Array.of(0x33, 0x33, 0, 0, 0, 2);
/** Identifier of our echo probes (the router's reply teaches its MAC; ipv6_nd consumes it). */
export const ROUTER_PROBE_ID = 0x6470;
const ICMPV6_RS_TYPE = 133;
const ICMPV6_ECHO_REQUEST_TYPE = 128;
/** RS: 8-byte header + source link-layer option; echo: 8-byte header. */
export const RS_FRAME_LEN = ETH_HLEN + IPV6_HLEN + 8 + ND_OPT_LL_LEN;
export const ECHO_PROBE_FRAME_LEN = ETH_HLEN + IPV6_HLEN + 8;

/** Whether a cycle probes for the underlay router on `port` (every uplink, every cycle). */
export function routerProbeWanted(ctx: NodeContext, port: number): boolean {
  return ctx.ports.state(port) === PortState.PF;
}

/**
 * A router probe on uplink `port`, from its link-local address to ff02::2: a router solicitation
 * (kind 0; routers that advertise answer with an RA) or an ICMPv6 echo request (kind 1; every IPv6
 * router answers it, Linux included). Either answer carries the router's MAC, which ipv6_nd learns.
 */
export function buildRouterProbe(b: PacketBatch, slot: number, port: number, ctx: NodeContext, kind: 0 | 1): boolean {
  const frameLen = kind === 0 ? RS_FRAME_LEN : ECHO_PROBE_FRAME_LEN;
  if (!routerProbeWanted(ctx, port) || !b.setLength(slot, frameLen)) return false;
  const ports = ctx.ports;
  const bytes = b.bytes;
  const dv = b.dv;
  const s = b.start[slot]!;
  for (let i = 0; i < 6; i++) bytes[s + i] = ALL_ROUTERS_MAC[i]!;
  copyOwnMac(ports, port, bytes, s + 6);
  dv.setUint16(s + 12, ETHERTYPE_IPV6);
  const ip = s + ETH_HLEN;
  const icmpLen = frameLen - ETH_HLEN - IPV6_HLEN;
  dv.setUint32(ip, 0x60000000);
  dv.setUint16(ip + 4, icmpLen);
  bytes[ip + 6] = IPPROTO_ICMPV6;
  bytes[ip + 7] = 255;
  linkLocalOf(ports.bytes, ports.at(port, B_OWN_MAC), bytes, ip + 8);
  for (let i = 0; i < 16; i++) bytes[ip + 24 + i] = ALL_ROUTERS_IPV6[i]!;
  const icmp = ip + IPV6_HLEN;
  for (let i = 0; i < 8; i++) bytes[icmp + i] = 0;
  if (kind === 0) {
    bytes[icmp] = ICMPV6_RS_TYPE;
    bytes[icmp + 8] = ND_OPT_SOURCE_LL;
    bytes[icmp + 9] = 1;
    copyOwnMac(ports, port, bytes, icmp + 10);
  } else {
    bytes[icmp] = ICMPV6_ECHO_REQUEST_TYPE;
    dv.setUint16(icmp + 4, ROUTER_PROBE_ID);
    dv.setUint16(icmp + 6, 1);
  }
  setIcmpv6Checksum(bytes, ip, icmp, icmpLen);
  setMeta(b, slot, port, ETHERTYPE_IPV6, ETH_HLEN + IPV6_HLEN, IPPROTO_ICMPV6);
  return true;
}
