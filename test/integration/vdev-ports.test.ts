/**
 * Ports without a kernel interface (net_null, net_ring) are found by their DPDK device name, work
 * without RSS, link-state interrupts or packet-type parsing, and a flood of garbage frames on an
 * uplink is dropped with reason counters while the service keeps answering gRPC. DPDK telemetry
 * stays on.
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
  const tel = await tryRun('python3', ['-c', [
    'import socket,json,sys',
    's=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET)',
    `s.connect("/var/run/dpdk/${PREFIX}/dpdk_telemetry.v2")`,
    's.recv(4096)',
    's.send(b"/ethdev/list")',
    'print(json.loads(s.recv(4096))["/ethdev/list"])',
  ].join('\n')]);
  t.is(tel.code, 0, tel.stderr);
  t.is(tel.stdout.trim(), '[0, 1, 2]');

  proc.kill('SIGTERM');
  t.is(await exited, 0, log.slice(-2000));
});
