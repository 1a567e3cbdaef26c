/**
 * The control actor: the gRPC server speaking upstream dpservice's API (proto/dpdk.proto) and the
 * standard health service (proto/health.proto) on one insecure port.
 *
 * Behaviour at the transport boundary, as upstream's src/grpc/dp_async_grpc.cpp:
 * - until Initialize, every other call fails with gRPC ABORTED "not initialized";
 * - syntactically bad requests fail with gRPC INVALID_ARGUMENT and upstream's message;
 * - everything else answers gRPC OK with `status {code, message}`: 0 "Success" or a dpservice error
 *   number with its symbolic name (errors.ts);
 * - calls are processed one at a time in arrival order (upstream hands each to its single worker
 *   and waits for the reply), so a create and a delete can never interleave; the registry's
 *   recorded changes are committed to their listeners (the dataplane) before the call answers.
 *
 * Request conversion (the "FillRequest" step, with upstream's checks in upstream's order and its
 * messages verbatim) lives here; the object semantics live in registry.ts. The server also offers
 * grpc.health.v1 and gRPC server reflection (so `grpcurl -plaintext HOST:1337 list` works).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import type { Logger } from 'pino';
import type { DataplaneApi } from './dataplane-api.js';
import { DpError, STATUS_OK, dpStatus } from './errors.js';
import { loggerFor } from './logging.js';
import {
  CAPTURE_MAX_INTERFACES,
  FW_MATCH_ANY,
  FirewallAction,
  FirewallDirection,
  IPV4_MAX_PREFIX,
  IPV6_MAX_PREFIX,
  LB_MAX_PORTS,
  LB_VNI_MAX,
  LbProtocol,
  Registry,
  VniType,
  formatIpAddr,
  ipv4Addr,
  ipv6Addr,
  type CaptureSettings,
  type CaptureStatusInfo,
  type CaptureTarget,
  type FirewallFilter,
  type FirewallRuleSpec,
  type InterfaceInfo,
  type IpAddr,
  type LbPort,
  type LoadBalancerInfo,
  type PrefixInfo,
  type RegistryOptions,
  type RouteInfo,
  type VniTypeCode,
} from './registry.js';
import { cText, formatIpv4, formatIpv6, isZeroIpv6, parseIpv4, parseIpv6 } from './underlay.js';

/** Full name of the dpservice gRPC service (also a health service name). */
export const SERVICE_NAME = 'dpdkironcore.v1.DPDKironcore';
const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';

/** Options of `startControl`. */
export interface ControlOptions {
  /** TCP port; 0 picks a free one (see `ControlServer.port`). */
  port: number;
  /** Listen address; default `[::]` (all addresses, both families). */
  host?: string;
  /** Reported by GetVersion as both service_protocol and service_version. */
  version: string;
  dataplane: DataplaneApi;
  log: Logger;
  /** Registry tuning (metering support, underlay generation, VF names). */
  registry?: RegistryOptions;
  /** How long `close()` lets running calls finish before cutting them off. Default 5000 ms. */
  drainTimeoutMs?: number;
}

/** A running control server. */
export interface ControlServer {
  /** The bound port (the actual one when started with port 0). */
  readonly port: number;
  /** This process run's UUID, returned by Initialize and CheckInitialized. */
  readonly uuid: string;
  readonly registry: Registry;
  /**
   * Calls answered so far by RPC and result: `Success`, upstream's status name for a refusal in
   * the response (`ROUTE_INSERT`, `VNF_INSERT`, `NO_VM`) or the gRPC code name when the call
   * failed on the gRPC level (`INVALID_ARGUMENT`, `ABORTED`, `INTERNAL`). Read by the metrics actor.
   */
  callCounts(): Array<{ rpc: string; result: string; count: number }>;
  /** Sets the health status of "" and the dpservice service (SERVING / NOT_SERVING). */
  setServing(serving: boolean): void;
  /** Stops accepting calls, lets running ones finish (bounded by drainTimeoutMs), then stops. */
  close(): Promise<void>;
}

// ---- proto loading ----------------------------------------------------------------------------

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,    // field names as in the .proto (interface_id, meteringParams)
  longs: String,     // uint64 metering rates arrive as decimal strings, kept exact
  enums: Number,
  defaults: true,    // absent scalars read as their zero value, like C++ getters
  oneofs: true,
};

/**
 * Absolute path of a file in the project's proto/ directory, found by walking up from this module
 * (sources run from src/actors/, compiled code from dist/src/actors/).
 */
export function protoPath(file: string): string {
  const start = dirname(fileURLToPath(import.meta.url));
  let dir = start;
  for (;;) {
    const candidate = join(dir, 'proto', file);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`proto/${file} not found in any parent of ${start}`);
    dir = parent;
  }
}

/** Loads a proto file of the project with the options the server uses. */
export function loadProto(file: string): protoLoader.PackageDefinition {
  return protoLoader.loadSync(protoPath(file), LOADER_OPTIONS);
}

// ---- request shapes (as proto-loader decodes them) ---------------------------------------------

/** A `bytes` field: Buffer from proto-loader; strings tolerated for direct callers. */
type Bytes = Uint8Array | string | null | undefined;

