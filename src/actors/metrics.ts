/**
 * The metrics actor: Prometheus /metrics served from the supervisor (--metrics-port). Values are
 * read from the workers' shared counters and DPDK port stats when scraped (prom-client collect()),
 * never pushed from the packet path. Names follow upstream's dpservice-exporter where it has them.
 */
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Gauge, Registry } from 'prom-client';
import { DROP_REASON_NAMES } from '../packet/drop-reasons.js';
import { FS_AGED, FS_CREATED, FS_CROSS_WORKER, FS_DUPLICATE, FS_FAST_DIRECT, FS_FAST_PATH, FS_FLUSHED, FS_NAT_RACE, FS_TABLE_FULL } from '../workers/node-context.js';
import { WS_BUSY, WS_IDLE_WAITS, WS_ITERATIONS, WS_RX, WS_RX_WAKEUPS, WS_TX, WS_TX_FAILED } from '../workers/worker-data.js';
import type { Dataplane } from './dataplane.js';
import { loggerFor } from './logging.js';
import { natUsage, tableUsage, type TelemetrySources, virtsvcUsage } from './telemetry.js';

export interface MetricsServer {
  port: number;
  registry: Registry;
  close(): Promise<void>;
}

/** Graph counters summed over workers by node name: [calls, objs]. */
export function graphCounters(dp: Dataplane): Map<string, { calls: number; objs: number }> {
  const out = new Map<string, { calls: number; objs: number }>();
  for (const w of dp.workers) {
    w.nodeNames.forEach((name, i) => {
      const e = out.get(name) ?? { calls: 0, objs: 0 };
      e.calls += w.counters[i * 2]!;
      e.objs += w.counters[i * 2 + 1]!;
      out.set(name, e);
    });
  }
  return out;
}

/** Drops by reason summed over workers. */
export function dropCounters(dp: Dataplane): Map<string, number> {
  const out = new Map<string, number>();
  for (const w of dp.workers) {
    const base = w.nodeNames.length * 2;
    DROP_REASON_NAMES.forEach((name, r) => {
      if (r === 0) return;
      out.set(name, (out.get(name) ?? 0) + w.counters[base + r]!);
    });
  }
  return out;
}

/** gRPC calls answered, by RPC and result (ControlServer.callCounts). */
export type CallCounts = () => Iterable<{ rpc: string; result: string; count: number }>;

