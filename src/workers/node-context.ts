/**
 * What graph nodes may read besides the packet: shared tables and the service settings that shape
 * replies. Built once per worker; nodes keep a reference and never allocate from it per packet.
 */
import { FlowOwner, FlowTable } from '../tables/flow-table.js';
import { Lpm4Table } from '../tables/lpm.js';
import { Lpm6Table } from '../tables/lpm6.js';
import { LbTable } from '../tables/lb-table.js';
import { NatTable } from '../tables/nat-table.js';
import type { PortTable } from '../tables/port-table.js';
import { VnfTable } from '../tables/vnf-table.js';
import { VirtsvcTable } from '../tables/virtsvc-table.js';

export interface NodeSettings {
  /** MTU announced in DHCPv4 option 26 (--dhcp-mtu). */
  dhcpMtu: number;
  /** DHCPv4 DNS servers, 4 bytes each, concatenated (--dhcp-dns, in order). */
  dhcpDns: Uint8Array;
  /** DHCPv6 DNS servers, 16 bytes each, concatenated (--dhcpv6-dns, in order). */
  dhcpv6Dns: Uint8Array;
  /** --enable-ipv6-overlay */
  ipv6Overlay: boolean;
}

/** Forwarding settings and the uplinks (from the options and the started ports). */
export interface ForwardingSettings {
  /** Uplink ports; pf1 -1 when there is none. */
  pf0: number;
  pf1: number;
  /** Share of egress flows sent via pf0 in percent (--wcmp); 100 = pf0 only. */
  wcmp: number;
  /** This host's underlay /64 (first 8 bytes of --ipv6): NS for addresses inside it are answered on uplinks. */
  underlayPrefix: Uint8Array;
  /** Seconds before an idle flow expires (--flow-timeout); established TCP keeps 24 h. */
  flowTimeout: number;
  /** Later packets of a flow take its cached decision (off with --no-fast-path). */
  fastPath: boolean;
}

/** The shared buffers of the forwarding tables (handed to every worker). */
export interface ForwardingBuffers {
  routes4: SharedArrayBuffer;
  routes6: SharedArrayBuffer;
  vnf: SharedArrayBuffer;
  flows: SharedArrayBuffer;
  nat: SharedArrayBuffer;
  lb: SharedArrayBuffer;
  virtsvc: SharedArrayBuffer;
}

/** Per-worker flow counters (Float64Array words, read by metrics). */
export const FS_CREATED = 0;
export const FS_CROSS_WORKER = 1;   // packets of flows another worker created
export const FS_FAST_PATH = 2;      // packets that took the cached decision
export const FS_TABLE_FULL = 3;     // new flows refused: table full
export const FS_AGED = 4;
export const FS_FLUSHED = 5;
/** new flows given up because another worker created the same connection at the same time (FLOW_DUP_SETTLED) */
export const FS_DUPLICATE = 6;
/** NAT ports tried again: another worker's new flow took the same one for the same remote end at the same moment */
export const FS_NAT_RACE = 7;
/**
 * of FS_FAST_PATH, packets looked up and applied as soon as they were parsed, above the flow
 * cache's table size while the shim prefetches their bucket lines (FastPath.burstIo)
 */
export const FS_FAST_DIRECT = 8;
export const FS_WORDS = 9;

export interface Forwarding {
  routes4: Lpm4Table;
  routes6: Lpm6Table;
  vnf: VnfTable;
  flows: FlowTable;
  /** Neighbour NAT ranges and NAT ports in use per VM port. */
  nat: NatTable;
  /** Load balancers: addresses, ports, targets and their Maglev tables. */
  lb: LbTable;
  /** Virtual services and their ports in use. */
  virtsvc: VirtsvcTable;
  /** This worker's record allocation, owned-flow list and deferred reuse. */
  owner: FlowOwner;
  settings: ForwardingSettings;
  /** Ticks (FLOW_CLOCK_HZ) since the flow table's epoch, set by the worker once per burst. */
  clock: { now: number };
  /** FS_* counters of this worker. */
  stats: Float64Array;
}

export interface NodeContext {
  ports: PortTable;
  settings: NodeSettings;
  fwd: Forwarding;
}

/** Opens the shared forwarding tables in a worker (or a test) as worker `worker`. */
export function openForwarding(bufs: ForwardingBuffers, settings: ForwardingSettings, worker: number, stats?: Float64Array): Forwarding {
  const flows = new FlowTable(bufs.flows);
  const nat = new NatTable(bufs.nat);
  const owner = new FlowOwner(flows, worker);
  owner.natReleased = (port) => { nat.countPort(port, -1); };
  const virtsvc = new VirtsvcTable(bufs.virtsvc);
  owner.virtsvcReleased = (service) => { virtsvc.countPort(service, -1); };
  return {
    routes4: new Lpm4Table(bufs.routes4),
    routes6: new Lpm6Table(bufs.routes6),
    vnf: new VnfTable(bufs.vnf),
    flows,
    nat,
    lb: new LbTable(bufs.lb),
    virtsvc,
    owner,
    settings,
    clock: { now: 0 },
    stats: stats ?? new Float64Array(FS_WORDS),
  };
}

/** Fresh, empty forwarding tables (tests and benchmarks; the dataplane makes its own), with `virtsvc`. */
export function createForwardingBuffers(flowCapacity = 65536, virtsvc = VirtsvcTable.create([], new Uint8Array(8))): ForwardingBuffers {
  return {
    routes4: Lpm4Table.create({ maxRoutes: 4096, maxRoutesPerVni: 4096, maxVnis: 64 }).sab,
    routes6: Lpm6Table.create({ maxRoutes: 4096, maxRoutesPerVni: 4096, maxVnis: 64 }).sab,
    vnf: VnfTable.create(1024).sab,
    flows: FlowTable.create(flowCapacity).sab,
    nat: NatTable.create().sab,
    lb: LbTable.create().sab,
    virtsvc: virtsvc.sab,
  };
}

export const DEFAULT_FORWARDING: Readonly<ForwardingSettings> = {
  pf0: 0, pf1: 1, wcmp: 100, underlayPrefix: new Uint8Array(8), flowTimeout: 30, fastPath: true,
};
