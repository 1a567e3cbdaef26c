import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { pino } from 'pino';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { protoPath, startControl, type ControlServer } from '../../src/actors/control.js';
import type { DataplaneApi } from '../../src/actors/dataplane-api.js';
import { DP_ERROR_CODES, DpErrorCode } from '../../src/actors/errors.js';
import type { RegistryChange, RegistryOptions } from '../../src/actors/registry.js';
import { formatIpv6, parseIpv6 } from '../../src/actors/underlay.js';
import type { InterfaceConfig } from '../../src/tables/port-table.js';

// ---- fixtures ----------------------------------------------------------------------------------

const HOST_IPV6 = 'fc00:1::';
const VERSION = 'v0.4.0-test';

/** In-memory dataplane: VM ports net_tap2..net_tap5 are ports 2..5. */
class FakeDataplane implements DataplaneApi {
  readonly hostIpv6 = parseIpv6(HOST_IPV6)!;
  /** Upstream's sizes (1,000 underlay addresses, 1,024 routes per VNI); tests may lower them. */
  tableLimits = { vnfs: 1000, routes: 8192, routesPerVni: 1024 };
  readonly attached = new Map<number, InterfaceConfig>();
  readonly detached: number[] = [];
  failAttach = false;
  failDetach = false;
  initializeCalls = 0;

  markInitialized(): void {
    this.initializeCalls++;
  }

  vfPort(deviceName: string): number | undefined {
    const m = /^net_tap([2-5])$/.exec(deviceName);
    return m ? Number(m[1]) : undefined;
  }
  async attachInterface(port: number, cfg: InterfaceConfig): Promise<void> {
    if (this.failAttach) throw new Error('port start failed');
    this.attached.set(port, cfg);
  }
  async detachInterface(port: number): Promise<void> {
    this.attached.delete(port);
    this.detached.push(port);
    if (this.failDetach) throw new Error('port stop failed');
  }
}

interface StatusMsg {
  code: number;
  message: string;
}
interface IpMsg {
  ipver: number;
  address: Buffer;
}
interface InterfaceMsg {
  id: Buffer;
  vni: number;
  primary_ipv4: Buffer;
  primary_ipv6: Buffer;
  underlay_route: Buffer;
  pci_name: string;
  meteringParams: { total_rate: string; public_rate: string } | null;
  hostname: string;
}
interface RouteMsg {
  prefix: { ip: IpMsg; length: number } | null;
  nexthop_vni: number;
  nexthop_address: IpMsg | null;
}
interface PrefixMsg {
  ip: IpMsg | null;
  length: number;
  underlay_route: Buffer;
}
interface LbPortMsg {
  port: number;
  protocol: number;
}
interface LoadbalancerMsg {
  id: Buffer;
  vni: number;
  ip: IpMsg | null;
  ports: LbPortMsg[];
  underlay_route: Buffer;
}
interface NatEntryMsg {
  nat_ip: IpMsg | null;
  min_port: number;
  max_port: number;
  underlay_route: Buffer;
  vni: number;
  actual_nat_ip: IpMsg | null;
}
interface PortFilterMsg {
  src_port_lower: number;
  src_port_upper: number;
  dst_port_lower: number;
  dst_port_upper: number;
}
interface FirewallRuleMsg {
  id: Buffer;
  direction: number;
  action: number;
  priority: number;
  source_prefix: PrefixMsg | null;
  destination_prefix: PrefixMsg | null;
  protocol_filter: {
    filter?: string;
    tcp?: PortFilterMsg | null;
    udp?: PortFilterMsg | null;
    icmp?: { icmp_type: number; icmp_code: number } | null;
  } | null;
}
interface CaptureConfigMsg {
  sink_node_ip: IpMsg | null;
  udp_src_port: number;
  udp_dst_port: number;
  interfaces: Array<{ interface_type: number; vf_name?: Buffer; pf_index?: number; spec?: string }>;
}
interface Resp {
  status: StatusMsg;
  uuid?: string;
  service_protocol?: string;
  service_version?: string;
  underlay_route?: Buffer;
  vf?: { name: string } | null;
  interface?: InterfaceMsg | null;
  interfaces?: InterfaceMsg[];
  routes?: RouteMsg[];
  prefixes?: PrefixMsg[];
  vip_ip?: IpMsg | null;
  nat_ip?: IpMsg | null;
  min_port?: number;
  max_port?: number;
  nat_entries?: NatEntryMsg[];
  loadbalanced_ip?: IpMsg | null;
  vni?: number;
  loadbalanced_ports?: LbPortMsg[];
  loadbalancers?: LoadbalancerMsg[];
  target_ips?: IpMsg[];
  in_use?: boolean;
  rule_id?: Buffer;
  rule?: FirewallRuleMsg | null;
  rules?: FirewallRuleMsg[];
  stopped_interface_cnt?: number;
  is_active?: boolean;
  capture_config?: CaptureConfigMsg | null;
}
/** gRPC outcome: code 0 with a response, or the gRPC error code and details. */
interface Outcome {
  grpc: number;
  details: string;
  res: Resp;
}

const LOADER: protoLoader.Options = { keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true };
const dpdkPkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath('dpdk.proto'), LOADER));
const healthPkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath('health.proto'), LOADER));
const DpdkClient = ((dpdkPkg.dpdkironcore as grpc.GrpcObject).v1 as grpc.GrpcObject).DPDKironcore as grpc.ServiceClientConstructor;
const HealthClient = (((healthPkg.grpc as grpc.GrpcObject).health as grpc.GrpcObject).v1 as grpc.GrpcObject)
  .Health as grpc.ServiceClientConstructor;

type UnaryFn = (req: object, cb: (err: grpc.ServiceError | null, res: Resp) => void) => void;

interface Ctx {
  srv: ControlServer;
  dp: FakeDataplane;
  client: grpc.Client;
  logLines: Array<Record<string, unknown>>;
  call(method: string, req?: object): Promise<Outcome>;
  /** Calls and requires gRPC OK; returns the response. */
  ok(method: string, req?: object): Promise<Resp>;
}

async function setup(
  t: ExecutionContext,
  opts: { init?: boolean; registry?: RegistryOptions } = {},
): Promise<Ctx> {
  const dp = new FakeDataplane();
  const logLines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const srv = await startControl({
    port: 0,
    host: '127.0.0.1',
    version: VERSION,
    dataplane: dp,
    log: pino({ level: 'info' }, sink),
    registry: opts.registry,
    drainTimeoutMs: 500,
  });
  const client = new DpdkClient(`127.0.0.1:${srv.port}`, grpc.credentials.createInsecure());
  t.teardown(async () => {
    client.close();
    await srv.close();
  });
  const call = (method: string, req: object = {}): Promise<Outcome> =>
    new Promise((resolve) => {
      const fn = (client as unknown as Record<string, UnaryFn>)[method]!;
      fn.call(client, req, (err, res) =>
        resolve(err ? { grpc: err.code, details: err.details, res: { status: { code: -1, message: '' } } } : { grpc: 0, details: '', res }),
      );
    });
  const ok = async (method: string, req: object = {}): Promise<Resp> => {
    const out = await call(method, req);
    if (out.grpc !== 0) throw new Error(`${method}: gRPC ${out.grpc} ${out.details}`);
    return out.res;
  };
  if (opts.init ?? true) await ok('Initialize');
  return { srv, dp, client, logLines, call, ok };
}

const text = (s: string): Buffer => Buffer.from(s, 'latin1');
const str = (b: Buffer | undefined | null): string => (b ? b.toString('latin1') : '');
const ip4 = (a: string): IpMsg => ({ ipver: 0, address: text(a) });
const ip6 = (a: string): IpMsg => ({ ipver: 1, address: text(a) });
const ipOf = (a: string): IpMsg => (a.includes(':') ? ip6(a) : ip4(a));

interface IfaceExtra {
  preferred?: string;
  hostname?: string;
  pxeServer?: string;
  bootFile?: string;
  totalRate?: string;
  publicRate?: string;
}
function ifaceReq(id: string, device: string, vni: number, v4: string, v6: string, x: IfaceExtra = {}): object {
  return {
    interface_id: text(id),
    vni,
    device_name: device,
    ipv4_config: { primary_address: text(v4) },
    ipv6_config: { primary_address: text(v6) },
    pxe_config: { next_server: x.pxeServer ?? '', boot_filename: x.bootFile ?? '' },
    preferred_underlay_route: text(x.preferred ?? ''),
    hostname: x.hostname ?? '',
    metering_parameters: { total_rate: x.totalRate ?? '0', public_rate: x.publicRate ?? '0' },
  };
}
function routeReq(vni: number, prefix: string, nhVni = 0, nh = 'fc00:2::1'): object {
  const [addr, len] = prefix.split('/');
  return { vni, route: { prefix: { ip: ipOf(addr!), length: Number(len) }, nexthop_vni: nhVni, nexthop_address: ipOf(nh) } };
}
const idReq = (id: string): object => ({ interface_id: text(id) });

const VM1 = { id: 'vm1', dev: 'net_tap2', vni: 100, ip: '172.32.10.5', ipv6: '2001::10' };
const VM4 = { id: 'vm4', dev: 'net_tap5', vni: 100, ip: '172.32.10.8', ipv6: '2001::40' };

async function addVm(c: Ctx, vm: typeof VM1, x: IfaceExtra = {}): Promise<Resp> {
  return c.ok('CreateInterface', ifaceReq(vm.id, vm.dev, vm.vni, vm.ip, vm.ipv6, x));
}

const ALL_RPCS = Object.keys(DpdkClient.service);

// ---- initialization --------------------------------------------------------------------------

test('the service defines all 42 upstream RPCs', (t) => {
  t.is(ALL_RPCS.length, 42);
});

test('every call but Initialize is refused with ABORTED "not initialized" before Initialize', async (t) => {
  const c = await setup(t, { init: false });
  for (const rpc of ['CheckInitialized', 'GetVersion', 'ListInterfaces', 'CreateInterface', 'CreateRoute', 'ListRoutes', 'CreateVip']) {
    const out = await c.call(rpc);
    t.is(out.grpc, grpc.status.ABORTED, rpc);
    t.is(out.details, 'not initialized', rpc);
  }
});

test('Initialize returns the process UUID, repeatable, and CheckInitialized reports the same UUID', async (t) => {
  const c = await setup(t, { init: false });
  t.is(c.dp.initializeCalls, 0);
  const first = await c.ok('Initialize');
  t.deepEqual(first.status, { code: 0, message: 'Success' });
  t.is(c.dp.initializeCalls, 1, 'the dataplane learns about Initialize');
  t.regex(first.uuid!, /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
  t.is(first.uuid, c.srv.uuid);
  t.is((await c.ok('Initialize')).uuid, first.uuid);
  const check = await c.ok('CheckInitialized');
  t.deepEqual(check.status, { code: 0, message: 'Success' });
  t.is(check.uuid, first.uuid);
});

test('a repeated Initialize drops the routes but keeps interfaces and their own addresses', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  t.is((await c.ok('CreateRoute', routeReq(VM1.vni, '10.0.0.0/8'))).status.code, 0);
  await c.ok('Initialize');
  t.deepEqual((await c.ok('ListRoutes', { vni: VM1.vni })).routes, []);
  t.is((await c.ok('GetInterface', idReq(VM1.id))).status.code, 0);
  // VM1's /32 is still routed in its VNI
  const again = await c.ok('CreateInterface', ifaceReq('vm2', 'net_tap3', VM1.vni, VM1.ip, '::'));
  t.is(again.status.code, DpErrorCode.ROUTE_EXISTS);
});

test('GetVersion reports our version as service protocol and version', async (t) => {
  const c = await setup(t);
  const r = await c.ok('GetVersion', { client_protocol: 'proto', client_name: 'test', client_version: '1' });
  t.deepEqual(r.status, { code: 0, message: 'Success' });
  t.is(r.service_protocol, VERSION);
  t.is(r.service_version, VERSION);
});

const versionCases: Array<[object, string]> = [
  [{ client_protocol: '', client_name: 'n', client_version: 'v' }, 'Invalid client_protocol'],
  [{ client_protocol: 'p', client_name: '', client_version: 'v' }, 'Invalid client_name'],
  [{ client_protocol: 'p', client_name: 'n', client_version: 'x'.repeat(64) }, 'Invalid client_version'],
];
for (const [req, message] of versionCases) {
  test(`GetVersion refuses client fields that are empty or too long: ${message}`, async (t) => {
    const c = await setup(t);
    const out = await c.call('GetVersion', req);
    t.is(out.grpc, grpc.status.INVALID_ARGUMENT);
    t.is(out.details, message);
  });
}

// ---- interfaces ----------------------------------------------------------------------------------

test('an interface is created, read back, refused twice, deleted and re-created (upstream test_grpc_interface)', async (t) => {
  const c = await setup(t);
  const created = await addVm(c, VM1);
  t.deepEqual(created.status, { code: 0, message: 'Success' });
  t.is(created.vf?.name, VM1.dev);
  const ul = str(created.underlay_route);

  const got = await c.ok('GetInterface', idReq(VM1.id));
  t.deepEqual(got.status, { code: 0, message: 'Success' });
  const i = got.interface!;
  t.is(str(i.id), VM1.id);
  t.is(i.vni, VM1.vni);
  t.is(str(i.primary_ipv4), VM1.ip);
  t.is(str(i.primary_ipv6), VM1.ipv6);
  t.is(str(i.underlay_route), ul);
  t.is(i.pci_name, VM1.dev);
  t.deepEqual(i.meteringParams, { total_rate: '0', public_rate: '0' });

  const cfg = c.dp.attached.get(2)!;
  t.is(cfg.vni, VM1.vni);
  t.is(cfg.ipv4, 0xac200a05);
  t.is(Buffer.from(cfg.ipv6).toString('hex'), '20010000000000000000000000000010');
  t.is(Buffer.from(cfg.underlay).toString('hex'), Buffer.from(parseIpv6(ul)!).toString('hex'));

  t.deepEqual((await addVm(c, VM1)).status, { code: 202, message: 'ALREADY_EXISTS' });
  t.is((await c.ok('DeleteInterface', idReq(VM1.id))).status.code, 0);
  t.deepEqual(c.dp.detached, [2]);
  t.deepEqual((await c.ok('GetInterface', idReq(VM1.id))).status, { code: 201, message: 'NOT_FOUND' });
  t.is((await c.ok('GetInterface', idReq(VM1.id))).interface, null);
  t.deepEqual((await c.ok('DeleteInterface', idReq(VM1.id))).status, { code: 201, message: 'NOT_FOUND' });
  t.is((await addVm(c, VM1)).status.code, 0);
  t.is((await c.ok('DeleteInterface', idReq(VM1.id))).status.code, 0);
});

test('interfaces are listed in port order and disappear from the list when deleted', async (t) => {
  const c = await setup(t);
  t.deepEqual((await c.ok('ListInterfaces')).interfaces, []);
  await addVm(c, VM4);
  await addVm(c, VM1);
  const list = await c.ok('ListInterfaces');
  t.deepEqual(list.status, { code: 0, message: 'Success' });
  t.deepEqual(list.interfaces!.map((i) => str(i.id)), ['vm1', 'vm4']);
  t.deepEqual(list.interfaces![1], (await c.ok('GetInterface', idReq('vm4'))).interface);
  await c.ok('DeleteInterface', idReq('vm1'));
  t.deepEqual((await c.ok('ListInterfaces')).interfaces!.map((i) => str(i.id)), ['vm4']);
});

test('interface errors follow upstream test_grpc_interface_errors', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  t.deepEqual((await c.ok('CreateInterface', ifaceReq(VM4.id, 'invalid', VM4.vni, VM4.ip, VM4.ipv6))).status, {
    code: 201,
    message: 'NOT_FOUND',
  });
  const zero = await c.call('CreateInterface', ifaceReq(VM4.id, VM4.dev, VM4.vni, '0.0.0.0', '::'));
  t.is(zero.grpc, grpc.status.INVALID_ARGUMENT);
  t.is(zero.details, 'Invalid ipv4_config.primary_address and ipv6_config.primary_address combination');
  // an address already routed in the VNI
  t.is((await c.ok('CreateInterface', ifaceReq(VM4.id, VM4.dev, VM4.vni, '1.2.3.4', VM1.ipv6))).status.code, 301);
  t.is((await c.ok('CreateInterface', ifaceReq(VM4.id, VM4.dev, VM4.vni, VM1.ip, '1234::'))).status.code, 301);
  // and everything was rolled back: the same id, port and addresses work now
  t.is((await c.ok('CreateInterface', ifaceReq(VM4.id, VM4.dev, VM4.vni, '1.2.3.4', '1234::'))).status.code, 0);
  await c.ok('DeleteInterface', idReq(VM4.id));
  // the same addresses in another VNI are fine
  t.is((await c.ok('CreateInterface', ifaceReq(VM4.id, VM4.dev, VM1.vni + 1, VM1.ip, VM1.ipv6))).status.code, 0);
  await c.ok('DeleteInterface', idReq(VM4.id));
  t.is(c.dp.attached.size, 1);
});

test('an interface id already in use on another port is VM_HANDLE', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  const r = await c.ok('CreateInterface', ifaceReq(VM1.id, 'net_tap3', 7, '10.0.0.1', '::'));
  t.deepEqual(r.status, { code: 402, message: 'VM_HANDLE' });
  t.false(c.dp.attached.has(3));
});

test('an IPv4-only and an IPv6-only interface report the disabled family as 0.0.0.0 / ::', async (t) => {
  const c = await setup(t);
  await c.ok('CreateInterface', ifaceReq('v4only', 'net_tap2', 1, '10.0.0.1', '::'));
  await c.ok('CreateInterface', ifaceReq('v6only', 'net_tap3', 1, '0.0.0.0', 'fd00::1'));
  const v4 = (await c.ok('GetInterface', idReq('v4only'))).interface!;
  const v6 = (await c.ok('GetInterface', idReq('v6only'))).interface!;
  t.is(str(v4.primary_ipv6), '::');
  t.is(str(v6.primary_ipv4), '0.0.0.0');
  t.is(c.dp.attached.get(3)!.ipv4, 0);
});

