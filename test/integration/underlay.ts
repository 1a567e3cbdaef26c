/**
 * Test helpers over the real IPv6 underlay of src/cli/underlay-net.ts (re-exported here, so the
 * multi-host tests import one module): VMs with static addressing, SNMP counters in a namespace,
 * long-running processes and captures in namespaces. Control path only (allocates freely).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { attachToUnderlay, createUnderlay, destroyUnderlay, quietRootPort, type Underlay } from '../../src/cli/underlay-net.js';
import {
  grpcCaller, nsCreate, nsDelete, nsExec, removeLinks, run, type Service, startService, type TapSpec, tryRun, waitFor,
} from './harness.js';

export {
  attachToUnderlay, canonicalIpv6, createUnderlay, destroyUnderlay, Internet, INTERNET_UL, linkLocalOf, pingFromRouter, quietRootPort,
  ROUTER_MAC, routerForwarded, type Underlay, underlayNames,
} from '../../src/cli/underlay-net.js';

export interface VmSpec {
  /** namespace name */
  ns: string;
  /** the VF TAP (root namespace) that becomes the VM's interface */
  iface: string;
  /** the MAC the VM's interface must have (the vdev's mac=) */
  mac: string;
  ipv4: string;
  ipv6: string;
  /** below the underlay MTU minus the 40-byte outer IPv6 header */
  mtu: number;
}

/**
 * Puts a VF TAP into a new namespace with static addresses: <ipv4>/32 with the gateway
 * 169.254.0.1 on-link, <ipv6>/128 with the default route via fe80::1. DAD is off so every address
 * is usable at once. The service answers ARP for 169.254.0.1 and NS for fe80::1 and learns the VM
 * MAC from them.
 */
export async function vmNamespace(vm: VmSpec): Promise<void> {
  await nsCreate(vm.ns);
  await waitFor(`interface ${vm.iface}`, async () => (await tryRun('ip', ['link', 'show', vm.iface])).code === 0, 10000);
  await run('ip', ['link', 'set', vm.iface, 'netns', vm.ns]);
  const ns = (args: string[]): Promise<string> => run('ip', ['-n', vm.ns, ...args]);
  for (const key of ['accept_dad', 'accept_ra', 'autoconf']) {
    await run('ip', ['netns', 'exec', vm.ns, 'sysctl', '-qw', `net.ipv6.conf.${vm.iface}.${key}=0`]);
  }
  const link = await ns(['link', 'show', vm.iface]);
  if (!link.toLowerCase().includes(`link/ether ${vm.mac.toLowerCase()}`)) await ns(['link', 'set', vm.iface, 'address', vm.mac]);
  await ns(['link', 'set', vm.iface, 'mtu', String(vm.mtu), 'up']);
  await ns(['addr', 'add', `${vm.ipv4}/32`, 'dev', vm.iface]);
  await ns(['route', 'add', '169.254.0.1', 'dev', vm.iface]);
  await ns(['route', 'add', 'default', 'via', '169.254.0.1', 'dev', vm.iface]);
  await ns(['-6', 'addr', 'add', `${vm.ipv6}/128`, 'dev', vm.iface, 'nodad']);
  await ns(['-6', 'route', 'add', 'default', 'via', 'fe80::1', 'dev', vm.iface]);
}

