/**
 * Ports without a kernel interface (net_null, net_ring) are found by their DPDK device name, work
 * without RSS, link-state interrupts or packet-type parsing, and a flood of garbage frames on an
 * uplink is dropped with reason counters while the service keeps answering gRPC. DPDK telemetry
 * stays on, with upstream's /dp_service/... commands.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { dpClient, portOpen, ROOT, tryRun, waitFor } from './harness.js';
import { resolve } from 'node:path';

const GRPC = 21451;
const METRICS = 21452;
const PREFIX = `dvd${process.pid}`;

test('net_null uplinks and net_ring VM ports run by device name; garbage is counted as drops', async (t) => {
  const args = ['-l', '0,1', '--no-huge', '-m', '512', '--no-pci', `--file-prefix=${PREFIX}`,
    '--vdev=net_null_pf0', '--vdev=net_null_pf1', '--vdev=net_ring_vf0', '--',
    '--pf0=net_null_pf0', '--pf1=net_null_pf1', '--vf-pattern=net_ring_vf', '--ipv6=fc00:1::1', '--nic-type=tap',
    `--grpc-port=${GRPC}`, `--metrics-port=${METRICS}`];
  const proc = spawn(resolve(ROOT, 'bin/dpservice-bin'), args, { env: { DP_CONF: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d: Buffer) => { log += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { log += d.toString(); });
  const exited = new Promise<number | null>((res) => proc.once('exit', res));
  t.teardown(() => { proc.kill('SIGKILL'); });
  await waitFor('the gRPC port', () => portOpen(GRPC), 20000);

  const c = dpClient(`127.0.0.1:${GRPC}`);
  t.is((await c.call('Initialize')).status.code, 0);
  const r = await c.call('CreateInterface', {
    interface_id: Buffer.from('vm1'), vni: 7, device_name: 'net_ring_vf0',
    ipv4_config: { primary_address: Buffer.from('10.7.0.1') }, ipv6_config: { primary_address: Buffer.from('::') },
  });
  t.is(r.status.code, 0, JSON.stringify(r.status));
  c.close();

  // net_null hands out frames of zeros at line rate: every one must be a counted drop
  const drops = await waitFor('drop counters', async () => {
    const text = await (await fetch(`http://127.0.0.1:${METRICS}/metrics`)).text();
    const m = /^dps_drop_packets_total\{reason="unsupported_ethertype"\} (\S+)$/m.exec(text);
    return m && Number(m[1]) > 1000 ? Number(m[1]) : undefined;
  }, 10000);
  t.log(`unsupported_ethertype drops: ${drops}`);
  t.regex(log, /device=net_null_pf0 ifname= role=pf0/);

  // DPDK telemetry answers on the process's socket (SOCK_SEQPACKET: python, node has no client)
  const telemetry = async (cmd: string): Promise<unknown> => {
    const tel = await tryRun('python3', ['-c', [
      'import socket,json,sys',
      's=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET)',
      `s.connect("/var/run/dpdk/${PREFIX}/dpdk_telemetry.v2")`,
      's.recv(16384)',
      `s.send(b"${cmd}")`,
      `print(json.dumps(json.loads(s.recv(65536))["${cmd.split(',')[0]}"]))`,
    ].join('\n')]);
    t.is(tel.code, 0, tel.stderr);
    return JSON.parse(tel.stdout) as unknown;
  };
  t.deepEqual(await telemetry('/ethdev/list'), [0, 1, 2]);

  // and upstream's own commands, under upstream's keys (which DPDK 22.11 refuses as given: see
  // the shim's tel_add)
  const objs = await telemetry('/dp_service/graph/obj_count') as Record<string, Record<string, number>>;
  const nodes = objs['Node_0_to_255']!;
  t.deepEqual(Object.keys(nodes).filter((n) => /^rx-\d+-0$/.test(n)).sort(), ['rx-0-0', 'rx-1-0', 'rx-2-0']);
  t.true(nodes['cls']! > 1000, `cls objects ${nodes['cls']}`);
  t.true(nodes['drop']! > 1000, `drop objects ${nodes['drop']}`);
  const tables = await telemetry('/dp_service/table/saturation') as Record<string, { capacity: number; entries: number }>;
  t.deepEqual(Object.keys(tables).sort(), ['conntrack_table', 'dnat_table', 'interface_table', 'loadbalancer_id_table',
    'loadbalancer_table', 'nat_portmap_table', 'nat_portoverload_table', 'reverse_vnf_table', 'snat_table', 'vnf_table', 'vni_table']);
  t.deepEqual(tables['interface_table'], { capacity: 1, entries: 1 });
  t.deepEqual(await telemetry('/dp_service/nat/used_port_count'), { vm1: 0 });
  t.deepEqual(await telemetry('/dp_service/firewall/rule_count'), { vm1: 0 });
  // a change shows at once: the snapshot is published before the RPC answers
  const c2 = dpClient(`127.0.0.1:${GRPC}`);
  const fw = await c2.call('CreateFirewallRule', {
    interface_id: Buffer.from('vm1'),
    rule: {
      id: Buffer.from('fw1'), direction: 0, action: 1, priority: 1000,
      source_prefix: { ip: { ipver: 0, address: Buffer.from('0.0.0.0') }, length: 0 },
      destination_prefix: { ip: { ipver: 0, address: Buffer.from('0.0.0.0') }, length: 0 },
      protocol_filter: { tcp: { src_port_lower: -1, src_port_upper: -1, dst_port_lower: -1, dst_port_upper: -1 } },
    },
  });
  t.is(fw.status.code, 0, JSON.stringify(fw.status));
  c2.close();
  t.deepEqual(await telemetry('/dp_service/firewall/rule_count'), { vm1: 1 });
  // what upstream's exporter reads from telemetry to make its dpdk_* metrics
  const xstats = await telemetry('/ethdev/xstats,2') as Record<string, number>;
  const heap = await telemetry('/eal/heap_info,0') as Record<string, unknown>;
  // the same numbers on /metrics, under upstream's exporter names
  const metrics = await (await fetch(`http://127.0.0.1:${METRICS}/metrics`)).text();
  // every extended stat of a port, sorted by its name as the exporter sorts them, by device name
  t.true(Object.keys(xstats).length > 4, JSON.stringify(xstats));
  for (const stat of Object.keys(xstats)) {
    const family = stat.includes('bytes') ? 'dpdk_ethdev_bytes_total' : stat.includes('packets') ? 'dpdk_ethdev_packets_total'
      : stat.includes('errors') ? 'dpdk_ethdev_errors_total' : 'dpdk_ethdev_misc';
    t.regex(metrics, new RegExp(`^${family}\\{name="net_ring_vf0",stat="${stat.replace(/[^\w]/g, '\\$&')}"\\} \\d+$`, 'm'), stat);
  }
  t.regex(metrics, /^dpdk_ethdev_link_status\{name="net_null_pf0"\} 1$/m);
  t.regex(metrics, new RegExp(`^dpdk_heap_info\\{node="[^"]+",info="Heap_size"\\} ${Number(heap['Heap_size'])}$`, 'm'));
  t.regex(metrics, /^dpdk_heap_info\{node="[^"]+",info="Alloc_count"\} \d+$/m);
  t.regex(metrics, /^dps_firewall_rules_count\{interface_id="vm1"\} 1$/m);
  t.regex(metrics, /^dps_nat_used_ports_count\{interface_id="vm1"\} 0$/m);
  t.regex(metrics, /^dps_hash_table_saturation\{table="interface_table",stat="entries"\} 1$/m);
  t.regex(metrics, /^dps_hash_table_saturation\{table="conntrack_table",stat="capacity"\} 1048576$/m);
  t.regex(metrics, /^dps_grpc_calls_total\{rpc="CreateFirewallRule",result="Success"\} 1$/m);
  t.regex(metrics, /^dps_table_sync_refused_total\{table="routes"\} 0$/m);

  proc.kill('SIGTERM');
  t.is(await exited, 0, log.slice(-2000));
});
