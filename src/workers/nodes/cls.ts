// cls: classifies every received frame by port role and headers (ARP, ND, IPv4/IPv6, tunnel) and
// validates the L2/L3 headers once for every later node. Budget: ~20 ns, a few byte reads.
import type { PacketBatch } from '../../packet/batch.js';
import { PF_FROM_PF, PF_IPV6 } from '../../packet/batch.js';
import { DropReason } from '../../packet/drop-reasons.js';
import {
  ARP_HLEN, ARP_HTYPE, ARP_LEN, ARP_PLEN, ARP_PTYPE, ETH_HLEN, ETH_TYPE, ETHERTYPE_ARP, ETHERTYPE_IPV4,
  ETHERTYPE_IPV6, ICMPV6_ECHO_REPLY, ICMPV6_NA, ICMPV6_NS, ICMPV6_RA, ICMPV6_RS, IPPROTO_ICMPV6, IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_TCP,
  IPPROTO_UDP, IPV4_HLEN, IPV4_TOTAL_LEN, IPV4_VER_IHL, IPV6_HLEN, IPV6_NEXT, IPV6_PAYLOAD_LEN, IPV6_SRC,
} from '../../packet/headers.js';
import { PortState, type PortTable } from '../../tables/port-table.js';
import type { VirtsvcTable } from '../../tables/virtsvc-table.js';
import { drop, GraphNode } from '../graph.js';
import type { NodeContext } from '../node-context.js';

const EDGES = ['drop', 'arp', 'ipv6_nd', 'conntrack', 'ipip_decap', 'virtsvc'] as const;
const E_ARP = 1;
const E_ND = 2;
const E_CONNTRACK = 3;
const E_DECAP = 4;
const E_VIRTSVC = 5;

export class ClsNode extends GraphNode {
  readonly name = 'cls';
  readonly edges: readonly string[];
  private readonly ports: PortTable;
  private readonly virtsvc: VirtsvcTable;

  /**
   * @param withDecap whether the graph has the nodes of the uplinks' traffic (ipip_decap, and
   *   virtsvc for virtual services' answers)
   */
  constructor(ctx: NodeContext, withDecap: boolean) {
    super();
    this.ports = ctx.ports;
    this.virtsvc = ctx.fwd.virtsvc;
    this.edges = withDecap ? EDGES : EDGES.slice(0, 4);
  }

  process(b: PacketBatch, slot: number): number {
    const len = b.len[slot]!;
    const s = b.start[slot]!;
    const dv = b.dv;
    const bytes = b.bytes;
    if (len < ETH_HLEN) return drop(b, slot, DropReason.TRUNCATED);
    const port = b.inPort[slot]!;
    const state = this.ports.state(port);
    const type = dv.getUint16(s + ETH_TYPE);
    b.etherType[slot] = type;
    b.l3[slot] = ETH_HLEN;
    const fromPf = state === PortState.PF;
    if (!fromPf && state !== PortState.VF_ACTIVE) return drop(b, slot, DropReason.PORT_NOT_ACTIVE);
    if (fromPf) b.flags[slot] = b.flags[slot]! | PF_FROM_PF;
    else b.vni[slot] = this.ports.vni(port);

    if (type === ETHERTYPE_ARP) {
      if (len < ETH_HLEN + ARP_LEN) return drop(b, slot, DropReason.TRUNCATED);
      const a = s + ETH_HLEN;
      if (dv.getUint16(a + ARP_HTYPE) !== 1 || dv.getUint16(a + ARP_PTYPE) !== ETHERTYPE_IPV4
        || bytes[a + ARP_HLEN] !== 6 || bytes[a + ARP_PLEN] !== 4) return drop(b, slot, DropReason.MALFORMED);
      return E_ARP;
    }
    if (type === ETHERTYPE_IPV4) {
      if (fromPf) return drop(b, slot, DropReason.FROM_PF);
      if (len < ETH_HLEN + IPV4_HLEN) return drop(b, slot, DropReason.TRUNCATED);
      const vihl = bytes[s + ETH_HLEN + IPV4_VER_IHL]!;
      const ihl = (vihl & 0x0f) * 4;
      const total = dv.getUint16(s + ETH_HLEN + IPV4_TOTAL_LEN);
      if (vihl >> 4 !== 4 || ihl < IPV4_HLEN || total < ihl) return drop(b, slot, DropReason.MALFORMED);
      if (total > len - ETH_HLEN) return drop(b, slot, DropReason.TRUNCATED);
      // trailing Ethernet padding is not part of the packet
      b.len[slot] = ETH_HLEN + total;
      return E_CONNTRACK;
    }
    if (type === ETHERTYPE_IPV6) {
      if (len < ETH_HLEN + IPV6_HLEN) return drop(b, slot, DropReason.TRUNCATED);
      const ip = s + ETH_HLEN;
      if (bytes[ip]! >> 4 !== 6) return drop(b, slot, DropReason.MALFORMED);
      const plen = dv.getUint16(ip + IPV6_PAYLOAD_LEN);
      if (plen > len - ETH_HLEN - IPV6_HLEN) return drop(b, slot, DropReason.TRUNCATED);
      b.len[slot] = ETH_HLEN + IPV6_HLEN + plen;
      b.flags[slot] = b.flags[slot]! | PF_IPV6;
      const next = bytes[ip + IPV6_NEXT]!;
      const isNd = next === IPPROTO_ICMPV6 && plen >= 4
        && (bytes[ip + IPV6_HLEN] === ICMPV6_NS || bytes[ip + IPV6_HLEN] === ICMPV6_RS);
      if (fromPf) {
        if ((next === IPPROTO_IPIP || next === IPPROTO_IPV6) && this.edges.length > E_DECAP) return E_DECAP;
        // an answer of a virtual service: TCP or UDP from its address and port (upstream cls)
        if ((next === IPPROTO_TCP || next === IPPROTO_UDP) && this.virtsvc.count > 0 && plen >= 4 && this.edges.length > E_VIRTSVC
          && this.virtsvc.byService(next, dv, ip + IPV6_SRC, dv.getUint16(ip + IPV6_HLEN)) >= 0) return E_VIRTSVC;
        // the host's own neighbour discovery with the underlay router (and replies to its probes)
        if (next === IPPROTO_ICMPV6 && plen >= 4) {
          const t = bytes[ip + IPV6_HLEN]!;
          if (t === ICMPV6_NS || t === ICMPV6_NA || t === ICMPV6_RA || t === ICMPV6_ECHO_REPLY) return E_ND;
        }
        return drop(b, slot, DropReason.FROM_PF);
      }
      return isNd ? E_ND : E_CONNTRACK;
    }
    return drop(b, slot, DropReason.UNSUPPORTED_ETHERTYPE);
  }
}
