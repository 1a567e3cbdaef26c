/**
 * The software fast path, the analogue of upstream's rte_flow offload: a received packet whose flow
 * has a current cached decision (made by the graph for the flow's first packet in that direction,
 * see the firewall node) is forwarded right away, without the graph: parse, one flow lookup, NAT,
 * Ethernet or tunnel headers. Everything else, and anything unusual (IPv4 options, fragments,
 * truncation, DHCP, neighbour discovery, a miss, a stale decision), walks the graph unchanged: the
 * graph stays the only authority on what happens to a packet, this only repeats its answer.
 *
 * Packets forwarded here are counted per worker (dps_worker_stat{stat="fastpath"}), not by the graph
 * nodes, as upstream's offloaded packets never reach its graph. Cost: bench/forward.js (rx, this,
 * tx; one flow) 47-49 ns per packet against 28.5 ns for rx and tx alone (bench/rxtx-floor.js), so
 * ~20 ns here; the worker's loop sees this object, its tables and the io area as constants (see
 * WorkerLoop in worker.ts).
 */
import { type EncapTables, type IoArea, TX_ENCAP4, TX_ENCAP6, TX_MOVED } from '../ffi/dpdk.js';
import type { PacketBatch } from '../packet/batch.js';
import { MAX_SLOTS, PF_DECAPPED, PF_FROM_PF, PF_IPV6 } from '../packet/batch.js';
import { DropReason } from '../packet/drop-reasons.js';
import {
  DHCP_SERVER_PORT, DHCPV6_SERVER_PORT, ETH_DST, ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ICMP_DEST_UNREACH, ICMPV6_NS, ICMPV6_RS,
  IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP, IPV4_DST, IPV4_SRC, IPV6_DST, IPV6_HLEN, TCP_FLAGS,
} from '../packet/headers.js';
import {
  ACT_ENCAP, ACT_FROM_PF, ACT_NAT, ACT_KIND_MASK, ACT_KIND_SHIFT, ACT_SIDE, ACT_TO_VF, ACT_VIA_NAT, flowHash, flowHashV4, KEY_MARK_NAT, KEY_STRIDE, KEY_WORDS, OWNER_MASK, R_ACT, R_GEN, R_OWNER, R_UL, RECORD,
  UL_REF_SHIFT,
} from '../tables/flow-table.js';
import { F_NH, F_SHIFT } from '../tables/lpm-core.js';
import { VnfType } from '../actors/underlay.js';
import { PortState, PortTable } from '../tables/port-table.js';
import type { Graph } from './graph.js';
import { FS_CROSS_WORKER, FS_FAST_DIRECT, FS_FAST_PATH, type NodeContext } from './node-context.js';
import { actSide, applyCached, icmpPorts, touchFlow, touchRecord, writeKey } from './nodes/conntrack.js';
import { encapsulate, writeNexthop, writeUnderlay } from './nodes/ipip-encap.js';
import { natPacket } from './nodes/flow-actions.js';

/** forward(), applySlot() and burstIo() verdicts. */
export const FAST_MISS = 0;   // untouched: walk the graph
export const FAST_TX = 1;     // forwarded: send on b.outPort
export const FAST_DROP = 2;   // dropped (b.dropReason set)
export const FAST_DONE = 3;   // burstIo: forwarded, its tx descriptor written
export const FAST_SLOT = 4;   // burstIo: a current decision to apply on the slot (applySlot)

/**
 * Kinds of parsed slots (S_KIND; 0: not for the fast path). A packet from an uplink also carries
 * which decisions may serve it (actMatches): K_VIA_NAT for a tunnel to a VIP or NAT address, else
 * the port of the interface the tunnel was addressed to, from bit K_PORT_SHIFT on.
 */
const K_NONE = 0;
const K_V4 = 1;
const K_V6 = 2;
const K_FROM_PF = 4;
const K_VIA_NAT = 8;
const K_PORT_SHIFT = 8;
/**
 * Words per slot of FastPath.found: kind, IP header, L4 header, L3 end, the key's protocol word
 * (protocol and mark), VNI, ports word, hash, IPv4 addresses, lookup.
 */
