/**
 * Virtual services with real clients: a VM (a namespace behind a TAP port) talks UDP and TCP to a
 * virtual IPv4 address and port (169.254.169.254) with nc, and the service (a server in the
 * underlay router's namespace, on an IPv6 address there, see ncExchange) sees plain IPv6 from the service's underlay address, in
 * this host's /64, and a port from 1025 on; the answers come back to the VM from the virtual
 * address. /metrics counts the ports in use per service.
 */
import test, { type ExecutionContext } from 'ava';
import { nsExec, type Service, tapTopology } from './harness.js';
import { ncExchange, type OneVmHost, startOneVmHost, stopOneVmHost, type Underlay } from './underlay.js';

const P = 'vs';
const GRPC = 21591;
const METRICS = 21593;
const HOST_UL = 'fc00:e::1';
const VIRTUAL = '169.254.169.254';
/** The services' addresses in the router namespace, and their underlay addresses (upstream's layout: index 0 UDP, 1 TCP). */
const UDP_SVC = 'fd99::53';
const TCP_SVC = 'fd99::80';
const UDP_UL = 'fc00:e::d0ff:4000:0:0';
const TCP_UL = 'fc00:e::d0ff:4000:100:0';
const { PF0, PF1, VF0 } = tapTopology(P);
const VM = { id: 'vm1', ns: `${P}-vm1`, ipv4: '10.0.0.1', ipv6: 'fd10::1' };

let underlay: Underlay | undefined;
let service: Service | undefined;

const HOST: OneVmHost = {
  prefix: P, subnet: 'fc00:e::/64', hostIpv6: HOST_UL, grpc: GRPC, metrics: METRICS, pf0: PF0, pf1: PF1, vf0: VF0,
  bridgePortMac: '02:00:00:00:e0:00', vm: VM, vmMtu: 1400,
  extra: [`--udp-virtsvc=${VIRTUAL},53,${UDP_SVC},5353`, `--tcp-virtsvc=${VIRTUAL},80,${TCP_SVC},8080`],
};

async function cleanup(): Promise<void> {
  await stopOneVmHost(HOST, service);
  service = undefined;
}

async function metricsText(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${METRICS}/metrics`)).text();
}

test.before(async () => {
  await cleanup();
  const host = await startOneVmHost(HOST);
  underlay = host.underlay;
  service = host.service;
  const rt = underlay.routerNs;
  for (const a of [UDP_SVC, TCP_SVC]) await nsExec(rt, ['ip', '-6', 'addr', 'add', `${a}/128`, 'dev', 'lo']);
  await nsExec(rt, ['ip', 'link', 'set', 'lo', 'up']);
  // the service learns the router's MAC (from its neighbour solicitation) before the first packet
  // leaves for it; the service's own probe at start went out before its port joined the underlay
  await nsExec(rt, ['ping', '-6', '-c', '1', '-W', '1', host.vmUnderlay]);
});

test.after.always(cleanup);

/**
 * An exchange with the service at `svc`:`svcPort` (in the router namespace) by the VM's client
 * to the virtual address and `port`: what the server printed (the peer it saw) and what the client
 * received.
 */
function exchange(proto: 'tcp' | 'udp', svc: string, svcPort: number, port: number): Promise<{ server: string; client: string }> {
  return ncExchange(underlay!.routerNs, svc, svcPort, VM.ns, proto, VIRTUAL, port);
}

async function diagnose(t: ExecutionContext): Promise<void> {
  const metrics = await metricsText().catch(() => '');
  t.log(metrics.split('\n').filter((l) => /^dps_(drop_packets_total|worker_stat|virtsvc)/.test(l) && !l.endsWith(' 0')).join('\n'));
  t.log(`service log tail:\n${service?.log().slice(-3000) ?? '(not running)'}`);
}

test.serial('UDP and TCP to the virtual address reach the IPv6 service from its underlay address, and the answers come back', async (t) => {
  for (const [proto, svc, svcPort, port, ul] of [['udp', UDP_SVC, 5353, 53, UDP_UL], ['tcp', TCP_SVC, 8080, 80, TCP_UL]] as const) {
    const r = await exchange(proto, svc, svcPort, port);
    if (!r.client.includes('pong')) {
      t.log(`${proto}: no answer (server: ${r.server.trim()})`);
      await diagnose(t);
    }
    t.true(r.client.includes('pong'), `${proto}: the answer came back (${r.client})`);
    const m = /received on \[?([0-9a-f:]+)\]? (\d+)/.exec(r.server);
    t.truthy(m, `${proto}: server output ${r.server}`);
    t.is(m?.[1], ul, `${proto}: from the service's underlay address`);
    t.true(Number(m?.[2]) >= 1024, `${proto}: from port ${m?.[2]}`);
    t.log(`${proto}: the service saw [${m?.[1]}]:${m?.[2]}`);
  }
  const text = await metricsText();
  t.regex(text, /^dps_virtsvc_used_ports_count\{address="UDP:169\.254\.169\.254:53"\} [1-9]/m);
  t.regex(text, /^dps_virtsvc_used_ports_count\{address="TCP:169\.254\.169\.254:80"\} [1-9]/m);
});

test.serial('the next connection takes the next port', async (t) => {
  const ports: number[] = [];
  for (let i = 0; i < 2; i++) {
    const r = await exchange('udp', UDP_SVC, 5353, 53);
    t.true(r.client.includes('pong'), r.client);
    ports.push(Number(/received on \S+ (\d+)/.exec(r.server)?.[1]));
  }
  t.is(ports[1], ports[0]! + 1, `ports ${ports.join(', ')}`);
});
