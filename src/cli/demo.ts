/**
 * The demo topology: two hosts, each a dpservice-bin on TAP ports, joined by a real IPv6 underlay
 * (a bridge and a router namespace, see underlay-net.ts). Host A (underlay fc00:a::/64) has vm1 and
 * vm2, host B (fc00:b::/64) has vm3, all network namespaces in VNI 100. The demo configures both
 * services over gRPC (interfaces, and routes to the other host's VMs via their underlay addresses),
 * lets the VMs get their addresses from real DHCPv4 and DHCPv6 clients, prints what they got, and
 * shows vm1 pinging vm2 on host A and vm3 on host B, the latter IPv4-in-IPv6 and IPv6-in-IPv6
 * through the underlay router, and vm2 pinging the internet (a public address behind the router)
 * through its NAT, over IPv4 and NAT64, and vm1 and vm3 asking a virtual service (UDP, an IPv6
 * server in the router namespace). Runs until Ctrl-C, SIGTERM or SIGHUP (with --no-wait: exits after
 * the pings, with status 1 if one failed), then removes everything it created. Leftovers of a run
 * that was killed are removed at start. Control path only (allocates freely).
 *
 *   node dist/src/cli/demo.js [--lcores 0,1] [--grpc-port 1337] [--metrics-port 9064] [--no-wait]
 *
 * Host B uses the next gRPC and metrics ports (1338, 9065).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { dpClient } from './grpc-client.js';
import { moveToNs, nsCreate, nsDelete, nsExec, parseLease, portOpen, removeLinks, ROOT, sleep, waitFor } from './host-tools.js';
import {
  attachToUnderlay, canonicalIpv6, createUnderlay, destroyUnderlay, Internet, INTERNET_UL, pingFromRouter, quietRootPort, routerForwarded,
  type Underlay,
} from './underlay-net.js';

interface Tap { vdev: string; iface: string; mac: string }

interface Host {
  /** A or B, as printed */
  name: string;
  /** --ipv6, inside subnet */
  ipv6: string;
  subnet: string;
  filePrefix: string;
  vfPattern: string;
  /** the MAC the kernel side of the pf0 TAP gets as a bridge port (the service keeps pf0.mac) */
  bridgePortMac: string;
  pf0: Tap;
  pf1: Tap;
  vfs: Tap[];
  log: string;
  grpc: number;
  metrics: number;
  svc: ChildProcess | undefined;
  exited: boolean;
}

interface Vm { name: string; host: Host; vf: Tap; ns: string; ip4: string; ip6: string; underlay: string }

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] ?? def : def;
}

const LCORES = arg('--lcores', '0,1');
const GRPC_PORT = Number(arg('--grpc-port', '1337'));
const METRICS_PORT = Number(arg('--metrics-port', '9064'));
const NO_WAIT = process.argv.includes('--no-wait');
const VNI = 100;
const HOOK = resolve(ROOT, 'bin/dhclient-hook');
/** Underlay names: bridge dps-br, router namespace dps-rt, veth dps-ul / dps-ulr. */
const UNDERLAY = 'dps-';

/** Host `id` ('a' or 'b'): TAPs dps<id>pf0, dps<id>pf1, dps<id>vf<n>; underlay fc00:<id>::/64. */
function host(id: string, vfs: number, portOffset: number): Host {
  const p = `dps${id}`;
  return {
    name: id.toUpperCase(), ipv6: `fc00:${id}::1`, subnet: `fc00:${id}::/64`, filePrefix: `dpsdemo-${id}`, vfPattern: `${p}vf`,
    bridgePortMac: `02:00:00:00:${id}0:00`,
    pf0: { vdev: 'net_tap0', iface: `${p}pf0`, mac: `22:22:22:22:${id}0:00` },
    pf1: { vdev: 'net_tap1', iface: `${p}pf1`, mac: `22:22:22:22:${id}0:01` },
    vfs: Array.from({ length: vfs }, (_, i) => ({ vdev: `net_tap${i + 2}`, iface: `${p}vf${i}`, mac: `66:66:66:66:${id}0:0${i}` })),
    log: `/tmp/dpservice-demo-${id}.log`, grpc: GRPC_PORT + portOffset, metrics: METRICS_PORT + portOffset, svc: undefined, exited: true,
  };
}

