// snat: the source half of NAT. A new IPv4 flow leaving by a default route (south-north) from a VM
// whose interface has a NAT gets the NAT address and a port of the NAT's range as source (network
// NAT; ICMP echo: the identifier), else with a VIP the VIP (as upstream, a NAT wins over a VIP);
// the flow remembers it (replies are then expected to the translated address and port). A new
// IPv6 flow to 64:ff9b::/96 from such a VM leaves as IPv4 the same way (NAT64). Later packets of
// NATed flows get the flow's rewrite (SNAT forward, un-DNAT of replies, NAT64 every packet: its
// flows never cache a decision). Budget: ~10 ns without NAT.
import type { PacketBatch } from '../../packet/batch.js';
import { PF_FROM_PF, PF_IPV6, PF_SOUTH_NORTH } from '../../packet/batch.js';
import {
  ETH_HLEN, ICMP_ECHO_REQUEST, ICMP_TYPE, ICMPV6_ECHO_REQUEST, IPPROTO_ICMP, IPPROTO_ICMPV6, IPV4_SRC, IPV6_DST,
} from '../../packet/headers.js';
import { isNat64, nat64Out } from '../../packet/nat64.js';
import { upstreamPortmapHash, upstreamPortmapHash6 } from '../../packet/upstream-hash.js';
import {
  FLOW_DECIDED, FLOW_DST_NAT, FLOW_NAT64, FLOW_NAT_PORT, FLOW_SRC_NAT, flowHash, K_DST, K_PORTS, K_PROTO, K_SRC, K_VNI, KEY_MARK_NAT, KEY_STRIDE, KEY_WORDS, R_FLAGS, R_KEY, R_NATPORT, RECORD,
  setNatFlags,
} from '../../tables/flow-table.js';
import { DropReason } from '../../packet/drop-reasons.js';
import { drop, GraphNode } from '../graph.js';
import type { Forwarding, NodeContext } from '../node-context.js';
import { applySrcNat, KEY_REFUSED, KEY_SET, natFlow, rewriteAddr, rewritePort, tryReplyKey } from './flow-actions.js';

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
    const flows = this.fwd.flows;
    const f = b.flow[slot]!;
    const base = f * RECORD;
    const st = flows.rec[base + R_FLAGS]!;
    const first = (st & (FLOW_SRC_NAT | FLOW_DST_NAT | FLOW_DECIDED | FLOW_NAT64)) === 0 && b.dir[slot] === 0
      && (fl & PF_SOUTH_NORTH) !== 0 && (fl & PF_FROM_PF) === 0;
    if ((fl & PF_IPV6) !== 0) {
      if (first) {
        const port = b.inPort[slot]!;
        const natIp = this.ctx.ports.natIp(port);
        if (natIp === 0 || !isNat64(b.dv, b.start[slot]! + ETH_HLEN + IPV6_DST)) return E_FIREWALL;
        return this.nat64(b, slot, f, port, natIp, this.ctx.ports.natRangeWord(port));
      }
      if ((st & FLOW_NAT64) !== 0 && b.dir[slot] === 0) {
        const reply = base + R_KEY + KEY_STRIDE;
        const rec = flows.rec;
        if (!nat64Out(b, slot, rec[reply + K_DST]!, rec[reply + K_PORTS]! & 0xffff)) return drop(b, slot, DropReason.UNSUPPORTED_PROTOCOL);
      }
      return E_FIREWALL;
    }
    if (first) {
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
   * [min, max) (`range` = max << 16 | min), see searchPort. ICMP other than echo (errors a VM
   * sends) has no identifier: the address alone is translated.
   */
  private networkNat(b: PacketBatch, slot: number, f: number, port: number, natIp: number, range: number): number {
    const fwd = this.fwd;
    const rec = fwd.flows.rec;
    const base = f * RECORD;
    const k = this.k;
    const icmp = b.proto[slot] === IPPROTO_ICMP;
    if (icmp && b.bytes[b.start[slot]! + b.l4[slot]! + ICMP_TYPE] !== ICMP_ECHO_REQUEST) {
      rewriteAddr(b, slot, IPV4_SRC, natIp);
      if (!natFlow(fwd, f, FLOW_SRC_NAT, K_DST, natIp, k, KEY_MARK_NAT)) return drop(b, slot, DropReason.FLOW_TABLE_FULL);
      return E_FIREWALL;
    }
    // the reply key with the NAT address as destination, marked as what arrives at NAT addresses;
    // the remote port stays in its source half (ICMP: the identifier on both halves)
    fwd.flows.copyKey(f, 1, k, 0);
    k[K_DST] = natIp | 0;
    k[K_PROTO] = k[K_PROTO]! | KEY_MARK_NAT;
    const vmPort = rec[base + R_KEY + K_PORTS]! >>> 16;
    const start = upstreamPortmapHash(this.hashScratch, rec[base + R_KEY + K_VNI]!, rec[base + R_KEY + K_SRC]!, vmPort);
    const natPort = this.searchPort(f, k, icmp ? -1 : k[K_PORTS]! & ~0xffff, range, start);
    if (natPort < 0) return drop(b, slot, natPort === -1 ? DropReason.NAT_PORTS_FULL : DropReason.FLOW_TABLE_FULL);
    this.took(f, port, FLOW_SRC_NAT);
    rewriteAddr(b, slot, IPV4_SRC, natIp);
    rewritePort(b, slot, false, natPort);
    return E_FIREWALL;
  }

  /**
   * NAT64 for the first packet of flow f from VM port `port` (IPv6 to 64:ff9b::/96): the packet
   * leaves as IPv4 from the interface's NAT address and a port of its range (as upstream, the NAT's
   * ports serve both), the reply key becomes that IPv4 answer's. TCP, UDP and ICMPv6 echo.
   */
  private nat64(b: PacketBatch, slot: number, f: number, port: number, natIp: number, range: number): number {
    const fwd = this.fwd;
    const rec = fwd.flows.rec;
    const org = f * RECORD + R_KEY;
    const k = this.k;
    const proto = b.proto[slot]!;
    const icmp = proto === IPPROTO_ICMPV6;
    if (icmp && b.bytes[b.start[slot]! + b.l4[slot]! + ICMP_TYPE] !== ICMPV6_ECHO_REQUEST) {
      return drop(b, slot, DropReason.UNSUPPORTED_PROTOCOL);
    }
    k[K_VNI] = rec[org + K_VNI]!;
    k[K_PROTO] = (icmp ? IPPROTO_ICMP : proto) | KEY_MARK_NAT;
    k[K_SRC] = rec[org + K_DST + 3]!;
    k[K_DST] = natIp | 0;
    for (let i = 1; i < 4; i++) {
      k[K_SRC + i] = 0;
      k[K_DST + i] = 0;
    }
    const ports = rec[org + K_PORTS]!;
    const start = upstreamPortmapHash6(this.hashScratch, rec[org + K_VNI]!, rec, org + K_SRC, ports >>> 16);
    const natPort = this.searchPort(f, k, icmp ? -1 : ports << 16, range, start);
    if (natPort < 0) return drop(b, slot, natPort === -1 ? DropReason.NAT_PORTS_FULL : DropReason.FLOW_TABLE_FULL);
    this.took(f, port, FLOW_NAT64);
    nat64Out(b, slot, natIp, natPort);
    return E_FIREWALL;
  }

  /** Flow f holds a NAT port of `port`'s interface from now on (`flag`: how it is translated). */
  private took(f: number, port: number, flag: number): void {
    const rec = this.fwd.flows.rec;
    rec[f * RECORD + R_NATPORT] = port;
    setNatFlags(rec, f, flag | FLOW_NAT_PORT);
    this.fwd.nat.countPort(port, 1);
  }

  /**
   * A port of [min, max) (`range` = max << 16 | min) for flow f whose new reply key is k[0..] but
   * its ports word (`high`: the remote port's half; -1: ICMP, the port on both halves). A port is
   * free for this flow when no flow has the reply key it would make (the remote address and port,
   * the NAT address and the port), which is upstream's port overload table (dp_find_new_port)
   * without a table of its own: the same NAT port serves flows to different remote ends. The
   * search starts where upstream's does (`start`: its hash of the VM's VNI, address and source
   * port), so a source port keeps its NAT port across destinations while that port is free for
   * them. Two workers may pick the same port for two flows at the same moment: after publishing
   * its reply key, a worker looks for another record with the same key and, if there is one, moves
   * on to the next port (of two such workers at least one sees the other). Returns the port with
   * the flow's reply key set to it, or -1 (every port in use toward this remote end: upstream's
   * "NAT portmap range is full") or -2 (the index refused the key) with the old reply key back.
   */
  private searchPort(f: number, k: Int32Array, high: number, range: number, start: number): number {
    const fwd = this.fwd;
    const flows = fwd.flows;
    const min = range & 0xffff;
    const n = (range >>> 16) - min;
    // the reply key as it is, to put back if no port is found
    flows.copyKey(f, 1, k, KEY_WORDS);
    for (let p = 0; p < n; p++) {
      const cand = min + (((start + p) >>> 0) % n);
      k[K_PORTS] = high === -1 ? (cand << 16) | cand : high | cand;
      const r = tryReplyKey(fwd, f, k);
      if (r === KEY_SET) return cand;
      if (r === KEY_REFUSED) return -2;
    }
    fwd.owner.rekeyReply(f, k, KEY_WORDS, flowHash(k, KEY_WORDS));
    return -1;
  }
}
