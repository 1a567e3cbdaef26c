/**
 * The NAT gateway with real clients: a VM (a namespace behind a TAP port, one worker) whose
 * interface has a NAT reaches a public server behind the underlay router, by ping, TCP and UDP, over
 * IPv4 and over NAT64 from IPv6, and the server sees the NAT address and a port of the NAT's range.
 * The router namespace is the internet (Internet in underlay-net.ts): it owns the default route's
 * underlay address, and bin/inet-gateway (user space: this kernel has no ip6tnl) decapsulates the
 * service's IPv4-in-IPv6 into a TUN device where the namespace's IPv4 stack answers, and tunnels
 * the answers back to the NAT's underlay address. Then DeleteNat: the NAT's flows are flushed, its ports given back, and
 * the VM's packets no longer leave from the NAT address.
 */
import test, { type ExecutionContext } from 'ava';
import { grpcCaller, nsExec, type Service, type TapSpec, udpSendScript, waitFor } from './harness.js';
import {
  Internet, INTERNET_UL, ncExchange, type OneVmHost, startOneVmHost, stopOneVmHost, type Underlay,
} from './underlay.js';

const P = 'nt';
const VM_MTU = 1400;
const GRPC = 21491;
const METRICS = 21493;
const HOST_UL = 'fc00:c::1';
/** A public server in the router namespace (the internet, see Internet in underlay-net.ts). */
const SERVER = '45.86.6.6';
const SERVER64 = '64:ff9b::2d56:606';
const NAT_IP = '45.0.0.9';
const NAT_MIN = 1000;
const NAT_MAX = 1100;
/** Short, so that the test sees NAT ports come back (upstream's test builds take 1 s). */
const FLOW_TIMEOUT_S = 4;
const PF0: TapSpec = { vdev: 'net_tap0', iface: `${P}pf0`, mac: '22:22:22:22:c0:00' };
const PF1: TapSpec = { vdev: 'net_tap1', iface: `${P}pf1`, mac: '22:22:22:22:c0:01' };
const VF0: TapSpec = { vdev: 'net_tap2', iface: `${P}vf0`, mac: '66:66:66:66:c0:00' };
const VM = { id: 'vm1', ns: `${P}-vm1`, ipv4: '10.0.0.1', ipv6: 'fd10::1' };
const TUN = `${P}inet`;

let underlay: Underlay | undefined;
let service: Service | undefined;
let gateway: Internet | undefined;
let natUnderlay = '';

const HOST: OneVmHost = {
  prefix: P, subnet: 'fc00:c::/64', hostIpv6: HOST_UL, grpc: GRPC, metrics: METRICS, pf0: PF0, pf1: PF1, vf0: VF0,
  bridgePortMac: '02:00:00:00:c0:00', vm: VM, vmMtu: VM_MTU, extra: [`--flow-timeout=${FLOW_TIMEOUT_S}`],
};

async function cleanup(): Promise<void> {
  gateway?.stop();
  gateway = undefined;
  await stopOneVmHost(HOST, service);
  service = undefined;
}

function ipMsg(a: string): object {
  return { ipver: a.includes(':') ? 'IPV6' : 'IPV4', address: Buffer.from(a) };
}

const call = grpcCaller(GRPC);

/** A counter of /metrics: the value of the line with this name and labels, 0 if there is none. */
async function metric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${METRICS}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The value of dps_nat_used_ports_count for the VM's interface. */
async function natPortsInUse(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${METRICS}/metrics`)).text();
  const m = new RegExp(`^dps_nat_used_ports_count\\{interface_id="${VM.id}"\\} (\\d+)$`, 'm').exec(text);
  if (!m) throw new Error('no dps_nat_used_ports_count for vm1');
  return Number(m[1]);
}

test.before(async () => {
  await cleanup();
  const host = await startOneVmHost(HOST);
  underlay = host.underlay;
  service = host.service;
  const rt = underlay.routerNs;
  const nat = await call('CreateNat', { interface_id: Buffer.from(VM.id), nat_ip: ipMsg(NAT_IP), min_port: NAT_MIN, max_port: NAT_MAX });
  natUnderlay = Buffer.from(nat.underlay_route as Uint8Array).toString();
  for (const prefix of ['0.0.0.0', '::']) {
    await call('CreateRoute', {
      vni: 100, route: { prefix: { ip: ipMsg(prefix), length: 0 }, nexthop_vni: 0, nexthop_address: ipMsg(INTERNET_UL) },
    });
  }
  gateway = await Internet.start(underlay, TUN, SERVER, [[NAT_IP, natUnderlay]]);
  // the router resolves the service's underlay addresses (and the service learns its MAC)
  await nsExec(rt, ['ping', '-6', '-c', '1', '-W', '1', host.vmUnderlay]);
});

test.after.always(cleanup);

async function diagnose(t: ExecutionContext): Promise<void> {
  t.log(`gateway: ${gateway?.output().split('\n').slice(-20).join('\n') ?? ''}`);
  const metrics = await (await fetch(`http://127.0.0.1:${METRICS}/metrics`)).text().catch(() => '');
  t.log(metrics.split('\n').filter((l) => /^dps_(drop_packets_total|worker_stat|nat_used)/.test(l) && !l.endsWith(' 0')).join('\n'));
  t.log(`service log tail:\n${service?.log().slice(-3000) ?? '(not running)'}`);
}

