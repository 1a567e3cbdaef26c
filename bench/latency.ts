/**
 * Round-trip latency of sparse and dense traffic through the service, and what the service's idle
 * handling costs in CPU: two VMs in network namespaces behind TAP ports of one service (one
 * worker), one pings the other at several intervals (100 ms: every request finds the worker
 * asleep; 10 ms; 1 ms: the worker rarely sleeps). Each mode runs its own service:
 *   sleep  the default: idle workers sleep on their queues' rx interrupts (see worker.ts)
 *   busy   --no-idle-backoff: workers busy-poll, as upstream does
 * Prints per mode and interval the round trip's p50/p90/p99 and max (ping's own per-packet times)
 * and the service's CPU use during the pings (all its threads, % of one CPU). Runs the service of
 * the tree it is in (bin/dpservice-bin): copy dist/bench/latency.js into another build's dist/bench
 * to measure that build the same way.
 *
 *   node dist/bench/latency.js [--count 200] [--intervals 100,10,1] [--modes sleep,busy]
 */
import {
  cpuSeconds, dpClient, moveToNs, nsCreate, nsDelete, nsExec, removeLinks, type Service, sleep, startService, tapTopology,
} from '../test/integration/harness.js';
import { numArg, pct } from './args.js';

const P = 'dlt';
const NS = [`${P}-vm1`, `${P}-vm2`];
const IPS = ['10.100.1.1', '10.100.1.2'];
const { PF0, PF1, VF0, VF1 } = tapTopology(P);
const GRPC = 21542;

function listArg(name: string, def: string): string[] {
  const i = process.argv.indexOf(name);
  return (i >= 0 ? process.argv[i + 1]! : def).split(',');
}

async function cleanup(svc?: Service): Promise<void> {
  for (const ns of NS) await nsDelete(ns);
  await svc?.stop();
  await removeLinks([PF0.iface, PF1.iface, VF0.iface, VF1.iface]);
}

async function start(mode: string): Promise<Service> {
  const svc = await startService({
    lcores: '0,1', pf0: PF0, pf1: PF1, vfs: [VF0, VF1], vfPattern: `${P}vf`, grpcPort: GRPC, filePrefix: `${P}${process.pid}`,
    extra: mode === 'busy' ? ['--no-idle-backoff'] : [],
  });
  const c = dpClient(`127.0.0.1:${GRPC}`);
  await c.call('Initialize');
  for (const [i, dev] of ['net_tap2', 'net_tap3'].entries()) {
    const r = await c.call('CreateInterface', {
      interface_id: Buffer.from(`vm${i + 1}`), vni: 100, device_name: dev,
      ipv4_config: { primary_address: Buffer.from(IPS[i]!) }, ipv6_config: { primary_address: Buffer.from('::') },
    });
    if (r.status.code !== 0) throw new Error(`CreateInterface vm${i + 1}: ${JSON.stringify(r.status)}`);
  }
  c.close();
  for (const [i, vf] of [VF0, VF1].entries()) {
    const ns = NS[i]!;
    await nsCreate(ns);
    await moveToNs(vf.iface, ns);
    await nsExec(ns, ['ip', 'addr', 'add', `${IPS[i]}/32`, 'dev', vf.iface]);
    await nsExec(ns, ['ip', 'route', 'add', '169.254.0.1', 'dev', vf.iface]);
    await nsExec(ns, ['ip', 'route', 'add', 'default', 'via', '169.254.0.1', 'dev', vf.iface, 'onlink']);
  }
  // ARP on both sides, the flow, the worker's code warmed up
  const warm = await nsExec(NS[0]!, ['ping', '-c', '20', '-i', '0.01', '-W', '2', IPS[1]!]);
  if (warm.code !== 0) throw new Error(`no ping through the service: ${warm.stdout}${warm.stderr}`);
  return svc;
}

async function main(): Promise<void> {
  const count = numArg('--count', 200);
  const intervals = listArg('--intervals', '100,10,1').map(Number);
  const modes = listArg('--modes', 'sleep,busy');
  const rows: string[] = [];
  for (const mode of modes) {
    await cleanup();
    let svc: Service | undefined;
    try {
      svc = await start(mode);
      const pid = svc.proc.pid!;
      await sleep(1000);
      const c0 = cpuSeconds(pid);
      await sleep(2000);
      rows.push(`${mode.padEnd(6)} idle         cpu ${((cpuSeconds(pid) - c0) * 50).toFixed(1).padStart(5)}%`);
      for (const ms of intervals) {
        const t0 = process.hrtime.bigint();
        const cpu0 = cpuSeconds(pid);
        const r = await nsExec(NS[0]!, ['ping', '-c', String(count), '-i', String(ms / 1000), '-W', '2', IPS[1]!], count * ms + 30000);
        const wall = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu = (cpuSeconds(pid) - cpu0) / wall;
        const rtt = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
        if (rtt.length < count * 0.95) throw new Error(`${mode}, ${ms} ms: ${rtt.length} of ${count} replies\n${r.stdout}${r.stderr}`);
        rows.push(`${mode.padEnd(6)} every ${String(ms).padStart(3)} ms cpu ${(cpu * 100).toFixed(1).padStart(5)}%  rtt p50 ${pct(rtt, 50).toFixed(3)}`
          + `  p90 ${pct(rtt, 90).toFixed(3)}  p99 ${pct(rtt, 99).toFixed(3)}  max ${rtt[rtt.length - 1]!.toFixed(3)} ms  (${rtt.length} replies)`);
        console.log(rows[rows.length - 1]);
      }
    } finally {
      await cleanup(svc);
    }
  }
  console.log('\nmode   traffic      service CPU (% of one CPU)  round trip vm1 -> vm2 -> vm1 through one service (one worker)');
  for (const r of rows) console.log(r);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
