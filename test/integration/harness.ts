/**
 * Integration harness: starts the real service (bin/dpservice-bin, real DPDK on TAP ports) and
 * real clients in network namespaces. Everything it creates is named with a per-run prefix and
 * removed in teardown, also when a test fails; every wait is bounded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { portOpen, ROOT, waitFor } from '../../src/cli/host-tools.js';
import { DPDK_RUNTIME_DIR } from '../../src/ffi/dpdk.js';
import { dpClient } from '../../src/cli/grpc-client.js';

export {
  moveToNs, nsCreate, nsDelete, nsExec, parseLease, removeLinks, ROOT, run, sleep, tryRun, waitFor,
} from '../../src/cli/host-tools.js';
export { dpClient };
export { portOpen } from '../../src/cli/host-tools.js';

export interface TapSpec {
  /** DPDK vdev name, e.g. net_tap0 */
  vdev: string;
  iface: string;
  mac: string;
}

/** The TAP ports of a two-VM test host, named with a per-suite prefix (names stay < 16 chars). */
export function tapTopology(prefix: string): { PF0: TapSpec; PF1: TapSpec; VF0: TapSpec; VF1: TapSpec } {
  return {
    PF0: { vdev: 'net_tap0', iface: `${prefix}pf0`, mac: '22:22:22:22:22:00' },
    PF1: { vdev: 'net_tap1', iface: `${prefix}pf1`, mac: '22:22:22:22:22:01' },
    VF0: { vdev: 'net_tap2', iface: `${prefix}vf0`, mac: '66:66:66:66:66:00' },
    VF1: { vdev: 'net_tap3', iface: `${prefix}vf1`, mac: '66:66:66:66:66:01' },
  };
}

export interface ServiceSpec {
  /** lcore list, e.g. "0,1" */
  lcores: string;
  pf0: TapSpec;
  pf1: TapSpec;
  vfs: TapSpec[];
  vfPattern: string;
  grpcPort: number;
  filePrefix: string;
  /** The host's underlay address (`--ipv6`); fc00:1::1 unless given. */
  ipv6?: string;
  /** Serve Prometheus metrics on this port (`--metrics-port`); off unless given. */
  metricsPort?: number;
  extra?: string[];
}

export class Service {
  readonly output: string[] = [];
  private exitCode: number | null | undefined;
  private readonly exited: Promise<number | null>;
  constructor(readonly proc: ChildProcess, readonly spec: ServiceSpec) {
    proc.stdout?.on('data', (d: Buffer) => this.output.push(d.toString()));
    proc.stderr?.on('data', (d: Buffer) => this.output.push(d.toString()));
    this.exited = new Promise((res) => proc.once('exit', (code) => {
      this.exitCode = code;
      // a clean exit removes EAL's runtime directory itself; one that did not exit cleanly leaves it
      if (code !== 0) rmSync(this.runtimeDir, { recursive: true, force: true });
      res(code);
    }));
  }
  /** EAL's runtime directory of this instance (named by --file-prefix). */
  get runtimeDir(): string {
    return join(DPDK_RUNTIME_DIR, this.spec.filePrefix);
  }
  get runtimeDirExists(): boolean {
    return existsSync(this.runtimeDir);
  }
  get running(): boolean {
    return this.exitCode === undefined;
  }
  log(): string {
    return this.output.join('');
  }
  /** SIGTERM, then SIGKILL after 10 s; resolves the exit code. */
  async stop(): Promise<number | null> {
    if (!this.running) return this.exitCode ?? null;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}

export function serviceArgs(s: ServiceSpec): string[] {
  const vdev = (t: TapSpec): string => `--vdev=${t.vdev},iface=${t.iface},mac=${t.mac}`;
  return [
    '-l', s.lcores, '--no-huge', '-m', '1024', '--no-pci', `--file-prefix=${s.filePrefix}`, '--log-level=user*:8',
    vdev(s.pf0), vdev(s.pf1), ...s.vfs.map(vdev),
    '--',
    `--pf0=${s.pf0.iface}`, `--pf1=${s.pf1.iface}`, `--vf-pattern=${s.vfPattern}`,
    `--ipv6=${s.ipv6 ?? 'fc00:1::1'}`, '--enable-ipv6-overlay', '--nic-type=tap', '--no-offload', '--no-stats',
    '--dhcp-mtu=1337', '--dhcp-dns=8.8.4.4', '--dhcp-dns=8.8.8.8',
    '--dhcpv6-dns=2001:4860:4860::6464', '--dhcpv6-dns=2002:4861:4861::6464',
    `--grpc-port=${s.grpcPort}`, ...(s.metricsPort === undefined ? [] : [`--metrics-port=${s.metricsPort}`]), ...(s.extra ?? []),
  ];
}

/** Starts bin/dpservice-bin with an empty environment (as upstream's harness does). */
export async function startService(spec: ServiceSpec): Promise<Service> {
  const proc = spawn(resolve(ROOT, 'bin/dpservice-bin'), serviceArgs(spec), { env: { DP_CONF: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const svc = new Service(proc, spec);
  try {
    await waitFor('the gRPC port', async () => !svc.running ? Promise.reject(new Error(`service exited:\n${svc.log()}`)) : portOpen(spec.grpcPort), 20000);
  } catch (e) {
    await svc.stop();
    throw e;
  }
  return svc;
}


/** CPU time (user + system, all threads) of a process so far, in seconds (100 ticks a second on Linux). */
export function cpuSeconds(pid: number): number {
  // the fields after the command name (which may hold spaces) start at state: utime and stime are the 12th and 13th
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/**
 * A caller of the service's gRPC API on `port`: one client per call, and an error status is
 * thrown with the method and request.
 */
export function grpcCaller(port: number): (method: string, req?: object) => Promise<Record<string, unknown>> {
  return async (method, req = {}) => {
    const c = dpClient(`127.0.0.1:${port}`);
    try {
      const r = await c.call(method, req);
      if (r.status.code !== 0) throw new Error(`${method} ${JSON.stringify(req)}: ${r.status.code} ${r.status.message}`);
      return r as Record<string, unknown>;
    } finally {
      c.close();
    }
  };
}

/** dps_worker_stat of a service's /metrics on `port`: lcore -> stat -> value (bounded by a 5 s timeout). */
export async function workerStats(port: number): Promise<Map<string, Map<string, number>>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const out = new Map<string, Map<string, number>>();
  for (const m of text.matchAll(/^dps_worker_stat\{lcore="(\d+)",stat="(\w+)"\} (\d+(?:\.\d+)?(?:e\+\d+)?)$/gm)) {
    const l = out.get(m[1]!) ?? new Map<string, number>();
    l.set(m[2]!, Number(m[3]));
    out.set(m[1]!, l);
  }
  return out;
}

/**
 * A shell script that sends one UDP datagram `payload` to dst:dport from each source port of
 * `ports` (a shell word list, e.g. '$(seq 41000 41031)'), one nc each. nc reads the datagram from a
 * file: OpenBSD nc with -w0 exits at once when its stdin has nothing to read yet, and fed by a pipe
 * (`echo x | nc`) it lost about one datagram in five here on loopback, 397 of 500 sent.
 */
export function udpSendScript(ports: string, dst: string, dport: number, payload = 'x'): string {
  return `f=$(mktemp) && echo ${payload} > "$f" && for p in ${ports}; do nc -u -w0 -p "$p" ${dst} ${dport} < "$f"; done; rm -f "$f"`;
}
