/**
 * The authoritative control-plane state: interfaces, the route tables of every VNI in use, and the
 * underlay (VNF) addresses handed out. Transport independent: typed values in, plain objects out,
 * `DpError` thrown with upstream's error number for every refusal. The gRPC actor validates and
 * converts requests; the dataplane actor is told about ports through `DataplaneApi`; the
 * packet-path tables can be (re)built from the read methods here.
 *
 * Semantics follow upstream dpservice (src/grpc/dp_grpc_impl.c, src/dp_lpm.c, src/dp_vni.c,
 * src/dp_vnf.c, src/dp_iface.c), including the order of checks, so that the same misuse yields
 * the same error number:
 * - a VNI exists while an interface (or, later, a load balancer) uses it; its two route tables
 *   (IPv4, IPv6) are created with it and dropped, routes included, with its last user;
 * - an interface owns the /32 and /128 routes of its addresses in its VNI; external routes
 *   (CreateRoute) point to another host's underlay address;
 * - route prefixes are stored masked to their length, so 1.2.3.4/24 and 1.2.3.255/24 are the same
 *   route.
 *
 * Control path only; allocation and string-keyed maps are fine here.
 */
import type { DataplaneApi } from './dataplane-api.js';
import { DpError, DpErrorCode } from './errors.js';
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

/** Longest IPv4 / IPv6 prefix (the route tables refuse longer ones with ROUTE_INSERT). */
export const IPV4_MAX_PREFIX = 32;
export const IPV6_MAX_PREFIX = 128;
/** Largest total rate (Mbit/s) the NIC meter takes; upstream refuses larger ones. */
const METER_RATE_MAX = 0xffffffffn;

/** An IP address of either family. IPv4 is an unsigned 32-bit number (a.b.c.d = a<<24|...). */
export type IpAddr =
  | { readonly family: 4; readonly ipv4: number }
  | { readonly family: 6; readonly ipv6: Uint8Array };

export function ipv4Addr(ipv4: number): IpAddr {
  return { family: 4, ipv4: ipv4 >>> 0 };
}
export function ipv6Addr(ipv6: Uint8Array): IpAddr {
  return { family: 6, ipv6 };
}
/** Text of an address as upstream prints it. */
export function formatIpAddr(a: IpAddr): string {
  return a.family === 4 ? formatIpv4(a.ipv4) : formatIpv6(a.ipv6);
}

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

/** An interface as the registry holds it. Treat as read-only. */
export interface InterfaceInfo {
  readonly id: string;
  readonly vni: number;
  readonly ipv4: number;
  readonly ipv6: Uint8Array;
  readonly underlay: Uint8Array;
  readonly deviceName: string;
  /** DPDK port id of the VM port. */
  readonly port: number;
  /** Name reported as `vf.name` by CreateInterface. */
  readonly vfName: string;
  readonly hostname: string;
  readonly pxeServer: string;
  readonly bootFile: string;
  readonly totalRate: bigint;
  readonly publicRate: bigint;
}

/** One entry of a VNI route table. Treat as read-only. */
export interface RouteInfo {
  readonly vni: number;
  /** Prefix address, masked to `length`. */
  readonly prefix: IpAddr;
  readonly length: number;
  /** VM port of an interface's own address route; undefined for external routes (via an uplink). */
  readonly port: number | undefined;
  /** Target VNI of an external route (0 = same VNI). */
  readonly nexthopVni: number;
  /** Underlay address of the host serving an external route (16 bytes; zero for interface routes). */
  readonly nexthopAddress: Uint8Array;
}

/** What an underlay address is registered for (upstream's VNF entry). */
export interface VnfEntry {
  readonly type: VnfTypeCode;
  readonly vni: number;
  /** VM port the address leads to; undefined for objects not bound to a port (load balancers). */
  readonly port: number | undefined;
  /** Prefix of alias/LB prefixes; undefined otherwise. */
  readonly prefix?: IpAddr;
  readonly prefixLength?: number;
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
}

