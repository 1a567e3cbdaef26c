// firewall: the last decision before a packet leaves. Rules are stored and listed over gRPC; like
// upstream at HEAD (firewall_node.c) they are not enforced yet. Here the flow's decision is cached
// for the fast path: action (to a VM, or encapsulated out of an uplink), out port and outer
// destination (and the route that holds it, see R_OWNER), under the configuration generation
// conntrack saw. Budget: ~10 ns.
import type { PacketBatch } from '../../packet/batch.js';
import { PF_ENCAP, PF_FROM_PF } from '../../packet/batch.js';
import {
  ACT_ENCAP, ACT_KIND_SHIFT, ACT_NAT, ACT_TO_VF, FLOW_DECIDED, FLOW_DST_NAT, FLOW_NAT64, FLOW_SRC_NAT, KEY_STRIDE, OWNER_MASK, R_ACT, R_FLAGS, R_GEN,
  R_OWNER, R_UL, RECORD, UL_REF_SHIFT,
} from '../../tables/flow-table.js';
import { GraphNode, TX_EDGE } from '../graph.js';
import type { Forwarding, NodeContext } from '../node-context.js';
import { actMatches, actSide } from './conntrack.js';

const E_TX = 1;
const E_ENCAP = 2;

export class FirewallNode extends GraphNode {
  readonly name = 'firewall';
  readonly edges: readonly string[] = ['drop', TX_EDGE, 'ipip_encap'];
  private readonly fwd: Forwarding;

  constructor(ctx: NodeContext) {
    super();
    this.fwd = ctx.fwd;
  }

  process(b: PacketBatch, slot: number): number {
    const encap = (b.flags[slot]! & PF_ENCAP) !== 0;
    const rec = this.fwd.flows.rec;
    const base = b.flow[slot]! * RECORD;
    const dir = b.dir[slot]!;
    const gen = b.gen[slot]!;
    const side = actSide((b.flags[slot]! & PF_FROM_PF) !== 0, b.vnfType[slot]!);
    let flags = rec[base + R_FLAGS]!;
    // the flags as they were when the flow became decided: NAT set after that withdraws the
    // decisions (setNatFlags), so ACT_NAT below is never stale
    if ((flags & FLOW_DECIDED) === 0) flags = Atomics.or(rec, base + R_FLAGS, FLOW_DECIDED) | FLOW_DECIDED;
    // NAT64 translates every packet in snat or dnat: no decision to repeat without them
    if ((flags & FLOW_NAT64) !== 0) return encap ? E_ENCAP : E_TX;
    // a current decision made for another side (VM, uplink tunnel to an interface or to a VIP)
    // of the same key, or for a tunnel to another interface, stays
    const d = dir * KEY_STRIDE;
    if (rec[base + R_GEN + d] === gen && !actMatches(rec[base + R_ACT + d]!, side, b.outPort[slot]!)) return encap ? E_ENCAP : E_TX;
    const nat = (flags & (FLOW_SRC_NAT | FLOW_DST_NAT)) !== 0 ? ACT_NAT : 0;
    rec[base + R_ACT + d] = side | nat | ((encap ? ACT_ENCAP : ACT_TO_VF) << ACT_KIND_SHIFT) | b.outPort[slot]!;
    // the owner's bits stay; the route that holds the outer destination (if any) goes beside them
    const owner = rec[base + R_OWNER + d]! & OWNER_MASK;
    rec[base + R_OWNER + d] = owner | ((encap ? b.ulRef[slot]! : 0) << UL_REF_SHIFT);
    if (encap) {
      const ul = b.ulDv;
      const o = slot * 16;
      for (let i = 0; i < 4; i++) rec[base + R_UL + dir * 4 + i] = ul.getInt32(o + i * 4);
    }
    // published last: a worker that sees this generation sees the action above
    Atomics.store(rec, base + R_GEN + d, gen);
    return encap ? E_ENCAP : E_TX;
  }
}