/** Reads one counter of /proc/net/snmp (e.g. Icmp InEchos) or /proc/net/snmp6 (Icmp6InEchos) in a namespace. */
export async function snmpCounter(ns: string, name: string): Promise<number> {
  const [group, field] = name.includes(' ') ? name.split(' ') as [string, string] : [undefined, name];
  if (group === undefined) {
    const r = await nsExec(ns, ['cat', '/proc/net/snmp6']);
    const m = new RegExp(`^${field}\\s+(\\d+)$`, 'm').exec(r.stdout);
    if (!m) throw new Error(`no ${name} in /proc/net/snmp6 of ${ns}`);
    return Number(m[1]);
  }
  // /proc/net/snmp: a header line of names and a line of values per group
  const lines = (await nsExec(ns, ['cat', '/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith(`${group}: `));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const i = names.indexOf(field);
  if (i < 0 || values[i] === undefined) throw new Error(`no ${name} in /proc/net/snmp of ${ns}`);
  return Number(values[i]);
}

/** A long-running process in a namespace (a server, a capture), killed by its own pid. */
/**
 * The server side of ncExchange (python3: argv proto, address, port): prints the peer it saw, as
 * nc -v does ("Connection received on ADDRESS PORT"), answers "pong" only after the client's
 * line arrived and closes only after the client did. (`echo pong | nc -l` sent its answer and
 * closed at once; when the client's line arrived after that, the server's RST made the client's
 * nc lose the answer it had already received: an exchange in about fifteen failed that way.)
 */
const EXCHANGE_SERVER = `
import socket, sys
proto, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM if proto == 'udp' else socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.settimeout(10)
if proto == 'udp':
    data, peer = s.recvfrom(2048)
    print('Connection received on', peer[0], peer[1], flush=True)
    s.sendto(b'pong\\n', peer)
else:
    s.listen(1)
    c, peer = s.accept()
    print('Connection received on', peer[0], peer[1], flush=True)
    c.settimeout(5)
    c.recv(2048)
    c.sendall(b'pong\\n')
    c.shutdown(socket.SHUT_WR)
    try:
        c.recv(2048)
    except OSError:
        pass
    c.close()
`;

/**
 * A TCP or UDP exchange through the service: a server listening in `serverNs` on
 * `listen`:`listenPort` (EXCHANGE_SERVER) answers "pong" to the "ping" nc in `clientNs` sends to
 * `to`:`port`. Returns what the server printed (the peer it saw) and what the client received back.
 */
export async function ncExchange(serverNs: string, listen: string, listenPort: number, clientNs: string, proto: 'tcp' | 'udp', to: string,
  port: number): Promise<{ server: string; client: string }> {
  const server = new NsProcess(serverNs, ['timeout', '12', 'python3', '-c', EXCHANGE_SERVER, proto, listen, String(listenPort)]);
  try {
    await waitFor('the server', async () => (await nsExec(serverNs, ['ss', '-lnH', proto === 'udp' ? '-u' : '-t'])).stdout.includes(`:${listenPort}`), 5000, 50);
    // TCP: -w 4 leaves the client's SYN time for two retransmissions (1 s, 3 s), should one get lost
    const client = await nsExec(clientNs, ['sh', '-c', `echo ping | timeout 7 nc ${proto === 'udp' ? '-u -w 2' : '-w 4'} ${to} ${port}`], 15000);
    await server.wait(5000);
    return { server: server.stderr() + server.stdout(), client: client.stdout };
  } finally {
    await server.stop();
  }
}

export class NsProcess {
  readonly out: string[] = [];
  readonly err: string[] = [];
  private code: number | null | undefined;
  private readonly exited: Promise<number | null>;
  readonly proc: ChildProcess;

  constructor(ns: string | undefined, cmd: string[]) {
    // `ip netns exec` execs the command, so the child pid is the command's own
    const argv = ns === undefined ? cmd : ['ip', 'netns', 'exec', ns, ...cmd];
    this.proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout?.on('data', (d: Buffer) => this.out.push(d.toString()));
    this.proc.stderr?.on('data', (d: Buffer) => this.err.push(d.toString()));
    this.exited = new Promise((res) => {
      this.proc.once('exit', (c) => { this.code = c; res(c); });
      this.proc.once('error', () => { this.code = -1; res(-1); });
    });
  }

  get running(): boolean {
    return this.code === undefined;
  }

  stdout(): string {
    return this.out.join('');
  }

  stderr(): string {
    return this.err.join('');
  }

  /** Waits up to timeoutMs for the process to exit by itself; undefined if it did not. */
  async wait(timeoutMs: number): Promise<number | null | undefined> {
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((res) => { t = setTimeout(() => res(undefined), timeoutMs); });
    const r = await Promise.race([this.exited, timeout]);
    clearTimeout(t);
    return r;
  }

  /** Sends `signal`, then SIGKILL after 3 s; resolves the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.running) this.proc.kill(signal);
    if (await this.wait(3000) === undefined) this.proc.kill('SIGKILL');
    return this.exited;
  }
}

/** tcpdump on one interface (in a namespace or the root one), one text line per packet. */
export class Capture extends NsProcess {
  private constructor(ns: string | undefined, iface: string, filter: string) {
    super(ns, ['tcpdump', '-n', '-l', '-i', iface, filter]);
  }

  /** Starts tcpdump and waits until it is listening. */
  static async start(ns: string | undefined, iface: string, filter: string): Promise<Capture> {
    const c = new Capture(ns, iface, filter);
    try {
      await waitFor(`tcpdump on ${iface}`, () => {
        if (!c.running) throw new Error(`tcpdump on ${iface} exited: ${c.stderr()}`);
        return c.stderr().includes('listening on');
      }, 5000, 50);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  /** Stops the capture (letting it flush) and returns the packet lines. */
  async packets(): Promise<string[]> {
    await new Promise((r) => setTimeout(r, 300));
    await this.stop('SIGINT');
    return this.stdout().split('\n').filter((l) => l.trim() !== '');
  }
}

/**
 * One host of the single-host tests (nat, virtsvc): the service with pf0 joined to the underlay
 * (as `routerMac`'s bridge port), pf1 quiet and one VM port (VF0), initialized, with the VM's
 * interface in VNI 100 and its namespace up. The underlay router does not know the VM's underlay
 * address yet (the caller pings it once its own set-up is done).
 */
export interface OneVmHost {
  prefix: string;
  /** the host's /64 on the underlay, and its --ipv6 inside it */
  subnet: string;
  hostIpv6: string;
  grpc: number;
  metrics: number;
  pf0: TapSpec;
  pf1: TapSpec;
  vf0: TapSpec;
  bridgePortMac: string;
  vm: { id: string; ns: string; ipv4: string; ipv6: string };
  vmMtu: number;
  /** service arguments besides the ports and addresses */
  extra: string[];
}

/** Starts a OneVmHost: the underlay, the service and the VM; returns them and the VM's underlay address. */
export async function startOneVmHost(h: OneVmHost): Promise<{ underlay: Underlay; service: Service; vmUnderlay: string }> {
  const underlay = await createUnderlay(h.prefix, [h.subnet]);
  const service = await startService({
    lcores: '0,1', pf0: h.pf0, pf1: h.pf1, vfs: [h.vf0], vfPattern: `${h.prefix}vf`, grpcPort: h.grpc,
    filePrefix: `${h.prefix}${process.pid}`, ipv6: h.hostIpv6, metricsPort: h.metrics, extra: h.extra,
  });
  await attachToUnderlay(underlay, h.pf0.iface, h.bridgePortMac);
  await quietRootPort(h.pf1.iface);
  const call = grpcCaller(h.grpc);
  await call('Initialize');
  const iface = await call('CreateInterface', {
    interface_id: Buffer.from(h.vm.id), vni: 100, device_name: h.vf0.vdev,
    ipv4_config: { ip_version: 'IPV4', primary_address: Buffer.from(h.vm.ipv4) },
    ipv6_config: { ip_version: 'IPV6', primary_address: Buffer.from(h.vm.ipv6) },
  });
  await vmNamespace({ ns: h.vm.ns, iface: h.vf0.iface, mac: h.vf0.mac, ipv4: h.vm.ipv4, ipv6: h.vm.ipv6, mtu: h.vmMtu });
  return { underlay, service, vmUnderlay: Buffer.from(iface.underlay_route as Uint8Array).toString() };
}

/** Removes whatever startOneVmHost made (also what a failed or earlier run left behind). */
export async function stopOneVmHost(h: OneVmHost, service: Service | undefined): Promise<void> {
  await nsDelete(h.vm.ns);
  await service?.stop();
  await destroyUnderlay(h.prefix);
  await removeLinks([h.pf0.iface, h.pf1.iface, h.vf0.iface]);
  rmSync(`/var/run/dpdk/${h.prefix}${process.pid}`, { recursive: true, force: true });
}
