// ipv4_lookup: finds where an overlay IPv4 packet goes within its VNI and writes the Ethernet
// header toward it. Budget: ~40 ns (port scan); per-VNI LPM route tables replace the scan (#3).
import type { PacketBatch } from '../../packet/batch.js';
import { DropReason } from '../../packet/drop-reasons.js';
import { ETH_DST, ETH_HLEN, IPV4_DST } from '../../packet/headers.js';
import { drop, GraphNode, TX_EDGE } from '../graph.js';
import type { NodeContext } from '../node-context.js';

const E_TX = 1;

export class Ipv4LookupNode extends GraphNode {
  readonly name = 'ipv4_lookup';
  readonly edges: readonly string[] = ['drop', TX_EDGE];
  private readonly ctx: NodeContext;

  constructor(ctx: NodeContext) {
    super();
    this.ctx = ctx;
  }

  process(b: PacketBatch, slot: number): number {
    const s = b.start[slot]!;
    const dst = b.dv.getUint32(s + ETH_HLEN + IPV4_DST);
    const out = this.ctx.ports.findIpv4(b.vni[slot]!, dst);
    if (out < 0) return drop(b, slot, DropReason.NO_ROUTE);
    return toLocalPort(this.ctx, b, slot, out);
  }
}

/** Sends a packet to a local VM port: Ethernet dst = VM MAC, src = the port's MAC. */
export function toLocalPort(ctx: NodeContext, b: PacketBatch, slot: number, out: number): number {
  ctx.ports.writeEthToVm(out, b.dv, b.start[slot]! + ETH_DST);
  b.outPort[slot] = out;
  return E_TX;
}