const idCases: Array<[string, boolean]> = [
  ['vm_1-A', true],
  ['x'.repeat(63), true],
  ['x'.repeat(64), false],
  ['', false],
  ['a b', false],
  ['vm.1', false],
  ['vm/1', false],
  ['vm\u00e9', false],
];
for (const [id, ok] of idCases) {
  test(`interface id ${JSON.stringify(id.length > 20 ? `${id.length} chars` : id)} is ${ok ? 'accepted' : 'refused as invalid'}`, async (t) => {
    const c = await setup(t);
    const out = await c.call('CreateInterface', { ...ifaceReq('x', 'net_tap2', 1, '10.0.0.1', '::'), interface_id: Buffer.from(id, 'utf8') });
    if (ok) {
      t.is(out.grpc, 0);
      t.is(out.res.status.code, 0);
    } else {
      t.is(out.grpc, grpc.status.INVALID_ARGUMENT);
      t.is(out.details, 'Invalid interface_id');
    }
  });
}

test('Get and Delete refuse an empty or over-long interface id as invalid', async (t) => {
  const c = await setup(t);
  for (const rpc of ['GetInterface', 'DeleteInterface']) {
    for (const id of ['', 'x'.repeat(64)]) {
      const out = await c.call(rpc, idReq(id));
      t.is(out.grpc, grpc.status.INVALID_ARGUMENT, rpc);
      t.is(out.details, 'Invalid interface_id');
    }
  }
});

const invalidCreates: Array<[string, object, string]> = [
  ['unparsable IPv4', ifaceReq('vm', 'net_tap2', 1, '10.0.0', '::'), 'Invalid ipv4_config.primary_address'],
  ['missing IPv4', { ...ifaceReq('vm', 'net_tap2', 1, '', '::1'), ipv4_config: null }, 'Invalid ipv4_config.primary_address'],
  ['missing IPv6', ifaceReq('vm', 'net_tap2', 1, '10.0.0.1', ''), 'Invalid ipv6_config.primary_address'],
  ['empty device name', ifaceReq('vm', '', 1, '10.0.0.1', '::'), 'Invalid device_name'],
  ['over-long device name', ifaceReq('vm', 'd'.repeat(64), 1, '10.0.0.1', '::'), 'Invalid device_name'],
  ['over-long hostname', ifaceReq('vm', 'net_tap2', 1, '10.0.0.1', '::', { hostname: 'h'.repeat(64) }), 'Invalid hostname'],
  ['IPv6 PXE server for an IPv4-only interface', ifaceReq('vm', 'net_tap2', 1, '10.0.0.1', '::', { pxeServer: 'fd00::1', bootFile: 'f' }), 'Invalid pxe_config.next_server'],
  ['IPv4 PXE server for an interface with IPv6', ifaceReq('vm', 'net_tap2', 1, '10.0.0.1', 'fd00::2', { pxeServer: '10.0.0.9', bootFile: 'f' }), 'Invalid pxe_config.next_server'],
  ['PXE server without boot file', ifaceReq('vm', 'net_tap2', 1, '10.0.0.1', '::', { pxeServer: '10.0.0.9' }), 'Invalid pxe_config.boot_filename'],
  ['over-long boot file', ifaceReq('vm', 'net_tap2', 1, '10.0.0.1', '::', { pxeServer: '10.0.0.9', bootFile: 'b'.repeat(32) }), 'Invalid pxe_config.boot_filename'],
  ['garbage preferred underlay', ifaceReq('vm', 'net_tap2', 1, '10.0.0.1', '::', { preferred: 'nope' }), 'Invalid preferred_underlay_route'],
  ['preferred underlay outside the host /64', ifaceReq('vm', 'net_tap2', 1, '10.0.0.1', '::', { preferred: 'fc00:2::8000:0:1' }), 'Invalid preferred_underlay_route'],
  ['preferred underlay without the external flag', ifaceReq('vm', 'net_tap2', 1, '10.0.0.1', '::', { preferred: 'fc00:1::d000:0:0:1' }), 'Invalid preferred_underlay_route'],
];
for (const [what, req, message] of invalidCreates) {
  test(`CreateInterface with ${what} is INVALID_ARGUMENT "${message}"`, async (t) => {
    const c = await setup(t);
    const out = await c.call('CreateInterface', req);
    t.is(out.grpc, grpc.status.INVALID_ARGUMENT);
    t.is(out.details, message);
    t.is(c.dp.attached.size, 0);
  });
}

test('hostname and PXE settings reach the dataplane and the hostname is reported', async (t) => {
  const c = await setup(t);
  await c.ok('CreateInterface', ifaceReq('pxe', 'net_tap2', 5, '10.0.0.1', '::', { hostname: 'vm-a', pxeServer: '192.168.129.1', bootFile: '/ipxe/boot.ipxe' }));
  const cfg = c.dp.attached.get(2)!;
  t.is(cfg.hostname, 'vm-a');
  t.is(cfg.pxeServer, '192.168.129.1');
  t.is(cfg.bootFile, '/ipxe/boot.ipxe');
  t.is((await c.ok('GetInterface', idReq('pxe'))).interface!.hostname, 'vm-a');
});

test('VNIs are taken as given, including 0 and values beyond 24 bits (upstream does not range-check interfaces)', async (t) => {
  const c = await setup(t);
  for (const [i, vni] of [0, 0xffffff, 0x1000000, 0xffffffff].entries()) {
    const r = await c.ok('CreateInterface', ifaceReq(`vni${i}`, `net_tap${i + 2}`, vni, '10.0.0.1', '::'));
    t.is(r.status.code, 0);
    t.is((await c.ok('GetInterface', idReq(`vni${i}`))).interface!.vni, vni);
  }
});

test('generated underlay addresses lie in the host /64 with type byte 0xd0 and differ per interface', async (t) => {
  const c = await setup(t);
  const a = parseIpv6(str((await addVm(c, VM1)).underlay_route))!;
  const b = parseIpv6(str((await addVm(c, VM4)).underlay_route))!;
  const host = parseIpv6(HOST_IPV6)!;
  for (const ul of [a, b]) {
    t.deepEqual([...ul.subarray(0, 8)], [...host.subarray(0, 8)]);
    t.is(ul[8], 0xd0);
    t.is(ul[10], 0);
  }
  t.notDeepEqual([...a], [...b]);
});

test('a valid preferred underlay is used as is, a taken one is VNF_INSERT, and it is freed on delete', async (t) => {
  const c = await setup(t);
  const preferred = 'fc00:1::8000:0:1';
  t.is(str((await addVm(c, VM4, { preferred })).underlay_route), preferred);
  t.is(str((await c.ok('GetInterface', idReq(VM4.id))).interface!.underlay_route), preferred);
  t.deepEqual((await addVm(c, VM1, { preferred })).status, { code: 401, message: 'VNF_INSERT' });
  t.false(c.dp.attached.has(2), 'the failed interface was not activated');
  await c.ok('DeleteInterface', idReq(VM4.id));
  t.is(str((await addVm(c, VM1, { preferred })).underlay_route), preferred);
});

test('metering rates are stored and reported; a public rate above the total is PORT_METER', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1, { totalRate: '1000', publicRate: '200' });
  t.deepEqual((await c.ok('GetInterface', idReq(VM1.id))).interface!.meteringParams, { total_rate: '1000', public_rate: '200' });
  t.deepEqual((await addVm(c, VM4, { totalRate: '100', publicRate: '200' })).status, { code: 383, message: 'PORT_METER' });
  t.deepEqual((await addVm(c, VM4, { totalRate: '4294967296' })).status, { code: 383, message: 'PORT_METER' });
  t.is((await addVm(c, VM4, { totalRate: '4294967295', publicRate: '4294967295' })).status.code, 0);
});

test('without NIC metering support rates are accepted and reported as 0, as upstream on non-Mellanox NICs', async (t) => {
  const c = await setup(t, { registry: { meteringSupported: false } });
  t.is((await addVm(c, VM1, { totalRate: '100', publicRate: '200' })).status.code, 0);
  t.deepEqual((await c.ok('GetInterface', idReq(VM1.id))).interface!.meteringParams, { total_rate: '0', public_rate: '0' });
});

test('a dataplane failure to start the port is PORT_START and leaves nothing behind', async (t) => {
  const c = await setup(t);
  c.dp.failAttach = true;
  t.deepEqual((await addVm(c, VM1)).status, { code: 381, message: 'PORT_START' });
  c.dp.failAttach = false;
  t.deepEqual((await c.ok('ListInterfaces')).interfaces, []);
  t.is((await c.ok('ListRoutes', { vni: VM1.vni })).status.code, DpErrorCode.NO_VNI);
  t.is((await addVm(c, VM1)).status.code, 0);
});

test('a dataplane failure to stop the port is PORT_STOP but the interface is gone', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  c.dp.failDetach = true;
  t.deepEqual((await c.ok('DeleteInterface', idReq(VM1.id))).status, { code: 382, message: 'PORT_STOP' });
  t.is((await c.ok('GetInterface', idReq(VM1.id))).status.code, 201);
});

test('concurrent creates on one port are processed one at a time: one wins, the other is ALREADY_EXISTS', async (t) => {
  const c = await setup(t);
  const rs = await Promise.all(
    ['a', 'b', 'c'].map((id, i) => c.ok('CreateInterface', ifaceReq(id, 'net_tap2', 1, `10.0.0.${i + 1}`, '::'))),
  );
  t.deepEqual(rs.map((r) => r.status.code).sort(), [0, 202, 202]);
});

// ---- routes --------------------------------------------------------------------------------------

test('routes are created, refused twice (also via another address in the prefix) and deleted (upstream test_grpc_route)', async (t) => {
  const c = await setup(t);
  await c.ok('CreateInterface', ifaceReq(VM4.id, VM4.dev, 999, VM4.ip, VM4.ipv6));
  const nh = 'fc00:2::1';
  const code = async (rpc: string, prefix: string): Promise<number> => (await c.ok(rpc, routeReq(999, prefix, 100, nh))).status.code;
  t.is(await code('CreateRoute', '1.2.3.4/24'), 0);
  t.is(await code('CreateRoute', '1.2.3.4/24'), 301);
  t.is(await code('CreateRoute', '1.2.3.255/24'), 301);
  t.is(await code('CreateRoute', '1.2.3.4/25'), 0);
  t.is(await code('DeleteRoute', '1.2.3.4/25'), 0);
  t.is(await code('DeleteRoute', '1.2.3.4/24'), 0);
  t.deepEqual((await c.ok('DeleteRoute', routeReq(999, '1.2.3.4/24'))).status, { code: 302, message: 'ROUTE_NOT_FOUND' });
  t.is(await code('CreateRoute', '1.2.3.4/24'), 0);
  t.is(await code('DeleteRoute', '1.2.3.4/24'), 0);
  t.is(await code('CreateRoute', '2001:db8::/32'), 0);
  t.is(await code('CreateRoute', '2001:db8:0:0::5/32'), 301);
  t.is(await code('DeleteRoute', '2001:db8::/32'), 0);
});

test('routes are listed IPv4 only as upstream does, default route first, more specific before covering', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  for (const p of ['10.0.0.0/8', '10.1.0.0/16', '0.0.0.0/0', '192.168.0.0/24', '9.0.0.0/8', '::/0', '2001:db8::/32']) {
    t.is((await c.ok('CreateRoute', routeReq(VM1.vni, p, 7, 'fc00:2::1'))).status.code, 0, p);
  }
  const list = await c.ok('ListRoutes', { vni: VM1.vni });
  t.deepEqual(list.status, { code: 0, message: 'Success' });
  const shown = list.routes!.map((r) => `${str(r.prefix!.ip.address)}/${r.prefix!.length}`);
  t.deepEqual(shown, ['0.0.0.0/0', '9.0.0.0/8', '10.1.0.0/16', '10.0.0.0/8', '192.168.0.0/24']);
  const r = list.routes![1]!;
  t.is(r.prefix!.ip.ipver, 0);
  t.is(r.nexthop_vni, 7);
  t.deepEqual({ ipver: r.nexthop_address!.ipver, address: str(r.nexthop_address!.address) }, { ipver: 1, address: 'fc00:2::1' });
  t.is(c.srv.registry.listRoutes(VM1.vni, 'ipv6').length, 2, 'IPv6 routes exist, they are just not listed over gRPC');
});

test('a deleted route leaves the rest of the list in order; re-adding restores it (upstream test_grpc_route_list)', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  for (const p of ['0.0.0.0/0', '10.0.0.0/24', '10.0.1.0/24']) await c.ok('CreateRoute', routeReq(VM1.vni, p, VM1.vni, 'fc00:2::1'));
  const old = (await c.ok('ListRoutes', { vni: VM1.vni })).routes!;
  await c.ok('DeleteRoute', routeReq(VM1.vni, '0.0.0.0/0'));
  t.deepEqual([old[0], ...(await c.ok('ListRoutes', { vni: VM1.vni })).routes!], old);
  await c.ok('CreateRoute', routeReq(VM1.vni, '0.0.0.0/0', VM1.vni, 'fc00:2::1'));
  t.deepEqual((await c.ok('ListRoutes', { vni: VM1.vni })).routes, old);
});

test('ListRoutes for VNI 0 lists the routes of every VNI in use', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  await c.ok('CreateInterface', ifaceReq('other', 'net_tap3', 200, '10.9.9.9', '::'));
  await c.ok('CreateRoute', routeReq(VM1.vni, '1.0.0.0/8'));
  await c.ok('CreateRoute', routeReq(200, '2.0.0.0/8'));
  const all = await c.ok('ListRoutes', { vni: 0 });
  t.deepEqual(all.routes!.map((r) => str(r.prefix!.ip.address)).sort(), ['1.0.0.0', '2.0.0.0']);
});

test('route errors follow upstream test_grpc_route_errors', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  t.deepEqual((await c.ok('CreateRoute', routeReq(12345, '0.0.0.0/0', 0, '1234::'))).status, { code: 206, message: 'NO_VNI' });
  const list = await c.ok('ListRoutes', { vni: 12345 });
  t.deepEqual(list.status, { code: 206, message: 'NO_VNI' });
  t.deepEqual(list.routes, []);
  t.deepEqual((await c.ok('DeleteRoute', routeReq(12345, '0.0.0.0/0'))).status, { code: 206, message: 'NO_VNI' });
  t.deepEqual((await c.ok('CreateRoute', routeReq(VM1.vni, '4.5.6.7/32', 0, '1.2.3.4'))).status, { code: 204, message: 'BAD_IPVER' });
  // the next-hop family is checked before the VNI, as upstream does
  t.is((await c.ok('CreateRoute', routeReq(12345, '4.5.6.7/32', 0, '1.2.3.4'))).status.code, 204);
});

test('prefix lengths beyond the family maximum are ROUTE_INSERT on create and ROUTE_NOT_FOUND on delete', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  t.deepEqual((await c.ok('CreateRoute', routeReq(VM1.vni, '1.2.3.4/33'))).status, { code: 303, message: 'ROUTE_INSERT' });
  t.is((await c.ok('CreateRoute', routeReq(VM1.vni, '2001:db8::/129'))).status.code, 303);
  t.is((await c.ok('DeleteRoute', routeReq(VM1.vni, '1.2.3.4/33'))).status.code, 302);
});

test("deleting an interface's own address route is ROUTE_BAD_PORT", async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  t.deepEqual((await c.ok('DeleteRoute', routeReq(VM1.vni, `${VM1.ip}/32`))).status, { code: 304, message: 'ROUTE_BAD_PORT' });
  t.is((await c.ok('DeleteRoute', routeReq(VM1.vni, `${VM1.ipv6}/128`))).status.code, 304);
  t.is((await c.ok('CreateRoute', routeReq(VM1.vni, `${VM1.ip}/32`))).status.code, 301);
});

test('deleting the last interface of a VNI drops the VNI with its routes', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  await addVm(c, VM4);
  await c.ok('CreateRoute', routeReq(VM1.vni, '10.0.0.0/8'));
  await c.ok('DeleteInterface', idReq(VM1.id));
  t.is((await c.ok('ListRoutes', { vni: VM1.vni })).routes!.length, 1, 'VM4 still uses the VNI');
  await c.ok('DeleteInterface', idReq(VM4.id));
  t.is((await c.ok('ListRoutes', { vni: VM1.vni })).status.code, 206);
  await addVm(c, VM1);
  t.deepEqual((await c.ok('ListRoutes', { vni: VM1.vni })).routes, []);
});

const invalidRoutes: Array<[string, string, object, string]> = [
  ['CreateRoute', 'a missing route', { vni: 1 }, 'Invalid route.prefix.ip'],
  ['CreateRoute', 'an unparsable prefix', { vni: 1, route: { prefix: { ip: ip4('1.2.3'), length: 8 }, nexthop_address: ip6('::1') } }, 'Invalid route.prefix.ip'],
  ['CreateRoute', 'a prefix of the wrong family', { vni: 1, route: { prefix: { ip: ip6('1.2.3.4'), length: 8 }, nexthop_address: ip6('::1') } }, 'Invalid route.prefix.ip'],
  ['CreateRoute', 'an unknown ipver', { vni: 1, route: { prefix: { ip: { ipver: 7, address: text('1.2.3.4') }, length: 8 }, nexthop_address: ip6('::1') } }, 'Invalid route.prefix.ip'],
  ['CreateRoute', 'a missing next hop', { vni: 1, route: { prefix: { ip: ip4('1.2.3.4'), length: 8 } } }, 'Invalid route.nexthop_address'],
  ['CreateRoute', 'a length that does not fit a byte', { vni: 1, route: { prefix: { ip: ip4('1.2.3.4'), length: 256 }, nexthop_address: ip6('::1') } }, 'Invalid route.prefix.length'],
  ['DeleteRoute', 'a length that does not fit a byte', { vni: 1, route: { prefix: { ip: ip4('1.2.3.4'), length: 300 } } }, 'Invalid route.prefix.length'],
  ['DeleteRoute', 'an unparsable prefix', { vni: 1, route: { prefix: { ip: ip4('x'), length: 8 } } }, 'Invalid route.prefix.ip'],
];
for (const [rpc, what, req, message] of invalidRoutes) {
  test(`${rpc} with ${what} is INVALID_ARGUMENT "${message}"`, async (t) => {
    const c = await setup(t);
    const out = await c.call(rpc, req);
    t.is(out.grpc, grpc.status.INVALID_ARGUMENT);
    t.is(out.details, message);
  });
}

// ---- shared object helpers ---------------------------------------------------------------------

