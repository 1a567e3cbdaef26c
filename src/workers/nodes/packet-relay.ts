// packet_relay: tunnelled IPv4 to a NAT address (local or a neighbour's) that is no reply to a flow
// of ours, and echo requests to a load balancer's address (upstream's packet_relay node). An ICMP
// or ICMPv6 echo request is answered from the address it was sent to; a packet for a port another
// host owns (a neighbour NAT range) is tunnelled on to that host, unchanged inside; anything else is dropped (upstream: a premature packet for network NAT). The
// answer or relayed packet leaves by the uplink it came in on, from this host's underlay address.
// Budget: a neighbour scan per packet (relayed flows are never cached: a deleted range stops
// relaying at once).
import type { PacketBatch } from '../../packet/batch.js';
import { PF_ENCAP, PF_IPV6 } from '../../packet/batch.js';
import { DropReason } from '../../packet/drop-reasons.js';
import {
  ETH_HLEN, ICMP_CSUM, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_ID, ICMP_TYPE, ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, IPPROTO_ICMP,
  IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, IPV4_DST, IPV4_SRC, IPV6_DST, IPV6_SRC, UDP_DPORT,
} from '../../packet/headers.js';
import { csumReplace16 } from '../../packet/nat.js';
import { drop, GraphNode } from '../graph.js';
import type { Forwarding, NodeContext } from '../node-context.js';

const E_ENCAP = 1;

export class PacketRelayNode extends GraphNode {
  readonly name = 'packet_relay';
  readonly edges: readonly string[] = ['drop', 'ipip_encap'];
  private readonly fwd: Forwarding;

  constructor(ctx: NodeContext) {
    super();
    this.fwd = ctx.fwd;
  }

  process(b: PacketBatch, slot: number): number {
    const dv = b.dv;
    const ip = b.start[slot]! + ETH_HLEN;
    const l4 = b.start[slot]! + b.l4[slot]!;
    const proto = b.proto[slot]!;
    if ((b.flags[slot]! & PF_IPV6) !== 0) {
      // a load balancer's IPv6 address: echo requests are answered, nothing else comes here
      if (proto !== IPPROTO_ICMPV6 || b.bytes[l4 + ICMP_TYPE] !== ICMPV6_ECHO_REQUEST) return drop(b, slot, DropReason.LB_NO_TARGET);
      return this.answer(b, slot, ip + IPV6_SRC, ip + IPV6_DST, 16, l4, ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY);
    }
    let port: number;
    if (proto === IPPROTO_ICMP) {
      if (b.bytes[l4 + ICMP_TYPE] === ICMP_ECHO_REQUEST) {
        return this.answer(b, slot, ip + IPV4_SRC, ip + IPV4_DST, 4, l4, ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY);
      }
      port = dv.getUint16(l4 + ICMP_ID);
    } else if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
      port = dv.getUint16(l4 + UDP_DPORT);
    } else {
      return drop(b, slot, DropReason.NAT_NO_FLOW);
    }
    if (this.fwd.nat.findNeighbor(b.vni[slot]!, dv.getUint32(ip + IPV4_DST), port, b.ulDv, slot * 16) < 0) {
      return drop(b, slot, DropReason.NAT_NO_FLOW);
    }
    return this.back(b, slot);
  }

  /**
   * Answers an echo request in place and sends it back: source and destination (`len` bytes at
   * `src` and `dst`) swapped, which leaves the IPv4 header's and the pseudo header's sums as they
   * are, and type `request` turned into `reply` with the ICMP checksum adjusted. The tunnel goes
   * back to where the request came from (ipip_decap left the outer source as b.ulDst).
   */
  private answer(b: PacketBatch, slot: number, src: number, dst: number, len: number, l4: number, request: number, reply: number): number {
    const dv = b.dv;
    for (let i = 0; i < len; i += 4) {
      const w = dv.getInt32(src + i);
      dv.setInt32(src + i, dv.getInt32(dst + i));
      dv.setInt32(dst + i, w);
    }
    b.bytes[l4 + ICMP_TYPE] = reply;
    csumReplace16(dv, l4 + ICMP_CSUM, request << 8, reply << 8);
    return this.back(b, slot);
  }

  /** Sends the packet tunnelled (to b.ulDst) out of the uplink it arrived on. */
  private back(b: PacketBatch, slot: number): number {
    b.outPort[slot] = b.inPort[slot]!;
    b.ulRef[slot] = 0;
    b.flags[slot] = b.flags[slot]! | PF_ENCAP;
    return E_ENCAP;
  }
}