const A = host('a', 2, 0);
const B = host('b', 1, 1);
const HOSTS = [A, B];

function vm(name: string, h: Host, vf: number, ip4: string, ip6: string): Vm {
  return { name, host: h, vf: h.vfs[vf]!, ns: `dps-${name}`, ip4, ip6, underlay: '' };
}

const VM1 = vm('vm1', A, 0, '10.100.1.1', '2000:100:1::1');
const VM2 = vm('vm2', A, 1, '10.100.1.2', '2000:100:1::2');
const VM3 = vm('vm3', B, 0, '10.100.2.1', '2000:100:2::1');
const VMS = [VM1, VM2, VM3];

/** Removes what this demo creates; fine if some or all of it is gone (a killed run's leftovers). */
async function cleanup(): Promise<void> {
  for (const v of VMS) {
    await nsDelete(v.ns);
    // dhclient's leases and pid files, and what the hook wrote; the service logs stay
    for (const ext of ['demo4', 'demo6', 'l4', 'l6', 'p4', 'p6']) rmSync(`/tmp/${v.ns}.${ext}`, { force: true });
  }
  await destroyUnderlay(UNDERLAY);
  for (const h of HOSTS) {
    await removeLinks([h.pf0.iface, h.pf1.iface, ...h.vfs.map((t) => t.iface)]);
    rmSync(`/var/run/dpdk/${h.filePrefix}`, { recursive: true, force: true });
  }
}

function serviceArgs(h: Host): string[] {
  const vdev = (t: Tap): string => `--vdev=${t.vdev},iface=${t.iface},mac=${t.mac}`;
  return ['-l', LCORES, '--no-huge', '-m', '1024', '--no-pci', `--file-prefix=${h.filePrefix}`, vdev(h.pf0), vdev(h.pf1), ...h.vfs.map(vdev),
    '--', `--pf0=${h.pf0.iface}`, `--pf1=${h.pf1.iface}`, `--vf-pattern=${h.vfPattern}`, `--ipv6=${h.ipv6}`, '--enable-ipv6-overlay',
    '--nic-type=tap', '--no-offload', '--dhcp-mtu=1450', '--dhcp-dns=192.0.2.53', '--dhcpv6-dns=2001:db8::53', `--grpc-port=${h.grpc}`,
    `--metrics-port=${h.metrics}`, `--udp-virtsvc=${VIRTSVC.virtual},${VIRTSVC.port},${VIRTSVC.service},${VIRTSVC.servicePort}`];
}

/**
 * Starts a host's service, its output going to h.log. Through `setpriv --pdeathsig` when there is
 * one, so that the service stops itself (and removes its TAPs) even if the demo is killed with
 * SIGKILL and cannot stop it.
 */
