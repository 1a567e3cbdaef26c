/**
 * The software fast path, the analogue of upstream's rte_flow offload: a received packet whose flow
 * has a current cached decision (made by the graph for the flow's first packet in that direction,
 * see the firewall node) is forwarded right away, without the graph: parse, one flow lookup, NAT,
 * Ethernet or tunnel headers. Everything else, and anything unusual (IPv4 options, fragments,
 * truncation, DHCP, neighbour discovery, a miss, a stale decision), walks the graph unchanged: the
 * graph stays the only authority on what happens to a packet, this only repeats its answer.
 *
 * Packets forwarded here are counted per worker (dps_worker_stat{stat="fastpath"}), not by the graph
 * nodes, as upstream's offloaded packets never reach its graph. Cost (bench/graph.js, VM to VM,
 * bytes in a buffer): ~55 ns per packet with the reset and the hand-over to tx.
 */
import type { PacketBatch } from '../packet/batch.js';
import { MAX_SLOTS, PF_DECAPPED, PF_FROM_PF, PF_IPV6 } from '../packet/batch.js';
import { DropReason } from '../packet/drop-reasons.js';
import {
  DHCP_SERVER_PORT, DHCPV6_SERVER_PORT, ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ICMPV6_NS, ICMPV6_RS,
  IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP, IPV4_DST, IPV4_SRC, TCP_FLAGS,
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

/** Per-slot parse results of burst()'s first pass (K_* kinds; 0: not for the fast path). */
const K_NONE = 0;
const K_V4 = 1;
const K_V6 = 2;
const K_FROM_PF = 4;
/** Words per slot of FastPath.found: kind, IP header, L4 header, L3 end, protocol, VNI, ports word, hash. */
const SLOT_WORDS = 8;
const S_KIND = 0;
const S_IP = 1;
const S_L4 = 2;
const S_L3END = 3;
const S_PROTO = 4;
const S_VNI = 5;
const S_PORTS = 6;
const S_HASH = 7;

export class FastPath {
  private readonly k = new Int32Array(KEY_WORDS);
  /** What the first pass found, SLOT_WORDS per slot (S_* words), for the second. */
  private readonly found = new Int32Array(MAX_SLOTS * SLOT_WORDS);
  /** Bucket words the last burst read ahead (stored so the loads cannot be optimised away). */
  readAhead = 0;

  constructor(private readonly ctx: NodeContext) {}

  /** The fast path for one packet: a burst of one. */
  forward(b: PacketBatch, slot: number): number {
    if (!this.ctx.fwd.settings.fastPath || !this.parse(b, slot)) return FAST_MISS;
    const v = this.finish(b, slot);
    if (v !== FAST_MISS) this.count(1);
    return v;
  }

  /**
   * The fast path for slots [0, n) of a burst: verdict[slot] = FAST_MISS, FAST_TX or FAST_DROP.
   * Two passes: the first parses every packet, hashes its key and reads its bucket line, the
   * second looks the keys up and applies the decisions, so the index's cache and TLB misses of
   * a burst overlap. Returns how many packets were forwarded or dropped here.
   */
  burst(b: PacketBatch, n: number, verdict: Uint8Array): number {
    if (!this.ctx.fwd.settings.fastPath) {
      verdict.fill(FAST_MISS, 0, n);
      return 0;
    }
    const flows = this.ctx.fwd.flows;
    let ahead = 0;
    for (let slot = 0; slot < n; slot++) {
      if (this.parse(b, slot)) ahead ^= flows.touchBucket(this.found[slot * SLOT_WORDS + S_HASH]!);
    }

    this.readAhead = ahead;
    let done = 0;
    for (let slot = 0; slot < n; slot++) {
      const v = this.found[slot * SLOT_WORDS + S_KIND] === K_NONE ? FAST_MISS : this.finish(b, slot);
      verdict[slot] = v;
      if (v !== FAST_MISS) done++;
    }
    if (done > 0) this.count(done);
    return done;
  }

  /** Counts packets forwarded or dropped here (dps_worker_stat fastpath), once per burst. */
  private count(n: number): void {
    const stats = this.ctx.fwd.stats;
    stats[FS_FAST_PATH] = stats[FS_FAST_PATH]! + n;
  }

  /**
   * First pass for one slot: is the packet a candidate (IPv4/IPv6 TCP, UDP or ICMP from an active
   * VM port, or tunnelled to one of our VNF addresses on an uplink, no options, no fragments, not
   * DHCP or neighbour discovery), and its key's hash. Records what it found in `found`.
   */
  private parse(b: PacketBatch, slot: number): boolean {
    const ctx = this.ctx;
    const ports = ctx.ports;
    const st = this.found;
    const o = slot * SLOT_WORDS;
    st[o + S_KIND] = K_NONE;
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
      if (len < ETH_HLEN + 20) return false;
      const type = dv.getUint16(s + ETH_TYPE);
      if (type === ETHERTYPE_IPV4) v6 = false;
      else if (type === ETHERTYPE_IPV6) v6 = true;
      else return false;
      vni = ports.vni(port) | 0;
    } else if (fromPf) {
      // a tunnel to one of our VNF addresses; the inner packet is what the flow knows
      if (len < ETH_HLEN + 40 + 20 || dv.getUint16(s + ETH_TYPE) !== ETHERTYPE_IPV6 || bytes[ip]! >> 4 !== 6) return false;
      const next = bytes[ip + 6]!;
      if (next !== IPPROTO_IPIP && next !== IPPROTO_IPV6) return false;
      const plen = dv.getUint16(ip + 4);
      if (plen > len - ETH_HLEN - 40) return false;
      end = ip + 40 + plen;
      const vnf = ctx.fwd.vnf;
      if (!vnf.lookup(dv, ip + 24) || vnf.port < 0 || ports.state(vnf.port) !== PortState.VF_ACTIVE) return false;
      vni = vnf.vni | 0;
      v6 = next === IPPROTO_IPV6;
      ip += 40;
    } else {
      return false;
    }

    let proto: number;
    let l4: number;
    let l3end: number;
    if (!v6) {
      if (end - ip < 20 || bytes[ip] !== 0x45) return false;
      const total = dv.getUint16(ip + 2);
      if (total < 20 || total > end - ip || (dv.getUint16(ip + 6) & 0x3fff) !== 0) return false;
      proto = bytes[ip + 9]!;
      l4 = ip + 20;
      l3end = ip + total;
    } else {
      if (end - ip < 40 || bytes[ip]! >> 4 !== 6) return false;
      const plen = dv.getUint16(ip + 4);
      if (plen > end - ip - 40) return false;
      proto = bytes[ip + 6]!;
      l4 = ip + 40;
      l3end = ip + 40 + plen;
    }
    const avail = l3end - l4;
    let portsWord: number;
    if (proto === IPPROTO_TCP) {
      if (avail < 20) return false;
      portsWord = dv.getInt32(l4);
    } else if (proto === IPPROTO_UDP) {
      if (avail < 8) return false;
      const dport = dv.getUint16(l4 + 2);
      if (!fromPf && (dport === (v6 ? DHCPV6_SERVER_PORT : DHCP_SERVER_PORT))) return false;
      portsWord = dv.getInt32(l4);
    } else if (proto === (v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP)) {
      if (avail < 8) return false;
      const t = bytes[l4]!;
      if (v6 && !fromPf && (t === ICMPV6_NS || t === ICMPV6_RS)) return false;
      portsWord = icmpPorts(bytes, dv, l4);
    } else {
      return false;
    }

    let h: number;
    if (v6) {
      const k = this.k;
      writeKey(k, dv, ip, true, proto, portsWord, vni);
      h = FlowTable.hash(k, 0);
    } else {
      h = FlowTable.hashV4(vni, portsWord, proto, dv.getInt32(ip + IPV4_SRC), dv.getInt32(ip + IPV4_DST));
    }
    st[o + S_KIND] = (v6 ? K_V6 : K_V4) | (fromPf ? K_FROM_PF : 0);
    st[o + S_IP] = ip;
    st[o + S_L4] = l4;
    st[o + S_L3END] = l3end;
    st[o + S_PROTO] = proto;
    st[o + S_VNI] = vni;
    st[o + S_PORTS] = portsWord;
    st[o + S_HASH] = h;
    return true;
  }

  /** Second pass for one parsed slot: the flow lookup and, on a current decision, its application. */
  private finish(b: PacketBatch, slot: number): number {
    const ctx = this.ctx;
    const fwd = ctx.fwd;
    const flows = fwd.flows;
    const dv = b.dv;
    const st = this.found;
    const o = slot * SLOT_WORDS;
    const kind = st[o + S_KIND]!;
    const v6 = (kind & K_V6) !== 0;
    const fromPf = (kind & K_FROM_PF) !== 0;
    const ip = st[o + S_IP]!;
    const proto = st[o + S_PROTO]!;
    const vni = st[o + S_VNI]!;
    let found: number;
    if (v6) {
      const k = this.k;
      writeKey(k, dv, ip, true, proto, st[o + S_PORTS]!, vni);
      found = flows.lookup(k, 0, st[o + S_HASH]!);
    } else {
      found = flows.lookupV4(st[o + S_HASH]!, vni, st[o + S_PORTS]!, proto, dv.getInt32(ip + IPV4_SRC), dv.getInt32(ip + IPV4_DST));
    }
    if (found < 0) return FAST_MISS;
    const f = found >>> 1;
    const dir = found & 1;
    const base = f * RECORD;
    const rec = flows.rec;
    if (rec[base + R_GEN + dir] !== flows.generation) return FAST_MISS;
    // only a decision made for this side (VM or uplink) of the key: the graph decides the other
    if ((rec[base + R_ACT + dir]! & ACT_FROM_PF) !== (fromPf ? ACT_FROM_PF : 0)) return FAST_MISS;

    // from here on the packet is forwarded by the cached decision
    const s = b.start[slot]!;
    const l4 = st[o + S_L4]!;
    if (fromPf) {
      b.strip(slot, 40);
      dv.setUint16(b.start[slot]! + ETH_TYPE, v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
      b.flags[slot] = PF_FROM_PF | PF_DECAPPED | (v6 ? PF_IPV6 : 0);
    } else {
      b.flags[slot] = v6 ? PF_IPV6 : 0;
    }
    const frame = fromPf ? ip - ETH_HLEN : s;
    b.len[slot] = st[o + S_L3END]! - frame;
    b.l4[slot] = l4 - frame;
    b.proto[slot] = proto;
    b.vni[slot] = vni >>> 0;
    touchFlow(fwd, f, dir, proto === IPPROTO_TCP ? b.bytes[l4 + TCP_FLAGS]! : -1);
    if (applyCached(ctx, b, slot, f, dir) === ACT_ENCAP && !encapsulate(ctx.ports, b, slot)) {
      b.dropReason[slot] = DropReason.NO_ROOM;
      return FAST_DROP;
    }
    return FAST_TX;
  }
}