const SLOT_WORDS = 16;
/**
 * Up to this many live flows, burstIo looks up and applies each packet right after parsing it: the
 * table's lines stay in the caches and the passes' bookkeeping would only cost. Above it, the
 * passes overlap the misses, and the shim prefetches the bucket lines, so that a VM's UDP packet
 * skips the passes (see burstIo). Measured before that prefetch, bench/overlay, VM to VM, 1
 * worker, one loop vs the passes: 1,000 flows
 * 69-74 vs 88-89 ns per packet, 2,000 92 vs 99, 3,000 104-107 vs 96-98, 4,000 119-169 vs 99-149,
 * 10,000 333 vs 145, 100,000 327-351 vs 173-189. With the flow cache (which only the single loop
 * uses) the passes still matched or beat it at 3,000 and 6,000 flows (three alternating runs).
 */
const FUSED_MAX_FLOWS = 2048;
/**
 * The worker's flow cache (FastPath.cache, as OVS-DPDK's exact match cache): CACHE_SETS sets of two
 * ways, each way the hash and flow << 1 | direction of an IPv4 key the table gave this worker, 32
 * KB, dense enough to stay in the caches where the table's bucket lines do not: with 1,000 flows a
 * packet read a bucket line of its own, evicted by the frames between two of its packets (the
 * hottest load of the worker's loop). bench/overlay, 1 worker, 1,000 flows, four alternating runs
 * without and with: VM to VM 136 -> 107 ns, encap 173 -> 146, decap 172 -> 126 (medians, a slow
 * phase); 100,000 flows (the passes, which do not use it) unchanged.
 */
const CACHE_SETS = 2048;
const CACHE_WORDS = 4;
const S_KIND = 0;
const S_IP = 1;
const S_L4 = 2;
const S_L3END = 3;
const S_PROTO = 4;
const S_VNI = 5;
const S_PORTS = 6;
const S_HASH = 7;
const S_SRC = 8;
const S_DST = 9;
const S_FOUND = 10;   // the lookup's result (lookupSlot)
/**
 * Words of FastPath.lastVnf: the address, then the VNF's port, VNI and the K_* bits its tunnels'
 * slots get (-1: none may use the fast path).
 */
const V_A0 = 0;
const V_A1 = 1;
const V_A2 = 2;
const V_A3 = 3;
const V_PORT = 4;
const V_VNI = 5;
const V_KIND = 6;
const V_MARK = 7;   // the key mark of tunnels to it (KEY_MARK_NAT for a NAT address)

/**
 * Whether the record at rec[base] holds a decision for direction dir made in generation `gen` for
 * packets like this one, of slot kind `kind` (conntrack's actMatches: the same side of the key, a
 * VM or an uplink tunnel to an interface or to a VIP; for a tunnel to an interface, the same
 * interface): only then may the fast path repeat it. actMatches on the bits of the kind word, which
 * costs no slot words per packet; graph-fuzz.test.ts holds the two to the same answers.
 */
function decided(rec: Int32Array, base: number, dir: number, gen: number, kind: number): boolean {
  if (rec[base + R_GEN + dir * KEY_STRIDE] !== gen) return false;
  const act = rec[base + R_ACT + dir * KEY_STRIDE]!;
  if ((kind & K_FROM_PF) === 0) return (act & ACT_SIDE) === 0;
  if ((kind & K_VIA_NAT) !== 0) return (act & ACT_SIDE) === (ACT_FROM_PF | ACT_VIA_NAT);
  return (act & ACT_SIDE) === ACT_FROM_PF && (act & 0xffff) === kind >>> K_PORT_SHIFT;
}

/**
 * The tables the shim's encapsulation reads when FastPath.shimEncap is on (Dpdk.encapSetup): the
 * port table, the IPv4 and IPv6 route tables' fields and the flow table's configuration generation
 * word, with the layout of each.
 */
export function encapTables(ports: PortTable, fields4: Int32Array, fields6: Int32Array, generation: Int32Array): EncapTables {
  return {
    portWords: ports.words, portBytes: ports.bytes, fields4, fields6, generation,
    layout: [...PortTable.shimLayout, 1 << F_SHIFT, F_NH, fields4.length >>> F_SHIFT, fields6.length >>> F_SHIFT],
  };
}

