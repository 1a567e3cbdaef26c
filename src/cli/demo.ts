/**
 * The demo topology: starts dpservice-bin on TAP ports, puts two VMs (network namespaces) behind
 * its VF ports, configures them over gRPC, lets them get their addresses from real DHCPv4 and
 * DHCPv6 clients, prints what they got and shows them talking through the service. Runs until
 * Ctrl-C, then removes everything it created.
 *
 *   node dist/src/cli/demo.js [--lcores 0,1] [--grpc-port 1337] [--no-wait]
 */
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { dpClient } from './grpc-client.js';
import { moveToNs, nsCreate, nsDelete, nsExec, parseLease, portOpen, removeLinks, ROOT, waitFor } from './host-tools.js';

const VMS = [
  { name: 'vm1', ns: 'dps-vm1', vdev: 'net_tap2', iface: 'dpsvf0', mac: '66:66:66:66:66:00', ip4: '10.100.1.1', ip6: '2000:100:1::1' },
  { name: 'vm2', ns: 'dps-vm2', vdev: 'net_tap3', iface: 'dpsvf1', mac: '66:66:66:66:66:01', ip4: '10.100.1.2', ip6: '2000:100:1::2' },
];
const PF0 = { vdev: 'net_tap0', iface: 'dpspf0', mac: '22:22:22:22:22:00' };
const PF1 = { vdev: 'net_tap1', iface: 'dpspf1', mac: '22:22:22:22:22:01' };
const HOOK = resolve(ROOT, 'bin/dhclient-hook');
const LOG = '/tmp/dpservice-demo.log';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] ?? def : def;
}

async function cleanup(): Promise<void> {
  for (const vm of VMS) await nsDelete(vm.ns);
  await removeLinks([PF0.iface, PF1.iface, ...VMS.map((v) => v.iface)]);
}