async function ping(to: string, count: number): Promise<{ code: number; out: string }> {
  const r = await nsExec(VM.ns, ['ping', to.includes(':') ? '-6' : '-4', '-c', String(count), '-i', '0.2', '-W', '2', to], 30000);
  return { code: r.code, out: r.stdout + r.stderr };
}

/**
 * A TCP or UDP exchange with a server in the router namespace: returns what the server printed
 * (the peer it saw, see ncExchange) and what the client received back.
 */
function exchange(proto: 'tcp' | 'udp', to: string, port: number): Promise<{ server: string; client: string }> {
  return ncExchange(underlay!.routerNs, SERVER, port, VM.ns, proto, to, port);
}

/** exchange(), with the service's drop counters and worker stats in the log if the client got no answer. */
async function exchangeLogged(t: ExecutionContext, proto: 'tcp' | 'udp', to: string, port: number): Promise<{ server: string; client: string }> {
  const r = await exchange(proto, to, port);
  if (!r.client.includes('pong')) {
    t.log(`${proto} to ${to} port ${port}: no answer (server: ${r.server.trim()})`);
    await diagnose(t);
  }
  return r;
}

test.serial('a VM with a NAT pings a public server, which sees the NAT address', async (t) => {
  const r = await ping(SERVER, 5);
  if (r.code !== 0) await diagnose(t);
  t.is(r.code, 0, r.out);
  t.regex(r.out, /5 received/);
  const seen = gateway!.output();
  t.regex(seen, new RegExp(`in ${NAT_IP.replace(/\./g, '\\.')} ${SERVER.replace(/\./g, '\\.')}`), 'requests from the NAT address');
  t.notRegex(seen, new RegExp(`in ${VM.ipv4.replace(/\./g, '\\.')} `), 'never from the VM\'s own address');
});

test.serial('TCP and UDP through the NAT: the server sees the NAT address and a port of the NAT\'s range', async (t) => {
  for (const [proto, port] of [['tcp', 8080], ['udp', 5353]] as const) {
    const r = await exchangeLogged(t, proto, SERVER, port);
    t.true(r.client.includes('pong'), `${proto}: the answer came back (${r.client})`);
    const m = /(?:from|received on) \[?([\d.]+)\]? (\d+)/.exec(r.server) ?? /([\d.]+)\D+(\d+)\D*$/m.exec(r.server);
    t.truthy(m, `${proto}: server output ${r.server}`);
    t.is(m?.[1], NAT_IP, `${proto}: from the NAT address`);
    const p = Number(m?.[2]);
    t.true(p >= NAT_MIN && p < NAT_MAX, `${proto}: from NAT port ${p}`);
    t.log(`${proto}: the server saw ${m?.[1]}:${p}`);
  }
  t.true(await natPortsInUse() > 0, 'dps_nat_used_ports_count counts the flows holding NAT ports');
});

test.serial('NAT64: the VM reaches the same server at 64:ff9b::/96 over IPv6, by ping and TCP', async (t) => {
  const r = await ping(SERVER64, 3);
  if (r.code !== 0) await diagnose(t);
  t.is(r.code, 0, r.out);
  const x = await exchangeLogged(t, 'tcp', SERVER64, 8081);
  t.true(x.client.includes('pong'), `the answer came back over NAT64 (${x.client})`);
  t.regex(x.server, new RegExp(NAT_IP.replace(/\./g, '\\.')), 'from the NAT address');
});

test.serial('the NAT\'s range runs out toward one remote end, and its ports come back as the flows age', async (t) => {
  // 150 UDP flows from as many source ports to one server port: the range has 100 ports
  const full0 = await metric('dps_drop_packets_total', 'reason="nat_ports_full"');
  const r = await nsExec(VM.ns, ['sh', '-c', udpSendScript('$(seq 30000 30149)', SERVER, 7777)], 60000);
  t.is(r.code, 0, r.stderr);
  const used = await natPortsInUse();
  const full = await metric('dps_drop_packets_total', 'reason="nat_ports_full"') - full0;
  t.log(`${used} NAT ports in use, ${full} packets dropped as nat_ports_full`);
  t.true(used >= NAT_MAX - NAT_MIN, 'every port of the range is taken toward the server\'s port');
  // the rest is dropped with its reason (fewer if a datagram got lost on the way in)
  t.true(full > 0 && full <= 150 - (NAT_MAX - NAT_MIN), `${full} dropped as nat_ports_full`);
  const t0 = Date.now();
  await waitFor('the NAT ports to come back', async () => ((await natPortsInUse()) === 0 ? true : undefined), (FLOW_TIMEOUT_S + 4) * 1000);
  t.log(`all NAT ports free ${((Date.now() - t0) / 1000).toFixed(1)} s later (--flow-timeout=${FLOW_TIMEOUT_S})`);
  // and a new flow gets one again
  const again = await exchangeLogged(t, 'udp', SERVER, 5354);
  t.true(again.client.includes('pong'), again.client);
});

test.serial('DeleteNat: the NAT\'s flows go and give their ports back, and nothing leaves from the NAT address any more', async (t) => {
  await call('DeleteNat', { interface_id: Buffer.from(VM.id) });
  t.is(await natPortsInUse(), 0);
  const before = gateway!.output().length;
  const r = await ping(SERVER, 2);
  t.not(r.code, 0, 'no answer: the VM\'s own address is not routed back to it');
  const after = gateway!.output().slice(before);
  t.regex(after, new RegExp(`in ${VM.ipv4.replace(/\./g, '\\.')} `), 'the requests leave untranslated');
  t.notRegex(after, new RegExp(`in ${NAT_IP.replace(/\./g, '\\.')} `));
});