const VM2 = { id: 'vm2', dev: 'net_tap3', vni: 100, ip: '172.32.10.6', ipv6: '2001::20' };
const VM3 = { id: 'vm3', dev: 'net_tap4', vni: 200, ip: '172.32.20.7', ipv6: '2001::30' };
/** Upstream's pytest addresses (config.py), where a test reproduces one of its listings. */
const UP_VM1 = { id: 'vm1', dev: 'net_tap2', vni: 100, ip: '10.100.1.1', ipv6: '2000:100:1::1' };
const UP_VM2 = { id: 'vm2', dev: 'net_tap3', vni: 100, ip: '10.100.1.2', ipv6: '2000:100:1::2' };
const NEIGH_UL = 'fc00:2::64:0:1';
/** An address upstream accepts as preferred underlay: host /64 and flag 0x80 in byte 10. */
const PREFERRED_UL = 'fc00:1::c000:0:2';

const ipStr = (m: IpMsg | null | undefined): string => (m ? `${m.ipver === 1 ? '6' : '4'}:${str(m.address)}` : '<none>');
const st = (r: Resp): number => r.status.code;

function prefixReq(id: string, prefix: string, preferred = ''): object {
  const [addr, len] = prefix.split('/');
  return { interface_id: text(id), prefix: { ip: ipOf(addr!), length: Number(len) }, preferred_underlay_route: text(preferred) };
}
const prefixText = (p: PrefixMsg): string => `${str(p.ip!.address)}/${p.length}`;

function natReq(id: string, natIp: string, min: number, max: number, preferred = ''): object {
  return { interface_id: text(id), nat_ip: ipOf(natIp), min_port: min, max_port: max, preferred_underlay_route: text(preferred) };
}
function neighReq(natIp: string, vni: number, min: number, max: number, ul = NEIGH_UL): object {
  return { nat_ip: ipOf(natIp), vni, min_port: min, max_port: max, underlay_route: text(ul) };
}
const TCP = 6;
const UDP = 17;
function lbReq(id: string, vni: number, ip: string, ports: Array<[number, number]>, preferred = ''): object {
  return {
    loadbalancer_id: text(id),
    vni,
    loadbalanced_ip: ipOf(ip),
    loadbalanced_ports: ports.map(([protocol, port]) => ({ protocol, port })),
    preferred_underlay_route: text(preferred),
  };
}
const lbIdReq = (id: string): object => ({ loadbalancer_id: text(id) });
const targetReq = (id: string, ip: string): object => ({ loadbalancer_id: text(id), target_ip: ipOf(ip) });

interface FwOpts {
  src?: string;
  dst?: string;
  direction?: number;
  action?: number;
  priority?: number;
  filter?: object;
}
const ACCEPT = 1;
const DROP = 0;
const ANY_PORTS = { src_port_lower: -1, src_port_upper: -1, dst_port_lower: -1, dst_port_upper: -1 };
function fwRule(id: string, o: FwOpts = {}): object {
  const pfx = (p: string): object => {
    const [addr, len] = p.split('/');
    return { ip: ipOf(addr!), length: Number(len) };
  };
  return {
    id: text(id),
    direction: o.direction ?? 0,
    action: o.action ?? ACCEPT,
    priority: o.priority ?? 1000,
    source_prefix: pfx(o.src ?? '0.0.0.0/0'),
    destination_prefix: pfx(o.dst ?? '0.0.0.0/0'),
    protocol_filter: o.filter ?? { tcp: ANY_PORTS },
  };
}
const fwReq = (iface: string, id: string, o: FwOpts = {}): object => ({ interface_id: text(iface), rule: fwRule(id, o) });
const fwIdReq = (iface: string, id: string): object => ({ interface_id: text(iface), rule_id: text(id) });

async function addVms(c: Ctx, ...vms: Array<typeof VM1>): Promise<string[]> {
  const uls: string[] = [];
  for (const vm of vms) uls.push(str((await addVm(c, vm)).underlay_route));
  return uls;
}

/** Runs a table of requests expected to be INVALID_ARGUMENT with upstream's message. */
function invalidTable(area: string, cases: Array<[string, string, object, string]>): void {
  for (const [rpc, what, req, message] of cases) {
    test(`${area}: ${rpc} with ${what} is INVALID_ARGUMENT "${message}"`, async (t) => {
      const c = await setup(t);
      await addVm(c, VM1);
      const out = await c.call(rpc, req);
      t.is(out.grpc, grpc.status.INVALID_ARGUMENT);
      t.is(out.details, message);
    });
  }
}

// ---- prefixes ------------------------------------------------------------------------------------

for (const [family, prefix, other] of [
  ['IPv4', '1.2.3.0/24', '1.2.4.0/24'],
  ['IPv6', '1234::/64', '1234:1::/64'],
] as const) {
  test(`an ${family} prefix is created, refused twice (ROUTE_EXISTS), deleted, refused (ROUTE_NOT_FOUND) and re-created (upstream grpc_test_prefix)`, async (t) => {
    const c = await setup(t);
    await addVm(c, VM1);
    const created = await c.ok('CreatePrefix', prefixReq(VM1.id, prefix));
    t.deepEqual(created.status, { code: 0, message: 'Success' });
    const ul = parseIpv6(str(created.underlay_route))!;
    t.is(ul[8], 0xd0, 'a generated underlay address');
    t.deepEqual((await c.ok('CreatePrefix', prefixReq(VM1.id, prefix))).status, { code: 301, message: 'ROUTE_EXISTS' });
    t.is(st(await c.ok('DeletePrefix', prefixReq(VM1.id, prefix))), 0);
    t.deepEqual((await c.ok('DeletePrefix', prefixReq(VM1.id, prefix))).status, { code: 302, message: 'ROUTE_NOT_FOUND' });
    t.is(st(await c.ok('CreatePrefix', prefixReq(VM1.id, prefix))), 0);
    t.is(st(await c.ok('DeletePrefix', prefixReq(VM1.id, prefix))), 0);
    t.is(st(await c.ok('CreatePrefix', prefixReq(VM1.id, other))), 0);
  });

  test(`${family} prefixes are listed in creation order with their underlay addresses (upstream grpc_test_prefix_list)`, async (t) => {
    const c = await setup(t);
    await addVm(c, VM1);
    const ul1 = str((await c.ok('CreatePrefix', prefixReq(VM1.id, prefix))).underlay_route);
    const ul2 = str((await c.ok('CreatePrefix', prefixReq(VM1.id, other))).underlay_route);
    const list = await c.ok('ListPrefixes', idReq(VM1.id));
    t.deepEqual(list.status, { code: 0, message: 'Success' });
    t.deepEqual(list.prefixes!.map((p) => [prefixText(p), str(p.underlay_route), p.ip!.ipver]), [
      [prefix, ul1, family === 'IPv4' ? 0 : 1],
      [other, ul2, family === 'IPv4' ? 0 : 1],
    ]);
    await c.ok('DeletePrefix', prefixReq(VM1.id, prefix));
    t.deepEqual((await c.ok('ListPrefixes', idReq(VM1.id))).prefixes!.map(prefixText), [other]);
    await c.ok('DeletePrefix', prefixReq(VM1.id, other));
    t.deepEqual((await c.ok('ListPrefixes', idReq(VM1.id))).prefixes, []);
  });
}

test('prefix calls for an unknown interface are NO_VM (upstream test_grpc_prefix_errors)', async (t) => {
  const c = await setup(t);
  t.deepEqual((await c.ok('CreatePrefix', prefixReq('invalid_name', '1.2.3.4/24'))).status, { code: 205, message: 'NO_VM' });
  const list = await c.ok('ListPrefixes', idReq('invalid_name'));
  t.is(st(list), 205);
  t.deepEqual(list.prefixes, []);
  t.is(st(await c.ok('DeletePrefix', prefixReq('invalid_name', '1.2.3.4/24'))), 205);
});

test('a prefix is a route of the interface: CreateRoute over it is ROUTE_EXISTS, DeleteRoute ROUTE_BAD_PORT, ListRoutes omits it', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  await c.ok('CreatePrefix', prefixReq(VM1.id, '10.9.0.0/16'));
  t.is(st(await c.ok('CreateRoute', routeReq(VM1.vni, '10.9.0.0/16'))), 301);
  t.is(st(await c.ok('DeleteRoute', routeReq(VM1.vni, '10.9.0.0/16'))), 304);
  t.deepEqual((await c.ok('ListRoutes', { vni: VM1.vni })).routes, []);
  const own = c.srv.registry.allRoutes(VM1.vni).find((r) => r.length === 16)!;
  t.is(own.port, 2, 'the route leads to the VM port');
  // and an existing external route blocks the prefix
  await c.ok('CreateRoute', routeReq(VM1.vni, '10.8.0.0/16'));
  t.is(st(await c.ok('CreatePrefix', prefixReq(VM1.id, '10.8.0.0/16'))), 301);
  t.is(st(await c.ok('CreatePrefix', prefixReq(VM1.id, `${VM1.ip}/32`))), 301, "the interface's own address");
});

