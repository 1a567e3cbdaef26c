/**
 * The authoritative control-plane state: interfaces and what hangs off them (alias and LB
 * prefixes, VIP, NAT, firewall rules), the route tables of every VNI in use, the underlay (VNF)
 * addresses handed out, load balancers, neighbour NATs and the capture state. Transport
 * independent: typed values in, plain objects out, `DpError` thrown with upstream's error number
 * for every refusal. The gRPC actor validates and converts requests; the dataplane actor is told
 * about ports through `DataplaneApi` and follows every other change through `changes`
 * (registry-changes.ts); the packet-path tables can also be (re)built from the read methods here.
 *
 * Semantics follow upstream dpservice (src/grpc/dp_grpc_impl.c, src/dp_lpm.c, src/dp_vni.c,
 * src/dp_vnf.c, src/dp_iface.c, src/dp_nat.c, src/dp_lb.c, src/dp_firewall.c), including the
 * order of checks, so that the same misuse yields the same error number:
 * - a VNI exists while an interface or a load balancer uses it; its two route tables (IPv4,
 *   IPv6) are created with it and dropped, routes and neighbour NATs of the VNI included, with
 *   its last user;
 * - an interface owns the /32 and /128 routes of its addresses and the routes of its alias
 *   prefixes in its VNI; external routes (CreateRoute) point to another host's underlay address;
 * - route prefixes are stored masked to their length, so 1.2.3.4/24 and 1.2.3.255/24 are the same
 *   route (prefixes and LB prefixes are keyed the same way);
 * - every object reachable from other hosts gets a unique underlay address (VNF entry).
 * Where upstream leaves state behind, this registry cleans up (documented at each method):
 * deleting an interface also removes its prefixes, LB prefixes, VIP and NAT, not only its
 * firewall rules.
 *
 * Control path only; allocation and string-keyed maps are fine here.
 */
import type { DataplaneApi } from './dataplane-api.js';
import { DpError, DpErrorCode } from './errors.js';
import { CaptureState } from './registry-capture.js';
import { ChangeLog } from './registry-changes.js';
import { FirewallRuleList } from './registry-firewall.js';
import { LoadBalancerTable } from './registry-lb.js';
import { NatTables } from './registry-nat.js';
import {
  formatIpAddr,
  ipv4Addr,
  ipv6Addr,
  maskIpAddr,
  prefixKey,
  type CaptureSettings,
  type CaptureStatusInfo,
  type DnatEntry,
  type FirewallRuleSpec,
  type InterfaceInfo,
  type IpAddr,
  type LbPort,
  type LoadBalancerInfo,
  type LocalNatEntry,
  type NatInfo,
  type NeighborNatEntry,
  type PrefixInfo,
  type RouteInfo,
  type VipInfo,
  type VnfEntry,
} from './registry-types.js';
import {
  UnderlayGenerator,
  VnfType,
  formatIpv4,
  formatIpv6,
  ipv6Key,
  isZeroIpv6,
  maskIpv4,
  maskIpv6,
  type UnderlayGeneratorOptions,
  type VnfTypeCode,
} from './underlay.js';

export * from './registry-types.js';
export type { ChangeListener, RegistryChange } from './registry-changes.js';
export { ChangeLog } from './registry-changes.js';
export { LB_MAX, LB_MAX_PORTS, LB_MAX_TARGETS, LB_VNI_MAX } from './registry-lb.js';
export { CAPTURE_MAX_INTERFACES } from './registry-capture.js';

/** Longest IPv4 / IPv6 prefix (the route tables refuse longer ones with ROUTE_INSERT). */
export const IPV4_MAX_PREFIX = 32;
export const IPV6_MAX_PREFIX = 128;
/** Largest total rate (Mbit/s) the NIC meter takes; upstream refuses larger ones. */
const METER_RATE_MAX = 0xffffffffn;

/** VNI types of CheckVniInUse / ResetVni (the wire enum). */
export const VniType = { IPV4: 0, IPV6: 1, BOTH: 2 } as const;
export type VniTypeCode = (typeof VniType)[keyof typeof VniType];

/** What CreateInterface asks for, already parsed and validated for syntax. */
export interface CreateInterfaceParams {
  /** Interface id (1..63 characters of [-_0-9A-Za-z]). */
  id: string;
  vni: number;
  /** 0 = IPv4 disabled. */
  ipv4: number;
  /** 16 bytes; all zero = IPv6 disabled. */
  ipv6: Uint8Array;
  /** DPDK device name of the VM port (e.g. `net_tap2`). */
  deviceName: string;
  /** PXE next server as text, '' = none. */
  pxeServer: string;
  /** PXE boot file name, '' = none. */
  bootFile: string;
  hostname: string;
  /** Egress rate limits in Mbit/s (uint64). */
  totalRate: bigint;
  publicRate: bigint;
  /** Client-chosen underlay address; absent or all zero = generate one. */
  preferredUnderlay?: Uint8Array;
}

/** What CreateLoadBalancer asks for, already validated for syntax (ports TCP/UDP, no duplicates). */
export interface CreateLoadBalancerParams {
  id: string;
  vni: number;
  ip: IpAddr;
  ports: readonly LbPort[];
  preferredUnderlay?: Uint8Array;
}

/**
 * Underlay addresses in use: the host answers packets sent to these. Every address is unique
 * across all object kinds (a collision is VNF_INSERT upstream).
 */
export class VnfTable {
  private readonly entries = new Map<string, { addr: Uint8Array; entry: VnfEntry }>();

  /** Registers an address; false if it is already taken. */
  add(addr: Uint8Array, entry: VnfEntry): boolean {
    const key = ipv6Key(addr);
    if (this.entries.has(key)) return false;
    this.entries.set(key, { addr: addr.slice(0, 16), entry });
    return true;
  }

  delete(addr: Uint8Array): boolean {
    return this.entries.delete(ipv6Key(addr));
  }

  get(addr: Uint8Array): VnfEntry | undefined {
    return this.entries.get(ipv6Key(addr))?.entry;
  }

  get size(): number {
    return this.entries.size;
  }

  *[Symbol.iterator](): IterableIterator<[Uint8Array, VnfEntry]> {
    for (const { addr, entry } of this.entries.values()) yield [addr, entry];
  }
}

