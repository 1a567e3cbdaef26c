/**
 * The lcore worker thread: registers with DPDK, pins itself, then loops: one FFI call (dps_io)
 * sends the last burst's tx, frees its drops and polls its queue on every port; the fast path and
 * the graph run on the new burst and describe its tx and drops in the io area. Between polls it
 * checks the command ring (one Atomics load). After a run of empty polls it backs off with a short
 * Atomics.wait so an idle service does not burn a core; the supervisor's notify ends the wait.
 *
 * The loop allocates nothing: the io area, the batch and the graph queues are made here once.
 */
import { parentPort, workerData as rawData } from 'node:worker_threads';
import { type Dpdk, type IoArea, loadShim, TX_MOVED } from '../ffi/dpdk.js';
import { MAX_SLOTS, PacketBatch } from '../packet/batch.js';
import { DropReason } from '../packet/drop-reasons.js';
import { PortState, PortTable } from '../tables/port-table.js';
import { buildNodes } from './build-graph.js';
import { CTL_READY, CTL_SLEEPING, CTL_STOP, CTL_WAKE, CTL_WAKE_FD, MSG_WORDS, Op, WorkerChannel } from './channel.js';
import { Graph } from './graph.js';
import { encapTables, FastPath } from './fast-path.js';
import { tuneJit } from './jit.js';
import { warmUp } from './warmup.js';
import { type Forwarding, type NodeContext, openForwarding } from './node-context.js';
import { Qsbr } from '../tables/qsbr.js';
import {
  AgingPace, BUCKET_WORDS, FLOW_CLOCK_HZ, flowSeen, R_STATE, RECORD, TcpState,
} from '../tables/flow-table.js';
import { FS_AGED } from './node-context.js';
import { WorkerCommands } from './commands.js';
import {
  buildGarp, buildRa, buildRouterProbe, buildUnsolicitedNa, garpWanted, ndWanted, PERIODIC_FAST_INTERVAL_MS, PeriodicSchedule,
  routerProbeWanted,
} from './nodes/periodic.js';
import {
  WS_ALLOC_FAILED, WS_BUSY, WS_COMMANDS, WS_IDLE_WAITS, WS_ITERATIONS, WS_RX, WS_RX_WAKEUPS, WS_TX, WS_TX_FAILED, type WorkerData,
} from './worker-data.js';

/** Empty polls before the first back-off wait (~ tens of microseconds of spinning). */
const SPIN_POLLS = 512;
/**
 * Empty polls before a sleep when every port wakes the worker by an rx interrupt: a sleep then costs
 * only its wake-up (bench/latency.js, pings every 1 ms: 30-39% -> 15-16% of a CPU, round trips unchanged).
 */
const SPIN_POLLS_INTERRUPTS = 64;
/**
 * Every owned flow is checked for expiry about once per AGE_PERIOD_MS (upstream sweeps every 5 s),
 * at most AGE_MAX_PER_ITERATION flows that stay and as many expired ones in one loop iteration
 * (see AgingPace).
 */
const AGE_PERIOD_MS = 1000;
const AGE_MAX_PER_ITERATION = 256;
/** Established TCP flows live 24 h (upstream DP_FLOW_TCP_EXTENDED_TIMEOUT). */
const TCP_ESTABLISHED_TIMEOUT_S = 86400;
/**
 * Idle sleep bounds in microseconds: doubles from MIN to MAX while idle. A packet on a port with rx
 * interrupts (net_tap) ends a sleep at once; ports without them are polled again when it times
 * out, so with such a port the sleep stays short (POLLED_MAX); with none every sleep is MAX.
 */
const WAIT_MIN_US = 20;
const WAIT_POLLED_MAX_US = 1000;
const WAIT_MAX_US = 100_000;
/**
 * Busy iterations do their housekeeping (the clock, the stop flag, commands, the quiescent point,
 * aging) once in this many (see iteration()); idle ones every time.
 */
const HOUSEKEEP_EVERY = 8;

/** The worker's idle sleep (Dpdk.idleSetup), or undefined if the kernel gave no epoll or eventfd. */
function idleSetup(dpdk: Dpdk, queue: number, ports: Uint16Array): { wakeFd: number; interruptPorts: number } | undefined {
  try {
    return dpdk.idleSetup(queue, ports);
  } catch {
    return undefined;
  }
}

