/**
 * dpservice-cli (child process) against the real control server (in-process, fake dataplane): the
 * commands the service implements today, tables, the three error sources with their exit codes,
 * the launcher, and the same output as the conformance stand-in of upstream's Go CLI.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { protoPath, startControl, type ControlServer } from '../../src/actors/control.js';
import type { DataplaneApi } from '../../src/actors/dataplane-api.js';
import { parseIpv6 } from '../../src/actors/underlay.js';
import { ROOT } from '../../src/cli/host-tools.js';
import { VERSION } from '../../src/config/options.js';
import type { InterfaceConfig } from '../../src/tables/port-table.js';
import { limited, type Run } from './child-limit.js';

const CLI = resolve('dist/src/cli/dpservice-cli.js');
const LAUNCHER = resolve('bin/dpservice-cli');
const PY = '/usr/bin/python3';
// upstream CLI stand-in from shared/conformance (beside the checkout, as in CI); without it the
// byte-for-byte comparisons are skipped and say so
const PY_CLI = resolve(ROOT, '../shared/conformance/dpservice_cli.py');
const HAVE_PY = existsSync(PY) && existsSync(PY_CLI);
const PY_STUBS = mkdtempSync(join(tmpdir(), 'dpscli-stubs-'));
const SERVICE_VERSION = 'v0.4.0-test';

/** In-memory dataplane: VM ports net_tap2..net_tap5 are ports 2..5. */
class FakeDataplane implements DataplaneApi {
  readonly hostIpv6 = parseIpv6('fc00:1::')!;
  readonly tableLimits = { vnfs: 32768, routes: 262144, routesPerVni: 131072 };
  readonly attached = new Map<number, InterfaceConfig>();
  markInitialized(): void {}
  vfPort(deviceName: string): number | undefined {
    const m = /^net_tap([2-5])$/.exec(deviceName);
    return m ? Number(m[1]) : undefined;
  }
  async attachInterface(port: number, cfg: InterfaceConfig): Promise<void> {
    this.attached.set(port, cfg);
  }
  async detachInterface(port: number): Promise<void> {
    this.attached.delete(port);
  }
}


function spawnRun(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return limited(() => new Promise((res, rej) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', rej);
    p.on('close', (code) => res({ stdout, stderr, code: code ?? -1 }));
  }));
}

interface Ctx {
  srv: ControlServer;
  dp: FakeDataplane;
  /** Runs `node dist/src/cli/dpservice-cli.js --address 127.0.0.1:PORT ...argv`. */
  cli(...argv: string[]): Promise<Run>;
  /** Runs the CLI with -o json, requires exit code 0 and returns the parsed output. */
  json(...argv: string[]): Promise<Record<string, unknown> & { spec?: Record<string, unknown>; items?: Array<Record<string, unknown>> }>;
  /** Runs the conformance stand-in of upstream's Go CLI the same way. */
  reference(...argv: string[]): Promise<Run>;
}

async function setup(t: ExecutionContext, init = true): Promise<Ctx> {
  const dp = new FakeDataplane();
  const srv = await startControl({
    port: 0, host: '127.0.0.1', version: SERVICE_VERSION, dataplane: dp,
    log: pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() })), drainTimeoutMs: 500,
  });
  t.teardown(() => srv.close());
  // a generous connect timeout: many CLI processes start at once on a loaded machine
  const address = `--address=127.0.0.1:${srv.port}`;
  const timeout = '--connect-timeout=30s';
  const cli = (...argv: string[]): Promise<Run> => spawnRun(process.execPath, [CLI, address, timeout, ...argv], { PATH: process.env.PATH });
  const ctx: Ctx = {
    srv,
    dp,
    cli,
    json: async (...argv) => {
      const r = await cli('-o', 'json', ...argv);
      if (r.code !== 0) throw new Error(`dpservice-cli ${argv.join(' ')} failed (${r.code}): ${r.stdout}${r.stderr}`);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    },
    reference: (...argv) => spawnRun(PY, [PY_CLI, address, timeout, ...argv], {
      PATH: process.env.PATH, DPSCLI_PROTO: protoPath('dpdk.proto'), DPSCLI_STUBDIR: PY_STUBS, DPSCLI_VERSION: VERSION,
      DPSCLI_PROTO_VERSION: VERSION,
    }),
  };
  if (init) await ctx.json('init');
  return ctx;
}

