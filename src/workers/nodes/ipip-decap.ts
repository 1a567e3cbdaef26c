// ipip_decap: a tunnelled packet from an uplink. Its outer destination must be one of our VNF
// addresses (the VNF table gives the VNI, the kind of address and the VM port); the outer Ethernet
// and IPv6 headers go and an Ethernet header toward that VM takes their place (a load balancer's
// address has no VM: the lb node decides where its packets go). The inner header is
// validated as cls validates a VM's packet. Budget: ~30 ns (one VNF probe).
import type { PacketBatch } from '../../packet/batch.js';
import { PF_DECAPPED, PF_IPV6 } from '../../packet/batch.js';
import { DropReason } from '../../packet/drop-reasons.js';
import {
  ETH_DST, ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_IPIP, IPV4_HLEN, IPV4_TOTAL_LEN, IPV4_VER_IHL,
  IPV6_DST, IPV6_HLEN, IPV6_NEXT, IPV6_PAYLOAD_LEN, IPV6_SRC,
} from '../../packet/headers.js';
import { PortState, type PortTable } from '../../tables/port-table.js';
import { VnfType } from '../../actors/underlay.js';
import type { VnfTable } from '../../tables/vnf-table.js';
import { drop, GraphNode } from '../graph.js';
import type { NodeContext } from '../node-context.js';

const E_CONNTRACK = 1;
/** The out port of a packet no VM port is the destination of (yet): no port's flows own it. */
const NO_PORT = 0xffff;

export class IpipDecapNode extends GraphNode {
  readonly name = 'ipip_decap';
  readonly edges: readonly string[] = ['drop', 'conntrack'];
  private readonly ports: PortTable;
  private readonly vnf: VnfTable;

  constructor(ctx: NodeContext) {
    super();
    this.ports = ctx.ports;
    this.vnf = ctx.fwd.vnf;
  }

  process(b: PacketBatch, slot: number): number {
    const s = b.start[slot]!;
    const len = b.len[slot]!;
    const dv = b.dv;
    const bytes = b.bytes;
    const outer = s + ETH_HLEN;
    const vnf = this.vnf;
    if (!vnf.lookup(dv, outer + IPV6_DST)) return drop(b, slot, DropReason.NO_VNF);
    const port = vnf.port;
    // a load balancer's address belongs to no VM port (the lb node sends its packets on)
    const lb = vnf.type === VnfType.LB;
    if (!lb && (port < 0 || this.ports.state(port) !== PortState.VF_ACTIVE)) return drop(b, slot, DropReason.UNSUPPORTED_VNF);
    const v4 = bytes[outer + IPV6_NEXT] === IPPROTO_IPIP;
    const inner = outer + IPV6_HLEN;
    const avail = len - ETH_HLEN - IPV6_HLEN;
    let innerLen: number;
    if (v4) {
      if (avail < IPV4_HLEN) return drop(b, slot, DropReason.TRUNCATED);
      const vihl = bytes[inner + IPV4_VER_IHL]!;
      const ihl = (vihl & 0x0f) * 4;
      innerLen = dv.getUint16(inner + IPV4_TOTAL_LEN);
      if (vihl >> 4 !== 4 || ihl < IPV4_HLEN || innerLen < ihl) return drop(b, slot, DropReason.MALFORMED);
    } else {
      if (avail < IPV6_HLEN) return drop(b, slot, DropReason.TRUNCATED);
      if (bytes[inner]! >> 4 !== 6) return drop(b, slot, DropReason.MALFORMED);
      innerLen = IPV6_HLEN + dv.getUint16(inner + IPV6_PAYLOAD_LEN);
    }
    if (innerLen > avail) return drop(b, slot, DropReason.TRUNCATED);
    // the outer source, where an answer of ours goes back to (packet_relay's echo replies)
    const ul = b.ulDv;
    for (let i = 0; i < 16; i += 4) ul.setInt32(slot * 16 + i, dv.getInt32(outer + IPV6_SRC + i));
    // the new Ethernet header sits right in front of the inner packet
    b.strip(slot, IPV6_HLEN);
    b.len[slot] = ETH_HLEN + innerLen;
    const ns = b.start[slot]!;
    if (!lb) this.ports.writeEthToVm(port, dv, ns + ETH_DST);
    dv.setUint16(ns + ETH_TYPE, v4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
    b.vni[slot] = vnf.vni;
    b.vnfType[slot] = vnf.type;
    b.outPort[slot] = lb ? NO_PORT : port;
    b.flags[slot] = v4 ? (b.flags[slot]! & ~PF_IPV6) | PF_DECAPPED : b.flags[slot]! | PF_IPV6 | PF_DECAPPED;
    return E_CONNTRACK;
  }
}
