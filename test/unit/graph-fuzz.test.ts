/**
 * Hostile input on the whole worker path. Frames of every kind the service handles (ARP, DHCPv4,
 * DHCPv6, neighbour discovery, ICMP, TCP and UDP over IPv4 and IPv6, VM to VM, to and from the
 * underlay, VIP traffic, and frames it does not handle) are cut short, bit-flipped, given wrong
 * length fields and random tails, sent on the wrong ports, and run in bursts as the worker runs
 * them: FastPath.burstIo on rx descriptors, the rest through the graph. Properties:
 * - nothing throws;
 * - every received packet ends exactly once, in a tx descriptor or in the drop sink with a reason;
 * - every frame sent lies inside its buffer and goes out of a port that exists (not the port of
 *   an interface that was deleted);
 * - a packet from a VM port leaves by another VM port only if both interfaces are in one VNI;
 * - no IP header sent claims more bytes than the frame has, and a tunnel on an uplink is exactly
 *   as long as its inner packet;
 * - an IPv4 packet that arrived with correct checksums leaves with correct ones (NAT, tunnels),
 *   and the replies the service builds (DHCP, DHCPv6, NA, RA) have correct checksums;
 * - the fast path changes nothing but speed: a twin service with the fast path off (every packet
 *   walks the graph), fed the same packets in the order the fast path gives their effects, sends
 *   the same bytes out of the same ports, drops the same packets for the same reasons and ends
 *   with the same flows and the same VM MACs learned. (Within a burst the fast path forwards before
 *   the graph runs, so a packet that the graph handles takes effect after later ones the fast path
 *   took: a TCP flag, a VM MAC learned from ARP or DHCP.)
 * Between bursts time passes (flows age, records are reused) and the configuration changes
 * (routes, a prefix, a VIP, interfaces deleted and created again), through the code the
 * supervisor runs: the registry, TableSync following its changes, the workers' command handling
 * (WorkerCommands). After each change no flow is left that belongs to a deleted interface or was
 * translated with a removed VIP. One run has two workers on the shared tables, each burst
 * arriving on either, as RSS spreads a connection's two directions over queues.
 * burstIo runs in its single loop for even seeds and in its passes (as for more than 2,048 flows)
 * for odd ones, and for seeds 3 mod 4 there as the worker does while the shim prefetches (IPv4 UDP
 * from VMs looked up at once, the rest in the passes); with two workers, one each way.
 * Seeds are fixed, so a failure names a reproducible packet.
 */
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { DpError, DpErrorCode } from '../../src/actors/errors.js';
import { Registry } from '../../src/actors/registry.js';
import { ipv4Addr, ipv6Addr } from '../../src/actors/registry-types.js';
import { RouteSync } from '../../src/actors/route-sync.js';
import { TableSync, type WorkerBarrier } from '../../src/actors/table-sync.js';
import { IoArea } from '../../src/ffi/dpdk.js';
import { makeTestBatch, MAX_SLOTS, type PacketBatch } from '../../src/packet/batch.js';
import { upstreamPortmapHash, upstreamPortmapHash6 } from '../../src/packet/upstream-hash.js';
import { DROP_REASON_COUNT, DROP_REASON_NAMES, DropReason } from '../../src/packet/drop-reasons.js';
import {
  BUCKET_WAYS, FLOW_DST_NAT, FLOW_NAT_PORT, FLOW_SRC_NAT, flowOfPort, flowSeen, K_DST, K_VNI, KEY_STRIDE, KEY_WORDS, R_FLAGS, R_KEY, R_NATPORT, R_SEEN,
  RECORD,
} from '../../src/tables/flow-table.js';
import { PortState } from '../../src/tables/port-table.js';
import { buildNodes } from '../../src/workers/build-graph.js';
import { WorkerCommands } from '../../src/workers/commands.js';
import { FAST_DONE, FAST_SLOT, FastPath } from '../../src/workers/fast-path.js';
import { counterWords, Graph } from '../../src/workers/graph.js';
import {
  createForwardingBuffers, DEFAULT_FORWARDING, FS_CROSS_WORKER, FS_FAST_PATH, type NodeContext, openForwarding,
} from '../../src/workers/node-context.js';
import {
  addPf, arp, ascii, bootp, cat, dhcpFrame, dhcpv6Frame, eth, hex, icmpEcho, icmpUnreach, INTERNET_GW, ip4num, ip6, ipv4, ipv4HeaderOk, ipv6,
  l4v4Ok, l4v6Ok, mac, makeCtx, opt4, opt6, PF0_MAC, PF1_MAC, REMOTE_HOST, ROUTER, ROUTER_LL, tcp, tunnelFrame, u16, udp,
  VIP, VIP_UL, withL4Checksum4,
} from './frames.js';

const VMS = {
  A: { port: 3, vni: 100, ip: '10.100.1.1', ip6: '2000:100::1', ul: 'fc00:1::3', own: '66:66:66:66:66:03', mac: '02:00:00:00:00:03' },
  B: { port: 4, vni: 100, ip: '10.100.1.2', ip6: '2000:100::2', ul: 'fc00:1::4', own: '66:66:66:66:66:04', mac: '02:00:00:00:00:04' },
  C: { port: 5, vni: 200, ip: '10.100.1.1', ip6: '2000:100::1', ul: 'fc00:1::5', own: '66:66:66:66:66:05', mac: '02:00:00:00:00:05' },
};
type Vm = (typeof VMS)[keyof typeof VMS];
/** Underlay addresses of A's LB prefix (10.100.9.0/24), B's NAT (45.0.0.9) and a load balancer (10.100.8.8). */
const LB_PFX_UL = 'fc00:1::a1';
const NAT_UL = 'fc00:1::a2';
/** B's NAT address; its ports are [1000, 2000), another host's [3000, 3100) (change 13). */
const NAT_IP = '45.0.0.9';
const LB_UL = 'fc00:1::a3';
const PORTS = [0, 1, 3, 4, 5];
/** Ports packets may arrive on: the service's and ones it does not have. */
const RX_PORTS = [0, 1, 2, 3, 4, 5, 6, 200];
const HEADROOM = 128;

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** One worker of a service: its view of the shared tables (its own flow owner), graph and fast path. */
class Worker {
  readonly g: Graph;
  readonly fast: FastPath;
  /** rx node per port (-1: the service has no such port), as the worker keeps it. */
  readonly rxNode = new Int32Array(256).fill(-1);
  readonly dropNode: number;
  /** The fast path's verdicts of the last burst. */
  readonly verdict = new Uint8Array(MAX_SLOTS);

  /** The worker's handling of the supervisor's commands (flushes). */
  readonly commands: WorkerCommands;

  /** fusedMaxFlows: see FastPath's constructor (0: burstIo always in passes). */
  constructor(readonly ctx: NodeContext, fusedMaxFlows?: number) {
    this.commands = new WorkerCommands(ctx.fwd, ctx.ports, () => 0);
    const nodes = buildNodes(ctx, PORTS, 0);
    this.g = new Graph(nodes, new Float64Array(counterWords(nodes.length)));
    for (const p of PORTS) this.rxNode[p] = this.g.indexOf(`rx-${p}-0`);
    this.dropNode = this.g.indexOf('drop');
    this.fast = new FastPath(ctx, fusedMaxFlows);
  }

