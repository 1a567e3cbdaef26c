/**
 * Packet-path throughput: rx, the graph (cls -> conntrack -> ipv4_lookup -> tx) and tx on net_ring
 * loopback vdevs, with 1 and 2 workers, next to dpdk-testpmd io forwarding on the same vdevs in
 * the same run. net_ring loops every tx queue back to the same rx queue, so a primed set of
 * packets circulates through the worker as fast as it can forward them; nothing leaves memory.
 *
 *   node dist/bench/forward.js [--seconds 5] [--workers 1,2] [--burst 32] [--packets 1024] [--no-testpmd]
 *
 * Prints one line per variant: total Mpps, Mpps per worker, ns per packet per worker.
 */
import { fork, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseServiceArgs } from '../src/config/options.js';
import { Dataplane } from '../src/actors/dataplane.js';
import { createLogger } from '../src/actors/logging.js';
import { DESC_DATA_OFF, DESC_MBUF, DESC_PORT, DESC_DATA_LEN, DESC_WORDS } from '../src/ffi/dpdk.js';
import { WS_TX } from '../src/workers/worker-data.js';

interface Args { seconds: number; workers: number[]; burst: number; packets: number; testpmd: boolean; child?: number }

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 5, workers: [1, 2], burst: 32, packets: 1024, testpmd: true };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1] ?? '';
    if (k === '--seconds') { a.seconds = Number(v); i++; }
    else if (k === '--workers') { a.workers = v.split(',').map(Number); i++; }
    else if (k === '--burst') { a.burst = Number(v); i++; }
    else if (k === '--packets') { a.packets = Number(v); i++; }
    else if (k === '--no-testpmd') a.testpmd = false;
    else if (k === '--child') { a.child = Number(v); i++; }
  }
  return a;
}

export interface Result { variant: string; workers: number; mpps: number }

function lcoreList(workers: number): string {
  return Array.from({ length: workers + 1 }, (_, i) => i).join(',');
}

/** One variant in this process: our service's dataplane with `workers` workers. */
async function runOurs(a: Args, workers: number): Promise<Result> {
  const parsed = parseServiceArgs(['--pf0=net_ring_pf0', '--pf1=net_ring_pf1', '--vf-pattern=net_ring_vf', '--ipv6=fc00:1::1', '--nic-type=tap',
    '--no-offload', '--no-stats', `--burst=${a.burst}`, '--no-idle-backoff'], { DP_CONF: '' });
  if (parsed.kind !== 'run') throw new Error(parsed.stderr);
  const log = createLogger({ format: 'text', color: 'never', level: 'warn' });
  const dp = new Dataplane(parsed.options, log);
  const eal = ['-l', lcoreList(workers), '--no-huge', '-m', '1024', '--no-pci', `--file-prefix=bench${process.pid}`,
    '--log-level=lib.*:error', '--vdev=net_ring_pf0', '--vdev=net_ring_pf1', '--vdev=net_ring_vf0', '--vdev=net_ring_vf1'];
  await dp.start(eal, () => {
    const vf0 = dp.vfPort('net_ring_vf0')!;
    const vf1 = dp.vfPort('net_ring_vf1')!;
    const attach = (port: number, ip: number): void => dp.portTable.attach(port, {
      vni: 100, ipv4: ip, ipv6: new Uint8Array(16), underlay: new Uint8Array(16), hostname: '', pxeServer: '', bootFile: '',
    });
    attach(vf0, 0x0a000001);
    attach(vf1, 0x0a000002);
    primeRings(dp, [vf0, vf1], workers, a.packets);
  });
  const txNow = (): number => dp.workers.reduce((s, w) => s + w.stats[WS_TX]!, 0);
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = process.hrtime.bigint();
  const c0 = txNow();
  await new Promise((r) => setTimeout(r, a.seconds * 1000));
  const c1 = txNow();
  const t1 = process.hrtime.bigint();
  await dp.stop();
  return { variant: 'dpservice-ts graph', workers, mpps: (c1 - c0) / (Number(t1 - t0) / 1e3) };
}

/** Puts `count` UDP packets per queue into each VF's loopback ring: VM 10.0.0.1 -> 10.0.0.2. */
function primeRings(dp: Dataplane, vfs: number[], queues: number, count: number): void {
  const info = dp.dpdk.poolInfo();
  const bytes = new Uint8Array(dp.dpdk.poolView());
  const desc = new Uint32Array(count * DESC_WORDS);
  for (let q = 0; q < queues; q++) {
    for (const port of vfs) {
      const n = dp.dpdk.allocDescs(desc, Math.min(count, 1024));
      for (let i = 0; i < n; i++) {
        const d = i * DESC_WORDS;
        const at = desc[d + DESC_MBUF]! + info.bufShift + desc[d + DESC_DATA_OFF]!;
        const f = udpFrame(i);
        bytes.set(f, at);
        desc[d + DESC_PORT] = port;
        desc[d + DESC_DATA_LEN] = f.length;
      }
      dp.dpdk.txBurst(q, desc, n);
    }
  }
}

