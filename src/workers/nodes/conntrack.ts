// conntrack: parses L4 once (offset, protocol), hands DHCP/DHCPv6 to the local servers, and finds or
// creates the packet's flow in the shared connection-tracking table (either direction, any worker).
// Later packets of a flow whose decision is cached take it here (the fast path: NAT, Ethernet or
// encapsulation target) and skip dnat, lookup, snat and firewall. Budget: ~40 ns with the lookup.
import type { PacketBatch } from '../../packet/batch.js';
import { PF_DECAPPED, PF_ENCAP, PF_FROM_PF, PF_IPV6 } from '../../packet/batch.js';
import { DropReason } from '../../packet/drop-reasons.js';
import {
  DHCP_SERVER_PORT, DHCPV6_SERVER_PORT, ETH_DST, ETH_HLEN, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_TYPE, ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST,
  IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, IPV4_DST, IPV4_FRAG, IPV4_PROTO, IPV4_SRC, IPV4_VER_IHL,
  IPV6_DST, IPV6_HLEN, IPV6_NEXT, IPV6_SRC, TCP_FLAGS, UDP_DPORT, UDP_HLEN, UDP_SPORT,
} from '../../packet/headers.js';
import {
  ACT_ENCAP, ACT_FROM_PF, ACT_NAT, ACT_KIND_MASK, ACT_KIND_SHIFT, ACT_SIDE, ACT_TO_VF, ACT_VIA_NAT, FLOW_DUP_SETTLED, FLOW_VIRTSVC, flowHash, FlowTable, K_DST, K_PORTS, K_PROTO, K_SRC, K_VNI, KEY_MARK_NAT, KEY_STRIDE, KEY_WORDS, OWNER_MASK, R_ACT, R_FLAGS, R_GEN, R_OWNER, R_SEEN, R_STATE, R_UL, RECORD, reverseKey, TcpState, UL_REF_SHIFT,
} from '../../tables/flow-table.js';
import { VnfType } from '../../actors/underlay.js';
import { drop, GraphNode, TX_EDGE } from '../graph.js';
import { FS_CREATED, FS_CROSS_WORKER, FS_DUPLICATE, FS_FAST_PATH, FS_TABLE_FULL, type Forwarding, type NodeContext } from '../node-context.js';
import { applyDstNat, applySrcNat } from './flow-actions.js';
import { quotedPacket } from '../../packet/nat.js';

const E_DHCP = 1;
const E_DHCPV6 = 2;
const E_DNAT = 3;
const E_FIREWALL = 4;
const E_TX = 5;
const E_ENCAP = 6;
const E_LB = 7;
const E_VIRTSVC = 8;

/** Minimal L4 header bytes needed per protocol before a later node may read ports or types. */
const TCP_MIN = 20;
const ICMP_MIN = 8;

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;

export class ConntrackNode extends GraphNode {
  readonly name = 'conntrack';
  readonly edges: readonly string[] = ['drop', 'dhcp', 'dhcpv6', 'dnat', 'firewall', TX_EDGE, 'ipip_encap', 'lb', 'virtsvc'];
  private readonly ctx: NodeContext;
  private readonly fwd: Forwarding;
  private readonly flows: FlowTable;
  /** Key scratch: the packet's key at 0, its reverse at KEY_WORDS. */
  private readonly k = new Int32Array(KEY_WORDS * 2);

  constructor(ctx: NodeContext) {
    super();
    this.ctx = ctx;
    this.fwd = ctx.fwd;
    this.flows = ctx.fwd.flows;
  }

