// ipip_encap: puts an overlay packet into IPv6 toward its nexthop: Ethernet to the underlay
// router (learned by neighbour discovery on the uplink; the uplink's own MAC until then, as
// upstream), IPv6 with hop limit 64, next header 4 (IPv4) or 41 (IPv6), source the underlay
// address of the interface the packet came from, destination the route's nexthop. The outer
// header has no checksum and the inner one is untouched, so nothing depends on offloads.
// Budget: ~25 ns.
import type { PacketBatch } from '../../packet/batch.js';
import { PF_IPV6 } from '../../packet/batch.js';
import { DropReason } from '../../packet/drop-reasons.js';
import {
  ETH_DST, ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV6, IPPROTO_IPIP, IPPROTO_IPV6, IPV6_DST, IPV6_HLEN,
  IPV6_NEXT, IPV6_SRC, IPV6_VTC_FLOW,
} from '../../packet/headers.js';
import { nexthopWord } from '../../tables/lpm-core.js';
import { B_UNDERLAY, type PortTable } from '../../tables/port-table.js';
import { drop, GraphNode, TX_EDGE } from '../graph.js';
import type { NodeContext } from '../node-context.js';

const E_TX = 1;
/** Upstream DP_IP6_HOP_LIMIT and DP_IP6_VTC_FLOW. */
export const UNDERLAY_HOP_LIMIT = 64;
export const UNDERLAY_VTC_FLOW = 0x60000000;

export class IpipEncapNode extends GraphNode {
  readonly name = 'ipip_encap';
  readonly edges: readonly string[] = ['drop', TX_EDGE];
  private readonly ports: PortTable;

  constructor(ctx: NodeContext) {
    super();
    this.ports = ctx.ports;
  }

  process(b: PacketBatch, slot: number): number {
    return encapsulate(this.ports, b, slot) ? E_TX : drop(b, slot, DropReason.NO_ROOM);
  }
}

/**
 * Prepends Ethernet + IPv6 toward b.ulDst[slot] out of uplink b.outPort[slot], from the underlay
 * address of the packet's in port. False if the headroom is too small (nothing changed).
 */
export function encapsulate(ports: PortTable, b: PacketBatch, slot: number): boolean {
  const innerLen = b.len[slot]! - ETH_HLEN;
  if (!b.prepend(slot, IPV6_HLEN)) return false;
  const s = b.start[slot]!;
  const dv = b.dv;
  writeUnderlay(ports, dv, s, b.outPort[slot]!, b.inPort[slot]!, innerLen, (b.flags[slot]! & PF_IPV6) !== 0);
  const ul = b.ulDv;
  const o = slot * 16;
  for (let i = 0; i < 16; i += 4) dv.setInt32(s + ETH_HLEN + IPV6_DST + i, ul.getInt32(o + i));
  return true;
}

/**
 * Writes the Ethernet header toward `out` (an uplink: its router) and the outer IPv6 header but its
 * destination at frame offset `s`: source the underlay address of `inPort` (the VM's interface),
 * payload `innerLen` bytes of an IPv4 (or, innerV6, IPv6) packet.
 */
export function writeUnderlay(ports: PortTable, dv: DataView, s: number, out: number, inPort: number,
  innerLen: number, innerV6: boolean): void {
  ports.writeEthToVm(out, dv, s + ETH_DST);
  const ip = s + ETH_HLEN;
  // the Ethernet type and the IPv6 header's first 8 bytes in three stores instead of five: the
  // type with the version and traffic class, the rest of the flow label with the payload length,
  // the next header with the hop limit
  dv.setInt32(s + ETH_TYPE, (ETHERTYPE_IPV6 << 16) | (UNDERLAY_VTC_FLOW >>> 16));
  dv.setInt32(ip + IPV6_VTC_FLOW + 2, ((UNDERLAY_VTC_FLOW & 0xffff) << 16) | innerLen);
  dv.setUint16(ip + IPV6_NEXT, ((innerV6 ? IPPROTO_IPV6 : IPPROTO_IPIP) << 8) | UNDERLAY_HOP_LIMIT);
  // a byte copy, written out (V8 kept a loop of four with a stack check per turn) and little-endian
  // both ways (no byte swaps)
  const src = ports.at(inPort, B_UNDERLAY);
  const pdv = ports.dv;
  const to = ip + IPV6_SRC;
  dv.setInt32(to, pdv.getInt32(src, true), true);
  dv.setInt32(to + 4, pdv.getInt32(src + 4, true), true);
  dv.setInt32(to + 8, pdv.getInt32(src + 8, true), true);
  dv.setInt32(to + 12, pdv.getInt32(src + 12, true), true);
}

/**
 * Writes route record r's nexthop, from a route table's `fields`, as the outer destination at frame
 * offset `to`: a byte copy, written out (a loop of four kept a stack check per turn) and
 * little-endian both ways. A record beyond the table writes zeros.
 */
export function writeNexthop(dv: DataView, to: number, fields: Int32Array, r: number): void {
  const at = nexthopWord(r);
  dv.setInt32(to, fields[at]!, true);
  dv.setInt32(to + 4, fields[at + 1]!, true);
  dv.setInt32(to + 8, fields[at + 2]!, true);
  dv.setInt32(to + 12, fields[at + 3]!, true);
}
