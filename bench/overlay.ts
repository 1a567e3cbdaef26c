/**
 * Overlay forwarding throughput (issue 4): Mpps per worker of the real workers (worker.ts) for
 *   vf     VM to VM: UDP from vf0's VM to vf1's VM, routed by the interface route of vf1
 *   encap  VM to remote: UDP from vf0's VM to 10.1.0.1, routed via an underlay nexthop, leaves
 *          IPv4-in-IPv6 on pf0 (--remotes N: to N hosts in turn, each behind a route of its own)
 *   decap  remote to VM: IPv4-in-IPv6 to vf0's underlay address (a VNF of type interface IP)
 *          arriving on pf0, leaves as IPv4 on vf0
 *   mix    the three at once (not run unless asked for): vf0 receives VM to VM and encap
 *          alternating packet by packet, pf0 the tunnels of decap, each port always full, so the
 *          worker's loop runs compiled for every kind, as on a host with mixed traffic (see
 *          rxStreams)
 * each with 1,000 and 100,000 active flows, the first-packet path (--no-fast-path: every packet
 * walks dnat, lookup, snat and firewall after its flow lookup) and the fast path, 1 and 2 workers,
 * next to dpdk-testpmd io forwarding on the same devices in the same run.
 *
 * TRAFFIC. The receiving port is DPDK's pcap PMD with infinite_rx: at start it reads a pcap file
 * of one frame per flow into mbufs of our pool and replays them in order forever, copying each into
 * a fresh mbuf on rx. So every packet is a pristine frame (encap grows and decap rewrites the
 * packet in place; nothing needs repairing), and the flows cycle round-robin: exactly N distinct
 * 5-tuples, each seen once every N packets. Priming the pool as forward.ts does cannot give N
 * flows: net_null allocates from the worker's per-lcore mempool cache, which is a stack that the
 * tx of the previous burst just refilled, so the same ~32 mbufs come back again and again (measured:
 * 16,384 mbufs primed with distinct flows gave 32 live flows). The other ports are net_null with
 * no-rx=1 (tx frees). With 2 workers each queue replays its own file with half of the flows, as RSS
 * would spread them. The PMD keeps the replayed frames in mbufs of our pool, so for 100,000 flows the
 * pool is enlarged by the flow count (wrapping dpdk.poolCreate; see POOL below).
 *
 * BASELINES. dpdk-testpmd io forwarding from the same pcap vdev (the path's frames: the 64-byte
 * IPv4 frames of vf and encap, the 104-byte tunnels of decap; same flow count and queue split) to
 * a no-rx net_null: the same rx copy and tx free, no graph. Its per-core rate is
 * the per-core ceiling of these vdevs; "added" is our ns per packet minus testpmd's, i.e. what the
 * service costs on top of rx/tx. testpmd on two net_null ports (forward.ts's baseline) is printed
 * too: the difference to the pcap run is what the replay itself costs per packet.
 *
 * TIMING. Variants run in child processes (one EAL per process), interleaved with testpmd, in
 * `--repeat` rounds of alternating order. `--seconds` is the measured time per variant in total,
 * split over the rounds (a run costs 2-4 s of start-up besides: 24 variants and 10 testpmd runs per
 * round, so the defaults take about 4.5 minutes). Each run measures after a warm-up (at least
 * `--warmup` seconds, and until every flow exists) in half-second windows; the tables give the
 * median over all of a variant's windows (this 2-vCPU machine is shared and noisy); 2-worker
 * scaling is the ratio of adjacent runs, per round. Before each run the bench waits (up to 20 s)
 * for other processes to leave the CPUs, and repeats once a run whose workers (or testpmd) got
 * under 90% of their CPUs; the cpu column shows what they got. Every run
 * checks that the flow table holds exactly the flows it was given (flows.live), that no flow was
 * created, aged or flushed during the measurement, that the fast path counter moves only when it
 * should, and prints drops by reason; the report ends with what failed.
 *
 *   node dist/bench/overlay.js [--seconds 3] [--repeat 2] [--warmup 0.3] [--paths vf,encap,decap]
 *     [--flows 1000,100000] [--modes first,fast] [--workers 1,2] [--burst 32] [--flow-table-size N]
 *     [--proto udp|tcp] [--no-testpmd]
 *
 * `--proto tcp` replays TCP ACKs instead of UDP datagrams (same sizes, one direction per flow, no
 * handshake: conntrack creates a flow from the first packet it sees, SYN or not), so the fast path also
 * updates each flow's TCP state.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Dataplane } from '../src/actors/dataplane.js';
import { createLogger } from '../src/actors/logging.js';
import { VnfType } from '../src/actors/underlay.js';
import { parseServiceArgs } from '../src/config/options.js';
import type { Dpdk } from '../src/ffi/dpdk.js';
import { DROP_REASON_NAMES } from '../src/packet/drop-reasons.js';
import { FS_AGED, FS_CREATED, FS_CROSS_WORKER, FS_FAST_PATH, FS_FLUSHED, FS_TABLE_FULL } from '../src/workers/node-context.js';
import { WS_RX, WS_TX, WS_TX_FAILED } from '../src/workers/worker-data.js';
import { ipipFrame, pcapFile, tcpFlowFrame, udpFlowFrame } from './frames.js';
import { removeEalRuntime, runTestpmdPeriods, sleep } from './testpmd.js';

const PATHS = ['vf', 'encap', 'decap', 'mix'] as const;
type PathKind = (typeof PATHS)[number];
/** The paths one frame takes ('mix' is a blend of them). */
type FrameKind = Exclude<PathKind, 'mix'>;
const DEFAULT_PATHS: PathKind[] = ['vf', 'encap', 'decap'];
const MODES = ['first', 'fast'] as const;
type Mode = (typeof MODES)[number];
const PROTOS = ['udp', 'tcp'] as const;
type Proto = (typeof PROTOS)[number];