  process(b: PacketBatch, slot: number): number {
    const s = b.start[slot]!;
    const len = b.len[slot]!;
    const bytes = b.bytes;
    const dv = b.dv;
    const v6 = (b.flags[slot]! & PF_IPV6) !== 0;
    let l4: number;
    let proto: number;
    if (v6) {
      l4 = ETH_HLEN + IPV6_HLEN;
      proto = bytes[s + ETH_HLEN + IPV6_NEXT]!;
    } else {
      l4 = ETH_HLEN + (bytes[s + ETH_HLEN + IPV4_VER_IHL]! & 0x0f) * 4;
      proto = bytes[s + ETH_HLEN + IPV4_PROTO]!;
      // non-first fragments carry no L4 header
      if ((dv.getUint16(s + ETH_HLEN + IPV4_FRAG) & 0x1fff) !== 0) return drop(b, slot, DropReason.UNSUPPORTED_PROTOCOL);
    }
    b.l4[slot] = l4;
    b.proto[slot] = proto;
    const avail = len - l4;
    const at = s + l4;
    let ports: number;
    if (proto === IPPROTO_UDP) {
      if (avail < UDP_HLEN) return drop(b, slot, DropReason.TRUNCATED);
      const dport = dv.getUint16(at + UDP_DPORT);
      if ((b.flags[slot]! & PF_DECAPPED) === 0) {
        if (!v6 && dport === DHCP_SERVER_PORT) return E_DHCP;
        if (v6 && dport === DHCPV6_SERVER_PORT) return E_DHCPV6;
      }
      ports = dv.getInt32(at + UDP_SPORT);
    } else if (proto === IPPROTO_TCP) {
      if (avail < TCP_MIN) return drop(b, slot, DropReason.TRUNCATED);
      ports = dv.getInt32(at + UDP_SPORT);
    } else if ((proto === IPPROTO_ICMP && !v6) || (proto === IPPROTO_ICMPV6 && v6)) {
      if (avail < ICMP_MIN) return drop(b, slot, DropReason.TRUNCATED);
      ports = icmpPorts(bytes, dv, at);
    } else {
      return drop(b, slot, DropReason.UNSUPPORTED_PROTOCOL);
    }

    const fwd = this.fwd;
    const k = this.k;
    // what arrives tunnelled to a NAT address is keyed apart (see KEY_MARK_NAT)
    const mark = (b.flags[slot]! & PF_DECAPPED) !== 0 && b.vnfType[slot] === VnfType.NAT ? KEY_MARK_NAT : 0;
    writeKey(k, dv, s + ETH_HLEN, v6, proto | mark, ports, b.vni[slot]!);
    const flows = this.flows;
    const h = flowHash(k, 0);
    // an ICMP error belongs to the flow of the packet it quotes (upstream dp_build_icmp_flow_key):
    // it travels as that flow's packet the other way, NAT undone in the quoted packet too
    const quoted = proto === IPPROTO_ICMP && !v6 ? quotedPacket(dv, at, avail) : -1;
    const found = quoted >= 0 ? this.quotedFlow(dv, s + ETH_HLEN, quoted, b.vni[slot]!, mark, k, h) : flows.lookup(k, 0, h);
    let f: number;
    let dir: number;
    if (found < 0) {
      reverseKey(k, 0, k, KEY_WORDS);
      const rh = flowHash(k, KEY_WORDS);
      // the VM port the flow belongs to: where it came from, or (decapsulated) where it goes
      const port = (b.flags[slot]! & PF_DECAPPED) !== 0 ? b.outPort[slot]! : b.inPort[slot]!;
      f = fwd.owner.insert(k, 0, h, KEY_WORDS, rh, port, fwd.clock.now);
      if (f < 0) {
        fwd.stats[FS_TABLE_FULL] = fwd.stats[FS_TABLE_FULL]! + 1;
        return drop(b, slot, DropReason.FLOW_TABLE_FULL);
      }
      const fd = settleNew(fwd, k, h, f);
      f = fd >>> 1;
      dir = fd & 1;
    } else {
      f = found >>> 1;
      dir = found & 1;
    }
    touchFlow(fwd, f, dir, proto === IPPROTO_TCP ? bytes[at + TCP_FLAGS]! : -1);
    b.flow[slot] = f;
    b.dir[slot] = dir;
    const gen = flows.generation;
    b.gen[slot] = gen;
    // a VM's connection to a virtual service (upstream's cls sends it to virtsvc): every packet is
    // translated there; a flow that got no port yet (all in use) tries again
    if (fwd.virtsvc.count > 0 && (b.flags[slot]! & PF_FROM_PF) === 0 && ((flows.rec[f * RECORD + R_FLAGS]! & FLOW_VIRTSVC) !== 0
      || (!v6 && (proto === IPPROTO_TCP || proto === IPPROTO_UDP) && fwd.virtsvc.byVirtual(proto, k[K_DST]!, k[K_PORTS]! & 0xffff) >= 0))) {
      return E_VIRTSVC;
    }

    if (fwd.settings.fastPath && flows.rec[f * RECORD + R_GEN + dir * KEY_STRIDE] === gen
      && actMatches(flows.rec[f * RECORD + R_ACT + dir * KEY_STRIDE]!, actSide((b.flags[slot]! & PF_FROM_PF) !== 0, b.vnfType[slot]!), b.outPort[slot]!)) {
      fwd.stats[FS_FAST_PATH] = fwd.stats[FS_FAST_PATH]! + 1;
      return applyCached(this.ctx, b, slot, f, dir) === ACT_ENCAP ? E_ENCAP : E_TX;
    }

    if ((b.flags[slot]! & PF_DECAPPED) === 0) return E_DNAT;
    // tunnelled to us: what the outer destination was decides (upstream conntrack_node)
    const t = b.vnfType[slot]!;
    if (t === VnfType.VIP || t === VnfType.NAT) return E_DNAT;
    if (t === VnfType.LB) return E_LB;
    if (t === VnfType.INTERFACE_IP || t === VnfType.ALIAS_PFX || t === VnfType.LB_ALIAS_PFX) return E_FIREWALL;
    return drop(b, slot, DropReason.UNSUPPORTED_VNF);
  }

