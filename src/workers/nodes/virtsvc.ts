// virtsvc: virtual services (upstream's virtsvc node). A VM's TCP or UDP packet to a service's
// virtual IPv4 address and port (conntrack sends its flow here) leaves an uplink as IPv6 to the
// service, from the service's underlay address and a port of the service's own; the service's
// answer (cls sends it here) returns to the VM as IPv4 from the virtual address and port. The
// connection is a flow (FLOW_VIRTSVC, see virtsvc-table.ts) whose first packet takes a port;
// every packet is translated here (no cached decision). Budget: a service scan and a flow lookup
// per answer, the header swap and a checksum per packet.
import type { PacketBatch } from '../../packet/batch.js';
import { PF_FROM_PF } from '../../packet/batch.js';
import { setTcp4Checksum, setTcp6Checksum, setUdp4Checksum, setUdp6Checksum } from '../../packet/checksum.js';
import { DropReason } from '../../packet/drop-reasons.js';
import {
  ETH_DST, ETH_HLEN, IPPROTO_TCP, IPV4_FRAG, IPV4_SRC, IPV6_DST, IPV6_HLEN, IPV6_SRC, TCP_FLAGS,
} from '../../packet/headers.js';
import { ipv4ToIpv6Header, ipv6ToIpv4Header } from '../../packet/nat64.js';
import { upstreamVirtsvcHash } from '../../packet/upstream-hash.js';
import {
  FLOW_VIRTSVC, flowHash, K_DST, K_PORTS, K_PROTO, K_SRC, K_VNI, KEY_STRIDE, KEY_WORDS, R_FLAGS, R_KEY, R_NATPORT, R_PORT, RECORD,
} from '../../tables/flow-table.js';
import { PortState } from '../../tables/port-table.js';
import { VIRTSVC_FIRST_PORT, VIRTSVC_PORTS } from '../../tables/virtsvc-table.js';
import { drop, GraphNode, TX_EDGE } from '../graph.js';
import { DEFAULT_FORWARDING, type Forwarding, type NodeContext } from '../node-context.js';
import { touchFlow, writeKey } from './conntrack.js';
import { KEY_REFUSED, KEY_TAKEN, tryReplyKey } from './flow-actions.js';
import { UNDERLAY_VTC_FLOW } from './ipip-encap.js';
import { pickUplink } from './ipv4-lookup.js';

const E_TX = 1;
const UDP_HLEN = 8;
const TCP_HLEN = 20;

export class VirtsvcNode extends GraphNode {
  readonly name = 'virtsvc';
  readonly edges: readonly string[] = ['drop', TX_EDGE];
  private readonly fwd: Forwarding;
  private readonly ctx: NodeContext;
  /** A key (and the flow's old reply key at KEY_WORDS, while a port is searched). */
  private readonly k = new Int32Array(KEY_WORDS * 2);
  /** Identification of the IPv4 answers (upstream: a counter). */
  private ipId = 0;

  constructor(ctx: NodeContext) {
    super();
    this.ctx = ctx;
    this.fwd = ctx.fwd;
  }

  process(b: PacketBatch, slot: number): number {
    return (b.flags[slot]! & PF_FROM_PF) !== 0 ? this.answer(b, slot) : this.request(b, slot);
  }

  /** A VM's packet (conntrack found or made its flow, direction 0) to the service. */
  private request(b: PacketBatch, slot: number): number {
    const fwd = this.fwd;
    const rec = fwd.flows.rec;
    const f = b.flow[slot]!;
    if (b.dir[slot] !== 0) return drop(b, slot, DropReason.VIRTSVC_NO_CONN);
    const dv = b.dv;
    const ip = b.start[slot]! + ETH_HLEN;
    const proto = b.proto[slot]!;
    // upstream swaps a 20-byte header: options and fragments are not translated
    if (b.bytes[ip] !== 0x45 || (dv.getUint16(ip + IPV4_FRAG) & 0x3fff) !== 0) return drop(b, slot, DropReason.UNSUPPORTED_PROTOCOL);
    if (dv.getUint16(ip + 2) - 20 < (proto === IPPROTO_TCP ? TCP_HLEN : UDP_HLEN)) return drop(b, slot, DropReason.TRUNCATED);
    const base = f * RECORD;
    let svc: number;
    if ((rec[base + R_FLAGS]! & FLOW_VIRTSVC) === 0) {
      svc = fwd.virtsvc.byVirtual(proto, rec[base + R_KEY + K_DST]!, rec[base + R_KEY + K_PORTS]! & 0xffff);
      if (svc < 0) return drop(b, slot, DropReason.NO_ROUTE);
      const got = this.takePort(f, svc, proto);
      if (got < 0) return drop(b, slot, got === -1 ? DropReason.VIRTSVC_PORTS_FULL : DropReason.FLOW_TABLE_FULL);
    } else {
      svc = rec[base + R_NATPORT]!;
    }
    const vs = fwd.virtsvc;
    const port = rec[base + R_KEY + KEY_STRIDE + K_PORTS]! & 0xffff;
    const l4 = ip + 20;
    const vmIp = dv.getUint32(ip + IPV4_SRC);
    const vmPort = dv.getUint16(l4);
    // upstream's uplink: its WCMP table at the hash of the connection's key
    const pf = pickUplink(fwd, upstreamVirtsvcHash(b.inPort[slot]!, vmPort, vmIp));
    const ip6 = ipv4ToIpv6Header(b, slot, UNDERLAY_VTC_FLOW, proto);
    if (ip6 < 0) return drop(b, slot, DropReason.NO_ROOM);
    const w = vs.words;
    const ul = vs.underlayAt(svc);
    const sa = vs.serviceAt(svc);
    for (let i = 0; i < 4; i++) {
      dv.setInt32(ip6 + IPV6_SRC + i * 4, w[ul + i]!);
      dv.setInt32(ip6 + IPV6_DST + i * 4, w[sa + i]!);
    }
    dv.setUint16(l4, port);
    dv.setUint16(l4 + 2, vs.servicePort(svc));
    const plen = b.len[slot]! - ETH_HLEN - IPV6_HLEN;
    if (proto === IPPROTO_TCP) setTcp6Checksum(b.bytes, ip6, l4, plen);
    else setUdp6Checksum(b.bytes, ip6, l4, plen);
    this.ctx.ports.writeEthToVm(pf, dv, b.start[slot]! + ETH_DST);
    b.outPort[slot] = pf;
    return E_TX;
  }