interface IpAddressMsg {
  ipver?: number;
  address?: Bytes;
}
interface PrefixMsg {
  ip?: IpAddressMsg | null;
  length?: number;
}
interface RouteMsg {
  prefix?: PrefixMsg | null;
  nexthop_vni?: number;
  nexthop_address?: IpAddressMsg | null;
}
interface GetVersionReq {
  client_protocol?: string;
  client_name?: string;
  client_version?: string;
}
interface CreateInterfaceReq {
  interface_id?: Bytes;
  vni?: number;
  ipv4_config?: { primary_address?: Bytes } | null;
  ipv6_config?: { primary_address?: Bytes } | null;
  pxe_config?: { next_server?: string; boot_filename?: string } | null;
  device_name?: string;
  metering_parameters?: { total_rate?: string | number; public_rate?: string | number } | null;
  preferred_underlay_route?: Bytes;
  hostname?: string;
}
interface InterfaceIdReq {
  interface_id?: Bytes;
}
interface RouteReq {
  vni?: number;
  route?: RouteMsg | null;
}
interface ListRoutesReq {
  vni?: number;
}
interface PrefixReq {
  interface_id?: Bytes;
  prefix?: PrefixMsg | null;
  preferred_underlay_route?: Bytes;
}
interface VipReq {
  interface_id?: Bytes;
  vip_ip?: IpAddressMsg | null;
  preferred_underlay_route?: Bytes;
}
interface NatReq {
  interface_id?: Bytes;
  nat_ip?: IpAddressMsg | null;
  vni?: number;
  min_port?: number;
  max_port?: number;
  preferred_underlay_route?: Bytes;
  underlay_route?: Bytes;
}
interface LbPortMsg {
  port?: number;
  protocol?: number;
}
interface LoadBalancerReq {
  loadbalancer_id?: Bytes;
  loadbalanced_ip?: IpAddressMsg | null;
  vni?: number;
  loadbalanced_ports?: LbPortMsg[] | null;
  preferred_underlay_route?: Bytes;
}
interface LbTargetReq {
  loadbalancer_id?: Bytes;
  target_ip?: IpAddressMsg | null;
}
interface VniReq {
  vni?: number;
  type?: number;
}
interface PortFilterMsg {
  src_port_lower?: number;
  src_port_upper?: number;
  dst_port_lower?: number;
  dst_port_upper?: number;
}
interface FirewallRuleMsg {
  id?: Bytes;
  direction?: number;
  action?: number;
  priority?: number;
  source_prefix?: PrefixMsg | null;
  destination_prefix?: PrefixMsg | null;
  protocol_filter?: {
    filter?: string;
    icmp?: { icmp_type?: number; icmp_code?: number } | null;
    tcp?: PortFilterMsg | null;
    udp?: PortFilterMsg | null;
  } | null;
}
interface FirewallRuleReq {
  interface_id?: Bytes;
  rule?: FirewallRuleMsg | null;
  rule_id?: Bytes;
}
interface CaptureStartReq {
  capture_config?: {
    sink_node_ip?: IpAddressMsg | null;
    udp_src_port?: number;
    udp_dst_port?: number;
    interfaces?: Array<{ interface_type?: number; vf_name?: Bytes; pf_index?: number; spec?: string }> | null;
  } | null;
}

const IPVER_IPV4 = 0;
const IPVER_IPV6 = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const CAPTURE_SINGLE_PF = 0;
const CAPTURE_SINGLE_VF = 1;

// Field sizes of upstream's request structures (C buffers, including the terminating NUL).
const IFACE_ID_SIZE = 64;
const LB_ID_SIZE = 64;
const FW_RULE_ID_SIZE = 64;
const DEVICE_NAME_SIZE = 64;
const HOSTNAME_SIZE = 64;
const PXE_FILE_SIZE = 32;
const VERSION_FIELD_SIZE = 64;
/** Prefix lengths travel as uint8 internally; longer ones are refused before any lookup. */
const PREFIX_LENGTH_FIELD_MAX = 255;
const UINT8_MAX = 0xff;
const UINT16_MAX = 0xffff;

/** A request upstream would refuse before processing it (gRPC INVALID_ARGUMENT). */
class InvalidArgument extends Error {}

function invalid(message: string): never {
  throw new InvalidArgument(message);
}

function byteLength(v: Bytes): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.byteLength;
}

/**
 * Upstream copies string fields into fixed C buffers and refuses empty values and values that do
 * not fit (including the NUL terminator). Returns the C-string view of the value, or undefined.
 */
function fixedField(v: Bytes, size: number): string | undefined {
  if (byteLength(v) === 0) return undefined;
  const s = cText(v);
  return Buffer.byteLength(s, 'utf8') >= size ? undefined : s;
}

/** Interface ids: alphanumerics, '_' (DPDK) and '-' (GUIDs). Checked over every byte. */
function validIdChars(v: Bytes): boolean {
  const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : (v ?? new Uint8Array(0));
  for (const c of b) {
    const ok = c === 0x2d || c === 0x5f || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (!ok) return false;
  }
  return true;
}

/** An `IpAddress` message to an address of its declared family, or undefined. */
function parseIpAddress(msg: IpAddressMsg | null | undefined): IpAddr | undefined {
  const ipver = msg?.ipver ?? IPVER_IPV4;
  const text = cText(msg?.address);
  if (ipver === IPVER_IPV4) {
    const v4 = parseIpv4(text);
    return v4 === undefined ? undefined : ipv4Addr(v4);
  }
  if (ipver === IPVER_IPV6) {
    const v6 = parseIpv6(text);
    return v6 === undefined ? undefined : ipv6Addr(v6);
  }
  return undefined;
}

function toUint64(v: string | number | undefined): bigint {
  if (v === undefined) return 0n;
  try {
    const n = BigInt(v);
    return n < 0n ? 0n : n;
  } catch {
    return 0n;
  }
}

/**
 * `preferred_underlay_route`: empty means "generate one"; otherwise an IPv6 address in the host
 * /64 with the externally-generated flag. Undefined for anything else.
 */
function parsePreferred(v: Bytes, registry: Registry): Uint8Array | undefined {
  const text = cText(v);
  const addr = parseIpv6(text === '' ? '::' : text);
  return addr !== undefined && registry.underlay.acceptsPreferred(addr) ? addr : undefined;
}

function interfaceIdOf(v: Bytes): string {
  return fixedField(v, IFACE_ID_SIZE) ?? invalid('Invalid interface_id');
}

/** `prefix` of the prefix RPCs: address, then length (at most 255; the family limit comes later). */
function prefixOf(msg: PrefixMsg | null | undefined): { prefix: IpAddr; length: number } {
  const prefix = parseIpAddress(msg?.ip) ?? invalid('Invalid prefix.ip');
  const length = msg?.length ?? 0;
  if (length > PREFIX_LENGTH_FIELD_MAX) invalid('Invalid prefix.length');
  return { prefix, length };
}

