/**
 * Two VMs (network namespaces) behind VF TAP ports of a real service get their IPv4 address, MTU,
 * DNS and hostname from a real DHCPv4 client, their IPv6 address from a real DHCPv6 client, and
 * resolve the gateway by ARP (arping) and ND (ndisc6). Deleting an interface over gRPC stops the
 * service from answering on that port.
 */
import test from 'ava';
import { readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  dpClient, moveToNs, nsCreate, nsDelete, nsExec, parseLease, removeLinks, ROOT, type Service, startService, tapTopology, waitFor,
} from './harness.js';

const P = 'dlp';
const NS1 = `${P}-vm1`;
const NS2 = `${P}-vm2`;
const { PF0, PF1, VF0, VF1 } = tapTopology(P);
const GRPC = 21441;
const HOOK = resolve(ROOT, 'bin/dhclient-hook');

let svc: Service | undefined;

async function cleanup(): Promise<void> {
  await nsDelete(NS1);
  await nsDelete(NS2);
  await svc?.stop();
  await removeLinks([PF0.iface, PF1.iface, VF0.iface, VF1.iface]);
}

test.before(async () => {
  await cleanup();
  for (const ns of [NS1, NS2]) for (const f of ['leases4', 'leases6', 'leases4b']) rmSync(`/tmp/${ns}.${f}`, { force: true });
  svc = await startService({
    lcores: '0,1', pf0: PF0, pf1: PF1, vfs: [VF0, VF1], vfPattern: `${P}vf`, grpcPort: GRPC, filePrefix: `${P}${process.pid}`,
  });
  const c = dpClient(`127.0.0.1:${GRPC}`);
  await c.call('Initialize');
  const mk = (id: string, dev: string, ip4: string, ip6: string, hostname: string) => c.call('CreateInterface', {
    interface_id: Buffer.from(id), vni: 100, device_name: dev, hostname,
    ipv4_config: { ip_version: 'IPV4', primary_address: Buffer.from(ip4) },
    ipv6_config: { ip_version: 'IPV6', primary_address: Buffer.from(ip6) },
  });
  const r1 = await mk('vm1', 'net_tap2', '10.100.1.1', '2000:100:1::1', 'vm1-host');
  const r2 = await mk('vm2', 'net_tap3', '10.100.1.2', '2000:100:1::2', 'vm2-host');
  if (r1.status.code !== 0 || r2.status.code !== 0) throw new Error(`CreateInterface failed: ${JSON.stringify([r1.status, r2.status])}`);
  c.close();
  await nsCreate(NS1);
  await nsCreate(NS2);
  await moveToNs(VF0.iface, NS1);
  await moveToNs(VF1.iface, NS2);
});

test.after.always(cleanup);

async function dhcp4(ns: string, iface: string): Promise<Record<string, string>> {
  const out = `/tmp/${ns}.lease4`;
  rmSync(out, { force: true });
  const r = await nsExec(ns, ['dhclient', '-4', '-1', '-v', '-sf', HOOK, '-e', `DPS_LEASE_OUT=${out}`,
    '-lf', `/tmp/${ns}.leases4`, '-pf', `/tmp/${ns}.dhclient4.pid`, iface], 30000);
  if (r.code !== 0) throw new Error(`dhclient failed: ${r.stderr}`);
  return parseLease(readFileSync(out, 'utf8'));
}

async function dhcp6(ns: string, iface: string): Promise<Record<string, string>> {
  const out = `/tmp/${ns}.lease6`;
  rmSync(out, { force: true });
  // DHCPv6 needs the link-local address to be usable (DAD done)
  await waitFor('a link-local address', async () => {
    const a = await nsExec(ns, ['ip', '-6', 'addr', 'show', 'dev', iface, 'scope', 'link']);
    return a.stdout.includes('fe80') && !a.stdout.includes('tentative');
  }, 10000);
  const r = await nsExec(ns, ['dhclient', '-6', '-1', '-v', '-sf', HOOK, '-e', `DPS_LEASE_OUT=${out}`,
    '-lf', `/tmp/${ns}.leases6`, '-pf', `/tmp/${ns}.dhclient6.pid`, iface], 30000);
  if (r.code !== 0) throw new Error(`dhclient -6 failed: ${r.stderr}`);
  return parseLease(readFileSync(out, 'utf8'));
}

