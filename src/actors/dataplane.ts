/**
 * The dataplane actor: owns DPDK in the supervisor process. It initialises EAL, creates the one
 * mbuf pool, finds and starts the ports (one rx/tx queue per worker), declares them in the shared
 * port table and runs one worker thread per worker lcore. It is the single writer of the shared
 * tables and implements DataplaneApi for the control actor.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { parseVirtsvc, type ServiceOptions } from '../config/options.js';
import { type Dpdk, loadShim, shimPath } from '../ffi/dpdk.js';
import { counterWords } from '../workers/graph.js';
import { graphNodeNames } from '../workers/build-graph.js';
import { createChannelBuffers, CTL_READY, SupervisorChannel } from '../workers/channel.js';
import type { NodeSettings } from '../workers/node-context.js';
import { type WorkerData, WS_WORDS } from '../workers/worker-data.js';
import { type InterfaceConfig, MAX_PORTS, PortState, PortTable } from '../tables/port-table.js';
import type { DataplaneApi, TableLimits } from './dataplane-api.js';
import { parseIpv4, parseIpv6 } from './underlay.js';
import { Lpm4Table } from '../tables/lpm.js';
import { Lpm6Table } from '../tables/lpm6.js';
import { rewriteEalArgs } from './eal-args.js';
import { RouteSync } from './route-sync.js';
import { TableSync } from './table-sync.js';
import { FlowTable } from '../tables/flow-table.js';
import { LbTable } from '../tables/lb-table.js';
import { NatTable } from '../tables/nat-table.js';
import { Qsbr } from '../tables/qsbr.js';
import { VnfTable } from '../tables/vnf-table.js';
import { type VirtsvcDef, VirtsvcTable } from '../tables/virtsvc-table.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../packet/headers.js';
import { FS_WORDS, type ForwardingSettings } from '../workers/node-context.js';
import type { RegistryChange } from './registry-changes.js';
import { loggerFor } from './logging.js';

export interface PortInfo {
  port: number;
  /** DPDK device name (net_tap2). */
  name: string;
  /** Kernel interface name, '' for devices without one. */
  ifname: string;
  role: 'pf0' | 'pf1' | 'vf';
  mac: Uint8Array;
}

export interface WorkerHandle {
  queue: number;
  lcore: number;
  cpu: number;
  thread: Worker;
  channel: SupervisorChannel;
  counters: Float64Array;
  stats: Float64Array;
  nodeNames: string[];
  /** FS_* flow counters of the worker. */
  flowStats: Float64Array;
  exited: Promise<void>;
}

/** Most worker threads (grace-period reader slots). */
const MAX_WORKERS = 64;

const RX_DESCS = 1024;
const TX_DESCS = 1024;
const MBUF_DATA_ROOM = 2048;
const MBUF_CACHE = 256;

/** Thrown when the dataplane cannot start; the message names what failed. */
export class StartupError extends Error {}

export class Dataplane implements DataplaneApi {
  readonly dpdk: Dpdk;
  readonly ports: PortInfo[] = [];
  readonly portTable = PortTable.create();
  readonly workers: WorkerHandle[] = [];
  readonly hostIpv6: Uint8Array;
  /** The per-VNI route tables the packet path reads, kept equal to the registry's routes. */
  readonly routes: RouteSync;
  /** Underlay address -> VNF, read by ipip_decap. */
  readonly vnf = VnfTable.create(65536);
  /** Connection tracking shared by every worker. */
  readonly flows: FlowTable;
  /** Neighbour NAT ranges and NAT ports in use per interface. */
  readonly nat = NatTable.create();
  /** Load balancers and their Maglev tables. */
  readonly lb = LbTable.create();
  /** Virtual services (fixed by the command line) and their ports in use. */
  readonly virtsvc: VirtsvcTable;
  /** Grace periods of the shared tables (workers are its readers). */
  readonly qsbr = Qsbr.create(MAX_WORKERS);
  /** Applies registry changes to every table the workers read. */
  readonly tables: TableSync;
  readonly tableLimits: TableLimits;
  /** Wall-clock origin of flow timestamps. */
  private readonly epochMs = Date.now();
  private readonly log: Logger;
  private readonly opts: ServiceOptions;
  private stopped = false;
  /**
   * Called once if a worker dies while the service runs: the dataplane can no longer forward that
   * queue's traffic, so the supervisor shuts down and exits non-zero (PM2 restarts it).
   */
  onFatal: (reason: string) => void = () => undefined;
  /**
   * Whether worker 0 sends the periodic GARPs, NAs, RAs and router probes (set before start).
   * Benchmarks that receive from net_null turn them off: net_null hands out pool mbufs without
   * writing them, so the mbufs those packets were built in come back as received frames, again
   * and again, and the benchmark measures their drops instead of its traffic.
   */
  periodicPackets = true;