  /**
   * The flow of the TCP or UDP packet an ICMP error (IPv4 header at `ip`) quotes (at `q`), from
   * the error's side: the quoted packet's key reversed (flow << 1 | direction), or the error's own
   * key (k[0..], hash h) if no flow has it. Only an error sent back to the quoted packet's source
   * counts as the flow's: the flow's cached decision is made for that destination. k[KEY_WORDS..]
   * is scratch.
   */
  private quotedFlow(dv: DataView, ip: number, q: number, vni: number, mark: number, k: Int32Array, h: number): number {
    if (dv.getInt32(ip + IPV4_DST) !== dv.getInt32(q + IPV4_SRC)) return this.flows.lookup(k, 0, h);
    const o = KEY_WORDS;
    const l4 = q + (dv.getUint8(q) & 0x0f) * 4;
    k[o + K_VNI] = vni | 0;
    k[o + K_PORTS] = (dv.getUint16(l4 + 2) << 16) | dv.getUint16(l4);
    k[o + K_PROTO] = dv.getUint8(q + IPV4_PROTO) | mark;
    k[o + K_SRC] = dv.getInt32(q + IPV4_DST);
    k[o + K_DST] = dv.getInt32(q + IPV4_SRC);
    for (let i = 1; i < 4; i++) {
      k[o + K_SRC + i] = 0;
      k[o + K_DST + i] = 0;
    }
    const found = this.flows.lookup(k, o, flowHash(k, o));
    return found >= 0 ? found : this.flows.lookup(k, 0, h);
  }
}

/**
 * The side of a flow's key a packet comes from, as R_ACT records it for a cached decision: 0 from a
 * VM; from an uplink, ACT_FROM_PF for a tunnel to an interface's address or an alias prefix (the
 * graph takes it straight to the firewall, no NAT), ACT_FROM_PF | ACT_VIA_NAT for one to a VIP or
 * NAT address (through dnat and snat); -1 for other VNF types, which the graph drops, so no
 * decision matches. One connection's packets may arrive by either kind of tunnel (a VIP's replies
 * sent to the interface's own address), and the graph treats them differently.
 */
export function actSide(fromPf: boolean, vnfType: number): number {
  if (!fromPf) return 0;
  if (vnfType === VnfType.VIP || vnfType === VnfType.NAT) return ACT_FROM_PF | ACT_VIA_NAT;
  if (vnfType === VnfType.INTERFACE_IP || vnfType === VnfType.ALIAS_PFX || vnfType === VnfType.LB_ALIAS_PFX) return ACT_FROM_PF;
  return -1;
}