test('a prefix longer than its family allows is ROUTE_INSERT, and a length above 255 is INVALID_ARGUMENT', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  t.deepEqual((await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.3.0/33'))).status, { code: 303, message: 'ROUTE_INSERT' });
  t.is(st(await c.ok('CreatePrefix', prefixReq(VM1.id, '1234::/129'))), 303);
  t.deepEqual((await c.ok('ListPrefixes', idReq(VM1.id))).prefixes, []);
  const out = await c.call('CreatePrefix', prefixReq(VM1.id, '1.2.3.0/256'));
  t.is(out.details, 'Invalid prefix.length');
});

test('a full underlay address table is VNF_INSERT for every kind of object, refused ones leave nothing, a delete makes room', async (t) => {
  const c = await setup(t);
  c.dp.tableLimits = { vnfs: 3, routes: 8192, routesPerVni: 1024 };
  await addVms(c, VM1, VM2);
  t.is(st(await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.3.0/24'))), 0, 'the third address');
  const full = { code: 401, message: 'VNF_INSERT' };
  t.deepEqual((await c.ok('CreateInterface', ifaceReq(VM3.id, VM3.dev, VM3.vni, VM3.ip, VM3.ipv6))).status, full);
  t.deepEqual((await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.4.0/24'))).status, full);
  t.deepEqual((await c.ok('CreateLoadBalancerPrefix', prefixReq(VM1.id, '1.2.5.0/24'))).status, full);
  t.deepEqual((await c.ok('CreateVip', { interface_id: text(VM1.id), vip_ip: ipOf('45.86.6.6') })).status, full);
  t.deepEqual((await c.ok('CreateNat', natReq(VM1.id, '45.86.6.7', 0, 1024))).status, full);
  t.deepEqual((await c.ok('CreateLoadBalancer', lbReq('lb1', 100, '10.9.9.9', [[TCP, 80]]))).status, full);
  // nothing of the refused objects is left: no interface, route, prefix, VIP, NAT or LB
  t.is((await c.ok('ListInterfaces')).interfaces!.length, 2);
  t.is(st(await c.ok('GetInterface', idReq(VM3.id))), 201);
  t.deepEqual((await c.ok('ListPrefixes', idReq(VM1.id))).prefixes!.map(prefixText), ['1.2.3.0/24']);
  t.is((await c.ok('ListLoadBalancerPrefixes', idReq(VM1.id))).prefixes!.length, 0);
  t.is(st(await c.ok('GetVip', idReq(VM1.id))), 341);
  t.is(st(await c.ok('GetNat', idReq(VM1.id))), 341);
  t.is((await c.ok('ListLoadBalancers')).loadbalancers!.length, 0);
  t.is(c.srv.registry.vnf.size, 3);
  t.true(c.logLines.some((l) => l.msg === 'CreateVip failed' && String(l.err).includes('underlay address table full (3 addresses)')));
  await c.ok('DeletePrefix', prefixReq(VM1.id, '1.2.3.0/24'));
  t.is(st(await c.ok('CreateVip', { interface_id: text(VM1.id), vip_ip: ipOf('45.86.6.6') })), 0, 'room again after a delete');
});

test('a full route table is ROUTE_INSERT, per VNI and over all VNIs; refused interfaces and prefixes leave nothing', async (t) => {
  const c = await setup(t);
  // VM1 and VM2 (VNI 100) take 2 IPv4 routes, VM3 (VNI 200) one more
  c.dp.tableLimits = { vnfs: 1000, routes: 6, routesPerVni: 4 };
  await addVms(c, VM1, VM2);
  t.is(st(await c.ok('CreateRoute', routeReq(VM1.vni, '10.1.0.0/16'))), 0);
  t.is(st(await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.3.0/24'))), 0, 'the fourth route of VNI 100');
  const full = { code: 303, message: 'ROUTE_INSERT' };
  t.deepEqual((await c.ok('CreateRoute', routeReq(VM1.vni, '10.2.0.0/16'))).status, full);
  t.deepEqual((await c.ok('CreatePrefix', prefixReq(VM2.id, '1.2.4.0/24'))).status, full);
  t.deepEqual((await c.ok('CreateInterface', ifaceReq(VM4.id, VM4.dev, VM4.vni, VM4.ip, VM4.ipv6))).status, full);
  t.deepEqual((await c.ok('CreateRoute', routeReq(VM1.vni, '10.1.0.0/16'))).status, { code: 301, message: 'ROUTE_EXISTS' },
    'an existing route is still ROUTE_EXISTS');
  t.is(st(await c.ok('GetInterface', idReq(VM4.id))), 201);
  t.is((await c.ok('ListPrefixes', idReq(VM2.id))).prefixes!.length, 0);
  t.is(c.srv.registry.vnf.size, 3, 'no underlay address of the refused prefix and interface');
  // another VNI has room of its own until the tables of the family hold 6 routes
  await addVms(c, VM3);
  t.is(st(await c.ok('CreateRoute', routeReq(VM3.vni, '10.3.0.0/16'))), 0, 'the sixth IPv4 route');
  t.deepEqual((await c.ok('CreateRoute', routeReq(VM3.vni, '10.4.0.0/16'))).status, full, 'over all VNIs');
  t.is(st(await c.ok('CreateRoute', routeReq(VM3.vni, '2001:db8::/64'))), 0, 'IPv6 routes are counted apart');
  await c.ok('DeleteRoute', routeReq(VM1.vni, '10.1.0.0/16'));
  t.is(st(await c.ok('CreateRoute', routeReq(VM3.vni, '10.4.0.0/16'))), 0, 'room again after a delete');
  // and every refusal is counted for /metrics (dps_grpc_calls_total)
  const calls = (rpc: string): Record<string, number> =>
    Object.fromEntries(c.srv.callCounts().filter((x) => x.rpc === rpc).map((x) => [x.result, x.count]));
  t.deepEqual(calls('CreateRoute'), { Success: 4, ROUTE_INSERT: 2, ROUTE_EXISTS: 1 });
  t.deepEqual(calls('CreateInterface'), { Success: 3, ROUTE_INSERT: 1 });
  t.deepEqual(calls('CreatePrefix'), { Success: 1, ROUTE_INSERT: 1 });
});

test('calls are counted by RPC and result, gRPC-level failures by their gRPC code', async (t) => {
  const c = await setup(t, { init: false });
  await c.call('CreateInterface', ifaceReq(VM1.id, VM1.dev, VM1.vni, VM1.ip, VM1.ipv6));
  await c.ok('Initialize');
  await c.ok('CreateInterface', ifaceReq(VM1.id, VM1.dev, VM1.vni, VM1.ip, VM1.ipv6));
  await c.ok('CreateInterface', ifaceReq(VM1.id, VM1.dev, VM1.vni, VM1.ip, VM1.ipv6));
  await c.call('GetInterface', idReq(''));
  const got = c.srv.callCounts().map((x) => `${x.rpc} ${x.result} ${x.count}`).sort();
  t.deepEqual(got, [
    'CreateInterface ABORTED 1', 'CreateInterface ALREADY_EXISTS 1', 'CreateInterface Success 1', 'GetInterface INVALID_ARGUMENT 1',
    'Initialize Success 1',
  ]);
});

test('a prefix takes a valid preferred underlay; a taken one is VNF_INSERT and leaves no route behind', async (t) => {
  const c = await setup(t);
  const [vmUl] = await addVms(c, VM1);
  t.is(str((await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.3.0/24', PREFERRED_UL))).underlay_route), PREFERRED_UL);
  t.deepEqual((await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.4.0/24', PREFERRED_UL))).status, { code: 401, message: 'VNF_INSERT' });
  t.is(st(await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.4.0/24'))), 0, 'the failed attempt left no route');
  await c.ok('DeletePrefix', prefixReq(VM1.id, '1.2.3.0/24'));
  t.is(st(await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.5.0/24', PREFERRED_UL))), 0, 'the address was freed');
  t.is(c.srv.registry.vnf.get(parseIpv6(vmUl!)!)?.type, 1);
});

test('another address inside a prefix names the same prefix (prefixes are keyed masked)', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.3.4/24'));
  t.is(st(await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.3.9/24'))), 301);
  t.deepEqual((await c.ok('ListPrefixes', idReq(VM1.id))).prefixes!.map(prefixText), ['1.2.3.4/24'], 'reported as given');
  t.is(st(await c.ok('DeletePrefix', prefixReq(VM1.id, '1.2.3.200/24'))), 0);
  t.deepEqual((await c.ok('ListPrefixes', idReq(VM1.id))).prefixes, []);
});

test('Initialize and ResetVni drop prefix routes as upstream does; the prefix stays listed until deleted', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.3.0/24'));
  await c.ok('Initialize');
  t.is((await c.ok('ListPrefixes', idReq(VM1.id))).prefixes!.length, 1);
  t.is(st(await c.ok('DeletePrefix', prefixReq(VM1.id, '1.2.3.0/24'))), 302, 'the route is gone');
  t.deepEqual((await c.ok('ListPrefixes', idReq(VM1.id))).prefixes, [], 'but the record was removed');
  // re-created after a reset, the old record is replaced, not duplicated
  await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.3.0/24', PREFERRED_UL));
  await c.ok('ResetVni', { vni: VM1.vni, type: 2 });
  const again = await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.3.0/24'));
  t.is(st(again), 0);
  t.deepEqual((await c.ok('ListPrefixes', idReq(VM1.id))).prefixes!.map((p) => str(p.underlay_route)), [str(again.underlay_route)]);
  t.is(c.srv.registry.vnf.get(parseIpv6(PREFERRED_UL)!), undefined, 'the replaced record freed its address');
});

test('prefixes of every interface can be listed one interface at a time (the CLI merges them)', async (t) => {
  const c = await setup(t);
  await addVms(c, VM1, VM2);
  await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.3.4/32'));
  await c.ok('CreatePrefix', prefixReq(VM2.id, '1.2.3.5/32'));
  t.deepEqual((await c.ok('ListPrefixes', idReq(VM1.id))).prefixes!.map(prefixText), ['1.2.3.4/32']);
  t.deepEqual((await c.ok('ListPrefixes', idReq(VM2.id))).prefixes!.map(prefixText), ['1.2.3.5/32']);
  t.deepEqual(c.srv.registry.allPrefixes().map((p) => `${p.interfaceId}:${p.kind}`), ['vm1:alias', 'vm2:alias']);
});

invalidTable('prefixes', [
  ['CreatePrefix', 'an empty interface id', prefixReq('', '1.2.3.0/24'), 'Invalid interface_id'],
  ['CreatePrefix', 'a 64-character interface id', prefixReq('x'.repeat(64), '1.2.3.0/24'), 'Invalid interface_id'],
  ['CreatePrefix', 'a missing prefix', { interface_id: text('vm1') }, 'Invalid prefix.ip'],
  ['CreatePrefix', 'a prefix of the wrong family', { interface_id: text('vm1'), prefix: { ip: ip6('1.2.3.0'), length: 24 } }, 'Invalid prefix.ip'],
  ['CreatePrefix', 'a garbage preferred underlay', prefixReq('vm1', '1.2.3.0/24', 'x'), 'Invalid preferred_underlay_route'],
  ['CreatePrefix', 'a preferred underlay without the external flag', prefixReq('vm1', '1.2.3.0/24', 'fc00:1::d000:0:0:1'), 'Invalid preferred_underlay_route'],
  ['DeletePrefix', 'an empty interface id', prefixReq('', '1.2.3.0/24'), 'Invalid interface_id'],
  ['DeletePrefix', 'an unparsable prefix', prefixReq('vm1', '1.2.3/24'), 'Invalid prefix.ip'],
  ['DeletePrefix', 'a length above 255', prefixReq('vm1', '1.2.3.0/300'), 'Invalid prefix.length'],
  ['ListPrefixes', 'an empty interface id', idReq(''), 'Invalid interface_id'],
  ['CreateLoadBalancerPrefix', 'an empty interface id', prefixReq('', '1.2.3.0/24'), 'Invalid interface_id'],
  ['CreateLoadBalancerPrefix', 'an unparsable prefix', prefixReq('vm1', '1.2.3.0.0/24'), 'Invalid prefix.ip'],
  ['CreateLoadBalancerPrefix', 'a length above 255', prefixReq('vm1', '1.2.3.0/256'), 'Invalid prefix.length'],
  ['CreateLoadBalancerPrefix', 'a preferred underlay outside the host /64', prefixReq('vm1', '1.2.3.0/24', 'fc00:9::c000:0:2'), 'Invalid preferred_underlay_route'],
  ['DeleteLoadBalancerPrefix', 'a 64-character interface id', prefixReq('y'.repeat(64), '1.2.3.0/24'), 'Invalid interface_id'],
  ['DeleteLoadBalancerPrefix', 'a missing prefix', { interface_id: text('vm1') }, 'Invalid prefix.ip'],
  ['ListLoadBalancerPrefixes', 'an empty interface id', idReq(''), 'Invalid interface_id'],
]);

// ---- load-balancer target prefixes ---------------------------------------------------------------

for (const [family, prefix, other] of [
  ['IPv4', '1.2.3.0/24', '1.2.4.0/24'],
  ['IPv6', '1234::/64', '1234:1::/64'],
] as const) {
  test(`an ${family} LB prefix is created, refused twice (ALREADY_EXISTS), deleted, refused (NOT_FOUND) and re-created (upstream grpc_test_lbprefix)`, async (t) => {
    const c = await setup(t);
    await addVm(c, VM1);
    const ul = str((await c.ok('CreateLoadBalancerPrefix', prefixReq(VM1.id, prefix))).underlay_route);
    t.is(parseIpv6(ul)![8], 0xd0);
    t.deepEqual((await c.ok('CreateLoadBalancerPrefix', prefixReq(VM1.id, prefix))).status, { code: 202, message: 'ALREADY_EXISTS' });
    t.is(st(await c.ok('DeleteLoadBalancerPrefix', prefixReq(VM1.id, prefix))), 0);
    t.deepEqual((await c.ok('DeleteLoadBalancerPrefix', prefixReq(VM1.id, prefix))).status, { code: 201, message: 'NOT_FOUND' });
    t.is(st(await c.ok('CreateLoadBalancerPrefix', prefixReq(VM1.id, prefix))), 0);
    t.is(st(await c.ok('CreateLoadBalancerPrefix', prefixReq(VM1.id, other))), 0);
    const list = await c.ok('ListLoadBalancerPrefixes', idReq(VM1.id));
    t.deepEqual(list.prefixes!.map(prefixText), [prefix, other]);
    t.true(list.prefixes!.every((p) => parseIpv6(str(p.underlay_route)) !== undefined));
    await c.ok('DeleteLoadBalancerPrefix', prefixReq(VM1.id, prefix));
    t.deepEqual((await c.ok('ListLoadBalancerPrefixes', idReq(VM1.id))).prefixes!.map(prefixText), [other]);
  });
}

test('LB prefixes install no route and are separate from alias prefixes', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  await c.ok('CreateLoadBalancerPrefix', prefixReq(VM1.id, '1.2.3.0/24'));
  t.is(st(await c.ok('CreateRoute', routeReq(VM1.vni, '1.2.3.0/24'))), 0, 'no route was taken');
  t.is(st(await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.4.0/24'))), 0);
  t.deepEqual((await c.ok('ListPrefixes', idReq(VM1.id))).prefixes!.map(prefixText), ['1.2.4.0/24']);
  t.deepEqual((await c.ok('ListLoadBalancerPrefixes', idReq(VM1.id))).prefixes!.map(prefixText), ['1.2.3.0/24']);
});

test('LB prefix calls for an unknown interface are NO_VM (upstream test_grpc_lbprefix_errors)', async (t) => {
  const c = await setup(t);
  t.is(st(await c.ok('CreateLoadBalancerPrefix', prefixReq('invalid_name', '1.2.3.4/24'))), 205);
  t.is(st(await c.ok('ListLoadBalancerPrefixes', idReq('invalid_name'))), 205);
  t.is(st(await c.ok('DeleteLoadBalancerPrefix', prefixReq('invalid_name', '1.2.3.4/24'))), 205);
});

test('an LB prefix takes a preferred underlay; one in use is VNF_INSERT', async (t) => {
  const c = await setup(t);
  const [vmUl] = await addVms(c, VM1);
  t.is(str((await c.ok('CreateLoadBalancerPrefix', prefixReq(VM1.id, '1.2.3.0/24', PREFERRED_UL))).underlay_route), PREFERRED_UL);
  t.is(st(await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.9.0/24', PREFERRED_UL))), 401);
  t.is(vmUl!.length > 0, true);
  t.deepEqual((await c.ok('ListLoadBalancerPrefixes', idReq(VM1.id))).prefixes!.length, 1);
});

// ---- virtual IPs ---------------------------------------------------------------------------------

const VIP = '172.20.0.1';

test('a VIP is set, read back, refused twice (SNAT_EXISTS), deleted, gone (SNAT_NO_DATA) and re-set (upstream test_grpc_vip)', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  const created = await c.ok('CreateVip', { interface_id: text(VM1.id), vip_ip: ip4(VIP) });
  t.deepEqual(created.status, { code: 0, message: 'Success' });
  const got = await c.ok('GetVip', idReq(VM1.id));
  t.deepEqual(got.status, { code: 0, message: 'Success' });
  t.is(ipStr(got.vip_ip), `4:${VIP}`);
  t.is(str(got.underlay_route), str(created.underlay_route));
  t.deepEqual((await c.ok('CreateVip', { interface_id: text(VM1.id), vip_ip: ip4(VIP) })).status, { code: 343, message: 'SNAT_EXISTS' });
  t.is(st(await c.ok('DeleteVip', idReq(VM1.id))), 0);
  t.deepEqual((await c.ok('GetVip', idReq(VM1.id))).status, { code: 341, message: 'SNAT_NO_DATA' });
  t.is((await c.ok('GetVip', idReq(VM1.id))).vip_ip, null);
  t.is(st(await c.ok('DeleteVip', idReq(VM1.id))), 341);
  t.is(st(await c.ok('CreateVip', { interface_id: text(VM1.id), vip_ip: ip4(VIP) })), 0);
  t.is(st(await c.ok('DeleteVip', idReq(VM1.id))), 0);
});

test('VIP errors follow upstream test_grpc_vip_errors: NO_VM for unknown interfaces, BAD_IPVER for IPv6', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  t.deepEqual((await c.ok('CreateVip', { interface_id: text('invalid_name'), vip_ip: ip4(VIP) })).status, { code: 205, message: 'NO_VM' });
  t.is(st(await c.ok('GetVip', idReq('invalid_name'))), 205);
  t.is(st(await c.ok('DeleteVip', idReq('invalid_name'))), 205);
  t.deepEqual((await c.ok('CreateVip', { interface_id: text(VM1.id), vip_ip: ip6('1234::1') })).status, { code: 204, message: 'BAD_IPVER' });
  t.is(st(await c.ok('GetVip', idReq(VM1.id))), 341);
});

test('a VIP already translated in the VNI (VIP or NAT address) is DNAT_EXISTS; other VNIs are separate', async (t) => {
  const c = await setup(t);
  await addVms(c, VM1, VM2, VM3);
  await c.ok('CreateVip', { interface_id: text(VM1.id), vip_ip: ip4(VIP) });
  t.deepEqual((await c.ok('CreateVip', { interface_id: text(VM2.id), vip_ip: ip4(VIP) })).status, { code: 323, message: 'DNAT_EXISTS' });
  t.is(st(await c.ok('GetVip', idReq(VM2.id))), 341, 'nothing was left behind');
  t.is(st(await c.ok('CreateVip', { interface_id: text(VM3.id), vip_ip: ip4(VIP) })), 0, 'VM3 is in another VNI');
  await c.ok('CreateNat', natReq(VM2.id, '172.21.1.1', 100, 200));
  t.is(st(await c.ok('CreateVip', { interface_id: text(VM2.id), vip_ip: ip4('172.21.1.1') })), 323);
  await c.ok('DeleteVip', idReq(VM1.id));
  t.is(st(await c.ok('CreateVip', { interface_id: text(VM2.id), vip_ip: ip4(VIP) })), 0, 'the DNAT entry went with the VIP');
});

test('a NAT and then a VIP on the same address leave nothing behind (upstream test_grpc_nat_vip_same_ip)', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  await c.ok('CreateNat', natReq(VM1.id, '172.21.1.1', 100, 102));
  await c.ok('DeleteNat', idReq(VM1.id));
  t.is(st(await c.ok('CreateVip', { interface_id: text(VM1.id), vip_ip: ip4('172.21.1.1') })), 0);
  await c.ok('DeleteVip', idReq(VM1.id));
  t.is(st(await c.ok('GetVip', idReq(VM1.id))), 341);
  t.is(st(await c.ok('GetNat', idReq(VM1.id))), 341);
  t.deepEqual(c.srv.registry.dnatEntries(), []);
});

test('a VIP and a NAT coexist on one interface and are removed independently', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  await c.ok('CreateVip', { interface_id: text(VM1.id), vip_ip: ip4(VIP) });
  await c.ok('CreateNat', natReq(VM1.id, '172.21.1.1', 100, 200));
  await c.ok('DeleteVip', idReq(VM1.id));
  t.is(st(await c.ok('GetNat', idReq(VM1.id))), 0);
  t.is((await c.ok('ListLocalNats', { nat_ip: ip4('0.0.0.0') })).nat_entries!.length, 1);
  await c.ok('CreateVip', { interface_id: text(VM1.id), vip_ip: ip4(VIP) });
  await c.ok('DeleteNat', idReq(VM1.id));
  t.is(st(await c.ok('GetVip', idReq(VM1.id))), 0);
  t.deepEqual(
    c.srv.registry.dnatEntries().map((d) => [d.vni, d.ip, d.target]),
    [[VM1.vni, 0xac140001, 0xac200a05]],
    'the VIP translates to the VM address',
  );
});

test('a VIP takes a preferred underlay; the address of another object is VNF_INSERT (upstream test_grpc_external_underlays)', async (t) => {
  const c = await setup(t);
  const iface = 'fc00:1::8000:0:1';
  await addVm(c, VM4, { preferred: iface });
  t.is(str((await c.ok('CreateVip', { interface_id: text(VM4.id), vip_ip: ip4(VIP), preferred_underlay_route: text(PREFERRED_UL) })).underlay_route), PREFERRED_UL);
  await c.ok('DeleteVip', idReq(VM4.id));
  t.deepEqual(
    (await c.ok('CreateVip', { interface_id: text(VM4.id), vip_ip: ip4(VIP), preferred_underlay_route: text(iface) })).status,
    { code: 401, message: 'VNF_INSERT' },
  );
  t.is(st(await c.ok('GetVip', idReq(VM4.id))), 341);
  t.is(st(await c.ok('CreateVip', { interface_id: text(VM4.id), vip_ip: ip4(VIP) })), 0, 'the failed attempt claimed no DNAT');
});

invalidTable('VIPs', [
  ['CreateVip', 'an empty interface id', { interface_id: text(''), vip_ip: ip4(VIP) }, 'Invalid interface_id'],
  ['CreateVip', 'a missing VIP', { interface_id: text('vm1') }, 'Invalid vip_ip'],
  ['CreateVip', 'an unparsable VIP', { interface_id: text('vm1'), vip_ip: ip4('172.20.0') }, 'Invalid vip_ip'],
  ['CreateVip', 'a bad preferred underlay', { interface_id: text('vm1'), vip_ip: ip4(VIP), preferred_underlay_route: text('fc00:1::1') }, 'Invalid preferred_underlay_route'],
  ['GetVip', 'an empty interface id', idReq(''), 'Invalid interface_id'],
  ['DeleteVip', 'a 64-character interface id', idReq('v'.repeat(64)), 'Invalid interface_id'],
]);

// ---- NAT -----------------------------------------------------------------------------------------

const NAT_IP = '172.21.1.1';

test('a NAT is set, read back, refused twice (SNAT_EXISTS), deleted, gone (SNAT_NO_DATA) and re-set (upstream test_grpc_nat)', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  const created = await c.ok('CreateNat', natReq(VM1.id, NAT_IP, 100, 102));
  t.is(st(created), 0);
  const got = await c.ok('GetNat', idReq(VM1.id));
  t.deepEqual(
    { ip: ipStr(got.nat_ip), min: got.min_port, max: got.max_port, ul: str(got.underlay_route) },
    { ip: `4:${NAT_IP}`, min: 100, max: 102, ul: str(created.underlay_route) },
  );
  t.deepEqual((await c.ok('CreateNat', natReq(VM1.id, NAT_IP, 100, 102))).status, { code: 343, message: 'SNAT_EXISTS' });
  t.is(st(await c.ok('DeleteNat', idReq(VM1.id))), 0);
  t.deepEqual((await c.ok('GetNat', idReq(VM1.id))).status, { code: 341, message: 'SNAT_NO_DATA' });
  t.is(st(await c.ok('DeleteNat', idReq(VM1.id))), 341);
  t.is(st(await c.ok('CreateNat', natReq(VM1.id, NAT_IP, 100, 102))), 0);
  t.is(st(await c.ok('DeleteNat', idReq(VM1.id))), 0);
});

test("local NATs are listed in upstream's hash-table order with the interface address, VNI and actual NAT IP (upstream test_grpc_nat_list)", async (t) => {
  const c = await setup(t);
  await addVms(c, UP_VM1, UP_VM2);
  await c.ok('CreateNat', natReq(UP_VM1.id, NAT_IP, 100, 102));
  await c.ok('CreateNat', natReq(UP_VM2.id, NAT_IP, 102, 103));
  const entry = (n: NatEntryMsg): unknown => [ipStr(n.nat_ip), n.min_port, n.max_port, n.vni, ipStr(n.actual_nat_ip), str(n.underlay_route)];
  const list = await c.ok('ListLocalNats', { nat_ip: ip4(NAT_IP) });
  t.deepEqual(list.status, { code: 0, message: 'Success' });
  t.deepEqual(list.nat_entries!.map(entry), [
    ['4:10.100.1.2', 102, 103, 100, `4:${NAT_IP}`, ''],
    ['4:10.100.1.1', 100, 102, 100, `4:${NAT_IP}`, ''],
  ]);
  await c.ok('DeleteNat', idReq(UP_VM2.id));
  t.deepEqual((await c.ok('ListLocalNats', { nat_ip: ip4(NAT_IP) })).nat_entries!.map(entry), [['4:10.100.1.1', 100, 102, 100, `4:${NAT_IP}`, '']]);
  await c.ok('DeleteNat', idReq(UP_VM1.id));
  t.deepEqual((await c.ok('ListLocalNats', { nat_ip: ip4(NAT_IP) })).nat_entries, []);
});

test('two interfaces share a NAT IP; a second NAT on one interface is SNAT_EXISTS (upstream test_grpc_nat_share)', async (t) => {
  const c = await setup(t);
  await addVms(c, VM1, VM2);
  await c.ok('CreateNat', natReq(VM1.id, NAT_IP, 100, 102));
  t.is(st(await c.ok('CreateNat', natReq(VM1.id, NAT_IP, 102, 103))), 343);
  t.is(st(await c.ok('CreateNat', natReq(VM2.id, NAT_IP, 102, 103))), 0);
  await c.ok('DeleteNat', idReq(VM2.id));
  t.deepEqual(c.srv.registry.dnatEntries().map((d) => d.ip), [0xac150101], 'VM1 still uses the NAT address');
  await c.ok('DeleteNat', idReq(VM1.id));
  t.deepEqual(c.srv.registry.dnatEntries(), []);
});

test('NAT errors follow upstream test_grpc_nat_errors', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  const empty = await c.ok('ListLocalNats', { nat_ip: ip4(NAT_IP) });
  t.deepEqual([st(empty), empty.nat_entries], [0, []]);
  t.is(st(await c.ok('CreateNat', natReq('invalid_name', NAT_IP, 100, 102))), 205);
  t.is(st(await c.ok('GetNat', idReq('invalid_name'))), 205);
  t.is(st(await c.ok('DeleteNat', idReq('invalid_name'))), 205);
  t.deepEqual((await c.ok('CreateNat', natReq(VM1.id, '1234::1', 1024, 2048))).status, { code: 204, message: 'BAD_IPVER' });
  t.is(st(await c.ok('ListLocalNats', { nat_ip: ip6('1234::1') })), 204);
});

test('ListLocalNats with 0.0.0.0 lists every local NAT (upstream test_grpc_global_list_nats)', async (t) => {
  const c = await setup(t);
  await addVms(c, VM1, VM2, VM3);
  await c.ok('CreateNat', natReq(VM1.id, '1.2.3.4', 100, 102));
  await c.ok('CreateNat', natReq(VM2.id, '1.2.3.5', 100, 102));
  await c.ok('CreateVip', { interface_id: text(VM3.id), vip_ip: ip4(VIP) });
  const one = (await c.ok('ListLocalNats', { nat_ip: ip4('1.2.3.4') })).nat_entries!;
  const two = (await c.ok('ListLocalNats', { nat_ip: ip4('1.2.3.5') })).nat_entries!;
  const all = (await c.ok('ListLocalNats', { nat_ip: ip4('0.0.0.0') })).nat_entries!;
  const key = (n: NatEntryMsg): string => JSON.stringify([ipStr(n.nat_ip), ipStr(n.actual_nat_ip)]);
  t.deepEqual(all.map(key).sort(), [...one, ...two].map(key).sort(), 'VIPs are no NAT entries');
  t.is(all.length, 2);
});

test('an IPv6-only interface gets a NAT (for NAT64), listed with natted address 0.0.0.0', async (t) => {
  const c = await setup(t);
  await c.ok('CreateInterface', ifaceReq('v6', 'net_tap2', 7, '0.0.0.0', 'fd00::1'));
  t.is(st(await c.ok('CreateNat', natReq('v6', NAT_IP, 1000, 2000))), 0);
  const [e] = (await c.ok('ListLocalNats', { nat_ip: ip4('0.0.0.0') })).nat_entries!;
  t.deepEqual([ipStr(e!.nat_ip), e!.vni], ['4:0.0.0.0', 7]);
});

test('NAT port ranges are [min, max): 0..65535 with min < max; the maximum range is 0-65535', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  t.is(st(await c.ok('CreateNat', natReq(VM1.id, NAT_IP, 0, 65535))), 0);
  const got = await c.ok('GetNat', idReq(VM1.id));
  t.deepEqual([got.min_port, got.max_port], [0, 65535]);
  await c.ok('DeleteNat', idReq(VM1.id));
  t.is(st(await c.ok('CreateNat', natReq(VM1.id, NAT_IP, 65534, 65535))), 0, 'a single port');
});

invalidTable('NAT', [
  ['CreateNat', 'an empty interface id', natReq('', NAT_IP, 100, 200), 'Invalid interface_id'],
  ['CreateNat', 'a missing NAT IP', { interface_id: text('vm1'), min_port: 1, max_port: 2 }, 'Invalid nat_ip'],
  ['CreateNat', 'min_port 65536', natReq('vm1', NAT_IP, 65536, 65537), 'Invalid min_port'],
  ['CreateNat', 'max_port 65536', natReq('vm1', NAT_IP, 100, 65536), 'Invalid max_port'],
  ['CreateNat', 'min_port equal to max_port', natReq('vm1', NAT_IP, 100, 100), 'Invalid port range'],
  ['CreateNat', 'min_port above max_port', natReq('vm1', NAT_IP, 200, 100), 'Invalid port range'],
  ['CreateNat', 'no ports at all', natReq('vm1', NAT_IP, 0, 0), 'Invalid port range'],
  ['CreateNat', 'a bad preferred underlay', natReq('vm1', NAT_IP, 100, 200, '::1'), 'Invalid preferred_underlay_route'],
  ['GetNat', 'an empty interface id', idReq(''), 'Invalid interface_id'],
  ['DeleteNat', 'an empty interface id', idReq(''), 'Invalid interface_id'],
  ['ListLocalNats', 'a missing NAT IP', {}, 'Invalid nat_ip'],
  ['ListLocalNats', 'an IPv4 of the IPv6 family', { nat_ip: ip6('1.2.3.4') }, 'Invalid nat_ip'],
]);

// ---- neighbour NAT -------------------------------------------------------------------------------

test('a neighbour NAT is added, refused twice (ALREADY_EXISTS), removed, refused (NOT_FOUND) and re-added (upstream test_grpc_neighnat)', async (t) => {
  const c = await setup(t);
  t.is(st(await c.ok('CreateNeighborNat', neighReq(NAT_IP, 100, 500, 520))), 0);
  t.deepEqual((await c.ok('CreateNeighborNat', neighReq(NAT_IP, 100, 500, 520))).status, { code: 202, message: 'ALREADY_EXISTS' });
  t.is(st(await c.ok('DeleteNeighborNat', neighReq(NAT_IP, 100, 500, 520))), 0);
  t.deepEqual((await c.ok('DeleteNeighborNat', neighReq(NAT_IP, 100, 500, 520))).status, { code: 201, message: 'NOT_FOUND' });
  t.is(st(await c.ok('CreateNeighborNat', neighReq(NAT_IP, 100, 500, 520))), 0);
  t.is(st(await c.ok('DeleteNeighborNat', neighReq(NAT_IP, 100, 500, 520))), 0);
});

test('neighbour NATs are listed in creation order with underlay, ports, VNI and NAT IP (upstream test_grpc_neighnat_list)', async (t) => {
  const c = await setup(t);
  await c.ok('CreateNeighborNat', neighReq(NAT_IP, 100, 500, 520));
  await c.ok('CreateNeighborNat', neighReq(NAT_IP, 100, 520, 521));
  await c.ok('CreateNeighborNat', neighReq('172.21.1.2', 200, 1, 2, 'fc00:3::1'));
  const entry = (n: NatEntryMsg): unknown => [str(n.underlay_route), n.min_port, n.max_port, n.vni, ipStr(n.actual_nat_ip), n.nat_ip];
  const list = await c.ok('ListNeighborNats', { nat_ip: ip4(NAT_IP) });
  t.deepEqual(list.nat_entries!.map(entry), [
    [NEIGH_UL, 500, 520, 100, `4:${NAT_IP}`, null],
    [NEIGH_UL, 520, 521, 100, `4:${NAT_IP}`, null],
  ]);
  t.is((await c.ok('ListNeighborNats', { nat_ip: ip4('0.0.0.0') })).nat_entries!.length, 3, '0.0.0.0 lists all');
  await c.ok('DeleteNeighborNat', neighReq(NAT_IP, 100, 500, 520));
  t.deepEqual((await c.ok('ListNeighborNats', { nat_ip: ip4(NAT_IP) })).nat_entries!.map(entry), [[NEIGH_UL, 520, 521, 100, `4:${NAT_IP}`, null]]);
});

test('neighbour NAT errors follow upstream test_grpc_neighnat_errors: overlaps in any VNI, IPv6 addresses', async (t) => {
  const c = await setup(t);
  t.deepEqual((await c.ok('ListNeighborNats', { nat_ip: ip4(NAT_IP) })).nat_entries, []);
  await c.ok('CreateNeighborNat', neighReq(NAT_IP, 100, 500, 520));
  t.is(st(await c.ok('CreateNeighborNat', neighReq(NAT_IP, 200, 500, 520))), 202, 'same range in another VNI');
  t.is(st(await c.ok('CreateNeighborNat', neighReq(NAT_IP, 200, 501, 521))), 202, 'overlapping range');
  t.is(st(await c.ok('CreateNeighborNat', neighReq(NAT_IP, 100, 400, 501))), 202, 'overlapping from below');
  t.is(st(await c.ok('CreateNeighborNat', neighReq(NAT_IP, 100, 400, 500))), 0, 'adjacent below');
  t.is(st(await c.ok('CreateNeighborNat', neighReq('172.21.1.9', 100, 500, 520))), 0, 'another IP');
  t.is(st(await c.ok('DeleteNeighborNat', neighReq(NAT_IP, 100, 500, 521))), 201, 'the range must match exactly');
  t.is(st(await c.ok('DeleteNeighborNat', neighReq(NAT_IP, 200, 500, 520))), 201, 'and the VNI');
  t.is(st(await c.ok('CreateNeighborNat', neighReq('1234::1', 100, 500, 520))), 204);
  t.is(st(await c.ok('DeleteNeighborNat', neighReq('1234::1', 100, 500, 520))), 204);
  t.is(st(await c.ok('ListNeighborNats', { nat_ip: ip6('1234::1') })), 204);
});

test('Initialize drops every neighbour NAT but keeps local NATs, VIPs and load balancers', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  await c.ok('CreateNeighborNat', neighReq(NAT_IP, 100, 500, 520));
  await c.ok('CreateNeighborNat', neighReq(NAT_IP, 300, 600, 620));
  await c.ok('CreateNat', natReq(VM1.id, NAT_IP, 100, 200));
  await c.ok('CreateVip', { interface_id: text(VM1.id), vip_ip: ip4(VIP) });
  await c.ok('CreateLoadBalancer', lbReq('lb', 100, '172.22.2.1', [[TCP, 80]]));
  await c.ok('Initialize');
  t.deepEqual((await c.ok('ListNeighborNats', { nat_ip: ip4('0.0.0.0') })).nat_entries, []);
  t.is(st(await c.ok('GetNat', idReq(VM1.id))), 0);
  t.is(st(await c.ok('GetVip', idReq(VM1.id))), 0);
  t.is(st(await c.ok('GetLoadBalancer', lbIdReq('lb'))), 0);
  t.deepEqual(c.srv.registry.dnatEntries().map((d) => d.ip).sort(), [0xac140001, 0xac150101], 'the local NAT keeps its DNAT entry');
});

test('neighbour NATs go with their VNI; a VIP on the same address works afterwards (upstream test_vni_dnat_reset)', async (t) => {
  const c = await setup(t);
  const vni = 999;
  await c.ok('CreateInterface', ifaceReq(VM4.id, VM4.dev, vni, VM4.ip, VM4.ipv6));
  await c.ok('CreateNat', natReq(VM4.id, NAT_IP, 100, 200));
  await c.ok('CreateNeighborNat', neighReq(NAT_IP, vni, 200, 300));
  await c.ok('DeleteNat', idReq(VM4.id));
  await c.ok('DeleteInterface', idReq(VM4.id));
  t.is(st(await c.ok('DeleteNeighborNat', neighReq(NAT_IP, vni, 200, 300))), 201, 'purged with the VNI');
  await c.ok('CreateInterface', ifaceReq(VM4.id, VM4.dev, vni, VM4.ip, VM4.ipv6));
  t.is(st(await c.ok('CreateVip', { interface_id: text(VM4.id), vip_ip: ip4(NAT_IP) })), 0);
  t.is(st(await c.ok('DeleteVip', idReq(VM4.id))), 0);
});

test('neighbour NATs stay while a load balancer keeps their VNI in use (upstream test_vni_neighnats)', async (t) => {
  const c = await setup(t);
  await addVms(c, VM1, VM2);
  await c.ok('CreateLoadBalancer', lbReq('lb', VM1.vni, '172.22.2.1', [[TCP, 80]]));
  await c.ok('CreateNat', natReq(VM1.id, NAT_IP, 1000, 2000));
  await c.ok('CreateNat', natReq(VM2.id, NAT_IP, 2000, 3000));
  await c.ok('CreateNeighborNat', neighReq(NAT_IP, VM1.vni, 3000, 4000));
  await c.ok('CreateNeighborNat', neighReq(NAT_IP, VM1.vni, 4000, 5000));
  await c.ok('DeleteNat', idReq(VM2.id));
  await c.ok('DeleteNat', idReq(VM1.id));
  await c.ok('DeleteInterface', idReq(VM2.id));
  await c.ok('DeleteInterface', idReq(VM1.id));
  t.is((await c.ok('ListNeighborNats', { nat_ip: ip4(NAT_IP) })).nat_entries!.length, 2);
  await c.ok('DeleteLoadBalancer', lbIdReq('lb'));
  t.deepEqual((await c.ok('ListNeighborNats', { nat_ip: ip4(NAT_IP) })).nat_entries, [], 'the last user of the VNI is gone');
});

invalidTable('neighbour NAT', [
  ['CreateNeighborNat', 'a missing NAT IP', { vni: 1, min_port: 1, max_port: 2, underlay_route: text(NEIGH_UL) }, 'Invalid nat_ip'],
  ['CreateNeighborNat', 'min_port 70000', neighReq(NAT_IP, 1, 70000, 70001), 'Invalid min_port'],
  ['CreateNeighborNat', 'max_port 65536', neighReq(NAT_IP, 1, 1, 65536), 'Invalid max_port'],
  ['CreateNeighborNat', 'an empty range', neighReq(NAT_IP, 1, 5, 5), 'Invalid port range'],
  ['CreateNeighborNat', 'a missing underlay route', neighReq(NAT_IP, 1, 1, 2, ''), 'Invalid underlay_route'],
  ['CreateNeighborNat', 'an IPv4 underlay route', neighReq(NAT_IP, 1, 1, 2, '10.0.0.1'), 'Invalid underlay_route'],
  ['DeleteNeighborNat', 'a garbage NAT IP', neighReq('x', 1, 1, 2), 'Invalid nat_ip'],
  ['DeleteNeighborNat', 'min_port 65536', neighReq(NAT_IP, 1, 65536, 65537), 'Invalid min_port'],
  ['DeleteNeighborNat', 'a reversed range', neighReq(NAT_IP, 1, 9, 2), 'Invalid port range'],
  ['ListNeighborNats', 'a missing NAT IP', {}, 'Invalid nat_ip'],
]);

// ---- load balancers ------------------------------------------------------------------------------

const LB_IP = '172.22.2.1';

test('a load balancer is created, read back, refused twice, deleted, gone (NOT_FOUND) and re-created (upstream test_grpc_lb)', async (t) => {
  const c = await setup(t);
  const created = await c.ok('CreateLoadBalancer', lbReq('my_lb', 100, LB_IP, [[TCP, 80]]));
  t.deepEqual(created.status, { code: 0, message: 'Success' });
  const ul = str(created.underlay_route);
  t.is(parseIpv6(ul)![8], 0xd0);
  const got = await c.ok('GetLoadBalancer', lbIdReq('my_lb'));
  t.deepEqual(
    { status: got.status, vni: got.vni, ip: ipStr(got.loadbalanced_ip), ports: got.loadbalanced_ports, ul: str(got.underlay_route) },
    { status: { code: 0, message: 'Success' }, vni: 100, ip: `4:${LB_IP}`, ports: [{ port: 80, protocol: TCP }], ul },
  );
  t.deepEqual((await c.ok('CreateLoadBalancer', lbReq('my_lb', 100, LB_IP, [[TCP, 80]]))).status, { code: 202, message: 'ALREADY_EXISTS' });
  t.is(st(await c.ok('DeleteLoadBalancer', lbIdReq('my_lb'))), 0);
  t.deepEqual((await c.ok('GetLoadBalancer', lbIdReq('my_lb'))).status, { code: 201, message: 'NOT_FOUND' });
  t.is(st(await c.ok('DeleteLoadBalancer', lbIdReq('my_lb'))), 201);
  t.is(st(await c.ok('CreateLoadBalancer', lbReq('my_lb', 100, LB_IP, [[TCP, 80]]))), 0);
  t.is(st(await c.ok('DeleteLoadBalancer', lbIdReq('my_lb'))), 0);
});

test('load balancers are listed in creation order, each as GetLoadBalancer reports it (upstream test_grpc_lb_list)', async (t) => {
  const c = await setup(t);
  t.deepEqual((await c.ok('ListLoadBalancers')).loadbalancers, []);
  await c.ok('CreateLoadBalancer', lbReq('lb1', 100, '1.2.3.4', [[TCP, 80], [UDP, 80]]));
  await c.ok('CreateLoadBalancer', lbReq('lb2', 100, '1234::1', [[TCP, 80]]));
  const list = await c.ok('ListLoadBalancers');
  t.deepEqual(list.status, { code: 0, message: 'Success' });
  const shape = (l: LoadbalancerMsg): unknown => [str(l.id), l.vni, ipStr(l.ip), l.ports, str(l.underlay_route)];
  for (const [i, id] of ['lb1', 'lb2'].entries()) {
    const g = await c.ok('GetLoadBalancer', lbIdReq(id));
    t.deepEqual(shape(list.loadbalancers![i]!), [id, g.vni, ipStr(g.loadbalanced_ip), g.loadbalanced_ports, str(g.underlay_route)]);
  }
  t.deepEqual(list.loadbalancers![0]!.ports, [{ port: 80, protocol: TCP }, { port: 80, protocol: UDP }]);
  t.is(list.loadbalancers![1]!.ip!.ipver, 1, 'an IPv6 load balancer');
  await c.ok('DeleteLoadBalancer', lbIdReq('lb1'));
  t.deepEqual((await c.ok('ListLoadBalancers')).loadbalancers!.map((l) => str(l.id)), ['lb2']);
});

test('the same address in another VNI is another load balancer; a reused id is ALREADY_EXISTS', async (t) => {
  const c = await setup(t);
  await c.ok('CreateLoadBalancer', lbReq('lb1', 100, LB_IP, [[TCP, 80]]));
  t.is(st(await c.ok('CreateLoadBalancer', lbReq('lb2', 200, LB_IP, [[TCP, 80]]))), 0);
  t.is(st(await c.ok('CreateLoadBalancer', lbReq('lb3', 100, LB_IP, [[UDP, 53]]))), 202, 'one load balancer per address and VNI');
  t.is(st(await c.ok('CreateLoadBalancer', lbReq('lb1', 100, '172.22.2.9', [[TCP, 80]]))), 202);
  t.is((await c.ok('ListLoadBalancers')).loadbalancers!.length, 2);
});

test('at most 256 load balancers exist; the 257th is OUT_OF_MEMORY as upstream reports a full table', async (t) => {
  const c = await setup(t);
  for (let i = 0; i < 256; i++) {
    const r = await c.ok('CreateLoadBalancer', lbReq(`lb${i}`, 100 + (i % 3), `10.0.${i >> 8}.${i & 255}`, [[TCP, 80]]));
    if (st(r) !== 0) return t.fail(`lb${i}: ${r.status.message}`);
  }
  t.deepEqual((await c.ok('CreateLoadBalancer', lbReq('one-too-many', 100, '10.1.0.0', [[TCP, 80]]))).status, { code: 208, message: 'OUT_OF_MEMORY' });
  t.is((await c.ok('ListLoadBalancers')).loadbalancers!.length, 256);
  await c.ok('DeleteLoadBalancer', lbIdReq('lb7'));
  t.is(st(await c.ok('CreateLoadBalancer', lbReq('one-too-many', 100, '10.1.0.0', [[TCP, 80]]))), 0);
});

test('15 ports are accepted, port 0 is stored but not reported, TCP and UDP may share a port (upstream test_grpc_lb_errors)', async (t) => {
  const c = await setup(t);
  const ports: Array<[number, number]> = Array.from({ length: 15 }, (_, i) => [i % 2 ? UDP : TCP, 1000 + i]);
  t.is(st(await c.ok('CreateLoadBalancer', lbReq('full', 1, '10.0.0.1', ports))), 0);
  t.is((await c.ok('GetLoadBalancer', lbIdReq('full'))).loadbalanced_ports!.length, 15);
  t.is(st(await c.ok('CreateLoadBalancer', lbReq('zero', 1, '10.0.0.2', [[TCP, 0], [TCP, 443]]))), 0);
  t.deepEqual((await c.ok('GetLoadBalancer', lbIdReq('zero'))).loadbalanced_ports, [{ port: 443, protocol: TCP }]);
  t.is(st(await c.ok('CreateLoadBalancer', lbReq('both', 1, LB_IP, [[TCP, 80], [UDP, 80]]))), 0);
  t.is(st(await c.ok('CreateLoadBalancer', lbReq('none', 1, '10.0.0.3', []))), 0, 'no ports at all');
});

test('a load balancer keeps its VNI in use without any interface (upstream test_vni_existence)', async (t) => {
  const c = await setup(t);
  const inUse = async (vni: number): Promise<boolean> => (await c.ok('CheckVniInUse', { vni, type: 0 })).in_use!;
  await c.ok('CreateLoadBalancer', lbReq('lb', 300, LB_IP, [[TCP, 80]]));
  t.true(await inUse(300));
  await c.ok('CreateInterface', ifaceReq(VM4.id, VM4.dev, 300, VM4.ip, VM4.ipv6));
  t.true(await inUse(300));
  await c.ok('DeleteInterface', idReq(VM4.id));
  t.true(await inUse(300));
  t.is(st(await c.ok('CreateRoute', routeReq(300, '10.0.0.0/8'))), 0, 'the VNI has route tables');
  await c.ok('DeleteLoadBalancer', lbIdReq('lb'));
  t.false(await inUse(300));
});

test('VNIs of load balancers are 24-bit: 0xffffff is fine, 0x1000000 is INVALID_ARGUMENT', async (t) => {
  const c = await setup(t);
  t.is(st(await c.ok('CreateLoadBalancer', lbReq('max', 0xffffff, LB_IP, [[TCP, 80]]))), 0);
  t.is((await c.ok('GetLoadBalancer', lbIdReq('max'))).vni, 0xffffff);
  const out = await c.call('CreateLoadBalancer', lbReq('over', 0x1000000, LB_IP, [[TCP, 80]]));
  t.deepEqual([out.grpc, out.details], [grpc.status.INVALID_ARGUMENT, 'VNI exceeds 24-bit range']);
});

test('a load balancer takes a preferred underlay; one in use is VNF_INSERT (upstream test_grpc_external_underlays)', async (t) => {
  const c = await setup(t);
  const [vmUl] = await addVms(c, VM1);
  t.is(str((await c.ok('CreateLoadBalancer', lbReq('lb', 100, LB_IP, [[TCP, 80]], PREFERRED_UL))).underlay_route), PREFERRED_UL);
  t.is(str((await c.ok('GetLoadBalancer', lbIdReq('lb'))).underlay_route), PREFERRED_UL);
  t.is(st(await c.ok('CreateLoadBalancer', lbReq('lb2', 100, '172.22.2.2', [[TCP, 80]], PREFERRED_UL))), 401);
  t.is(st(await c.ok('GetLoadBalancer', lbIdReq('lb2'))), 201);
  t.is(c.srv.registry.vnf.get(parseIpv6(PREFERRED_UL)!)?.type, 4, 'registered as a load balancer');
  t.truthy(vmUl);
});

const LB_ID_64 = 'l'.repeat(64);
invalidTable('load balancers', [
  ['CreateLoadBalancer', 'an empty id', lbReq('', 1, LB_IP, [[TCP, 80]]), 'Invalid loadbalancer_id'],
  ['CreateLoadBalancer', 'a 64-character id', lbReq(LB_ID_64, 1, LB_IP, [[TCP, 80]]), 'Invalid loadbalancer_id'],
  ['CreateLoadBalancer', 'a VNI of 25 bits', lbReq('lb', 0x1ffffff, LB_IP, [[TCP, 80]]), 'VNI exceeds 24-bit range'],
  ['CreateLoadBalancer', 'a missing address', { loadbalancer_id: text('lb'), vni: 1 }, 'Invalid loadbalanced_ip'],
  ['CreateLoadBalancer', 'an IPv6 address marked IPv4', { loadbalancer_id: text('lb'), vni: 1, loadbalanced_ip: ip4('::1') }, 'Invalid loadbalanced_ip'],
  ['CreateLoadBalancer', '16 ports', lbReq('lb', 1, LB_IP, Array.from({ length: 16 }, (_, i): [number, number] => [TCP, i + 1])), 'Too many loadbalanced_ports'],
  ['CreateLoadBalancer', 'port 65536', lbReq('lb', 1, LB_IP, [[UDP, 65536]]), 'Invalid loadbalanced_ports.port'],
  ['CreateLoadBalancer', 'an ICMP port', lbReq('lb', 1, LB_IP, [[1, 22]]), 'Invalid loadbalanced_ports.protocol'],
  ['CreateLoadBalancer', 'an undefined protocol', lbReq('lb', 1, LB_IP, [[0, 22]]), 'Invalid loadbalanced_ports.protocol'],
  ['CreateLoadBalancer', 'an SCTP port', lbReq('lb', 1, LB_IP, [[132, 22]]), 'Invalid loadbalanced_ports.protocol'],
  ['CreateLoadBalancer', 'a duplicate port', lbReq('lb', 1, LB_IP, [[TCP, 80], [UDP, 80], [TCP, 80]]), 'Duplicate loadbalanced_ports entry'],
  ['CreateLoadBalancer', 'a bad preferred underlay', lbReq('lb', 1, LB_IP, [[TCP, 80]], 'fc00:1::1'), 'Invalid preferred_underlay_route'],
  ['GetLoadBalancer', 'an empty id', lbIdReq(''), 'Invalid loadbalancer_id'],
  ['DeleteLoadBalancer', 'a 64-character id', lbIdReq(LB_ID_64), 'Invalid loadbalancer_id'],
]);

// ---- load-balancer targets -----------------------------------------------------------------------

test('a target is added, refused twice (ALREADY_EXISTS), removed, refused (NOT_FOUND) and re-added (upstream test_grpc_lbtarget)', async (t) => {
  const c = await setup(t);
  await c.ok('CreateLoadBalancer', lbReq('my_lb', 100, LB_IP, [[TCP, 80]]));
  t.deepEqual((await c.ok('CreateLoadBalancerTarget', targetReq('my_lb', '1234::1'))).status, { code: 0, message: 'Success' });
  t.deepEqual((await c.ok('CreateLoadBalancerTarget', targetReq('my_lb', '1234::1'))).status, { code: 202, message: 'ALREADY_EXISTS' });
  t.is(st(await c.ok('DeleteLoadBalancerTarget', targetReq('my_lb', '1234::1'))), 0);
  t.deepEqual((await c.ok('DeleteLoadBalancerTarget', targetReq('my_lb', '1234::1'))).status, { code: 201, message: 'NOT_FOUND' });
  t.is(st(await c.ok('CreateLoadBalancerTarget', targetReq('my_lb', '1234::1'))), 0);
  t.is(st(await c.ok('DeleteLoadBalancerTarget', targetReq('my_lb', '1234::1'))), 0);
});

test('targets are listed sorted by address, as the Maglev table is built (upstream test_grpc_lbtarget_list)', async (t) => {
  const c = await setup(t);
  await c.ok('CreateLoadBalancer', lbReq('my_lb', 100, LB_IP, [[TCP, 80]]));
  for (const ip of ['1234::2', 'fc00:1::d000:0:5', '1234::1']) await c.ok('CreateLoadBalancerTarget', targetReq('my_lb', ip));
  const list = await c.ok('ListLoadBalancerTargets', lbIdReq('my_lb'));
  t.deepEqual(list.status, { code: 0, message: 'Success' });
  t.deepEqual(list.target_ips!.map(ipStr), ['6:1234::1', '6:1234::2', '6:fc00:1::d000:0:5']);
  await c.ok('DeleteLoadBalancerTarget', targetReq('my_lb', '1234::1'));
  t.deepEqual((await c.ok('ListLoadBalancerTargets', lbIdReq('my_lb'))).target_ips!.map(ipStr), ['6:1234::2', '6:fc00:1::d000:0:5']);
  t.deepEqual(c.srv.registry.getLoadBalancer('my_lb').targets.map((x) => formatIpv6(x)), ['1234::2', 'fc00:1::d000:0:5']);
});

test('target errors follow upstream test_grpc_lbtarget_errors: NO_LB, then BAD_IPVER checked first', async (t) => {
  const c = await setup(t);
  t.deepEqual((await c.ok('CreateLoadBalancerTarget', targetReq('nonexisting', '::'))).status, { code: 422, message: 'NO_LB' });
  t.is(st(await c.ok('DeleteLoadBalancerTarget', targetReq('nonexisting', '::'))), 422);
  const list = await c.ok('ListLoadBalancerTargets', lbIdReq('nonexisting'));
  t.deepEqual([st(list), list.target_ips], [422, []]);
  t.is(st(await c.ok('CreateLoadBalancerTarget', targetReq('nonexisting', '1.2.3.4'))), 204, 'the family is checked before the id');
  await c.ok('CreateLoadBalancer', lbReq('my_lb', 100, LB_IP, [[TCP, 80]]));
  t.is(st(await c.ok('CreateLoadBalancerTarget', targetReq('my_lb', '1.2.3.4'))), 204);
  t.is(st(await c.ok('DeleteLoadBalancerTarget', targetReq('my_lb', '1.2.3.4'))), 204);
  t.is(st(await c.ok('CreateLoadBalancerTarget', targetReq('my_lb', '::'))), 202, 'the empty address counts as present, as upstream');
});

test('a load balancer takes 64 targets; the 65th is BACKIP_ADD', async (t) => {
  const c = await setup(t);
  await c.ok('CreateLoadBalancer', lbReq('lb', 100, LB_IP, [[TCP, 80]]));
  for (let i = 1; i <= 64; i++) {
    const r = await c.ok('CreateLoadBalancerTarget', targetReq('lb', `fc00:9::${i.toString(16)}`));
    if (st(r) !== 0) return t.fail(`target ${i}: ${r.status.message}`);
  }
  t.deepEqual((await c.ok('CreateLoadBalancerTarget', targetReq('lb', 'fc00:9::100'))).status, { code: 423, message: 'BACKIP_ADD' });
  t.is(st(await c.ok('CreateLoadBalancerTarget', targetReq('lb', 'fc00:9::1'))), 202, 'a duplicate is still ALREADY_EXISTS');
  t.is((await c.ok('ListLoadBalancerTargets', lbIdReq('lb'))).target_ips!.length, 64);
  await c.ok('DeleteLoadBalancerTarget', targetReq('lb', 'fc00:9::40'));
  t.is(st(await c.ok('CreateLoadBalancerTarget', targetReq('lb', 'fc00:9::100'))), 0);
});

test('an empty load balancer id lists the targets of every load balancer (upstream test_grpc_global_list_lbtargets)', async (t) => {
  const c = await setup(t);
  await c.ok('CreateLoadBalancer', lbReq('lb1', 100, '1.2.3.4', [[TCP, 80]]));
  await c.ok('CreateLoadBalancer', lbReq('lb2', 100, '1.2.3.5', [[TCP, 80]]));
  for (const [lb, ip] of [['lb1', '1234::1'], ['lb1', '1234::2'], ['lb2', '1235::1'], ['lb2', '1235::2']] as const) {
    await c.ok('CreateLoadBalancerTarget', targetReq(lb, ip));
  }
  const all = await c.ok('ListLoadBalancerTargets', lbIdReq(''));
  t.deepEqual(all.target_ips!.map(ipStr), ['6:1234::1', '6:1234::2', '6:1235::1', '6:1235::2']);
  t.deepEqual((await c.ok('ListLoadBalancerTargets', {})).target_ips!.length, 4, 'also with no id at all');
});

test('deleting a load balancer drops its targets', async (t) => {
  const c = await setup(t);
  await c.ok('CreateLoadBalancer', lbReq('lb', 100, LB_IP, [[TCP, 80]]));
  await c.ok('CreateLoadBalancerTarget', targetReq('lb', '1234::1'));
  await c.ok('DeleteLoadBalancer', lbIdReq('lb'));
  await c.ok('CreateLoadBalancer', lbReq('lb', 100, LB_IP, [[TCP, 80]]));
  t.deepEqual((await c.ok('ListLoadBalancerTargets', lbIdReq('lb'))).target_ips, []);
});

invalidTable('LB targets', [
  ['CreateLoadBalancerTarget', 'an empty id', targetReq('', '1234::1'), 'Invalid loadbalancer_id'],
  ['CreateLoadBalancerTarget', 'a missing target', lbIdReq('lb'), 'Invalid target_ip'],
  ['CreateLoadBalancerTarget', 'an unparsable target', targetReq('lb', '1234::g'), 'Invalid target_ip'],
  ['DeleteLoadBalancerTarget', 'a 64-character id', targetReq(LB_ID_64, '1234::1'), 'Invalid loadbalancer_id'],
  ['DeleteLoadBalancerTarget', 'a target of an unknown family', { loadbalancer_id: text('lb'), target_ip: { ipver: 3, address: text('::1') } }, 'Invalid target_ip'],
  ['ListLoadBalancerTargets', 'a 64-character id', lbIdReq(LB_ID_64), 'Invalid loadbalancer_id'],
]);

// ---- firewall rules ------------------------------------------------------------------------------

test('a firewall rule is added, read back exactly, refused twice, deleted, gone and re-added (upstream test_grpc_fwallrule)', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  const created = await c.ok('CreateFirewallRule', fwReq(VM1.id, 'fw0-vm1', { src: '1.2.3.4/16' }));
  t.deepEqual(created.status, { code: 0, message: 'Success' });
  t.is(str(created.rule_id), 'fw0-vm1');
  const got = await c.ok('GetFirewallRule', fwIdReq(VM1.id, 'fw0-vm1'));
  t.deepEqual(got.status, { code: 0, message: 'Success' });
  const r = got.rule!;
  t.deepEqual(
    {
      id: str(r.id),
      direction: r.direction,
      action: r.action,
      priority: r.priority,
      src: [ipStr(r.source_prefix!.ip), r.source_prefix!.length],
      dst: [ipStr(r.destination_prefix!.ip), r.destination_prefix!.length],
      filter: r.protocol_filter!.filter,
      tcp: r.protocol_filter!.tcp,
    },
    {
      id: 'fw0-vm1',
      direction: 0,
      action: ACCEPT,
      priority: 1000,
      src: ['4:1.2.3.4', 16],
      dst: ['4:0.0.0.0', 0],
      filter: 'tcp',
      tcp: ANY_PORTS,
    },
  );
  t.deepEqual((await c.ok('CreateFirewallRule', fwReq(VM1.id, 'fw0-vm1'))).status, { code: 202, message: 'ALREADY_EXISTS' });
  t.is(st(await c.ok('DeleteFirewallRule', fwIdReq(VM1.id, 'fw0-vm1'))), 0);
  t.deepEqual((await c.ok('GetFirewallRule', fwIdReq(VM1.id, 'fw0-vm1'))).status, { code: 201, message: 'NOT_FOUND' });
  t.deepEqual((await c.ok('ListFirewallRules', idReq(VM1.id))).rules, []);
  t.is(st(await c.ok('DeleteFirewallRule', fwIdReq(VM1.id, 'fw0-vm1'))), 201);
  t.is(st(await c.ok('CreateFirewallRule', fwReq(VM1.id, 'fw0-vm1', { src: '1.2.3.4/16' }))), 0);
  t.is(st(await c.ok('DeleteFirewallRule', fwIdReq(VM1.id, 'fw0-vm1'))), 0);
});

test('firewall rules are listed in creation order, as GetFirewallRule reports them (upstream test_grpc_fwallrule_list)', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  await c.ok('CreateFirewallRule', fwReq(VM1.id, 'fw0-vm1', { src: '1.2.3.4/16' }));
  await c.ok('CreateFirewallRule', fwReq(VM1.id, 'fw1-vm1', { src: '4.5.6.7/16', direction: 1, filter: { udp: ANY_PORTS } }));
  const one = (await c.ok('GetFirewallRule', fwIdReq(VM1.id, 'fw0-vm1'))).rule;
  const two = (await c.ok('GetFirewallRule', fwIdReq(VM1.id, 'fw1-vm1'))).rule;
  t.deepEqual((await c.ok('ListFirewallRules', idReq(VM1.id))).rules, [one, two]);
  t.is(two!.direction, 1);
  t.is(two!.protocol_filter!.filter, 'udp');
  await c.ok('DeleteFirewallRule', fwIdReq(VM1.id, 'fw0-vm1'));
  t.deepEqual((await c.ok('ListFirewallRules', idReq(VM1.id))).rules, [two]);
});

test('firewall errors follow upstream test_grpc_fwallrule_errors: NO_VM, and DROP rules are NO_DROP_SUPPORT', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  t.deepEqual((await c.ok('CreateFirewallRule', fwReq('invalid', 'fw0-vm1'))).status, { code: 205, message: 'NO_VM' });
  t.is(st(await c.ok('GetFirewallRule', fwIdReq('invalid', 'fw0-vm1'))), 205);
  t.is(st(await c.ok('ListFirewallRules', idReq('invalid'))), 205);
  t.is(st(await c.ok('DeleteFirewallRule', fwIdReq('invalid', 'fw0-vm1'))), 205);
  t.deepEqual((await c.ok('CreateFirewallRule', fwReq(VM1.id, 'fw0-vm1', { action: DROP }))).status, { code: 441, message: 'NO_DROP_SUPPORT' });
  t.deepEqual((await c.ok('ListFirewallRules', idReq(VM1.id))).rules, []);
  // a used id is reported before the DROP refusal, as upstream checks
  await c.ok('CreateFirewallRule', fwReq(VM1.id, 'fw0-vm1'));
  t.is(st(await c.ok('CreateFirewallRule', fwReq(VM1.id, 'fw0-vm1', { action: DROP }))), 202);
});

test('an IPv6 rule reads back its real prefix lengths (upstream reports /64 as /32, a bug not copied)', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  await c.ok('CreateFirewallRule', fwReq(VM1.id, 'v6', { src: '2001:db8::/64', dst: 'fd00::1/128', filter: {} }));
  const r = (await c.ok('GetFirewallRule', fwIdReq(VM1.id, 'v6'))).rule!;
  t.deepEqual([ipStr(r.source_prefix!.ip), r.source_prefix!.length], ['6:2001:db8::', 64]);
  t.deepEqual([ipStr(r.destination_prefix!.ip), r.destination_prefix!.length], ['6:fd00::1', 128]);
  t.is(r.protocol_filter!.filter, undefined, 'no layer-4 filter');
  t.deepEqual(r.protocol_filter, {});
});

test('ICMP, UDP and port-range filters read back as given, -1 meaning any', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  await c.ok('CreateFirewallRule', fwReq(VM1.id, 'icmp', { filter: { icmp: { icmp_type: 8, icmp_code: -1 } } }));
  await c.ok('CreateFirewallRule', fwReq(VM1.id, 'udp', {
    filter: { udp: { src_port_lower: -1, src_port_upper: -1, dst_port_lower: 53, dst_port_upper: 53 } },
  }));
  await c.ok('CreateFirewallRule', fwReq(VM1.id, 'tcp', {
    filter: { tcp: { src_port_lower: 1024, src_port_upper: 65535, dst_port_lower: 0, dst_port_upper: 0 } },
    priority: 65535,
  }));
  const get = async (id: string): Promise<FirewallRuleMsg> => (await c.ok('GetFirewallRule', fwIdReq(VM1.id, id))).rule!;
  t.deepEqual((await get('icmp')).protocol_filter!.icmp, { icmp_type: 8, icmp_code: -1 });
  t.deepEqual((await get('udp')).protocol_filter!.udp, { src_port_lower: -1, src_port_upper: -1, dst_port_lower: 53, dst_port_upper: 53 });
  const tcp = await get('tcp');
  t.deepEqual(tcp.protocol_filter!.tcp, { src_port_lower: 1024, src_port_upper: 65535, dst_port_lower: 0, dst_port_upper: 0 });
  t.is(tcp.priority, 65535);
});

test('rule ids are per interface, and deleting an interface drops its rules', async (t) => {
  const c = await setup(t);
  await addVms(c, VM1, VM2);
  await c.ok('CreateFirewallRule', fwReq(VM1.id, 'same'));
  t.is(st(await c.ok('CreateFirewallRule', fwReq(VM2.id, 'same'))), 0);
  await c.ok('DeleteInterface', idReq(VM1.id));
  await addVm(c, VM1);
  t.deepEqual((await c.ok('ListFirewallRules', idReq(VM1.id))).rules, []);
  t.is((await c.ok('ListFirewallRules', idReq(VM2.id))).rules!.length, 1);
});

const fwWith = (o: FwOpts): object => fwReq('vm1', 'r', o);
const ruleWith = (patch: object): object => ({ interface_id: text('vm1'), rule: { ...fwRule('r'), ...patch } });
invalidTable('firewall', [
  ['CreateFirewallRule', 'an empty interface id', fwReq('', 'r'), 'Invalid interface_id'],
  ['CreateFirewallRule', 'an empty rule id', fwReq('vm1', ''), 'Invalid rule id'],
  ['CreateFirewallRule', 'a 64-character rule id', fwReq('vm1', 'r'.repeat(64)), 'Invalid rule id'],
  ['CreateFirewallRule', 'a missing rule', { interface_id: text('vm1') }, 'Invalid rule id'],
  ['CreateFirewallRule', 'an unknown source ipver', ruleWith({ source_prefix: { ip: { ipver: 2, address: text('1.2.3.4') }, length: 8 } }), 'Invalid source_prefix.ip.ipver'],
  ['CreateFirewallRule', 'a missing source prefix', ruleWith({ source_prefix: null }), 'Invalid source_prefix.ip'],
  ['CreateFirewallRule', 'a source /33', fwWith({ src: '1.2.3.4/33' }), 'Invalid source_prefix.length'],
  ['CreateFirewallRule', 'a source /129', fwWith({ src: '2001::/129' }), 'Invalid ip6 source_prefix.length'],
  ['CreateFirewallRule', 'an unknown destination ipver', ruleWith({ destination_prefix: { ip: { ipver: 5, address: text('::') }, length: 0 } }), 'Invalid destination_prefix.ip.ipver'],
  ['CreateFirewallRule', 'a missing destination prefix', ruleWith({ destination_prefix: null }), 'Invalid destination_prefix.ip'],
  ['CreateFirewallRule', 'a destination /40', fwWith({ dst: '10.0.0.0/40' }), 'Invalid destination_prefix.length'],
  ['CreateFirewallRule', 'a destination /200', fwWith({ dst: '::/200' }), 'Invalid ip6 destination_prefix.length'],
  ['CreateFirewallRule', 'direction 2', fwWith({ direction: 2 }), 'Invalid direction'],
  ['CreateFirewallRule', 'action 2', fwWith({ action: 2 }), 'Invalid action'],
  ['CreateFirewallRule', 'priority 65536', fwWith({ priority: 65536 }), 'Invalid priority'],
  ['CreateFirewallRule', 'a TCP source port 65536', fwWith({ filter: { tcp: { ...ANY_PORTS, src_port_lower: 65536 } } }), 'Invalid tcp.src_port_lower'],
  ['CreateFirewallRule', 'a TCP destination port -2', fwWith({ filter: { tcp: { ...ANY_PORTS, dst_port_lower: -2 } } }), 'Invalid tcp.dst_port_lower'],
  ['CreateFirewallRule', 'a TCP source upper bound 70000', fwWith({ filter: { tcp: { ...ANY_PORTS, src_port_upper: 70000 } } }), 'Invalid tcp.src_port_upper'],
  ['CreateFirewallRule', 'a TCP destination upper bound -5', fwWith({ filter: { tcp: { ...ANY_PORTS, dst_port_upper: -5 } } }), 'Invalid tcp.dst_port_upper'],
  ['CreateFirewallRule', 'a reversed TCP source range', fwWith({ filter: { tcp: { ...ANY_PORTS, src_port_lower: 10, src_port_upper: 5 } } }), 'Invalid tcp.src_port range'],
  ['CreateFirewallRule', 'a reversed TCP destination range', fwWith({ filter: { tcp: { ...ANY_PORTS, dst_port_lower: 80, dst_port_upper: 79 } } }), 'Invalid tcp.dst_port range'],
  ['CreateFirewallRule', 'a UDP source port 65536', fwWith({ filter: { udp: { ...ANY_PORTS, src_port_lower: 65536 } } }), 'Invalid udp.src_port_lower'],
  ['CreateFirewallRule', 'a reversed UDP destination range', fwWith({ filter: { udp: { ...ANY_PORTS, dst_port_lower: 2, dst_port_upper: 1 } } }), 'Invalid udp.dst_port range'],
  ['CreateFirewallRule', 'ICMP type 256', fwWith({ filter: { icmp: { icmp_type: 256, icmp_code: 0 } } }), 'Invalid icmp.icmp_type'],
  ['CreateFirewallRule', 'ICMP code -2', fwWith({ filter: { icmp: { icmp_type: 0, icmp_code: -2 } } }), 'Invalid icmp.icmp_code'],
  ['GetFirewallRule', 'an empty rule id', fwIdReq('vm1', ''), 'Invalid rule_id'],
  ['GetFirewallRule', 'an empty interface id', fwIdReq('', 'r'), 'Invalid interface_id'],
  ['DeleteFirewallRule', 'a 64-character rule id', fwIdReq('vm1', 'd'.repeat(64)), 'Invalid rule_id'],
  ['ListFirewallRules', 'an empty interface id', idReq(''), 'Invalid interface_id'],
]);

// ---- VNIs ----------------------------------------------------------------------------------------

test('CheckVniInUse answers for VNI_IPV4 and VNI_IPV6; VNI_BOTH is WRONG_TYPE (upstream test_grpc_vni)', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  for (const type of [0, 1]) {
    const yes = await c.ok('CheckVniInUse', { vni: VM1.vni, type });
    t.deepEqual([yes.status, yes.in_use], [{ code: 0, message: 'Success' }, true]);
    t.false((await c.ok('CheckVniInUse', { vni: 999, type })).in_use);
  }
  const both = await c.ok('CheckVniInUse', { vni: VM1.vni, type: 2 });
  t.deepEqual([both.status, both.in_use], [{ code: 203, message: 'WRONG_TYPE' }, false]);
  const bad = await c.call('CheckVniInUse', { vni: VM1.vni, type: 3 });
  t.deepEqual([bad.grpc, bad.details], [grpc.status.INVALID_ARGUMENT, 'Invalid type']);
});

test('ResetVni takes VNI_BOTH only and empties the VNI but for its interfaces (upstream test_grpc_vni_reset, test_vni_reset)', async (t) => {
  const c = await setup(t);
  await c.ok('CreateInterface', ifaceReq(VM4.id, VM4.dev, 999, VM4.ip, VM4.ipv6));
  await addVm(c, VM1);
  for (const p of ['10.0.0.0/8', '0.0.0.0/0', '::/0']) await c.ok('CreateRoute', routeReq(999, p));
  await c.ok('CreateRoute', routeReq(VM1.vni, '10.0.0.0/8'));
  t.is((await c.ok('ListRoutes', { vni: 999 })).routes!.length, 2);
  for (const type of [0, 1]) t.deepEqual((await c.ok('ResetVni', { vni: 999, type })).status, { code: 203, message: 'WRONG_TYPE' });
  t.is(st(await c.ok('ResetVni', { vni: 12345, type: 2 })), 0, 'a VNI not in use is fine');
  t.is(st(await c.ok('ResetVni', { vni: 999, type: 2 })), 0);
  t.deepEqual((await c.ok('ListRoutes', { vni: 999 })).routes, []);
  t.deepEqual(c.srv.registry.listRoutes(999, 'ipv6'), []);
  t.is((await c.ok('ListRoutes', { vni: VM1.vni })).routes!.length, 1, 'other VNIs are untouched');
  t.is(st(await c.ok('CreateRoute', routeReq(999, `${VM4.ip}/32`))), 301, "the interface's own route is back");
  const bad = await c.call('ResetVni', { vni: 999, type: 7 });
  t.deepEqual([bad.grpc, bad.details], [grpc.status.INVALID_ARGUMENT, 'Invalid type']);
});

// ---- capture -------------------------------------------------------------------------------------

function captureReq(ifaces: object[], sink = 'fc00:5::1', src = 3000, dst = 3001): object {
  return { capture_config: { sink_node_ip: ip6(sink), udp_src_port: src, udp_dst_port: dst, interfaces: ifaces } };
}
const pfCap = (pf_index: number): object => ({ interface_type: 0, pf_index });
const vfCap = (id: string): object => ({ interface_type: 1, vf_name: text(id) });

test('capture starts, reports its ports PFs first, refuses a second start (ALREADY_ACTIVE) and stops once (NOT_ACTIVE after)', async (t) => {
  const c = await setup(t);
  await addVms(c, VM4, VM1);
  t.deepEqual((await c.ok('CaptureStatus')).is_active, false);
  t.is((await c.ok('CaptureStatus')).capture_config, null);
  t.deepEqual((await c.ok('CaptureStart', captureReq([vfCap(VM4.id), pfCap(1), vfCap(VM1.id), pfCap(0)]))).status, { code: 0, message: 'Success' });
  const s = await c.ok('CaptureStatus');
  t.true(s.is_active);
  const cfg = s.capture_config!;
  t.deepEqual([ipStr(cfg.sink_node_ip), cfg.udp_src_port, cfg.udp_dst_port], ['6:fc00:5::1', 3000, 3001]);
  t.deepEqual(
    cfg.interfaces.map((i) => (i.interface_type === 0 ? `pf${i.pf_index}` : `vf:${str(i.vf_name)}`)),
    ['pf0', 'pf1', 'vf:vm1', 'vf:vm4'],
  );
  t.deepEqual((await c.ok('CaptureStart', captureReq([pfCap(0)]))).status, { code: 210, message: 'ALREADY_ACTIVE' });
  const stop = await c.ok('CaptureStop');
  t.deepEqual([stop.status.code, stop.stopped_interface_cnt], [0, 4]);
  t.deepEqual((await c.ok('CaptureStop')).status, { code: 211, message: 'NOT_ACTIVE' });
  t.false((await c.ok('CaptureStatus')).is_active);
});

test('without offloading (--no-offload) capture is NOT_ACTIVE, as upstream', async (t) => {
  const c = await setup(t, { registry: { offload: false } });
  t.deepEqual((await c.ok('CaptureStart', captureReq([pfCap(0)]))).status, { code: 211, message: 'NOT_ACTIVE' });
  t.false((await c.ok('CaptureStatus')).is_active);
  t.is(st(await c.ok('CaptureStop')), 211);
});

test('capturing an unknown interface or PF is NOT_FOUND and leaves capture off', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  t.deepEqual((await c.ok('CaptureStart', captureReq([pfCap(0), vfCap('nope')]))).status, { code: 201, message: 'NOT_FOUND' });
  t.is(st(await c.ok('CaptureStart', captureReq([pfCap(2)]))), 201);
  t.false((await c.ok('CaptureStatus')).is_active);
  t.is(st(await c.ok('CaptureStart', captureReq([]))), 0, 'no ports at all is fine');
  t.is((await c.ok('CaptureStop')).stopped_interface_cnt, 0);
});

test('at most 16 interfaces are captured; a deleted interface leaves the capture', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  const sixteen = [vfCap(VM1.id), ...Array.from({ length: 15 }, () => pfCap(0))];
  t.is(st(await c.ok('CaptureStart', captureReq(sixteen))), 0);
  t.is((await c.ok('CaptureStatus')).capture_config!.interfaces.length, 2, 'duplicates are one port');
  await c.ok('DeleteInterface', idReq(VM1.id));
  t.deepEqual((await c.ok('CaptureStatus')).capture_config!.interfaces.map((i) => i.interface_type), [0]);
  t.is((await c.ok('CaptureStop')).stopped_interface_cnt, 1);
  const out = await c.call('CaptureStart', captureReq([...sixteen, pfCap(1)]));
  t.deepEqual([out.grpc, out.details], [grpc.status.INVALID_ARGUMENT, 'Too many interfaces to be captured']);
});

invalidTable('capture', [
  ['CaptureStart', 'UDP source port 65536', captureReq([], 'fc00:5::1', 65536), 'Invalid udp_src_port'],
  ['CaptureStart', 'UDP destination port 65536', captureReq([], 'fc00:5::1', 1, 65536), 'Invalid udp_dst_port'],
  ['CaptureStart', 'an IPv4 sink', captureReq([], '10.0.0.1'), 'Invalid sink_node_ip'],
  ['CaptureStart', 'no configuration', {}, 'Invalid sink_node_ip'],
  ['CaptureStart', 'an unknown interface type', captureReq([{ interface_type: 2, pf_index: 0 }]), 'Invalid interfaces.interface_type'],
  ['CaptureStart', 'a VF without a name', captureReq([{ interface_type: 1 }]), 'Invalid interface_id'],
  ['CaptureStart', 'a VF name of 64 characters', captureReq([vfCap('n'.repeat(64))]), 'Invalid interface_id'],
  ['CaptureStart', 'PF index 256', captureReq([pfCap(256)]), 'Invalid pf_index'],
]);

// ---- interface deletion and change events --------------------------------------------------------

test('deleting an interface removes its prefixes, LB prefixes, VIP, NAT and rules, freeing every address', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1);
  await c.ok('CreatePrefix', prefixReq(VM1.id, '1.2.3.0/24', 'fc00:1::c000:0:1'));
  await c.ok('CreateLoadBalancerPrefix', prefixReq(VM1.id, '1.2.4.0/24', 'fc00:1::c000:0:2'));
  await c.ok('CreateVip', { interface_id: text(VM1.id), vip_ip: ip4(VIP), preferred_underlay_route: text('fc00:1::c000:0:3') });
  await c.ok('CreateNat', natReq(VM1.id, NAT_IP, 100, 200, 'fc00:1::c000:0:4'));
  await c.ok('CreateFirewallRule', fwReq(VM1.id, 'fw'));
  t.is(c.srv.registry.vnf.size, 5);
  await c.ok('DeleteInterface', idReq(VM1.id));
  t.is(c.srv.registry.vnf.size, 0, 'no underlay address is left');
  t.deepEqual(c.srv.registry.dnatEntries(), []);
  t.deepEqual((await c.ok('ListLocalNats', { nat_ip: ip4('0.0.0.0') })).nat_entries, []);
  await addVm(c, VM2);
  t.is(st(await c.ok('CreatePrefix', prefixReq(VM2.id, '1.2.3.0/24', 'fc00:1::c000:0:1'))), 0, 'the route and the address were freed');
  t.is(st(await c.ok('CreateVip', { interface_id: text(VM2.id), vip_ip: ip4(VIP), preferred_underlay_route: text('fc00:1::c000:0:3') })), 0);
  await addVm(c, VM1);
  for (const rpc of ['ListPrefixes', 'ListLoadBalancerPrefixes', 'ListFirewallRules']) {
    const r = await c.ok(rpc, idReq(VM1.id));
    t.deepEqual([st(r), (r.prefixes ?? r.rules)!.length], [0, 0], rpc);
  }
  t.is(st(await c.ok('GetVip', idReq(VM1.id))), 341);
  t.is(st(await c.ok('GetNat', idReq(VM1.id))), 341);
});

test('changes reach a subscriber in order before the call answers; refused calls record nothing', async (t) => {
  const c = await setup(t);
  const seen: string[] = [];
  let pending = 0;
  c.srv.registry.changes.subscribe(async (batch) => {
    pending++;
    await new Promise((r) => setTimeout(r, 20));
    for (const ch of batch) seen.push(ch.kind);
    pending--;
  });
  await addVm(c, VM1);
  t.is(pending, 0, 'the answer came after the listener finished');
  t.deepEqual(seen.splice(0), ['vni-added', 'vnf-added', 'route-added', 'route-added', 'interface-added']);
  await c.ok('CreateVip', { interface_id: text(VM1.id), vip_ip: ip6('::1') });
  await c.ok('CreatePrefix', prefixReq(VM1.id, `${VM1.ip}/32`));
  t.deepEqual(seen.splice(0), [], 'refusals change nothing');
  await c.ok('CreateNat', natReq(VM1.id, NAT_IP, 100, 200));
  t.deepEqual(seen.splice(0), ['vnf-added', 'dnat-added', 'nat-added']);
  await c.ok('CreateLoadBalancer', lbReq('lb', 7, LB_IP, [[TCP, 80]]));
  await c.ok('CreateLoadBalancerTarget', targetReq('lb', '1234::1'));
  t.deepEqual(seen.splice(0), ['vni-added', 'vnf-added', 'lb-added', 'lb-target-added']);
  await c.ok('CreateFirewallRule', fwReq(VM1.id, 'fw'));
  await c.ok('DeleteInterface', idReq(VM1.id));
  t.deepEqual(seen.splice(0), [
    'firewall-rule-added',
    'firewall-rule-removed',
    'vnf-removed',
    'dnat-removed',
    'nat-removed',
    'route-removed',
    'route-removed',
    'vnf-removed',
    'interface-removed',
    'vni-removed',
  ]);
  await c.ok('Initialize');
  t.deepEqual(seen.splice(0), ['vni-routes-reset']);
});

test('change events carry what the packet path needs', async (t) => {
  const c = await setup(t);
  const changes: RegistryChange[] = [];
  c.srv.registry.changes.subscribe((batch) => void changes.push(...batch));
  await addVm(c, VM1);
  const ul = str((await c.ok('CreatePrefix', prefixReq(VM1.id, '10.9.0.0/16'))).underlay_route);
  await c.ok('CreateNeighborNat', neighReq(NAT_IP, VM1.vni, 500, 600));
  await c.ok('CreateLoadBalancer', lbReq('lb', VM1.vni, LB_IP, [[TCP, 80]]));
  await c.ok('CreateLoadBalancerTarget', targetReq('lb', '1234::2'));
  await c.ok('CreateLoadBalancerTarget', targetReq('lb', '1234::1'));
  const route = changes.find((x) => x.kind === 'route-added' && x.route.length === 16);
  t.like(route, { route: { vni: VM1.vni, port: 2 } });
  const vnf = changes.find((x) => x.kind === 'vnf-added' && x.entry.type === 6);
  t.truthy(vnf);
  if (vnf?.kind === 'vnf-added') {
    t.is(formatIpv6(vnf.address), ul);
    t.deepEqual([vnf.entry.vni, vnf.entry.port, vnf.entry.prefixLength], [VM1.vni, 2, 16]);
  }
  const neigh = changes.find((x) => x.kind === 'neighbor-nat-added');
  t.like(neigh, { entry: { natIp: 0xac150101, vni: VM1.vni, minPort: 500, maxPort: 600 } });
  const targets = changes.filter((x) => x.kind === 'lb-target-added');
  const last = targets[targets.length - 1];
  t.deepEqual(last?.kind === 'lb-target-added' ? last.lb.targets.map((x) => formatIpv6(x)) : [], ['1234::1', '1234::2'], 'the sorted set to rebuild Maglev from');
});

test('a failing change listener is logged and the call still answers', async (t) => {
  const c = await setup(t);
  c.srv.registry.changes.subscribe(() => {
    throw new Error('table full');
  });
  t.is(st(await addVm(c, VM1)), 0);
  t.true(c.logLines.some((l) => l.level === 50 && String(l.msg).includes('applying the changes')));
  t.is(st(await c.ok('GetInterface', idReq(VM1.id))), 0);
});

// ---- reflection ----------------------------------------------------------------------------------

test('server reflection lists the dpservice, health and reflection services (grpcurl list)', async (t) => {
  const c = await setup(t, { init: false });
  const require = createRequire(import.meta.url);
  const reflectionProto = join(dirname(require.resolve('@grpc/reflection')), '..', 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto');
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto, LOADER));
  const Reflection = (((pkg.grpc as grpc.GrpcObject).reflection as grpc.GrpcObject).v1 as grpc.GrpcObject)
    .ServerReflection as grpc.ServiceClientConstructor;
  const rc = new Reflection(`127.0.0.1:${c.srv.port}`, grpc.credentials.createInsecure());
  t.teardown(() => rc.close());
  const ask = (req: object): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const stream = (rc as unknown as Record<string, () => grpc.ClientDuplexStream<object, Record<string, unknown>>>).ServerReflectionInfo!.call(rc);
      stream.on('data', (m: Record<string, unknown>) => {
        resolve(m);
        stream.end();
      });
      stream.on('error', reject);
      stream.write(req);
    });
  const listed = await ask({ list_services: '' });
  const names = (listed.list_services_response as { service: Array<{ name: string }> }).service.map((s) => s.name);
  t.true(names.includes('dpdkironcore.v1.DPDKironcore'));
  t.true(names.includes('grpc.health.v1.Health'));
  const file = await ask({ file_containing_symbol: 'dpdkironcore.v1.DPDKironcore' });
  const fds = (file.file_descriptor_response as { file_descriptor_proto: Buffer[] }).file_descriptor_proto;
  t.true(fds.length > 0, 'the service can be described');
  t.true(fds.some((b) => b.toString('latin1').includes('CreateLoadBalancerTarget')));
});