/** min_port/max_port of the NAT RPCs: 16-bit each and min < max (the range is [min, max)). */
function portRangeOf(req: NatReq): { minPort: number; maxPort: number } {
  const minPort = req.min_port ?? 0;
  const maxPort = req.max_port ?? 0;
  if (minPort > UINT16_MAX) invalid('Invalid min_port');
  if (maxPort > UINT16_MAX) invalid('Invalid max_port');
  if (minPort >= maxPort) invalid('Invalid port range');
  return { minPort, maxPort };
}

/** A firewall port bound: -1 (any) or 0..65535, as upstream's uint32 view of the int32. */
function fwPort(v: number | undefined, message: string): number {
  const port = (v ?? 0) >>> 0;
  if (port !== FW_MATCH_ANY && port > UINT16_MAX) invalid(message);
  return port;
}

/** One side of a firewall rule: ipver, address, then the family's prefix length. */
function fwPrefixOf(msg: PrefixMsg | null | undefined, side: 'source' | 'destination'): { ip: IpAddr; length: number } {
  const ipver = msg?.ip?.ipver ?? IPVER_IPV4;
  if (ipver !== IPVER_IPV4 && ipver !== IPVER_IPV6) invalid(`Invalid ${side}_prefix.ip.ipver`);
  const ip = parseIpAddress(msg?.ip) ?? invalid(`Invalid ${side}_prefix.ip`);
  const length = msg?.length ?? 0;
  if (ip.family === 4 && length > IPV4_MAX_PREFIX) invalid(`Invalid ${side}_prefix.length`);
  if (ip.family === 6 && length > IPV6_MAX_PREFIX) invalid(`Invalid ip6 ${side}_prefix.length`);
  return { ip, length };
}

function fwTcpUdpOf(protocol: 'tcp' | 'udp', f: PortFilterMsg | null | undefined): FirewallFilter {
  const srcPortLower = fwPort(f?.src_port_lower, `Invalid ${protocol}.src_port_lower`);
  const dstPortLower = fwPort(f?.dst_port_lower, `Invalid ${protocol}.dst_port_lower`);
  const srcPortUpper = fwPort(f?.src_port_upper, `Invalid ${protocol}.src_port_upper`);
  const dstPortUpper = fwPort(f?.dst_port_upper, `Invalid ${protocol}.dst_port_upper`);
  if (srcPortLower !== FW_MATCH_ANY && srcPortUpper < srcPortLower) invalid(`Invalid ${protocol}.src_port range`);
  if (dstPortLower !== FW_MATCH_ANY && dstPortUpper < dstPortLower) invalid(`Invalid ${protocol}.dst_port range`);
  return { protocol, srcPortLower, srcPortUpper, dstPortLower, dstPortUpper };
}

/** Which member of the `filter` oneof is set ('' for none). */
function filterCase(pf: FirewallRuleMsg['protocol_filter']): string {
  if (pf === null || pf === undefined) return '';
  if (typeof pf.filter === 'string') return pf.filter;
  if (pf.tcp) return 'tcp';
  if (pf.udp) return 'udp';
  if (pf.icmp) return 'icmp';
  return '';
}

/** CreateFirewallRule's rule, checked in upstream's order with its messages. */
function firewallRuleOf(rule: FirewallRuleMsg | null | undefined): FirewallRuleSpec {
  const id = fixedField(rule?.id, FW_RULE_ID_SIZE) ?? invalid('Invalid rule id');
  const src = fwPrefixOf(rule?.source_prefix, 'source');
  const dst = fwPrefixOf(rule?.destination_prefix, 'destination');
  const direction = rule?.direction ?? FirewallDirection.INGRESS;
  if (direction !== FirewallDirection.INGRESS && direction !== FirewallDirection.EGRESS) invalid('Invalid direction');
  const action = rule?.action ?? FirewallAction.DROP;
  if (action !== FirewallAction.DROP && action !== FirewallAction.ACCEPT) invalid('Invalid action');
  const priority = rule?.priority ?? 0;
  if (priority > UINT16_MAX) invalid('Invalid priority');
  let filter: FirewallFilter;
  const pf = rule?.protocol_filter;
  switch (filterCase(pf)) {
    case 'tcp':
      filter = fwTcpUdpOf('tcp', pf?.tcp);
      break;
    case 'udp':
      filter = fwTcpUdpOf('udp', pf?.udp);
      break;
    case 'icmp': {
      const icmpType = (pf?.icmp?.icmp_type ?? 0) >>> 0;
      const icmpCode = (pf?.icmp?.icmp_code ?? 0) >>> 0;
      if (icmpType !== FW_MATCH_ANY && icmpType > UINT8_MAX) invalid('Invalid icmp.icmp_type');
      if (icmpCode !== FW_MATCH_ANY && icmpCode > UINT8_MAX) invalid('Invalid icmp.icmp_code');
      filter = { protocol: 'icmp', icmpType, icmpCode };
      break;
    }
    default:
      filter = { protocol: 'any' };
  }
  return {
    id,
    direction,
    action,
    priority,
    source: src.ip,
    sourceLength: src.length,
    destination: dst.ip,
    destinationLength: dst.length,
    filter,
  };
}

/** CreateLoadBalancer's ports: at most 15, each 16-bit, TCP or UDP, no duplicates. */
function lbPortsOf(ports: LbPortMsg[] | null | undefined): LbPort[] {
  const out: LbPort[] = [];
  for (const p of ports ?? []) {
    const port = p.port ?? 0;
    if (port > UINT16_MAX) invalid('Invalid loadbalanced_ports.port');
    const protocol = p.protocol === PROTO_TCP ? LbProtocol.TCP : p.protocol === PROTO_UDP ? LbProtocol.UDP : undefined;
    if (protocol === undefined) invalid('Invalid loadbalanced_ports.protocol');
    if (out.some((q) => q.port === port && q.protocol === protocol)) invalid('Duplicate loadbalanced_ports entry');
    out.push({ port, protocol });
  }
  return out;
}

