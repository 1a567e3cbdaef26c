/**
 * Packet-path throughput: rx, the graph (rx -> cls -> conntrack -> ipv4_lookup -> tx) and tx on
 * net_null vdevs, with 1 and 2 workers, next to dpdk-testpmd io forwarding on the same vdevs in the
 * same run. net_null rx hands out mbufs without writing them (copy=0), so each one carries what the
 * pool slot last held: before the workers start, every mbuf of the pool gets a VM-to-VM UDP frame
 * written at its headroom, which makes every received packet a valid frame for the graph (the graph
 * only rewrites its MAC addresses, so the template stays valid). net_null tx frees what it gets.
 * The uplinks are idle net_ring ports. The service's periodic packets (GARP, RA, router probes)
 * are off: the mbufs they are built in would come back from net_null as received frames, forever
 * (before, ~6% of the received packets were such frames, dropped by the graph). Each run prints
 * the share of received packets the fast path forwarded (100% expected after the first ones).
 *
 * With --flows N the pool's mbufs carry N UDP flows in turn, so packets of one burst are mostly of
 * different flows: the fast path then hashes and looks up every packet (with one flow, a packet
 * whose key equals the one before it in its burst reuses that lookup, see FastPath.lookupMemo).
 *
 *   node dist/bench/forward.js [--seconds 5] [--workers 1,2] [--burst 32] [--flows 1] [--no-testpmd]
 *
 * Prints one line per variant: total Mpps, Mpps per worker, ns per packet per worker.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseServiceArgs } from '../src/config/options.js';
import { Dataplane } from '../src/actors/dataplane.js';
import { createLogger } from '../src/actors/logging.js';
import { FS_FAST_PATH } from '../src/workers/node-context.js';
import { WS_RX, WS_TX } from '../src/workers/worker-data.js';
import { udpFrame } from './frames.js';
import { removeEalRuntime, runTestpmdPeriods } from './testpmd.js';

interface Args { seconds: number; workers: number[]; burst: number; testpmd: boolean; repeat: number; fastPath: boolean; flows: number; child?: number }

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 5, workers: [1, 2], burst: 32, testpmd: true, repeat: 3, fastPath: true, flows: 1 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1] ?? '';
    if (k === '--seconds') { a.seconds = Number(v); i++; }
    else if (k === '--workers') { a.workers = v.split(',').map(Number); i++; }
    else if (k === '--burst') { a.burst = Number(v); i++; }
    else if (k === '--no-testpmd') a.testpmd = false;
    else if (k === '--no-fast-path') a.fastPath = false;
    else if (k === '--repeat') { a.repeat = Number(v); i++; }
    else if (k === '--flows') { a.flows = Number(v); i++; }
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
  const parsed = parseServiceArgs(['--pf0=net_ring_pf0', '--pf1=net_ring_pf1', '--vf-pattern=net_null_vf', '--ipv6=fc00:1::1', '--nic-type=tap',
    '--no-offload', '--no-stats', `--burst=${a.burst}`, '--no-idle-backoff', ...(a.fastPath ? [] : ['--no-fast-path'])], { DP_CONF: '' });
  if (parsed.kind !== 'run') throw new Error(parsed.stderr);
  const log = createLogger({ format: 'text', color: 'never', level: 'warn' });
  const dp = new Dataplane(parsed.options, log);
  // see Dataplane.periodicPackets: their mbufs would come back from net_null as received frames
  dp.periodicPackets = false;
  const eal = ['-l', lcoreList(workers), '--no-huge', '-m', '1024', '--no-pci', `--file-prefix=bench${process.pid}`,
    '--log-level=lib.*:error', '--vdev=net_ring_pf0', '--vdev=net_ring_pf1', '--vdev=net_null_vf0,size=64', '--vdev=net_null_vf1,size=64'];
  await dp.start(eal, () => {
    const vf0 = dp.vfPort('net_null_vf0')!;
    const vf1 = dp.vfPort('net_null_vf1')!;
    const attach = (port: number, ip: number): void => dp.portTable.attach(port, {
      vni: 100, ipv4: ip, ipv6: new Uint8Array(16), underlay: new Uint8Array(16), hostname: '', pxeServer: '', bootFile: '',
    });
    attach(vf0, 0x0a000001);
    attach(vf1, 0x0a000002);
    // the interface routes, as CreateInterface adds them
    dp.routes.v4.insert(100, 0x0a000001, 32, vf0, 0, new Uint8Array(16));
    dp.routes.v4.insert(100, 0x0a000002, 32, vf1, 0, new Uint8Array(16));
    primePool(dp, a.flows);
  });
  const sum = (f: (w: (typeof dp.workers)[number]) => number): number => dp.workers.reduce((s, w) => s + f(w), 0);
  const txNow = (): number => sum((w) => w.stats[WS_TX]!);
  const rxNow = (): number => sum((w) => w.stats[WS_RX]!);
  const fastNow = (): number => sum((w) => w.flowStats[FS_FAST_PATH]!);
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = process.hrtime.bigint();
  const [c0, r0, f0] = [txNow(), rxNow(), fastNow()];
  await new Promise((r) => setTimeout(r, a.seconds * 1000));
  const [c1, r1, f1] = [txNow(), rxNow(), fastNow()];
  const t1 = process.hrtime.bigint();
  await dp.stop();
  // every received packet should be the template flow's, forwarded by the fast path
  console.error(`workers=${workers}: received ${r1 - r0}, sent ${c1 - c0}, fast path ${(100 * (f1 - f0) / (r1 - r0)).toFixed(2)}% of received`);
  return { variant: 'dpservice-ts graph', workers, mpps: (c1 - c0) / (Number(t1 - t0) / 1e3) };
}

/**
 * Writes the template frames into every free mbuf of the pool (see the file comment): `flows`
 * flows (UDP source ports 1024 on), one after the other in the pool's order.
 */