export class FastPath {
  private readonly k = new Int32Array(KEY_WORDS);
  /** What parsing a slot found, SLOT_WORDS per slot (S_* words), for its lookup and the slot path. */
  private readonly found = new Int32Array(MAX_SLOTS * SLOT_WORDS);
  /**
   * Whether the shim prefetches the flow index bucket of each IPv4 TCP or UDP packet from an active
   * VM port as it receives it (the worker keeps this and the shim's switch the same, see
   * refreshPrefetchPorts): burstIo then looks such UDP packets up at once instead of in its
   * passes. TCP stays in the passes, which read its state on the record's third line ahead.
   */
  prefetching = false;
  /**
   * Whether the shim writes the outer headers of the encapsulations burstIo hands over
   * (Dpdk.encapSetup done by the worker): a packet whose outer destination a route holds then
   * gets only its tx descriptor's txEncap word (the route reference and its in port) instead of 54
   * bytes written here. Off (tests without the shim, the graph), this writes them.
   */
  shimEncap = false;
  /** burstIo's slots that go through its passes. */
  private readonly deferred = new Int32Array(MAX_SLOTS);
  /** Words the last burst read ahead (kept so the loads are not optimised away). */
  readAhead = 0;
  /**
   * The VNF the last tunnel of this burst was addressed to (V_* words; port -1: none). Valid for one
   * burst: a configuration change is acknowledged by every worker between bursts (table-sync.ts).
   */
  private readonly lastVnf = Int32Array.of(0, 0, 0, 0, -1, 0, 0, 0);
  /** Packets of the current burst whose flow another worker owns (counted once per burst). */
  private cross = 0;
  /**
   * The packet parseFrame parsed last (S_* words as fields): lookupCur and applyIo read these. Fields
   * of the object, not words of `found`: V8 forwards a field's store to its loads and needs no
   * bounds or overflow checks for them (with the words of `found`, 21 checked stores and loads per
   * packet).
   */
  private cKind = K_NONE;
  private cIp = 0;
  private cL4 = 0;
  private cL3end = 0;
  private cProto = 0;
  private cVni = 0;
  private cPorts = 0;
  private cHash = 0;
  private cSrc = 0;
  private cDst = 0;
  /**
   * The IPv4 key lookupMemo last looked up in this burst, and its flow (m*; mProto -1: none). Valid
   * for one burst, like lastVnf.
   */
  private mVni = 0;
  private mPorts = 0;
  private mProto = -1;
  private mSrc = 0;
  private mDst = 0;
  private mFound = -1;
  /** The flow cache (CACHE_SETS sets of [hash, flow << 1 | dir] twice, the newest first). */
  private readonly cache = new Int32Array(CACHE_SETS * CACHE_WORDS);
  /** The table's dupEpoch the cache's answers were given in. */
  private cacheEpoch = 0;

  /**
   * fusedMaxFlows: burstIo's single loop up to this many live flows, its passes above (tests run
   * both ways on the same bursts).
   */
  constructor(private readonly ctx: NodeContext, readonly fusedMaxFlows = FUSED_MAX_FLOWS) {}

  /** The fast path for one packet: a burst of one. */
  forward(b: PacketBatch, slot: number): number {
    this.lastVnf[V_PORT] = -1;
    this.mProto = -1;
    this.syncCache();
    if (!this.ctx.fwd.settings.fastPath || !this.parse(b, slot)) return FAST_MISS;
    this.saveSlot(slot, this.lookupMemo(b.dv));
    return this.applySlot(b, slot);
  }

