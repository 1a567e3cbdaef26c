/**
 * The values the control-plane registry holds and hands out: addresses, interfaces, routes,
 * underlay (VNF) entries, prefixes, VIP/NAT, load balancers, firewall rules and capture settings.
 * Plain read-only data, shared by the registry, its tables, its change log and the gRPC actor.
 * Control path only: these allocate.
 */
import { equalIpv6, formatIpv4, formatIpv6, ipv6Key, maskIpv4, maskIpv6, type VnfTypeCode } from './underlay.js';

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
export function sameIpAddr(a: IpAddr, b: IpAddr): boolean {
  if (a.family === 4) return b.family === 4 && a.ipv4 === b.ipv4;
  return b.family === 6 && equalIpv6(a.ipv6, b.ipv6);
}
/** A compact map key of an address ("4:<number>" / "6:<hex>"). */
export function ipAddrKey(a: IpAddr): string {
  return a.family === 4 ? `4:${a.ipv4}` : `6:${ipv6Key(a.ipv6)}`;
}
/** The address with every bit past `length` cleared (lengths beyond the family keep it whole). */
export function maskIpAddr(a: IpAddr, length: number): IpAddr {
  return a.family === 4 ? ipv4Addr(maskIpv4(a.ipv4, length)) : ipv6Addr(maskIpv6(a.ipv6, length));
}
/** Map key of a prefix, masked, so that 1.2.3.4/24 and 1.2.3.5/24 are the same prefix. */
export function prefixKey(a: IpAddr, length: number): string {
  return `${ipAddrKey(maskIpAddr(a, length))}/${length}`;
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
  /**
   * VM port of an interface's own address route or of an alias prefix; undefined for external
   * routes (via an uplink).
   */
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

/** An alias prefix (CreatePrefix) or load-balancer target prefix (CreateLoadBalancerPrefix). */
export interface PrefixInfo {
  readonly kind: 'alias' | 'lb';
  readonly interfaceId: string;
  readonly port: number;
  readonly vni: number;
  /** The address as the client gave it (upstream reports it unmasked). */
  readonly prefix: IpAddr;
  readonly length: number;
  readonly underlay: Uint8Array;
}

/** A 1:1 virtual IP of an interface (IPv4). */
export interface VipInfo {
  readonly vip: number;
  readonly underlay: Uint8Array;
}

/** The NAT gateway address of an interface: SNAT to `natIp` with ports in [minPort, maxPort). */
export interface NatInfo {
  readonly natIp: number;
  readonly minPort: number;
  readonly maxPort: number;
  readonly underlay: Uint8Array;
}

/** A local NAT as ListLocalNats reports it (and the packet path needs it). */
export interface LocalNatEntry extends NatInfo {
  readonly interfaceId: string;
  readonly port: number;
  readonly vni: number;
  /** The interface's own (translated) IPv4; 0 for an IPv6-only interface (NAT64). */
  readonly ifaceIpv4: number;
}

/** A port range of a NAT address owned by another host, reached at `underlay`. */
export interface NeighborNatEntry {
  readonly natIp: number;
  readonly vni: number;
  readonly minPort: number;
  readonly maxPort: number;
  readonly underlay: Uint8Array;
}

/**
 * A destination-NAT entry: packets to `ip` in `vni` are for this host. `target` is the VM
 * address for a VIP; 0 for a NAT address (the port decides: a local range goes through the
 * conntrack of the SNAT flow, a neighbour's range is relayed).
 */
export interface DnatEntry {
  readonly vni: number;
  readonly ip: number;
  readonly target: number;
}

/** IP protocol numbers a load balancer can balance. */
export const LbProtocol = { TCP: 6, UDP: 17 } as const;
export type LbProtocolNumber = (typeof LbProtocol)[keyof typeof LbProtocol];

export interface LbPort {
  readonly port: number;
  readonly protocol: LbProtocolNumber;
}

/** A load balancer; a snapshot (later changes create new objects). */
export interface LoadBalancerInfo {
  readonly id: string;
  readonly vni: number;
  readonly ip: IpAddr;
  /** As configured, in request order (port 0 entries included, as upstream stores them). */
  readonly ports: readonly LbPort[];
  readonly underlay: Uint8Array;
  /** Target underlay addresses, ascending by bytes (the order the Maglev table is built from). */
  readonly targets: readonly Uint8Array[];
}

/** Firewall rule direction and action numbers (as on the wire). */
export const FirewallDirection = { INGRESS: 0, EGRESS: 1 } as const;
export const FirewallAction = { DROP: 0, ACCEPT: 1 } as const;
export type FirewallDirectionCode = (typeof FirewallDirection)[keyof typeof FirewallDirection];
export type FirewallActionCode = (typeof FirewallAction)[keyof typeof FirewallAction];
/** "Any" for a port bound, an ICMP type or an ICMP code (upstream's 0xFFFFFFFF, -1 on the wire). */
export const FW_MATCH_ANY = 0xffffffff;

/** Layer-4 part of a rule. Port bounds, type and code are uint32 with FW_MATCH_ANY for "any". */
export type FirewallFilter =
  | { readonly protocol: 'any' }
  | {
      readonly protocol: 'tcp' | 'udp';
      readonly srcPortLower: number;
      readonly srcPortUpper: number;
      readonly dstPortLower: number;
      readonly dstPortUpper: number;
    }
  | { readonly protocol: 'icmp'; readonly icmpType: number; readonly icmpCode: number };

/** A firewall rule of an interface. */
export interface FirewallRuleSpec {
  readonly id: string;
  readonly direction: FirewallDirectionCode;
  readonly action: FirewallActionCode;
  /** 0..65535; stored and reported, no effect (as upstream). */
  readonly priority: number;
  /** Addresses as given (unmasked, as upstream reports them); matching uses the masked form. */
  readonly source: IpAddr;
  readonly sourceLength: number;
  readonly destination: IpAddr;
  readonly destinationLength: number;
  readonly filter: FirewallFilter;
}

/** One port to mirror: a PF by index or the VF of an interface. */
export type CaptureTarget =
  | { readonly kind: 'pf'; readonly pfIndex: number }
  | { readonly kind: 'vf'; readonly interfaceId: string };

/** CaptureStart's parameters. */
export interface CaptureSettings {
  /** Where mirrored packets go (IPv6 underlay). */
  readonly sink: Uint8Array;
  readonly udpSrcPort: number;
  readonly udpDstPort: number;
  readonly targets: readonly CaptureTarget[];
}

/** What CaptureStatus reports. */
export interface CaptureStatusInfo {
  readonly active: boolean;
  readonly sink: Uint8Array;
  readonly udpSrcPort: number;
  readonly udpDstPort: number;
  /** Captured ports in port order: PFs first (by index), then VFs (by VM port). */
  readonly targets: readonly CaptureTarget[];
}
