/**
 * A real IPv6 underlay for multi-host integration tests, and VMs with static addressing.
 *
 * Topology (all names carry the suite prefix):
 *
 *   host A pf0 TAP ─┐
 *   host B pf0 TAP ─┼─ <prefix>br (Linux bridge, root namespace) ── <prefix>ul ══ veth ══ <prefix>ulr
 *                                                                          (namespace <prefix>rt: the router)
 *
 * The router namespace forwards IPv6 (forwarding=1 there only) and has an on-link route for each
 * host's underlay /64, so a packet from host A's /64 to host B's /64 goes service A -> router ->
 * service B, and the router resolves each underlay address by Neighbor Solicitation. The root
 * namespace takes no part: IPv6 is disabled on the bridge and on every port in it, and no global
 * sysctl of the root namespace is changed. Control path only (allocates freely).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { nsCreate, nsDelete, nsExec, run, tryRun, waitFor } from './harness.js';

/** The MAC of the router's underlay interface; fixed so that its link-local address is known. */
export const ROUTER_MAC = '02:00:00:0f:0f:01';

export interface Underlay {
  /** Linux bridge in the root namespace. */
  bridge: string;
  /** Network namespace of the router. */
  routerNs: string;
  /** The root-namespace end of the router's veth pair (a bridge port). */
  rootVeth: string;
  /** The router's underlay interface (inside routerNs). */
  routerVeth: string;
  /** The router's link-local address on routerVeth (EUI-64 of ROUTER_MAC). */
  routerLinkLocal: string;
  /** The /64s routed on-link by the router. */
  subnets: string[];
}

export function underlayNames(prefix: string): Omit<Underlay, 'subnets'> {
  return {
    bridge: `${prefix}br`, routerNs: `${prefix}rt`, rootVeth: `${prefix}ul`, routerVeth: `${prefix}ulr`,
    routerLinkLocal: linkLocalOf(ROUTER_MAC),
  };
}

/** The EUI-64 link-local address the kernel derives from a MAC. */
export function linkLocalOf(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const w = (hi: number, lo: number): string => ((hi << 8) | lo).toString(16);
  // the URL parser prints IPv6 hosts in canonical (RFC 5952) form, as the kernel does
  return new URL(`http://[fe80::${w(b[0]! ^ 2, b[1]!)}:${w(b[2]!, 0xff)}:${w(0xfe, b[3]!)}:${w(b[4]!, b[5]!)}]`).hostname.slice(1, -1);
}

/** Per-interface sysctl in the root namespace (never a global one). */
async function disableIpv6(iface: string): Promise<void> {
  await run('sysctl', ['-qw', `net.ipv6.conf.${iface}.disable_ipv6=1`]);
}

/**
 * Creates the bridge and the router. Ports (the services' pf0 TAPs) join later, with
 * attachToUnderlay, once the services have created them. Removes leftovers of an earlier run first.
 */
export async function createUnderlay(prefix: string, subnets: string[]): Promise<Underlay> {
  const u: Underlay = { ...underlayNames(prefix), subnets };
  await destroyUnderlay(prefix);
  await run('ip', ['link', 'add', u.bridge, 'type', 'bridge', 'mcast_snooping', '0']);
  await disableIpv6(u.bridge);
  await nsCreate(u.routerNs);
  await run('ip', ['link', 'add', u.rootVeth, 'type', 'veth', 'peer', 'name', u.routerVeth, 'netns', u.routerNs]);
  await disableIpv6(u.rootVeth);
  await run('ip', ['link', 'set', u.rootVeth, 'master', u.bridge]);
  await nsExec(u.routerNs, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']).then(ok('forwarding'));
  await nsExec(u.routerNs, ['sysctl', '-qw', `net.ipv6.conf.${u.routerVeth}.accept_dad=0`]).then(ok('accept_dad'));
  await run('ip', ['-n', u.routerNs, 'link', 'set', u.routerVeth, 'address', ROUTER_MAC]);
  await run('ip', ['-n', u.routerNs, 'link', 'set', u.routerVeth, 'up']);
  for (const net of subnets) await run('ip', ['-n', u.routerNs, '-6', 'route', 'add', net, 'dev', u.routerVeth]);
  await run('ip', ['link', 'set', u.rootVeth, 'up']);
  await run('ip', ['link', 'set', u.bridge, 'up']);
  await waitFor('the router link-local address', async () => {
    const a = await nsExec(u.routerNs, ['ip', '-6', 'addr', 'show', 'dev', u.routerVeth, 'scope', 'link']);
    return a.stdout.includes(u.routerLinkLocal) && !a.stdout.includes('tentative');
  }, 5000);
  return u;
}

function ok(what: string): (r: { code: number; stderr: string }) => void {
  return (r) => {
    if (r.code !== 0) throw new Error(`${what} failed: ${r.stderr.trim()}`);
  };
}

/**
 * Makes a service's PF TAP a bridge port. The kernel side of a DPDK TAP has the DPDK port's MAC,
 * and a bridge keeps its ports' own MACs as local addresses (frames to them go up to the root
 * namespace, not out of the port), so the kernel side gets `kernelMac` instead; the service keeps
 * its MAC. IPv6 is disabled on the TAP so the root kernel sends nothing into it.
 */
export async function attachToUnderlay(u: Underlay, iface: string, kernelMac: string): Promise<void> {
  await waitFor(`interface ${iface}`, async () => (await tryRun('ip', ['link', 'show', iface])).code === 0, 10000);
  await disableIpv6(iface);
  await run('ip', ['link', 'set', iface, 'address', kernelMac]);
  await run('ip', ['link', 'set', iface, 'master', u.bridge]);
  await run('ip', ['link', 'set', iface, 'up']);
}

/** A root-namespace TAP that is no bridge port (an unused pf1): IPv6 off, so it stays silent. */
export async function quietRootPort(iface: string): Promise<void> {
  await waitFor(`interface ${iface}`, async () => (await tryRun('ip', ['link', 'show', iface])).code === 0, 10000);
  await disableIpv6(iface);
}

/** Removes the bridge, the veth pair and the router namespace; fine if some or all are gone. */
export async function destroyUnderlay(prefix: string): Promise<void> {
  const n = underlayNames(prefix);
  await nsDelete(n.routerNs);
  await tryRun('ip', ['link', 'del', n.rootVeth]);
  await tryRun('ip', ['link', 'del', n.bridge]);
}

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
    await nsExec(vm.ns, ['sysctl', '-qw', `net.ipv6.conf.${vm.iface}.${key}=0`]).then(ok(key));
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
