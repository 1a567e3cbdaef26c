// conntrack: parses L4 once (offset, protocol), hands DHCP/DHCPv6 to the local servers and sends
// TCP/UDP/ICMP/ICMPv6 on to routing. Budget: ~15 ns. Flow tracking state arrives with issue #4.
import type { PacketBatch } from '../../packet/batch.js';
import { PF_IPV6 } from '../../packet/batch.js';
import { DropReason } from '../../packet/drop-reasons.js';
import {
  DHCP_SERVER_PORT, DHCPV6_SERVER_PORT, ETH_HLEN, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP,
  IPV4_FRAG, IPV4_PROTO, IPV4_VER_IHL, IPV6_HLEN, IPV6_NEXT, UDP_DPORT, UDP_HLEN,
} from '../../packet/headers.js';
import { drop, GraphNode } from '../graph.js';

const E_DHCP = 1;
const E_DHCPV6 = 2;
const E_IPV4 = 3;
const E_IPV6 = 4;

/** Minimal L4 header bytes needed per protocol before a later node may read ports or types. */
const TCP_MIN = 20;
const ICMP_MIN = 8;

export class ConntrackNode extends GraphNode {
  readonly name = 'conntrack';
  readonly edges: readonly string[] = ['drop', 'dhcp', 'dhcpv6', 'ipv4_lookup', 'ipv6_lookup'];

  process(b: PacketBatch, slot: number): number {
    const s = b.start[slot]!;
    const len = b.len[slot]!;
    const bytes = b.bytes;
    const v6 = (b.flags[slot]! & PF_IPV6) !== 0;
    let l4: number;
    let proto: number;
    if (v6) {
      l4 = ETH_HLEN + IPV6_HLEN;
      proto = bytes[s + ETH_HLEN + IPV6_NEXT]!;
    } else {
      l4 = ETH_HLEN + (bytes[s + ETH_HLEN + IPV4_VER_IHL]! & 0x0f) * 4;
      proto = bytes[s + ETH_HLEN + IPV4_PROTO]!;
      // non-first fragments carry no L4 header
      if ((b.dv.getUint16(s + ETH_HLEN + IPV4_FRAG) & 0x1fff) !== 0) return drop(b, slot, DropReason.UNSUPPORTED_PROTOCOL);
    }
    b.l4[slot] = l4;
    b.proto[slot] = proto;
    const avail = len - l4;
    if (proto === IPPROTO_UDP) {
      if (avail < UDP_HLEN) return drop(b, slot, DropReason.TRUNCATED);
      const dport = b.dv.getUint16(s + l4 + UDP_DPORT);
      if (!v6 && dport === DHCP_SERVER_PORT) return E_DHCP;
      if (v6 && dport === DHCPV6_SERVER_PORT) return E_DHCPV6;
    } else if (proto === IPPROTO_TCP) {
      if (avail < TCP_MIN) return drop(b, slot, DropReason.TRUNCATED);
    } else if ((proto === IPPROTO_ICMP && !v6) || (proto === IPPROTO_ICMPV6 && v6)) {
      if (avail < ICMP_MIN) return drop(b, slot, DropReason.TRUNCATED);
    } else {
      return drop(b, slot, DropReason.UNSUPPORTED_PROTOCOL);
    }
    return v6 ? E_IPV6 : E_IPV4;
  }
}