/**
 * Whether a cached action (R_ACT) was decided for packets like this one: of the same side
 * (actSide), and for a tunnel to an interface's address or an alias prefix, to the same interface:
 * the graph delivers such a tunnel to the port of the VNF it was addressed to, whatever its inner
 * destination (upstream), so tunnels of one flow to two interfaces' addresses go two ways.
 * `vnfPort` is that VNF's port (ignored for other sides).
 */
export function actMatches(act: number, side: number, vnfPort: number): boolean {
  return (act & ACT_SIDE) === side && (side !== ACT_FROM_PF || (act & 0xffff) === vnfPort);
}

/**
 * Writes the flow key of a packet to k[0..KEY_WORDS): VNI, the ports word (TCP/UDP: source << 16 |
 * destination; ICMP/ICMPv6 echo: the identifier on both halves, so that request and reply keys
 * mirror each other; other ICMP: type and code on both halves), protocol and family, addresses.
 */
export function writeKey(k: Int32Array, dv: DataView, ip: number, v6: boolean, proto: number, ports: number, vni: number): void {
  k[K_VNI] = vni | 0;
  k[K_PORTS] = ports;
  if (v6) {
    k[K_PROTO] = proto | 0x100;
    for (let i = 0; i < 4; i++) {
      k[K_SRC + i] = dv.getInt32(ip + IPV6_SRC + i * 4);
      k[K_DST + i] = dv.getInt32(ip + IPV6_DST + i * 4);
    }
  } else {
    k[K_PROTO] = proto;
    k[K_SRC] = dv.getInt32(ip + IPV4_SRC);
    k[K_DST] = dv.getInt32(ip + IPV4_DST);
    k[K_SRC + 1] = 0; k[K_SRC + 2] = 0; k[K_SRC + 3] = 0;
    k[K_DST + 1] = 0; k[K_DST + 2] = 0; k[K_DST + 3] = 0;
  }
}

/** The key's ports word for an ICMP or ICMPv6 header at `at` (see writeKey). */
export function icmpPorts(bytes: Uint8Array, dv: DataView, at: number): number {
  const type = bytes[at + ICMP_TYPE]!;
  if (type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY || type === ICMPV6_ECHO_REQUEST || type === ICMPV6_ECHO_REPLY) {
    const id = dv.getUint16(at + 4);
    return (id << 16) | id;
  }
  const tc = (type << 8) | bytes[at + 1]!;
  return (tc << 16) | tc;
}

/**
 * A packet of flow f in direction dir was seen: time, cross-worker counter, TCP state (tcpFlags < 0:
 * not TCP). The record is written only when something changes (for the time at most FLOW_CLOCK_HZ
 * times a second): the two directions of a flow may be handled by two workers, and a line both
 * keep writing would bounce between their cores.
 */
export function touchFlow(fwd: Forwarding, f: number, dir: number, tcpFlags: number): void {
  const rec = fwd.flows.rec;
  const base = f * RECORD;
  if ((rec[base + R_OWNER + dir * KEY_STRIDE]! & OWNER_MASK) !== fwd.owner.worker) fwd.stats[FS_CROSS_WORKER] = fwd.stats[FS_CROSS_WORKER]! + 1;
  touchRecord(rec, base, dir, fwd.clock.now, tcpFlags);
}

/**
 * A flow this worker has just created from key k (hash h) as record f: returns the flow and
 * direction the packet continues with, f << 1 normally. The connection's first packets from both
 * sides, on two workers at once, make two records of it (both missed, both inserted); then one
 * worker gives its record up and takes the other's (counted as FS_DUPLICATE, not FS_CREATED).
 */
function settleNew(fwd: Forwarding, k: Int32Array, h: number, f: number): number {
  const other = fwd.flows.lookupOther(k, 0, h, f);
  if (other >= 0 && settleDuplicate(fwd.flows.rec, f, other >>> 1)) {
    fwd.owner.remove(f, fwd.owner.startGrace());
    fwd.stats[FS_DUPLICATE] = fwd.stats[FS_DUPLICATE]! + 1;
    return other;
  }
  fwd.stats[FS_CREATED] = fwd.stats[FS_CREATED]! + 1;
  return f << 1;
}