  /**
   * The worker's fast path, straight on the io area's rx descriptors, slots [0, n): parse, look
   * up, and for the commonest decisions (VM to VM, VM to uplink with encapsulation, uplink to VM
   * after decapsulation; with VIP or network NAT or without) rewrite the frame in place and write
   * its tx descriptor from index 0, so these packets never touch the batch's metadata or the
   * graph. verdict[slot] is FAST_DONE for those, FAST_SLOT for other current decisions (the worker
   * resets the slot and calls applySlot) and FAST_MISS for the rest. Returns the number of tx
   * descriptors written.
   *
   * Up to fusedMaxFlows live flows one loop parses, looks up and applies each packet in turn. Above
   * that it works in passes over the burst, each a tight loop, so the cache misses of different
   * packets overlap (bench/overlay, 100,000 flows: VM to VM 376 -> 215-231 ns per packet against
   * one packet at a time, before the worker loop's constants; see FUSED_MAX_FLOWS). Parsing and
   * hashing the burst and reading its bucket lines in one loop gave no such gain: with that much
   * work per packet too few loads were in flight. But while the shim prefetches (`prefetching`),
   * a VM's IPv4 UDP packet, whose bucket line is on its way and whose decision sits on its key's
   * line, is looked up and applied as soon as it is parsed, and only the rest go through the
   * passes: bench/overlay, 100,000 flows, 1 worker, alternating, VM to VM 158 -> 131 ns and encap
   * 173 -> 132 (medians of five pairs). TCP stays in the passes: its state is on the record's
   * third line, which they read ahead.
   */
  burstIo(io: IoArea, n: number, b: PacketBatch, verdict: Uint8Array): number {
    if (!this.ctx.fwd.settings.fastPath) {
      verdict.fill(FAST_MISS, 0, n);
      return 0;
    }
    const { rxStart, rxLen, rxPort } = io;
    const bytes = b.bytes;
    const dv = b.dv;
    const fwd = this.ctx.fwd;
    const flows = fwd.flows;
    const rec = flows.rec;
    const st = this.found;
    this.lastVnf[V_PORT] = -1;
    this.mProto = -1;

    // read once: a configuration change is acknowledged by every worker between two bursts
    // before its RPC answers (table-sync.ts), so no burst that started after it sees the old one
    const gen = flows.generation;
    const me = fwd.owner.worker;
    const now = fwd.clock.now;
    let nt = 0;
    if (flows.liveHint <= this.fusedMaxFlows) {
      // a small table stays in the caches: one loop, nothing kept between passes
      this.syncCache();
      for (let i = 0; i < n; i++) {
        const found = this.parseFrame(bytes, dv, rxStart[i]!, rxLen[i]!, rxPort[i]!) ? this.lookupMemo(dv) : -1;
        const v = found < 0 ? FAST_MISS : this.applyIo(io, b, i, found, nt, gen, me, now);
        verdict[i] = v;
        if (v === FAST_DONE) nt++;
        // the slot path (handOff) reads the slot's words
        else if (v === FAST_SLOT) this.saveSlot(i, found);
      }
    } else {
      // a table bigger than the caches: a packet whose bucket line the shim prefetched (see
      // `prefetching`) is looked up and applied right away; the rest go through passes, each a
      // loop of its own, so that their cache misses overlap (at 100,000 flows every bucket and
      // record line misses): read the bucket lines; look the keys up and read the rest of each
      // hit's record it needs; apply
      const direct = this.prefetching;
      const dl = this.deferred;
      let nd = 0;
      for (let i = 0; i < n; i++) {
        if (!this.parseFrame(bytes, dv, rxStart[i]!, rxLen[i]!, rxPort[i]!)) {
          verdict[i] = FAST_MISS;
        } else if (direct && this.cKind === K_V4 && (this.cProto & 0xff) === IPPROTO_UDP) {
          const found = this.lookupMemoDirect(dv);
          const v = found < 0 ? FAST_MISS : this.applyIo(io, b, i, found, nt, gen, me, now);
          verdict[i] = v;
          if (v === FAST_DONE) nt++;
          else if (v === FAST_SLOT) this.saveSlot(i, found);
        } else {
          this.hashCur(dv);
          this.saveSlot(i, -1);
          dl[nd++] = i;
        }
      }
      if (nt > 0) fwd.stats[FS_FAST_DIRECT] = fwd.stats[FS_FAST_DIRECT]! + nt;
      let ahead = 0;
      for (let j = 0; j < nd; j++) ahead ^= flows.touchBucket(st[dl[j]! * SLOT_WORDS + S_HASH]!);
      for (let j = 0; j < nd; j++) {
        const i = dl[j]!;
        this.restoreSlot(i);
        const found = this.lookupCur(dv);
        st[i * SLOT_WORDS + S_FOUND] = found;
        if (found >= 0) ahead ^= this.touchRest(rec, found);
      }
      this.readAhead = ahead;
      for (let j = 0; j < nd; j++) {
        const i = dl[j]!;
        const found = st[i * SLOT_WORDS + S_FOUND]!;
        if (found >= 0) this.restoreSlot(i);
        const v = found < 0 ? FAST_MISS : this.applyIo(io, b, i, found, nt, gen, me, now);
        verdict[i] = v;
        if (v === FAST_DONE) nt++;
      }
    }
    const cross = this.cross;
    this.cross = 0;
    if (nt > 0) this.count(nt);
    if (cross > 0) fwd.stats[FS_CROSS_WORKER] = fwd.stats[FS_CROSS_WORKER]! + cross;
    return nt;
  }