  /**
   * One burst as the worker runs it (worker.ts: burstIo, handOff, the graph). Returns per packet
   * 'tx-PORT:HEX' or 'drop:REASON', and checks what every burst must satisfy.
   */
  burst(frames: [Uint8Array, number][], check: (ok: boolean, what: string) => void): string[] {
    const n = frames.length;
    const b: PacketBatch = makeTestBatch(n);
    const io = IoArea.plain(MAX_SLOTS);
    frames.forEach(([f, port], i) => {
      const mbuf = i * (b.bufShift + b.bufLen);
      const start = mbuf + b.bufShift + HEADROOM;
      b.bytes.set(f, start);
      io.rxOff[i] = mbuf;
      io.rxStart[i] = start;
      io.rxLen[i] = f.length;
      io.rxPort[i] = port;
    });
    b.count = n;
    const verdict = this.verdict;
    verdict.fill(0);
    const out: string[] = new Array<string>(n).fill('');
    const nf = this.fast.burstIo(io, n, b, verdict);
    const g = this.g;
    for (let k = 0; k < nf; k++) {
      const i = frames.findIndex((_, j) => io.rxOff[j] === io.txOff[k]);
      check(i >= 0 && verdict[i] === FAST_DONE, `fast path tx ${k} is a received mbuf the fast path took`);
      out[i] = this.sent(b, io.txOff[k]!, io.txStart[k]!, io.txLen[k]!, io.txPort[k]!, check);
    }
    this.fast.handOff(io, n, b, verdict, g, this.rxNode, this.dropNode);
    g.run(b);
    for (let k = 0; k < g.txCount; k++) {
      const i = g.txSlots[k]!;
      check(i < n && out[i] === '', `graph tx of slot ${i}: a received packet, once`);
      out[i] = this.sent(b, b.mbuf[i]!, b.start[i]!, b.len[i]!, b.outPort[i]!, check);
    }
    for (let k = 0; k < g.dropCount; k++) {
      const i = g.dropSlots[k]!;
      const r = b.dropReason[i]!;
      check(i < n && out[i] === '', `drop of slot ${i}: a received packet, once`);
      check(r > DropReason.NONE && r < DROP_REASON_COUNT, `drop of slot ${i} has a reason (${r})`);
      out[i] = `drop:${r}`;
    }
    g.resetSinks();
    check(out.every((o) => o !== ''), 'every packet ended in tx or drop');
    return out;
  }

  private sent(b: PacketBatch, mbuf: number, start: number, len: number, port: number,
    check: (ok: boolean, what: string) => void): string {
    const lo = mbuf + b.bufShift;
    check(start >= lo && len >= 14 && start + len <= lo + b.bufLen, `frame inside its buffer (start ${start - lo}, ${len} bytes)`);
    check(PORTS.includes(port), `sent out of a port that exists (${port})`);
    const f = b.bytes.subarray(start, start + len);
    const problem = ipLengthProblem(f, 14, port === 0 || port === 1);
    check(problem === '', `frame sent on port ${port}: ${problem} (${hex(f)})`);
    return `tx-${port}:${hex(f)}`;
  }
}

/**
 * Whether the IPv4 packet of a frame (plain, or the inner one of an IP-in-IPv6 tunnel) has a correct
 * header and TCP, UDP or ICMP checksum; undefined when there is no such whole, unfragmented packet
 * without options to judge.
 */
function checksumsOk(f: Uint8Array): boolean | undefined {
  let ip = 14;
  if (f.length >= 54 && f[12] === 0x86 && f[13] === 0xdd && f[14]! >> 4 === 6 && f[20] === 4) ip = 54;
  else if (!(f.length >= 34 && f[12] === 0x08 && f[13] === 0x00)) return undefined;
  if (f.length < ip + 20 || f[ip] !== 0x45) return undefined;
  const total = f[ip + 2]! * 256 + f[ip + 3]!;
  const proto = f[ip + 9];
  const frag = (f[ip + 6]! * 256 + f[ip + 7]!) & 0x3fff;
  if (total < 28 || total > f.length - ip || frag !== 0 || (proto !== 1 && proto !== 6 && proto !== 17)) return undefined;
  if (proto === 6 && total < 40) return undefined;
  return ipv4HeaderOk(f, ip) && l4v4Ok(f, ip);
}

/**
 * For a frame sent back out of the port its request came in on: if the request was one the service
 * answers itself (DHCP to port 67, DHCPv6 to port 547, an ICMPv6 router or neighbour
 * solicitation), what is wrong with the reply's checksums ('' if nothing; undefined: not such a request).
 */
function replyChecksumProblem(req: Uint8Array, out: Uint8Array): string | undefined {
  if (req.length < 42) return undefined;
  const type = req[12]! * 256 + req[13]!;
  if (type === 0x0800 && req[23] === 17 && req[14] === 0x45 && req[36] === 0 && req[37] === 67) {
    if (out.length < 42 || out[12] !== 0x08 || out[13] !== 0x00) return 'no IPv4';
    if (!ipv4HeaderOk(out)) return 'a wrong IPv4 header checksum';
    return l4v4Ok(out) ? '' : 'a wrong UDP checksum';
  }
  if (type !== 0x86dd || req.length < 62) return undefined;
  const next = req[20];
  const dhcpv6 = next === 17 && req[56] === 547 >> 8 && req[57] === (547 & 0xff);
  const nd = next === 58 && (req[54] === 133 || req[54] === 135);
  if (!dhcpv6 && !nd) return undefined;
  if (out.length < 62 || out[12] !== 0x86 || out[13] !== 0xdd) return 'no IPv6';
  const proto = out[20]!;
  return l4v6Ok(out, proto) ? '' : `a wrong ${proto === 17 ? 'UDP' : 'ICMPv6'} checksum`;
}

/**
 * What is wrong with the IP lengths of a frame the service sends ('' if nothing): an IPv4 or IPv6
 * header must not claim more bytes than the frame has, and on an uplink an IP-in-IPv6 tunnel (the
 * service builds every one it sends there) must be exactly as long as its inner packet, which
 * must be whole too.
 */
function ipLengthProblem(f: Uint8Array, ip: number, uplink: boolean): string {
  const type = f[ip - 2]! * 256 + f[ip - 1]!;
  const have = f.length - ip;
  if (type === 0x0800 && have >= 20 && f[ip]! >> 4 === 4) {
    const total = f[ip + 2]! * 256 + f[ip + 3]!;
    return total > have ? `IPv4 total length ${total} with ${have} bytes` : '';
  }
  if (type === 0x86dd && have >= 40 && f[ip]! >> 4 === 6) {
    const payload = f[ip + 4]! * 256 + f[ip + 5]!;
    if (payload + 40 > have) return `IPv6 payload length ${payload} with ${have - 40} bytes`;
    const next = f[ip + 6];
    if (uplink && (next === 4 || next === 41)) {
      if (payload + 40 !== have) return `tunnel payload length ${payload} with ${have - 40} bytes`;
      // the inner packet (a copy), behind the two bytes of its Ethernet type
      const inner = Uint8Array.from(f.subarray(ip + 40 - 2));
      inner[0] = next === 4 ? 0x08 : 0x86;
      inner[1] = next === 4 ? 0x00 : 0xdd;
      const p = ipLengthProblem(inner, 2, false);
      return p === '' ? '' : `inner: ${p}`;
    }
  }
  return '';
}

/**
 * One service: shared tables and `workers` workers on them, the fast path on or off, configured
 * as the supervisor configures it: the registry (what gRPC calls change) with TableSync following
 * its changes into the tables, and the workers' command handling (WorkerCommands) behind
 * TableSync's barrier.
 */