const VM1 = ['--id=vm1', '--vni=100', '--ipv4=172.32.10.5', '--ipv6=2001::10', '--device=net_tap2'];
const VM2 = ['--id=vm2', '--vni=200', '--ipv4=172.32.20.6', '--ipv6=2001::20', '--device=net_tap3', '--hostname=web-2'];

/** The start column of each header cell (cells are separated by at least two spaces). */
function columnStarts(header: string): number[] {
  return [...header.matchAll(/ (\S+(?: \S+)?)/g)].map((m) => m.index + 1);
}

// ---- init, version -------------------------------------------------------------------------------

test('init initializes a fresh service and a second init is a client error naming the UUID', async (t) => {
  const c = await setup(t, false);
  const res = await c.json('init');
  t.is(res.kind, 'Initialized');
  t.deepEqual(res.spec, { uuid: c.srv.uuid });
  const again = await c.cli('init', '-o', 'json');
  t.is(again.code, 1);
  t.deepEqual(JSON.parse(again.stdout), {
    kind: 'Error', spec: { source: 'client' }, status: { code: 1000, message: `error dp-service already initialized, uuid: ${c.srv.uuid}` },
  });
});

test('get init reports the UUID and get version the service and client versions', async (t) => {
  const c = await setup(t);
  t.deepEqual((await c.json('get', 'init')).spec, { uuid: c.srv.uuid });
  const v = await c.json('get', 'version');
  t.deepEqual(v, {
    kind: 'Version',
    metadata: { client_protocol: VERSION, client_name: 'dpservice-cli', client_version: VERSION },
    spec: { service_protocol: SERVICE_VERSION, service_version: SERVICE_VERSION },
    status: { code: 0, message: 'Success' },
  });
});

// ---- interfaces and routes ----------------------------------------------------------------------------

test('an interface is created, shown, listed and deleted through the CLI', async (t) => {
  const c = await setup(t);
  const created = await c.json('create', 'interface', ...VM1, '--total-meter-rate=1000', '--public-meter-rate=500');
  t.is(created.kind, '', 'upstream leaves the kind of a created interface empty');
  t.deepEqual(created.metadata, { id: 'vm1' });
  const underlay = created.spec!.underlay_route as string;
  t.regex(underlay, /^fc00:1::/);
  t.like(created.spec!, { vni: 100, device: 'net_tap2', primary_ipv4: '172.32.10.5', primary_ipv6: '2001::10',
    virtual_function: { name: 'net_tap2' }, pxe: {}, metering: { total_rate: 1000, public_rate: 500 } });
  t.true(c.dp.attached.has(2));

  const shown = await c.json('get', 'interface', '--id=vm1');
  t.deepEqual(shown, {
    kind: 'Interface', metadata: { id: 'vm1' },
    spec: { vni: 100, device: 'net_tap2', primary_ipv4: '172.32.10.5', primary_ipv6: '2001::10', underlay_route: underlay,
      metering: { total_rate: 1000, public_rate: 500 } },
    status: { code: 0, message: '' },
  });

  await c.json('add', 'iface', ...VM2);
  const listed = await c.json('list', 'interfaces');
  t.is(listed.kind, 'InterfaceList');
  t.deepEqual(listed.items!.map((i) => (i.metadata as { id: string }).id), ['vm1', 'vm2']);
  t.is((listed.items![1]!.spec as { hostname: string }).hostname, 'web-2');

  const deleted = await c.cli('delete', 'interface', '--id=vm1');
  t.is(deleted.code, 0);
  t.is(deleted.stdout, 'interface/vm1 deleted\n', 'delete prints names by default');
  t.false(c.dp.attached.has(2));
  t.deepEqual((await c.json('list', 'interfaces')).items!.map((i) => (i.metadata as { id: string }).id), ['vm2']);
});