/**
 * Everything a worker's loop uses, made once when the worker starts. The one instance is a module
 * constant (`worker` below) and its fields holding objects never change after the constructor
 * (the loop's counters and clock below do), so the loop,
 * compiled on stack replacement and specialised to this module's context, sees the io area, the
 * batch, the tables and the fast path as constants: V8 then addresses their typed arrays directly
 * instead of loading and checking each array's map, length and data pointer on every access
 * (bench/forward, 1 worker, alternating with the loop on locals: see the commit).
 */
class WorkerLoop {
  readonly dpdk: Dpdk;
  readonly chan: WorkerChannel;
  readonly b: PacketBatch;
  readonly ports: PortTable;
  readonly fwd: Forwarding;
  readonly ctx: NodeContext;
  readonly qsbr: Qsbr;
  readonly fast: FastPath;
  readonly commands: WorkerCommands;
  readonly graph: Graph;
  readonly stats: Float64Array;
  readonly aging: AgingPace;
  readonly io: IoArea;
  readonly portList: Uint16Array;
  /**
   * The shim's flow prefetch's switch and view of the ports (dps_prefetch_setup): [0] 1 while the
   * fast path works in passes (its single loop reads the flow cache, no bucket lines), then two
   * words per port id from 2, 1 for an active VM port and its VNI; refreshed at every housekeeping
   * (refreshPrefetchPorts).
   */
  readonly prefetchPorts: Int32Array;
  readonly nports: number;
  readonly rxNodeByPort = new Int32Array(256).fill(-1);
  readonly periodicNode: number;
  readonly dropNode: number;
  readonly maxRx: number;
  readonly verdict = new Uint8Array(MAX_SLOTS);
  readonly allocMbuf = new Uint32Array(1);
  readonly cmd = new Int32Array(MSG_WORDS);
  readonly queue: number;
  readonly perPort: number;
  readonly bufShift: number;
  /** A freshly allocated mbuf's data starts after the headroom (rte_pktmbuf_reset). */
  readonly headroom: number;
  readonly flowTimeout: number;
  /** performance.now() to the epoch of the flow clock. */
  readonly originMs: number;
  /**
   * The idle sleep: on the rx interrupts of the ports that have them and an eventfd the supervisor
   * writes to for a command (CTL_WAKE_FD); if the kernel gave no epoll or eventfd (it always does
   * on Linux), a timed Atomics.wait on CTL_WAKE as before interrupts existed.
   */
  readonly idle: { wakeFd: number; interruptPorts: number } | undefined;
  readonly spinPolls: number;
  readonly waitMinUs: number;
  readonly waitMaxUs: number;
  readonly schedule = new PeriodicSchedule();

  // the loop's state
  /** Tx descriptors and drops of the last iteration, sent and freed by the next io call. */
  ntx = 0;
  nfree = 0;
  emptyPolls = 0;
  /** Busy iterations since the last housekeeping. */
  houseSkip = 0;
  /** Flows the last housekeeping aged (at the cap, the loop does not sleep: more are waiting). */
  aged = 0;
  waitUs: number;
  /** The clock (performance.now()) for flow ages and periodic packets, as iteration() last read it. */
  nowMs: number;
  nextPeriodic: number;
  /** The first probe for the underlay router goes out at once (the periodic cycle starts in 5 s). */
  startProbe: boolean;

