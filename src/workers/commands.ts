/**
 * What a worker does with a supervisor command between two bursts (the worker's loop handles
 * STOP itself): PORT_DETACH and FLUSH_PORT delete the worker's own flows of a VM port, FLUSH_ALL
 * all of them; PING does nothing. Acknowledging the command afterwards proves the worker has
 * finished every packet it took before it. One definition for worker.ts and the tests that play a
 * service's workers on shared tables (graph-fuzz.test.ts).
 */
import { flowOfPort } from '../tables/flow-table.js';
import type { PortTable } from '../tables/port-table.js';
import { Op } from './channel.js';
import { FS_FLUSHED, type Forwarding } from './node-context.js';

export class WorkerCommands {
  // the flush in progress (port -1: every flow), read by `match`
  private port = -1;
  private ip = 0;
  private vni = 0;
  private vip = 0;
  private natIp = 0;
  private natRange = 0;
  private readonly match = (f: number): boolean => this.port < 0
    || flowOfPort(this.fwd.flows.rec, f, this.port, this.ip, this.vni, this.vip, this.natIp, this.natRange);

  /** `graceToken`: starts the grace period after which the removed flows' records may be reused. */
  constructor(private readonly fwd: Forwarding, private readonly ports: PortTable, private readonly graceToken: () => number) {}

  /**
   * Handles command `op` with arguments `a` (a port) and `b` (a VIP the port's interface no longer
   * has, 0: none); returns the result to acknowledge (the number of flows removed). A flush of a
   * port finds the flows translated for its interface by the interface's address, VNI and VIP
   * (flowOfPort), read from the port table: it must run before the port table forgets them. A VIP
   * already removed from the port table (so that no new flow gets it) comes as `b`; a removed NAT
   * stays readable in the port table until the flush is done.
   */
  handle(op: number, a: number, b = 0): number {
    if (op !== Op.PORT_DETACH && op !== Op.FLUSH_PORT && op !== Op.FLUSH_ALL) return 0;
    this.port = op === Op.FLUSH_ALL ? -1 : a;
    this.ip = this.port >= 0 ? this.ports.ipv4(this.port) | 0 : 0;
    this.vni = this.port >= 0 ? this.ports.vni(this.port) | 0 : 0;
    this.vip = b !== 0 ? b | 0 : this.port >= 0 ? this.ports.vip(this.port) | 0 : 0;
    // a removed NAT's address and range are still in the port table (TableSync forgets them after)
    this.natIp = this.port >= 0 ? this.ports.natIpWord(this.port) : 0;
    this.natRange = this.port >= 0 ? this.ports.natRangeWord(this.port) : 0;
    const removed = this.fwd.owner.removeWhere(this.match, this.graceToken());
    this.fwd.stats[FS_FLUSHED] = this.fwd.stats[FS_FLUSHED]! + removed;
    return removed;
  }
}