test.serial('a DHCPv4 client gets the interface address, MTU, DNS servers, hostname and routes', async (t) => {
  const l1 = await dhcp4(NS1, VF0.iface);
  t.is(l1['new_ip_address'], '10.100.1.1');
  t.is(l1['new_interface_mtu'], '1337');
  t.is(l1['new_domain_name_servers'], '8.8.4.4 8.8.8.8');
  t.is(l1['new_host_name'], 'vm1-host');
  // upstream routes by option 121 only: 169.254.0.0/16 on-link, default via 169.254.0.1
  t.is(l1['new_rfc3442_classless_static_routes'], '16 169 254 0 0 0 0 0 169 254 0 1');
  const routes = await nsExec(NS1, ['ip', 'route', 'show', 'default']);
  t.regex(routes.stdout, /default via 169\.254\.0\.1/);
  const l2 = await dhcp4(NS2, VF1.iface);
  t.is(l2['new_ip_address'], '10.100.1.2');
  t.is(l2['new_host_name'], 'vm2-host');
  const mtu = await nsExec(NS1, ['cat', `/sys/class/net/${VF0.iface}/mtu`]);
  t.is(mtu.stdout.trim(), '1337');
});

test.serial('a DHCPv6 client gets the interface IPv6 address', async (t) => {
  const l1 = await dhcp6(NS1, VF0.iface);
  t.is(l1['new_ip6_address'], '2000:100:1::1');
  t.is(l1['new_dhcp6_name_servers'], '2001:4860:4860::6464 2002:4861:4861::6464');
  const l2 = await dhcp6(NS2, VF1.iface);
  t.is(l2['new_ip6_address'], '2000:100:1::2');
});

test.serial('a rebooted VM confirms its DHCPv6 lease at once', async (t) => {
  // stop the client that holds the lease (-x: no RELEASE), then start it again: it sends CONFIRM
  await nsExec(NS1, ['dhclient', '-6', '-x', '-pf', `/tmp/${NS1}.dhclient6.pid`, VF0.iface]);
  const t0 = Date.now();
  const l = await dhcp6(NS1, VF0.iface);
  t.regex(l['reason'] ?? '', /^(REBOOT6|BOUND6)$/);
  t.is(l['new_ip6_address'], '2000:100:1::1');
  t.true(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
});

test.serial('the gateway resolves by ARP and by ND to the port MAC', async (t) => {
  const arp = await nsExec(NS1, ['arping', '-c', '2', '-w', '5', '-I', VF0.iface, '169.254.0.1']);
  t.is(arp.code, 0, arp.stdout + arp.stderr);
  t.regex(arp.stdout.toLowerCase(), new RegExp(VF0.mac));
  const nd = await nsExec(NS1, ['ndisc6', '-1', '-r', '3', 'fe80::1', VF0.iface]);
  t.is(nd.code, 0, nd.stdout + nd.stderr);
  t.regex(nd.stdout.toLowerCase(), new RegExp(VF0.mac));
});

test.serial('VMs in the same VNI on one host reach each other through the service', async (t) => {
  const p4 = await nsExec(NS1, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.100.1.2']);
  t.is(p4.code, 0, p4.stdout + p4.stderr);
});

test.serial('after DeleteInterface the service no longer answers on that port', async (t) => {
  const c = dpClient(`127.0.0.1:${GRPC}`);
  const r = await c.call('DeleteInterface', { interface_id: Buffer.from('vm2') });
  c.close();
  t.is(r.status.code, 0);
  const arp = await nsExec(NS2, ['arping', '-c', '2', '-w', '3', '-I', VF1.iface, '169.254.0.1']);
  t.not(arp.code, 0, 'ARP still answered after delete');
  const dh = await nsExec(NS2, ['dhclient', '-4', '-1', '-sf', HOOK, '-lf', `/tmp/${NS2}.leases4b`, '-pf', `/tmp/${NS2}.pidb`,
    '-timeout', '4', VF1.iface], 20000);
  t.not(dh.code, 0, 'DHCP still answered after delete');
  // the other VM is unaffected
  const still = await nsExec(NS1, ['arping', '-c', '1', '-w', '3', '-I', VF0.iface, '169.254.0.1']);
  t.is(still.code, 0);
  t.true(svc!.running);
});