function startService(h: Host): void {
  const bin = resolve(ROOT, 'bin/dpservice-bin');
  const argv = existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', '--pdeathsig', 'SIGTERM', bin, ...serviceArgs(h)] : [bin, ...serviceArgs(h)];
  console.log(`host ${h.name}: ${argv.slice(argv.indexOf(bin)).join(' ')}\n  (log: ${h.log})`);
  const log = createWriteStream(h.log);
  const svc = spawn(argv[0]!, argv.slice(1), { env: { DP_CONF: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  svc.stdout.pipe(log);
  svc.stderr.pipe(log);
  h.svc = svc;
  h.exited = false;
  svc.once('exit', (code, signal) => {
    h.exited = true;
    if (stopping) return;
    console.error(`host ${h.name}: dpservice-bin exited (${signal ?? code}); see ${h.log}`);
    abort(1);
  });
}

async function stopService(h: Host): Promise<void> {
  if (h.exited || !h.svc) return;
  h.svc.kill('SIGTERM');
  await waitFor(`host ${h.name} to stop`, () => h.exited, 15000).catch(() => h.svc?.kill('SIGKILL'));
}

async function waitForService(h: Host): Promise<void> {
  await waitFor(`the gRPC port of host ${h.name}`, async () => {
    if (h.exited) throw new Error(`host ${h.name}: dpservice-bin exited; see ${h.log}:\n${readFileSync(h.log, 'utf8').slice(-3000)}`);
    return portOpen(h.grpc);
  }, 30000);
}

async function grpcCalls(h: Host, calls: Array<[string, object]>): Promise<Array<Record<string, unknown>>> {
  const c = dpClient(`127.0.0.1:${h.grpc}`);
  try {
    const out = [];
    for (const [method, req] of calls) {
      const r = await c.call(method, req);
      if (r.status.code !== 0) throw new Error(`${method} on host ${h.name} ${JSON.stringify(req)}: ${r.status.code} ${r.status.message}`);
      out.push(r);
    }
    return out;
  } finally {
    c.close();
  }
}

function ipMsg(a: string): object {
  return { ipver: a.includes(':') ? 'IPV6' : 'IPV4', address: Buffer.from(a) };
}

/** CreateRoute requests (for the other host) to `to`'s /32 and /128, via `to`'s underlay address. */
function routesTo(to: Vm): Array<[string, object]> {
  const route = (addr: string, length: number): [string, object] => ['CreateRoute', {
    vni: VNI, route: { prefix: { ip: ipMsg(addr), length }, nexthop_vni: VNI, nexthop_address: ipMsg(to.underlay) },
  }];
  return [route(to.ip4, 32), route(to.ip6, 128)];
}

/** dhclient -4 then -6 in the VM, as its network manager would; returns the lease line to print. */
async function dhcp(v: Vm): Promise<string> {
  const out4 = `/tmp/${v.ns}.demo4`;
  const out6 = `/tmp/${v.ns}.demo6`;
  rmSync(out4, { force: true });
  rmSync(out6, { force: true });
  const iface = v.vf.iface;
  const d4 = await nsExec(v.ns, ['dhclient', '-4', '-1', '-sf', HOOK, '-e', `DPS_LEASE_OUT=${out4}`, '-lf', `/tmp/${v.ns}.l4`,
    '-pf', `/tmp/${v.ns}.p4`, iface], 30000);
  if (d4.code !== 0) throw new Error(`dhclient in ${v.ns} failed: ${d4.stderr}`);
  await waitFor(`a link-local address in ${v.ns}`, async () => {
    const a = await nsExec(v.ns, ['ip', '-6', 'addr', 'show', 'dev', iface, 'scope', 'link']);
    return a.stdout.includes('fe80') && !a.stdout.includes('tentative');
  }, 10000);
  const d6 = await nsExec(v.ns, ['dhclient', '-6', '-1', '-sf', HOOK, '-e', `DPS_LEASE_OUT=${out6}`, '-lf', `/tmp/${v.ns}.l6`,
    '-pf', `/tmp/${v.ns}.p6`, iface], 30000);
  if (d6.code !== 0) throw new Error(`dhclient -6 in ${v.ns} failed: ${d6.stderr}`);
  live();
  const l4 = parseLease(readFileSync(out4, 'utf8'));
  const l6 = parseLease(readFileSync(out6, 'utf8'));
  return `${v.name.padEnd(4)} ${v.host.name.padEnd(4)} ${v.ns.padEnd(9)} ${iface.padEnd(9)} ${(l4['new_ip_address'] ?? '-').padEnd(12)} `
    + `${(l4['new_interface_mtu'] ?? '-').padEnd(5)} ${(l4['new_domain_name_servers'] ?? '-').padEnd(12)} `
    + `${(l4['new_host_name'] ?? '-').padEnd(9)} ${l6['new_ip6_address'] ?? '-'}`;
}

const failures: string[] = [];

/** Pings `to` (a VM or a name) from `from` (3 requests, 0.2 s apart); prints one line and records a failure. */
async function ping(from: Vm, to: Vm | string, addr: string): Promise<void> {
  const r = await nsExec(from.ns, ['ping', addr.includes(':') ? '-6' : '-4', '-c', '3', '-i', '0.2', '-W', '2', addr], 30000);
  live();
  const summary = (r.stdout.split('\n').find((l) => l.includes('packets transmitted')) ?? r.stderr.trim()).replace(/, time \d+ms/, '');
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
  const what = `${from.name} -> ${typeof to === 'string' ? to : to.name}: ping ${addr}`;
  console.log(`  ${what.padEnd(46)} ${r.code === 0 ? 'ok    ' : 'FAILED'} ${summary}${rtt ? `, avg ${rtt[1]} ms` : ''}`);
  if (r.code !== 0) failures.push(what);
}

/** Whether the VM got a default IPv6 route from the service's Router Advertisement. */
async function hasIpv6Default(v: Vm): Promise<boolean> {
  return (await nsExec(v.ns, ['ip', '-6', 'route', 'show', 'default'])).stdout.includes('fe80::1');
}

/**
 * A virtual service: the VMs reach a UDP service on an IPv6 address in the underlay router's
 * namespace at a virtual IPv4 address and port (a metadata or DNS service, say).
 */
// in 169.254.1.0/24: DHCP routes it via the gateway when the service has virtual services (upstream)
const VIRTSVC = { virtual: '169.254.1.53', port: 53, service: 'fd99::53', servicePort: 5353 };
/** The service's answering server (in the router namespace): echoes each datagram with the peer it saw. */
let virtsvcServer: ChildProcess | undefined;
const VIRTSVC_SERVER = `
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(('${VIRTSVC.service}', ${VIRTSVC.servicePort}))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(('answer to [%s]:%d' % (peer[0], peer[1])).encode(), peer)
`;

/** The internet behind the underlay router (vm2 reaches it through its NAT). */
let internet: Internet | undefined;
const PUBLIC_SERVER = '45.86.6.6';
const NAT_IP = '45.0.0.9';

/** Set by shutdown: the services' exits are expected from then on. */
let stopping = false;
/** Set by abort: it, not main's error path, finishes the process. */
let aborting = false;
let stopped: Promise<void> | undefined;

/** Ends main's next step once abort has begun, so that it creates and prints nothing more. */
function live(): void {
  if (aborting) throw new Error('stopped');
}

/** Stops both services and removes everything; once, however often it is called. */
function shutdown(): Promise<void> {
  stopping = true;
  stopped ??= (async () => {
    internet?.stop();
    virtsvcServer?.kill('SIGKILL');
    for (const h of HOSTS) await stopService(h);
    await cleanup();
  })();
  return stopped;
}

async function main(): Promise<void> {
  for (const h of HOSTS) {
    for (const port of [h.grpc, h.metrics]) {
      if (await portOpen(port)) throw new Error(`port ${port} (host ${h.name}) is in use: is another dpservice or demo running?`);
    }
  }
  await cleanup();
  const u: Underlay = await createUnderlay(UNDERLAY, HOSTS.map((h) => h.subnet));
  console.log(`underlay: bridge ${u.bridge}, router namespace ${u.routerNs} forwarding between ${u.subnets.join(' and ')}`);
  live();
  for (const h of HOSTS) startService(h);
  for (const h of HOSTS) {
    await waitForService(h);
    await attachToUnderlay(u, h.pf0.iface, h.bridgePortMac);
    await quietRootPort(h.pf1.iface);
  }
  live();
  console.log('');
  for (const h of HOSTS) {
    console.log(`host ${h.name}: underlay ${h.ipv6}, gRPC localhost:${h.grpc}, metrics http://localhost:${h.metrics}/metrics`);
  }

  for (const h of HOSTS) {
    await grpcCalls(h, [['Initialize', {}]]);
    for (const v of VMS.filter((x) => x.host === h)) {
      const [r] = await grpcCalls(h, [['CreateInterface', {
        interface_id: Buffer.from(v.name), vni: VNI, device_name: v.vf.vdev, hostname: `${v.name}-host`,
        ipv4_config: { ip_version: 'IPV4', primary_address: Buffer.from(v.ip4) },
        ipv6_config: { ip_version: 'IPV6', primary_address: Buffer.from(v.ip6) },
      }]]);
      live();
      v.underlay = canonicalIpv6(Buffer.from(r!['underlay_route'] as Uint8Array).toString());
      console.log(`interface ${v.name} on host ${h.name} (${v.vf.vdev}, VNI ${VNI}): underlay ${v.underlay}`);
    }
  }
  // each host routes the other host's VMs (VNI 100) to their interfaces' underlay addresses
  await grpcCalls(A, routesTo(VM3));
  await grpcCalls(B, [...routesTo(VM1), ...routesTo(VM2)]);
  for (const [h, to] of [[A, [VM3]], [B, [VM1, VM2]]] as const) {
    for (const v of to) console.log(`route on host ${h.name}: ${v.ip4}/32, ${v.ip6}/128 via ${v.underlay} (${v.name} on host ${v.host.name})`);
  }
  await pingFromRouter(u, VMS.map((v) => v.underlay));

  for (const v of VMS) {
    live();
    await nsCreate(v.ns);
    await moveToNs(v.vf.iface, v.ns);
  }
  console.log('\nVM   host namespace interface IPv4 (DHCP)  MTU   DNS          hostname  IPv6 (DHCPv6)');
  for (const v of VMS) console.log(await dhcp(v));
  // the IPv6 default route (via fe80::1) comes from the service's answer to the VM's Router Solicitation
  for (const v of VMS) await waitFor(`the IPv6 default route of ${v.name}`, () => hasIpv6Default(v), 10000).catch(() => undefined);

  live();
  console.log('\nOn host A, through one service:');
  await ping(VM1, VM2, VM2.ip4);
  await ping(VM1, VM2, VM2.ip6);
  live();
  console.log('\nFrom host A to host B, through both services and the underlay router:');
  // until both services know the router's MAC (from its Neighbor Solicitations, or their own probes)
  await waitFor('vm1 to reach vm3', async () => (await nsExec(VM1.ns, ['ping', '-c', '1', '-W', '1', VM3.ip4])).code === 0, 20000, 500)
    .catch(() => undefined);
  const forwarded0 = await routerForwarded(u);
  await ping(VM1, VM3, VM3.ip4);
  await ping(VM1, VM3, VM3.ip6);
  const forwarded = await routerForwarded(u) - forwarded0;
  live();
  console.log(`  ${VM1.name} (host A) -> ${VM3.name} (host B): tunnelled IPv4-in-IPv6 and IPv6-in-IPv6 ${VM1.underlay} -> ${VM3.underlay}`
    + `\n  (replies the other way); the router ${u.routerNs} forwarded ${forwarded} underlay packets`);

  // vm2 gets a NAT on host A, whose VNI gets default routes to the internet gateway
  const [nat] = await grpcCalls(A, [['CreateNat', {
    interface_id: Buffer.from(VM2.name), nat_ip: ipMsg(NAT_IP), min_port: 1000, max_port: 2000,
  }], ...['0.0.0.0', '::'].map((p): [string, object] => ['CreateRoute', {
    vni: VNI, route: { prefix: { ip: ipMsg(p), length: 0 }, nexthop_vni: 0, nexthop_address: ipMsg(INTERNET_UL) },
  }])]);
  live();
  const natUnderlay = canonicalIpv6(Buffer.from(nat!['underlay_route'] as Uint8Array).toString());
  internet = await Internet.start(u, `${UNDERLAY}inet`, PUBLIC_SERVER, [[NAT_IP, natUnderlay]]);
  console.log(`\nTo the internet (${PUBLIC_SERVER} in ${u.routerNs}), through ${VM2.name}'s NAT ${NAT_IP} ports 1000-1999 on host A`
    + ` (underlay ${natUnderlay}; default routes via ${INTERNET_UL}):`);
  await ping(VM2, 'internet', PUBLIC_SERVER);
  await ping(VM2, 'internet (NAT64)', '64:ff9b::2d56:606');
  const seen = internet.output().split('\n').find((l) => l.startsWith('in '));
  live();
  console.log(`  the internet sees ${seen?.split(' ')[1] ?? 'nothing'}, never ${VM2.ip4}`);

  // the virtual service: its server on an address of the router namespace
  await nsExec(u.routerNs, ['ip', '-6', 'addr', 'add', `${VIRTSVC.service}/128`, 'dev', 'lo']);
  await nsExec(u.routerNs, ['ip', 'link', 'set', 'lo', 'up']);
  // ip execs the command, so the server is the demo's child: --pdeathsig stops it with the demo
  const deathsig = existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', '--pdeathsig', 'SIGTERM'] : [];
  virtsvcServer = spawn('ip', ['netns', 'exec', u.routerNs, ...deathsig, 'python3', '-c', VIRTSVC_SERVER], { stdio: 'ignore' });
  await waitFor('the virtual service\'s server', async () => (await nsExec(u.routerNs, ['ss', '-lnuH'])).stdout.includes(`:${VIRTSVC.servicePort}`),
    5000, 50).catch(() => undefined);
  live();
  console.log(`\nA virtual service: ${VIRTSVC.virtual}:${VIRTSVC.port} (UDP) for the VMs, [${VIRTSVC.service}]:${VIRTSVC.servicePort} in ${u.routerNs}:`);
  for (const v of [VM1, VM3]) {
    const r = await waitFor('the virtual service', async () => {
      const x = await nsExec(v.ns, ['sh', '-c', `echo hello | timeout 3 nc -u -w 1 ${VIRTSVC.virtual} ${VIRTSVC.port}`], 10000);
      return x.stdout.includes('answer') ? x.stdout.trim() : undefined;
    }, 10000, 500).catch(() => '');
    live();
    const what = `${v.name} -> ${VIRTSVC.virtual}:${VIRTSVC.port}`;
    console.log(`  ${what.padEnd(46)} ${r ? 'ok    ' : 'FAILED'} ${r || 'no answer'}`);
    if (!r) failures.push(what);
  }
  console.log(`  (the service sees host ${A.name}'s and host ${B.name}'s underlay addresses for the service, never a VM's)`);

  if (NO_WAIT) {
    await shutdown();
    if (failures.length > 0) throw new Error(`failed: ${failures.join('; ')}`);
    return;
  }
  console.log(`\nThe VMs are network namespaces; try:\n  ip netns exec ${VM1.ns} ping ${VM3.ip4}\n  ip netns exec ${VM3.ns} ping ${VM2.ip6}`
    + `\n  ip netns exec ${VM2.ns} ping ${PUBLIC_SERVER}     (through the NAT)`
    + `\n  echo hi | ip netns exec ${VM3.ns} nc -u -w 1 ${VIRTSVC.virtual} ${VIRTSVC.port}     (the virtual service)`
    + `\n  ip netns exec ${u.routerNs} tcpdump -ni ${u.routerVeth} ip6     (the tunnelled packets)`
    + `\n  bin/dpservice-cli --address=localhost:${B.grpc} list routes --vni=${VNI}`
    + `\n  curl -s localhost:${A.metrics}/metrics | grep dps_\nCtrl-C stops both services and removes the VMs and the underlay.`);
}

/**
 * Stops everything and exits with `code`; once. main may still be creating something (a
 * namespace, a route) while the services stop: it fails soon after, and then everything is
 * removed once more.
 */
function abort(code: number): void {
  if (aborting) return;
  aborting = true;
  void shutdown()
    .then(() => Promise.race([running, sleep(10000)]))
    .then(cleanup)
    .then(() => process.exit(code));
}

/** The first signal stops everything; more are ignored while that runs (it is bounded in time). */
function onSignal(): void {
  if (!aborting) console.log('\nstopping...');
  abort(0);
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('SIGHUP', onSignal);

const running = main().then(() => {
  if (NO_WAIT) process.exit(0);
}, async (e: Error) => {
  if (aborting) return;
  console.error(`demo failed: ${e.message}`);
  await shutdown();
  process.exit(1);
});
