/**
 * The floor under the packet path: a worker thread that only moves packets from rx to tx through
 * the shim's one io call per iteration (no graph, packet bytes untouched), on the same net_null vdevs as bench/forward.ts.
 * The difference between this and forward.ts is what the graph costs per packet. Then it runs
 * build/native/shim-floor (bench/shim-floor.c): the same loop in C through the same shim, so the
 * difference between the two lines is the JS loop and the koffi crossing.
 *
 *   node dist/bench/rxtx-floor.js [--seconds 4] [--burst 32] [--touch]
 *
 * --touch reads the Ethernet type of every packet (one cache line of packet data), to separate
 * the cost of touching packet memory from the cost of the graph's logic.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadShim, shimPath } from '../src/ffi/dpdk.js';
import { numArg } from './args.js';

interface Data { seconds: number; burst: number; touch: boolean; ports: number[]; cpu: number; stats: SharedArrayBuffer }

function workerLoop(d: Data): void {
  const dpdk = loadShim();
  dpdk.threadRegister(d.cpu);
  const bytes = new Uint8Array(dpdk.poolView());
  const io = dpdk.ioArea();
  io.pollPort.set(d.ports);
  const stats = new Float64Array(d.stats);
  const begin = performance.now();
  const end = begin + d.seconds * 1000;
  const [p0, p1] = d.ports as [number, number];
  let sum = 0;
  let iter = 0;
  let ntx = 0;
  while ((++iter & 1023) !== 0 || performance.now() < end) {
    const n = dpdk.io(0, ntx, 0, d.ports.length, d.burst, 1024);
    stats[0] = stats[0]! + io.result[0]!;
    for (let i = 0; i < n; i++) {
      if (d.touch) sum += bytes[io.rxStart[i]! + 12]!;
      // send each packet out of the other port, frame untouched
      io.txOff[i] = io.rxOff[i]!;
      io.txPort[i] = io.rxPort[i] === p0 ? p1 : p0;
      io.txSet[i] = 0;
    }
    ntx = n;
  }
  // the loop's own time (thread start-up and EAL registration excluded)
  stats[2] = performance.now() - begin;
  dpdk.io(0, ntx, 0, 0, d.burst, 0);
  stats[1] = sum;
  dpdk.threadUnregister();
}

async function main(): Promise<void> {
  const dpdk = loadShim();
  const eal = ['x', '-l', '0,1', '--no-huge', '-m', '1024', '--no-pci', `--file-prefix=floor${process.pid}`,
    '--log-level=lib.*:error', '--vdev=net_null0,size=64', '--vdev=net_null1,size=64'];
  if (dpdk.ealInit(eal.length, eal) < 0) throw new Error('EAL init failed');
  if (dpdk.poolCreate(16383, 256, 2048) < 0) throw new Error('pool');
  for (const p of [0, 1]) if (dpdk.portSetup(p, 1, 1024, 1024) < 0) throw new Error(`port ${p}`);
  const stats = new SharedArrayBuffer(24);
  const data: Data = { seconds: numArg('--seconds', 4), burst: numArg('--burst', 32), touch: process.argv.includes('--touch'), ports: [0, 1], cpu: dpdk.lcoreCpu(1), stats };
  const w = new Worker(fileURLToPath(import.meta.url), { workerData: data });
  await new Promise((r) => w.once('exit', r));
  const [pkts, , ms] = new Float64Array(stats) as unknown as [number, number, number];
  const mpps = pkts / ms / 1e3;
  console.log(`js rx->tx floor${data.touch ? ' +touch' : ''}   burst=${data.burst}  ${mpps.toFixed(2)} Mpps  ${(1e3 / mpps).toFixed(1)} ns/packet`);
  for (const p of [0, 1]) { dpdk.portStop(p); dpdk.portClose(p); }
  dpdk.ealCleanup();
  // the same loop in C through the same shim (built next to it by native/Makefile)
  const cFloor = join(dirname(shimPath()), 'shim-floor');
  if (!data.touch && existsSync(cFloor)) {
    const r = spawnSync(cFloor, [String(data.seconds), String(data.burst)], { encoding: 'utf8' });
    process.stdout.write(r.status === 0 ? r.stdout : `shim-floor failed: ${r.stderr}\n`);
  }
}

if (isMainThread) main().catch((e: Error) => { console.error(e.message); process.exit(1); });
else { workerLoop(workerData as Data); parentPort?.close(); }