class Service {
  /** The shared tables, through worker 0's view. */
  readonly ctx: NodeContext;
  readonly workers: Worker[] = [];
  readonly registry: Registry;
  readonly tables: TableSync;

  /**
   * passes: worker 0's burstIo always in passes (the others' the other way), else as the worker
   * runs it; prefetching: those in passes as while the shim prefetches (FastPath.prefetching).
   */
  private constructor(fastPath: boolean, flowCapacity: number, workers: number, wcmp: number, passes: boolean, prefetching: boolean) {
    const ctx = makeCtx(null, {}, 3);
    const bufs = createForwardingBuffers(flowCapacity);
    const settings = { ...DEFAULT_FORWARDING, underlayPrefix: ip6('fc00:1::').subarray(0, 8), fastPath, wcmp };
    ctx.fwd = openForwarding(bufs, settings, 0);
    this.ctx = ctx;
    addPf(ctx, 1, PF1_MAC);
    ctx.ports.learnVmMac(0, mac(ROUTER), 0);
    // the VM ports as the dataplane finds them at start-up, without interfaces
    for (const vm of Object.values(VMS)) ctx.ports.initPort(vm.port, PortState.VF_IDLE, mac(vm.own));
    this.workers.push(new Worker(ctx, passes ? 0 : undefined));
    // the other workers: the same tables (one clock: they run in one process), their own flow owner
    for (let w = 1; w < workers; w++) {
      const fwd = openForwarding(bufs, settings, w);
      fwd.clock = ctx.fwd.clock;
      this.workers.push(new Worker({ ports: ctx.ports, settings: ctx.settings, fwd }, passes ? undefined : 0));
    }
    for (const w of this.workers) w.fast.prefetching = prefetching && w.fast.fusedMaxFlows === 0;
    const log = pino({ level: 'silent' });
    // each worker handles a command between two bursts, and makes what it removed reusable at once
    const barrier: WorkerBarrier = {
      broadcast: async (op, a, b) => {
        for (const w of this.workers) {
          w.commands.handle(op, a, b);
          w.ctx.fwd.owner.reclaim(() => true);
        }
      },
    };
    this.tables = new TableSync(new RouteSync(ctx.fwd.routes4, ctx.fwd.routes6, log), ctx.fwd.vnf, ctx.ports, ctx.fwd.flows, ctx.fwd.nat, ctx.fwd.lb, barrier, log);
    const tables = this.tables;
    this.registry = new Registry({
      hostIpv6: ip6('fc00:1::'),
      tableLimits: { vnfs: ctx.fwd.vnf.maxEntries, routes: ctx.fwd.routes4.capacity, routesPerVni: ctx.fwd.routes4.vniCapacity },
      vfPort: (name) => Object.values(VMS).find((vm) => name === `net_tap${vm.port}`)?.port,
      attachInterface: async (port, cfg) => tables.attachInterface(port, cfg),
      detachInterface: (port) => tables.detachInterface(port),
      markInitialized: () => undefined,
    });
    this.registry.changes.subscribe((changes) => tables.apply(changes));
  }

  /** A service with VMs A, B, C, the routes to the remote host and the internet, and A's VIP. */
  static async create(fastPath: boolean, flowCapacity: number, workers: number, wcmp: number, passes = false, prefetching = false): Promise<Service> {
    const svc = new Service(fastPath, flowCapacity, workers, wcmp, passes, prefetching);
    const reg = svc.registry;
    for (const name of ['A', 'B', 'C'] as const) await svc.createVm(name);
    reg.createRoute(100, ipv4Addr(ip4num('10.100.2.0')), 24, 100, ipv6Addr(ip6(REMOTE_HOST)));
    reg.createRoute(100, ipv4Addr(0), 0, 100, ipv6Addr(ip6(INTERNET_GW)));
    reg.createRoute(100, ipv6Addr(new Uint8Array(16)), 0, 100, ipv6Addr(ip6(INTERNET_GW)));
    reg.createRoute(100, ipv6Addr(ip6('2000:100:2::')), 64, 100, ipv6Addr(ip6(REMOTE_HOST)));
    reg.createVip('A', ipv4Addr(ip4num(VIP)), ip6(VIP_UL));
    for (const kind of [10, 11, 12]) await svc.change(kind);
    await reg.changes.commit();
    return svc;
  }

  /** CreateInterface for VM `name` (its underlay address given), and the VM's MAC learned. */
  private async createVm(name: keyof typeof VMS, vni: number = VMS[name].vni): Promise<void> {
    const vm = VMS[name];
    await this.registry.createInterface({
      id: name, vni, ipv4: ip4num(vm.ip), ipv6: ip6(vm.ip6), deviceName: `net_tap${vm.port}`, preferredUnderlay: ip6(vm.ul),
      pxeServer: '', bootFile: '', hostname: '', totalRate: 0n, publicRate: 0n,
    });
    this.ctx.ports.learnVmMac(vm.port, mac(vm.mac), 0);
  }

  /** Every live flow, over the workers that own them. */
  private *liveFlows(): Generator<number> {
    for (const w of this.workers) {
      const owner = w.ctx.fwd.owner;
      yield* owner.owned.subarray(0, owner.ownedCount);
    }
  }

  /** A problem naming flow f (with its record's words under FUZZ_DEBUG). */
  private flowLeft(f: number, what: string): string {
    const rec = this.ctx.fwd.flows.rec;
    return `flow ${f} of ${what} left` + (process.env.FUZZ_DEBUG ? ` ${Array.from(rec.subarray(f * RECORD, f * RECORD + RECORD)).join(',')}` : '');
  }

  /** The live flows that belong to a deleted interface (flowOfPort on its port, address and VNI), or ''. */
  flowsOfDeletedVms(): string {
    const rec = this.ctx.fwd.flows.rec;
    for (const [vm, live, vip] of [[VMS.A, this.aOn, ip4num(VIP)], [VMS.B, this.bOn, 0]] as const) {
      if (live) continue;
      for (const f of this.liveFlows()) {
        if (flowOfPort(rec, f, vm.port, ip4num(vm.ip), vm.vni, vip)) return this.flowLeft(f, `deleted port ${vm.port}`);
      }
    }
    return '';
  }

  /**
   * A live flow that still translates to or from A's VIP while A has none (DeleteVip or
   * DeleteInterface committed): SNATed to it (the reply key's destination) or DNATed from it (the
   * original destination), or ''. Other flows may have the address in a key: traffic to it by the
   * default route, which B's NAT translates.
   */
  flowsOfRemovedVip(): string {
    if (this.vipOn && this.aOn) return '';
    const rec = this.ctx.fwd.flows.rec;
    const vip = ip4num(VIP) | 0;
    for (const f of this.liveFlows()) {
      const flags = rec[f * RECORD + R_FLAGS]!;
      const org = f * RECORD + R_KEY;
      const reply = org + KEY_STRIDE;
      if (rec[org + K_VNI] !== 100) continue;
      if (((flags & FLOW_SRC_NAT) !== 0 && rec[reply + K_DST] === vip) || ((flags & FLOW_DST_NAT) !== 0 && rec[org + K_DST] === vip)) {
        return this.flowLeft(f, 'the removed VIP');
      }
    }
    return '';
  }

