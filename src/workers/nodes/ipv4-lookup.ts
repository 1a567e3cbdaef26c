// ipv4_lookup: the per-VNI longest-prefix route of an overlay IPv4 packet. A route to a local VM
// gets the Ethernet header toward it; a route via the underlay gets its nexthop address and an
// uplink (WCMP across pf0/pf1 by flow), and ipip_encap adds the outer headers. A default route
// marks the packet south-north (snat). Budget: ~40 ns (LPM probes).
import type { PacketBatch } from '../../packet/batch.js';
import { PF_ENCAP, PF_FROM_PF, PF_IPV6, PF_SOUTH_NORTH } from '../../packet/batch.js';
import { DropReason } from '../../packet/drop-reasons.js';
import {
  ETH_DST, ETH_HLEN, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, IPPROTO_TCP, IPPROTO_UDP, IPV4_DST,
} from '../../packet/headers.js';
import { K_DST, K_PORTS, K_PROTO, K_SRC, K_VNI, KEY_STRIDE, R_KEY, RECORD, ulRef } from '../../tables/flow-table.js';
import { upstreamFlowHash } from '../../packet/upstream-hash.js';
import type { LpmCore } from '../../tables/lpm-core.js';
import { PortState } from '../../tables/port-table.js';
import { drop, GraphNode } from '../graph.js';
import type { Forwarding, NodeContext } from '../node-context.js';
import { VnfType } from '../../actors/underlay.js';

const E_SNAT = 1;

export class Ipv4LookupNode extends GraphNode {
  readonly name = 'ipv4_lookup';
  readonly edges: readonly string[] = ['drop', 'snat'];
  private readonly ctx: NodeContext;

  constructor(ctx: NodeContext) {
    super();
    this.ctx = ctx;
  }

  process(b: PacketBatch, slot: number): number {
    const fwd = this.ctx.fwd;
    const dst = b.dv.getUint32(b.start[slot]! + ETH_HLEN + IPV4_DST);
    const r = fwd.routes4.lookup(b.vni[slot]!, dst);
    if (r < 0) return drop(b, slot, DropReason.NO_ROUTE);
    return routeTo(this.ctx, fwd.routes4, r, b, slot);
  }
}

/**
 * Applies route r (of `table`) to the packet: local VM or underlay nexthop. IPv4 is spread over the
 * uplinks by --wcmp; IPv6 leaves by pf0, as upstream's (it installs IPv6 routes on pf0 only).
 */
export function routeTo(ctx: NodeContext, table: LpmCore, r: number, b: PacketBatch, slot: number): number {
  const fwd = ctx.fwd;
  const target = table.target(r);
  if (table.length(r) === 0) b.flags[slot] = b.flags[slot]! | PF_SOUTH_NORTH;
  if (target >= 0) {
    if (ctx.ports.state(target) !== PortState.VF_ACTIVE) return drop(b, slot, DropReason.NO_ROUTE);
    ctx.ports.writeEthToVm(target, b.dv, b.start[slot]! + ETH_DST);
    b.outPort[slot] = target;
    return E_SNAT;
  }
  if ((b.flags[slot]! & PF_FROM_PF) !== 0) return drop(b, slot, DropReason.PF_TO_PF);
  const multipath = fwd.settings.wcmp < 100 && (b.flags[slot]! & PF_IPV6) === 0;
  const out = multipath ? pickUplink(fwd, upstreamHashOf(ctx, b, slot)) : pickUplink(fwd, 0);
  if (out < 0) return drop(b, slot, DropReason.NO_UPLINK);
  table.copyNexthop(r, b.ulDst, slot * 16);
  b.ulRef[slot] = ulRef(r, table !== fwd.routes4);
  b.outPort[slot] = out;
  b.flags[slot] = b.flags[slot]! | PF_ENCAP;
  return E_SNAT;
}

const hashScratch = new Int32Array(11);

/**
 * Upstream's flow hash of an IPv4 packet (its WCMP choice must match upstream's for the same flow).
 * Upstream's key marks a VM's packet whose source interface has a NAT with the NAT VNF type
 * (dp_mark_vnf_type), so such flows hash differently. (Its LB-prefix mark, for a source that is one
 * of the port's LB target prefixes as a /32, is not reproduced.)
 */
function upstreamHashOf(ctx: NodeContext, b: PacketBatch, slot: number): number {
  const fwd = ctx.fwd;
  const rec = fwd.flows.rec;
  const key = b.flow[slot]! * RECORD + R_KEY + b.dir[slot]! * KEY_STRIDE;
  let proto = b.proto[slot]!;
  const at = b.start[slot]! + b.l4[slot]!;
  const dv = b.dv;
  const keyProto = rec[key + K_PROTO]! & 0xff;
  let ps: number;
  let pd: number;
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
    ps = dv.getUint16(at);
    pd = dv.getUint16(at + 2);
  } else if (keyProto === IPPROTO_TCP || keyProto === IPPROTO_UDP) {
    // an ICMP error travelling as a packet of the flow it quotes: upstream hashes the key it built
    // from the quoted packet, so it takes the flow's uplink
    proto = keyProto;
    ps = rec[key + K_PORTS]! >>> 16;
    pd = rec[key + K_PORTS]! & 0xffff;
  } else {
    // ICMP: the type and the echo identifier, both as the flow's key has them, so that every
    // packet of one side of a flow hashes alike (its cached decision holds for all of them):
    // echo (keyed by the identifier alone, request and reply in one flow, whatever echo type
    // icmpPorts took it for) the request's type on the side that began, the reply's on the other,
    // as upstream hashes well-behaved pings; other ICMP is keyed by type and code (its bytes 4-5
    // are no identifier)
    const t = b.bytes[at]!;
    const echo = t === ICMP_ECHO_REQUEST || t === ICMP_ECHO_REPLY || t === ICMPV6_ECHO_REQUEST || t === ICMPV6_ECHO_REPLY;
    ps = !echo ? t : b.dir[slot] === 0 ? ICMP_ECHO_REQUEST : ICMP_ECHO_REPLY;
    pd = rec[key + K_PORTS]! & 0xffff;
  }
  const owner = ctx.ports.findIpv4(rec[key + K_VNI]!, rec[key + K_SRC]!);
  const vnfType = owner >= 0 && ctx.ports.natIp(owner) !== 0 ? VnfType.NAT : 0;
  return upstreamFlowHash(hashScratch, false, proto, rec, key + K_SRC, rec, key + K_DST, ps, pd, vnfType, rec[key + K_VNI]!);
}

/**
 * The uplink for a flow: pf0, or with --wcmp below 100 a weighted choice by the flow's hash
 * (upstream dp_multipath_get_pf: a 10-entry table, round(wcmp / 10) entries for pf0, indexed by
 * upstream's flow hash).
 */
export function pickUplink(fwd: Forwarding, hash: number): number {
  const s = fwd.settings;
  if (s.wcmp >= 100 || s.pf1 < 0) return s.pf0;
  return (hash >>> 0) % 10 < Math.round(s.wcmp / 10) ? s.pf0 : s.pf1;
}