// ---- everything else -----------------------------------------------------------------------------

test('every RPC is implemented: an empty request never answers UNIMPLEMENTED', async (t) => {
  const c = await setup(t);
  for (const rpc of ALL_RPCS) {
    const out = await c.call(rpc);
    t.not(out.grpc, grpc.status.UNIMPLEMENTED, rpc);
    t.true(out.grpc === 0 || out.grpc === grpc.status.INVALID_ARGUMENT, `${rpc}: ${out.grpc} ${out.details}`);
  }
});

test('every RPC is logged at info level with its parameters', async (t) => {
  const c = await setup(t);
  await addVm(c, VM1, { hostname: 'logged-host' });
  await c.call('CreateVip', { interface_id: text('vm1') });
  const lines = c.logLines.filter((l) => typeof l.rpc === 'string' && l.request !== undefined);
  t.deepEqual(lines.map((l) => l.rpc), ['Initialize', 'CreateInterface', 'CreateVip']);
  t.true(lines.every((l) => l.level === 30 && l.logger === 'grpc'));
  const req = lines[1]!.request as Record<string, unknown>;
  t.is(req.interface_id, 'vm1', 'bytes fields are logged as text');
  t.is(req.hostname, 'logged-host');
});

test('health Check reports SERVING for "" and the dpservice service and SERVICE_UNKNOWN otherwise', async (t) => {
  const c = await setup(t, { init: false });
  const hc = new HealthClient(`127.0.0.1:${c.srv.port}`, grpc.credentials.createInsecure());
  t.teardown(() => hc.close());
  const check = (service: string): Promise<number> =>
    new Promise((resolve, reject) =>
      (hc as unknown as Record<string, (r: object, cb: (e: Error | null, r: { status: number }) => void) => void>).Check!.call(
        hc,
        { service },
        (e, r) => (e ? reject(e) : resolve(r.status)),
      ),
    );
  t.is(await check(''), 1);
  t.is(await check('dpdkironcore.v1.DPDKironcore'), 1);
  t.is(await check('foo'), 3);
  c.srv.setServing(false);
  t.is(await check(''), 2);
});