  constructor(readonly data: WorkerData) {
    const dpdk = loadShim(data.shimPath);
    this.dpdk = dpdk;
    this.chan = new WorkerChannel(data.channel);
    const lcore = dpdk.threadRegister(data.cpu);
    if (lcore < 0) {
      Atomics.store(this.chan.ctl, CTL_READY, -1);
      throw new Error(`worker ${data.queue}: rte_thread_register failed: ${dpdk.strerror(lcore)}`);
    }
    const info = dpdk.poolInfo();
    this.b = new PacketBatch(new Uint8Array(dpdk.poolView()), info.bufShift, info.bufLen);
    this.bufShift = info.bufShift;
    this.headroom = info.headroom;
    const ports = new PortTable(data.portTable);
    this.ports = ports;
    const fwd = openForwarding(data.forwarding, data.forwardingSettings, data.queue, new Float64Array(data.flowStats));
    this.fwd = fwd;
    this.ctx = { ports, settings: data.settings, fwd };
    this.qsbr = new Qsbr(data.qsbr);
    this.fast = new FastPath(this.ctx);
    this.flowTimeout = data.forwardingSettings.flowTimeout;
    this.originMs = performance.timeOrigin - data.epochMs;
    this.nowMs = performance.now();
    // every flow is checked once a second, or four times per timeout when that is shorter: a
    // flow goes within its timeout and a quarter of it (--flow-timeout=1: 1.25 s; upstream's timers
    // run every second)
    this.aging = new AgingPace(Math.min(AGE_PERIOD_MS, this.flowTimeout * 250), AGE_MAX_PER_ITERATION, this.nowMs);
    fwd.owner.startGrace = this.graceToken;
    this.commands = new WorkerCommands(fwd, ports, this.graceToken);
    this.qsbr.online(data.queue);
    this.graph = new Graph(buildNodes(this.ctx, data.ports, data.queue), new Float64Array(data.counters));
    this.stats = new Float64Array(data.stats);

    this.portList = Uint16Array.from(data.ports);
    this.nports = this.portList.length;
    data.ports.forEach((p) => { this.rxNodeByPort[p] = this.graph.indexOf(`rx-${p}-${data.queue}`); });
    this.periodicNode = this.graph.indexOf('rx_periodic');
    this.dropNode = this.graph.indexOf('drop');
    this.maxRx = Math.min(MAX_SLOTS - 256, this.nports * data.burst);
    this.io = dpdk.ioArea();
    if (this.nports > this.io.maxPoll || this.io.max < MAX_SLOTS) throw new Error(`worker ${data.queue}: io area too small for ${this.nports} ports`);
    this.io.pollPort.set(this.portList);
    this.prefetchPorts = new Int32Array(new SharedArrayBuffer(8 * (Math.max(0, ...data.ports) + 2)));
    refreshPrefetchPorts(ports, this.portList, this.prefetchPorts, false);
    dpdk.prefetchSetup(fwd.flows.idx, fwd.flows.bucketMask, BUCKET_WORDS, this.prefetchPorts);
    // the shim writes the outer headers of the fast path's encapsulations (see FastPath.shimEncap)
    dpdk.encapSetup(encapTables(ports, fwd.routes4.fields, fwd.routes6.fields, fwd.flows.generationWord()));
    this.fast.shimEncap = true;
    this.queue = data.queue;
    this.perPort = data.burst;

    this.idle = data.idleBackoff ? idleSetup(dpdk, this.queue, this.portList) : undefined;
    // net_tap's rx signal comes to this thread, awake or sleeping on its queues, rather than to a
    // thread the kernel picks (see dps_rx_signals_here); if the kernel refuses, it still reaches
    // the process, only later
    try {
      dpdk.rxSignalsHere(this.queue, this.portList);
    } catch {
      // the process-wide signal still works
    }
    if (this.idle !== undefined) Atomics.store(this.chan.ctl, CTL_WAKE_FD, this.idle.wakeFd);
    // every port wakes the worker itself: nothing to poll on a timer, so no short sleeps
    // (bench/latency.js, pings every 1 ms: 50-53% -> 30-39% of a CPU) and less spinning
    const everyPortWakes = this.idle !== undefined && this.idle.interruptPorts === this.nports;
    this.spinPolls = everyPortWakes ? SPIN_POLLS_INTERRUPTS : SPIN_POLLS;
    this.waitMinUs = everyPortWakes ? WAIT_MAX_US : WAIT_MIN_US;
    this.waitMaxUs = everyPortWakes ? WAIT_MAX_US : WAIT_POLLED_MAX_US;
    this.waitUs = this.waitMinUs;
    this.nextPeriodic = this.nowMs + PERIODIC_FAST_INTERVAL_MS;
    this.startProbe = data.periodic;
  }

  readonly expired = (f: number): boolean => {
    const rec = this.fwd.flows.rec;
    const idle = this.fwd.clock.now - flowSeen(rec, f);
    const timeout = (rec[f * RECORD + R_STATE]! & 0xff) === TcpState.ESTABLISHED ? TCP_ESTABLISHED_TIMEOUT_S : this.flowTimeout;
    return idle > timeout * FLOW_CLOCK_HZ;
  };

  readonly graceToken = (): number => this.qsbr.start();
  readonly graceDone = (t: number): boolean => this.qsbr.check(t);