  /**
   * Network NAT's bookkeeping, or '': no two live flows hold the same NAT port toward the same
   * remote end (their reply keys differ), and each VM port's count of NAT ports in use equals its
   * live flows holding one (the count follows flows created, aged and flushed).
   */
  natPortProblems(): string {
    const flows = this.ctx.fwd.flows;
    const rec = flows.rec;
    const held = new Map<number, number>();
    const keys = new Set<string>();
    for (const f of this.liveFlows()) {
      if ((rec[f * RECORD + R_FLAGS]! & FLOW_NAT_PORT) === 0) continue;
      const port = rec[f * RECORD + R_NATPORT]!;
      held.set(port, (held.get(port) ?? 0) + 1);
      const reply = f * RECORD + R_KEY + KEY_STRIDE;
      const key = Array.from(rec.subarray(reply, reply + KEY_WORDS)).join(',');
      if (keys.has(key)) return this.flowLeft(f, `a second flow with NAT reply key ${key}`);
      keys.add(key);
    }
    for (const vm of Object.values(VMS)) {
      const counted = this.ctx.fwd.nat.usedPorts(vm.port);
      if (counted !== (held.get(vm.port) ?? 0)) return `port ${vm.port} counts ${counted} NAT ports, its flows hold ${held.get(vm.port) ?? 0}`;
    }
    return '';
  }

  /** NAT flows (FLOW_NAT_PORT) alive. */
  get natFlows(): number {
    let n = 0;
    for (const f of this.liveFlows()) if ((this.ctx.fwd.flows.rec[f * RECORD + R_FLAGS]! & FLOW_NAT_PORT) !== 0) n++;
    return n;
  }

  /** Packets the workers' fast paths forwarded. */
  get fastPathPackets(): number {
    return this.workers.reduce((n, w) => n + w.ctx.fwd.stats[FS_FAST_PATH]!, 0);
  }

  /** Configuration that change() toggles (the same in both twins). */
  private vipOn = true;
  /** VM A's and VM B's interfaces exist; B's VNI. */
  aOn = true;
  bOn = true;
  private bVni = 100;
  private remote: 'underlay' | 'none' | 'local' = 'underlay';
  private remote6 = true;
  private internet = true;
  private lbPrefix = false;
  private nat = false;
  private lb = false;

  /**
   * A configuration change, made through the registry as gRPC calls make it, and committed: the
   * tables follow (TableSync), every cached decision gets stale, and the flows of an interface
   * whose VIP changed or that went away are flushed by their owners. Kinds: the remote /24
   * removed, routed to the underlay (CreateRoute) or to VM B (CreatePrefix); the remote IPv6 /64
   * removed or back; A's VIP removed or back; VM B's interface deleted (with its routes, prefix
   * and underlay address) or back; VM A's interface deleted (with its VIP: the flows other VMs
   * opened to the VIP go with it) or back; Initialize again (external routes gone, the
   * interfaces' own routes put back in the same batch); the default route removed or back. B
   * may come back in VNI 200 (its port reused by another VNI: nothing of VNI 100 may reach it).
   * A's LB prefix, B's NAT and a load balancer come and go (underlay addresses of every type).
   */
  async change(kind: number): Promise<void> {
    const reg = this.registry;
    const remote4 = ipv4Addr(ip4num('10.100.2.0'));
    switch (kind) {
      case 0: case 1: case 2: {
        const want = (['none', 'underlay', 'local'] as const)[kind]!;
        if (this.remote === 'underlay') reg.deleteRoute(100, remote4, 24);
        else if (this.remote === 'local') {
          try {
            reg.deletePrefix('B', remote4, 24);
          } catch (e) {
            // after Initialize the prefix's route is gone: ROUTE_NOT_FOUND, the prefix removed (upstream)
            if (!(e instanceof DpError) || e.code !== DpErrorCode.ROUTE_NOT_FOUND) throw e;
          }
        }
        if (want === 'underlay') reg.createRoute(100, remote4, 24, 100, ipv6Addr(ip6(REMOTE_HOST)));
        else if (want === 'local' && this.bOn) reg.createPrefix('B', remote4, 24, ip6('fc00:1::99'));
        this.remote = want === 'local' && !this.bOn ? 'none' : want;
        break;
      }
      case 6:
        // Initialize again (a restarted controller): every route but the interfaces' own goes
        reg.initialize();
        if (this.remote !== 'local') this.remote = 'none';
        this.remote6 = false;
        this.internet = false;
        break;
      case 7:
        // the IPv4 and IPv6 default routes (NAT64 leaves by the latter)
        if (this.internet) {
          reg.deleteRoute(100, ipv4Addr(0), 0);
          reg.deleteRoute(100, ipv6Addr(new Uint8Array(16)), 0);
        } else {
          reg.createRoute(100, ipv4Addr(0), 0, 100, ipv6Addr(ip6(INTERNET_GW)));
          reg.createRoute(100, ipv6Addr(new Uint8Array(16)), 0, 100, ipv6Addr(ip6(INTERNET_GW)));
        }
        this.internet = !this.internet;
        break;
      case 10:
        if (!this.aOn) break;
        if (this.lbPrefix) reg.deleteLbPrefix('A', ipv4Addr(ip4num('10.100.9.0')), 24);
        else reg.createLbPrefix('A', ipv4Addr(ip4num('10.100.9.0')), 24, ip6(LB_PFX_UL));
        this.lbPrefix = !this.lbPrefix;
        break;
      case 11:
        if (!this.bOn) break;
        if (this.nat) reg.deleteNat('B');
        else reg.createNat('B', ipv4Addr(ip4num(NAT_IP)), 1000, 2000, ip6(NAT_UL));
        this.nat = !this.nat;
        break;
      case 12:
        if (this.lb) reg.deleteLoadBalancer('lb1');
        else {
          reg.createLoadBalancer({ id: 'lb1', vni: 100, ip: ipv4Addr(ip4num('10.100.8.8')), ports: [{ port: 80, protocol: 6 }], preferredUnderlay: ip6(LB_UL) });
          // its targets: A's LB prefix (delivered to A while A has it) and another host
          reg.addLoadBalancerTarget('lb1', ipv6Addr(ip6(LB_PFX_UL)));
          reg.addLoadBalancerTarget('lb1', ipv6Addr(ip6(REMOTE_HOST)));
        }
        this.lb = !this.lb;
        break;
      case 13: {
        // another host's range of B's NAT address (inbound packets for it are relayed there);
        // Initialize drops it, so the registry says whether it is there
        const neighbor = reg.listNeighborNats(ipv4Addr(0)).length > 0;
        if (neighbor) reg.deleteNeighborNat(ipv4Addr(ip4num(NAT_IP)), 100, 3000, 3100);
        else reg.createNeighborNat(ipv4Addr(ip4num(NAT_IP)), 100, 3000, 3100, ip6(REMOTE_HOST));
        break;
      }
      case 3:
        if (this.remote6) reg.deleteRoute(100, ipv6Addr(ip6('2000:100:2::')), 64);
        else reg.createRoute(100, ipv6Addr(ip6('2000:100:2::')), 64, 100, ipv6Addr(ip6(REMOTE_HOST)));
        this.remote6 = !this.remote6;
        break;
      case 4:
        if (!this.aOn) break;
        if (this.vipOn) reg.deleteVip('A');
        else reg.createVip('A', ipv4Addr(ip4num(VIP)), ip6(VIP_UL));
        this.vipOn = !this.vipOn;
        break;
      case 5:
        // VNI 100 keeps a user (A or B in it), so its routes stay
        if (this.aOn && !(this.bOn && this.bVni === 100)) break;
        if (this.aOn) {
          await reg.deleteInterface('A');
          this.lbPrefix = false;
        } else {
          await this.createVm('A');
          if (this.vipOn) reg.createVip('A', ipv4Addr(ip4num(VIP)), ip6(VIP_UL));
        }
        this.aOn = !this.aOn;
        break;
      default: // B; with kind 9 re-created on its port in VNI 200, where C has A's addresses
        if (this.bOn && !this.aOn) break;
        if (this.bOn) {
          await reg.deleteInterface('B');
          // its prefix and NAT went with it
          if (this.remote === 'local') this.remote = 'none';
          this.nat = false;
        } else {
          this.bVni = kind === 9 ? 200 : 100;
          await this.createVm('B', this.bVni);
        }
        this.bOn = !this.bOn;
    }
    await reg.changes.commit();
  }

