import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { protoPath, startControl, type ControlServer } from '../../src/actors/control.js';
import type { DataplaneApi } from '../../src/actors/dataplane-api.js';
import { DP_ERROR_CODES, DpErrorCode } from '../../src/actors/errors.js';
import type { RegistryOptions } from '../../src/actors/registry.js';
import { parseIpv6 } from '../../src/actors/underlay.js';
import type { InterfaceConfig } from '../../src/tables/port-table.js';

// ---- fixtures ----------------------------------------------------------------------------------

const HOST_IPV6 = 'fc00:1::';
const VERSION = 'v0.4.0-test';

/** In-memory dataplane: VM ports net_tap2..net_tap5 are ports 2..5. */
class FakeDataplane implements DataplaneApi {
  readonly hostIpv6 = parseIpv6(HOST_IPV6)!;
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

const IMPLEMENTED = new Set([
  'Initialize', 'CheckInitialized', 'GetVersion', 'CreateInterface', 'DeleteInterface', 'GetInterface',
  'ListInterfaces', 'CreateRoute', 'DeleteRoute', 'ListRoutes',
]);
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

// ---- everything else -----------------------------------------------------------------------------

test('every RPC not implemented yet answers UNIMPLEMENTED saying so', async (t) => {
  const c = await setup(t);
  const missing = ALL_RPCS.filter((r) => !IMPLEMENTED.has(r));
  t.is(missing.length, 32);
  for (const rpc of missing) {
    const out = await c.call(rpc);
    t.is(out.grpc, grpc.status.UNIMPLEMENTED, rpc);
    t.is(out.details, `${rpc} is not implemented yet`);
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
