// lb: packets tunnelled to a load balancer's underlay address (upstream's lb node). A new flow to
// the load balancer's address and one of its ports gets a target from the Maglev table by
// upstream's flow hash, so it reaches the target upstream would pick, and keeps it: later packets
// go to the same target while it is one (a removed target's flows are balanced anew, as upstream
// flushes them). A target that is an LB target prefix of one of our VMs gets the packet delivered
// (upstream recirculates it); any other is sent the packet tunnelled, unchanged inside, from this
// host's underlay address out of the uplink it came in on. An echo request to the address is
// answered (packet_relay); an ICMP error about a balanced connection follows the connection's
// target, found by the packet it quotes. Budget: a scan of the load balancers per packet (flows to
// them are never cached: the target is checked every time).
import type { PacketBatch } from '../../packet/batch.js';
import { PF_ENCAP, PF_IPV6 } from '../../packet/batch.js';
import { DropReason } from '../../packet/drop-reasons.js';
import {
  ETH_DST, ETH_HLEN, ICMP_ECHO_REQUEST, ICMP_TYPE, ICMPV6_ECHO_REQUEST, IPPROTO_ICMP, IPPROTO_ICMPV6, IPV4_DST, IPV4_PROTO,
  IPV4_SRC, IPV6_DST,
} from '../../packet/headers.js';
import { quotedPacket } from '../../packet/nat.js';
import { upstreamFlowHash } from '../../packet/upstream-hash.js';
import { VnfType } from '../../actors/underlay.js';
import {
  FLOW_DECIDED, FLOW_DST_NAT, FLOW_LB, FLOW_SRC_NAT, K_DST, K_PORTS, K_PROTO, K_SRC, K_VNI, R_FLAGS, R_KEY, R_UL, RECORD,
} from '../../tables/flow-table.js';
import { PortState } from '../../tables/port-table.js';
import { drop, GraphNode } from '../graph.js';
import type { Forwarding, NodeContext } from '../node-context.js';

const E_ENCAP = 1;
const E_RELAY = 2;
const E_DNAT = 3;
const E_FIREWALL = 4;

export class LbNode extends GraphNode {
  readonly name = 'lb';
  readonly edges: readonly string[] = ['drop', 'ipip_encap', 'packet_relay', 'dnat', 'firewall'];
  private readonly ctx: NodeContext;
  private readonly fwd: Forwarding;
  /** A flow's key words for the hash: [src 4, dst 4], and upstreamFlowHash's scratch. */
  private readonly addr = new Int32Array(8);
  private readonly hashScratch = new Int32Array(11);

  constructor(ctx: NodeContext) {
    super();
    this.ctx = ctx;
    this.fwd = ctx.fwd;
  }

  process(b: PacketBatch, slot: number): number {
    const rec = this.fwd.flows.rec;
    const base = b.flow[slot]! * RECORD;
    const st = rec[base + R_FLAGS]!;
    const dir = b.dir[slot]!;
    const proto = b.proto[slot]!;
    const icmp = proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6;
    const balanced = (st & FLOW_LB) !== 0;
    if (dir === 0 && (balanced || (st & (FLOW_SRC_NAT | FLOW_DST_NAT | FLOW_DECIDED)) === 0)) {
      const v6 = (b.flags[slot]! & PF_IPV6) !== 0;
      const dv = b.dv;
      const ip = b.start[slot]! + ETH_HLEN;
      const lb = v6
        ? this.fwd.lb.find(b.vni[slot]!, true, dv.getInt32(ip + IPV6_DST), dv.getInt32(ip + IPV6_DST + 4), dv.getInt32(ip + IPV6_DST + 8),
          dv.getInt32(ip + IPV6_DST + 12))
        : this.fwd.lb.find(b.vni[slot]!, false, dv.getInt32(ip + IPV4_DST), 0, 0, 0);
      if (lb >= 0) {
        const l4 = b.start[slot]! + b.l4[slot]!;
        if (icmp && b.bytes[l4 + ICMP_TYPE] === (v6 ? ICMPV6_ECHO_REQUEST : ICMP_ECHO_REQUEST)) return E_RELAY;
        return this.balance(b, slot, lb, v6, icmp, balanced);
      }
      // a connection of a load balancer that went away: its packets go nowhere
      if (balanced) return drop(b, slot, DropReason.LB_NO_TARGET);
    }
    if ((st & FLOW_DECIDED) !== 0 && icmp) return E_RELAY;
    return E_DNAT;
  }