  /**
   * Lets `seconds` pass: removes the flows idle for longer than 30 s, TCP or not, and makes their
   * records reusable at once. (The worker keeps established TCP for 24 h; here the TCP state does
   * not decide, as it may differ between the twins: see stateDiff.)
   */
  age(seconds: number): void {
    const { clock, flows } = this.ctx.fwd;
    clock.now += seconds;
    const rec = flows.rec;
    for (const w of this.workers) {
      const owner = w.ctx.fwd.owner;
      owner.age(owner.ownedCount, (f) => clock.now - flowSeen(rec, f) > 30, () => 0);
      owner.reclaim(() => true);
    }
  }

  /**
   * Where this service's state differs from `other`'s (the same VM MACs learned; the same flows in
   * the same records, with the same last-seen time and NAT flags), or ''. Not the TCP state: it
   * follows the order in which a burst's packets reach conntrack, which is the order of their paths
   * through the graph (a tunnel's after ipip_decap, behind the VMs' packets of the same burst) and,
   * with the fast path on, puts the packets it forwards first.
   */
  stateDiff(other: Service): string {
    const r1 = this.ctx.fwd.flows.rec;
    const r2 = other.ctx.fwd.flows.rec;
    if (this.ctx.fwd.flows.live !== other.ctx.fwd.flows.live) return `live ${this.ctx.fwd.flows.live} vs ${other.ctx.fwd.flows.live}`;
    for (const p of PORTS) {
      const m1 = new Uint8Array(6);
      const m2 = new Uint8Array(6);
      this.ctx.ports.copyVmMac(p, m1, 0);
      other.ctx.ports.copyVmMac(p, m2, 0);
      if (hex(m1) !== hex(m2)) return `port ${p} VM MAC ${hex(m1)} vs ${hex(m2)}`;
    }
    for (let f = 0; f < this.ctx.fwd.flows.capacity; f++) {
      for (const w of [R_SEEN, R_SEEN + KEY_STRIDE, R_FLAGS, R_KEY, R_KEY + 1, R_KEY + 2, R_KEY + 3, R_KEY + 7]) {
        if (r1[f * RECORD + w] !== r2[f * RECORD + w]) return `flow ${f} word ${w}: ${r1[f * RECORD + w]} vs ${r2[f * RECORD + w]}`;
      }
    }
    return '';
  }

}

function vmFrame(from: Vm, dst: string, proto: number, l4: Uint8Array, src = from.ip): Uint8Array {
  const f = cat(eth(from.own, from.mac, 0x0800), ipv4(src, dst, proto, l4));
  return proto === 1 ? f : withL4Checksum4(f);
}

function vmFrame6(from: Vm, dst: string, next: number, l4: Uint8Array): Uint8Array {
  return cat(eth(from.own, from.mac, 0x86dd), ipv6(ip6(from.ip6), ip6(dst), next, l4, 64));
}

/** An IPv6 address as four big-endian words (flow key form). */
function words6(a: string): Int32Array {
  const b = ip6(a);
  return Int32Array.from({ length: 4 }, (_, i) => (b[i * 4]! << 24) | (b[i * 4 + 1]! << 16) | (b[i * 4 + 2]! << 8) | b[i * 4 + 3]!);
}

