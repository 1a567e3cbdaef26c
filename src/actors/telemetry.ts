/**
 * The telemetry actor: upstream's own commands on DPDK's telemetry socket
 * (`/var/run/dpdk/<file-prefix>/dpdk_telemetry.v2`, next to DPDK's `/ethdev/*` and `/eal/*`), with
 * upstream's names and shapes, so upstream's dpservice-exporter and scripts read them unchanged:
 *
 *   /dp_service/graph/{obj_count,call_count,cycle_count,realloc_count}
 *       per graph node (summed over the workers), in blocks of 256 nodes: {"Node_0_to_255": {...}}
 *   /dp_service/table/saturation        {table: {capacity, entries}} under upstream's table names
 *   /dp_service/firewall/rule_count     {interface id: rules}
 *   /dp_service/nat/used_port_count     {interface id: NAT ports in use}
 *   /dp_service/virtsvc/used_port_count {"UDP:ip:port": ports in use} (with --udp/--tcp-virtsvc)
 *
 * The socket's thread (in DPDK) answers from the snapshot this actor last published in the shim:
 * every second, and after every committed configuration change before its RPC answers (so a
 * firewall rule count read right after AddFirewallRule already counts it). Nothing here runs on
 * the packet path; the counters are read from the workers' shared arrays.
 *
 * Where dpservice-ts has nothing to count, the number says so: per-node cycles are not measured
 * (cycle_count is 0), graph queues never grow (realloc_count 0), there is no NAT portmap table
 * (capacity 0; see tableUsage).
 */
import type { Logger } from 'pino';
import type { Dpdk } from '../ffi/dpdk.js';
import type { Dataplane } from './dataplane.js';
import { loggerFor } from './logging.js';
import { graphCounters } from './metrics.js';
import type { RegistryUsage } from './registry.js';
import { LB_MAX } from './registry-lb.js';
import { SNAT_TABLE_CAPACITY } from './registry-nat.js';
import { VIRTSVC_PORTS, type VirtsvcTable } from '../tables/virtsvc-table.js';

/** Graph nodes per block of /dp_service/graph/* (DPDK telemetry's dictionary limit). */
export const GRAPH_BLOCK = 256;

export type GraphStat = 'obj_count' | 'call_count' | 'cycle_count' | 'realloc_count';
const GRAPH_STATS: readonly GraphStat[] = ['obj_count', 'call_count', 'cycle_count', 'realloc_count'];

/** What the snapshots are made of, read from the dataplane and the registry. */
export interface TelemetrySources {
  /** Graph counters by node name, in graph order. */
  graph: Map<string, { calls: number; objs: number }>;
  usage: RegistryUsage;
  /** VF ports the service manages (the interface table's capacity: an interface needs one). */
  vfPorts: number;
  flows: { capacity: number; live: number };
  vnis: { capacity: number };
  vnf: { capacity: number };
  /** NAT ports the flows of a VM port hold. */
  natUsedPorts: (port: number) => number;
  /** Virtual services and their ports in use. */
  virtsvc: VirtsvcTable;
}

/** A key as the shim's snapshot lines carry it (no tab or newline). */
function key(s: string): string {
  return s.replace(/[\t\n]/g, '_');
}

/** The snapshot of /dp_service/graph/<stat>: blocks of GRAPH_BLOCK nodes. */
export function graphSnapshot(src: TelemetrySources, stat: GraphStat): string {
  const lines: string[] = [];
  let i = 0;
  for (const [name, c] of src.graph) {
    const first = i - (i % GRAPH_BLOCK);
    const value = stat === 'obj_count' ? c.objs : stat === 'call_count' ? c.calls : 0;
    lines.push(`Node_${first}_to_${first + GRAPH_BLOCK - 1}\t${key(name)}\t${value}`);
    i++;
  }
  return lines.join('\n');
}

/** [table, capacity, entries] under upstream's table names (telemetry and /metrics). */
export function tableUsage(src: TelemetrySources): [string, number, number][] {
  const u = src.usage;
  return [
    ['interface_table', src.vfPorts, u.interfaces],
    ['conntrack_table', src.flows.capacity, src.flows.live],
    ['dnat_table', SNAT_TABLE_CAPACITY, u.dnat],
    ['snat_table', SNAT_TABLE_CAPACITY, u.snat],
    // no table of its own here: where a VM's source port maps to comes from upstream's hash, and
    // a NAT port's use by a flow is the flow's reply key in the connection-tracking table
    ['nat_portmap_table', 0, 0],
    ['nat_portoverload_table', src.flows.capacity, natPortsInUse(src)],
    ['loadbalancer_table', LB_MAX, u.loadBalancers],
    ['loadbalancer_id_table', LB_MAX, u.loadBalancers],
    ['vni_table', src.vnis.capacity, u.vnis],
    ['vnf_table', src.vnf.capacity, u.vnf],
    ['reverse_vnf_table', src.vnf.capacity, u.vnf],
    // upstream's connection table of each virtual service; here its connections are flows
    ...Array.from({ length: src.virtsvc.count }, (_, i): [string, number, number] => [`virtsvc_table_${i}`, VIRTSVC_PORTS, src.virtsvc.usedPorts(i)]),
  ];
}

