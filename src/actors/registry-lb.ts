/**
 * Load balancers and their targets, with upstream's limits and error numbers (src/dp_lb.c,
 * src/dp_maglev.c): at most 256 load balancers, one per {VNI, IP}; at most 64 targets each, kept
 * sorted by address bytes so that every host builds the same Maglev table.
 *
 * Only the table: underlay addresses, VNIs and change events are the registry's business.
 * Control path only.
 */
import { DpError, DpErrorCode } from './errors.js';
import { formatIpAddr, ipAddrKey, type IpAddr, type LbPort, type LoadBalancerInfo } from './registry-types.js';
import { formatIpv6, isZeroIpv6 } from './underlay.js';

/** Load balancers per host (DP_LB_TABLE_MAX). */
export const LB_MAX = 256;
/** Targets per load balancer (DP_LB_MAX_IPS_PER_VIP). */
export const LB_MAX_TARGETS = 64;
/** Ports per load balancer: the request check is `>= DP_LB_MAX_PORTS (16)`. */
export const LB_MAX_PORTS = 15;
/** Largest VNI a load balancer accepts (24 bits). */
export const LB_VNI_MAX = 0xffffff;

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

function lbKey(vni: number, ip: IpAddr): string {
  return `${vni >>> 0}|${ipAddrKey(ip)}`;
}

export class LoadBalancerTable {
  /** By id, in creation order (the listing order). */
  private readonly byId = new Map<string, LoadBalancerInfo>();
  private readonly byKey = new Map<string, string>();

  get size(): number {
    return this.byId.size;
  }

  get(id: string): LoadBalancerInfo | undefined {
    return this.byId.get(id);
  }

  /** Every load balancer in creation order. */
  list(): LoadBalancerInfo[] {
    return [...this.byId.values()];
  }

  /**
   * Adds a load balancer. ALREADY_EXISTS when the {VNI, IP} or the id is taken (upstream
   * silently re-points a reused id; refusing it keeps ids unique), OUT_OF_MEMORY when the table
   * is full (what upstream reports for a full hash table).
   */
  create(id: string, vni: number, ip: IpAddr, ports: readonly LbPort[], underlay: Uint8Array): LoadBalancerInfo {
    const key = lbKey(vni, ip);
    const holder = this.byKey.get(key);
    if (holder !== undefined) {
      throw new DpError(DpErrorCode.ALREADY_EXISTS, `load balancer '${holder}' already serves ${formatIpAddr(ip)} in VNI ${vni}`);
    }
    if (this.byId.has(id)) throw new DpError(DpErrorCode.ALREADY_EXISTS, `load balancer id '${id}' already in use`);
    if (this.byId.size >= LB_MAX) throw new DpError(DpErrorCode.OUT_OF_MEMORY, `${LB_MAX} load balancers exist already`);
    const lb: LoadBalancerInfo = {
      id,
      vni: vni >>> 0,
      ip,
      ports: ports.map((p) => ({ port: p.port, protocol: p.protocol })),
      underlay: underlay.slice(0, 16),
      targets: [],
    };
    this.byId.set(id, lb);
    this.byKey.set(key, id);
    return lb;
  }

  /** Removes a load balancer; NOT_FOUND if there is none with this id. */
  delete(id: string): LoadBalancerInfo {
    const lb = this.byId.get(id);
    if (lb === undefined) throw new DpError(DpErrorCode.NOT_FOUND, `no load balancer '${id}'`);
    this.byId.delete(id);
    this.byKey.delete(lbKey(lb.vni, lb.ip));
    return lb;
  }

  /**
   * Adds a target underlay address. NO_LB for an unknown id; ALREADY_EXISTS for a target it has
   * (the all-zero address counts as present, as upstream's free slots hold it); BACKIP_ADD when
   * the load balancer has its 64 targets. Returns the updated snapshot.
   */
  addTarget(id: string, target: Uint8Array): LoadBalancerInfo {
    const lb = this.byId.get(id);
    if (lb === undefined) throw new DpError(DpErrorCode.NO_LB, `no load balancer '${id}'`);
    if (isZeroIpv6(target) || lb.targets.some((t) => compareBytes(t, target) === 0)) {
      throw new DpError(DpErrorCode.ALREADY_EXISTS, `${formatIpv6(target)} already a target of '${id}'`);
    }
    if (lb.targets.length >= LB_MAX_TARGETS) {
      throw new DpError(DpErrorCode.BACKIP_ADD, `'${id}' has ${LB_MAX_TARGETS} targets already`);
    }
    const targets = [...lb.targets, target.slice(0, 16)].sort(compareBytes);
    return this.replace(lb, targets);
  }

  /** Removes a target. NO_LB for an unknown id, NOT_FOUND for an address that is no target. */
  removeTarget(id: string, target: Uint8Array): LoadBalancerInfo {
    const lb = this.byId.get(id);
    if (lb === undefined) throw new DpError(DpErrorCode.NO_LB, `no load balancer '${id}'`);
    const i = lb.targets.findIndex((t) => compareBytes(t, target) === 0);
    if (i < 0) throw new DpError(DpErrorCode.NOT_FOUND, `${formatIpv6(target)} is no target of '${id}'`);
    return this.replace(lb, lb.targets.filter((_, k) => k !== i));
  }

  /** Targets of one load balancer (NO_LB if unknown), or of all of them for id ''. */
  targets(id: string): Uint8Array[] {
    if (id === '') return this.list().flatMap((lb) => [...lb.targets]);
    const lb = this.byId.get(id);
    if (lb === undefined) throw new DpError(DpErrorCode.NO_LB, `no load balancer '${id}'`);
    return [...lb.targets];
  }

  private replace(lb: LoadBalancerInfo, targets: Uint8Array[]): LoadBalancerInfo {
    const next: LoadBalancerInfo = { ...lb, targets };
    this.byId.set(lb.id, next);
    return next;
  }
}