  /**
   * The passes' read of the record line a hit flow's packet needs beyond its key's line (which the
   * lookup compared, so its decision is in the cache): the last line, with the outer destination of
   * an encapsulation no route holds (see R_OWNER), the NAT flags and the TCP state. Returns a word
   * of it (0: none needed).
   */
  private touchRest(rec: Int32Array, found: number): number {
    const base = (found >>> 1) * RECORD;
    const d = (found & 1) * KEY_STRIDE;
    const act = rec[base + d + R_ACT]!;
    // an encapsulation whose outer destination a route holds reads it there (see R_OWNER)
    const ulHere = ((act >>> ACT_KIND_SHIFT) & ACT_KIND_MASK) === ACT_ENCAP && rec[base + d + R_OWNER]! >>> UL_REF_SHIFT === 0;
    if (!ulHere && (act & ACT_NAT) === 0 && (this.cProto & 0xff) !== IPPROTO_TCP) return 0;
    return rec[base + R_UL]!;
  }

  /**
   * burstIo's last step for rx slot i, parsed last (the c* fields), whose flow burstIo found (flow << 1 | direction): with a
   * current decision the fast path applies in place, the packet is rewritten and gets tx
   * descriptor nt (FAST_DONE); other current decisions are FAST_SLOT, the rest FAST_MISS.
   */
  private applyIo(io: IoArea, b: PacketBatch, i: number, found: number, nt: number, gen: number, me: number, now: number): number {
    const rec = this.ctx.fwd.flows.rec;
    const kind = this.cKind;
    const dir = found & 1;
    const base = (found >>> 1) * RECORD;
    if (!decided(rec, base, dir, gen, kind)) return FAST_MISS;
    const fromPf = (kind & K_FROM_PF) !== 0;
    const act = rec[base + R_ACT + dir * KEY_STRIDE]!;
    const s = io.rxStart[i]!;
    const ak = (act >>> ACT_KIND_SHIFT) & ACT_KIND_MASK;
    // encapsulation needs 40 bytes of headroom; without them the slot path drops the packet
    if ((ak !== ACT_TO_VF && (ak !== ACT_ENCAP || fromPf)) || (ak === ACT_ENCAP && s - IPV6_HLEN < io.rxOff[i]! + b.bufShift)) return FAST_SLOT;
    const bytes = b.bytes;
    const dv = b.dv;
    const ports = this.ctx.ports;
    const ip = this.cIp;
    const l4 = this.cL4;
    const l3end = this.cL3end;
    const proto = this.cProto & 0xff;
    const owner = rec[base + R_OWNER + dir * KEY_STRIDE]!;
    if ((owner & OWNER_MASK) !== me) this.cross++;
    touchRecord(rec, base, dir, now, proto === IPPROTO_TCP ? bytes[l4 + TCP_FLAGS]! : -1);
    const v6 = (kind & K_V6) !== 0;
    // NAT as dnat and snat apply it (VIP, network NAT; IPv4 only)
    if (!v6 && (act & ACT_NAT) !== 0) natPacket(rec, found >>> 1, dir, dv, ip, l4, l3end - l4, proto);
    const out = act & 0xffff;
    let start = ip - ETH_HLEN;
    let len = l3end - start;
    let set: number;
    if (ak === ACT_ENCAP) {
      start -= IPV6_HLEN;
      const ref = owner >>> UL_REF_SHIFT;
      const inPort = io.rxPort[i]!;
      if (ref !== 0 && this.shimEncap && inPort <= OWNER_MASK) {
        // the shim writes the outer headers from the route and the ports (io_encap)
        io.txEncap[nt] = (owner & ~OWNER_MASK) | inPort;
        set = v6 ? TX_ENCAP6 : TX_ENCAP4;
      } else {
        writeUnderlay(ports, dv, start, out, inPort, len - ETH_HLEN, v6);
        // the outer destination: from the route that holds it, else from the record's line 2
        const dst = start + ETH_HLEN + IPV6_DST;
        if (ref !== 0) {
          writeNexthop(dv, dst, (ref & 1) === 0 ? this.ctx.fwd.routes4.fields : this.ctx.fwd.routes6.fields, ref >>> 1);
        } else {
          const ul = base + R_UL + dir * 4;
          dv.setInt32(dst, rec[ul]!);
          dv.setInt32(dst + 4, rec[ul + 1]!);
          dv.setInt32(dst + 8, rec[ul + 2]!);
          dv.setInt32(dst + 12, rec[ul + 3]!);
        }
        set = TX_MOVED;
      }
      len += IPV6_HLEN;
    } else {
      if (fromPf) dv.setUint16(start + ETH_TYPE, v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
      ports.writeEthToVm(out, dv, start + ETH_DST);
      set = start !== s || len !== io.rxLen[i]! ? TX_MOVED : 0;
    }
    io.txOff[nt] = io.rxOff[i]!;
    io.txStart[nt] = start;
    io.txLen[nt] = len;
    io.txPort[nt] = out;
    io.txSet[nt] = set;
    return FAST_DONE;
  }

  /**
   * Applies a FAST_SLOT verdict of the last burstIo to the reset slot, with the flow burstIo found
   * (no second lookup): FAST_TX, FAST_DROP or FAST_MISS.
   */
  applySlot(b: PacketBatch, slot: number): number {
    const v = this.finish(b, slot);
    if (v !== FAST_MISS) this.count(1);
    return v;
  }

  /**
   * The graph's share of a burst after burstIo: rx slots [0, n) whose verdict is not FAST_DONE get
   * their batch slot (from the io area's rx descriptors) and go to the graph, each as the fast path
   * left it: a FAST_SLOT decision is applied here (sent directly, or dropped), a miss enters at
   * its port's rx node (rxNodeByPort; -1: the port has none, dropped as PORT_NOT_ACTIVE). The
   * caller then runs the graph. One definition for the worker and the tests that run its bursts.
   */
  handOff(io: IoArea, n: number, b: PacketBatch, verdict: Uint8Array, graph: Graph, rxNodeByPort: Int32Array, dropNode: number): void {
    const { rxOff, rxStart, rxLen, rxPort } = io;
    for (let i = 0; i < n; i++) {
      let v = verdict[i]!;
      if (v === FAST_DONE) continue;
      const port = rxPort[i]!;
      b.reset(i, rxOff[i]!, rxStart[i]!, rxLen[i]!, port);
      const rxNode = port < rxNodeByPort.length ? rxNodeByPort[port]! : -1;
      if (rxNode < 0) {
        b.dropReason[i] = DropReason.PORT_NOT_ACTIVE;
        graph.enqueue(dropNode, i);
        continue;
      }
      if (v === FAST_SLOT) v = this.applySlot(b, i);
      if (v === FAST_TX) graph.sendDirect(i);
      else if (v === FAST_DROP) graph.enqueue(dropNode, i);
      else graph.fromSource(rxNode, i);
    }
  }

  /** Counts packets forwarded or dropped here (dps_worker_stat fastpath), once per burst. */
  private count(n: number): void {
    const stats = this.ctx.fwd.stats;
    stats[FS_FAST_PATH] = stats[FS_FAST_PATH]! + n;
  }

  /**
   * Parses a slot: is the packet a candidate (IPv4/IPv6 TCP, UDP or ICMP from an active
   * VM port, or tunnelled to one of our VNF addresses on an uplink, no options, no fragments, not
   * DHCP or neighbour discovery), and its key's words (not its hash: hashCur). Records what it
   * found in the c* fields.
   */
  private parse(b: PacketBatch, slot: number): boolean {
    return this.parseFrame(b.bytes, b.dv, b.start[slot]!, b.len[slot]!, b.inPort[slot]!);
  }

  /** parse() on a frame of `len` bytes at `s`, received on `port`, into the c* fields. */
  private parseFrame(bytes: Uint8Array, dv: DataView, s: number, len: number, port: number): boolean {
    const ctx = this.ctx;
    const ports = ctx.ports;
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
      // the last VNF found in this burst is remembered: tunnels to one VM arrive in runs
      const a0 = dv.getInt32(ip + IPV6_DST);
      const a1 = dv.getInt32(ip + IPV6_DST + 4);
      const a2 = dv.getInt32(ip + IPV6_DST + 8);
      const a3 = dv.getInt32(ip + IPV6_DST + 12);
      const lv = this.lastVnf;
      if ((lv[V_PORT]! < 0 || lv[V_A0] !== a0 || lv[V_A1] !== a1 || lv[V_A2] !== a2 || lv[V_A3] !== a3)
        && !this.rememberVnf(dv, ip + IPV6_DST)) return false;
      // a VNF type the graph drops (a load balancer's) has no decision to repeat
      if (lv[V_KIND]! < 0) return false;
      if (ports.state(lv[V_PORT]!) !== PortState.VF_ACTIVE) return false;
      vni = lv[V_VNI]!;
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
      // an error's flow is the one of the packet it quotes (conntrack finds it)
      if (!v6 && t === ICMP_DEST_UNREACH) return false;
      portsWord = icmpPorts(bytes, dv, l4);
    } else {
      return false;
    }

    // the key's protocol word: with the mark of tunnels to a NAT address (KEY_MARK_NAT)
    const keyProto = fromPf ? proto | this.lastVnf[V_MARK]! : proto;
    if (!v6) {
      this.cSrc = dv.getInt32(ip + IPV4_SRC);
      this.cDst = dv.getInt32(ip + IPV4_DST);
    }
    this.cKind = (v6 ? K_V6 : K_V4) | (fromPf ? K_FROM_PF | this.lastVnf[V_KIND]! : 0);
    this.cIp = ip;
    this.cL4 = l4;
    this.cL3end = l3end;
    this.cProto = keyProto;
    this.cVni = vni;
    this.cPorts = portsWord;
    return true;
  }

