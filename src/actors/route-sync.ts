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

  constructor(readonly v4: Lpm4Table, readonly v6: Lpm6Table, private readonly log: Logger) {}

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