export function buildRegistry(dp: Dataplane, sources: () => TelemetrySources, calls: CallCounts = () => []): Registry {
  const registry = new Registry();
  const host = hostname();
  new Gauge({
    name: 'dps_graph_call_count', help: 'Graph node call count', labelNames: ['node', 'graph_node'], registers: [registry],
    collect() {
      this.reset();
      for (const [name, c] of graphCounters(dp)) this.set({ node: host, graph_node: name }, c.calls);
    },
  });
  new Gauge({
    name: 'dps_graph_object_count', help: 'Packets processed per graph node', labelNames: ['graph_node'], registers: [registry],
    collect() {
      this.reset();
      for (const [name, c] of graphCounters(dp)) this.set({ graph_node: name }, c.objs);
    },
  });
  new Gauge({
    name: 'dps_drop_packets_total', help: 'Dropped packets by reason', labelNames: ['reason'], registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of dropCounters(dp)) this.set({ reason }, n);
    },
  });
  const worker = new Gauge({
    name: 'dps_worker_stat', help: 'Per-worker poll loop statistics', labelNames: ['lcore', 'stat'], registers: [registry],
    collect() {
      worker.reset();
      for (const w of dp.workers) {
        const l = String(w.lcore);
        worker.set({ lcore: l, stat: 'iterations' }, w.stats[WS_ITERATIONS]!);
        worker.set({ lcore: l, stat: 'busy_iterations' }, w.stats[WS_BUSY]!);
        worker.set({ lcore: l, stat: 'idle_waits' }, w.stats[WS_IDLE_WAITS]!);
        worker.set({ lcore: l, stat: 'idle_rx_wakeups' }, w.stats[WS_RX_WAKEUPS]!);
        worker.set({ lcore: l, stat: 'rx_packets' }, w.stats[WS_RX]!);
        worker.set({ lcore: l, stat: 'tx_packets' }, w.stats[WS_TX]!);
        worker.set({ lcore: l, stat: 'tx_failed' }, w.stats[WS_TX_FAILED]!);
        worker.set({ lcore: l, stat: 'flow_created' }, w.flowStats[FS_CREATED]!);
        worker.set({ lcore: l, stat: 'flow_cross_worker' }, w.flowStats[FS_CROSS_WORKER]!);
        worker.set({ lcore: l, stat: 'fastpath' }, w.flowStats[FS_FAST_PATH]!);
        worker.set({ lcore: l, stat: 'fastpath_direct' }, w.flowStats[FS_FAST_DIRECT]!);
        worker.set({ lcore: l, stat: 'flow_table_full' }, w.flowStats[FS_TABLE_FULL]!);
        worker.set({ lcore: l, stat: 'flow_duplicate' }, w.flowStats[FS_DUPLICATE]!);
        worker.set({ lcore: l, stat: 'flow_aged' }, w.flowStats[FS_AGED]!);
        worker.set({ lcore: l, stat: 'flow_flushed' }, w.flowStats[FS_FLUSHED]!);
        worker.set({ lcore: l, stat: 'nat_port_race' }, w.flowStats[FS_NAT_RACE]!);
      }
    },
  });
  // upstream's tables as its exporter names them (from the telemetry sources), and our route tables
  new Gauge({
    name: 'dps_hash_table_saturation', help: 'Table capacity and entries', labelNames: ['table', 'stat'], registers: [registry],
    collect() {
      this.reset();
      for (const [table, capacity, entries] of tableUsage(sources())) {
        this.set({ table, stat: 'capacity' }, capacity);
        this.set({ table, stat: 'entries' }, entries);
      }
      for (const [table, t] of [['route_table_ipv4', dp.routes.v4], ['route_table_ipv6', dp.routes.v6]] as const) {
        this.set({ table, stat: 'capacity' }, t.capacity);
        this.set({ table, stat: 'entries' }, t.size);
      }
    },
  });
  new Gauge({
    name: 'dps_firewall_rules_count', help: 'Firewall rules per interface', labelNames: ['interface_id'], registers: [registry],
    collect() {
      this.reset();
      for (const [id, n] of sources().usage.firewallRules) this.set({ interface_id: id }, n);
    },
  });
  new Gauge({
    name: 'dps_nat_used_ports_count', help: 'NAT ports in use per interface (one per flow holding a port of its NAT range)',
    labelNames: ['interface_id'], registers: [registry],
    collect() {
      this.reset();
      for (const [id, n] of natUsage(sources())) this.set({ interface_id: id }, n);
    },
  });
  new Gauge({
    name: 'dps_virtsvc_used_ports_count', help: 'Ports in use per virtual service',
    labelNames: ['address'], registers: [registry],
    collect() {
      this.reset();
      for (const [address, n] of virtsvcUsage(sources())) this.set({ address }, n);
    },
  });
  // the ports as upstream's exporter reports them: every extended stat (/ethdev/xstats) sorted
  // into packets, bytes, errors and the rest by its name, the link of every port that is not a
  // representor, labelled with the DPDK device name (/ethdev/info name)
  const packets = new Gauge({ name: 'dpdk_ethdev_packets_total', help: 'Port packets', labelNames: ['name', 'stat'], registers: [registry] });
  const bytes = new Gauge({ name: 'dpdk_ethdev_bytes_total', help: 'Port bytes', labelNames: ['name', 'stat'], registers: [registry] });
  const misc = new Gauge({ name: 'dpdk_ethdev_misc', help: 'Other port statistics', labelNames: ['name', 'stat'], registers: [registry] });
  new Gauge({
    name: 'dpdk_ethdev_errors_total', help: 'Port errors', labelNames: ['name', 'stat'], registers: [registry],
    collect() {
      for (const g of [packets, bytes, misc, this]) g.reset();
      for (const p of dp.ports) {
        for (const [stat, value] of dp.dpdk.portXstats(p.port)) {
          const g = stat.includes('bytes') ? bytes : stat.includes('packets') ? packets : stat.includes('errors') ? this : misc;
          g.set({ name: p.name, stat }, value);
        }
      }
    },
  });
  new Gauge({
    name: 'dpdk_ethdev_link_status', help: 'Port link status', labelNames: ['name'], registers: [registry],
    collect() {
      this.reset();
      for (const p of dp.ports) if (!p.name.includes('representor')) this.set({ name: p.name }, dp.dpdk.portLink(p.port).up ? 1 : 0);
    },
  });
  new Gauge({
    name: 'dpdk_heap_info', help: 'DPDK malloc heaps (/eal/heap_info)', labelNames: ['node', 'info'], registers: [registry],
    collect() {
      this.reset();
      for (const heap of dp.dpdk.heapStats()) for (const [info, value] of Object.entries(heap)) this.set({ node: host, info }, value);
    },
  });
  // should stay 0: the registry refuses what the tables cannot take (DataplaneApi.tableLimits)
  new Gauge({
    name: 'dps_table_sync_refused_total', help: 'Entries a packet-path table refused after the registry accepted them (0 expected)',
    labelNames: ['table'], registers: [registry],
    collect() {
      this.set({ table: 'routes' }, dp.routes.refused);
      this.set({ table: 'vnf' }, dp.tables.vnfRefused);
      this.set({ table: 'neighbor_nat' }, dp.tables.neighborNatRefused);
    },
  });
  // refusals included: a full table is an error code for the client and a count here
  new Gauge({
    name: 'dps_grpc_calls_total', help: 'gRPC calls answered, by RPC and result (Success or the error)', labelNames: ['rpc', 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of calls()) this.set({ rpc: c.rpc, result: c.result }, c.count);
    },
  });
  return registry;
}

export async function startMetrics(o: {
  port: number; host?: string; dataplane: Dataplane; sources: () => TelemetrySources; calls?: CallCounts; log: Logger;
}): Promise<MetricsServer> {
  const registry = buildRegistry(o.dataplane, o.sources, o.calls);
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.statusCode = 404;
      res.end('not found\n');
      return;
    }
    registry.metrics().then((body) => {
      res.setHeader('Content-Type', registry.contentType);
      res.end(body);
    }, (err: Error) => {
      res.statusCode = 500;
      res.end(`${err.message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '::', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  loggerFor(o.log, 'service').info({ port }, 'metrics listening');
  return {
    port, registry,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