/** Valid frames of every kind, each with the port it arrives on. */
function seeds(): [Uint8Array, number][] {
  const { A, B, C } = VMS;
  const s: [Uint8Array, number][] = [];
  const add = (f: Uint8Array, port: number): void => { s.push([f, port]); };
  const ia = opt6(3, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  const client = opt6(1, cat([0, 3, 0, 1], mac(A.mac)));
  // local protocols
  add(cat(eth('ff:ff:ff:ff:ff:ff', A.mac, 0x0806), arp({ op: 1, sha: A.mac, spa: A.ip, tha: '00:00:00:00:00:00', tpa: '169.254.0.1' })), A.port);
  add(dhcpFrame(bootp({ chaddr: A.mac, flags: 0x8000 }, cat(opt4(53, [1]), opt4(55, [1, 3, 6, 12, 26, 121]), [255])), A.mac), A.port);
  add(dhcpFrame(bootp({ chaddr: A.mac }, cat(opt4(53, [3]), opt4(50, [10, 100, 1, 1]), opt4(54, [169, 254, 0, 1]), [255])), A.mac), A.port);
  add(dhcpv6Frame(1, 7, cat(client, ia, opt6(14, []), opt6(8, [0, 0])), A.mac), A.port);
  add(dhcpv6Frame(3, 8, cat(client, ia), A.mac), A.port);
  add(cat(eth('33:33:ff:00:00:01', A.mac, 0x86dd), ipv6(ip6('fe80::3'), ip6('ff02::1:ff00:1'), 58,
    cat([135, 0, 0, 0, 0, 0, 0, 0], ip6('fe80::1'), [1, 1], mac(A.mac)))), A.port);
  add(cat(eth('33:33:00:00:00:02', A.mac, 0x86dd), ipv6(ip6('fe80::3'), ip6('ff02::2'), 58, cat([133, 0, 0, 0, 0, 0, 0, 0], [1, 1], mac(A.mac)))), A.port);
  add(vmFrame(A, '169.254.0.1', 1, icmpEcho(8, 1, 1)), A.port);
  // VM to VM, IPv4 and IPv6, both ways, every protocol and TCP flag the tracking knows
  add(vmFrame(A, B.ip, 17, udp(40000, 80, ascii('hello'))), A.port);
  add(vmFrame(B, A.ip, 17, udp(80, 40000, ascii('back'))), B.port);
  for (const flags of [0x02, 0x12, 0x10, 0x18, 0x11, 0x04]) {
    add(vmFrame(A, B.ip, 6, tcp(40001, 443, flags, ascii('t'))), A.port);
    add(vmFrame(B, A.ip, 6, tcp(443, 40001, flags, ascii('r'))), B.port);
  }
  add(vmFrame(A, B.ip, 1, icmpEcho(8, 9, 1, ascii('ping'))), A.port);
  add(vmFrame(B, A.ip, 1, icmpEcho(0, 9, 1, ascii('ping'))), B.port);
  add(vmFrame6(A, B.ip6, 17, udp(40002, 53, ascii('v6'))), A.port);
  add(vmFrame6(A, B.ip6, 6, tcp(40003, 22, 0x02)), A.port);
  add(vmFrame6(A, B.ip6, 58, cat([128, 0, 0, 0], u16(5), u16(1))), A.port);
  // from B to A's VIP (DNAT to A; the reply SNATed back to the VIP)
  add(vmFrame(B, VIP, 17, udp(40010, 5353, ascii('vip'))), B.port);
  add(vmFrame(B, VIP, 6, tcp(40011, 80, 0x02)), B.port);
  add(vmFrame(A, B.ip, 17, udp(5353, 40010, ascii('re'))), A.port);
  // another VNI with the same addresses: no route there
  add(vmFrame(C, B.ip, 17, udp(40000, 80, ascii('isolated'))), C.port);
  // to the underlay (encapsulated), and to the internet by the default route (VIP SNAT)
  add(vmFrame(A, '10.100.2.7', 17, udp(40004, 53, ascii('q'))), A.port);
  add(vmFrame(A, '10.100.2.7', 6, tcp(40005, 443, 0x02)), A.port);
  add(vmFrame6(A, '2000:100:2::7', 17, udp(40006, 53, ascii('q6'))), A.port);
  add(vmFrame(A, '8.8.8.8', 6, tcp(40007, 443, 0x02)), A.port);
  add(vmFrame(A, '8.8.8.8', 1, icmpEcho(8, 77, 1)), A.port);
  // from the underlay: tunnels to a VM (decapsulated), to the VIP (DNAT), to nobody
  const back = withL4Checksum4(ipv4('10.100.2.7', A.ip, 17, udp(53, 40004, ascii('a'))), 0);
  add(tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, A.ul, back), 0);
  add(tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, A.ul, withL4Checksum4(ipv4('10.100.2.7', A.ip, 6, tcp(443, 40005, 0x12)), 0)), 0);
  add(tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, A.ul, ipv6(ip6('2000:100:2::7'), ip6(A.ip6), 17, udp(53, 40006, ascii('a6')), 64)), 0);
  add(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, VIP_UL, withL4Checksum4(ipv4('8.8.8.8', VIP, 6, tcp(443, 40007, 0x12)), 0)), 0);
  add(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, VIP_UL, ipv4('8.8.8.8', VIP, 1, icmpEcho(0, 77, 1))), 0);
  add(tunnelFrame(PF1_MAC, ROUTER, REMOTE_HOST, 'fc00:1::99', back), 1);
  // to A's LB prefix (an LB elsewhere chose A) and A's answer from the LB address; to B's NAT
  // address (no flow: dropped) and to the load balancer (to its targets: A's LB prefix, delivered
  // to A, or another host, tunnelled on), an echo request to the load balancer (answered)
  add(tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, LB_PFX_UL, withL4Checksum4(ipv4('10.100.2.7', '10.100.9.9', 6, tcp(40020, 80, 0x02)), 0)), 0);
  add(vmFrame(A, '10.100.2.7', 6, tcp(80, 40020, 0x12), '10.100.9.9'), A.port);
  add(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL, withL4Checksum4(ipv4('8.8.8.8', NAT_IP, 17, udp(53, 1500, ascii('n'))), 0)), 0);
  // B to the internet through its NAT (when it has one), and the answers to the NAT ports it gets
  // (where upstream's hash puts them: free unless two of them collide), an echo request to the NAT
  // address (answered) and a packet for another host's port (relayed while that range exists)
  const natPort = (sport: number): number => 1000 + (upstreamPortmapHash(new Int32Array(6), 100, ip4num(B.ip), sport) % 1000);
  add(vmFrame(B, '8.8.8.8', 17, udp(40030, 53, ascii('nq'))), B.port);
  add(vmFrame(B, '8.8.8.8', 6, tcp(40031, 443, 0x02)), B.port);
  add(vmFrame(B, '8.8.8.8', 1, icmpEcho(8, 78, 1)), B.port);
  add(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL, withL4Checksum4(ipv4('8.8.8.8', NAT_IP, 17, udp(53, natPort(40030), ascii('na'))), 0)), 0);
  add(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL, withL4Checksum4(ipv4('8.8.8.8', NAT_IP, 6, tcp(443, natPort(40031), 0x12)), 0)), 0);
  add(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL, ipv4('8.8.8.8', NAT_IP, 1, icmpEcho(0, natPort(78), 1))), 0);
  add(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL, ipv4('8.8.8.8', NAT_IP, 1, icmpEcho(8, 79, 1))), 0);
  add(tunnelFrame(PF1_MAC, ROUTER, INTERNET_GW, NAT_UL, withL4Checksum4(ipv4('8.8.8.8', NAT_IP, 6, tcp(443, 3050, 0x10)), 0)), 1);
  // B to the internet over NAT64 (UDP, ICMPv6 echo) and the IPv4 answers to its NAT ports
  const nat64Port = (sport: number): number => 1000 + (upstreamPortmapHash6(new Int32Array(6), 100, words6(B.ip6), 0, sport) % 1000);
  add(vmFrame6(B, '64:ff9b::808:808', 17, udp(40040, 53, ascii('q64'))), B.port);
  add(vmFrame6(B, '64:ff9b::808:808', 58, cat([128, 0, 0, 0], u16(91), u16(1))), B.port);
  add(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL, withL4Checksum4(ipv4('8.8.8.8', NAT_IP, 17, udp(53, nat64Port(40040), ascii('a64'))), 0)), 0);
  add(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL, ipv4('8.8.8.8', NAT_IP, 1, icmpEcho(0, nat64Port(91), 1))), 0);
  // ICMP errors: about B's NATed connection (from the internet), and about A's UDP to B (from B)
  const leftNat = withL4Checksum4(ipv4(NAT_IP, '8.8.8.8', 6, tcp(natPort(40031), 443, 0x02)), 0);
  add(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL, ipv4('8.8.8.8', NAT_IP, 1, icmpUnreach(4, leftNat))), 0);
  add(vmFrame(B, A.ip, 1, icmpUnreach(3, withL4Checksum4(ipv4(A.ip, B.ip, 17, udp(40000, 80, ascii('hello'))), 0))), B.port);
  add(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, LB_UL, withL4Checksum4(ipv4('8.8.4.4', '10.100.8.8', 6, tcp(40021, 80, 0x02)), 0)), 0);
  add(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, LB_UL, withL4Checksum4(ipv4('8.8.4.4', '10.100.8.8', 6, tcp(40022, 80, 0x10)), 0)), 0);
  add(tunnelFrame(PF1_MAC, ROUTER, INTERNET_GW, LB_UL, ipv4('8.8.4.4', '10.100.8.8', 1, icmpEcho(8, 33, 1))), 1);
  // the uplink's own neighbour discovery and plain IPv6
  add(cat(eth('33:33:ff:00:00:03', ROUTER, 0x86dd), ipv6(ip6(ROUTER_LL), ip6('ff02::1:ff00:3'), 58,
    cat([135, 0, 0, 0, 0, 0, 0, 0], ip6(A.ul), [1, 1], mac(ROUTER)))), 0);
  add(cat(eth('33:33:00:00:00:01', ROUTER, 0x86dd), ipv6(ip6(ROUTER_LL), ip6('ff02::1'), 58, cat([134, 0, 0, 0, 64, 0, 0, 0], new Uint8Array(8)))), 0);
  // what the service does not handle: VLAN, IPv4 options and fragments, plain IPv4 on an uplink
  add(cat(eth(A.own, A.mac, 0x8100), u16(7), u16(0x0800), ipv4(A.ip, B.ip, 17, udp(1, 2, ascii('vlan')))), A.port);
  const f = vmFrame(A, B.ip, 17, udp(40000, 80, ascii('hello')));
  add(cat(f.subarray(0, 14), [0x46], f.subarray(15, 16), u16(f.length - 14 + 4), f.subarray(18, 34), [1, 1, 1, 1], f.subarray(34)), A.port);
  const frag = f.slice();
  frag[20] = 0x20;
  add(frag, A.port);
  add(cat(eth(PF0_MAC, ROUTER, 0x0800), f.subarray(14)), 0);
  return s;
}