  /**
   * Builds one cycle of periodic packets into the batch from slot `first` on, in upstream's order
   * (all RAs, then all unsolicited NAs, then all GARPs; ports in id order), then our router probes
   * on the uplinks (RS and echo to ff02::2). Returns the count.
   */
  periodic(first: number): number {
    const { ctx, b, graph, stats, allocMbuf } = this;
    let slot = first;
    const limit = this.ports.portLimit;
    for (let kind = 0; kind < 5; kind++) {
      for (let p = 0; p < limit && slot < MAX_SLOTS; p++) {
        if (kind < 2 ? !ndWanted(ctx, p) : kind === 2 ? !garpWanted(ctx, p) : !routerProbeWanted(ctx, p)) continue;
        if (this.dpdk.allocMbufs(allocMbuf, 1) !== 1) {
          stats[WS_ALLOC_FAILED] = stats[WS_ALLOC_FAILED]! + 1;
          return slot - first;
        }
        const mbuf = allocMbuf[0]!;
        b.reset(slot, mbuf, mbuf + this.bufShift + this.headroom, 0, p);
        const ok = kind === 0 ? buildRa(b, slot, p, ctx) : kind === 1 ? buildUnsolicitedNa(b, slot, p, ctx)
          : kind === 2 ? buildGarp(b, slot, p, ctx) : buildRouterProbe(b, slot, p, ctx, kind === 3 ? 0 : 1);
        if (ok) {
          graph.enqueue(this.periodicNode, slot);
        } else {
          b.dropReason[slot] = DropReason.NO_ROOM;
          graph.enqueue(this.dropNode, slot);
        }
        slot++;
      }
    }
    return slot - first;
  }

  /** Router probes alone (at start), from slot `first` on; returns the count. */
  probes(first: number): number {
    const { ctx, b, graph, allocMbuf } = this;
    let slot = first;
    for (let p = 0; p < this.ports.portLimit && slot < MAX_SLOTS - 1; p++) {
      if (!routerProbeWanted(ctx, p)) continue;
      for (const kind of [0, 1] as const) {
        if (this.dpdk.allocMbufs(allocMbuf, 1) !== 1) return slot - first;
        const mbuf = allocMbuf[0]!;
        b.reset(slot, mbuf, mbuf + this.bufShift + this.headroom, 0, p);
        if (buildRouterProbe(b, slot, p, ctx, kind)) graph.enqueue(this.periodicNode, slot);
        else {
          b.dropReason[slot] = DropReason.NO_ROOM;
          graph.enqueue(this.dropNode, slot);
        }
        slot++;
      }
    }
    return slot - first;
  }

  /**
   * The graph's share of an iteration: rx slots [0, n) the fast path did not forward and the
   * generated slots [n, count); writes their tx descriptors from index `first` and the drops to
   * free (nfree). Returns the number of tx descriptors written.
   */
  graphBurst(n: number, count: number, first: number): number {
    const { io, b, graph } = this;
    const { rxOff, rxStart, rxLen, txOff, txStart, txLen, txPort, txSet, freeOff } = io;
    this.fast.handOff(io, n, b, this.verdict, graph, this.rxNodeByPort, this.dropNode);
    b.count = count;
    graph.run(b);

    // the shim rewrites an mbuf's data_off/len only where the frame moved or changed length
    // (txSet), so forwarded frames' headers stay untouched
    const nt = graph.txCount;
    const txSlots = graph.txSlots;
    for (let j = 0; j < nt; j++) {
      const k = first + j;
      const slot = txSlots[j]!;
      const mbuf = b.mbuf[slot]!;
      const start = b.start[slot]!;
      const len = b.len[slot]!;
      txOff[k] = mbuf;
      txStart[k] = start;
      txLen[k] = len;
      txPort[k] = b.outPort[slot]!;
      txSet[k] = slot < n && mbuf === rxOff[slot] && start === rxStart[slot] && len === rxLen[slot] ? 0 : TX_MOVED;
    }
    const nd = graph.dropCount;
    const dropSlots = graph.dropSlots;
    for (let k = 0; k < nd; k++) freeOff[k] = b.mbuf[dropSlots[k]!]!;
    this.nfree = nd;
    graph.resetSinks();
    return nt;
  }