test('list interfaces as a table has a header row and aligned columns, numbers right-aligned', async (t) => {
  const c = await setup(t);
  await c.json('create', 'interface', ...VM1);
  await c.json('create', 'interface', ...VM2, '--total-meter-rate=25000');
  const r = await c.cli('list', 'interfaces');
  t.is(r.code, 0);
  t.true(r.stdout.endsWith('\n'));
  const lines = r.stdout.slice(0, -1).split('\n');
  t.is(lines.length, 3);
  const header = lines[0]!;
  t.deepEqual(header.trim().split(/\s+/), ['ID', 'VNI', 'Device', 'IPv4', 'IPv6', 'UnderlayRoute', 'TotalTx', 'PublicTx', 'Hostname']);
  t.true(lines.every((l) => l.length === header.length), 'every row is as wide as the header');
  const starts = columnStarts(header);
  for (const row of lines.slice(1)) {
    t.is(row.slice(starts[0]!, starts[0]! + 3), lines.indexOf(row) === 1 ? 'vm1' : 'vm2', 'text columns are left-aligned');
  }
  // TotalTx is numeric: right-aligned, so the values end where the header cell ends
  const totalEnd = header.indexOf('TotalTx') + 'TotalTx'.length;
  t.is(lines[1]!.slice(totalEnd - 1, totalEnd), '0');
  t.is(lines[2]!.slice(totalEnd - 5, totalEnd), '25000');
  t.true(lines[2]!.includes('web-2'));
});

test('routes are created, listed as a table and as JSON, and deleted', async (t) => {
  const c = await setup(t);
  await c.json('create', 'interface', ...VM1);
  const created = await c.cli('create', 'route', '--vni=100', '--prefix=10.100.3.0/24', '--next-hop-vni=100', '--next-hop-ip=fc00:2::64:0:1');
  t.is(created.code, 0);
  t.is(created.stdout, 'route/10.100.3.0/24-100 created, Next Hop IP: fc00:2::64:0:1\n');
  await c.json('add', 'rt', '--vni=100', '--prefix=0.0.0.0/0', '--next-hop-vni=200', '--next-hop-ip=fc00:2::1');

  const table = await c.cli('list', 'routes', '--vni=100');
  t.is(table.stdout, [
    ' Prefix         VNI  NextHopVNI  NextHopIP      ',
    ' 0.0.0.0/0      100         200  fc00:2::1      ',
    ' 10.100.3.0/24  100         100  fc00:2::64:0:1 ',
    '',
  ].join('\n'));

  const listed = await c.json('list', 'routes', '--vni=100', '--sort-by=nexthopvni');
  t.like(listed, { kind: 'RouteList', metadata: { vni: 100 } });
  t.deepEqual(listed.items!.map((i) => i.spec), [
    { prefix: '10.100.3.0/24', next_hop: { vni: 100, address: 'fc00:2::64:0:1' } },
    { prefix: '0.0.0.0/0', next_hop: { vni: 200, address: 'fc00:2::1' } },
  ]);

  const deleted = await c.json('delete', 'route', '--vni=100', '--prefix=10.100.3.0/24');
  t.deepEqual(deleted.spec, { prefix: '10.100.3.0/24', next_hop: { vni: 0 } });
  t.is((await c.json('list', 'routes', '--vni=100')).items!.length, 1);
});

// ---- errors --------------------------------------------------------------------------------------------

test('getting a missing interface is a server error object 201 NOT_FOUND with exit code 2', async (t) => {
  const c = await setup(t);
  const r = await c.cli('get', 'interface', '--id=nope', '-o', 'json');
  t.is(r.code, 2);
  t.deepEqual(JSON.parse(r.stdout), { kind: 'Error', spec: { source: 'server' }, status: { code: 201, message: 'NOT_FOUND' } });
  const plain = await c.cli('get', 'interface', '--id=nope');
  t.is(plain.code, 2);
  t.is(plain.stdout, 'server error: error getting interface: [error code 201] NOT_FOUND\n');
});

test('deleting a missing interface is a server error naming the operation, with exit code 2', async (t) => {
  const c = await setup(t);
  const r = await c.cli('delete', 'interface', '--id=nope');
  t.is(r.code, 2);
  t.is(r.stdout, 'server error: error deleting interface: [error code 201] NOT_FOUND\n');
});