/**
 * Of two records made for one connection at once (own record f, the other worker's g): whether
 * this worker gives its record up. The first of the two workers to mark the lower-numbered record
 * gives up; a worker that marks it second keeps its own (the other has given up), and one that
 * never saw the other record keeps its own too, so exactly one record stays.
 */
function settleDuplicate(rec: Int32Array, f: number, g: number): boolean {
  const arbiter = Math.min(f, g) * RECORD + R_FLAGS;
  return (Atomics.or(rec, arbiter, FLOW_DUP_SETTLED) & FLOW_DUP_SETTLED) === 0;
}

/** touchFlow on the record at rec[base] without the cross-worker count: time and TCP state. */
export function touchRecord(rec: Int32Array, base: number, dir: number, now: number, tcpFlags: number): void {
  const seen = base + R_SEEN + dir * KEY_STRIDE;
  if (rec[seen] !== now) rec[seen] = now;
  if (tcpFlags >= 0) tcpTrack(rec, base, dir, tcpFlags);
}

/**
 * Applies the cached decision of flow f, direction dir, to the packet: NAT, then the Ethernet
 * header toward the VM (ACT_TO_VF) or the outer destination for ipip_encap (ACT_ENCAP). Returns
 * the action. The caller checked that the decision is current.
 */
export function applyCached(ctx: NodeContext, b: PacketBatch, slot: number, f: number, dir: number): number {
  const fwd = ctx.fwd;
  const rec = fwd.flows.rec;
  const base = f * RECORD;
  const act = rec[base + R_ACT + dir * KEY_STRIDE]!;
  const kind = (act >>> ACT_KIND_SHIFT) & ACT_KIND_MASK;
  const out = act & 0xffff;
  b.flow[slot] = f;
  b.dir[slot] = dir;
  if ((act & ACT_NAT) !== 0) {
    applyDstNat(fwd.flows, b, slot);
    applySrcNat(fwd.flows, b, slot);
  }
  b.outPort[slot] = out;
  if (kind === ACT_ENCAP) {
    const ul = b.ulDv;
    const o = slot * 16;
    for (let i = 0; i < 4; i++) ul.setInt32(o + i * 4, rec[base + R_UL + dir * 4 + i]!);
    b.ulRef[slot] = rec[base + R_OWNER + dir * KEY_STRIDE]! >>> UL_REF_SHIFT;
    b.flags[slot] = b.flags[slot]! | PF_ENCAP;
    return ACT_ENCAP;
  }
  ctx.ports.writeEthToVm(out, b.dv, b.start[slot]! + ETH_DST);
  return ACT_TO_VF;
}

/** Upstream's TCP state machine (dp_cntrack_change_flow_state), driven by the flags of each packet. */
function tcpTrack(rec: Int32Array, base: number, dir: number, flags: number): void {
  const w = rec[base + R_STATE]!;
  const st = w & 0xff;
  let next = st;
  if ((flags & TCP_RST) !== 0) {
    next = TcpState.RST_FIN;
  } else if ((flags & TCP_FIN) !== 0) {
    next = TcpState.FINWAIT;
  } else if (st === TcpState.NONE || st === TcpState.RST_FIN) {
    if ((flags & TCP_SYN) !== 0 && (flags & TCP_ACK) === 0) next = TcpState.NEW_SYN;
    else if (st === TcpState.NONE) next = TcpState.ESTABLISHED;
  } else if (st === TcpState.NEW_SYN) {
    if (dir === 1 && (flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) next = TcpState.NEW_SYNACK;
  } else if (st === TcpState.NEW_SYNACK) {
    if (dir === 0 && (flags & (TCP_SYN | TCP_ACK)) === TCP_ACK) next = TcpState.ESTABLISHED;
  }
  if (next !== st) rec[base + R_STATE] = (w & ~0xff) | next;
}