async function main(): Promise<void> {
  const grpcPort = Number(arg('--grpc-port', '1337'));
  const lcores = arg('--lcores', '0,1');
  await cleanup();
  if (await portOpen(grpcPort)) throw new Error(`port ${grpcPort} is in use: is another dpservice running?`);

  const vdev = (t: { vdev: string; iface: string; mac: string }): string => `--vdev=${t.vdev},iface=${t.iface},mac=${t.mac}`;
  const args = ['-l', lcores, '--no-huge', '-m', '1024', '--no-pci', '--file-prefix=dpsdemo', vdev(PF0), vdev(PF1), ...VMS.map(vdev), '--',
    `--pf0=${PF0.iface}`, `--pf1=${PF1.iface}`, '--vf-pattern=dpsvf', '--ipv6=fc00:1::1', '--enable-ipv6-overlay', '--nic-type=tap', '--no-offload',
    '--dhcp-mtu=1450', '--dhcp-dns=192.0.2.53', '--dhcpv6-dns=2001:db8::53', `--grpc-port=${grpcPort}`, '--metrics-port=9064'];
  const log = createWriteStream(LOG);
  const svc = spawn(resolve(ROOT, 'bin/dpservice-bin'), args, { env: { DP_CONF: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  svc.stdout.pipe(log);
  svc.stderr.pipe(log);
  let exited = false;
  svc.once('exit', () => { exited = true; });
  const stop = async (): Promise<void> => {
    if (!exited) {
      svc.kill('SIGTERM');
      await waitFor('the service to stop', () => exited, 15000).catch(() => svc.kill('SIGKILL'));
    }
    await cleanup();
  };
  process.once('SIGINT', () => { void stop().then(() => process.exit(0)); });
  process.once('SIGTERM', () => { void stop().then(() => process.exit(0)); });

  console.log(`starting dpservice-bin ${args.join(' ')}\n  (log: ${LOG})`);
  await waitFor('the gRPC port', async () => {
    if (exited) throw new Error(`dpservice-bin exited; see ${LOG}:\n${readFileSync(LOG, 'utf8').slice(-3000)}`);
    return portOpen(grpcPort);
  }, 30000);

  const c = dpClient(`127.0.0.1:${grpcPort}`);
  await c.call('Initialize');
  for (const vm of VMS) {
    const r = await c.call('CreateInterface', {
      interface_id: Buffer.from(vm.name), vni: 100, device_name: vm.vdev, hostname: `${vm.name}-host`,
      ipv4_config: { ip_version: 'IPV4', primary_address: Buffer.from(vm.ip4) },
      ipv6_config: { ip_version: 'IPV6', primary_address: Buffer.from(vm.ip6) },
    });
    if (r.status.code !== 0) throw new Error(`CreateInterface ${vm.name}: ${r.status.code} ${r.status.message}`);
    console.log(`interface ${vm.name} on ${vm.vdev}: underlay ${Buffer.from(r.underlay_route).toString()}`);
  }
  c.close();

  for (const vm of VMS) {
    await nsCreate(vm.ns);
    await moveToNs(vm.iface, vm.ns);
  }
  console.log('\nVM   namespace  interface  IPv4 (DHCP)      MTU   DNS            hostname   IPv6 (DHCPv6)');
  for (const vm of VMS) {
    const out4 = `/tmp/${vm.ns}.demo4`;
    const out6 = `/tmp/${vm.ns}.demo6`;
    rmSync(out4, { force: true });
    rmSync(out6, { force: true });
    const d4 = await nsExec(vm.ns, ['dhclient', '-4', '-1', '-sf', HOOK, '-e', `DPS_LEASE_OUT=${out4}`, '-lf', `/tmp/${vm.ns}.l4`,
      '-pf', `/tmp/${vm.ns}.p4`, vm.iface], 30000);
    if (d4.code !== 0) throw new Error(`dhclient in ${vm.ns} failed: ${d4.stderr}`);
    await waitFor('a link-local address', async () => {
      const a = await nsExec(vm.ns, ['ip', '-6', 'addr', 'show', 'dev', vm.iface, 'scope', 'link']);
      return a.stdout.includes('fe80') && !a.stdout.includes('tentative');
    }, 10000);
    const d6 = await nsExec(vm.ns, ['dhclient', '-6', '-1', '-sf', HOOK, '-e', `DPS_LEASE_OUT=${out6}`, '-lf', `/tmp/${vm.ns}.l6`,
      '-pf', `/tmp/${vm.ns}.p6`, vm.iface], 30000);
    if (d6.code !== 0) throw new Error(`dhclient -6 in ${vm.ns} failed: ${d6.stderr}`);
    const l4 = parseLease(readFileSync(out4, 'utf8'));
    const l6 = parseLease(readFileSync(out6, 'utf8'));
    console.log(`${vm.name.padEnd(4)} ${vm.ns.padEnd(10)} ${vm.iface.padEnd(10)} ${(l4['new_ip_address'] ?? '-').padEnd(16)} `
      + `${(l4['new_interface_mtu'] ?? '-').padEnd(5)} ${(l4['new_domain_name_servers'] ?? '-').padEnd(14)} `
      + `${(l4['new_host_name'] ?? '-').padEnd(10)} ${l6['new_ip6_address'] ?? '-'}`);
  }
  const [a, b] = VMS as [typeof VMS[0], typeof VMS[0]];
  const ping = await nsExec(a.ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', b.ip4]);
  console.log(`\n${a.name} -> ${b.name}: ping ${b.ip4}: ${ping.code === 0 ? 'ok' : 'FAILED'}`);
  console.log(ping.stdout.split('\n').filter((l) => l.includes('packets transmitted')).join('\n'));
  if (process.argv.includes('--no-wait')) {
    await stop();
    return;
  }
  console.log(`\nThe VMs are network namespaces; try:\n  ip netns exec ${a.ns} ping ${b.ip4}\n  ip netns exec ${a.ns} ip addr`
    + `\n  curl -s localhost:9064/metrics | grep dps_\nCtrl-C stops the service and removes the VMs.`);
}

main().catch(async (e: Error) => {
  console.error(`demo failed: ${e.message}`);
  await cleanup();
  process.exit(1);
});