  /**
   * A target of load balancer `lb` for the packet's flow: the one the flow has while the load
   * balancer still has it, else the Maglev table's for upstream's hash of the flow's key (an ICMP
   * error: of the connection it quotes, reversed, as upstream keys it).
   */
  private balance(b: PacketBatch, slot: number, lb: number, v6: boolean, icmp: boolean, had: boolean): number {
    const rec = this.fwd.flows.rec;
    const base = b.flow[slot]! * RECORD;
    const ul = b.ulDv;
    const at = slot * 16;
    const a = this.addr;
    const dv = b.dv;
    let proto: number;
    let ports: number;
    const l4 = b.start[slot]! + b.l4[slot]!;
    // an ICMP error the connection's flow did not take (conntrack keyed it by itself: the
    // connection is new here) is balanced by the connection it quotes, every time
    const q = icmp && !v6 ? quotedPacket(dv, l4, b.len[slot]! - b.l4[slot]!) : -1;
    if (had && q < 0) {
      for (let i = 0; i < 4; i++) ul.setInt32(at + i * 4, rec[base + R_UL + i]!);
      if (this.fwd.lb.hasTarget(lb, ul, at)) return this.toTarget(b, slot);
    }
    if (q >= 0) {
      const ql4 = q + (dv.getUint8(q) & 0x0f) * 4;
      proto = dv.getUint8(q + IPV4_PROTO);
      ports = (dv.getUint16(ql4 + 2) << 16) | dv.getUint16(ql4);
      a.fill(0);
      a[0] = dv.getInt32(q + IPV4_DST);
      a[4] = dv.getInt32(q + IPV4_SRC);
    } else if (icmp) {
      // other ICMP to a load balancer is not balanced (upstream drops it)
      return drop(b, slot, DropReason.LB_NO_TARGET);
    } else {
      const key = base + R_KEY;
      proto = rec[key + K_PROTO]! & 0xff;
      ports = rec[key + K_PORTS]!;
      for (let i = 0; i < 4; i++) {
        a[i] = rec[key + K_SRC + i]!;
        a[4 + i] = rec[key + K_DST + i]!;
      }
    }
    const hash = upstreamFlowHash(this.hashScratch, v6, proto, a, 0, a, 4, ports >>> 16, ports & 0xffff, 0, rec[base + R_KEY + K_VNI]!);
    if (!this.fwd.lb.target(lb, proto, ports & 0xffff, hash, ul, at)) return drop(b, slot, DropReason.LB_NO_TARGET);
    if (q < 0) {
      for (let i = 0; i < 4; i++) rec[base + R_UL + i] = ul.getInt32(at + i * 4);
      if (!had) Atomics.or(rec, base + R_FLAGS, FLOW_LB);
    }
    return this.toTarget(b, slot);
  }

  /**
   * Sends the packet to the target in b.ulDst: delivered to the VM whose LB target prefix it is,
   * or tunnelled to it from this host out of the uplink the packet came in on.
   */
  private toTarget(b: PacketBatch, slot: number): number {
    const vnf = this.fwd.vnf;
    const ports = this.ctx.ports;
    if (vnf.lookup(b.ulDv, slot * 16) && vnf.type === VnfType.LB_ALIAS_PFX && vnf.port >= 0
      && ports.state(vnf.port) === PortState.VF_ACTIVE) {
      b.outPort[slot] = vnf.port;
      b.vnfType[slot] = VnfType.LB_ALIAS_PFX;
      ports.writeEthToVm(vnf.port, b.dv, b.start[slot]! + ETH_DST);
      return E_FIREWALL;
    }
    b.outPort[slot] = b.inPort[slot]!;
    b.ulRef[slot] = 0;
    b.flags[slot] = b.flags[slot]! | PF_ENCAP;
    return E_ENCAP;
  }
}