  constructor(opts: ServiceOptions, log: Logger) {
    this.opts = opts;
    this.log = loggerFor(log, 'service');
    this.dpdk = loadShim();
    // the option parser validated --ipv6; an empty one (no underlay) yields zeros
    this.hostIpv6 = parseIpv6(opts.ipv6) ?? new Uint8Array(16);
    this.routes = new RouteSync(Lpm4Table.create({}, this.qsbr), Lpm6Table.create({}, this.qsbr), this.log);
    this.flows = FlowTable.create(opts.flowTableSize);
    this.virtsvc = VirtsvcTable.create(virtsvcDefs(opts), this.hostIpv6);
    const { v4, v6 } = this.routes;
    this.tableLimits = {
      vnfs: this.vnf.maxEntries,
      routes: Math.min(v4.capacity, v6.capacity),
      routesPerVni: Math.min(v4.vniCapacity, v6.vniCapacity),
    };
    this.adviseHugePages();
    this.tables = new TableSync(this.routes, this.vnf, this.portTable, this.flows, this.nat, this.lb, {
      broadcast: async (op, a, b) => { await Promise.all(this.workers.map((w) => w.channel.send(op, a, b))); },
    }, this.log);
  }

  /**
   * Transparent huge pages for the shared tables, before anything touches their pages: a lookup in
   * a large flow or route table otherwise costs a TLB miss (a page walk) besides its cache misses.
   * Without THP the tables work the same on 4 KiB pages. Measured (bench/routes.js --sizes 1000000 [--huge]): 1M IPv4 routes
   * 250-260 -> 232-248 ns per lookup, IPv6 312-319 -> 263-280 ns, inserts 1.4-1.8 -> 2.0-3.1 M/s;
   * at 100,000 flows bench/overlay.js showed no difference beyond its noise (~400 ns either way).
   */
  private adviseHugePages(): void {
    const tables: [string, SharedArrayBuffer][] = [
      ['flows', this.flows.sab], ['routes4', this.routes.v4.sab], ['routes6', this.routes.v6.sab], ['vnf', this.vnf.sab],
    ];
    for (const [name, sab] of tables) {
      const r = this.dpdk.adviseHuge(sab);
      if (r < 0) this.log.warn({ table: name, error: this.dpdk.strerror(r) }, 'no transparent huge pages for a shared table');
      else this.log.debug({ table: name, bytes: r }, 'transparent huge pages advised');
    }
  }

  /** Registry changes: the tables follow them before the RPC answers (see TableSync). */
  applyChanges(changes: readonly RegistryChange[]): Promise<void> {
    return this.tables.apply(changes);
  }

  /**
   * EAL init, pool, ports, workers. Throws StartupError with a message naming the cause.
   * `onPortsReady` runs after the ports started and before any worker polls (benchmarks prime
   * loopback rings there; the main thread may use queue 0 only then).
   */
  async start(ealArgs: string[], onPortsReady?: () => void): Promise<void> {
    const dpdk = this.dpdk;
    const rewritten = rewriteEalArgs(ealArgs);
    if (rewritten.note) this.log.warn(rewritten.note);
    const argv = ['dpservice-bin', ...rewritten.args];
    const rc = dpdk.ealInit(argv.length, argv);
    if (rc < 0) throw new StartupError(`EAL init failed: ${dpdk.strerror(rc)}`);

    const main = dpdk.mainLcore();
    const workerLcores = dpdk.lcores().filter((l) => l !== main);
    if (workerLcores.length === 0) throw new StartupError('no worker lcore: give -l at least two lcores (the first runs the supervisor)');

    this.discoverPorts();
    const nq = workerLcores.length;
    const nbMbufs = Math.max(16383, this.ports.length * nq * (RX_DESCS + TX_DESCS) + nq * 4096 + 4096);
    const prc = dpdk.poolCreate(nbMbufs, MBUF_CACHE, MBUF_DATA_ROOM);
    if (prc < 0) throw new StartupError(`cannot create mbuf pool of ${nbMbufs} mbufs: ${dpdk.strerror(prc)} (with hugepages the pool comes from EAL's memory: give more with -m; without them it is a mapping of its own)`);

    for (const p of this.ports) {
      const src = dpdk.portSetup(p.port, nq, RX_DESCS, TX_DESCS);
      if (src < 0) throw new StartupError(`cannot start port ${p.name} with ${nq} queues: ${dpdk.strerror(src)}`);
      this.portTable.initPort(p.port, p.role === 'vf' ? PortState.VF_IDLE : PortState.PF, p.mac, p.role === 'vf' ? undefined : this.hostIpv6);
      this.log.info({ port: p.port, device: p.name, ifname: p.ifname, role: p.role, mac: macText(p.mac) }, 'port started');
    }

    onPortsReady?.();
    const settings = nodeSettings(this.opts);
    const portIds = this.ports.map((p) => p.port);
    const fwd = this.forwardingSettings();
    for (const [queue, lcore] of workerLcores.entries()) {
      await this.startWorker(queue, lcore, portIds, settings, fwd);
    }
    this.log.info({ workers: this.workers.map((w) => ({ lcore: w.lcore, cpu: w.cpu })) }, 'dataplane running');
  }

