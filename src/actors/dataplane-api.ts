/**
 * What the control actor (gRPC) needs from the dataplane actor. The dataplane owns DPDK, the ports,
 * the shared tables and the workers; the control actor validates requests and keeps the
 * authoritative object registry, and applies changes through this interface.
 */
import type { InterfaceConfig } from '../tables/port-table.js';

/**
 * What the packet path's tables hold at most. The registry refuses an object beyond them with
 * upstream's error for a full table (ROUTE_INSERT, VNF_INSERT), so that every object a call
 * accepted is also in the tables the workers read.
 */
export interface TableLimits {
  /** Underlay addresses served (interfaces, prefixes, LB prefixes, VIPs, NATs, load balancers). */
  readonly vnfs: number;
  /** Routes of one address family over all VNIs. */
  readonly routes: number;
  /** Routes of one address family in one VNI. */
  readonly routesPerVni: number;
}

export interface DataplaneApi {
  /**
   * The port id of a VM port (not pf0/pf1) by its DPDK device name (e.g. `net_tap2`), or
   * undefined if no such port exists.
   */
  vfPort(deviceName: string): number | undefined;
  /** Activates an interface on a VM port: the workers answer DHCP/ARP/ND on it from then on. */
  attachInterface(port: number, cfg: InterfaceConfig): Promise<void>;
  /**
   * Deactivates a VM port; resolves once every worker has acknowledged (no packet of the old
   * interface is processed after that).
   */
  detachInterface(port: number): Promise<void>;
  /** gRPC Initialize happened: the periodic announcements switch to their post-init schedule. */
  markInitialized(): void;
  /** Host underlay address from --ipv6 (16 bytes); its first 8 bytes prefix every VNF address. */
  readonly hostIpv6: Uint8Array;
  /** The sizes of the tables the registry's objects go to. */
  readonly tableLimits: TableLimits;
}