/** The snapshot of /dp_service/table/saturation. */
export function tableSnapshot(src: TelemetrySources): string {
  return tableUsage(src).map(([t, cap, n]) => `${t}\tcapacity\t${cap}\n${t}\tentries\t${n}`).join('\n');
}

/** Virtual services as upstream names them: [PROTOCOL:ip:port, ports in use]. */
export function virtsvcUsage(src: TelemetrySources): [string, number][] {
  return Array.from({ length: src.virtsvc.count }, (_, i) => [src.virtsvc.name(i), src.virtsvc.usedPorts(i)]);
}

/** The snapshot of /dp_service/firewall/rule_count. */
export function firewallSnapshot(src: TelemetrySources): string {
  return [...src.usage.firewallRules].map(([id, n]) => `${key(id)}\t${n}`).join('\n');
}

/**
 * NAT ports in use per live interface (every one, as upstream lists them): [interface id, ports],
 * one per flow that holds a port of the interface's NAT range (a port serving flows to several
 * remote ends counts once for each, as upstream counts its port overload entries).
 */
export function natUsage(src: TelemetrySources): [string, number][] {
  return [...src.usage.firewallRules.keys()].map((id) => {
    const port = src.usage.ports.get(id);
    return [id, port === undefined ? 0 : src.natUsedPorts(port)];
  });
}

/** NAT ports in use, all interfaces. */
function natPortsInUse(src: TelemetrySources): number {
  let n = 0;
  for (const port of src.usage.ports.values()) n += src.natUsedPorts(port);
  return n;
}

/** The snapshot of /dp_service/nat/used_port_count. */
export function natSnapshot(src: TelemetrySources): string {
  return natUsage(src).map(([id, n]) => `${key(id)}\t${n}`).join('\n');
}

/** The snapshot of /dp_service/virtsvc/used_port_count. */
export function virtsvcSnapshot(src: TelemetrySources): string {
  return virtsvcUsage(src).map(([k, n]) => `${k}\t${n}`).join('\n');
}

interface Command {
  cmd: string;
  help: string;
  build: (src: TelemetrySources) => string;
}

export const TELEMETRY_COMMANDS: readonly Command[] = [
  ...GRAPH_STATS.map((stat) => ({
    cmd: `/dp_service/graph/${stat}`, help: `Graph node ${stat.replace('_', ' ')}s, summed over workers.`,
    build: (src: TelemetrySources) => graphSnapshot(src, stat),
  })),
  { cmd: '/dp_service/table/saturation', help: 'Table capacities and entries.', build: tableSnapshot },
  { cmd: '/dp_service/firewall/rule_count', help: 'Firewall rules per interface.', build: firewallSnapshot },
  { cmd: '/dp_service/nat/used_port_count', help: 'NAT ports in use per interface.', build: natSnapshot },
  { cmd: '/dp_service/virtsvc/used_port_count', help: 'Ports in use per virtual service.', build: virtsvcSnapshot },
];

/** How often the snapshots are refreshed besides after every configuration change. */
const REFRESH_MS = 1000;

export class Telemetry {
  private readonly handles: { h: number; build: Command['build'] }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(
    private readonly dpdk: Dpdk,
    private readonly sources: () => TelemetrySources,
    log: Logger,
  ) {
    this.log = loggerFor(log, 'service');
  }

  /** Registers the commands (after EAL init) and publishes the first snapshots. */
  start(): void {
    for (const c of TELEMETRY_COMMANDS) {
      try {
        this.handles.push({ h: this.dpdk.telemetryRegister(c.cmd, c.help), build: c.build });
      } catch (err) {
        this.log.warn({ command: c.cmd, err: (err as Error).message }, 'telemetry command not registered');
      }
    }
    this.refresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  /** Publishes every command's snapshot anew. Never throws (telemetry must not stop the service). */
  refresh(): void {
    try {
      const src = this.sources();
      for (const { h, build } of this.handles) this.dpdk.telemetryPublish(h, build(src));
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'telemetry snapshot failed');
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** The sources of a running service. */
export function serviceSources(dp: Dataplane, usage: () => RegistryUsage): () => TelemetrySources {
  return () => ({
    graph: graphCounters(dp),
    usage: usage(),
    vfPorts: dp.ports.filter((p) => p.role === 'vf').length,
    flows: { capacity: dp.flows.capacity, live: dp.flows.live },
    vnis: { capacity: dp.routes.v4.maxVnis },
    vnf: { capacity: dp.vnf.maxEntries },
    natUsedPorts: (port) => dp.nat.usedPorts(port),
    virtsvc: dp.virtsvc,
  });
}