test('health Watch streams the current status and then changes; unknown services are NOT_FOUND', async (t) => {
  const c = await setup(t);
  const hc = new HealthClient(`127.0.0.1:${c.srv.port}`, grpc.credentials.createInsecure());
  t.teardown(() => hc.close());
  const watch = (service: string): grpc.ClientReadableStream<{ status: number }> =>
    (hc as unknown as Record<string, (r: object) => grpc.ClientReadableStream<{ status: number }>>).Watch!.call(hc, { service });

  const stream = watch('');
  const seen: number[] = [];
  await new Promise<void>((resolve) => {
    stream.on('data', (m: { status: number }) => {
      seen.push(m.status);
      if (seen.length === 1) c.srv.setServing(false);
      if (seen.length === 2) resolve();
    });
  });
  t.deepEqual(seen, [1, 2]);
  stream.on('error', () => undefined);  // the client's own cancel surfaces as CANCELLED
  stream.cancel();

  const unknown = watch('foo');
  const err = await new Promise<grpc.ServiceError>((resolve) => unknown.on('error', resolve));
  t.is(err.code, grpc.status.NOT_FOUND);
});

test('close ends running health watches and stops the server', async (t) => {
  const c = await setup(t);
  const hc = new HealthClient(`127.0.0.1:${c.srv.port}`, grpc.credentials.createInsecure());
  t.teardown(() => hc.close());
  const stream = (hc as unknown as Record<string, (r: object) => grpc.ClientReadableStream<{ status: number }>>).Watch!.call(hc, { service: '' });
  await new Promise((resolve) => stream.once('data', resolve));
  const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
  await c.srv.close();
  t.is((await ended).code, grpc.status.CANCELLED);
  const out = await c.call('CheckInitialized');
  t.is(out.grpc, grpc.status.UNAVAILABLE);
});

