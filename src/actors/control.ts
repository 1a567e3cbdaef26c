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
 *   and waits for the reply), so a create and a delete can never interleave;
 * - RPCs not implemented yet answer gRPC UNIMPLEMENTED.
 *
 * Request conversion (the "FillRequest" step) lives here; the object semantics live in
 * registry.ts.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from 'pino';
import type { DataplaneApi } from './dataplane-api.js';
import { DpError, STATUS_OK, dpStatus } from './errors.js';
import { loggerFor } from './logging.js';
import {
  Registry,
  formatIpAddr,
  ipv4Addr,
  ipv6Addr,
  type InterfaceInfo,
  type IpAddr,
  type RegistryOptions,
  type RouteInfo,
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

const IPVER_IPV4 = 0;
const IPVER_IPV6 = 1;

// Field sizes of upstream's request structures (C buffers, including the terminating NUL).
const IFACE_ID_SIZE = 64;
const DEVICE_NAME_SIZE = 64;
const HOSTNAME_SIZE = 64;
const PXE_FILE_SIZE = 32;
const VERSION_FIELD_SIZE = 64;
/** Prefix lengths travel as uint8 internally; longer ones are refused before any lookup. */
const PREFIX_LENGTH_FIELD_MAX = 255;

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

// ---- response shapes ----------------------------------------------------------------------------

function textBytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

function ipAddressMsg(a: IpAddr): { ipver: number; address: Buffer } {
  return { ipver: a.family === 4 ? IPVER_IPV4 : IPVER_IPV6, address: textBytes(formatIpAddr(a)) };
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
      const preferredText = cText(req.preferred_underlay_route);
      const preferred = parseIpv6(preferredText === '' ? '::' : preferredText);
      if (preferred === undefined || !registry.underlay.acceptsPreferred(preferred)) {
        invalid('Invalid preferred_underlay_route');
      }

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
  };

  /** Runs one call through the gate, its handler and the error mapping; never rejects. */
  const process = async (rpc: string, request: unknown): Promise<Outcome> => {
    if (rpc !== 'Initialize' && !initialized) return { grpcCode: grpc.status.ABORTED, details: 'not initialized' };
    const handler = handlers[rpc];
    if (handler === undefined) return { grpcCode: grpc.status.UNIMPLEMENTED, details: `${rpc} is not implemented yet` };
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
    }
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
