// snat: the source half of NAT. A new IPv4 flow leaving by a default route (south-north) from a VM
// whose interface has a NAT gets the NAT address and a port of the NAT's range as source (network
// NAT; ICMP echo: the identifier), else with a VIP the VIP (as upstream, a NAT wins over a VIP);
// the flow remembers it (replies are then expected to the translated address and port). Later
// packets of NATed flows get the flow's rewrite (SNAT forward, un-DNAT of replies).
// Budget: ~10 ns without NAT.
import type { PacketBatch } from '../../packet/batch.js';
import { PF_FROM_PF, PF_IPV6, PF_SOUTH_NORTH } from '../../packet/batch.js';
import { ICMP_ECHO_REQUEST, ICMP_TYPE, IPPROTO_ICMP, IPV4_SRC } from '../../packet/headers.js';
import { upstreamPortmapHash } from '../../packet/upstream-hash.js';
import {
  FLOW_DECIDED, FLOW_DST_NAT, FLOW_NAT_PORT, FLOW_SRC_NAT, FlowTable, K_DST, K_PORTS, K_SRC, K_VNI, KEY_WORDS, R_FLAGS, R_KEY,
  R_NATPORT, RECORD,
} from '../../tables/flow-table.js';
import { DropReason } from '../../packet/drop-reasons.js';
import { drop, GraphNode } from '../graph.js';
import { FS_NAT_RACE, FS_TABLE_FULL, type Forwarding, type NodeContext } from '../node-context.js';
import { applySrcNat, natFlow, rewriteAddr, rewritePort } from './flow-actions.js';

const E_FIREWALL = 1;

export class SnatNode extends GraphNode {
  readonly name = 'snat';
  readonly edges: readonly string[] = ['drop', 'firewall'];
  private readonly ctx: NodeContext;
  private readonly fwd: Forwarding;
  private readonly k = new Int32Array(KEY_WORDS * 2);
  private readonly hashScratch = new Int32Array(6);

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
      const port = b.inPort[slot]!;
      const ports = this.ctx.ports;
      const natIp = ports.natIp(port);
      if (natIp !== 0) return this.networkNat(b, slot, f, port, natIp, ports.natRangeWord(port));
      const vip = ports.vip(port);
      if (vip === 0) return E_FIREWALL;
      rewriteAddr(b, slot, IPV4_SRC, vip);
      // replies now come back to the VIP
      if (!natFlow(this.fwd, f, FLOW_SRC_NAT, K_DST, vip, this.k)) return drop(b, slot, DropReason.FLOW_TABLE_FULL);
      return E_FIREWALL;
    }
    applySrcNat(flows, b, slot);
    return E_FIREWALL;
  }

  /**
   * Network NAT for the first packet of flow f from VM port `port`: source `natIp` and a port of
   * [min, max) (`range` = max << 16 | min). A port is free for this flow when no flow has the reply
   * key it would make (the remote address and port, natIp and the port), which is upstream's port
   * overload table (dp_find_new_port) without a table of its own: the same NAT port serves flows to
   * different destinations. The search starts where upstream's does (its hash of the VM's VNI,
   * address and source port), so a source port keeps its NAT port across destinations while that
   * port is free for them. Two workers may pick the same port for two flows at the same moment:
   * after publishing its reply key, a worker looks for another record with the same key and, if
   * there is one, moves on to the next port (of two such workers at least one sees the other).
   */
  private networkNat(b: PacketBatch, slot: number, f: number, port: number, natIp: number, range: number): number {
    const fwd = this.fwd;
    const flows = fwd.flows;
    const rec = flows.rec;
    const base = f * RECORD;
    const k = this.k;
    const icmp = b.proto[slot] === IPPROTO_ICMP;
    // ICMP other than echo (errors a VM sends) has no identifier: the address alone is translated
    if (icmp && b.bytes[b.start[slot]! + b.l4[slot]! + ICMP_TYPE] !== ICMP_ECHO_REQUEST) {
      rewriteAddr(b, slot, IPV4_SRC, natIp);
      if (!natFlow(fwd, f, FLOW_SRC_NAT, K_DST, natIp, k)) return drop(b, slot, DropReason.FLOW_TABLE_FULL);
      return E_FIREWALL;
    }
    const min = range & 0xffff;
    const n = (range >>> 16) - min;
    // the reply key as it is (put back if no port is free) at KEY_WORDS, the one tried at 0
    flows.copyKey(f, 1, k, KEY_WORDS);
    flows.copyKey(f, 1, k, 0);
    k[K_DST] = natIp | 0;
    // the remote port stays in the reply key's source half (ICMP: the identifier on both halves)
    const high = k[K_PORTS]! & ~0xffff;
    const vmPort = rec[base + R_KEY + K_PORTS]! >>> 16;
    const start = upstreamPortmapHash(this.hashScratch, rec[base + R_KEY + K_VNI]!, rec[base + R_KEY + K_SRC]!, vmPort);
    for (let p = 0; p < n; p++) {
      const cand = min + (((start + p) >>> 0) % n);
      k[K_PORTS] = icmp ? (cand << 16) | cand : high | cand;
      const h = FlowTable.hash(k, 0);
      if (flows.lookup(k, 0, h) >= 0) continue;
      if (!fwd.owner.rekeyReply(f, k, 0, h)) {
        fwd.stats[FS_TABLE_FULL] = fwd.stats[FS_TABLE_FULL]! + 1;
        fwd.owner.rekeyReply(f, k, KEY_WORDS, FlowTable.hash(k, KEY_WORDS));
        return drop(b, slot, DropReason.FLOW_TABLE_FULL);
      }
      if (flows.lookupOther(k, 0, h, f) >= 0) {
        // another worker's new flow took this port for the same remote end at the same moment
        fwd.stats[FS_NAT_RACE] = fwd.stats[FS_NAT_RACE]! + 1;
        continue;
      }
      rec[base + R_NATPORT] = port;
      Atomics.or(rec, base + R_FLAGS, FLOW_SRC_NAT | FLOW_NAT_PORT);
      fwd.nat.countPort(port, 1);
      rewriteAddr(b, slot, IPV4_SRC, natIp);
      rewritePort(b, slot, false, cand);
      return E_FIREWALL;
    }
    // every port of the range is in use toward this remote end (upstream: "NAT portmap range is full")
    fwd.owner.rekeyReply(f, k, KEY_WORDS, FlowTable.hash(k, KEY_WORDS));
    return drop(b, slot, DropReason.NAT_PORTS_FULL);
  }
}