  private discoverPorts(): void {
    const dpdk = this.dpdk;
    const o = this.opts;
    const pf0 = dpdk.portByName(o.pf0);
    if (pf0 < 0) throw new StartupError(`--pf0: no DPDK port named ${o.pf0} (kernel interface or device name)`);
    const pf1 = o.pf1 ? dpdk.portByName(o.pf1) : -1;
    if (o.pf1 && pf1 < 0) throw new StartupError(`--pf1: no DPDK port named ${o.pf1}`);
    const count = dpdk.portCount();
    for (let port = 0; port < MAX_PORTS && this.ports.length < count; port++) {
      const name = dpdk.portName(port);
      if (!name) continue;
      const ifname = dpdk.portIfname(port);
      let role: PortInfo['role'] | undefined;
      if (port === pf0) role = 'pf0';
      else if (port === pf1) role = 'pf1';
      else if (o.vfPattern && (ifname.startsWith(o.vfPattern) || name.startsWith(o.vfPattern))) role = 'vf';
      if (!role) {
        this.log.warn({ port, device: name, ifname }, 'port is neither a PF nor matches --vf-pattern; not used');
        continue;
      }
      this.ports.push({ port, name, ifname, role, mac: dpdk.portMac(port) });
    }
  }

  /** Uplinks, WCMP, underlay prefix, flow timeout and fast path for the workers. */
  forwardingSettings(): ForwardingSettings {
    const pf0 = this.ports.find((p) => p.role === 'pf0');
    const pf1 = this.ports.find((p) => p.role === 'pf1');
    return {
      pf0: pf0?.port ?? -1,
      pf1: pf1?.port ?? -1,
      wcmp: this.opts.wcmp,
      underlayPrefix: this.hostIpv6.slice(0, 8),
      flowTimeout: this.opts.flowTimeout,
      fastPath: !this.opts.noFastPath,
    };
  }