/** Whether no bucket of a flow index holds an entry (BUCKET_WAYS tags, then BUCKET_WAYS entries per 16 words). */
function indexEmpty(idx: Int32Array): boolean {
  for (let b = 0; b < idx.length; b += 16) {
    for (let i = BUCKET_WAYS; i < 2 * BUCKET_WAYS; i++) if (idx[b + i] !== 0) return false;
  }
  return true;
}

/** A hostile variant of a frame (or the frame itself), and the port it arrives on. */
function mutate(rnd: () => number, f: Uint8Array, port: number): [Uint8Array, number] {
  const pick = (n: number): number => Math.floor(rnd() * n);
  let g: Uint8Array = f.slice();
  switch (pick(10)) {
    case 0: case 1:
      break;   // unchanged: flows get made and the fast path gets its chance
    case 2:
      g = g.slice(0, pick(g.length));
      break;
    case 3:
      for (let k = 1 + pick(4); k > 0; k--) g[pick(g.length)] = pick(256);
      break;
    case 4: {
      // a length or offset field of the headers: Ethernet type, IPv4 IHL/total length, IPv6
      // payload length and next header, the outer ones of a tunnel, L4 length
      const at = [12, 14, 16, 17, 18, 19, 20, 23, 38, 39, 54, 55, 58, 59, 60, 74, 75][pick(17)]!;
      if (at + 1 < g.length) {
        const v = [0, 1, 0xff, 0xffff, pick(0x10000), g.length, g.length - 14, g.length - 54][pick(8)]!;
        g[at] = v >> 8;
        g[at + 1] = v & 0xff;
      }
      break;
    }
    case 5:
      g = cat(g, Uint8Array.from({ length: 1 + pick(64) }, () => pick(256)));
      break;
    case 6:
      g = Uint8Array.from({ length: pick(128) }, () => pick(256));
      break;
    case 7:
      // another connection: random ports, and a random last byte of the IPv4 or IPv6 destination
      // (many new flows: the 4,096-flow table fills up and refuses some)
      if (g.length >= 58) {
        const v6 = g[12] === 0x86 && g[13] === 0xdd;
        const l4 = v6 ? 54 : 34;
        if (g.length >= l4 + 4) for (let k = l4; k < l4 + 4; k++) g[k] = pick(256);
        g[v6 ? 53 : 33] = pick(256);
      }
      break;
    case 8:
      port = RX_PORTS[pick(RX_PORTS.length)]!;
      break;
    default:
      // two at once
      [g, port] = mutate(rnd, g, port);
      [g, port] = mutate(rnd, g, port);
  }
  return [g, port];
}

/**
 * Runs the fuzz over `seedList` with a flow table of `capacity` flows in both services; returns
 * how often each outcome ('tx-PORT', 'drop REASON') occurred with the fast path on.
 */