  /** Waits for packets, a command or the next periodic packets after a run of empty polls. */
  idleWait(): void {
    const { stats, chan, data } = this;
    const ctl = chan.ctl;
    stats[WS_IDLE_WAITS] = stats[WS_IDLE_WAITS]! + 1;
    Atomics.store(ctl, CTL_SLEEPING, 1);
    this.qsbr.offline(this.queue);
    // a command pushed before the flag was visible is seen here; after it, the supervisor wakes us
    if (!chan.pending() && Atomics.load(ctl, CTL_STOP) === 0) {
      // not past the next periodic packets (GARP, RA, probes), which only this loop sends
      const us = data.periodic ? Math.max(WAIT_MIN_US, Math.min(this.waitUs, (this.nextPeriodic - this.nowMs) * 1000)) : this.waitUs;
      if (this.idle === undefined) Atomics.wait(ctl, CTL_WAKE, 0, us / 1000);
      else if (this.dpdk.idleWait(us | 0) > 0) stats[WS_RX_WAKEUPS] = stats[WS_RX_WAKEUPS]! + 1;
    }
    this.qsbr.online(this.queue);
    Atomics.store(ctl, CTL_SLEEPING, 0);
    this.waitUs = Math.min(this.waitUs * 2, this.waitMaxUs);
  }
}

const data = rawData as WorkerData;
// V8 flags are read when a function is optimised: before the loop is compiled
tuneJit();

/** This thread's worker (undefined if it could not start: the supervisor was told). */
const worker = ((): WorkerLoop | undefined => {
  try {
    return new WorkerLoop(data);
  } catch (err) {
    parentPort?.postMessage({ kind: 'failed', queue: data.queue, message: (err as Error).message });
    return undefined;
  }
})();

/** The worker's loop until the supervisor stops it. */
function loop(): void {
  Atomics.store(worker!.chan.ctl, CTL_READY, 1);
  while (iteration()) {
    // the loop is all in iteration(), which the compiled loop inlines (see there)
  }
  const w = worker!;
  w.dpdk.io(w.queue, w.ntx, w.nfree, 0, w.perPort, 0);
  w.qsbr.offline(w.queue);
  // the eventfd closes with the thread's registration: the supervisor must not write to its number
  Atomics.store(w.chan.ctl, CTL_WAKE_FD, -1);
  w.dpdk.threadUnregister();
}

/** Writes the shim's flow prefetch switch (`on`) and each polled port's [active VM port, VNI]. */
function refreshPrefetchPorts(ports: PortTable, list: Uint16Array, out: Int32Array, on: boolean): void {
  out[0] = on ? 1 : 0;
  if (!on) return;
  for (let i = 0; i < list.length; i++) {
    const p = list[i]!;
    const active = ports.state(p) === PortState.VF_ACTIVE;
    out[2 * p + 2] = active ? 1 : 0;
    out[2 * p + 3] = active ? ports.vni(p) | 0 : 0;
  }
}

/**
 * The worker's housekeeping between two bursts, after the io call that sent the last one: the
 * clock, the stop flag, commands (acknowledged here: every packet handled before is finished and
 * sent; this poll's packets are handled after, with the change), the quiescent point of the
 * tables' grace periods, deferred record reuse and aging. False once the supervisor has stopped
 * the worker.
 */
function housekeeping(): boolean {
  const w = worker!;
  const { chan, fwd, stats, cmd, commands, aging, qsbr, queue } = w;
  const ctl = chan.ctl;
  if (Atomics.load(ctl, CTL_STOP) !== 0) return false;
  const owner = fwd.owner;
  qsbr.quiescent(queue);
  w.nowMs = performance.now();
  fwd.clock.now = ((w.originMs + w.nowMs) * (FLOW_CLOCK_HZ / 1000)) | 0;
  const nowMs = w.nowMs;
  while (chan.poll(cmd)) {
    stats[WS_COMMANDS] = stats[WS_COMMANDS]! + 1;
    // acknowledging proves this worker has finished every packet it took before the command
    // (commands are handled between bursts); flushes delete the worker's own flows first
    let result = 0;
    if (cmd[0] === Op.STOP) Atomics.store(ctl, CTL_STOP, 1);
    else result = commands.handle(cmd[0]!, cmd[2]!, cmd[3]!);
    chan.acknowledge(cmd[1]!, result);
  }
  owner.reclaim(w.graceDone);
  const prefetch = fwd.flows.liveHint > w.fast.fusedMaxFlows;
  refreshPrefetchPorts(w.ports, w.portList, w.prefetchPorts, prefetch);
  w.fast.prefetching = prefetch;
  const ageBudget = aging.take(owner.ownedCount, nowMs);
  const aged = owner.age(ageBudget, w.expired, w.graceToken, AGE_MAX_PER_ITERATION);
  aging.giveBack(ageBudget - owner.agePassed);
  if (aged > 0) fwd.stats[FS_AGED] = fwd.stats[FS_AGED]! + aged;
  w.aged = aged;
  return true;
}