  /**
   * Looks up the VNF of the IPv6 address at dv[at..] and remembers it in lastVnf; false if there is
   * none with a port. Called once per run of tunnels to one address (a method of its own, so that
   * the per-packet parse stays small enough to be inlined into burstIo).
   */
  private rememberVnf(dv: DataView, at: number): boolean {
    const vnf = this.ctx.fwd.vnf;
    if (!vnf.lookup(dv, at) || vnf.port < 0) return false;
    const lv = this.lastVnf;
    for (let w = 0; w < 4; w++) lv[V_A0 + w] = dv.getInt32(at + w * 4);
    lv[V_PORT] = vnf.port;
    lv[V_VNI] = vnf.vni;
    const side = actSide(true, vnf.type);
    lv[V_KIND] = side < 0 ? -1 : side === ACT_FROM_PF ? vnf.port << K_PORT_SHIFT : K_VIA_NAT;
    lv[V_MARK] = vnf.type === VnfType.NAT ? KEY_MARK_NAT : 0;
    return true;
  }

  /** The key hash of the packet parsed last, into cHash (an IPv6 key is written to this.k). */
  private hashCur(dv: DataView): void {
    if ((this.cKind & K_V6) !== 0) {
      const k = this.k;
      writeKey(k, dv, this.cIp, true, this.cProto, this.cPorts, this.cVni);
      this.cHash = flowHash(k, 0);
    } else {
      this.cHash = flowHashV4(this.cVni, this.cPorts, this.cProto, this.cSrc, this.cDst);
    }
  }

