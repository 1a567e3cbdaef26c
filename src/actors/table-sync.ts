/**
 * Keeps the forwarding tables the workers read equal to the registry, change by change, before the
 * RPC that made the change answers: routes (RouteSync), the VNF table (underlay address -> VNI,
 * kind, port), interface VIPs in the port table; and it makes the packet path forget what a change
 * invalidates. Cached per-flow decisions carry the configuration generation they were made in, so
 * any change to routes, VNFs or VIPs bumps the generation; flows that depended on a removed VIP or
 * interface are deleted by their owning workers (FLUSH_PORT). Either way the workers acknowledge
 * over their command rings before the call answers: no packet after the answer uses the old state.
 */
import type { Logger } from 'pino';
import type { FlowTable } from '../tables/flow-table.js';
import type { PortTable } from '../tables/port-table.js';
import type { VnfTable } from '../tables/vnf-table.js';
import type { RegistryChange } from './registry-changes.js';
import type { RouteSync } from './route-sync.js';

export interface WorkerBarrier {
  /** Resolves when every worker has acknowledged `op(a)` (FLUSH_PORT, PING). */
  broadcast(op: number, a: number): Promise<void>;
}

export const SYNC_OP_PING = 1;
export const SYNC_OP_FLUSH_PORT = 4;

export class TableSync {
  /** VNF entries the table refused (full). */
  vnfRefused = 0;

  constructor(
    readonly routes: RouteSync,
    readonly vnf: VnfTable,
    readonly ports: PortTable,
    readonly flows: FlowTable,
    private readonly workers: WorkerBarrier,
    private readonly log: Logger,
  ) {}

  async apply(changes: readonly RegistryChange[]): Promise<void> {
    this.routes.apply(changes);
    let invalidate = false;
    const flush = new Set<number>();
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
          flush.add(c.port);
          invalidate = true;
          break;
        case 'vip-removed':
          this.ports.setVip(c.port, 0, null);
          flush.add(c.port);
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
    for (const port of flush) await this.workers.broadcast(SYNC_OP_FLUSH_PORT, port);
    if (flush.size === 0) await this.workers.broadcast(SYNC_OP_PING, 0);
  }
}