interface Args {
  seconds: number; repeat: number; paths: PathKind[]; flows: number[]; modes: Mode[]; workers: number[];
  burst: number; testpmd: boolean; warmup: number;
  /** the flows' protocol: UDP, or TCP ACKs of established connections (each flow one direction) */
  proto: Proto;
  /** --flow-table-size for the service (undefined: its default, upstream's 850,000). */
  flowTableSize?: number;
  /** remote hosts encap's flows go to, round-robin, each behind a route of its own (see remoteOf) */
  remotes: number;
}

/** The options: name, default, parser. One table drives parsing and the usage line. */
const OPTIONS: { name: string; help: string; set: (a: Args, v: string) => void; flag?: boolean }[] = [
  { name: 'seconds', help: 'measured seconds per variant, split over the rounds', set: (a, v) => { a.seconds = positive('seconds', v); } },
  { name: 'repeat', help: 'rounds (runs per variant)', set: (a, v) => { a.repeat = positive('repeat', v); } },
  { name: 'warmup', help: 'seconds before measuring', set: (a, v) => { a.warmup = nonNegative('warmup', v); } },
  { name: 'paths', help: 'vf,encap,decap,mix', set: (a, v) => { a.paths = listOf('paths', v, PATHS); } },
  { name: 'flows', help: 'flow counts', set: (a, v) => { a.flows = v.split(',').map((x) => positive('flows', x)); } },
  { name: 'modes', help: 'first,fast', set: (a, v) => { a.modes = listOf('modes', v, MODES); } },
  { name: 'workers', help: 'worker counts', set: (a, v) => { a.workers = v.split(',').map((x) => positive('workers', x)); } },
  { name: 'proto', help: 'udp or tcp (ACKs; the fast path tracks TCP state)', set: (a, v) => {
    const [p, ...more] = listOf('proto', v, PROTOS);
    if (more.length > 0) throw new Error(`--proto: one of ${PROTOS.join(',')}, not ${v}`);
    a.proto = p!;
  } },
  { name: 'burst', help: 'rx burst', set: (a, v) => { a.burst = positive('burst', v); } },
  { name: 'flow-table-size', help: "the service's flow capacity (its index is sized for it)", set: (a, v) => { a.flowTableSize = positive('flow-table-size', v); } },
  { name: 'remotes', help: "remote hosts encap's flows go to in turn, each behind its own route (max 256)", set: (a, v) => {
    a.remotes = positive('remotes', v);
    if (a.remotes > 256) throw new Error(`--remotes: ${v} is more than 256`);
  } },
  { name: 'no-testpmd', help: 'skip dpdk-testpmd', flag: true, set: (a) => { a.testpmd = false; } },
];

function positive(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: ${v} is not a positive integer`);
  return n;
}

function nonNegative(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: ${v} is not a number >= 0`);
  return n;
}

/** Measurement windows per run: half seconds, --seconds over --repeat runs, at least one. */
const WINDOW_MS = 500;
function windowsPerRun(a: Args): number {
  return Math.max(1, Math.round((a.seconds * 1000) / a.repeat / WINDOW_MS));
}

function listOf<T extends string>(name: string, v: string, allowed: readonly T[]): T[] {
  return v.split(',').map((x) => {
    if (!(allowed as readonly string[]).includes(x)) throw new Error(`--${name}: ${x} is not one of ${allowed.join(',')}`);
    return x as T;
  });
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    seconds: 3, repeat: 2, warmup: 0.3, paths: [...DEFAULT_PATHS], flows: [1000, 100000], modes: [...MODES], workers: [1, 2], burst: 32, testpmd: true, proto: 'udp', remotes: 1,
  };
  for (let i = 0; i < argv.length; i++) {
    const o = OPTIONS.find((x) => `--${x.name}` === argv[i]);
    if (!o) throw new Error(`unknown argument ${argv[i]}; options: ${OPTIONS.map((x) => `--${x.name}${x.flag ? '' : ' X'} (${x.help})`).join(', ')}`);
    o.set(a, o.flag ? '' : argv[++i] ?? '');
  }
  return a;
}

// ---- the setup every run shares ----

const VNI = 100;
const VM0 = 0x0a000001;         // 10.0.0.1 on vf0
const VM1 = 0x0a000002;         // 10.0.0.2 on vf1
const REMOTE = 0x0a010001;      // 10.1.0.1, inside 10.1.0.0/16 via the underlay
const REMOTE_NET = 0x0a010000;
const HOST_IPV6 = 'fc00:1::1';
const UNDERLAY_VF0 = v6(0xfc, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00);   // fc00:1::100
const UNDERLAY_VF1 = v6(0xfc, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x01);   // fc00:1::101
const NEXTHOP = v6(0xfc, 0x00, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01);          // fc00:2::1