/** Tuning of the registry; defaults reproduce upstream with `--nic-type mellanox` (its default). */
export interface RegistryOptions {
  /**
   * Whether the NIC applies metering. Upstream validates and stores rates only on Mellanox NICs
   * (total rate must fit in 32 bits and public rate must not exceed it, else PORT_METER); on
   * other NIC types it accepts any rates and reports them as 0. Default true.
   */
  meteringSupported?: boolean;
  /**
   * Whether traffic offloading is on (upstream's default; `--no-offload` turns it off). Capturing
   * mirrors offloaded traffic only, so without offloading CaptureStart is NOT_ACTIVE. Default true.
   */
  offload?: boolean;
  /** Underlay address generation options. */
  underlay?: UnderlayGeneratorOptions;
  /**
   * Name reported as `vf.name` for a port (upstream: the kernel interface name of the VF).
   * Defaults to the device name.
   */
  vfName?: (port: number, deviceName: string) => string | undefined;
}

interface VniState {
  users: number;
  v4: Map<string, RouteInfo>;
  v6: Map<string, RouteInfo>;
}

interface InterfaceRecord {
  info: InterfaceInfo;
  /** False while being created or deleted: invisible to lookups, but id and port stay taken. */
  ready: boolean;
  /** Alias prefixes and LB target prefixes by masked prefix, in creation order. */
  prefixes: Map<string, PrefixInfo>;
  lbPrefixes: Map<string, PrefixInfo>;
  vip: VipInfo | undefined;
  nat: NatInfo | undefined;
  firewall: FirewallRuleList;
}

function routeKey(prefix: IpAddr, length: number): string {
  return prefix.family === 4 ? `${prefix.ipv4}/${length}` : `${ipv6Key(prefix.ipv6)}/${length}`;
}

/**
 * Order in which upstream lists a route table: the default route first, then the rest in
 * post-order of the binary prefix trie (rte_rib_get_nxt), i.e. by address with a longer prefix
 * before the shorter prefix that covers it.
 */
function compareRoutes(a: RouteInfo, b: RouteInfo): number {
  if (a.length === 0 || b.length === 0) return a.length === b.length ? 0 : a.length === 0 ? -1 : 1;
  const common = Math.min(a.length, b.length);
  const c = comparePrefixBits(a.prefix, b.prefix, common);
  if (c !== 0) return c;
  return b.length - a.length;
}