/** CaptureStart's configuration, checked in upstream's order with its messages. */
function captureSettingsOf(req: CaptureStartReq): CaptureSettings {
  const cfg = req.capture_config;
  const udpSrcPort = cfg?.udp_src_port ?? 0;
  const udpDstPort = cfg?.udp_dst_port ?? 0;
  if (udpSrcPort > UINT16_MAX) invalid('Invalid udp_src_port');
  if (udpDstPort > UINT16_MAX) invalid('Invalid udp_dst_port');
  // upstream reads the text as IPv6 whatever ipver says
  const sink = parseIpv6(cText(cfg?.sink_node_ip?.address)) ?? invalid('Invalid sink_node_ip');
  const interfaces = cfg?.interfaces ?? [];
  if (interfaces.length > CAPTURE_MAX_INTERFACES) invalid('Too many interfaces to be captured');
  const targets: CaptureTarget[] = [];
  for (const i of interfaces) {
    const type = i.interface_type ?? CAPTURE_SINGLE_PF;
    if (type === CAPTURE_SINGLE_VF) {
      targets.push({ kind: 'vf', interfaceId: fixedField(i.vf_name, IFACE_ID_SIZE) ?? invalid('Invalid interface_id') });
    } else if (type === CAPTURE_SINGLE_PF) {
      const pfIndex = i.pf_index ?? 0;
      if (pfIndex > UINT8_MAX) invalid('Invalid pf_index');
      targets.push({ kind: 'pf', pfIndex });
    } else {
      invalid('Invalid interfaces.interface_type');
    }
  }
  return { sink, udpSrcPort, udpDstPort, targets };
}

/** The VniType of CheckVniInUse / ResetVni. */
function vniTypeOf(v: number | undefined): VniTypeCode {
  const t = v ?? VniType.IPV4;
  if (t !== VniType.IPV4 && t !== VniType.IPV6 && t !== VniType.BOTH) invalid('Invalid type');
  return t;
}

// ---- response shapes ----------------------------------------------------------------------------

function textBytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

function ipAddressMsg(a: IpAddr): { ipver: number; address: Buffer } {
  return { ipver: a.family === 4 ? IPVER_IPV4 : IPVER_IPV6, address: textBytes(formatIpAddr(a)) };
}

function ipv6Bytes(a: Uint8Array): Buffer {
  return textBytes(formatIpv6(a));
}

function interfaceMsg(i: InterfaceInfo): object {
  return {
    id: textBytes(i.id),
    vni: i.vni,
    primary_ipv4: textBytes(formatIpv4(i.ipv4)),
    primary_ipv6: textBytes(formatIpv6(i.ipv6)),
    underlay_route: textBytes(formatIpv6(i.underlay)),
    pci_name: i.deviceName,
    meteringParams: { total_rate: i.totalRate.toString(), public_rate: i.publicRate.toString() },
    hostname: i.hostname,
  };
}

function routeMsg(r: RouteInfo): object {
  return {
    prefix: { ip: ipAddressMsg(r.prefix), length: r.length },
    nexthop_vni: r.nexthopVni,
    nexthop_address: ipAddressMsg(ipv6Addr(r.nexthopAddress)),
  };
}

function prefixMsg(p: PrefixInfo): object {
  return { ip: ipAddressMsg(p.prefix), length: p.length, underlay_route: ipv6Bytes(p.underlay) };
}

/** Ports as upstream reports them: entries with port 0 are skipped. */
function lbPortsMsg(lb: LoadBalancerInfo): object[] {
  return lb.ports.filter((p) => p.port !== 0).map((p) => ({ port: p.port, protocol: p.protocol }));
}

function loadBalancerMsg(lb: LoadBalancerInfo): object {
  return { id: textBytes(lb.id), vni: lb.vni, ip: ipAddressMsg(lb.ip), ports: lbPortsMsg(lb), underlay_route: ipv6Bytes(lb.underlay) };
}

/** A uint32 firewall value (FW_MATCH_ANY = any) as the int32 on the wire (-1 = any). */
function int32(v: number): number {
  return v | 0;
}

/**
 * A firewall rule as GetFirewallRule reports it. Upstream derives an IPv6 prefix length from the
 * first 32 mask bits only (a /64 reads back as /32); the stored length is reported here.
 */
function firewallRuleMsg(r: FirewallRuleSpec): object {
  const f = r.filter;
  const protocolFilter =
    f.protocol === 'tcp' || f.protocol === 'udp'
      ? {
          [f.protocol]: {
            src_port_lower: int32(f.srcPortLower),
            src_port_upper: int32(f.srcPortUpper),
            dst_port_lower: int32(f.dstPortLower),
            dst_port_upper: int32(f.dstPortUpper),
          },
        }
      : f.protocol === 'icmp'
        ? { icmp: { icmp_type: int32(f.icmpType), icmp_code: int32(f.icmpCode) } }
        : {};
  return {
    id: textBytes(r.id),
    direction: r.direction,
    action: r.action,
    priority: r.priority,
    source_prefix: { ip: ipAddressMsg(r.source), length: r.sourceLength },
    destination_prefix: { ip: ipAddressMsg(r.destination), length: r.destinationLength },
    protocol_filter: protocolFilter,
  };
}

function captureConfigMsg(s: CaptureStatusInfo): object {
  return {
    sink_node_ip: { ipver: IPVER_IPV6, address: ipv6Bytes(s.sink) },
    udp_src_port: s.udpSrcPort,
    udp_dst_port: s.udpDstPort,
    interfaces: s.targets.map((t) =>
      t.kind === 'pf'
        ? { interface_type: CAPTURE_SINGLE_PF, pf_index: t.pfIndex }
        : { interface_type: CAPTURE_SINGLE_VF, vf_name: textBytes(t.interfaceId) },
    ),
  };
}

/** A request as a log-friendly object: bytes fields shown as their text. */
function loggable(v: unknown, depth = 0): unknown {
  if (v === null || v === undefined || depth > 8) return v;
  if (v instanceof Uint8Array) return cText(v);
  if (Array.isArray(v)) return v.map((x) => loggable(x, depth + 1));
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = loggable(x, depth + 1);
    return out;
  }
  return v;
}