function routeKey(prefix: IpAddr, length: number): string {
  return prefix.family === 4 ? `${prefix.ipv4}/${length}` : `${ipv6Key(prefix.ipv6)}/${length}`;
}

function masked(prefix: IpAddr, length: number): IpAddr {
  return prefix.family === 4
    ? { family: 4, ipv4: maskIpv4(prefix.ipv4, length) }
    : { family: 6, ipv6: maskIpv6(prefix.ipv6, length) };
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
  private readonly meteringSupported: boolean;
  private readonly vfNameOf: (port: number, deviceName: string) => string | undefined;
  private readonly byId = new Map<string, InterfaceRecord>();
  private readonly byPort = new Map<number, InterfaceRecord>();
  private readonly vnis = new Map<number, VniState>();

  constructor(
    private readonly dataplane: DataplaneApi,
    opts: RegistryOptions = {},
  ) {
    this.underlay = new UnderlayGenerator(dataplane.hostIpv6, opts.underlay);
    this.meteringSupported = opts.meteringSupported ?? true;
    this.vfNameOf = opts.vfName ?? (() => undefined);
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

    const preferred = p.preferredUnderlay !== undefined && !isZeroIpv6(p.preferredUnderlay);
    const underlay = preferred ? p.preferredUnderlay!.slice(0, 16) : this.underlay.generate(VnfType.INTERFACE_IP);
    if (!this.vnf.add(underlay, { type: VnfType.INTERFACE_IP, vni: p.vni, port })) {
      throw new DpError(DpErrorCode.VNF_INSERT, `underlay address ${formatIpv6(underlay)} already in use`);
    }
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
    const rec: InterfaceRecord = { info, ready: false };
    this.byId.set(p.id, rec);
    this.byPort.set(port, rec);
    this.acquireVni(info.vni);

    try {
      if (info.ipv4 !== 0) this.addRoute(info.vni, ipv4Addr(info.ipv4), IPV4_MAX_PREFIX, port, 0, ZERO_IPV6);
      if (!isZeroIpv6(info.ipv6)) this.addRoute(info.vni, ipv6Addr(info.ipv6), IPV6_MAX_PREFIX, port, 0, ZERO_IPV6);
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
      this.removeInterfaceState(rec);
      throw e;
    }
    rec.ready = true;
    return info;
  }

  /**
   * Deletes an interface: deactivates its port, frees its underlay address and id, removes its
   * routes and releases its VNI (dropping the VNI's routes if it was the last user). A dataplane
   * failure still cleans up and then reports PORT_STOP, as upstream does.
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
    this.removeInterfaceState(rec);
    if (failure !== undefined) {
      throw new DpError(DpErrorCode.PORT_STOP, `deactivating port ${rec.info.deviceName}: ${failure.message}`);
    }
  }

  /** Undoes everything createInterface registered (not the dataplane attach). */
  private removeInterfaceState(rec: InterfaceRecord): void {
    const info = rec.info;
    rec.ready = false;
    this.vnf.delete(info.underlay);
    if (this.byId.get(info.id) === rec) this.byId.delete(info.id);
    if (this.byPort.get(info.port) === rec) this.byPort.delete(info.port);
    const vni = this.vnis.get(info.vni);
    if (vni !== undefined) {
      this.removeOwnRoute(vni.v4, ipv4Addr(info.ipv4), IPV4_MAX_PREFIX, info.port);
      this.removeOwnRoute(vni.v6, ipv6Addr(info.ipv6), IPV6_MAX_PREFIX, info.port);
    }
    this.releaseVni(info.vni);
  }

  private removeOwnRoute(table: Map<string, RouteInfo>, prefix: IpAddr, length: number, port: number): void {
    const key = routeKey(prefix, length);
    if (table.get(key)?.port === port) table.delete(key);
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

  // ---- VNIs ---------------------------------------------------------------------------------

  /** Counts one more user of a VNI, creating its (empty) route tables for the first one. */
  acquireVni(vni: number): void {
    const s = this.vnis.get(vni >>> 0);
    if (s !== undefined) s.users++;
    else this.vnis.set(vni >>> 0, { users: 1, v4: new Map(), v6: new Map() });
  }

  /** Counts one user less; the last one drops the VNI and all its routes. */
  releaseVni(vni: number): void {
    const s = this.vnis.get(vni >>> 0);
    if (s === undefined) return;
    if (--s.users <= 0) this.vnis.delete(vni >>> 0);
  }

  /** Whether an interface or load balancer uses the VNI (its route tables exist). */
  isVniInUse(vni: number): boolean {
    return this.vnis.has(vni >>> 0);
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
   * the family's maximum.
   */
  createRoute(vni: number, prefix: IpAddr, length: number, nexthopVni: number, nexthop: IpAddr): RouteInfo {
    if (nexthop.family !== 6) throw new DpError(DpErrorCode.BAD_IPVER, `next hop ${formatIpAddr(nexthop)} is not IPv6`);
    return this.addRoute(vni, prefix, length, undefined, nexthopVni, nexthop.ipv6);
  }

  /**
   * Removes an external route. NO_VNI when the VNI is not in use, ROUTE_NOT_FOUND when no such
   * prefix exists, ROUTE_BAD_PORT when the prefix is an interface's own address route.
   */
  deleteRoute(vni: number, prefix: IpAddr, length: number): void {
    const table = this.routeTable(vni, prefix.family);
    const key = routeKey(masked(prefix, length), length);
    const route = this.validLength(prefix, length) ? table.get(key) : undefined;
    if (route === undefined) {
      throw new DpError(DpErrorCode.ROUTE_NOT_FOUND, `no route ${formatIpAddr(prefix)}/${length} in VNI ${vni}`);
    }
    if (route.port !== undefined) {
      throw new DpError(DpErrorCode.ROUTE_BAD_PORT, `${formatIpAddr(prefix)}/${length} in VNI ${vni} belongs to an interface`);
    }
    table.delete(key);
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
    for (const rec of this.byPort.values()) if (rec.info.vni === (vni >>> 0)) this.addOwnRoutes(rec.info);
  }

  /**
   * Initialize: empties every route table and puts back the interfaces' own routes. Upstream
   * re-adds 0.0.0.0/32 and ::/128 for interfaces with a disabled family; this does not.
   */
  initialize(): void {
    for (const s of this.vnis.values()) {
      s.v4.clear();
      s.v6.clear();
    }
    for (const rec of this.byPort.values()) this.addOwnRoutes(rec.info);
  }

  private addOwnRoutes(info: InterfaceInfo): void {
    const s = this.vnis.get(info.vni);
    if (s === undefined) return;
    if (info.ipv4 !== 0) {
      const prefix = ipv4Addr(info.ipv4);
      s.v4.set(routeKey(prefix, IPV4_MAX_PREFIX), this.routeInfo(info.vni, prefix, IPV4_MAX_PREFIX, info.port, 0, ZERO_IPV6));
    }
    if (!isZeroIpv6(info.ipv6)) {
      const prefix = ipv6Addr(info.ipv6);
      s.v6.set(routeKey(prefix, IPV6_MAX_PREFIX), this.routeInfo(info.vni, prefix, IPV6_MAX_PREFIX, info.port, 0, ZERO_IPV6));
    }
  }

  private validLength(prefix: IpAddr, length: number): boolean {
    return length >= 0 && length <= (prefix.family === 4 ? IPV4_MAX_PREFIX : IPV6_MAX_PREFIX);
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

  private addRoute(
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
    const m = masked(prefix, length);
    const key = routeKey(m, length);
    if (table.has(key)) {
      throw new DpError(DpErrorCode.ROUTE_EXISTS, `route ${formatIpAddr(m)}/${length} already in VNI ${vni}`);
    }
    const route = this.routeInfo(vni >>> 0, m, length, port, nexthopVni, nexthop);
    table.set(key, route);
    return route;
  }
}