async function fuzz(t: ExecutionContext, seedList: number[], capacity: number, workers = 1, wcmp = 100): Promise<Map<string, number>> {
  const seedFrames = seeds();
  const problems: string[] = [];
  const seen = new Map<string, number>();
  for (const seed of seedList) {
    const rnd = prng(seed);
    // odd seeds run burstIo in passes (it does so for more than 2,048 flows), even ones in one
    // loop; seeds 3 mod 4 as while the shim prefetches
    const on = await Service.create(true, capacity, workers, wcmp, seed % 2 === 1, seed % 4 === 3);
    const off = await Service.create(false, capacity, workers, wcmp);
    for (let burst = 0; burst < 300; burst++) {
      const n = rnd() < 0.3 ? 1 : 1 + Math.floor(rnd() * 32);
      const frames: [Uint8Array, number][] = [];
      for (let i = 0; i < n; i++) {
        const [f, port] = seedFrames[Math.floor(rnd() * seedFrames.length)]!;
        frames.push(mutate(rnd, f, port));
      }
      if (burst % 25 === 12) {
        // the configuration changes between two bursts (as an RPC's change is acknowledged by
        // every worker between bursts before it answers)
        const kind = Math.floor(rnd() * 14);
        await on.change(kind);
        await off.change(kind);
        // no flow outlives its interface: once DeleteInterface is committed, none that the
        // interface started or was tunnelled, none DNATed to it (another VM's to its VIP); and
        // none outlives the VIP it was translated with
        for (const [svc, twin] of [[on, 'on'], [off, 'off']] as const) {
          const left = svc.flowsOfDeletedVms() || svc.flowsOfRemovedVip() || svc.natPortProblems();
          if (twin === 'on') seen.set('NAT flows at changes', (seen.get('NAT flows at changes') ?? 0) + svc.natFlows);
          if (left !== '') problems.push(`seed ${seed} burst ${burst}, fast path ${twin}, after change ${kind}: ${left}`);
        }
      }
      if (burst % 40 === 39) {
        // time passes: idle flows age out and their records are reused by the next new flows
        const seconds = 25 + Math.floor(rnd() * 10);
        on.age(seconds);
        off.age(seconds);
      }
      // the worker whose queue the burst arrived on (the twin's worker of the same number)
      const wk = Math.floor(rnd() * workers);
      const won = on.workers[wk]!;
      const woff = off.workers[wk]!;
      const where = `seed ${seed} burst ${burst}${workers > 1 ? ` worker ${wk}` : ''}`;
      // FUZZ_DEBUG=1: the whole burst of a failure, with the fast path's verdicts and both outcomes
      const dump = (): void => {
        if (process.env.FUZZ_DEBUG) frames.forEach(([f, p], j) => t.log(`  ${j} port ${p} ${hex(f).slice(0, 140)} ${won.verdict[j]} -> ${a[j]?.slice(0, 40)} / ${b[j]?.slice(0, 40)}`));
      };
      const check = (ok: boolean, what: string): void => {
        if (!ok) problems.push(`${where}: ${what}`);
      };
      let a: string[] = [];
      const b: string[] = [];
      try {
        a = won.burst(frames, check);
        // the twin takes the packets in the order the worker's fast path gives their effects
        // (TCP state, MAC learning): first those it forwarded in place, then those it applied on
        // a slot, then the graph's; each group is one burst of the graph
        const groups: number[][] = [[], [], []];
        for (let i = 0; i < n; i++) groups[won.verdict[i] === FAST_DONE ? 0 : won.verdict[i] === FAST_SLOT ? 1 : 2]!.push(i);
        for (const grp of groups) {
          if (grp.length === 0) continue;
          const r = woff.burst(grp.map((i) => frames[i]!), check);
          grp.forEach((i, k) => { b[i] = r[k]!; });
        }
      } catch (err) {
        problems.push(`${where}: threw ${(err as Error).stack ?? String(err)}`);
        break;
      }
      // NAT and encapsulation keep checksums right: an IPv4 packet that arrived with a correct
      // header and L4 checksum leaves with correct ones (the inner packet of a tunnel, either way)
      for (let i = 0; i < n; i++) {
        if (!a[i]!.startsWith('tx-') || !checksumsOk(frames[i]![0])) continue;
        const out = Buffer.from(a[i]!.slice(a[i]!.indexOf(':') + 1), 'hex');
        const ok = checksumsOk(out);
        if (ok !== undefined) seen.set('checksums kept', (seen.get('checksums kept') ?? 0) + 1);
        if (ok === false) {
          problems.push(`${where} packet ${i}: arrived with correct checksums, left with wrong ones:\n  in:  ${hex(frames[i]![0])}\n  out: ${a[i]}`);
          dump();
        }
      }
      // the replies the service builds itself (DHCP, DHCPv6, NA, RA) carry correct checksums,
      // whatever the request looked like
      for (let i = 0; i < n; i++) {
        const [inFrame, inPort] = frames[i]!;
        if (!a[i]!.startsWith(`tx-${inPort}:`)) continue;
        const out = Buffer.from(a[i]!.slice(a[i]!.indexOf(':') + 1), 'hex');
        const bad = replyChecksumProblem(inFrame, out);
        if (bad !== undefined) seen.set('replies checked', (seen.get('replies checked') ?? 0) + 1);
        if (bad !== undefined && bad !== '') {
          problems.push(`${where} packet ${i}: a reply with ${bad}:\n  in:  ${hex(inFrame)}\n  out: ${a[i]}`);
          dump();
        }
      }
      // VNIs are isolated: a packet from one VM port leaves by another only within its VNI (the
      // port table at burst time: B's port may have changed VNI since the flow began)
      for (let i = 0; i < n; i++) {
        const q = frames[i]![1];
        const p = a[i]!.startsWith('tx-') ? Number(a[i]!.slice(3, a[i]!.indexOf(':'))) : -1;
        const vm = (port: number): boolean => Object.values(VMS).some((v) => v.port === port) && on.ctx.ports.state(port) === PortState.VF_ACTIVE;
        if (p < 0 || p === q || !vm(p) || !vm(q)) continue;
        seen.set('VM to VM checked', (seen.get('VM to VM checked') ?? 0) + 1);
        if (on.ctx.ports.vni(p) !== on.ctx.ports.vni(q)) {
          problems.push(`${where} packet ${i}: from port ${q} (VNI ${on.ctx.ports.vni(q)}) to port ${p} (VNI ${on.ctx.ports.vni(p)})`);
          dump();
        }
      }
      // a deleted interface gets nothing: no route, VNF or cached decision leads to its port
      for (const [vm, live] of [[VMS.A, on.aOn], [VMS.B, on.bOn]] as const) {
        if (!live && a.some((o) => o.startsWith(`tx-${vm.port}:`))) {
          problems.push(`${where}: sent to port ${vm.port} after its interface was deleted`);
          dump();
        }
      }
      for (const o of a) {
        const k = o.replace(/:.*/, (m) => (o.startsWith('drop') ? ` ${DROP_REASON_NAMES[Number(m.slice(1))] ?? m}` : ''));
        seen.set(k, (seen.get(k) ?? 0) + 1);
      }
      // a VM MAC learned within a burst (ARP, DHCP, ND) reaches the other packets of the burst in
      // node order, and a flow's cached decision is applied in conntrack, before the dhcp node,
      // while a full walk rewrites Ethernet in ipv4_lookup, after it: bursts of several packets
      // compare the frames but their destination MAC (the learned MACs themselves are compared
      // after every burst, and bursts of one packet compare every byte)
      const cmp = (o: string): string => (n === 1 || !o.startsWith('tx') ? o : `${o.slice(0, o.indexOf(':') + 1)}${o.slice(o.indexOf(':') + 13)}`);
      for (let i = 0; i < n; i++) {
        if (cmp(a[i]!) === cmp(b[i]!)) continue;
        problems.push(`${where} packet ${i} on port ${frames[i]![1]} (${hex(frames[i]![0])}):\n  fast path on:  ${a[i]}\n  fast path off: ${b[i]}`);
        dump();
        break;
      }
      const diff = on.stateDiff(off);
      if (diff !== '') {
        problems.push(`${where}: state differs from the twin's: ${diff}`);
        dump();
      }
      if (problems.length > 0) break;
    }
    if (problems.length > 0) break;
    t.true(on.fastPathPackets > 0, `seed ${seed}: the fast path forwarded packets`);
    const cross = on.workers.reduce((n, w) => n + w.ctx.fwd.stats[FS_CROSS_WORKER]!, 0);
    seen.set('cross-worker packets', (seen.get('cross-worker packets') ?? 0) + cross);
    // the flow table stayed consistent: its live count is the workers' flows, and removing them
    // all (as a flush does) leaves no index entry behind
    for (const svc of [on, off]) {
      const flows = svc.ctx.fwd.flows;
      const owners = svc.workers.map((w) => w.ctx.fwd.owner);
      const owned = owners.reduce((n, o) => n + o.ownedCount, 0);
      t.is(flows.live, owned, `seed ${seed}: live flows are the owners'`);
      t.is(owners.reduce((n, o) => n + o.removeWhere(() => true, 0), 0), owned);
      t.is(flows.live, 0, `seed ${seed}: no flow left after the flush`);
      t.true(indexEmpty(flows.idx), `seed ${seed}: no index entry left after the flush`);
    }
  }
  t.deepEqual(problems.slice(0, 5), []);
  t.log([...seen].sort().map(([k, v]) => `${k}: ${v}`).join(', '));
  return seen;
}

/**
 * FUZZ_SEEDS=N runs N seeds from the first one given instead, a longer search (500 seeds take ~4
 * minutes for the three tests: give ava a --timeout), FUZZ_SEED=S seed S alone, FUZZ_DEBUG=1 logs
 * the burst of a failure.
 */
function seedsFor(base: number[]): number[] {
  if (process.env.FUZZ_SEED) return [Number(process.env.FUZZ_SEED)];
  const n = Number(process.env.FUZZ_SEEDS ?? 0);
  return n > 0 ? Array.from({ length: n }, (_, i) => base[0]! + i) : base;
}

test('hostile frames in worker bursts: nothing throws, every packet ends once, and the fast path only changes speed', async (t) => {
  const seen = await fuzz(t, seedsFor([1, 2, 3, 4]), 4096);
  // the search reaches every kind of outcome the seeds aim at
  for (const k of ['tx-0', 'tx-1', 'tx-3', 'tx-4', 'tx-5', 'drop truncated', 'drop malformed', 'drop no_route', 'drop no_vnf',
    'drop port_not_active', 'drop unsupported_protocol']) t.true((seen.get(k) ?? 0) > 0, `reached ${k}`);
});

test('the same with two workers on the shared tables, each burst on either: a flow one made, the other finds; --wcmp=50', async (t) => {
  const seen = await fuzz(t, seedsFor([201, 202, 203]), 4096, 2, 50);
  t.true((seen.get('cross-worker packets') ?? 0) > 0, 'packets of flows the other worker made');
  t.true((seen.get('VM to VM checked') ?? 0) > 0, 'packets between VMs whose VNIs were checked');
  t.true((seen.get('checksums kept') ?? 0) > 0, 'packets whose checksums were checked');
  t.true((seen.get('replies checked') ?? 0) > 0, 'replies whose checksums were checked');
  t.true((seen.get('tx-4') ?? 0) > 0 && (seen.get('tx-0') ?? 0) > 0);
  t.true((seen.get('tx-1') ?? 0) > 100, 'encapsulated flows leave by pf1 too');
});

test('the same with a flow table that fills up: new flows are refused with a reason, the rest goes on', async (t) => {
  const seen = await fuzz(t, seedsFor([101, 102]), 64);
  t.true((seen.get('drop flow_table_full') ?? 0) > 0, 'flows refused');
  t.true((seen.get('tx-4') ?? 0) > 0, 'established flows still forwarded');
});
