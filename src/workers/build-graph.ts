/**
 * The node list of a worker's graph, in run order (a topological order of the edges). Every worker
 * builds the same graph over the same ports, so node names and counter positions agree and the
 * supervisor can sum counters by name.
 */
import { type GraphNode, SinkNode } from './graph.js';
import type { NodeContext } from './node-context.js';
import { ArpNode } from './nodes/arp.js';
import { ClsNode } from './nodes/cls.js';
import { ConntrackNode } from './nodes/conntrack.js';
import { DhcpNode } from './nodes/dhcp.js';
import { Dhcpv6Node } from './nodes/dhcpv6.js';
import { DnatNode } from './nodes/dnat.js';
import { FirewallNode } from './nodes/firewall.js';
import { IpipDecapNode } from './nodes/ipip-decap.js';
import { IpipEncapNode } from './nodes/ipip-encap.js';
import { LbNode } from './nodes/lb.js';
import { PacketRelayNode } from './nodes/packet-relay.js';
import { SnatNode } from './nodes/snat.js';
import { Ipv4LookupNode } from './nodes/ipv4-lookup.js';
import { Ipv6LookupNode } from './nodes/ipv6-lookup.js';
import { Ipv6NdNode } from './nodes/ipv6-nd.js';
import { RxPeriodicNode } from './nodes/rx-periodic.js';
import { RxNode } from './nodes/rx.js';
import { VirtsvcNode } from './nodes/virtsvc.js';

/** Builds the nodes for a worker polling `queue` on `ports`. */
export function buildNodes(ctx: NodeContext, ports: readonly number[], queue: number): GraphNode[] {
  const nodes: GraphNode[] = [];
  for (const p of ports) nodes.push(new RxNode(p, queue));
  nodes.push(new RxPeriodicNode());
  nodes.push(new ClsNode(ctx, true));
  nodes.push(new ArpNode(ctx));
  nodes.push(new Ipv6NdNode(ctx));
  nodes.push(new IpipDecapNode(ctx));
  nodes.push(new ConntrackNode(ctx));
  // upstream's builds with virtual services route 169.254.1.0/24 (their addresses) via the gateway
  nodes.push(new DhcpNode(ctx, ctx.fwd.virtsvc.count > 0));
  nodes.push(new Dhcpv6Node(ctx));
  nodes.push(new LbNode(ctx));
  nodes.push(new DnatNode(ctx));
  nodes.push(new Ipv4LookupNode(ctx));
  nodes.push(new Ipv6LookupNode(ctx));
  nodes.push(new SnatNode(ctx));
  nodes.push(new FirewallNode(ctx));
  nodes.push(new PacketRelayNode(ctx));
  nodes.push(new VirtsvcNode(ctx));
  nodes.push(new IpipEncapNode(ctx));
  for (const p of ports) nodes.push(new SinkNode(`tx-${p}`));
  nodes.push(new SinkNode('drop'));
  return nodes;
}

/** Node names of the graph (the supervisor's view for telemetry and metrics). */
export function graphNodeNames(ports: readonly number[], queue: number): string[] {
  return [
    ...ports.map((p) => `rx-${p}-${queue}`),
    'rx_periodic', 'cls', 'arp', 'ipv6_nd', 'ipip_decap', 'conntrack', 'dhcp', 'dhcpv6', 'lb', 'dnat', 'ipv4_lookup',
    'ipv6_lookup', 'snat', 'firewall', 'packet_relay', 'virtsvc', 'ipip_encap',
    ...ports.map((p) => `tx-${p}`), 'drop',
  ];
}
