/**
 * A real IPv6 underlay between service instances on one machine, for the demo and the multi-host
 * integration tests.
 *
 * Topology (all names carry the caller's prefix):
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
import { resolve } from 'node:path';
import { nsCreate, nsDelete, nsExec, ROOT, run, tryRun, waitFor } from './host-tools.js';

/** The MAC of the router's underlay interface; fixed so that its link-local address is known. */
export const ROUTER_MAC = '02:00:00:0f:0f:01';

/** What createUnderlay built; every name derives from the prefix (see underlayNames). */
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

/** The names of an underlay's parts for a prefix; interface names stay < 16 characters for prefixes up to 12. */
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
  return canonicalIpv6(`fe80::${w(b[0]! ^ 2, b[1]!)}:${w(b[2]!, 0xff)}:${w(0xfe, b[3]!)}:${w(b[4]!, b[5]!)}`);
}

/** The canonical (RFC 5952) text of an IPv6 address, as the kernel, ip and tcpdump print it. */
export function canonicalIpv6(addr: string): string {
  // the URL parser prints IPv6 hosts in canonical form
  return new URL(`http://[${addr}]`).hostname.slice(1, -1);
}

/** Per-interface sysctl in the root namespace (never a global one). */
async function disableIpv6(iface: string): Promise<void> {
  await run('sysctl', ['-qw', `net.ipv6.conf.${iface}.disable_ipv6=1`]);
}

/** Runs a command in a namespace; rejects with its stderr if it fails. */
async function nsRun(ns: string, cmd: string[]): Promise<void> {
  const r = await nsExec(ns, cmd);
  if (r.code !== 0) throw new Error(`${cmd.join(' ')} in namespace ${ns} failed (${r.code}): ${r.stderr.trim()}`);
}

async function linkExists(iface: string): Promise<boolean> {
  return (await tryRun('ip', ['link', 'show', iface])).code === 0;
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
  await nsRun(u.routerNs, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
  await nsRun(u.routerNs, ['sysctl', '-qw', `net.ipv6.conf.${u.routerVeth}.accept_dad=0`]);
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

/**
 * Makes a service's PF TAP a bridge port. The kernel side of a DPDK TAP has the DPDK port's MAC,
 * and a bridge keeps its ports' own MACs as local addresses (frames to them go up to the root
 * namespace, not out of the port), so the kernel side gets `kernelMac` instead; the service keeps
 * its MAC. IPv6 is disabled on the TAP so the root kernel sends nothing into it.
 */
export async function attachToUnderlay(u: Underlay, iface: string, kernelMac: string): Promise<void> {
  await waitFor(`interface ${iface}`, () => linkExists(iface), 10000);
  await disableIpv6(iface);
  await run('ip', ['link', 'set', iface, 'address', kernelMac]);
  await run('ip', ['link', 'set', iface, 'master', u.bridge]);
  await run('ip', ['link', 'set', iface, 'up']);
}

/** A root-namespace TAP that is no bridge port (an unused pf1): IPv6 off, so it stays silent. */
export async function quietRootPort(iface: string): Promise<void> {
  await waitFor(`interface ${iface}`, () => linkExists(iface), 10000);
  await disableIpv6(iface);
}

/**
 * Pings underlay addresses (interfaces' underlay_route) from the router, once each, without
 * waiting for success. Resolving them makes the router send Neighbor Solicitations, from which the
 * services learn its MAC before their first periodic router probe: the first tunnelled packets
 * then go out at once instead of seconds later.
 */
export async function pingFromRouter(u: Underlay, addresses: string[]): Promise<void> {
  for (const a of addresses) await nsExec(u.routerNs, ['ping', '-6', '-c', '1', '-W', '1', a]);
}

/** How many IPv6 packets the router has forwarded between the hosts (Ip6OutForwDatagrams). */
export async function routerForwarded(u: Underlay): Promise<number> {
  const r = await nsExec(u.routerNs, ['cat', '/proc/net/snmp6']);
  const m = /^Ip6OutForwDatagrams\s+(\d+)$/m.exec(r.stdout);
  if (!m) throw new Error(`no Ip6OutForwDatagrams in /proc/net/snmp6 of namespace ${u.routerNs}`);
  return Number(m[1]);
}

/** The internet gateway's underlay address, in the router namespace (the default routes' nexthop). */
export const INTERNET_UL = 'fc00:ff::1';

/**
 * The internet behind the underlay router: the router namespace owns INTERNET_UL, and
 * bin/inet-gateway (an IPv4-in-IPv6 tunnel endpoint in user space: this kernel has no ip6tnl)
 * decapsulates what the services tunnel to it into a TUN device where the namespace's IPv4 stack
 * answers at a public address, and tunnels the answers to NAT addresses back to the NATs'
 * underlay addresses. One per underlay; stop() ends it (removing the router namespace removes
 * its TUN device).
 */
export class Internet {
  private readonly out: string[] = [];

  private constructor(private readonly proc: ChildProcess) {
    proc.stdout?.on('data', (d: Buffer) => this.out.push(d.toString()));
    proc.stderr?.on('data', (d: Buffer) => this.out.push(d.toString()));
  }

  /**
   * Starts it in `u`'s router namespace: TUN device `tun` with the public address `server`, and
   * `nat` as [NAT address, its underlay address] pairs to send answers to.
   */
  static async start(u: Underlay, tun: string, server: string, nat: Array<[string, string]>): Promise<Internet> {
    const rt = u.routerNs;
    await run('ip', ['-n', rt, '-6', 'addr', 'add', `${INTERNET_UL}/128`, 'dev', 'lo']);
    await run('ip', ['-n', rt, 'link', 'set', 'lo', 'up']);
    for (const k of ['all', 'default']) await nsRun(rt, ['sysctl', '-qw', `net.ipv4.conf.${k}.rp_filter=0`]);
    const argv = ['ip', 'netns', 'exec', rt, 'python3', resolve(ROOT, 'bin/inet-gateway'), tun, ...nat.map(([ip, ul]) => `${ip}=${ul}`)];
    const inet = new Internet(spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }));
    try {
      await waitFor('the internet gateway', () => {
        if (inet.proc.exitCode !== null) throw new Error(`bin/inet-gateway exited: ${inet.output()}`);
        return inet.output().includes('ready');
      }, 10000, 50);
      await run('ip', ['-n', rt, 'link', 'set', tun, 'mtu', '1400', 'up']);
      await run('ip', ['-n', rt, 'addr', 'add', `${server}/32`, 'dev', tun]);
      for (const [ip] of nat) await run('ip', ['-n', rt, 'route', 'add', `${ip}/32`, 'dev', tun]);
    } catch (e) {
      inet.stop();
      throw e;
    }
    return inet;
  }

  /** What the gateway printed: "ready", then "in SRC DST" / "out SRC DST" / "drop DST" per packet. */
  output(): string {
    return this.out.join('');
  }

  stop(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

/** Removes the bridge, the veth pair and the router namespace; fine if some or all are gone. */
export async function destroyUnderlay(prefix: string): Promise<void> {
  const n = underlayNames(prefix);
  await nsDelete(n.routerNs);
  await tryRun('ip', ['link', 'del', n.rootVeth]);
  await tryRun('ip', ['link', 'del', n.bridge]);
}