  /** An uplink's IPv6 packet from a service's address and port (cls checked both). */
  private answer(b: PacketBatch, slot: number): number {
    const fwd = this.fwd;
    const flows = fwd.flows;
    const rec = flows.rec;
    const dv = b.dv;
    const ip6 = b.start[slot]! + ETH_HLEN;
    const proto = b.bytes[ip6 + 6]!;
    const l4 = ip6 + IPV6_HLEN;
    if (b.len[slot]! - ETH_HLEN - IPV6_HLEN < (proto === IPPROTO_TCP ? TCP_HLEN : UDP_HLEN)) return drop(b, slot, DropReason.TRUNCATED);
    const k = this.k;
    writeKey(k, dv, ip6, true, proto, dv.getInt32(l4), 0);
    const found = flows.lookup(k, 0, flowHash(k, 0));
    if (found < 0 || (found & 1) !== 1 || (rec[(found >>> 1) * RECORD + R_FLAGS]! & FLOW_VIRTSVC) === 0) {
      return drop(b, slot, DropReason.VIRTSVC_NO_CONN);
    }
    const f = found >>> 1;
    const base = f * RECORD;
    const vm = rec[base + R_PORT]!;
    if (vm < 0 || this.ctx.ports.state(vm) !== PortState.VF_ACTIVE) return drop(b, slot, DropReason.PORT_NOT_ACTIVE);
    touchFlow(fwd, f, 1, proto === IPPROTO_TCP ? b.bytes[l4 + TCP_FLAGS]! : -1);
    b.flow[slot] = f;
    b.dir[slot] = 1;
    const vs = fwd.virtsvc;
    const svc = rec[base + R_NATPORT]!;
    const plen = dv.getUint16(ip6 + 4);
    this.ipId = (this.ipId + 1) & 0xffff;
    const ip4 = ipv6ToIpv4Header(b, slot, proto, 0, this.ipId, vs.virtualIp(svc), rec[base + R_KEY + K_SRC]!);
    dv.setUint16(l4, vs.virtualPort(svc));
    dv.setUint16(l4 + 2, rec[base + R_KEY + K_PORTS]! >>> 16);
    if (proto === IPPROTO_TCP) setTcp4Checksum(b.bytes, ip4, l4, plen);
    else setUdp4Checksum(b.bytes, ip4, l4, plen);
    this.ctx.ports.writeEthToVm(vm, dv, b.start[slot]! + ETH_DST);
    b.outPort[slot] = vm;
    return E_TX;
  }

  /**
   * Gives flow f (a VM's connection to service `svc`) a port of the service: the reply key becomes
   * the answer's (from the service's address and port to its underlay address and the port). The
   * search starts after the port the service gave last and takes the first one no flow holds, as
   * upstream assigns them (with --flow-timeout, which upstream has in its test builds only, from
   * the first port each time, as those do). Two workers may take one port at the same moment: the
   * one that sees the other's record moves on (see snat's searchPort). Returns the port's index,
   * -1 if every port is in use, -2 if the index refused the key (the old reply key is back then).
   */
  private takePort(f: number, svc: number, proto: number): number {
    const fwd = this.fwd;
    const flows = fwd.flows;
    const vs = fwd.virtsvc;
    const k = this.k;
    flows.copyKey(f, 1, k, KEY_WORDS);
    k[K_VNI] = 0;
    k[K_PROTO] = proto | 0x100;
    const sa = vs.serviceAt(svc);
    const ul = vs.underlayAt(svc);
    for (let i = 0; i < 4; i++) {
      k[K_SRC + i] = vs.words[sa + i]!;
      k[K_DST + i] = vs.words[ul + i]!;
    }
    const high = vs.servicePort(svc) << 16;
    const last = fwd.settings.flowTimeout !== DEFAULT_FORWARDING.flowTimeout ? 0 : vs.lastGiven(svc);
    for (let p = 1; p <= VIRTSVC_PORTS; p++) {
      const idx = (last + p) % VIRTSVC_PORTS;
      k[K_PORTS] = high | (idx + VIRTSVC_FIRST_PORT);
      const r = tryReplyKey(fwd, f, k);
      if (r === KEY_REFUSED) return -2;
      if (r === KEY_TAKEN) continue;
      vs.setLastGiven(svc, idx);
      markVirtsvc(flows.rec, f, svc);
      vs.countPort(svc, 1);
      return idx;
    }
    fwd.owner.rekeyReply(f, k, KEY_WORDS, flowHash(k, KEY_WORDS));
    return -1;
  }
}

/** Marks flow f as service `svc`'s connection. */
function markVirtsvc(r: Int32Array, f: number, svc: number): void {
  r[f * RECORD + R_NATPORT] = svc;
  Atomics.or(r, f * RECORD + R_FLAGS, FLOW_VIRTSVC);
}
