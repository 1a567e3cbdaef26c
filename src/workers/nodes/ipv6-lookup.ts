// ipv6_lookup: finds where an overlay IPv6 packet goes within its VNI and writes the Ethernet
// header toward it. Budget: ~60 ns (port scan); per-VNI LPM route tables replace the scan (#3).
import type { PacketBatch } from '../../packet/batch.js';
import { DropReason } from '../../packet/drop-reasons.js';
import { ETH_HLEN, IPV6_DST } from '../../packet/headers.js';
import { drop, GraphNode, TX_EDGE } from '../graph.js';
import type { NodeContext } from '../node-context.js';
import { toLocalPort } from './ipv4-lookup.js';

export class Ipv6LookupNode extends GraphNode {
  readonly name = 'ipv6_lookup';
  readonly edges: readonly string[] = ['drop', TX_EDGE];
  private readonly ctx: NodeContext;

  constructor(ctx: NodeContext) {
    super();
    this.ctx = ctx;
  }

  process(b: PacketBatch, slot: number): number {
    const out = this.ctx.ports.findIpv6(b.vni[slot]!, b.bytes, b.start[slot]! + ETH_HLEN + IPV6_DST);
    if (out < 0) return drop(b, slot, DropReason.NO_ROUTE);
    return toLocalPort(this.ctx, b, slot, out);
  }
}
