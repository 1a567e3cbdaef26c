/**
 * The software fast path, the analogue of upstream's rte_flow offload: a received packet whose flow
 * has a current cached decision (made by the graph for the flow's first packet in that direction,
 * see the firewall node) is forwarded right away, without the graph: parse, one flow lookup, NAT,
 * Ethernet or tunnel headers. Everything else, and anything unusual (IPv4 options, fragments,
 * truncation, DHCP, neighbour discovery, a miss, a stale decision), walks the graph unchanged: the
 * graph stays the only authority on what happens to a packet, this only repeats its answer.
 *
 * Packets forwarded here are counted per worker (dps_worker_stat{stat="fastpath"}), not by the graph
 * nodes, as upstream's offloaded packets never reach its graph. Budget: ~40 ns per packet.
 */
import type { PacketBatch } from '../packet/batch.js';
import { PF_DECAPPED, PF_FROM_PF, PF_IPV6 } from '../packet/batch.js';
import { DropReason } from '../packet/drop-reasons.js';
import {
  DHCP_SERVER_PORT, DHCPV6_SERVER_PORT, ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ICMPV6_NS, ICMPV6_RS,
  IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP, TCP_FLAGS,
} from '../packet/headers.js';
import { ACT_ENCAP, ACT_FROM_PF, FlowTable, KEY_WORDS, R_ACT, R_GEN, RECORD } from '../tables/flow-table.js';
import { PortState } from '../tables/port-table.js';
import { FS_FAST_PATH, type NodeContext } from './node-context.js';
import { applyCached, icmpPorts, touchFlow, writeKey } from './nodes/conntrack.js';
import { encapsulate } from './nodes/ipip-encap.js';

/** forward() results. */
export const FAST_MISS = 0;   // untouched: walk the graph
export const FAST_TX = 1;     // forwarded: send on b.outPort
export const FAST_DROP = 2;   // dropped (b.dropReason set)

export class FastPath {
  private readonly k = new Int32Array(KEY_WORDS);

  constructor(private readonly ctx: NodeContext) {}

  forward(b: PacketBatch, slot: number): number {
    const ctx = this.ctx;
    const ports = ctx.ports;
    const fwd = ctx.fwd;
    if (!fwd.settings.fastPath) return FAST_MISS;
    const s = b.start[slot]!;
    const len = b.len[slot]!;
    const dv = b.dv;
    const bytes = b.bytes;
    const port = b.inPort[slot]!;
    const state = ports.state(port);
    let ip = s + ETH_HLEN;
    let end = s + len;
    let vni: number;
    let v6: boolean;
    const fromPf = state === PortState.PF;
    if (state === PortState.VF_ACTIVE) {
      if (len < ETH_HLEN + 20) return FAST_MISS;
      const type = dv.getUint16(s + ETH_TYPE);
      if (type === ETHERTYPE_IPV4) v6 = false;
      else if (type === ETHERTYPE_IPV6) v6 = true;
      else return FAST_MISS;
      vni = ports.vni(port);
    } else if (fromPf) {
      // a tunnel to one of our VNF addresses; the inner packet is what the flow knows
      if (len < ETH_HLEN + 40 + 20 || dv.getUint16(s + ETH_TYPE) !== ETHERTYPE_IPV6 || bytes[ip]! >> 4 !== 6) return FAST_MISS;
      const next = bytes[ip + 6]!;
      if (next !== IPPROTO_IPIP && next !== IPPROTO_IPV6) return FAST_MISS;
      const plen = dv.getUint16(ip + 4);
      if (plen > len - ETH_HLEN - 40) return FAST_MISS;
      end = ip + 40 + plen;
      const vnf = fwd.vnf;
      if (!vnf.lookup(dv, ip + 24) || vnf.port < 0 || ports.state(vnf.port) !== PortState.VF_ACTIVE) return FAST_MISS;
      vni = vnf.vni;
      v6 = next === IPPROTO_IPV6;
      ip += 40;
    } else {
      return FAST_MISS;
    }

    let proto: number;
    let l4: number;
    let l3end: number;
    if (!v6) {
      if (end - ip < 20 || bytes[ip] !== 0x45) return FAST_MISS;
      const total = dv.getUint16(ip + 2);
      if (total < 20 || total > end - ip || (dv.getUint16(ip + 6) & 0x3fff) !== 0) return FAST_MISS;
      proto = bytes[ip + 9]!;
      l4 = ip + 20;
      l3end = ip + total;
    } else {
      if (end - ip < 40 || bytes[ip]! >> 4 !== 6) return FAST_MISS;
      const plen = dv.getUint16(ip + 4);
      if (plen > end - ip - 40) return FAST_MISS;
      proto = bytes[ip + 6]!;
      l4 = ip + 40;
      l3end = ip + 40 + plen;
    }
    const avail = l3end - l4;
    let portsWord: number;
    if (proto === IPPROTO_TCP) {
      if (avail < 20) return FAST_MISS;
      portsWord = dv.getInt32(l4);
    } else if (proto === IPPROTO_UDP) {
      if (avail < 8) return FAST_MISS;
      const dport = dv.getUint16(l4 + 2);
      if (!fromPf && (dport === (v6 ? DHCPV6_SERVER_PORT : DHCP_SERVER_PORT))) return FAST_MISS;
      portsWord = dv.getInt32(l4);
    } else if (proto === (v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP)) {
      if (avail < 8) return FAST_MISS;
      const t = bytes[l4]!;
      if (v6 && !fromPf && (t === ICMPV6_NS || t === ICMPV6_RS)) return FAST_MISS;
      portsWord = icmpPorts(bytes, dv, l4);
    } else {
      return FAST_MISS;
    }

    const k = this.k;
    writeKey(k, dv, ip, v6, proto, portsWord, vni);
    const flows = fwd.flows;
    const found = flows.lookup(k, 0, FlowTable.hash(k, 0));
    if (found < 0) return FAST_MISS;
    const f = found >>> 1;
    const dir = found & 1;
    const base = f * RECORD;
    const rec = flows.rec;
    if (rec[base + R_GEN + dir] !== flows.generation) return FAST_MISS;
    // only a decision made for this side (VM or uplink) of the key: the graph decides the other
    if ((rec[base + R_ACT + dir]! & ACT_FROM_PF) !== (fromPf ? ACT_FROM_PF : 0)) return FAST_MISS;

    // from here on the packet is forwarded by the cached decision
    if (fromPf) {
      b.strip(slot, 40);
      dv.setUint16(b.start[slot]! + ETH_TYPE, v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
      b.flags[slot] = PF_FROM_PF | PF_DECAPPED | (v6 ? PF_IPV6 : 0);
    } else {
      b.flags[slot] = v6 ? PF_IPV6 : 0;
    }
    b.len[slot] = l3end - (fromPf ? ip - ETH_HLEN : s);
    b.l4[slot] = l4 - (fromPf ? ip - ETH_HLEN : s);
    b.proto[slot] = proto;
    b.vni[slot] = vni;
    touchFlow(fwd, f, dir, proto === IPPROTO_TCP ? bytes[l4 + TCP_FLAGS]! : -1);
    fwd.stats[FS_FAST_PATH] = fwd.stats[FS_FAST_PATH]! + 1;
    if (applyCached(ctx, b, slot, f, dir) === ACT_ENCAP && !encapsulate(ports, b, slot)) {
      b.dropReason[slot] = DropReason.NO_ROOM;
      return FAST_DROP;
    }
    return FAST_TX;
  }
}