/** Compares the first `bits` bits of two same-family addresses. */
function comparePrefixBits(a: IpAddr, b: IpAddr, bits: number): number {
  if (a.family === 4 && b.family === 4) {
    const x = maskIpv4(a.ipv4, bits);
    const y = maskIpv4(b.ipv4, bits);
    return x === y ? 0 : x < y ? -1 : 1;
  }
  if (a.family === 6 && b.family === 6) {
    const x = maskIpv6(a.ipv6, bits);
    const y = maskIpv6(b.ipv6, bits);
    for (let i = 0; i < 16; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
    return 0;
  }
  return a.family - b.family;
}

const ZERO_IPV6 = new Uint8Array(16);

/** Which families ListRoutes reports. */
export type RouteFamilies = 'ipv4' | 'ipv6' | 'both';

export class Registry {
  readonly underlay: UnderlayGenerator;
  readonly vnf = new VnfTable();
  /** Every state change, for the dataplane to follow (see registry-changes.ts). */
  readonly changes = new ChangeLog();
  private readonly meteringSupported: boolean;
  private readonly vfNameOf: (port: number, deviceName: string) => string | undefined;
  private readonly byId = new Map<string, InterfaceRecord>();
  private readonly byPort = new Map<number, InterfaceRecord>();
  private readonly vnis = new Map<number, VniState>();
  private readonly lbs = new LoadBalancerTable();
  private readonly nat: NatTables;
  private readonly capture: CaptureState;

  constructor(
    private readonly dataplane: DataplaneApi,
    opts: RegistryOptions = {},
  ) {
    this.underlay = new UnderlayGenerator(dataplane.hostIpv6, opts.underlay);
    this.meteringSupported = opts.meteringSupported ?? true;
    this.vfNameOf = opts.vfName ?? (() => undefined);
    this.nat = new NatTables(this.changes);
    this.capture = new CaptureState(opts.offload ?? true);
  }

  // ---- interfaces ---------------------------------------------------------------------------

  /**
   * Creates an interface on a free VM port and activates it in the dataplane. Checks and error
   * numbers in upstream's order: unknown device NOT_FOUND, port in use ALREADY_EXISTS, underlay
   * address taken VNF_INSERT, id in use VM_HANDLE, an address already routed in the VNI
   * ROUTE_EXISTS, bad metering PORT_METER, dataplane failure PORT_START. Every failure undoes
   * what was done before it.
   */
  async createInterface(p: CreateInterfaceParams): Promise<InterfaceInfo> {
    const port = this.dataplane.vfPort(p.deviceName);
    if (port === undefined) throw new DpError(DpErrorCode.NOT_FOUND, `no VM port named '${p.deviceName}'`);
    if (this.byPort.has(port)) throw new DpError(DpErrorCode.ALREADY_EXISTS, `port ${p.deviceName} already has an interface`);

    const underlay = this.chooseUnderlay(p.preferredUnderlay, VnfType.INTERFACE_IP);
    const vnfEntry: VnfEntry = { type: VnfType.INTERFACE_IP, vni: p.vni >>> 0, port };
    this.takeVnf(underlay, vnfEntry);
    if (this.byId.has(p.id)) {
      this.vnf.delete(underlay);
      throw new DpError(DpErrorCode.VM_HANDLE, `interface id '${p.id}' already in use`);
    }

    let totalRate = p.totalRate;
    let publicRate = p.publicRate;
    if (!this.meteringSupported) {
      totalRate = 0n;
      publicRate = 0n;
    }
    const info: InterfaceInfo = {
      id: p.id,
      vni: p.vni >>> 0,
      ipv4: p.ipv4 >>> 0,
      ipv6: p.ipv6.slice(0, 16),
      underlay,
      deviceName: p.deviceName,
      port,
      vfName: this.vfNameOf(port, p.deviceName) ?? p.deviceName,
      hostname: p.hostname,
      pxeServer: p.pxeServer,
      bootFile: p.bootFile,
      totalRate,
      publicRate,
    };
    const rec: InterfaceRecord = {
      info,
      ready: false,
      prefixes: new Map(),
      lbPrefixes: new Map(),
      vip: undefined,
      nat: undefined,
      firewall: new FirewallRuleList(),
    };
    this.byId.set(p.id, rec);
    this.byPort.set(port, rec);
    const vniCreated = this.acquireVni(info.vni);

    const routes: RouteInfo[] = [];
    try {
      if (info.ipv4 !== 0) routes.push(this.insertRoute(info.vni, ipv4Addr(info.ipv4), IPV4_MAX_PREFIX, port, 0, ZERO_IPV6));
      if (!isZeroIpv6(info.ipv6)) routes.push(this.insertRoute(info.vni, ipv6Addr(info.ipv6), IPV6_MAX_PREFIX, port, 0, ZERO_IPV6));
      if (this.meteringSupported) {
        if (p.totalRate > METER_RATE_MAX) {
          throw new DpError(DpErrorCode.PORT_METER, `total_rate ${p.totalRate} exceeds the NIC limit`);
        }
        if (p.publicRate > p.totalRate) {
          throw new DpError(DpErrorCode.PORT_METER, `public_rate ${p.publicRate} exceeds total_rate ${p.totalRate}`);
        }
      }
      try {
        await this.dataplane.attachInterface(port, {
          vni: info.vni,
          ipv4: info.ipv4,
          ipv6: info.ipv6,
          underlay: info.underlay,
          hostname: info.hostname,
          pxeServer: info.pxeServer,
          bootFile: info.bootFile,
        });
      } catch (e) {
        throw new DpError(DpErrorCode.PORT_START, `activating port ${p.deviceName}: ${(e as Error).message}`);
      }
    } catch (e) {
      this.removeInterfaceState(rec, true);
      throw e;
    }
    rec.ready = true;
    if (vniCreated) this.changes.record({ kind: 'vni-added', vni: info.vni });
    this.changes.record({ kind: 'vnf-added', address: underlay, entry: vnfEntry });
    for (const route of routes) this.changes.record({ kind: 'route-added', route });
    this.changes.record({ kind: 'interface-added', iface: info });
    return info;
  }

  /**
   * Deletes an interface: deactivates its port, then removes its firewall rules, VIP, NAT, LB
   * prefixes and prefixes (routes and underlay addresses), frees its underlay address and id,
   * removes its routes and releases its VNI (dropping the VNI's routes if it was the last user).
   * Upstream removes only the firewall rules with the interface and leaves the rest behind (a
   * re-created interface with the same address would find the old VIP); here nothing is left.
   * A dataplane failure still cleans up and then reports PORT_STOP, as upstream does.
   */
  async deleteInterface(id: string): Promise<void> {
    const rec = this.byId.get(id);
    if (rec === undefined || !rec.ready) throw new DpError(DpErrorCode.NOT_FOUND, `no interface '${id}'`);
    rec.ready = false;
    let failure: Error | undefined;
    try {
      await this.dataplane.detachInterface(rec.info.port);
    } catch (e) {
      failure = e as Error;
    }
    this.removeInterfaceObjects(rec);
    this.removeInterfaceState(rec, false);
    if (failure !== undefined) {
      throw new DpError(DpErrorCode.PORT_STOP, `deactivating port ${rec.info.deviceName}: ${failure.message}`);
    }
  }

  /** Removes everything hanging off an interface (recording each removal). */
  private removeInterfaceObjects(rec: InterfaceRecord): void {
    const info = rec.info;
    for (const rule of rec.firewall.clear()) this.changes.record({ kind: 'firewall-rule-removed', port: info.port, rule });
    if (rec.vip !== undefined) this.dropVip(rec);
    if (rec.nat !== undefined) this.dropNat(rec);
    for (const pfx of [...rec.lbPrefixes.values()]) this.dropPrefix(rec, pfx, false);
    for (const pfx of [...rec.prefixes.values()]) this.dropPrefix(rec, pfx, true);
    this.capture.forgetPort(info.port);
  }

  /** Undoes everything createInterface registered (not the dataplane attach). */
  private removeInterfaceState(rec: InterfaceRecord, rollback: boolean): void {
    const info = rec.info;
    rec.ready = false;
    const vnfEntry = this.vnf.get(info.underlay);
    this.vnf.delete(info.underlay);
    if (this.byId.get(info.id) === rec) this.byId.delete(info.id);
    if (this.byPort.get(info.port) === rec) this.byPort.delete(info.port);
    const vni = this.vnis.get(info.vni);
    if (vni !== undefined) {
      for (const route of [
        this.removeOwnRoute(vni.v4, ipv4Addr(info.ipv4), IPV4_MAX_PREFIX, info.port),
        this.removeOwnRoute(vni.v6, ipv6Addr(info.ipv6), IPV6_MAX_PREFIX, info.port),
      ]) {
        if (route !== undefined && !rollback) this.changes.record({ kind: 'route-removed', route });
      }
    }
    if (!rollback) {
      if (vnfEntry !== undefined) this.changes.record({ kind: 'vnf-removed', address: info.underlay, entry: vnfEntry });
      this.changes.record({ kind: 'interface-removed', iface: info });
    }
    this.releaseVni(info.vni, !rollback);
  }

  private removeOwnRoute(table: Map<string, RouteInfo>, prefix: IpAddr, length: number, port: number): RouteInfo | undefined {
    const key = routeKey(prefix, length);
    const route = table.get(key);
    if (route?.port !== port) return undefined;
    table.delete(key);
    return route;
  }

  /** The interface with this id; NOT_FOUND otherwise. */
  getInterface(id: string): InterfaceInfo {
    const info = this.findInterface(id);
    if (info === undefined) throw new DpError(DpErrorCode.NOT_FOUND, `no interface '${id}'`);
    return info;
  }

  /** The interface with this id, if any. Other actors use this for NO_VM checks. */
  findInterface(id: string): InterfaceInfo | undefined {
    const rec = this.byId.get(id);
    return rec?.ready ? rec.info : undefined;
  }

  /** The interface on a VM port, if any. */
  getInterfaceByPort(port: number): InterfaceInfo | undefined {
    const rec = this.byPort.get(port);
    return rec?.ready ? rec.info : undefined;
  }

  /** Every interface, in port order (as upstream lists them). */
  listInterfaces(): InterfaceInfo[] {
    const out: InterfaceInfo[] = [];
    for (const rec of this.byPort.values()) if (rec.ready) out.push(rec.info);
    return out.sort((a, b) => a.port - b.port);
  }

  /** The live interface record for an object RPC; NO_VM otherwise (upstream's answer there). */
  private vm(id: string): InterfaceRecord {
    const rec = this.byId.get(id);
    if (rec === undefined || !rec.ready) throw new DpError(DpErrorCode.NO_VM, `no interface '${id}'`);
    return rec;
  }

  // ---- underlay addresses -------------------------------------------------------------------

  /** The client's address if given (non-zero), else a fresh one. */
  private chooseUnderlay(preferred: Uint8Array | undefined, type: VnfTypeCode): Uint8Array {
    return preferred !== undefined && !isZeroIpv6(preferred) ? preferred.slice(0, 16) : this.underlay.generate(type);
  }

  /** Registers an underlay address (the caller records it); VNF_INSERT if it is taken or the table is full. */
  private addVnf(preferred: Uint8Array | undefined, entry: VnfEntry): Uint8Array {
    const addr = this.chooseUnderlay(preferred, entry.type);
    this.takeVnf(addr, entry);
    return addr;
  }

  /**
   * Enters `addr` in the registry's VNF table (not recorded); VNF_INSERT when the packet path's
   * table holds as many addresses as it takes, or when `addr` is taken.
   */
  private takeVnf(addr: Uint8Array, entry: VnfEntry): void {
    const max = this.dataplane.tableLimits.vnfs;
    if (this.vnf.size >= max) throw new DpError(DpErrorCode.VNF_INSERT, `underlay address table full (${max} addresses)`);
    if (!this.vnf.add(addr, entry)) throw new DpError(DpErrorCode.VNF_INSERT, `underlay address ${formatIpv6(addr)} already in use`);
  }

  /** Frees an underlay address; `record` false when undoing an unrecorded add. */
  private removeVnf(addr: Uint8Array, record: boolean): void {
    const entry = this.vnf.get(addr);
    if (entry === undefined) return;
    this.vnf.delete(addr);
    if (record) this.changes.record({ kind: 'vnf-removed', address: addr, entry });
  }

  // ---- VNIs ---------------------------------------------------------------------------------

  /** Counts one more user of a VNI, creating its (empty) route tables for the first one. */
  private acquireVni(vni: number): boolean {
    const s = this.vnis.get(vni >>> 0);
    if (s !== undefined) {
      s.users++;
      return false;
    }
    this.vnis.set(vni >>> 0, { users: 1, v4: new Map(), v6: new Map() });
    return true;
  }

  /**
   * Counts one user less; the last one drops the VNI with all its routes and, as upstream,
   * every neighbour NAT registered in it.
   */
  private releaseVni(vni: number, record: boolean): void {
    const s = this.vnis.get(vni >>> 0);
    if (s === undefined) return;
    if (--s.users > 0) return;
    this.vnis.delete(vni >>> 0);
    if (record) this.changes.record({ kind: 'vni-removed', vni: vni >>> 0 });
    this.nat.purgeNeighbors(vni);
  }

  /** Whether an interface or load balancer uses the VNI (its route tables exist). */
  isVniInUse(vni: number): boolean {
    return this.vnis.has(vni >>> 0);
  }

  /**
   * CheckVniInUse: whether the VNI's IPv4 / IPv6 route table exists (both exist together).
   * WRONG_TYPE for VNI_BOTH, as upstream.
   */
  checkVniInUse(vni: number, type: VniTypeCode): boolean {
    if (type === VniType.BOTH) throw new DpError(DpErrorCode.WRONG_TYPE, 'CheckVniInUse takes VNI_IPV4 or VNI_IPV6');
    return this.isVniInUse(vni);
  }

  /**
   * ResetVni: empties both route tables of the VNI (alias-prefix routes included) and puts back
   * the interfaces' own routes. Only VNI_BOTH is accepted (WRONG_TYPE otherwise); a VNI not in
   * use is fine.
   */
  resetVni(vni: number, type: VniTypeCode): void {
    if (type !== VniType.BOTH) throw new DpError(DpErrorCode.WRONG_TYPE, 'ResetVni takes VNI_BOTH only');
    this.resetVniRoutes(vni);
  }

  /** VNIs in use, ascending. */
  vniList(): number[] {
    return [...this.vnis.keys()].sort((a, b) => a - b);
  }

  // ---- routes -------------------------------------------------------------------------------

  /**
   * Adds an external route: `prefix/length` in `vni` goes to the host at underlay `nexthop`
   * (target VNI `nexthopVni`). BAD_IPVER for a non-IPv6 next hop, NO_VNI when the VNI is not in
   * use, ROUTE_EXISTS for an existing prefix (after masking), ROUTE_INSERT for a length beyond
   * the family's maximum or a full route table (DataplaneApi.tableLimits).
   */
  createRoute(vni: number, prefix: IpAddr, length: number, nexthopVni: number, nexthop: IpAddr): RouteInfo {
    if (nexthop.family !== 6) throw new DpError(DpErrorCode.BAD_IPVER, `next hop ${formatIpAddr(nexthop)} is not IPv6`);
    const route = this.insertRoute(vni, prefix, length, undefined, nexthopVni, nexthop.ipv6);
    this.changes.record({ kind: 'route-added', route });
    return route;
  }

  /**
   * Removes an external route. NO_VNI when the VNI is not in use, ROUTE_NOT_FOUND when no such
   * prefix exists, ROUTE_BAD_PORT when the prefix belongs to an interface (own address, prefix).
   */
  deleteRoute(vni: number, prefix: IpAddr, length: number): void {
    this.removeRoute(vni, prefix, length, undefined);
  }

  private removeRoute(vni: number, prefix: IpAddr, length: number, port: number | undefined): void {
    const table = this.routeTable(vni, prefix.family);
    const key = routeKey(maskIpAddr(prefix, length), length);
    const route = this.validLength(prefix, length) ? table.get(key) : undefined;
    if (route === undefined) {
      throw new DpError(DpErrorCode.ROUTE_NOT_FOUND, `no route ${formatIpAddr(prefix)}/${length} in VNI ${vni}`);
    }
    if (route.port !== port) {
      throw new DpError(DpErrorCode.ROUTE_BAD_PORT, `${formatIpAddr(prefix)}/${length} in VNI ${vni} has another next hop`);
    }
    table.delete(key);
    this.changes.record({ kind: 'route-removed', route });
  }

  /**
   * External routes of a VNI, or of every VNI in use for VNI 0, in upstream's listing order.
   * NO_VNI for a VNI not in use. Upstream lists only the IPv4 table (`families` 'ipv4', the
   * default the gRPC API uses); 'both' adds the IPv6 routes after them.
   */
  listRoutes(vni: number, families: RouteFamilies = 'ipv4'): RouteInfo[] {
    if (vni === 0) {
      const out: RouteInfo[] = [];
      for (const v of this.vniList()) out.push(...this.listVniRoutes(this.vnis.get(v)!, families));
      return out;
    }
    const s = this.vnis.get(vni >>> 0);
    if (s === undefined) throw new DpError(DpErrorCode.NO_VNI, `VNI ${vni} not in use`);
    return this.listVniRoutes(s, families);
  }

  /** Every route of a VNI, interface routes included (for building packet-path tables). */
  allRoutes(vni: number): RouteInfo[] {
    const s = this.vnis.get(vni >>> 0);
    if (s === undefined) return [];
    return [...s.v4.values(), ...s.v6.values()];
  }

  private listVniRoutes(s: VniState, families: RouteFamilies): RouteInfo[] {
    const pick = (t: Map<string, RouteInfo>): RouteInfo[] =>
      [...t.values()].filter((r) => r.port === undefined).sort(compareRoutes);
    if (families === 'ipv4') return pick(s.v4);
    if (families === 'ipv6') return pick(s.v6);
    return [...pick(s.v4), ...pick(s.v6)];
  }

  /** Empties the route tables of a VNI, keeping its interfaces' own routes (upstream ResetVni). */
  resetVniRoutes(vni: number): void {
    const s = this.vnis.get(vni >>> 0);
    if (s === undefined) return;
    s.v4.clear();
    s.v6.clear();
    this.changes.record({ kind: 'vni-routes-reset', vni: vni >>> 0 });
    for (const rec of this.byPort.values()) if (rec.info.vni === (vni >>> 0)) this.addOwnRoutes(rec.info);
  }

  /**
   * Initialize: empties every route table and puts back the interfaces' own routes, and drops
   * every neighbour NAT (upstream dp_process_initialize). Upstream re-adds 0.0.0.0/32 and ::/128
   * for interfaces with a disabled family; this does not.
   */
  initialize(): void {
    for (const vni of this.vniList()) {
      const s = this.vnis.get(vni)!;
      s.v4.clear();
      s.v6.clear();
      this.changes.record({ kind: 'vni-routes-reset', vni });
    }
    for (const rec of this.byPort.values()) this.addOwnRoutes(rec.info);
    this.nat.purgeNeighbors(undefined);
  }

  private addOwnRoutes(info: InterfaceInfo): void {
    const s = this.vnis.get(info.vni);
    if (s === undefined) return;
    const add = (table: Map<string, RouteInfo>, prefix: IpAddr, length: number): void => {
      const route = this.routeInfo(info.vni, prefix, length, info.port, 0, ZERO_IPV6);
      table.set(routeKey(prefix, length), route);
      this.changes.record({ kind: 'route-added', route });
    };
    if (info.ipv4 !== 0) add(s.v4, ipv4Addr(info.ipv4), IPV4_MAX_PREFIX);
    if (!isZeroIpv6(info.ipv6)) add(s.v6, ipv6Addr(info.ipv6), IPV6_MAX_PREFIX);
  }

  private validLength(prefix: IpAddr, length: number): boolean {
    return length >= 0 && length <= (prefix.family === 4 ? IPV4_MAX_PREFIX : IPV6_MAX_PREFIX);
  }

  /** Routes of one family over all VNIs (what the packet path's table of that family holds). */
  private routeCount(family: 4 | 6): number {
    let n = 0;
    for (const s of this.vnis.values()) n += family === 4 ? s.v4.size : s.v6.size;
    return n;
  }

  private routeTable(vni: number, family: 4 | 6): Map<string, RouteInfo> {
    const s = this.vnis.get(vni >>> 0);
    if (s === undefined) throw new DpError(DpErrorCode.NO_VNI, `VNI ${vni} not in use`);
    return family === 4 ? s.v4 : s.v6;
  }

  private routeInfo(
    vni: number,
    prefix: IpAddr,
    length: number,
    port: number | undefined,
    nexthopVni: number,
    nexthop: Uint8Array,
  ): RouteInfo {
    return { vni, prefix, length, port, nexthopVni: nexthopVni >>> 0, nexthopAddress: nexthop.slice(0, 16) };
  }

  /** Inserts a route (not recorded; callers record once the whole operation succeeded). */
  private insertRoute(
    vni: number,
    prefix: IpAddr,
    length: number,
    port: number | undefined,
    nexthopVni: number,
    nexthop: Uint8Array,
  ): RouteInfo {
    const table = this.routeTable(vni, prefix.family);
    if (!this.validLength(prefix, length)) {
      throw new DpError(DpErrorCode.ROUTE_INSERT, `prefix length ${length} too long for ${formatIpAddr(prefix)}`);
    }
    const m = maskIpAddr(prefix, length);
    const key = routeKey(m, length);
    if (table.has(key)) {
      throw new DpError(DpErrorCode.ROUTE_EXISTS, `route ${formatIpAddr(m)}/${length} already in VNI ${vni}`);
    }
    const limits = this.dataplane.tableLimits;
    if (table.size >= limits.routesPerVni) {
      throw new DpError(DpErrorCode.ROUTE_INSERT, `route table of VNI ${vni} full (${limits.routesPerVni} IPv${prefix.family} routes)`);
    }
    if (this.routeCount(prefix.family) >= limits.routes) {
      throw new DpError(DpErrorCode.ROUTE_INSERT, `route tables full (${limits.routes} IPv${prefix.family} routes over all VNIs)`);
    }
    const route = this.routeInfo(vni >>> 0, m, length, port, nexthopVni, nexthop);
    table.set(key, route);
    return route;
  }

  // ---- alias prefixes and LB target prefixes ------------------------------------------------

  /**
   * CreatePrefix: routes `prefix/length` in the interface's VNI to its port and gives it an
   * underlay address. NO_VM, then the route's errors (ROUTE_EXISTS, ROUTE_INSERT), then
   * VNF_INSERT (the route is removed again).
   */
  createPrefix(interfaceId: string, prefix: IpAddr, length: number, preferredUnderlay?: Uint8Array): PrefixInfo {
    const rec = this.vm(interfaceId);
    const { vni, port } = rec.info;
    const route = this.insertRoute(vni, prefix, length, port, 0, ZERO_IPV6);
    const entry: VnfEntry = { type: VnfType.ALIAS_PFX, vni, port, prefix, prefixLength: length };
    let underlay: Uint8Array;
    try {
      underlay = this.addVnf(preferredUnderlay, entry);
    } catch (e) {
      this.routeTable(vni, prefix.family).delete(routeKey(route.prefix, length));
      throw e;
    }
    // a record whose route a reset dropped is replaced (upstream would list both)
    const key = prefixKey(prefix, length);
    const stale = rec.prefixes.get(key);
    if (stale !== undefined) this.dropPrefix(rec, stale, false);
    const info: PrefixInfo = { kind: 'alias', interfaceId, port, vni, prefix, length, underlay };
    rec.prefixes.set(key, info);
    this.changes.record({ kind: 'route-added', route });
    this.changes.record({ kind: 'vnf-added', address: underlay, entry });
    this.changes.record({ kind: 'prefix-added', prefix: info });
    return info;
  }

  /**
   * DeletePrefix: removes the route and the underlay address. NO_VM; a missing route is
   * ROUTE_NOT_FOUND (ROUTE_BAD_PORT if it routes elsewhere) even when the prefix record is
   * removed, and a missing record is NOT_FOUND, as upstream reports them.
   */
  deletePrefix(interfaceId: string, prefix: IpAddr, length: number): void {
    const rec = this.vm(interfaceId);
    let routeError: unknown;
    try {
      this.removeRoute(rec.info.vni, prefix, length, rec.info.port);
    } catch (e) {
      routeError = e;
    }
    const info = rec.prefixes.get(prefixKey(prefix, length));
    if (info !== undefined) this.dropPrefix(rec, info, false);
    if (routeError !== undefined) throw routeError;
    if (info === undefined) throw new DpError(DpErrorCode.NOT_FOUND, `no prefix ${formatIpAddr(prefix)}/${length} on '${interfaceId}'`);
  }

  /** Alias prefixes of an interface in creation order; NO_VM for an unknown interface. */
  listPrefixes(interfaceId: string): PrefixInfo[] {
    return [...this.vm(interfaceId).prefixes.values()];
  }

  /**
   * CreateLoadBalancerPrefix: gives `prefix/length` of an interface an underlay address that
   * load balancers can use as target (no route). NO_VM, ALREADY_EXISTS, VNF_INSERT.
   */
  createLbPrefix(interfaceId: string, prefix: IpAddr, length: number, preferredUnderlay?: Uint8Array): PrefixInfo {
    const rec = this.vm(interfaceId);
    const { vni, port } = rec.info;
    const key = prefixKey(prefix, length);
    if (rec.lbPrefixes.has(key)) {
      throw new DpError(DpErrorCode.ALREADY_EXISTS, `LB prefix ${formatIpAddr(prefix)}/${length} exists on '${interfaceId}'`);
    }
    const entry: VnfEntry = { type: VnfType.LB_ALIAS_PFX, vni, port, prefix, prefixLength: length };
    const underlay = this.addVnf(preferredUnderlay, entry);
    const info: PrefixInfo = { kind: 'lb', interfaceId, port, vni, prefix, length, underlay };
    rec.lbPrefixes.set(key, info);
    this.changes.record({ kind: 'vnf-added', address: underlay, entry });
    this.changes.record({ kind: 'prefix-added', prefix: info });
    return info;
  }

  /** DeleteLoadBalancerPrefix: NO_VM, NOT_FOUND. */
  deleteLbPrefix(interfaceId: string, prefix: IpAddr, length: number): void {
    const rec = this.vm(interfaceId);
    const info = rec.lbPrefixes.get(prefixKey(prefix, length));
    if (info === undefined) {
      throw new DpError(DpErrorCode.NOT_FOUND, `no LB prefix ${formatIpAddr(prefix)}/${length} on '${interfaceId}'`);
    }
    this.dropPrefix(rec, info, false);
  }

  /** LB target prefixes of an interface in creation order; NO_VM for an unknown interface. */
  listLbPrefixes(interfaceId: string): PrefixInfo[] {
    return [...this.vm(interfaceId).lbPrefixes.values()];
  }

  /** Every prefix of every interface, alias and LB (for building packet-path tables). */
  allPrefixes(): PrefixInfo[] {
    const out: PrefixInfo[] = [];
    for (const info of this.listInterfaces()) {
      const rec = this.byPort.get(info.port)!;
      out.push(...rec.prefixes.values(), ...rec.lbPrefixes.values());
    }
    return out;
  }

  /** Forgets a prefix record and its underlay address; `withRoute` also removes its route. */
  private dropPrefix(rec: InterfaceRecord, info: PrefixInfo, withRoute: boolean): void {
    const map = info.kind === 'alias' ? rec.prefixes : rec.lbPrefixes;
    map.delete(prefixKey(info.prefix, info.length));
    if (withRoute) {
      try {
        this.removeRoute(info.vni, info.prefix, info.length, info.port);
      } catch {
        // the route went with a reset already
      }
    }
    this.removeVnf(info.underlay, true);
    this.changes.record({ kind: 'prefix-removed', prefix: info });
  }

  // ---- virtual IP ---------------------------------------------------------------------------

  /**
   * CreateVip: 1:1 NAT of the interface's IPv4 to `vip`. NO_VM, BAD_IPVER (IPv4 only),
   * VNF_INSERT, SNAT_EXISTS (the interface has a VIP), DNAT_EXISTS (the VIP is translated in the
   * VNI already: another VIP or a NAT address).
   */
  createVip(interfaceId: string, vip: IpAddr, preferredUnderlay?: Uint8Array): VipInfo {
    const rec = this.vm(interfaceId);
    if (vip.family !== 4) throw new DpError(DpErrorCode.BAD_IPVER, `VIP ${formatIpAddr(vip)} is not IPv4`);
    const { vni, port, ipv4 } = rec.info;
    const entry: VnfEntry = { type: VnfType.VIP, vni, port };
    const underlay = this.addVnf(preferredUnderlay, entry);
    try {
      if (rec.vip !== undefined) throw new DpError(DpErrorCode.SNAT_EXISTS, `'${interfaceId}' has VIP ${formatIpv4(rec.vip.vip)}`);
      this.nat.addVipDnat(vni, vip.ipv4, ipv4);
    } catch (e) {
      this.removeVnf(underlay, false);
      throw e;
    }
    const info: VipInfo = { vip: vip.ipv4, underlay };
    if (rec.nat === undefined) this.nat.snatOrder.insert(rec, ipv4, vni);
    rec.vip = info;
    this.changes.record({ kind: 'vnf-added', address: underlay, entry });
    this.changes.record({ kind: 'vip-added', port, vni, ifaceIpv4: ipv4, vip: info });
    return info;
  }

  /** The interface's VIP: NO_VM, SNAT_NO_DATA when it has none. */
  getVip(interfaceId: string): VipInfo {
    const rec = this.vm(interfaceId);
    if (rec.vip === undefined) throw new DpError(DpErrorCode.SNAT_NO_DATA, `'${interfaceId}' has no VIP`);
    return rec.vip;
  }

  /** DeleteVip: NO_VM, SNAT_NO_DATA. */
  deleteVip(interfaceId: string): void {
    const rec = this.vm(interfaceId);
    if (rec.vip === undefined) throw new DpError(DpErrorCode.SNAT_NO_DATA, `'${interfaceId}' has no VIP`);
    this.dropVip(rec);
  }

  private dropVip(rec: InterfaceRecord): void {
    const vip = rec.vip!;
    const { vni, port, ipv4 } = rec.info;
    rec.vip = undefined;
    if (rec.nat === undefined) this.nat.snatOrder.remove(rec);
    this.removeVnf(vip.underlay, true);
    this.nat.removeVipDnat(vni, vip.vip);
    this.changes.record({ kind: 'vip-removed', port, vni, ifaceIpv4: ipv4, vip });
  }

  // ---- NAT ----------------------------------------------------------------------------------

  /**
   * CreateNat: network NAT of the interface to `natIp` with source ports in [minPort, maxPort)
   * (the syntax layer checks the ports). NO_VM, BAD_IPVER (IPv4 only), VNF_INSERT, SNAT_EXISTS
   * (the interface has a NAT). Interfaces may share a NAT IP; upstream does not check their
   * port ranges against each other, neither does this.
   */
  createNat(interfaceId: string, natIp: IpAddr, minPort: number, maxPort: number, preferredUnderlay?: Uint8Array): NatInfo {
    const rec = this.vm(interfaceId);
    if (natIp.family !== 4) throw new DpError(DpErrorCode.BAD_IPVER, `NAT IP ${formatIpAddr(natIp)} is not IPv4`);
    const { vni, port, ipv4 } = rec.info;
    const entry: VnfEntry = { type: VnfType.NAT, vni, port };
    const underlay = this.addVnf(preferredUnderlay, entry);
    if (rec.nat !== undefined) {
      this.removeVnf(underlay, false);
      throw new DpError(DpErrorCode.SNAT_EXISTS, `'${interfaceId}' has NAT ${formatIpv4(rec.nat.natIp)}`);
    }
    const info: NatInfo = { natIp: natIp.ipv4, minPort, maxPort, underlay };
    if (rec.vip === undefined) this.nat.snatOrder.insert(rec, ipv4, vni);
    rec.nat = info;
    this.changes.record({ kind: 'vnf-added', address: underlay, entry });
    this.nat.addNatDnat(vni, natIp.ipv4);
    this.changes.record({ kind: 'nat-added', entry: this.localNat(rec) });
    return info;
  }

  /** The interface's NAT: NO_VM, SNAT_NO_DATA when it has none. */
  getNat(interfaceId: string): NatInfo {
    const rec = this.vm(interfaceId);
    if (rec.nat === undefined) throw new DpError(DpErrorCode.SNAT_NO_DATA, `'${interfaceId}' has no NAT`);
    return rec.nat;
  }

  /** DeleteNat: NO_VM, SNAT_NO_DATA. */
  deleteNat(interfaceId: string): void {
    const rec = this.vm(interfaceId);
    if (rec.nat === undefined) throw new DpError(DpErrorCode.SNAT_NO_DATA, `'${interfaceId}' has no NAT`);
    this.dropNat(rec);
  }

  private dropNat(rec: InterfaceRecord): void {
    const entry = this.localNat(rec);
    const nat = rec.nat!;
    rec.nat = undefined;
    if (rec.vip === undefined) this.nat.snatOrder.remove(rec);
    this.removeVnf(nat.underlay, true);
    this.nat.removeNatDnat(entry.vni, nat.natIp);
    this.changes.record({ kind: 'nat-removed', entry });
  }

  private localNat(rec: InterfaceRecord): LocalNatEntry {
    const { id, port, vni, ipv4 } = rec.info;
    return { ...rec.nat!, interfaceId: id, port, vni, ifaceIpv4: ipv4 };
  }

  /**
   * ListLocalNats: the NATs using `natIp` (0.0.0.0 = all), in upstream's listing order (its SNAT
   * hash table's). BAD_IPVER for an IPv6 query.
   */
  listLocalNats(natIp: IpAddr): LocalNatEntry[] {
    if (natIp.family !== 4) throw new DpError(DpErrorCode.BAD_IPVER, `NAT IP ${formatIpAddr(natIp)} is not IPv4`);
    const out: LocalNatEntry[] = [];
    for (const item of this.nat.snatOrder.ordered()) {
      const rec = item as InterfaceRecord;
      if (rec.nat !== undefined && (natIp.ipv4 === 0 || rec.nat.natIp === natIp.ipv4)) out.push(this.localNat(rec));
    }
    return out;
  }

  /**
   * CreateNeighborNat: another host serves ports [minPort, maxPort) of `natIp` in `vni` at
   * `underlay`. BAD_IPVER, ALREADY_EXISTS (overlapping range of the same IP). The VNI need not
   * be in use; its neighbour NATs go when it is dropped.
   */
  createNeighborNat(natIp: IpAddr, vni: number, minPort: number, maxPort: number, underlay: Uint8Array): NeighborNatEntry {
    if (natIp.family !== 4) throw new DpError(DpErrorCode.BAD_IPVER, `NAT IP ${formatIpAddr(natIp)} is not IPv4`);
    return this.nat.addNeighbor(natIp.ipv4, vni, minPort, maxPort, underlay);
  }

  /** DeleteNeighborNat: BAD_IPVER, NOT_FOUND (exact IP, VNI and range). */
  deleteNeighborNat(natIp: IpAddr, vni: number, minPort: number, maxPort: number): void {
    if (natIp.family !== 4) throw new DpError(DpErrorCode.BAD_IPVER, `NAT IP ${formatIpAddr(natIp)} is not IPv4`);
    this.nat.removeNeighbor(natIp.ipv4, vni, minPort, maxPort);
  }

  /** ListNeighborNats: ranges of `natIp` (0.0.0.0 = all) in creation order. BAD_IPVER for IPv6. */
  listNeighborNats(natIp: IpAddr): NeighborNatEntry[] {
    if (natIp.family !== 4) throw new DpError(DpErrorCode.BAD_IPVER, `NAT IP ${formatIpAddr(natIp)} is not IPv4`);
    return this.nat.listNeighbors(natIp.ipv4);
  }

  /** Destination-NAT entries (VIPs, NAT IPs) for the packet path. */
  dnatEntries(): DnatEntry[] {
    return this.nat.dnatEntries();
  }

  // ---- load balancers -----------------------------------------------------------------------

  /**
   * CreateLoadBalancer (VNI, ports and id already checked for syntax): VNF_INSERT, then
   * ALREADY_EXISTS ({VNI, IP} or id taken), OUT_OF_MEMORY (256 load balancers exist). The load
   * balancer keeps its VNI in use.
   */
  createLoadBalancer(p: CreateLoadBalancerParams): LoadBalancerInfo {
    const entry: VnfEntry = { type: VnfType.LB, vni: p.vni >>> 0, port: undefined };
    const underlay = this.addVnf(p.preferredUnderlay, entry);
    let lb: LoadBalancerInfo;
    try {
      lb = this.lbs.create(p.id, p.vni, p.ip, p.ports, underlay);
    } catch (e) {
      this.removeVnf(underlay, false);
      throw e;
    }
    if (this.acquireVni(lb.vni)) this.changes.record({ kind: 'vni-added', vni: lb.vni });
    this.changes.record({ kind: 'vnf-added', address: underlay, entry });
    this.changes.record({ kind: 'lb-added', lb });
    return lb;
  }

  /** DeleteLoadBalancer: NOT_FOUND; releases the VNI. */
  deleteLoadBalancer(id: string): void {
    const lb = this.lbs.delete(id);
    this.removeVnf(lb.underlay, true);
    this.changes.record({ kind: 'lb-removed', lb });
    this.releaseVni(lb.vni, true);
  }

  /** GetLoadBalancer: NOT_FOUND. */
  getLoadBalancer(id: string): LoadBalancerInfo {
    const lb = this.lbs.get(id);
    if (lb === undefined) throw new DpError(DpErrorCode.NOT_FOUND, `no load balancer '${id}'`);
    return lb;
  }

  /** Every load balancer in creation order. */
  listLoadBalancers(): LoadBalancerInfo[] {
    return this.lbs.list();
  }

  /**
   * CreateLoadBalancerTarget: BAD_IPVER (targets are IPv6 underlay addresses), NO_LB,
   * ALREADY_EXISTS, BACKIP_ADD (64 targets).
   */
  addLoadBalancerTarget(id: string, target: IpAddr): void {
    if (target.family !== 6) throw new DpError(DpErrorCode.BAD_IPVER, `target ${formatIpAddr(target)} is not IPv6`);
    const lb = this.lbs.addTarget(id, target.ipv6);
    this.changes.record({ kind: 'lb-target-added', lb, target: target.ipv6.slice(0, 16) });
  }

  /** DeleteLoadBalancerTarget: BAD_IPVER, NO_LB, NOT_FOUND. */
  removeLoadBalancerTarget(id: string, target: IpAddr): void {
    if (target.family !== 6) throw new DpError(DpErrorCode.BAD_IPVER, `target ${formatIpAddr(target)} is not IPv6`);
    const lb = this.lbs.removeTarget(id, target.ipv6);
    this.changes.record({ kind: 'lb-target-removed', lb, target: target.ipv6.slice(0, 16) });
  }

  /** Targets of a load balancer (ascending), or of all of them for id ''. NO_LB if unknown. */
  listLoadBalancerTargets(id: string): Uint8Array[] {
    return this.lbs.targets(id);
  }

  // ---- firewall -----------------------------------------------------------------------------

  /** CreateFirewallRule: NO_VM, ALREADY_EXISTS (id in use), NO_DROP_SUPPORT (DROP rules). */
  createFirewallRule(interfaceId: string, rule: FirewallRuleSpec): void {
    const rec = this.vm(interfaceId);
    rec.firewall.add(rule, interfaceId);
    this.changes.record({ kind: 'firewall-rule-added', port: rec.info.port, rule });
  }

  /** GetFirewallRule: NO_VM, NOT_FOUND. */
  getFirewallRule(interfaceId: string, ruleId: string): FirewallRuleSpec {
    const rule = this.vm(interfaceId).firewall.get(ruleId);
    if (rule === undefined) throw new DpError(DpErrorCode.NOT_FOUND, `no rule '${ruleId}' on '${interfaceId}'`);
    return rule;
  }

  /** DeleteFirewallRule: NO_VM, NOT_FOUND. */
  deleteFirewallRule(interfaceId: string, ruleId: string): void {
    const rec = this.vm(interfaceId);
    const rule = rec.firewall.delete(ruleId, interfaceId);
    this.changes.record({ kind: 'firewall-rule-removed', port: rec.info.port, rule });
  }

  /** ListFirewallRules: the interface's rules in creation order; NO_VM. */
  listFirewallRules(interfaceId: string): FirewallRuleSpec[] {
    return this.vm(interfaceId).firewall.list();
  }

  // ---- capture ------------------------------------------------------------------------------

  /**
   * CaptureStart: NOT_ACTIVE without offloading, ALREADY_ACTIVE, NOT_FOUND for an unknown PF
   * index or interface id.
   */
  captureStart(settings: CaptureSettings): void {
    this.capture.start(settings, (id) => this.findInterface(id)?.port);
    this.changes.record({ kind: 'capture-started', status: this.captureStatus() });
  }

  /** CaptureStop: the number of ports that were mirrored; NOT_ACTIVE when not running. */
  captureStop(): number {
    const n = this.capture.stop();
    this.changes.record({ kind: 'capture-stopped' });
    return n;
  }

  captureStatus(): CaptureStatusInfo {
    return this.capture.status((port) => this.getInterfaceByPort(port)?.id ?? '');
  }

  /** What the tables hold, for telemetry: entry counts, and per live interface its firewall rules. */
  usage(): RegistryUsage {
    const firewallRules = new Map<string, number>();
    const ports = new Map<string, number>();
    for (const info of this.listInterfaces()) {
      firewallRules.set(info.id, this.byId.get(info.id)?.firewall.size ?? 0);
      ports.set(info.id, info.port);
    }
    return {
      interfaces: this.byId.size, firewallRules, ports, dnat: this.nat.dnatCount, snat: this.nat.snatOrder.size,
      loadBalancers: this.lbs.size, vnis: this.vnis.size, vnf: this.vnf.size,
    };
  }
}

export interface RegistryUsage {
  interfaces: number;
  /** Live interfaces in port order: id -> firewall rules. */
  firewallRules: Map<string, number>;
  /** Live interfaces: id -> VM port. */
  ports: Map<string, number>;
  /** VIP and NAT addresses claimed ({VNI, IPv4}: upstream's dnat_table). */
  dnat: number;
  /** Interfaces with a VIP or a NAT (upstream's snat_table). */
  snat: number;
  loadBalancers: number;
  vnis: number;
  /** Underlay addresses in use (upstream's vnf_table). */
  vnf: number;
}