function udpFrame(i: number): Uint8Array {
  const f = new Uint8Array(64);
  const dv = new DataView(f.buffer);
  f.set([0x66, 0x66, 0x66, 0x66, 0x66, 0x01, 0x52, 0x54, 0, 0, 0, 1], 0);
  dv.setUint16(12, 0x0800);
  f[14] = 0x45;
  dv.setUint16(16, 50);
  f[22] = 64;
  f[23] = 17;
  dv.setUint32(26, 0x0a000001);
  dv.setUint32(30, 0x0a000002);
  dv.setUint16(34, 1024 + (i & 0x3fff));
  dv.setUint16(36, 5001);
  dv.setUint16(38, 30);
  return f;
}

/** dpdk-testpmd io forwarding on two net_ring ports, same EAL memory settings. */
async function runTestpmd(a: Args, workers: number): Promise<Result> {
  const cpus = 2;
  const lcores = Array.from({ length: workers + 1 }, (_, i) => `${i}@${i % cpus}`).join(',');
  const args = [`--lcores=${lcores}`, '--no-huge', '-m', '1024', '--no-pci', `--file-prefix=tpmd${process.pid}`,
    '--vdev=net_ring0', '--vdev=net_ring1', '--', '--forward-mode=io', '--tx-first', '--auto-start',
    `--stats-period=1`, `--nb-cores=${workers}`, `--rxq=${workers}`, `--txq=${workers}`, `--burst=${a.burst}`];
  const proc = spawn('dpdk-testpmd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  await new Promise((r) => setTimeout(r, (a.seconds + 2) * 1000));
  proc.kill('SIGINT');
  const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await new Promise((r) => proc.once('exit', r));
  clearTimeout(killer);
  // each stats block lists Tx-pps per port; take the last complete block
  const pps = [...out.matchAll(/Tx-pps:\s+(\d+)/g)].map((m) => Number(m[1]));
  if (pps.length < 2) throw new Error(`testpmd printed no stats:\n${out.slice(-2000)}`);
  const last = pps.slice(-2);
  return { variant: 'dpdk-testpmd io', workers, mpps: (last[0]! + last[1]!) / 1e6 };
}

function line(r: Result): string {
  const per = r.mpps / r.workers;
  return `${r.variant.padEnd(22)} workers=${r.workers}  total ${r.mpps.toFixed(2).padStart(6)} Mpps  per worker ${per.toFixed(2).padStart(6)} Mpps  ${(1e3 / per).toFixed(1).padStart(7)} ns/packet`;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  if (a.child !== undefined) {
    // one EAL per process: each variant of ours runs in a child
    const r = await runOurs(a, a.child);
    await new Promise<void>((res) => { process.send?.(r, () => res()); });
    return;
  }
  const results: Result[] = [];
  for (const w of a.workers) {
    if (a.testpmd) results.push(await runTestpmd(a, w));
    const child = fork(fileURLToPath(import.meta.url), [...process.argv.slice(2), '--child', String(w)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    results.push(await new Promise<Result>((res, rej) => {
      child.once('message', (m) => res(m as Result));
      child.once('exit', (code) => code !== 0 && rej(new Error(`bench child exited ${code}`)));
    }));
  }
  for (const r of results) console.log(line(r));
  const ours = results.filter((r) => r.variant.startsWith('dpservice'));
  const tp = results.filter((r) => r.variant.startsWith('dpdk'));
  for (const o of ours) {
    const t = tp.find((x) => x.workers === o.workers);
    if (t) console.log(`workers=${o.workers}: dpservice-ts per worker = ${(100 * (o.mpps / o.workers) / (t.mpps / t.workers)).toFixed(0)}% of testpmd io per core`);
  }
  const o1 = ours.find((r) => r.workers === 1);
  const o2 = ours.find((r) => r.workers === 2);
  if (o1 && o2) console.log(`scaling: 2 workers = ${(o2.mpps / o1.mpps).toFixed(2)} x 1 worker`);
}

main().then(() => process.exit(0), (e: Error) => { console.error(e.stack); process.exit(1); });