  private async startWorker(queue: number, lcore: number, ports: number[], settings: NodeSettings, fwd: ForwardingSettings): Promise<void> {
    if (queue >= MAX_WORKERS) throw new StartupError(`at most ${MAX_WORKERS} workers`);
    const channel = createChannelBuffers();
    const nodeNames = graphNodeNames(ports, queue);
    const counters = new SharedArrayBuffer(counterWords(nodeNames.length) * 8);
    const stats = new SharedArrayBuffer(WS_WORDS * 8);
    const flowStats = new SharedArrayBuffer(FS_WORDS * 8);
    const cpu = this.dpdk.lcoreCpu(lcore);
    const data: WorkerData = {
      shimPath: shimPath(),
      queue, lcore, cpu, ports,
      burst: this.opts.burst,
      idleBackoff: !this.opts.noIdleBackoff,
      periodic: queue === 0 && this.periodicPackets,
      portTable: this.portTable.sab,
      counters, stats, channel, settings,
      forwarding: { routes4: this.routes.v4.sab, routes6: this.routes.v6.sab, vnf: this.vnf.sab, flows: this.flows.sab, nat: this.nat.sab, lb: this.lb.sab,
        virtsvc: this.virtsvc.sab },
      forwardingSettings: fwd,
      qsbr: this.qsbr.sab,
      flowStats,
      epochMs: this.epochMs,
    };
    const thread = new Worker(new URL('../workers/worker.js', import.meta.url), { workerData: data });
    const sup = new SupervisorChannel(channel, (fd) => { this.dpdk.idleWake(fd); });
    const exited = new Promise<void>((resolve) => {
      thread.on('message', (m: { kind: string; message?: string; packets?: number; ms?: number }) => {
        if (m.kind === 'warmed') this.log.info({ queue, lcore, packets: m.packets, ms: m.ms }, 'worker warmed up its graph');
        if (m.kind === 'warmup-failed') this.log.warn({ queue, lcore, err: m.message }, 'worker warm-up failed; polling without it');
        if (m.kind !== 'failed') return;
        this.log.error({ queue, lcore, err: m.message }, 'worker failed');
        if (!this.stopped) this.onFatal(`worker on lcore ${lcore} failed: ${m.message}`);
      });
      thread.on('error', (err) => {
        this.log.error({ queue, lcore, err: err.message }, 'worker crashed');
        if (!this.stopped) this.onFatal(`worker on lcore ${lcore} crashed: ${err.message}`);
      });
      thread.on('exit', () => resolve());
    });
    const handle: WorkerHandle = {
      queue, lcore, cpu, thread, channel: sup,
      counters: new Float64Array(counters), stats: new Float64Array(stats), nodeNames, exited,
      flowStats: new Float64Array(flowStats),
    };
    this.workers.push(handle);
    // wait until it polls (or fails): a worker that cannot register must stop the start-up
    const deadline = Date.now() + 10000;
    while (Atomics.load(sup.ctl, CTL_READY) === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    if (Atomics.load(sup.ctl, CTL_READY) !== 1) throw new StartupError(`worker on lcore ${lcore} failed to start`);
  }

  // ---- DataplaneApi ----
  vfPort(deviceName: string): number | undefined {
    const p = this.ports.find((x) => x.role === 'vf' && (x.name === deviceName || x.ifname === deviceName));
    return p?.port;
  }

  async attachInterface(port: number, cfg: InterfaceConfig): Promise<void> {
    this.tables.attachInterface(port, cfg);
  }

  /** Stops the port, has every worker flush the interface's flows, then clears it (TableSync). */
  async detachInterface(port: number): Promise<void> {
    await this.tables.detachInterface(port);
  }

  markInitialized(): void {
    this.portTable.markInitialized();
  }

  portByNumber(port: number): PortInfo | undefined {
    return this.ports.find((p) => p.port === port);
  }

  /** Stops the workers, then the ports (TAP devices disappear), then EAL. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const w of this.workers) w.channel.stop();
    await Promise.race([
      Promise.all(this.workers.map((w) => w.exited)),
      new Promise((r) => setTimeout(r, 3000)),
    ]);
    for (const w of this.workers) await w.thread.terminate();
    for (const p of this.ports) {
      this.dpdk.portStop(p.port);
      this.dpdk.portClose(p.port);
    }
    this.dpdk.ealCleanup();
    this.log.info('dataplane stopped');
  }
}

/** The settings nodes read, from validated options (DNS servers as packed address bytes). */
export function nodeSettings(o: ServiceOptions): NodeSettings {
  const dns = new Uint8Array(o.dhcpDns.length * 4);
  const dv = new DataView(dns.buffer);
  o.dhcpDns.forEach((a, i) => dv.setUint32(i * 4, parseIpv4(a) ?? 0));
  const dns6 = new Uint8Array(o.dhcpv6Dns.length * 16);
  o.dhcpv6Dns.forEach((a, i) => dns6.set(parseIpv6(a) ?? new Uint8Array(16), i * 16));
  return { dhcpMtu: o.dhcpMtu, dhcpDns: dns, dhcpv6Dns: dns6, ipv6Overlay: o.enableIpv6Overlay };
}

export function macText(mac: Uint8Array): string {
  return Array.from(mac, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * The services of the command line in a fixed order: the UDP ones, then the TCP ones, each in the
 * order given (upstream numbers them in the order given, both kinds together; the number only
 * shows in the underlay address, which stays in the host's prefix either way).
 */
export function virtsvcDefs(opts: Pick<ServiceOptions, 'udpVirtsvc' | 'tcpVirtsvc'>): VirtsvcDef[] {
  const defs: VirtsvcDef[] = [];
  for (const [proto, specs] of [[IPPROTO_UDP, opts.udpVirtsvc], [IPPROTO_TCP, opts.tcpVirtsvc]] as const) {
    for (const spec of specs) {
      const s = parseVirtsvc(spec);
      defs.push({
        proto, virtualIp: parseIpv4(s.virtualIp)!, virtualPort: s.virtualPort, serviceIp: parseIpv6(s.serviceIp)!, servicePort: s.servicePort,
      });
    }
  }
  return defs;
}
