// snat: the source half of NAT. A new IPv4 flow leaving by a default route (south-north) from a VM
// with a VIP gets the VIP as source and the flow remembers it (replies are then expected to the
// VIP); later packets of NATed flows get the flow's rewrite (SNAT forward, un-DNAT of replies).
// Budget: ~10 ns without NAT.
import type { PacketBatch } from '../../packet/batch.js';
import { PF_FROM_PF, PF_IPV6, PF_SOUTH_NORTH } from '../../packet/batch.js';
import { IPV4_SRC } from '../../packet/headers.js';
import { FLOW_DECIDED, FLOW_DST_NAT, FLOW_SRC_NAT, K_DST, KEY_WORDS, R_FLAGS, RECORD } from '../../tables/flow-table.js';
import { DropReason } from '../../packet/drop-reasons.js';
import { drop, GraphNode } from '../graph.js';
import type { Forwarding, NodeContext } from '../node-context.js';
import { applySrcNat, natFlow, rewriteAddr } from './flow-actions.js';

const E_FIREWALL = 1;

export class SnatNode extends GraphNode {
  readonly name = 'snat';
  readonly edges: readonly string[] = ['drop', 'firewall'];
  private readonly ctx: NodeContext;
  private readonly fwd: Forwarding;
  private readonly k = new Int32Array(KEY_WORDS);

  constructor(ctx: NodeContext) {
    super();
    this.ctx = ctx;
    this.fwd = ctx.fwd;
  }

  process(b: PacketBatch, slot: number): number {
    const fl = b.flags[slot]!;
    if ((fl & PF_IPV6) !== 0) return E_FIREWALL;
    const flows = this.fwd.flows;
    const f = b.flow[slot]!;
    const base = f * RECORD;
    const st = flows.rec[base + R_FLAGS]!;
    if ((st & (FLOW_SRC_NAT | FLOW_DST_NAT | FLOW_DECIDED)) === 0 && b.dir[slot] === 0) {
      if ((fl & PF_SOUTH_NORTH) === 0 || (fl & PF_FROM_PF) !== 0) return E_FIREWALL;
      const vip = this.ctx.ports.vip(b.inPort[slot]!);
      if (vip === 0) return E_FIREWALL;
      rewriteAddr(b, slot, IPV4_SRC, vip);
      // replies now come back to the VIP
      if (!natFlow(this.fwd, f, FLOW_SRC_NAT, K_DST, vip, this.k)) return drop(b, slot, DropReason.FLOW_TABLE_FULL);
      return E_FIREWALL;
    }
    applySrcNat(flows, b, slot);
    return E_FIREWALL;
  }
}