function primePool(dp: Dataplane, flows: number): void {
  const info = dp.dpdk.poolInfo();
  const pool = dp.dpdk.poolView();
  const bytes = new Uint8Array(pool);
  const frames = Array.from({ length: flows }, (_, f) => udpFrame(0x0a000001, 0x0a000002, 1024 + f));
  const chunks: Uint32Array[] = [];
  let k = 0;
  for (;;) {
    const offs = new Uint32Array(1024);
    const n = dp.dpdk.allocMbufs(offs, 1024);
    if (n === 0) break;
    for (let i = 0; i < n; i++) bytes.set(frames[k++ % flows]!, offs[i]! + info.bufShift + info.headroom);
    chunks.push(offs);
  }
  for (const offs of chunks) dp.dpdk.freeMbufs(offs, 1024);
}

/** dpdk-testpmd io forwarding on two net_null ports of the same size, same EAL memory settings. */
async function runTestpmd(a: Args, workers: number): Promise<Result> {
  const cpus = 2;
  const lcores = Array.from({ length: workers + 1 }, (_, i) => `${i}@${i % cpus}`).join(',');
  const args = [`--lcores=${lcores}`, '--no-huge', '-m', '1024', '--no-pci', `--file-prefix=tpmd${process.pid}`,
    '--vdev=net_null0,size=64', '--vdev=net_null1,size=64', '--', '--forward-mode=io', '--auto-start',
    `--stats-period=1`, `--nb-cores=${workers}`, `--rxq=${workers}`, `--txq=${workers}`, `--burst=${a.burst}`];
  // the first period is the warm-up; a period counts when both ports forwarded (not the partial
  // ones around start and stop); the median of the rest
  const { pairs } = await runTestpmdPeriods(args, Math.max(2, a.seconds), workers);
  const sums = pairs.filter(([p0, p1]) => p0 > 0 && p1 > 0).map(([p0, p1]) => p0 + p1);
  if (sums.length === 0) throw new Error('testpmd printed no period in which both ports forwarded');
  return { variant: 'dpdk-testpmd io', workers, mpps: median(sums) / 1e6 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function line(r: Result): string {
  const per = r.mpps / r.workers;
  return `${r.variant.padEnd(22)} workers=${r.workers}  total ${r.mpps.toFixed(2).padStart(6)} Mpps  per worker ${per.toFixed(2).padStart(6)} Mpps  ${(1e3 / per).toFixed(1).padStart(7)} ns/packet`;
}

function runChild(workers: number): Promise<Result> {
  const child = fork(fileURLToPath(import.meta.url), [...process.argv.slice(2), '--child', String(workers)],
    { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise<Result>((res, rej) => {
    child.once('message', (m) => res(m as Result));
    child.once('exit', (code) => {
      // a clean exit removed it (Dataplane.stop); a failed one leaves EAL's runtime directory
      removeEalRuntime(`bench${child.pid}`);
      if (code !== 0) rej(new Error(`bench child exited ${code}`));
    });
  });
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  if (a.child !== undefined) {
    // one EAL per process: each variant of ours runs in a child
    const r = await runOurs(a, a.child);
    if (process.send) await new Promise<void>((res) => { process.send!(r, () => res()); });
    else console.log(line(r));
    return;
  }
  // testpmd and ours alternate, `repeat` times each, so both see the same machine; medians count
  const results: Result[] = [];
  for (const w of a.workers) {
    const tp: number[] = [];
    const ours: number[] = [];
    for (let k = 0; k < a.repeat; k++) {
      if (a.testpmd) tp.push((await runTestpmd(a, w)).mpps);
      ours.push((await runChild(w)).mpps);
    }
    if (a.testpmd) results.push({ variant: 'dpdk-testpmd io', workers: w, mpps: median(tp) });
    results.push({ variant: 'dpservice-ts graph', workers: w, mpps: median(ours) });
    console.error(`workers=${w}: testpmd runs ${tp.map((x) => x.toFixed(2)).join(' ')}; ours ${ours.map((x) => x.toFixed(2)).join(' ')} Mpps`);
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