// ---- health ---------------------------------------------------------------------------------------

const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;

/**
 * grpc.health.v1 as upstream serves it (src/grpc/dp_grpc_health.cpp): "" and the dpservice service
 * report the server state; other names get SERVICE_UNKNOWN from Check and NOT_FOUND from Watch.
 * Watch sends the current state, then every change.
 */
class HealthService {
  private status: number = ServingStatus.NOT_SERVING;
  private readonly watchers = new Set<grpc.ServerWritableStream<{ service?: string }, { status: number }>>();

  private static known(service: string | undefined): boolean {
    return service === undefined || service === '' || service === SERVICE_NAME;
  }

  setServing(serving: boolean): void {
    const next = serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    if (next === this.status) return;
    this.status = next;
    for (const w of this.watchers) w.write({ status: next });
  }

  /** Ends every Watch stream (server shutdown). */
  endWatches(): void {
    for (const w of this.watchers) w.emit('error', { code: grpc.status.CANCELLED, details: 'Server shutting down' });
    this.watchers.clear();
  }

  implementation(): grpc.UntypedServiceImplementation {
    return {
      Check: (
        call: grpc.ServerUnaryCall<{ service?: string }, { status: number }>,
        callback: grpc.sendUnaryData<{ status: number }>,
      ) => {
        const status = HealthService.known(call.request.service) ? this.status : ServingStatus.SERVICE_UNKNOWN;
        callback(null, { status });
      },
      Watch: (call: grpc.ServerWritableStream<{ service?: string }, { status: number }>) => {
        if (!HealthService.known(call.request.service)) {
          call.emit('error', { code: grpc.status.NOT_FOUND, details: 'Service not found' });
          return;
        }
        this.watchers.add(call);
        call.on('cancelled', () => this.watchers.delete(call));
        call.write({ status: this.status });
      },
    };
  }
}

// ---- the server ---------------------------------------------------------------------------------

type Outcome = { ok: object } | { grpcCode: grpc.status; details: string };