  /**
   * lookupCur for the packet parsed last without its hash: an IPv4 key equal to the last one looked
   * up in this burst has its flow (packets of one connection arrive in trains; the table changes
   * between bursts only for this worker, and a flow another worker removes meanwhile is not reused
   * before this burst ends, see qsbr.ts), others are hashed and looked up.
   */
  private lookupMemo(dv: DataView): number {
    if ((this.cKind & K_V6) !== 0) {
      // hashCur wrote the key to this.k
      this.hashCur(dv);
      return this.ctx.fwd.flows.lookup(this.k, 0, this.cHash);
    }
    if (this.memoHit()) return this.mFound;
    this.hashCur(dv);
    return this.remember(this.lookupCached());
  }

  /**
   * lookupMemo for an IPv4 packet without the flow cache, for tables bigger than it (the shim
   * prefetched the packet's bucket line, see `prefetching`).
   */
  private lookupMemoDirect(dv: DataView): number {
    if (this.memoHit()) return this.mFound;
    this.hashCur(dv);
    return this.remember(this.lookupCur(dv));
  }

  /** Whether the IPv4 key parsed last is the one last looked up in this burst (its flow: mFound). */
  private memoHit(): boolean {
    return this.cPorts === this.mPorts && this.cSrc === this.mSrc && this.cDst === this.mDst && this.cVni === this.mVni
      && this.cProto === this.mProto;
  }

  /** Remembers the IPv4 key parsed last and its flow `found` for the rest of the burst; returns found. */
  private remember(found: number): number {
    this.mPorts = this.cPorts;
    this.mSrc = this.cSrc;
    this.mDst = this.cDst;
    this.mVni = this.cVni;
    this.mProto = this.cProto;
    this.mFound = found;
    return found;
  }

  /**
   * Empties the flow cache if a key was published twice since its answers were given (a lookup's
   * answer may have changed; see FlowTable.dupEpoch). Once per burst: the table changes between
   * bursts only for this worker.
   */
  private syncCache(): void {
    const e = this.ctx.fwd.flows.dupEpoch;
    if (e === this.cacheEpoch) return;
    this.cache.fill(0);
    this.cacheEpoch = e;
  }

