// ipv6_lookup: the per-VNI longest-prefix route of an overlay IPv6 packet, as ipv4_lookup does for
// IPv4 (local VM, or underlay nexthop). Toward the underlay always by pf0: upstream installs IPv6
// routes on pf0 and has no WCMP for them ("port redundancy is not supported for ipv6 in ipv6" in
// its suite, whose NAT64 test expects pf0 with --wcmp too). Budget: ~60 ns (LPM probes over 16 bytes).
import type { PacketBatch } from '../../packet/batch.js';
import { DropReason } from '../../packet/drop-reasons.js';
import { ETH_HLEN, IPV6_DST } from '../../packet/headers.js';
import { drop, GraphNode } from '../graph.js';
import type { NodeContext } from '../node-context.js';
import { routeTo } from './ipv4-lookup.js';

export class Ipv6LookupNode extends GraphNode {
  readonly name = 'ipv6_lookup';
  readonly edges: readonly string[] = ['drop', 'snat'];
  private readonly ctx: NodeContext;

  constructor(ctx: NodeContext) {
    super();
    this.ctx = ctx;
  }

  process(b: PacketBatch, slot: number): number {
    const fwd = this.ctx.fwd;
    const r = fwd.routes6.lookup(b.vni[slot]!, b.bytes, b.start[slot]! + ETH_HLEN + IPV6_DST);
    if (r < 0) return drop(b, slot, DropReason.NO_ROUTE);
    return routeTo(this.ctx, fwd.routes6, r, b, slot);
  }
}