/**
 * One iteration of the worker's loop: one io call, commands and aging, the fast path and the graph.
 * False once the supervisor has stopped the worker. The loop's compiled code (on stack
 * replacement) inlines this function as the constant it is, with this module's context as a
 * constant: `worker` and everything read from its fields here are constants to it (see
 * WorkerLoop). The loop's own code before the loop would not be: stack replacement takes what was
 * computed there as unknown values.
 */
function iteration(): boolean {
  const w = worker!;
  const { dpdk, stats, io, fast, b, verdict, queue } = w;
  const ioResult = io.result;
  stats[WS_ITERATIONS] = stats[WS_ITERATIONS]! + 1;
  // one crossing: the last iteration's tx and drops go out, then this iteration's rx comes in
  const ntxBefore = w.ntx;
  const n = dpdk.io(queue, ntxBefore, w.nfree, w.nports, w.perPort, w.maxRx);
  if (ntxBefore > 0) {
    stats[WS_TX] = stats[WS_TX]! + ioResult[0]!;
    if (ioResult[1]! > 0) stats[WS_TX_FAILED] = stats[WS_TX_FAILED]! + ioResult[1]!;
    w.ntx = 0;
  }
  w.nfree = 0;
  // after an idle iteration (this one may have slept) and every HOUSEKEEP_EVERY busy ones: each
  // costs several Atomics calls (builtins V8 does not inline; ~4% of a worker's time at one flow
  // when done every iteration) and performance.now() ~53 ns, while HOUSEKEEP_EVERY bursts take tens
  // of microseconds, nothing next to the flow clock's 100 ms or a command's round trip. After the
  // io call, not before: the shim wrote the headers of the last burst's encapsulations from the
  // route and port tables as it sent them (FastPath.shimEncap), so only now is every packet this
  // worker handled before a command, or before its quiescent point, finished
  if (w.emptyPolls !== 0 || ++w.houseSkip >= HOUSEKEEP_EVERY) {
    w.houseSkip = 0;
    if (!housekeeping()) {
      // stopped: this poll's packets go back to the pool with the loop's last io call
      for (let i = 0; i < n; i++) io.freeOff[i] = io.rxOff[i]!;
      w.nfree = n;
      return false;
    }
  }
  let count = n;
  if (w.startProbe) {
    w.startProbe = false;
    count += w.probes(n);
  } else if (w.data.periodic && w.nowMs >= w.nextPeriodic) {
    count += w.periodic(n);
    w.nextPeriodic = w.nowMs + w.schedule.next(w.ports.initialized);
  }
  if (count === 0) {
    // expired flows left over (the removal cap was hit): no sleep until they are gone
    if (w.data.idleBackoff && ++w.emptyPolls > w.spinPolls && w.aged < AGE_MAX_PER_ITERATION) w.idleWait();
    return true;
  }
  w.emptyPolls = 0;
  w.waitUs = w.waitMinUs;
  stats[WS_BUSY] = stats[WS_BUSY]! + 1;
  stats[WS_RX] = stats[WS_RX]! + n;

  // the fast path forwards what it can straight into the tx descriptors [0, nf); the rest gets
  // a batch slot and the graph
  const nf = fast.burstIo(io, n, b, verdict);
  w.ntx = nf < count ? nf + w.graphBurst(n, count, nf) : nf;
  return true;
}

if (worker !== undefined) {
  try {
    // the graph's type feedback before the first packets (see warmup.ts); only an optimisation,
    // so a failure is reported and the worker polls anyway
    try {
      const t0 = performance.now();
      const packets = warmUp(data.settings, data.forwardingSettings);
      parentPort?.postMessage({ kind: 'warmed', queue: data.queue, packets, ms: Math.round(performance.now() - t0) });
    } catch (err) {
      parentPort?.postMessage({ kind: 'warmup-failed', queue: data.queue, message: (err as Error).message });
    }
    loop();
    parentPort?.postMessage({ kind: 'stopped', queue: data.queue });
  } catch (err) {
    parentPort?.postMessage({ kind: 'failed', queue: data.queue, message: (err as Error).message });
  }
}