/** Starts the gRPC server; resolves once it listens. */
export async function startControl(opts: ControlOptions): Promise<ControlServer> {
  const log = loggerFor(opts.log, 'grpc');
  const uuid = randomUUID().toUpperCase();
  const registry = new Registry(opts.dataplane, opts.registry);
  const health = new HealthService();
  let initialized = false;

  // One call at a time, in arrival order (see the module comment). Errors never break the chain.
  let tail: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn);
    tail = run.catch(() => undefined);
    return run;
  };

  const handlers: Record<string, (req: never) => Promise<object>> = {
    Initialize: async () => {
      registry.initialize();
      initialized = true;
      opts.dataplane.markInitialized();
      log.info({ uuid }, 'initialized');
      return { status: STATUS_OK, uuid };
    },

    CheckInitialized: async () => ({ status: STATUS_OK, uuid }),

    GetVersion: async (req: GetVersionReq) => {
      if (fixedField(req.client_protocol, VERSION_FIELD_SIZE) === undefined) invalid('Invalid client_protocol');
      if (fixedField(req.client_name, VERSION_FIELD_SIZE) === undefined) invalid('Invalid client_name');
      if (fixedField(req.client_version, VERSION_FIELD_SIZE) === undefined) invalid('Invalid client_version');
      return { status: STATUS_OK, service_protocol: opts.version, service_version: opts.version };
    },

    CreateInterface: async (req: CreateInterfaceReq) => {
      // checks in upstream's order, so that the first problem reported is the same
      if (!validIdChars(req.interface_id)) invalid('Invalid interface_id');
      const ipv4 = parseIpv4(cText(req.ipv4_config?.primary_address));
      if (ipv4 === undefined) invalid('Invalid ipv4_config.primary_address');
      const ipv6 = parseIpv6(cText(req.ipv6_config?.primary_address));
      if (ipv6 === undefined) invalid('Invalid ipv6_config.primary_address');
      if (ipv4 === 0 && isZeroIpv6(ipv6)) {
        invalid('Invalid ipv4_config.primary_address and ipv6_config.primary_address combination');
      }
      let pxeServer = '';
      let bootFile = '';
      const nextServer = req.pxe_config?.next_server ?? '';
      if (nextServer !== '') {
        // the boot server has the family the interface's DHCP will use
        const text = cText(nextServer);
        if (isZeroIpv6(ipv6)) {
          const v4 = parseIpv4(text);
          if (v4 === undefined) invalid('Invalid pxe_config.next_server');
          pxeServer = formatIpv4(v4);
        } else {
          const v6 = parseIpv6(text);
          if (v6 === undefined) invalid('Invalid pxe_config.next_server');
          pxeServer = formatIpv6(v6);
        }
        bootFile = fixedField(req.pxe_config?.boot_filename, PXE_FILE_SIZE) ?? invalid('Invalid pxe_config.boot_filename');
      }
      const deviceName = fixedField(req.device_name, DEVICE_NAME_SIZE) ?? invalid('Invalid device_name');
      const id = fixedField(req.interface_id, IFACE_ID_SIZE) ?? invalid('Invalid interface_id');
      let hostname = '';
      if ((req.hostname ?? '') !== '') hostname = fixedField(req.hostname, HOSTNAME_SIZE) ?? invalid('Invalid hostname');
      const preferred = parsePreferred(req.preferred_underlay_route, registry) ?? invalid('Invalid preferred_underlay_route');

      const iface = await registry.createInterface({
        id,
        vni: req.vni ?? 0,
        ipv4,
        ipv6,
        deviceName,
        pxeServer,
        bootFile,
        hostname,
        totalRate: toUint64(req.metering_parameters?.total_rate),
        publicRate: toUint64(req.metering_parameters?.public_rate),
        preferredUnderlay: preferred,
      });
      return {
        status: STATUS_OK,
        underlay_route: textBytes(formatIpv6(iface.underlay)),
        vf: { name: iface.vfName },
      };
    },

    DeleteInterface: async (req: InterfaceIdReq) => {
      const id = fixedField(req.interface_id, IFACE_ID_SIZE) ?? invalid('Invalid interface_id');
      await registry.deleteInterface(id);
      return { status: STATUS_OK };
    },

    GetInterface: async (req: InterfaceIdReq) => {
      const id = fixedField(req.interface_id, IFACE_ID_SIZE) ?? invalid('Invalid interface_id');
      return { status: STATUS_OK, interface: interfaceMsg(registry.getInterface(id)) };
    },

    ListInterfaces: async () => ({ status: STATUS_OK, interfaces: registry.listInterfaces().map(interfaceMsg) }),

    CreateRoute: async (req: RouteReq) => {
      const length = req.route?.prefix?.length ?? 0;
      if (length > PREFIX_LENGTH_FIELD_MAX) invalid('Invalid route.prefix.length');
      const prefix = parseIpAddress(req.route?.prefix?.ip) ?? invalid('Invalid route.prefix.ip');
      const nexthop = parseIpAddress(req.route?.nexthop_address) ?? invalid('Invalid route.nexthop_address');
      registry.createRoute(req.vni ?? 0, prefix, length, req.route?.nexthop_vni ?? 0, nexthop);
      return { status: STATUS_OK };
    },

    DeleteRoute: async (req: RouteReq) => {
      const length = req.route?.prefix?.length ?? 0;
      if (length > PREFIX_LENGTH_FIELD_MAX) invalid('Invalid route.prefix.length');
      const prefix = parseIpAddress(req.route?.prefix?.ip) ?? invalid('Invalid route.prefix.ip');
      registry.deleteRoute(req.vni ?? 0, prefix, length);
      return { status: STATUS_OK };
    },

    ListRoutes: async (req: ListRoutesReq) => ({
      status: STATUS_OK,
      routes: registry.listRoutes(req.vni ?? 0).map(routeMsg),
    }),

    // ---- prefixes (alias prefixes and load-balancer target prefixes) ----

    CreatePrefix: async (req: PrefixReq) => {
      const id = interfaceIdOf(req.interface_id);
      const { prefix, length } = prefixOf(req.prefix);
      const preferred = parsePreferred(req.preferred_underlay_route, registry) ?? invalid('Invalid preferred_underlay_route');
      const pfx = registry.createPrefix(id, prefix, length, preferred);
      return { status: STATUS_OK, underlay_route: ipv6Bytes(pfx.underlay) };
    },

    DeletePrefix: async (req: PrefixReq) => {
      const id = interfaceIdOf(req.interface_id);
      const { prefix, length } = prefixOf(req.prefix);
      registry.deletePrefix(id, prefix, length);
      return { status: STATUS_OK };
    },

    ListPrefixes: async (req: InterfaceIdReq) => ({
      status: STATUS_OK,
      prefixes: registry.listPrefixes(interfaceIdOf(req.interface_id)).map(prefixMsg),
    }),

    CreateLoadBalancerPrefix: async (req: PrefixReq) => {
      const id = interfaceIdOf(req.interface_id);
      const { prefix, length } = prefixOf(req.prefix);
      const preferred = parsePreferred(req.preferred_underlay_route, registry) ?? invalid('Invalid preferred_underlay_route');
      const pfx = registry.createLbPrefix(id, prefix, length, preferred);
      return { status: STATUS_OK, underlay_route: ipv6Bytes(pfx.underlay) };
    },

    DeleteLoadBalancerPrefix: async (req: PrefixReq) => {
      const id = interfaceIdOf(req.interface_id);
      const { prefix, length } = prefixOf(req.prefix);
      registry.deleteLbPrefix(id, prefix, length);
      return { status: STATUS_OK };
    },

    ListLoadBalancerPrefixes: async (req: InterfaceIdReq) => ({
      status: STATUS_OK,
      prefixes: registry.listLbPrefixes(interfaceIdOf(req.interface_id)).map(prefixMsg),
    }),

    // ---- virtual IP ----

    CreateVip: async (req: VipReq) => {
      const id = interfaceIdOf(req.interface_id);
      const vip = parseIpAddress(req.vip_ip) ?? invalid('Invalid vip_ip');
      const preferred = parsePreferred(req.preferred_underlay_route, registry) ?? invalid('Invalid preferred_underlay_route');
      return { status: STATUS_OK, underlay_route: ipv6Bytes(registry.createVip(id, vip, preferred).underlay) };
    },

    GetVip: async (req: InterfaceIdReq) => {
      const vip = registry.getVip(interfaceIdOf(req.interface_id));
      return { status: STATUS_OK, vip_ip: ipAddressMsg(ipv4Addr(vip.vip)), underlay_route: ipv6Bytes(vip.underlay) };
    },

    DeleteVip: async (req: InterfaceIdReq) => {
      registry.deleteVip(interfaceIdOf(req.interface_id));
      return { status: STATUS_OK };
    },

    // ---- NAT ----

    CreateNat: async (req: NatReq) => {
      const id = interfaceIdOf(req.interface_id);
      const natIp = parseIpAddress(req.nat_ip) ?? invalid('Invalid nat_ip');
      const { minPort, maxPort } = portRangeOf(req);
      const preferred = parsePreferred(req.preferred_underlay_route, registry) ?? invalid('Invalid preferred_underlay_route');
      const nat = registry.createNat(id, natIp, minPort, maxPort, preferred);
      return { status: STATUS_OK, underlay_route: ipv6Bytes(nat.underlay) };
    },

    GetNat: async (req: InterfaceIdReq) => {
      const nat = registry.getNat(interfaceIdOf(req.interface_id));
      return {
        status: STATUS_OK,
        nat_ip: ipAddressMsg(ipv4Addr(nat.natIp)),
        min_port: nat.minPort,
        max_port: nat.maxPort,
        underlay_route: ipv6Bytes(nat.underlay),
      };
    },

    DeleteNat: async (req: InterfaceIdReq) => {
      registry.deleteNat(interfaceIdOf(req.interface_id));
      return { status: STATUS_OK };
    },

    ListLocalNats: async (req: NatReq) => {
      const natIp = parseIpAddress(req.nat_ip) ?? invalid('Invalid nat_ip');
      return {
        status: STATUS_OK,
        nat_entries: registry.listLocalNats(natIp).map((n) => ({
          nat_ip: ipAddressMsg(ipv4Addr(n.ifaceIpv4)),
          min_port: n.minPort,
          max_port: n.maxPort,
          vni: n.vni,
          actual_nat_ip: ipAddressMsg(ipv4Addr(n.natIp)),
        })),
      };
    },

    CreateNeighborNat: async (req: NatReq) => {
      const natIp = parseIpAddress(req.nat_ip) ?? invalid('Invalid nat_ip');
      const { minPort, maxPort } = portRangeOf(req);
      const underlay = parseIpv6(cText(req.underlay_route)) ?? invalid('Invalid underlay_route');
      registry.createNeighborNat(natIp, req.vni ?? 0, minPort, maxPort, underlay);
      return { status: STATUS_OK };
    },

    DeleteNeighborNat: async (req: NatReq) => {
      const natIp = parseIpAddress(req.nat_ip) ?? invalid('Invalid nat_ip');
      const { minPort, maxPort } = portRangeOf(req);
      registry.deleteNeighborNat(natIp, req.vni ?? 0, minPort, maxPort);
      return { status: STATUS_OK };
    },

    ListNeighborNats: async (req: NatReq) => {
      const natIp = parseIpAddress(req.nat_ip) ?? invalid('Invalid nat_ip');
      return {
        status: STATUS_OK,
        nat_entries: registry.listNeighborNats(natIp).map((n) => ({
          underlay_route: ipv6Bytes(n.underlay),
          min_port: n.minPort,
          max_port: n.maxPort,
          vni: n.vni,
          actual_nat_ip: ipAddressMsg(ipv4Addr(n.natIp)),
        })),
      };
    },

    // ---- load balancers ----

    CreateLoadBalancer: async (req: LoadBalancerReq) => {
      const id = fixedField(req.loadbalancer_id, LB_ID_SIZE) ?? invalid('Invalid loadbalancer_id');
      const vni = req.vni ?? 0;
      if (vni > LB_VNI_MAX) invalid('VNI exceeds 24-bit range');
      const ip = parseIpAddress(req.loadbalanced_ip) ?? invalid('Invalid loadbalanced_ip');
      if ((req.loadbalanced_ports ?? []).length > LB_MAX_PORTS) invalid('Too many loadbalanced_ports');
      const preferred = parsePreferred(req.preferred_underlay_route, registry) ?? invalid('Invalid preferred_underlay_route');
      const ports = lbPortsOf(req.loadbalanced_ports);
      const lb = registry.createLoadBalancer({ id, vni, ip, ports, preferredUnderlay: preferred });
      return { status: STATUS_OK, underlay_route: ipv6Bytes(lb.underlay) };
    },

    GetLoadBalancer: async (req: LoadBalancerReq) => {
      const lb = registry.getLoadBalancer(fixedField(req.loadbalancer_id, LB_ID_SIZE) ?? invalid('Invalid loadbalancer_id'));
      return {
        status: STATUS_OK,
        loadbalanced_ip: ipAddressMsg(lb.ip),
        vni: lb.vni,
        loadbalanced_ports: lbPortsMsg(lb),
        underlay_route: ipv6Bytes(lb.underlay),
      };
    },

    DeleteLoadBalancer: async (req: LoadBalancerReq) => {
      registry.deleteLoadBalancer(fixedField(req.loadbalancer_id, LB_ID_SIZE) ?? invalid('Invalid loadbalancer_id'));
      return { status: STATUS_OK };
    },

    ListLoadBalancers: async () => ({ status: STATUS_OK, loadbalancers: registry.listLoadBalancers().map(loadBalancerMsg) }),

    CreateLoadBalancerTarget: async (req: LbTargetReq) => {
      const id = fixedField(req.loadbalancer_id, LB_ID_SIZE) ?? invalid('Invalid loadbalancer_id');
      const target = parseIpAddress(req.target_ip) ?? invalid('Invalid target_ip');
      registry.addLoadBalancerTarget(id, target);
      return { status: STATUS_OK };
    },

    DeleteLoadBalancerTarget: async (req: LbTargetReq) => {
      const id = fixedField(req.loadbalancer_id, LB_ID_SIZE) ?? invalid('Invalid loadbalancer_id');
      const target = parseIpAddress(req.target_ip) ?? invalid('Invalid target_ip');
      registry.removeLoadBalancerTarget(id, target);
      return { status: STATUS_OK };
    },

    ListLoadBalancerTargets: async (req: LbTargetReq) => {
      // an empty id lists the targets of every load balancer
      const id =
        byteLength(req.loadbalancer_id) === 0 ? '' : (fixedField(req.loadbalancer_id, LB_ID_SIZE) ?? invalid('Invalid loadbalancer_id'));
      return { status: STATUS_OK, target_ips: registry.listLoadBalancerTargets(id).map((t) => ipAddressMsg(ipv6Addr(t))) };
    },

    // ---- VNIs ----

    CheckVniInUse: async (req: VniReq) => {
      const type = vniTypeOf(req.type);
      return { status: STATUS_OK, in_use: registry.checkVniInUse(req.vni ?? 0, type) };
    },

    ResetVni: async (req: VniReq) => {
      const type = vniTypeOf(req.type);
      registry.resetVni(req.vni ?? 0, type);
      return { status: STATUS_OK };
    },

    // ---- firewall ----

    CreateFirewallRule: async (req: FirewallRuleReq) => {
      const id = interfaceIdOf(req.interface_id);
      const rule = firewallRuleOf(req.rule);
      registry.createFirewallRule(id, rule);
      return { status: STATUS_OK, rule_id: textBytes(rule.id) };
    },

    GetFirewallRule: async (req: FirewallRuleReq) => {
      const id = interfaceIdOf(req.interface_id);
      const ruleId = fixedField(req.rule_id, FW_RULE_ID_SIZE) ?? invalid('Invalid rule_id');
      return { status: STATUS_OK, rule: firewallRuleMsg(registry.getFirewallRule(id, ruleId)) };
    },

    DeleteFirewallRule: async (req: FirewallRuleReq) => {
      const id = interfaceIdOf(req.interface_id);
      const ruleId = fixedField(req.rule_id, FW_RULE_ID_SIZE) ?? invalid('Invalid rule_id');
      registry.deleteFirewallRule(id, ruleId);
      return { status: STATUS_OK };
    },

    ListFirewallRules: async (req: FirewallRuleReq) => ({
      status: STATUS_OK,
      rules: registry.listFirewallRules(interfaceIdOf(req.interface_id)).map(firewallRuleMsg),
    }),

    // ---- capture (state only; the mirroring follows the change events) ----

    CaptureStart: async (req: CaptureStartReq) => {
      registry.captureStart(captureSettingsOf(req));
      return { status: STATUS_OK };
    },

    CaptureStop: async () => ({ status: STATUS_OK, stopped_interface_cnt: registry.captureStop() }),

    CaptureStatus: async () => {
      const s = registry.captureStatus();
      if (!s.active) return { status: STATUS_OK, is_active: false };
      return { status: STATUS_OK, is_active: true, capture_config: captureConfigMsg(s) };
    },
  };

  /** Runs one call through the gate, its handler and the error mapping; never rejects. */
  const process = async (rpc: string, request: unknown): Promise<Outcome> => {
    if (rpc !== 'Initialize' && !initialized) return { grpcCode: grpc.status.ABORTED, details: 'not initialized' };
    const handler = handlers[rpc];
    if (handler === undefined) return { grpcCode: grpc.status.UNIMPLEMENTED, details: `${rpc} is not implemented` };
    try {
      return { ok: await handler(request as never) };
    } catch (e) {
      if (e instanceof InvalidArgument) return { grpcCode: grpc.status.INVALID_ARGUMENT, details: e.message };
      if (e instanceof DpError) {
        log.info({ rpc, code: e.code, err: e.message }, `${rpc} failed`);
        return { ok: { status: dpStatus(e.code) } };
      }
      log.error({ rpc, err: e }, `${rpc} crashed`);
      return { grpcCode: grpc.status.INTERNAL, details: `internal error in ${rpc}: ${(e as Error)?.message ?? String(e)}` };
    } finally {
      // Whatever changed (also on a failure that cleaned up part-way, like PORT_STOP), the
      // dataplane has applied it before the client hears back.
      try {
        await registry.changes.commit();
      } catch (e) {
        log.error({ rpc, err: e }, `${rpc}: applying the changes to the dataplane failed`);
      }
    }
  };

  // calls by RPC and result (callCounts); one Map per RPC, created with the service below
  const counts = new Map<string, Map<string, number>>();
  const countCall = (rpc: string, result: string): void => {
    let m = counts.get(rpc);
    if (m === undefined) counts.set(rpc, (m = new Map()));
    m.set(result, (m.get(result) ?? 0) + 1);
  };
  const resultOf = (out: Outcome): string => {
    if ('ok' in out) {
      const status = (out.ok as { status?: { code?: number; message?: string } }).status;
      return status === undefined || status.code === 0 ? 'Success' : status.message ?? String(status.code);
    }
    return grpc.status[out.grpcCode] ?? String(out.grpcCode);
  };

  const unary =
    (rpc: string) =>
    (call: grpc.ServerUnaryCall<unknown, object>, callback: grpc.sendUnaryData<object>): void => {
      let request: unknown;
      try {
        request = call.request;
        log.info({ rpc, request: loggable(request) }, rpc);
      } catch {
        // logging must never stop a call
      }
      serial(() => process(rpc, request))
        .catch((e: unknown): Outcome => ({ grpcCode: grpc.status.INTERNAL, details: `internal error in ${rpc}: ${String(e)}` }))
        .then((out) => {
          countCall(rpc, resultOf(out));
          if ('ok' in out) callback(null, out.ok);
          else {
            if (out.grpcCode !== grpc.status.ABORTED) log.info({ rpc, grpcCode: out.grpcCode, details: out.details }, `${rpc} refused`);
            callback({ code: out.grpcCode, details: out.details });
          }
        })
        .catch((e: unknown) => log.error({ rpc, err: e }, `${rpc}: answering failed`));
    };

  const dpdkDef = loadProto('dpdk.proto');
  const healthDef = loadProto('health.proto');
  const service = dpdkDef[SERVICE_NAME] as grpc.ServiceDefinition;
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const name of Object.keys(service)) implementation[name] = unary(name);

  const server = new grpc.Server({
    // upstream keeps long-lived (health watching) connections alive like Go clients expect
    'grpc.keepalive_time_ms': 15000,
  });
  server.addService(service, implementation);
  server.addService(healthDef[HEALTH_SERVICE_NAME] as grpc.ServiceDefinition, health.implementation());
  // server reflection (v1 and v1alpha) describing both services, for grpcurl and friends
  new ReflectionService({ ...dpdkDef, ...healthDef }).addToServer(server);

  const bind = (host: string): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      const address = `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${opts.port}`;
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
    });
  let address = opts.host ?? '[::]';
  let port: number;
  try {
    port = await bind(address);
  } catch (e) {
    // a host without IPv6 cannot bind [::]; upstream's default then still serves IPv4
    if (opts.host !== undefined) throw e;
    log.warn({ err: e }, 'cannot listen on [::], falling back to 0.0.0.0');
    address = '0.0.0.0';
    port = await bind(address);
  }
  health.setServing(true);
  log.info({ address, port, uuid }, 'gRPC server listening');

  const drainMs = opts.drainTimeoutMs ?? 5000;
  let closing: Promise<void> | undefined;
  return {
    port,
    uuid,
    registry,
    callCounts: () => [...counts].flatMap(([rpc, m]) => [...m].map(([result, count]) => ({ rpc, result, count }))),
    setServing: (serving: boolean) => health.setServing(serving),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        health.setServing(false);
        health.endWatches();
        const timer = setTimeout(() => {
          log.warn({ drainMs }, 'gRPC calls still running, forcing shutdown');
          server.forceShutdown();
          resolve();
        }, drainMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return closing;
    },
  };
}
