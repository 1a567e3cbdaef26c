/**
 * gRPC control-plane latency: CreateInterface and CreateRoute round trips under 100 concurrent
 * clients (each its own channel), p50/p99 and throughput, against the real control actor (the
 * registry with upstream's semantics and its serialized apply). The dataplane behind it is an
 * in-memory one with enough VM ports for every client, so what is measured is gRPC, validation and
 * the registry, not DPDK port setup.
 *
 *   node dist/bench/rpc.js [--clients 100] [--per-client 50]
 */
import { pino } from 'pino';
import { startControl } from '../src/actors/control.js';
import type { DataplaneApi } from '../src/actors/dataplane-api.js';
import { parseIpv6 } from '../src/actors/underlay.js';
import { dpClient, type DpClient } from '../src/cli/grpc-client.js';
import { numArg, pct } from './args.js';

class MemoryDataplane implements DataplaneApi {
  readonly hostIpv6 = parseIpv6('fc00:1::')!;
  readonly tableLimits = { vnfs: 32768, routes: 262144, routesPerVni: 131072 };
  vfPort(deviceName: string): number | undefined {
    const m = /^net_tap(\d+)$/.exec(deviceName);
    return m ? Number(m[1]) : undefined;
  }
  async attachInterface(): Promise<void> {}
  async detachInterface(): Promise<void> {}
  markInitialized(): void {}
}

async function phase(name: string, clients: DpClient[], perClient: number,
  req: (client: number, k: number) => [string, object]): Promise<void> {
  const lat: number[] = [];
  let errors = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(clients.map(async (c, i) => {
    for (let k = 0; k < perClient; k++) {
      const [method, body] = req(i, k);
      const s = process.hrtime.bigint();
      const r = await c.call(method, body);
      lat.push(Number(process.hrtime.bigint() - s) / 1e6);
      if (r.status.code !== 0) errors++;
    }
  }));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  lat.sort((a, b) => a - b);
  console.log(`${name.padEnd(16)} ${clients.length} clients x ${perClient}: p50 ${pct(lat, 50).toFixed(2)} ms  p99 ${pct(lat, 99).toFixed(2)} ms  `
    + `${(lat.length / secs).toFixed(0)} calls/s  errors ${errors}`);
}

async function main(): Promise<void> {
  const n = numArg('--clients', 100);
  const per = numArg('--per-client', 50);
  const srv = await startControl({ port: 0, host: '127.0.0.1', version: 'bench', dataplane: new MemoryDataplane(), log: pino({ level: 'warn' }) });
  const clients = Array.from({ length: n }, () => dpClient(`127.0.0.1:${srv.port}`));
  await clients[0]!.call('Initialize');
  await Promise.all(clients.map((c) => c.call('CheckInitialized')));
  await phase('CreateInterface', clients, per, (i, k) => {
    const id = i * per + k;
    return ['CreateInterface', {
      interface_id: Buffer.from(`vm${id}`), vni: 100, device_name: `net_tap${id + 2}`,
      ipv4_config: { primary_address: Buffer.from(`10.${(id >> 16) & 255}.${(id >> 8) & 255}.${id & 255}`) },
      ipv6_config: { primary_address: Buffer.from('::') },
    }];
  });
  await phase('CreateRoute', clients, per, (i, k) => {
    const id = i * per + k;
    return ['CreateRoute', {
      vni: 100,
      route: {
        prefix: { ip: { ipver: 'IPV4', address: Buffer.from(`172.${16 + ((id >> 16) & 15)}.${(id >> 8) & 255}.${id & 255}`) }, length: 32 },
        nexthop_vni: 100, nexthop_address: { ipver: 'IPV6', address: Buffer.from('fc00:2::1') },
      },
    }];
  });
  for (const c of clients) c.close();
  await srv.close();
}

main().then(() => process.exit(0), (e: Error) => { console.error(e.stack); process.exit(1); });
