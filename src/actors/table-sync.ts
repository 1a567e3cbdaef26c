/**
 * Keeps the forwarding tables the workers read equal to the registry, change by change, before the
 * RPC that made the change answers: routes (RouteSync), the VNF table (underlay address -> VNI,
 * kind, port), interface VIPs and NATs in the port table, neighbour NAT ranges (NatTable), load
 * balancers and their Maglev tables (LbTable); and it makes the packet path forget what a change
 * invalidates. Cached per-flow decisions carry the configuration generation they were made in, so
 * any such change bumps the generation; flows that depended on a removed VIP, NAT or interface
 * are deleted by their owning workers (FLUSH_PORT, PORT_DETACH). Either way the workers
 * acknowledge over their command rings before the call answers: no packet after the answer uses
 * the old state. Interfaces come and go on their ports here too (attachInterface, detachInterface).
 */
import type { Logger } from 'pino';
import type { FlowTable } from '../tables/flow-table.js';
import type { LbSpec, LbTable } from '../tables/lb-table.js';
import type { NatTable } from '../tables/nat-table.js';
import type { InterfaceConfig, PortTable } from '../tables/port-table.js';
import type { VnfTable } from '../tables/vnf-table.js';
import { Op } from '../workers/channel.js';
import type { RegistryChange } from './registry-changes.js';
import type { LoadBalancerInfo } from './registry-types.js';
import type { RouteSync } from './route-sync.js';

export interface WorkerBarrier {
  /**
   * Resolves when every worker has handled and acknowledged command `op` (channel.ts Op:
   * PORT_DETACH, FLUSH_PORT, PING) with arguments `a` and `b` (workers/commands.ts).
   */
  broadcast(op: number, a: number, b?: number): Promise<void>;
}

/** What the workers' table holds of a load balancer. */
function lbSpec(lb: LoadBalancerInfo): LbSpec {
  const address = lb.ip.family === 4
    ? Uint8Array.of(lb.ip.ipv4 >>> 24, (lb.ip.ipv4 >>> 16) & 0xff, (lb.ip.ipv4 >>> 8) & 0xff, lb.ip.ipv4 & 0xff)
    : lb.ip.ipv6.slice(0, 16);
  return { vni: lb.vni, address, ports: lb.ports, targets: lb.targets };
}

export class TableSync {
  /** VNF entries the table refused (full). */
  vnfRefused = 0;
  /** Neighbour NAT ranges the table refused (full). */
  neighborNatRefused = 0;
  /** Load balancers the table refused (full). */
  lbRefused = 0;

  constructor(
    readonly routes: RouteSync,
    readonly vnf: VnfTable,
    readonly ports: PortTable,
    readonly flows: FlowTable,
    readonly nat: NatTable,
    readonly lb: LbTable,
    private readonly workers: WorkerBarrier,
    private readonly log: Logger,
  ) {}

  /** Activates an interface on a VM port: the workers answer DHCP, ARP and ND on it from then on. */
  attachInterface(port: number, cfg: InterfaceConfig): void {
    this.ports.attach(port, cfg);
  }

  /**
   * Stops the port, has every worker flush the interface's flows, then clears the interface. The
   * flush runs while the port table still holds the interface's address and VNI: a flow DNATed to
   * it (another VM's connection to its VIP) is known by them (flowOfPort). Cleared first, such
   * flows stayed until they aged out (24 h for established TCP) and kept translating to the
   * deleted interface's address.
   */
  async detachInterface(port: number): Promise<void> {
    this.ports.deactivate(port);
    try {
      await this.workers.broadcast(Op.PORT_DETACH, port);
    } finally {
      this.ports.detach(port);
    }
  }

  async apply(changes: readonly RegistryChange[]): Promise<void> {
    this.routes.apply(changes);
    let invalidate = false;
    // ports whose flows go, each with the VIP it lost (0: none), whose SNATed flows go too
    const flush = new Map<number, number>();
    // ports that lost their NAT: its address and range stay readable for the flush (flowOfPort)
    const natGone: number[] = [];
    for (const c of changes) {
      switch (c.kind) {
        case 'vnf-added':
          if (!this.vnf.set(c.address, { type: c.entry.type, vni: c.entry.vni, port: c.entry.port ?? -1 })) {
            this.vnfRefused++;
            this.log.error({ vni: c.entry.vni, type: c.entry.type }, 'VNF table full: underlay address not served');
          }
          invalidate = true;
          break;
        case 'vnf-removed':
          this.vnf.delete(c.address);
          invalidate = true;
          break;
        case 'vip-added':
          this.ports.setVip(c.port, c.vip.vip, c.vip.underlay);
          flush.set(c.port, flush.get(c.port) ?? 0);
          invalidate = true;
          break;
        case 'vip-removed':
          // no new flow gets the VIP from here on; the workers' flush is told which one it was
          this.ports.setVip(c.port, 0, null);
          flush.set(c.port, c.vip.vip);
          invalidate = true;
          break;
        case 'nat-added':
          this.ports.setNat(c.entry.port, c.entry.natIp, c.entry.minPort, c.entry.maxPort);
          flush.set(c.entry.port, flush.get(c.entry.port) ?? 0);
          invalidate = true;
          break;
        case 'nat-removed':
          // no new flow gets the NAT from here on; the flush finds those that have it
          this.ports.disableNat(c.entry.port);
          flush.set(c.entry.port, flush.get(c.entry.port) ?? 0);
          natGone.push(c.entry.port);
          invalidate = true;
          break;
        case 'neighbor-nat-added':
          if (!this.nat.addNeighbor(c.entry.natIp, c.entry.vni, c.entry.minPort, c.entry.maxPort, c.entry.underlay)) {
            this.neighborNatRefused++;
            this.log.error({ vni: c.entry.vni, minPort: c.entry.minPort, maxPort: c.entry.maxPort }, 'neighbour NAT table full: range not relayed');
          }
          invalidate = true;
          break;
        case 'neighbor-nat-removed':
          this.nat.removeNeighbor(c.entry.natIp, c.entry.vni, c.entry.minPort, c.entry.maxPort);
          invalidate = true;
          break;
        case 'lb-added':
        case 'lb-target-added':
        case 'lb-target-removed':
          if (!this.lb.set(lbSpec(c.lb))) {
            this.lbRefused++;
            this.log.error({ id: c.lb.id }, 'load balancer table full: load balancer not served');
          }
          invalidate = true;
          break;
        case 'lb-removed':
          this.lb.remove(c.lb.vni, lbSpec(c.lb).address);
          invalidate = true;
          break;
        case 'route-added':
        case 'route-removed':
        case 'vni-routes-reset':
        case 'vni-removed':
        case 'prefix-added':
        case 'prefix-removed':
        case 'interface-added':
        case 'interface-removed':
          invalidate = true;
          break;
        default:
          break;
      }
    }
    if (!invalidate && flush.size === 0) return;
    this.flows.bumpGeneration();
    // deleted routes' records wait out a grace period from here (decisions may name them)
    this.routes.startGrace();
    for (const [port, vip] of flush) await this.workers.broadcast(Op.FLUSH_PORT, port, vip);
    if (flush.size === 0) await this.workers.broadcast(Op.PING, 0);
    for (const port of natGone) this.ports.forgetNat(port);
  }
}
