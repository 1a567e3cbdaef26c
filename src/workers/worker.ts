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
import { type Dpdk, loadShim } from '../ffi/dpdk.js';
import { MAX_SLOTS, PacketBatch } from '../packet/batch.js';
import { DropReason } from '../packet/drop-reasons.js';
import { PortTable } from '../tables/port-table.js';
import { buildNodes } from './build-graph.js';
import { CTL_READY, CTL_SLEEPING, CTL_STOP, CTL_WAKE, CTL_WAKE_FD, MSG_WORDS, Op, WorkerChannel } from './channel.js';
import { Graph } from './graph.js';
import { FastPath } from './fast-path.js';
import { tuneJit } from './jit.js';
import { type NodeContext, openForwarding } from './node-context.js';
import { Qsbr } from '../tables/qsbr.js';
import {
  AgingPace, FLOW_CLOCK_HZ, R_SEEN, R_STATE, RECORD, TcpState,
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

/** The worker's idle sleep (Dpdk.idleSetup), or undefined if the kernel gave no epoll or eventfd. */
function idleSetup(dpdk: Dpdk, queue: number, ports: Uint16Array): { wakeFd: number; interruptPorts: number } | undefined {
  try {
    return dpdk.idleSetup(queue, ports);
  } catch {
    return undefined;
  }
}

function run(data: WorkerData): void {
  tuneJit();
  const dpdk = loadShim(data.shimPath);
  const chan = new WorkerChannel(data.channel);
  const lcore = dpdk.threadRegister(data.cpu);
  if (lcore < 0) {
    Atomics.store(chan.ctl, CTL_READY, -1);
    throw new Error(`worker ${data.queue}: rte_thread_register failed: ${dpdk.strerror(lcore)}`);
  }
  const info = dpdk.poolInfo();
  const pool = dpdk.poolView();
  const b = new PacketBatch(new Uint8Array(pool), info.bufShift, info.bufLen);
  const ports = new PortTable(data.portTable);
  const fwd = openForwarding(data.forwarding, data.forwardingSettings, data.queue, new Float64Array(data.flowStats));
  const ctx: NodeContext = { ports, settings: data.settings, fwd };
  const qsbr = new Qsbr(data.qsbr);
  const fast = new FastPath(ctx);
  const owner = fwd.owner;
  const rec = fwd.flows.rec;
  const flowTimeout = data.forwardingSettings.flowTimeout;
  const epochMs = data.epochMs;
  // performance.now() costs ~65 ns here (kvm-clock): read once per iteration, for flow ages and periodic packets
  const originMs = performance.timeOrigin - epochMs;
  let nowMs = performance.now();
  // every flow is checked once a second, or four times per timeout when that is shorter: a
  // flow goes within its timeout and a quarter of it (--flow-timeout=1: 1.25 s; upstream's timers
  // run every second)
  const aging = new AgingPace(Math.min(AGE_PERIOD_MS, flowTimeout * 250), AGE_MAX_PER_ITERATION, nowMs);
  const expired = (f: number): boolean => {
    const idle = fwd.clock.now - rec[f * RECORD + R_SEEN]!;
    const timeout = (rec[f * RECORD + R_STATE]! & 0xff) === TcpState.ESTABLISHED ? TCP_ESTABLISHED_TIMEOUT_S : flowTimeout;
    return idle > timeout * FLOW_CLOCK_HZ;
  };
  const graceToken = (): number => qsbr.start();
  owner.startGrace = graceToken;
  const graceDone = (t: number): boolean => qsbr.check(t);
  const commands = new WorkerCommands(fwd, ports, graceToken);
  qsbr.online(data.queue);
  const graph = new Graph(buildNodes(ctx, data.ports, data.queue), new Float64Array(data.counters));
  const stats = new Float64Array(data.stats);

  const portList = Uint16Array.from(data.ports);
  const nports = portList.length;
  const rxNodeByPort = new Int32Array(256).fill(-1);
  data.ports.forEach((p) => { rxNodeByPort[p] = graph.indexOf(`rx-${p}-${data.queue}`); });
  const periodicNode = graph.indexOf('rx_periodic');
  const dropNode = graph.indexOf('drop');
  const maxRx = Math.min(MAX_SLOTS - 256, nports * data.burst);
  const io = dpdk.ioArea();
  if (nports > io.maxPoll || io.max < MAX_SLOTS) throw new Error(`worker ${data.queue}: io area too small for ${nports} ports`);
  io.pollPort.set(portList);
  const { rxOff, rxStart, rxLen, txOff, txStart, txLen, txPort, txSet, freeOff } = io;
  const ioResult = io.result;
  const verdict = new Uint8Array(MAX_SLOTS);
  const allocMbuf = new Uint32Array(1);
  const cmd = new Int32Array(MSG_WORDS);
  const ctl = chan.ctl;
  const queue = data.queue;
  const perPort = data.burst;
  const bufShift = info.bufShift;
  // a freshly allocated mbuf's data starts after the headroom (rte_pktmbuf_reset)
  const headroom = info.headroom;

  let ntx = 0;
  let nfree = 0;
  let emptyPolls = 0;
  // the idle sleep: on the rx interrupts of the ports that have them and an eventfd the supervisor
  // writes to for a command (CTL_WAKE_FD); if the kernel gave no epoll or eventfd (it always does
  // on Linux), a timed Atomics.wait on CTL_WAKE as before interrupts existed
  const idle = data.idleBackoff ? idleSetup(dpdk, queue, portList) : undefined;
  // net_tap's rx signal comes to this thread, awake or sleeping on its queues, rather than to a
  // thread the kernel picks (see dps_rx_signals_here); if the kernel refuses, it still reaches
  // the process, only later
  try {
    dpdk.rxSignalsHere(queue, portList);
  } catch {
    // the process-wide signal still works
  }
  if (idle !== undefined) Atomics.store(chan.ctl, CTL_WAKE_FD, idle.wakeFd);
  // every port wakes the worker itself: nothing to poll on a timer, so no short sleeps
  // (bench/latency.js, pings every 1 ms: 50-53% -> 30-39% of a CPU) and less spinning
  const everyPortWakes = idle !== undefined && idle.interruptPorts === nports;
  const spinPolls = everyPortWakes ? SPIN_POLLS_INTERRUPTS : SPIN_POLLS;
  const waitMinUs = everyPortWakes ? WAIT_MAX_US : WAIT_MIN_US;
  const waitMaxUs = everyPortWakes ? WAIT_MAX_US : WAIT_POLLED_MAX_US;
  let waitUs = waitMinUs;
  const schedule = new PeriodicSchedule();
  let nextPeriodic = nowMs + PERIODIC_FAST_INTERVAL_MS;

  /**
   * Builds one cycle of periodic packets into the batch from slot `first` on, in upstream's order
   * (all RAs, then all unsolicited NAs, then all GARPs; ports in id order), then our router probes
   * on the uplinks (RS and echo to ff02::2). Returns the count.
   */
  const periodic = (first: number): number => {
    let slot = first;
    const limit = ports.portLimit;
    for (let kind = 0; kind < 5; kind++) {
      for (let p = 0; p < limit && slot < MAX_SLOTS; p++) {
        if (kind < 2 ? !ndWanted(ctx, p) : kind === 2 ? !garpWanted(ctx, p) : !routerProbeWanted(ctx, p)) continue;
        if (dpdk.allocMbufs(allocMbuf, 1) !== 1) {
          stats[WS_ALLOC_FAILED] = stats[WS_ALLOC_FAILED]! + 1;
          return slot - first;
        }
        const mbuf = allocMbuf[0]!;
        b.reset(slot, mbuf, mbuf + bufShift + headroom, 0, p);
        const ok = kind === 0 ? buildRa(b, slot, p, ctx) : kind === 1 ? buildUnsolicitedNa(b, slot, p, ctx)
          : kind === 2 ? buildGarp(b, slot, p, ctx) : buildRouterProbe(b, slot, p, ctx, kind === 3 ? 0 : 1);
        if (ok) {
          graph.enqueue(periodicNode, slot);
        } else {
          b.dropReason[slot] = DropReason.NO_ROOM;
          graph.enqueue(dropNode, slot);
        }
        slot++;
      }
    }
    return slot - first;
  };

  // the first probe for the underlay router goes out at once (the periodic cycle starts in 5 s)
  let startProbe = data.periodic;

  /** Router probes alone (at start), from slot `first` on; returns the count. */
  const probes = (first: number): number => {
    let slot = first;
    for (let p = 0; p < ports.portLimit && slot < MAX_SLOTS - 1; p++) {
      if (!routerProbeWanted(ctx, p)) continue;
      for (const kind of [0, 1] as const) {
        if (dpdk.allocMbufs(allocMbuf, 1) !== 1) return slot - first;
        const mbuf = allocMbuf[0]!;
        b.reset(slot, mbuf, mbuf + bufShift + headroom, 0, p);
        if (buildRouterProbe(b, slot, p, ctx, kind)) graph.enqueue(periodicNode, slot);
        else {
          b.dropReason[slot] = DropReason.NO_ROOM;
          graph.enqueue(dropNode, slot);
        }
        slot++;
      }
    }
    return slot - first;
  };

  /**
   * The graph's share of an iteration: rx slots [0, n) the fast path did not forward and the
   * generated slots [n, count); writes their tx descriptors from index `first` and the drops to
   * free. Returns the number of tx descriptors written.
   */
  const graphBurst = (n: number, count: number, first: number): number => {
    fast.handOff(io, n, b, verdict, graph, rxNodeByPort, dropNode);
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
      txSet[k] = slot < n && mbuf === rxOff[slot] && start === rxStart[slot] && len === rxLen[slot] ? 0 : 1;
    }
    const nd = graph.dropCount;
    const dropSlots = graph.dropSlots;
    for (let k = 0; k < nd; k++) freeOff[k] = b.mbuf[dropSlots[k]!]!;
    nfree = nd;
    graph.resetSinks();
    return nt;
  };

  Atomics.store(ctl, CTL_READY, 1);
  while (Atomics.load(ctl, CTL_STOP) === 0) {
    stats[WS_ITERATIONS] = stats[WS_ITERATIONS]! + 1;
    qsbr.quiescent(queue);
    nowMs = performance.now();
    fwd.clock.now = ((originMs + nowMs) * (FLOW_CLOCK_HZ / 1000)) | 0;
    while (chan.poll(cmd)) {
      stats[WS_COMMANDS] = stats[WS_COMMANDS]! + 1;
      // acknowledging proves this worker has finished every packet it took before the command
      // (commands are handled between bursts); flushes delete the worker's own flows first
      let result = 0;
      if (cmd[0] === Op.STOP) Atomics.store(ctl, CTL_STOP, 1);
      else result = commands.handle(cmd[0]!, cmd[2]!, cmd[3]!);
      chan.acknowledge(cmd[1]!, result);
    }
    owner.reclaim(graceDone);
    const ageBudget = aging.take(owner.ownedCount, nowMs);
    const aged = owner.age(ageBudget, expired, graceToken, AGE_MAX_PER_ITERATION);
    aging.giveBack(ageBudget - owner.agePassed);
    if (aged > 0) fwd.stats[FS_AGED] = fwd.stats[FS_AGED]! + aged;

    // one crossing: the last iteration's tx and drops go out, then this iteration's rx comes in
    const n = dpdk.io(queue, ntx, nfree, nports, perPort, maxRx);
    if (ntx > 0) {
      stats[WS_TX] = stats[WS_TX]! + ioResult[0]!;
      if (ioResult[1]! > 0) stats[WS_TX_FAILED] = stats[WS_TX_FAILED]! + ioResult[1]!;
      ntx = 0;
    }
    nfree = 0;
    let count = n;
    if (startProbe) {
      startProbe = false;
      count += probes(n);
    } else if (data.periodic && nowMs >= nextPeriodic) {
      count += periodic(n);
      nextPeriodic = nowMs + schedule.next(ports.initialized);
    }
    if (count === 0) {
      // expired flows left over (the removal cap was hit): no sleep until they are gone
      if (data.idleBackoff && ++emptyPolls > spinPolls && aged < AGE_MAX_PER_ITERATION) {
        stats[WS_IDLE_WAITS] = stats[WS_IDLE_WAITS]! + 1;
        Atomics.store(ctl, CTL_SLEEPING, 1);
        qsbr.offline(queue);
        // a command pushed before the flag was visible is seen here; after it, the supervisor wakes us
        if (!chan.pending() && Atomics.load(ctl, CTL_STOP) === 0) {
          // not past the next periodic packets (GARP, RA, probes), which only this loop sends
          const us = data.periodic ? Math.max(WAIT_MIN_US, Math.min(waitUs, (nextPeriodic - nowMs) * 1000)) : waitUs;
          if (idle === undefined) Atomics.wait(ctl, CTL_WAKE, 0, us / 1000);
          else if (dpdk.idleWait(us | 0) > 0) stats[WS_RX_WAKEUPS] = stats[WS_RX_WAKEUPS]! + 1;
        }
        qsbr.online(queue);
        Atomics.store(ctl, CTL_SLEEPING, 0);
        waitUs = Math.min(waitUs * 2, waitMaxUs);
      }
      continue;
    }
    emptyPolls = 0;
    waitUs = waitMinUs;
    stats[WS_BUSY] = stats[WS_BUSY]! + 1;
    stats[WS_RX] = stats[WS_RX]! + n;

    // the fast path forwards what it can straight into the tx descriptors [0, nf); the rest gets
    // a batch slot and the graph
    const nf = fast.burstIo(io, n, b, verdict);
    ntx = nf;
    // the rest (if any) goes through the graph
    if (nf < count) ntx = nf + graphBurst(n, count, nf);
  }
  dpdk.io(queue, ntx, nfree, 0, perPort, 0);
  qsbr.offline(queue);
  // the eventfd closes with the thread's registration: the supervisor must not write to its number
  Atomics.store(ctl, CTL_WAKE_FD, -1);
  dpdk.threadUnregister();
}

const data = rawData as WorkerData;
try {
  run(data);
  parentPort?.postMessage({ kind: 'stopped', queue: data.queue });
} catch (err) {
  parentPort?.postMessage({ kind: 'failed', queue: data.queue, message: (err as Error).message });
}
