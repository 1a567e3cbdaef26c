/**
 * Keeps the shared LPM route tables (the ones workers read) equal to the registry's routes: the
 * dataplane subscribes this to the registry's change log, so a route is in the tables before the
 * RPC that added it answers, and gone before the RPC that removed it answers. Interface routes
 * carry their VM port as the target; external routes -1 (their next hop is an underlay address).
 */
import type { Logger } from 'pino';
import { lpmErrorName, Lpm4Table } from '../tables/lpm.js';
import { Lpm6Table } from '../tables/lpm6.js';
import type { RegistryChange } from './registry-changes.js';

export class RouteSync {
  /** Routes the tables refused (full): the registry has them, the packet path does not. */
  refused = 0;

  /**
   * A deleted route's record is not reused until startGrace(): flows' cached decisions may name
   * the route that holds their outer destination (flow-table R_OWNER) for as long as the
   * configuration generation they were made in is current.
   */
  constructor(readonly v4: Lpm4Table, readonly v6: Lpm6Table, private readonly log: Logger) {
    v4.deferGrace = true;
    v6.deferGrace = true;
  }

  /**
   * Starts the grace period of the routes deleted since the last call: call it after the
   * generation bump that made the deletes' decisions stale. Once every worker has passed a
   * quiescent point after this, none holds the records, by index or by a current decision.
   */
  startGrace(): void {
    this.v4.startGrace();
    this.v6.startGrace();
  }

  apply(changes: readonly RegistryChange[]): void {
    for (const c of changes) {
      switch (c.kind) {
        case 'route-added': {
          const r = c.route;
          const target = r.port ?? -1;
          const rc = r.prefix.family === 4
            ? this.v4.insert(r.vni, r.prefix.ipv4, r.length, target, r.nexthopVni, r.nexthopAddress)
            : this.v6.insert(r.vni, r.prefix.ipv6, r.length, target, r.nexthopVni, r.nexthopAddress);
          if (rc < 0) {
            this.refused++;
            this.log.error({ vni: r.vni, length: r.length, err: lpmErrorName(rc) }, 'route table refused a route');
          }
          break;
        }
        case 'route-removed': {
          const r = c.route;
          if (r.prefix.family === 4) this.v4.delete(r.vni, r.prefix.ipv4, r.length);
          else this.v6.delete(r.vni, r.prefix.ipv6, r.length);
          break;
        }
        case 'vni-routes-reset':
        case 'vni-removed':
          this.v4.flushVni(c.vni);
          this.v6.flushVni(c.vni);
          break;
        default:
          break;
      }
    }
  }
}
