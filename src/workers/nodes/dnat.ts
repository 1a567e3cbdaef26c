// dnat: the destination half of NAT. A new IPv4 flow (no NAT yet, original direction) to a VIP of
// its VNI is rewritten to the VIP owner's address and the flow remembers it (its reply key then
// expects the VM as source); later packets of NATed flows get the flow's rewrite (DNAT forward,
// un-SNAT of replies, with network NAT the port too; the IPv4 answer to a NAT64 flow becomes IPv6
// again). A tunnelled packet to a NAT address that is no reply of ours goes to packet_relay (an
// echo request answered, another host's port relayed, else dropped). Budget: ~10 ns without NAT; a VIP scan only on a flow's first packet.
import type { PacketBatch } from '../../packet/batch.js';
import { PF_DECAPPED, PF_IPV6 } from '../../packet/batch.js';
import { ETH_HLEN, IPV4_DST } from '../../packet/headers.js';
import {
  FLOW_DECIDED, FLOW_DST_NAT, FLOW_NAT64, FLOW_SRC_NAT, K_PORTS, K_SRC, KEY_WORDS, R_FLAGS, R_KEY, RECORD,
} from '../../tables/flow-table.js';
import { nat64Back } from '../../packet/nat64.js';
import { DropReason } from '../../packet/drop-reasons.js';
import { drop, GraphNode } from '../graph.js';
import type { Forwarding, NodeContext } from '../node-context.js';
import { applyDstNat, natFlow, rewriteAddr } from './flow-actions.js';

const E_IPV4 = 1;
const E_IPV6 = 2;
const E_RELAY = 3;

export class DnatNode extends GraphNode {
  readonly name = 'dnat';
  readonly edges: readonly string[] = ['drop', 'ipv4_lookup', 'ipv6_lookup', 'packet_relay'];
  private readonly ctx: NodeContext;
  private readonly fwd: Forwarding;
  private readonly k = new Int32Array(KEY_WORDS);

  constructor(ctx: NodeContext) {
    super();
    this.ctx = ctx;
    this.fwd = ctx.fwd;
  }

  process(b: PacketBatch, slot: number): number {
    if ((b.flags[slot]! & PF_IPV6) !== 0) return E_IPV6;
    const flows = this.fwd.flows;
    const f = b.flow[slot]!;
    const base = f * RECORD;
    const st = flows.rec[base + R_FLAGS]!;
    if ((st & FLOW_NAT64) !== 0 && b.dir[slot] === 1) {
      // the IPv4 answer to a NAT64 flow goes back as IPv6 to the VM's address and port
      const rec = flows.rec;
      if (!nat64Back(b, slot, rec, base + R_KEY + K_SRC, rec[base + R_KEY + K_PORTS]! >>> 16)) {
        return drop(b, slot, DropReason.UNSUPPORTED_PROTOCOL);
      }
      return E_IPV6;
    }
    if ((st & (FLOW_SRC_NAT | FLOW_DST_NAT | FLOW_DECIDED)) === 0 && b.dir[slot] === 0) {
      const dst = b.dv.getUint32(b.start[slot]! + ETH_HLEN + IPV4_DST);
      const vni = b.vni[slot]!;
      const ports = this.ctx.ports;
      const owner = ports.findVip(vni, dst);
      if (owner < 0 && (b.flags[slot]! & PF_DECAPPED) !== 0
        && (ports.findNat(vni, dst) >= 0 || this.fwd.nat.isNeighborAddress(vni, dst))) return E_RELAY;
      if (owner >= 0) {
        const vmIp = ports.ipv4(owner);
        rewriteAddr(b, slot, IPV4_DST, vmIp);
        // replies now come from the VM's own address
        if (!natFlow(this.fwd, f, FLOW_DST_NAT, K_SRC, vmIp, this.k)) return drop(b, slot, DropReason.FLOW_TABLE_FULL);
      }
      return E_IPV4;
    }
    applyDstNat(flows, b, slot);
    return E_IPV4;
  }
}