test('an invalid address combination is a grpc error object with status code 3 and exit code 1 (upstream test_grpc_client_grpc_error)', async (t) => {
  const c = await setup(t);
  const r = await c.cli('-o', 'json', 'add', 'interface', '--id=vm4', '--device=net_tap5', '--vni=100', '--ipv4=0.0.0.0', '--ipv6=::');
  t.is(r.code, 1);
  t.deepEqual(JSON.parse(r.stdout), {
    kind: 'Error', spec: { source: 'grpc' },
    status: { code: 3, message: 'Invalid ipv4_config.primary_address and ipv6_config.primary_address combination' },
  });
});

test('a flag that does not parse is a client error object with exit code 1 (upstream test_grpc_client_client_error)', async (t) => {
  const c = await setup(t);
  const r = await c.cli('-o', 'json', 'add', 'virtualip', '--interface-id=vm4', '--vip=xxx');
  t.is(r.code, 1);
  t.deepEqual(JSON.parse(r.stdout), {
    kind: 'Error', spec: { source: 'client' },
    status: { code: 1000, message: 'invalid argument "xxx" for "--vip" flag: ParseAddr("xxx"): unable to parse IP' },
  });
});

test('a missing required flag is a client error object naming the flags, and nothing is created', async (t) => {
  const c = await setup(t);
  const r = await c.cli('create', 'interface', '--vni=1', '--ipv4=1.2.3.4', '-o', 'json');
  t.is(r.code, 1);
  t.deepEqual(JSON.parse(r.stdout), {
    kind: 'Error', spec: { source: 'client' }, status: { code: 1000, message: 'required flag(s) "device", "id" not set' },
  });
  t.is(c.dp.attached.size, 0);
});

test('a service without the called RPC gives upstream\'s proto-version-mismatch error with exit code 2', async (t) => {
  // a gRPC server without the dpdkironcore service answers UNIMPLEMENTED to every call
  const server = new grpc.Server();
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  t.teardown(() => server.forceShutdown());
  const r = await spawnRun(process.execPath, [CLI, `--address=127.0.0.1:${port}`, '-o', 'json', 'list', 'loadbalancers'], { PATH: process.env.PATH });
  t.is(r.code, 2);
  t.deepEqual(JSON.parse(r.stdout), {
    kind: 'Error', spec: { source: 'client' },
    status: { code: 1000, message: 'error in gRPC, client and server are probably using different proto version' },
  });
});

test('an unreachable service is a client error once --connect-timeout has passed', async (t) => {
  // a port this test holds, where nothing speaks gRPC: each connection is closed at once (a port
  // freed instead could be taken by another test file's server before the client tries it)
  const holder = createServer((sock) => sock.destroy());
  await new Promise<void>((res) => holder.listen(0, '127.0.0.1', res));
  t.teardown(() => new Promise<void>((res) => holder.close(() => res())));
  const port = (holder.address() as AddressInfo).port;
  const started = Date.now();
  const r = await spawnRun(process.execPath, [CLI, `--address=127.0.0.1:${port}`, '--connect-timeout=300ms', 'get', 'init', '-o', 'json'],
    { PATH: process.env.PATH });
  t.is(r.code, 1);
  t.deepEqual(JSON.parse(r.stdout), {
    kind: 'Error', spec: { source: 'client' },
    status: { code: 1000, message: `error creating dpdk client: error connecting to 127.0.0.1:${port}: context deadline exceeded` },
  });
  t.true(Date.now() - started < 30_000, 'the connect timeout ends the wait');
});

// ---- launcher and help ----------------------------------------------------------------------------------

test('the launcher works with an empty environment and reports the same version as dpservice-bin', async (t) => {
  const cli = await spawnRun(LAUNCHER, ['-v'], {});
  t.is(cli.code, 0, cli.stderr);
  t.is(cli.stdout, `dpservice-cli version ${VERSION}\n`);
  const bin = await spawnRun(resolve('bin/dpservice-bin'), ['--version'], {});
  t.is(bin.stdout.trim().slice('DP Service version '.length), cli.stdout.trim().slice('dpservice-cli version '.length));
});