  /**
   * lookupCur for the IPv4 packet parsed last (cHash computed) through the flow cache: a way whose
   * hash is the packet's names a flow, which the table confirms on the record's key line
   * (holdsV4: the record holds this key and is in the index; a removed flow's record no longer
   * answers for it). Else the table's lookup, and the flow found becomes the set's newest way.
   */
  private lookupCached(): number {
    const h = this.cHash;
    const c = this.cache;
    const flows = this.ctx.fwd.flows;
    const o = (h & (CACHE_SETS - 1)) * CACHE_WORDS;
    if (c[o] === h) {
      const fd = c[o + 1]!;
      if (flows.holdsV4(fd, h, this.cVni, this.cPorts, this.cProto, this.cSrc, this.cDst)) return fd;
    } else if (c[o + 2] === h) {
      const fd = c[o + 3]!;
      if (flows.holdsV4(fd, h, this.cVni, this.cPorts, this.cProto, this.cSrc, this.cDst)) return fd;
    }
    const fd = flows.lookupV4(h, this.cVni, this.cPorts, this.cProto, this.cSrc, this.cDst);
    if (fd >= 0) {
      c[o + 2] = c[o]!;
      c[o + 3] = c[o + 1]!;
      c[o] = h;
      c[o + 1] = fd;
    }
    return fd;
  }

  /** The flow of the packet parsed last (cHash computed): flow << 1 | direction, or -1. */
  private lookupCur(dv: DataView): number {
    const flows = this.ctx.fwd.flows;
    if ((this.cKind & K_V6) !== 0) {
      const k = this.k;
      writeKey(k, dv, this.cIp, true, this.cProto, this.cPorts, this.cVni);
      return flows.lookup(k, 0, this.cHash);
    }
    return flows.lookupV4(this.cHash, this.cVni, this.cPorts, this.cProto, this.cSrc, this.cDst);
  }

  /**
   * Keeps the packet parsed last (the c* fields) and its flow in slot `slot`'s words (the hash as
   * hashCur last computed it: burstIo's passes hash every packet, its single loop only those
   * lookupMemo looks up; the slot path reads no hash).
   */
  private saveSlot(slot: number, found: number): void {
    const st = this.found;
    const o = slot * SLOT_WORDS;
    st[o + S_KIND] = this.cKind;
    st[o + S_IP] = this.cIp;
    st[o + S_L4] = this.cL4;
    st[o + S_L3END] = this.cL3end;
    st[o + S_PROTO] = this.cProto;
    st[o + S_VNI] = this.cVni;
    st[o + S_PORTS] = this.cPorts;
    st[o + S_HASH] = this.cHash;
    st[o + S_SRC] = this.cSrc;
    st[o + S_DST] = this.cDst;
    st[o + S_FOUND] = found;
  }

  /** The c* fields from slot `slot`'s words (saveSlot). */
  private restoreSlot(slot: number): void {
    const st = this.found;
    const o = slot * SLOT_WORDS;
    this.cKind = st[o + S_KIND]!;
    this.cIp = st[o + S_IP]!;
    this.cL4 = st[o + S_L4]!;
    this.cL3end = st[o + S_L3END]!;
    this.cProto = st[o + S_PROTO]!;
    this.cVni = st[o + S_VNI]!;
    this.cPorts = st[o + S_PORTS]!;
    this.cHash = st[o + S_HASH]!;
    this.cSrc = st[o + S_SRC]!;
    this.cDst = st[o + S_DST]!;
  }

  /**
   * For a parsed and looked-up slot (S_FOUND): if its flow has a current decision for this side of
   * the key, the decision's application on the slot.
   */
  private finish(b: PacketBatch, slot: number): number {
    const ctx = this.ctx;
    const fwd = ctx.fwd;
    const dv = b.dv;
    const st = this.found;
    const o = slot * SLOT_WORDS;
    const kind = st[o + S_KIND]!;
    const v6 = (kind & K_V6) !== 0;
    const fromPf = (kind & K_FROM_PF) !== 0;
    const ip = st[o + S_IP]!;
    const proto = st[o + S_PROTO]! & 0xff;
    const vni = st[o + S_VNI]!;
    const found = st[o + S_FOUND]!;
    if (found < 0 || !decided(fwd.flows.rec, (found >>> 1) * RECORD, found & 1, fwd.flows.generation, kind)) return FAST_MISS;
    const f = found >>> 1;
    const dir = found & 1;

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