// ---- properties ----------------------------------------------------------------------------------

const ANSWER_CODES = new Set([0, ...DP_ERROR_CODES]);

test('random CreateInterface and CreateRoute requests never crash the server and always answer a known code', async (t) => {
  const c = await setup(t);
  const maybeIp = fc.oneof(
    fc.ipV4(),
    fc.ipV6(),
    fc.constantFrom('0.0.0.0', '::', '', '1.2.3', 'fc00:1::8000:0:1', 'fc00:1::d000:0:1', '10.0.0.1\0x'),
    fc.string({ maxLength: 12 }),
  );
  const bytesOf = (s: string): Buffer => Buffer.from(s, 'utf8');
  const iface = fc.record({
    interface_id: fc.oneof(fc.constantFrom('vm1', 'vm2', 'vm-3', ''), fc.string({ maxLength: 70 })).map(bytesOf),
    vni: fc.oneof(fc.constantFrom(0, 1, 100), fc.nat({ max: 0xffffffff })),
    device_name: fc.oneof(fc.constantFrom('net_tap2', 'net_tap3', 'net_tap9', ''), fc.string({ maxLength: 70 })),
    ipv4_config: fc.record({ primary_address: maybeIp.map(bytesOf) }),
    ipv6_config: fc.record({ primary_address: maybeIp.map(bytesOf) }),
    pxe_config: fc.record({ next_server: maybeIp, boot_filename: fc.string({ maxLength: 40 }) }),
    preferred_underlay_route: maybeIp.map(bytesOf),
    hostname: fc.string({ maxLength: 70 }),
    metering_parameters: fc.record({
      total_rate: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(String),
      public_rate: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(String),
    }),
  });
  const route = fc.record({
    vni: fc.oneof(fc.constantFrom(0, 1, 100), fc.nat({ max: 0xffffffff })),
    route: fc.record({
      prefix: fc.record({
        ip: fc.record({ ipver: fc.constantFrom(0, 1, 2), address: maybeIp.map(bytesOf) }),
        length: fc.oneof(fc.nat({ max: 130 }), fc.nat({ max: 0xffffffff })),
      }),
      nexthop_vni: fc.nat({ max: 0xffffffff }),
      nexthop_address: fc.record({ ipver: fc.constantFrom(0, 1), address: maybeIp.map(bytesOf) }),
      weight: fc.nat({ max: 100 }),
    }),
  });
  const request = fc.oneof(
    iface.map((r) => ['CreateInterface', r] as const),
    route.map((r) => ['CreateRoute', r] as const),
    route.map((r) => ['DeleteRoute', r] as const),
  );
  await fc.assert(
    fc.asyncProperty(request, async ([rpc, req]) => {
      const out = await c.call(rpc, req);
      if (out.grpc === grpc.status.INVALID_ARGUMENT) return out.details.startsWith('Invalid ');
      return out.grpc === 0 && ANSWER_CODES.has(out.res.status.code);
    }),
    { numRuns: 300 },
  );
  // and it still works
  t.is((await c.ok('ListInterfaces')).status.code, 0);
  t.false(c.logLines.some((l) => l.level === 50), 'no handler crashed');
});