test('the launcher talks to a service with an empty environment', async (t) => {
  const c = await setup(t);
  const r = await spawnRun(LAUNCHER, [`--address=127.0.0.1:${c.srv.port}`, '-o', 'json', 'get', 'init'], {});
  t.is(r.code, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout).spec, { uuid: c.srv.uuid });
});

test('help lists the commands and a group without a subcommand prints its help and fails', async (t) => {
  const help = await spawnRun(process.execPath, [CLI, '--help'], { PATH: process.env.PATH });
  t.is(help.code, 0);
  for (const cmd of ['capture', 'create', 'delete', 'get', 'init', 'list', 'reset']) t.regex(help.stdout, new RegExp(`\\n  ${cmd} +\\S`));
  t.regex(help.stdout, /--address string +.*\(default "localhost:1337"\)/);
  const group = await spawnRun(process.execPath, [CLI, 'list'], { PATH: process.env.PATH });
  t.is(group.code, 1);
  t.regex(group.stdout, /Available Commands:\n {2}firewallrules/);
  t.true(group.stdout.endsWith('client error: subcommand is required\n'));
  const sub = await spawnRun(process.execPath, [CLI, 'create', 'fwrule', '-h'], { PATH: process.env.PATH });
  t.regex(sub.stdout, /Aliases:\n {2}firewallrule, firewallrule, fwrule/);
  t.regex(sub.stdout, /--priority uint32 +.*\(default 1000\)/);
});

test('DP_GRPC_PORT sets the default address, as upstream', async (t) => {
  const r = await spawnRun(process.execPath, [CLI, 'get', 'init', '--connect-timeout=1ms'], { PATH: process.env.PATH, DP_GRPC_PORT: '1' });
  t.is(r.stdout, 'client error: error creating dpdk client: error connecting to localhost:1: context deadline exceeded\n');
});

// ---- against the stand-in of upstream's Go CLI --------------------------------------------------------------

test('output and exit codes match the conformance stand-in of upstream\'s Go CLI on the same service', async (t) => {
  if (!HAVE_PY) {
    t.log(`${PY} or ${PY_CLI} missing: comparison skipped`);
    t.pass();
    return;
  }
  const c = await setup(t);
  await c.json('create', 'interface', ...VM1, '--public-meter-rate=10', '--total-meter-rate=20');
  await c.json('create', 'interface', ...VM2);
  await c.json('create', 'route', '--vni=100', '--prefix=10.100.3.0/24', '--next-hop-vni=100', '--next-hop-ip=fc00:2::64:0:1');
  await c.json('create', 'route', '--vni=100', '--prefix=192.168.0.0/16', '--next-hop-vni=300', '--next-hop-ip=fc00:3::1');
  const commands = [
    ['list', 'interfaces'], ['list', 'interfaces', '-o', 'json'], ['list', 'interfaces', '-o', 'yaml'], ['list', 'ifaces', '-o', 'name'],
    ['list', 'interfaces', '--sort-by=vni', '-o', 'json', '--pretty'],
    ['get', 'interface', '--id=vm1'], ['get', 'interface', '--id=vm2', '-o', 'yaml'],
    ['list', 'routes', '--vni=100'], ['list', 'routes', '--vni=100', '-o', 'yaml'], ['get', 'route', '--vni=100', '-o', 'name'],
    ['get', 'version'], ['get', 'version', '-o', 'json'],
    ['get', 'interface', '--id=nope', '-o', 'json'], ['get', 'interface', '--id=nope', '-o', 'yaml'], ['get', 'interface', '--id=nope'],
    ['delete', 'route', '--vni=100', '--prefix=172.16.0.0/12'],
    ['create', 'interface', '--id=vm9', '--device=net_tap5', '--vni=1', '--ipv4=0.0.0.0', '--ipv6=::', '-o', 'json'],
    ['create', 'route', '--vni=100', '--prefix=10.0.0.0/8', '-o', 'json'],
    ['list', 'routes', '--vni=x'], ['list', 'nothing'], ['get', 'interface', '--id'],
  ];
  for (const argv of commands) {
    const [mine, ref] = await Promise.all([c.cli(...argv), c.reference(...argv)]);
    t.is(mine.stdout, ref.stdout, argv.join(' '));
    t.is(mine.code, ref.code, `exit code of ${argv.join(' ')}`);
  }
});