function v6(...b: number[]): Uint8Array {
  return Uint8Array.from(b);
}

type RxRole = 'pf0' | 'vf0';

/**
 * What one receiving port of a variant replays: flows [from, to), flow i as a frame of kind(i).
 * A single path has one stream; 'mix' has two, so that every burst of vf0 alternates VM to VM and
 * encapsulation and the worker polls pf0's tunnels between them: two thirds of the flows on vf0
 * (even: VM to VM, odd: encap), the last third decap on pf0. With both ports always full, a worker
 * handles as many packets from each, so half its packets are tunnels.
 */
interface RxStream { role: RxRole; from: number; to: number; kind: (i: number) => FrameKind }

function rxStreams(path: PathKind, flows: number): RxStream[] {
  if (path !== 'mix') return [{ role: path === 'decap' ? 'pf0' : 'vf0', from: 0, to: flows, kind: () => path }];
  const split = Math.round((2 * flows) / 3);
  return [
    { role: 'vf0', from: 0, to: split, kind: (i) => (i % 2 === 0 ? 'vf' : 'encap') },
    { role: 'pf0', from: split, to: flows, kind: () => 'decap' },
  ];
}

/** Flow i's UDP ports: distinct for i < 50000 * 60000, never the reverse of another flow's. */
function flowPorts(i: number): [number, number] {
  return [1024 + (i % 50000), 5001 + Math.floor(i / 50000)];
}

/**
 * Encap flow i's remote VM with `remotes` hosts: 10.1.0.1 (via fc00:2::1) for one, else 10.1.k.1
 * for k = i mod remotes, behind host remoteHost(k) (each /24 a route of its own, see runOurs), so
 * that consecutive packets leave for different hosts.
 */
function remoteOf(i: number, remotes: number): number {
  return REMOTE + ((i % remotes) << 8);
}

/** The underlay address of remote host k: fc00:2::k+1. */
function remoteHost(k: number): Uint8Array {
  const nh = Uint8Array.from(NEXTHOP);
  nh[15] = k + 1;
  return nh;
}

function frameOf(path: FrameKind, i: number, proto: Proto, remotes: number): Uint8Array {
  const [sport, dport] = flowPorts(i);
  const flowFrame = proto === 'tcp' ? tcpFlowFrame : udpFlowFrame;
  if (path === 'vf') return flowFrame(VM0, VM1, sport, dport);
  if (path === 'encap') return flowFrame(VM0, remoteOf(i, remotes), sport, dport);
  return ipipFrame(NEXTHOP, UNDERLAY_VF0, flowFrame(REMOTE, VM0, sport, dport));
}

/**
 * pcap files of a variant, per receiving port one per queue: queue q replays flows
 * [from + q n / w, from + (q + 1) n / w) of the port's n = to - from.
 */
class PcapFiles {
  private readonly dir = mkdtempSync(join(tmpdir(), 'overlay-bench-'));
  private readonly made = new Map<string, string>();

  constructor(private readonly proto: Proto, private readonly remotes: number) {}