/** Every INVALID_ARGUMENT message upstream's request checks produce. */
const VALIDATION_MESSAGE = /^(Invalid [a-z0-9_. ]+|Invalid ip6 (source|destination)_prefix\.length|Too many (loadbalanced_ports|interfaces to be captured)|Duplicate loadbalanced_ports entry|VNI exceeds 24-bit range)$/;

test('random requests to the object RPCs never crash the server and answer a known code or an upstream validation message', async (t) => {
  const c = await setup(t);
  await addVms(c, VM1, VM2);
  const bytesOf = (s: string): Buffer => Buffer.from(s, 'utf8');
  const addr = fc.oneof(
    fc.ipV4(),
    fc.ipV6(),
    fc.constantFrom('0.0.0.0', '::', '', '1.2.3', NAT_IP, VIP, LB_IP, '1234::1', NEIGH_UL, PREFERRED_UL, 'fc00:1::d000:0:1'),
    fc.string({ maxLength: 10 }),
  );
  const ip = fc.record({ ipver: fc.constantFrom(0, 1, 1, 2), address: addr.map(bytesOf) });
  const id = fc.oneof(fc.constantFrom('vm1', 'vm2', 'vm9', 'lb1', 'lb2', 'r1', ''), fc.string({ maxLength: 70 })).map(bytesOf);
  const u32 = fc.oneof(fc.nat({ max: 70000 }), fc.nat({ max: 0xffffffff }));
  const i32 = fc.oneof(fc.integer({ min: -3, max: 70000 }), fc.integer({ min: -0x80000000, max: 0x7fffffff }));
  const prefix = fc.record({ ip, length: fc.oneof(fc.nat({ max: 130 }), u32) });
  const underlay = fc.oneof(addr, fc.constant('')).map(bytesOf);
  const portFilter = fc.record({ src_port_lower: i32, src_port_upper: i32, dst_port_lower: i32, dst_port_upper: i32 });
  const filter = fc.oneof(
    fc.constant({}),
    fc.record({ tcp: portFilter }),
    fc.record({ udp: portFilter }),
    fc.record({ icmp: fc.record({ icmp_type: i32, icmp_code: i32 }) }),
  );
  const req = fc.oneof(
    fc.record({ interface_id: id, prefix, preferred_underlay_route: underlay }).chain((r) =>
      fc.constantFrom('CreatePrefix', 'DeletePrefix', 'CreateLoadBalancerPrefix', 'DeleteLoadBalancerPrefix').map((rpc) => [rpc, r] as const)),
    fc.record({ interface_id: id }).chain((r) =>
      fc.constantFrom('ListPrefixes', 'ListLoadBalancerPrefixes', 'GetVip', 'DeleteVip', 'GetNat', 'DeleteNat', 'ListFirewallRules').map((rpc) => [rpc, r] as const)),
    fc.record({ interface_id: id, vip_ip: ip, preferred_underlay_route: underlay }).map((r) => ['CreateVip', r] as const),
    fc.record({ interface_id: id, nat_ip: ip, min_port: u32, max_port: u32, preferred_underlay_route: underlay }).map((r) => ['CreateNat', r] as const),
    fc.record({ nat_ip: ip, vni: u32, min_port: u32, max_port: u32, underlay_route: underlay }).chain((r) =>
      fc.constantFrom('CreateNeighborNat', 'DeleteNeighborNat').map((rpc) => [rpc, r] as const)),
    fc.record({ nat_ip: ip }).chain((r) => fc.constantFrom('ListLocalNats', 'ListNeighborNats').map((rpc) => [rpc, r] as const)),
    fc.record({
      loadbalancer_id: id,
      vni: u32,
      loadbalanced_ip: ip,
      loadbalanced_ports: fc.array(fc.record({ port: u32, protocol: fc.constantFrom(0, 1, 6, 17, 58, 132, 99) }), { maxLength: 17 }),
      preferred_underlay_route: underlay,
    }).map((r) => ['CreateLoadBalancer', r] as const),
    fc.record({ loadbalancer_id: id }).chain((r) =>
      fc.constantFrom('GetLoadBalancer', 'DeleteLoadBalancer', 'ListLoadBalancers', 'ListLoadBalancerTargets').map((rpc) => [rpc, r] as const)),
    fc.record({ loadbalancer_id: id, target_ip: ip }).chain((r) =>
      fc.constantFrom('CreateLoadBalancerTarget', 'DeleteLoadBalancerTarget').map((rpc) => [rpc, r] as const)),
    fc.record({ vni: u32, type: fc.oneof(fc.nat({ max: 3 }), u32) }).chain((r) =>
      fc.constantFrom('CheckVniInUse', 'ResetVni').map((rpc) => [rpc, r] as const)),
    fc.record({
      interface_id: id,
      rule: fc.record({
        id,
        direction: fc.nat({ max: 3 }),
        action: fc.nat({ max: 3 }),
        priority: u32,
        source_prefix: prefix,
        destination_prefix: prefix,
        protocol_filter: filter,
      }),
    }).map((r) => ['CreateFirewallRule', r] as const),
    fc.record({ interface_id: id, rule_id: id }).chain((r) =>
      fc.constantFrom('GetFirewallRule', 'DeleteFirewallRule').map((rpc) => [rpc, r] as const)),
    fc.record({
      capture_config: fc.record({
        sink_node_ip: ip,
        udp_src_port: u32,
        udp_dst_port: u32,
        interfaces: fc.array(
          fc.oneof(
            fc.record({ interface_type: fc.nat({ max: 3 }), pf_index: u32 }),
            fc.record({ interface_type: fc.nat({ max: 3 }), vf_name: id }),
          ),
          { maxLength: 18 },
        ),
      }),
    }).map((r) => ['CaptureStart', r] as const),
    fc.constantFrom('CaptureStop', 'CaptureStatus', 'Initialize').map((rpc) => [rpc, {}] as const),
  );
  await fc.assert(
    fc.asyncProperty(req, async ([rpc, r]) => {
      const out = await c.call(rpc, r);
      if (out.grpc === grpc.status.INVALID_ARGUMENT) return VALIDATION_MESSAGE.test(out.details);
      return out.grpc === 0 && ANSWER_CODES.has(out.res.status.code) && out.res.status.message !== 'Invalid gRPC error code';
    }),
    { numRuns: 600 },
  );
  t.is((await c.ok('ListInterfaces')).interfaces!.length, 2, 'still serving');
  t.false(c.logLines.some((l) => l.level === 50), 'no handler crashed');
});