  files(path: PathKind, flows: number, queues: number): Partial<Record<RxRole, string[]>> {
    const out: Partial<Record<RxRole, string[]>> = {};
    for (const st of rxStreams(path, flows)) {
      const n = st.to - st.from;
      out[st.role] = Array.from({ length: queues }, (_, q) => {
        const name = `${path}-${st.role}-${this.proto}-${this.remotes}-${flows}-${q}of${queues}.pcap`;
        let file = this.made.get(name);
        if (!file) {
          const from = st.from + Math.floor((q * n) / queues);
          const to = st.from + Math.floor(((q + 1) * n) / queues);
          file = join(this.dir, name);
          writeFileSync(file, pcapFile(Array.from({ length: to - from }, (_, k) => frameOf(st.kind(from + k), from + k, this.proto, this.remotes))));
          this.made.set(name, file);
        }
        return file;
      });
    }
    return out;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function pcapVdev(name: string, files: string[]): string {
  return `--vdev=${name},${files.map((f) => `rx_pcap=${f}`).join(',')},infinite_rx=1`;
}

// ---- our dataplane (one variant per child process) ----

interface OursVariant { kind: 'ours'; path: PathKind; flows: number; mode: Mode; workers: number; files: Partial<Record<RxRole, string[]>> }

interface OursResult {
  /** Mpps over all workers, one per measured window. */
  windows: number[];
  /**
   * CPU time of this process over the measurement per worker and wall second: ~1 when every
   * worker had its CPU (the main thread sleeps); less when other processes took CPU time.
   */
  cpuShare: number;
  /** Share of the machine's CPU time the hypervisor gave to other guests over the measurement. */
  steal: number;
  /** Mpps of each worker over the whole measurement. */
  perWorker: number[];
  live: number;
  createdDuring: number;
  /** Flows aged or flushed during the whole run (none should be: the runs are shorter than the flow timeout). */
  removed: number;
  fastShare: number;
  crossWorker: number;
  tableFull: number;
  txFailed: number;
  rx: number;
  tx: number;
  drops: Record<string, number>;
}

/**
 * POOL: the pcap PMD holds every replayed frame in an mbuf of the port's pool, on top of what the
 * dataplane sizes its pool for (descriptors and caches: 16-28k mbufs here). Upstream's pool is
 * 900k mbufs; ours has no option for it, so the benchmark adds the flow count to the size the
 * dataplane asks for.
 */
function growPool(dpdk: Dpdk, extra: number): void {
  const create = dpdk.poolCreate;
  (dpdk as unknown as { poolCreate: Dpdk['poolCreate'] }).poolCreate = (nb, cache, room) => create(nb + extra, cache, room);
}

async function runOurs(a: Args, v: OursVariant): Promise<OursResult> {
  const rxFiles = (role: string): string[] | undefined => v.files[role as RxRole];
  const dev = (role: string): string => (rxFiles(role) ? `net_pcap_${role}` : `net_null_${role}`);
  const parsed = parseServiceArgs([`--pf0=${dev('pf0')}`, `--pf1=${dev('pf1')}`, '--vf-pattern=net_', `--ipv6=${HOST_IPV6}`, '--nic-type=tap',
    '--no-offload', '--no-stats', `--burst=${a.burst}`, '--no-idle-backoff',
    ...(a.flowTableSize === undefined ? [] : [`--flow-table-size=${a.flowTableSize}`]), ...(v.mode === 'fast' ? [] : ['--no-fast-path'])], { DP_CONF: '' });
  if (parsed.kind !== 'run') throw new Error(parsed.stderr);
  const log = createLogger({ format: 'text', color: 'never', level: 'warn' });
  const dp = new Dataplane(parsed.options, log);
  growPool(dp.dpdk, v.flows);
  const vdevs = ['pf0', 'pf1', 'vf0', 'vf1'].map((role) => {
    const files = rxFiles(role);
    return files ? pcapVdev(dev(role), files) : `--vdev=${dev(role)},no-rx=1`;
  });
  const eal = ['-l', Array.from({ length: v.workers + 1 }, (_, i) => i).join(','), '--no-huge', '-m', '512', '--no-pci',
    `--file-prefix=ovl${process.pid}`, '--log-level=lib.*:error', '--log-level=pmd.*:error', ...vdevs];
  await dp.start(eal, () => {
    const vf0 = dp.vfPort(dev('vf0'))!;
    const vf1 = dp.vfPort(dev('vf1'))!;
    for (const [port, ip, underlay] of [[vf0, VM0, UNDERLAY_VF0], [vf1, VM1, UNDERLAY_VF1]] as const) {
      dp.portTable.attach(port, { vni: VNI, ipv4: ip, ipv6: new Uint8Array(16), underlay, hostname: '', pxeServer: '', bootFile: '' });
      // what CreateInterface adds: the interface route (target = the port) and the VNF of its underlay address
      check(dp.routes.v4.insert(VNI, ip, 32, port, 0, new Uint8Array(16)), `interface route of port ${port}`);
      if (!dp.vnf.set(underlay, { type: VnfType.INTERFACE_IP, vni: VNI, port })) throw new Error(`VNF table refused port ${port}`);
    }
    // what CreateRoute adds for a prefix behind another host (one /16, or a /24 per remote host)
    if (a.remotes === 1) check(dp.routes.v4.insert(VNI, REMOTE_NET, 16, -1, VNI, NEXTHOP), 'route 10.1.0.0/16');
    for (let k = 0; a.remotes > 1 && k < a.remotes; k++) {
      check(dp.routes.v4.insert(VNI, REMOTE_NET + (k << 8), 24, -1, VNI, remoteHost(k)), `route 10.1.${k}.0/24`);
    }
  });
  const sum = (f: (w: (typeof dp.workers)[number]) => number): number => dp.workers.reduce((s, w) => s + f(w), 0);
  const txOf = (w: (typeof dp.workers)[number]): number => w.stats[WS_TX]!;
  // warm-up: at least --warmup seconds, and 300 ms more once every flow exists (the first pass
  // over the flows creates them), so the measurement sees a steady state
  const w0 = performance.now();
  let setupMs = -1;
  while (setupMs < 0 || performance.now() - w0 < Math.max(a.warmup * 1000, setupMs + 300)) {
    if (setupMs < 0 && dp.flows.live >= v.flows) setupMs = performance.now() - w0;
    if (performance.now() - w0 > 10000) break;
    await sleep(2);
  }
  const start = { t: process.hrtime.bigint(), tx: dp.workers.map(txOf), rx: sum((w) => w.stats[WS_RX]!),
    fast: sum((w) => w.flowStats[FS_FAST_PATH]!), created: sum((w) => w.flowStats[FS_CREATED]!) };
  const cpu0 = process.cpuUsage();
  const m0 = machineTimes();
  const windows: number[] = [];
  let t = start.t;
  let tx = sum(txOf);
  for (let s = windowsPerRun(a); s > 0; s--) {
    await sleep(WINDOW_MS);
    const t1 = process.hrtime.bigint();
    const tx1 = sum(txOf);
    windows.push((tx1 - tx) / (Number(t1 - t) / 1e3));
    t = t1;
    tx = tx1;
  }
  const us = Number(t - start.t) / 1e3;
  const cpu = process.cpuUsage(cpu0);
  const m1 = machineTimes();
  const perWorker = dp.workers.map((w, i) => (txOf(w) - start.tx[i]!) / us);
  const rxDuring = sum((w) => w.stats[WS_RX]!) - start.rx;
  const drops: Record<string, number> = {};
  for (const w of dp.workers) {
    const base = w.nodeNames.length * 2;
    DROP_REASON_NAMES.forEach((name, r) => {
      const n = w.counters[base + r]!;
      if (n > 0) drops[name] = (drops[name] ?? 0) + n;
    });
  }
  const r: OursResult = {
    windows, perWorker,
    cpuShare: (cpu.user + cpu.system) / us / v.workers,
    steal: (m1.steal - m0.steal) / Math.max(1, m1.total - m0.total),
    live: dp.flows.live,
    createdDuring: sum((w) => w.flowStats[FS_CREATED]!) - start.created,
    removed: sum((w) => w.flowStats[FS_AGED]! + w.flowStats[FS_FLUSHED]!),
    // (the counters are read a burst apart: clamp the share)
    fastShare: rxDuring > 0 ? Math.min(1, (sum((w) => w.flowStats[FS_FAST_PATH]!) - start.fast) / rxDuring) : 0,
    crossWorker: sum((w) => w.flowStats[FS_CROSS_WORKER]!),
    tableFull: sum((w) => w.flowStats[FS_TABLE_FULL]!),
    txFailed: sum((w) => w.stats[WS_TX_FAILED]!),
    rx: sum((w) => w.stats[WS_RX]!),
    tx: sum(txOf),
    drops,
  };
  await dp.stop();
  return r;
}

function check(rc: number, what: string): void {
  if (rc < 0) throw new Error(`${what}: route table refused it (${rc})`);
}

function runChild(v: OursVariant): Promise<OursResult> {
  const child = fork(fileURLToPath(import.meta.url), ['--child', JSON.stringify(v), ...process.argv.slice(2)],
    { stdio: ['ignore', 2, 'inherit', 'ipc'], serialization: 'advanced' });
  let result: OursResult | undefined;
  child.once('message', (m) => { result = m as OursResult; });
  return new Promise<OursResult>((res, rej) => {
    child.once('exit', (code) => {
      // EAL leaves its runtime directory (named by --file-prefix) behind
      removeEalRuntime(`ovl${child.pid}`);
      if (code === 0 && result) res(result);
      else rej(new Error(`bench child ${JSON.stringify({ ...v, files: undefined })} exited ${code}`));
    });
  });
}

// ---- dpdk-testpmd ----

interface TestpmdVariant { source: 'pcap' | 'null'; flows: number; workers: number; files: string[] }

interface TestpmdResult { rates: number[]; cpuShare: number }

/**
 * testpmd io forwarding, one rate (Mpps, all cores) per stats period (1 s, its shortest) after the
 * first: as many periods as our runs measure seconds, at least two.
 */
async function runTestpmd(a: Args, v: TestpmdVariant): Promise<TestpmdResult> {
  const cpus = 2;
  const w = v.workers;
  const lcores = Array.from({ length: w + 1 }, (_, i) => `${i}@${i % cpus}`).join(',');
  const vdevs = v.source === 'pcap'
    ? [pcapVdev('net_pcap0', v.files), '--vdev=net_null1,no-rx=1']
    : ['--vdev=net_null0,size=64', '--vdev=net_null1,size=64'];
  const args = [`--lcores=${lcores}`, '--no-huge', '-m', '1024', '--no-pci', `--file-prefix=ovltp${process.pid}`, ...vdevs, '--',
    '--forward-mode=io', '--auto-start', '--stats-period=1', `--nb-cores=${w}`, `--rxq=${w}`, `--txq=${w}`, `--burst=${a.burst}`,
    `--total-num-mbufs=${v.flows + 32768}`];
  // as many periods as our runs measure seconds, at least two; empty ones (printed around start
  // and stop) do not count
  const periods = Math.max(2, Math.ceil((windowsPerRun(a) * WINDOW_MS) / 1000));
  const { pairs, cpuShare } = await runTestpmdPeriods(args, periods, w);
  const sums = pairs.filter(([p0, p1]) => p0 + p1 > 0).map(([p0, p1]) => (p0 + p1) / 1e6);
  if (sums.length === 0) throw new Error('testpmd printed only empty stats periods');
  return { rates: sums, cpuShare };
}

/** The machine's CPU time so far (all CPUs, /proc/stat clock ticks): idle, stolen by the hypervisor, total. */
function machineTimes(): { idle: number; steal: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  // user nice system idle iowait irq softirq steal
  return { idle: f[3]! + f[4]!, steal: f[7]!, total: f.reduce((x, y) => x + y, 0) };
}

/**
 * Waits until the machine is idle (other processes use under 15% of its CPUs over 100 ms), at
 * most `maxMs`: a run that shares the CPUs measures the other processes as much as itself.
 */
async function quiet(maxMs: number): Promise<void> {
  const until = performance.now() + maxMs;
  let said = false;
  while (performance.now() < until) {
    const t0 = machineTimes();
    await sleep(QUIET_SAMPLE_MS);
    const t1 = machineTimes();
    if ((t1.idle - t0.idle) / Math.max(1, t1.total - t0.total) >= 0.85) return;
    if (!said) console.error('  waiting for other processes to leave the CPUs');
    said = true;
  }
}

// ---- the report ----

function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function fmt(x: number, digits: number, width: number): string {
  return (Number.isFinite(x) ? x.toFixed(digits) : '-').padStart(width);
}

interface Collected {
  windows: number[];
  runs: OursResult[];
  /** The run of each round (holes where a run failed). */
  byRound: (OursResult | undefined)[];
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const ci = argv.indexOf('--child');
  if (ci >= 0) {
    const v = JSON.parse(argv[ci + 1]!) as OursVariant;
    const a = parseArgs(argv.filter((_, i) => i !== ci && i !== ci + 1));
    const r = await runOurs(a, v);
    if (process.send) await new Promise<void>((res) => { process.send!(r, () => res()); });
    else console.log(JSON.stringify(r));
    return;
  }
  const a = parseArgs(argv);
  const pcaps = new PcapFiles(a.proto, a.remotes);
  try {
    await runAll(a, pcaps);
  } finally {
    pcaps.remove();
    removeEalRuntime(`ovltp${process.pid}`);
  }
}

async function runAll(a: Args, pcaps: PcapFiles): Promise<void> {
  const ours = new Map<string, Collected>();
  const tp = new Map<string, TestpmdCollected>();
  const failures: string[] = [];
  // one round = every variant once, the 1- and 2-worker runs of a variant next to each other (their
  // ratio is taken per round: the machine drifts by tens of percent over minutes); rounds
  // alternate direction so slow drifts hit every variant alike
  type Job = (round: number) => Promise<void>;
  const round: Job[] = [];
  if (a.testpmd) {
    for (const w of a.workers) {
      round.push(async (k) => {
        const r = await testpmdUncontended(a, `testpmd null w=${w}`, { source: 'null', flows: 0, workers: w, files: [] }, failures);
        if (r) push(tp, `null/${w}`, r, k);
      });
    }
  }
  for (const flows of a.flows) {
    if (a.testpmd) {
      for (const frames of FRAME_KINDS.filter((f) => a.paths.some((p) => frameKinds(p).includes(f)))) {
        for (const w of a.workers) {
          const files = frames === 'ipip' ? pcaps.files('decap', flows, w).pf0! : pcaps.files('vf', flows, w).vf0!;
          round.push(async (k) => {
            const r = await testpmdUncontended(a, `testpmd pcap ${frames} ${flows} w=${w}`, { source: 'pcap', flows, workers: w, files }, failures);
            if (r) push(tp, `pcap/${frames}/${flows}/${w}`, r, k);
          });
        }
      }
    }
    for (const path of a.paths) {
      for (const mode of a.modes) {
        for (const w of a.workers) {
          const files = pcaps.files(path, flows, w);
          const key = keyOf(path, flows, mode, w);
          round.push(async (k) => {
            const t0 = performance.now();
            let r = await attempt(key, () => runChild({ kind: 'ours', path, flows, mode, workers: w, files }), failures);
            // another process took CPU time from the workers: that run measured the machine, not us
            for (let n = 0; n < CONTENDED_RETRIES && r && r.cpuShare < MIN_CPU_SHARE; n++) {
              console.error(`  ${key}: workers had ${(100 * r.cpuShare).toFixed(0)}% of their CPUs; once more`);
              const again = await attempt(key, () => runChild({ kind: 'ours', path, flows, mode, workers: w, files }), failures);
              if (again && again.cpuShare > r.cpuShare) r = again;
            }
            if (!r) return;
            const c = ours.get(key) ?? { windows: [], runs: [], byRound: [] };
            c.windows.push(...r.windows);
            c.runs.push(r);
            c.byRound[k] = r;
            ours.set(key, c);
            console.error(`  ${path} flows=${flows} ${mode} workers=${w}: ${r.windows.map((x) => x.toFixed(2)).join(' ')} Mpps`
              + ` (workers ${r.perWorker.map((x) => x.toFixed(2)).join('/')}), live flows ${r.live}, cpu ${(100 * r.cpuShare).toFixed(0)}%,`
              + ` steal ${(100 * r.steal).toFixed(0)}%, run ${((performance.now() - t0) / 1000).toFixed(1)} s`);
          });
        }
      }
    }
  }
  const t0 = Date.now();
  for (let k = 0; k < a.repeat; k++) {
    console.error(`round ${k + 1} of ${a.repeat} (${round.length} runs)`);
    const order = k % 2 === 0 ? round : [...round].reverse();
    for (const job of order) {
      await quiet(QUIET_MAX_MS);
      await job(k);
    }
  }
  console.error(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  report(a, ours, tp, failures);
}

/**
 * The frames a path receives, which its testpmd baseline replays: IPv4 frames (64 bytes; vf and
 * encap) or IPv4-in-IPv6 tunnels (104 bytes; decap). The larger frame costs the pcap PMD's rx copy
 * more, for testpmd as for us.
 */
const FRAME_KINDS = ['ip', 'ipip'] as const;
function frameKinds(path: PathKind): (typeof FRAME_KINDS)[number][] {
  return path === 'mix' ? ['ip', 'ipip'] : path === 'decap' ? ['ipip'] : ['ip'];
}

function keyOf(path: string, flows: number, mode: string, w: number): string {
  return `${path}/${flows}/${mode}/${w}`;
}

/** Runs whose workers got less of their CPUs than this are repeated (up to CONTENDED_RETRIES times). */
const MIN_CPU_SHARE = 0.9;
const CONTENDED_RETRIES = 1;
/** Longest wait for an idle machine before a run, and the time it is sampled over. */
const QUIET_MAX_MS = 20000;
const QUIET_SAMPLE_MS = 100;

/** A testpmd run, repeated like ours when other processes took CPU time from it. */
async function testpmdUncontended(a: Args, what: string, v: TestpmdVariant, failures: string[]): Promise<TestpmdResult | undefined> {
  let r = await attempt(what, () => runTestpmd(a, v), failures);
  for (let k = 0; k < CONTENDED_RETRIES && r && r.cpuShare < MIN_CPU_SHARE; k++) {
    console.error(`  ${what}: testpmd had ${(100 * r.cpuShare).toFixed(0)}% of its CPUs; once more`);
    const again = await attempt(what, () => runTestpmd(a, v), failures);
    if (again && again.cpuShare > r.cpuShare) r = again;
  }
  if (r && r.cpuShare < MIN_CPU_SHARE) failures.push(`${what}: testpmd had ${(100 * r.cpuShare).toFixed(0)}% of its CPUs (contended)`);
  return r;
}

/** Runs `run`, once more if it fails; a second failure is recorded in `failures`. */
async function attempt<T>(what: string, run: () => Promise<T>, failures: string[]): Promise<T | undefined> {
  for (let k = 0; k < 2; k++) {
    try {
      return await run();
    } catch (e) {
      console.error(`  ${what} failed: ${(e as Error).message.split('\n')[0]}${k === 0 ? '; once more' : ''}`);
    }
  }
  failures.push(`${what}: failed twice`);
  return undefined;
}

/** testpmd rates of one variant: every period, and the median of each round's run. */
interface TestpmdCollected { rates: number[]; byRound: (number | undefined)[] }

function push(m: Map<string, TestpmdCollected>, key: string, r: TestpmdResult, round: number): void {
  const c = m.get(key) ?? { rates: [], byRound: [] };
  c.rates.push(...r.rates);
  c.byRound[round] = median(r.rates);
  m.set(key, c);
  console.error(`  testpmd ${key}: ${r.rates.map((x) => x.toFixed(2)).join(' ')} Mpps, cpu ${(100 * r.cpuShare).toFixed(0)}%`);
}

/** The ratio b / a of each round where both ran (runs of one round are at most minutes apart). */
function roundRatios(a: readonly (number | undefined)[], b: readonly (number | undefined)[]): number[] {
  const out: number[] = [];
  for (let k = 0; k < Math.max(a.length, b.length); k++) {
    const x = a[k];
    const y = b[k];
    if (x !== undefined && y !== undefined) out.push(y / x);
  }
  return out;
}

function report(a: Args, ours: Map<string, Collected>, tp: Map<string, TestpmdCollected>, failures: string[]): void {
  const tpRate = (key: string): number => median(tp.get(key)?.rates ?? []);
  const problems: string[] = [...failures];
  console.log(`\nmedian Mpps over ${a.repeat} runs x ${windowsPerRun(a)} windows of ${WINDOW_MS} ms; burst ${a.burst}; ${a.proto.toUpperCase()} flows; per worker = total / workers`);
  console.log('testpmd io per core: pcap = same rx vdev as ours (the path\'s frames: ip 64 bytes for vf and encap, ipip 104 bytes for decap,'
    + ' the mean time of the two for mix;'
    + ' same flows and queue split) -> null; null = net_null <-> net_null');
  for (const w of a.workers) {
    const n = tpRate(`null/${w}`) / w;
    const parts = a.flows.flatMap((f) => FRAME_KINDS.filter((k) => tp.has(`pcap/${k}/${f}/${w}`)).map((k) => {
      const p = tpRate(`pcap/${k}/${f}/${w}`) / w;
      return `pcap ${k} ${f} flows ${fmt(p, 2, 6)} Mpps (${fmt(1e3 / p, 1, 5)} ns)`;
    }));
    console.log(`  workers=${w}: ${parts.join(', ')}, null ${fmt(n, 2, 6)} Mpps (${fmt(1e3 / n, 1, 5)} ns)`);
  }
  console.log('');
  console.log('path   flows   mode  w   total  per worker  ns/pkt/worker  added ns  % testpmd pcap  % testpmd null  live flows  fast %  cpu %  worker split');
  for (const path of a.paths) {
    for (const flows of a.flows) {
      for (const mode of a.modes) {
        for (const w of a.workers) {
          const c = ours.get(keyOf(path, flows, mode, w));
          if (!c) continue;
          const total = median(c.windows);
          const per = total / w;
          // mix: half its packets are tunnels, so testpmd's time per packet is the mean of the two kinds'
          const kinds = frameKinds(path);
          const tpPcap = kinds.length / kinds.reduce((ns, k) => ns + w / tpRate(`pcap/${k}/${flows}/${w}`), 0);
          const tpNull = tpRate(`null/${w}`) / w;
          const lives = [...new Set(c.runs.map((r) => r.live))];
          const fast = median(c.runs.map((r) => r.fastShare));
          const cpu = median(c.runs.map((r) => r.cpuShare));
          const split = w > 1 ? Array.from({ length: w }, (_, i) => median(c.runs.map((r) => r.perWorker[i]!)).toFixed(2)).join('/') : '';
          console.log(`${path.padEnd(6)} ${String(flows).padStart(6)}  ${mode.padEnd(5)} ${w}  ${fmt(total, 2, 6)}  ${fmt(per, 2, 10)}`
            + `  ${fmt(1e3 / per, 1, 13)}  ${fmt(1e3 / per - 1e3 / tpPcap, 1, 8)}  ${fmt((100 * per) / tpPcap, 1, 12)}%`
            + `  ${fmt((100 * per) / tpNull, 0, 13)}%  ${lives.join('/').padStart(10)}  ${fmt(100 * fast, 1, 6)}  ${fmt(100 * cpu, 0, 5)}  ${split}`);
          for (const r of c.runs) {
            if (r.live !== flows) problems.push(`${path} ${flows} ${mode} w=${w}: flows.live ${r.live}, expected ${flows}`);
            if (r.cpuShare < MIN_CPU_SHARE) problems.push(`${path} ${flows} ${mode} w=${w}: workers had ${(100 * r.cpuShare).toFixed(0)}% of their CPUs (contended)`);
            if (r.removed !== 0) problems.push(`${path} ${flows} ${mode} w=${w}: ${r.removed} flows aged or flushed`);
            if (r.createdDuring !== 0) problems.push(`${path} ${flows} ${mode} w=${w}: ${r.createdDuring} flows created while measuring`);
            if (mode === 'fast' && r.fastShare < 0.999) problems.push(`${path} ${flows} fast w=${w}: only ${(100 * r.fastShare).toFixed(1)}% took the fast path`);
            if (mode === 'first' && r.fastShare > 0) problems.push(`${path} ${flows} first w=${w}: fast path counter moved (${r.fastShare})`);
            if (r.tableFull > 0) problems.push(`${path} ${flows} ${mode} w=${w}: ${r.tableFull} flows refused (table full)`);
            if (r.crossWorker > 0) problems.push(`${path} ${flows} ${mode} w=${w}: ${r.crossWorker} packets of another worker's flows`);
            if (r.txFailed > 0) problems.push(`${path} ${flows} ${mode} w=${w}: ${r.txFailed} tx failures`);
            const d = Object.entries(r.drops);
            if (d.length > 0) problems.push(`${path} ${flows} ${mode} w=${w}: drops ${d.map(([k, n]) => `${k}=${n}`).join(' ')} (rx ${r.rx}, tx ${r.tx})`);
            if (w > 1 && Math.min(...r.perWorker) < 0.5 * Math.max(...r.perWorker)) {
              problems.push(`${path} ${flows} ${mode} w=${w}: unbalanced workers ${r.perWorker.map((x) => x.toFixed(2)).join('/')} Mpps`);
            }
          }
        }
      }
    }
  }
  if (a.workers.includes(1) && a.workers.includes(2)) {
    console.log('\nscaling, total Mpps with 2 workers / 1 worker, median over rounds of the ratio of adjacent runs (each round):');
    for (const path of a.paths) {
      const parts: string[] = [];
      for (const flows of a.flows) {
        for (const mode of a.modes) {
          const one = ours.get(keyOf(path, flows, mode, 1));
          const two = ours.get(keyOf(path, flows, mode, 2));
          if (!one || !two) continue;
          const ratios = roundRatios(one.byRound.map((r) => r && median(r.windows)), two.byRound.map((r) => r && median(r.windows)));
          parts.push(`${flows} ${mode} ${median(ratios).toFixed(2)}x (${ratios.map((x) => x.toFixed(2)).join(' ')})`);
        }
      }
      console.log(`  ${path.padEnd(6)} ${parts.join(', ')}`);
    }
    if (a.testpmd) {
      const tpScale = (key: string): string => {
        const ratios = roundRatios(tp.get(`${key}/1`)?.byRound ?? [], tp.get(`${key}/2`)?.byRound ?? []);
        return `${median(ratios).toFixed(2)}x (${ratios.map((x) => x.toFixed(2)).join(' ')})`;
      };
      const pcapScales = a.flows.flatMap((f) => FRAME_KINDS.filter((k) => tp.has(`pcap/${k}/${f}/1`)).map((k) => `pcap ${k} ${f} ${tpScale(`pcap/${k}/${f}`)}`));
      console.log(`  testpmd null ${tpScale('null')}, ${pcapScales.join(', ')}`);
    }
  }
  console.log(problems.length === 0 ? '\nchecks: every run had exactly its flows, no drops, fast path counter as expected'
    : `\nchecks FAILED:\n  ${problems.join('\n  ')}`);
}

main().then(() => process.exit(0), (e: Error) => { console.error(e.stack); process.exit(1); });
