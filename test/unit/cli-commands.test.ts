/**
 * Every dpservice-cli command against a scripted gRPC server (canned replies, recorded requests):
 * the request each command builds, the JSON it prints, its exit code, and, when the conformance
 * stand-in of upstream's Go CLI can run here, byte-equal output in json/yaml/table/name.
 */
import test from 'ava';
import { ROOT } from '../../src/cli/host-tools.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from '../../src/actors/control.js';
import { runCli } from '../../src/cli/dpservice-cli.js';
import { VERSION } from '../../src/config/options.js';

// ---- harness ---------------------------------------------------------------------------------------

const CLI = resolve('dist/src/cli/dpservice-cli.js');
const PY = '/usr/bin/python3';
// upstream CLI stand-in from shared/conformance (beside the checkout, as in CI); without it the
// byte-for-byte comparisons are skipped and say so
const PY_CLI = resolve(ROOT, '../shared/conformance/dpservice_cli.py');
const PY_STUBS = mkdtempSync(join(tmpdir(), 'dpscli-stubs-'));
const HAVE_PY = existsSync(PY) && existsSync(PY_CLI);

/** A reply: a response message, a gRPC error, or successive replies for successive calls. */
interface GrpcFailure {
  grpcCode: number;
  details: string;
}
type Reply = object | GrpcFailure | Reply[];
type Replies = Record<string, Reply>;

interface Scripted {
  port: number;
  calls: Array<[string, unknown]>;
  close(): Promise<void>;
}

const DEF = protoLoader.loadSync(protoPath('dpdk.proto'), { keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true });
const SERVICE = DEF['dpdkironcore.v1.DPDKironcore'] as grpc.ServiceDefinition;
const OK = { code: 0, message: '' };

/** Bytes as latin1 text, everything else as is: requests compare as plain data. */
function normalize(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return v.toString('latin1');
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

async function withServer<T>(replies: Replies | undefined, fn: (port: number) => Promise<T>): Promise<T> {
  const srv = await scripted(replies ?? {});
  try {
    return await fn(srv.port);
  } finally {
    await srv.close();
  }
}

async function scripted(replies: Replies): Promise<Scripted> {
  const calls: Array<[string, unknown]> = [];
  const queues = new Map<string, Reply[]>(Object.entries(replies).map(([k, v]) => [k, Array.isArray(v) ? [...v] : [v]]));
  const impl: grpc.UntypedServiceImplementation = {};
  for (const rpc of Object.keys(SERVICE)) {
    impl[rpc] = (call: grpc.ServerUnaryCall<unknown, object>, cb: grpc.sendUnaryData<object>) => {
      calls.push([rpc, normalize(call.request)]);
      const q = queues.get(rpc);
      const reply = (q && q.length > 1 ? q.shift() : q?.[0]) ?? { status: OK };
      if ('grpcCode' in reply) cb({ code: (reply as GrpcFailure).grpcCode, details: (reply as GrpcFailure).details });
      else cb(null, reply);
    };
  }
  const server = new grpc.Server();
  server.addService(SERVICE, impl);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { port, calls, close: () => new Promise((res) => server.tryShutdown(() => res())) };
}


/** The CLI as a child process, as an operator runs it (`node dist/src/cli/dpservice-cli.js ...`). */
function runTs(port: number, argv: string[]): Promise<Run> {
  return limited(() => new Promise((res, rej) => {
    const p = spawn(process.execPath, [CLI, `--address=127.0.0.1:${port}`, '--connect-timeout=30s', ...argv], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', rej);
    p.on('close', (code) => res({ stdout, stderr, code: code ?? -1 }));
  }));
}

/** The CLI in this process (same code path without the process start), for the format variants. */
async function runTsInProcess(port: number, argv: string[]): Promise<Run> {
  const r = await runCli([`--address=127.0.0.1:${port}`, '--connect-timeout=30s', ...argv], {});
  return { stdout: r.stdout.toString(), stderr: r.stderr, code: r.code };
}

/**
 * The conformance stand-in of upstream's Go CLI, kept running: importing grpc costs Python half a
 * second, so one interpreter runs every command line (its main(argv) with stdout captured, its
 * cached channel dropped after each run). One JSON line in, one out.
 */
const PY_DRIVER = `
import importlib.util, io, json, sys
spec = importlib.util.spec_from_file_location("dpservice_cli", sys.argv[1])
cli = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cli)
real = sys.stdout
for line in sys.stdin:
    buf = io.BytesIO()
    sys.stdout = io.TextIOWrapper(buf, encoding="utf-8", errors="surrogateescape")
    try:
        code = cli.main(json.loads(line))
    except SystemExit as e:
        code = e.code
    sys.stdout.flush()
    out = buf.getvalue()
    sys.stdout.detach()
    sys.stdout = real
    cli.DpdkClient._shared = None
    real.write(json.dumps({"code": code, "stdout": out.decode("utf-8", "surrogateescape")}) + "\\n")
    real.flush()
`;
import { limited, type Run } from './child-limit.js';

interface PyCli {
  send(argv: string[]): Promise<Run>;
  close(): void;
}
let py: PyCli | undefined;
function pythonCli(): PyCli {
  if (py) return py;
  const p = spawn(PY, ['-c', PY_DRIVER, PY_CLI], {
    env: { PATH: process.env.PATH, DPSCLI_PROTO: protoPath('dpdk.proto'), DPSCLI_STUBDIR: PY_STUBS, DPSCLI_VERSION: VERSION,
      DPSCLI_PROTO_VERSION: VERSION },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waiting: Array<(r: Run) => void> = [];
  createInterface({ input: p.stdout }).on('line', (line) => {
    const r = JSON.parse(line) as { code: number; stdout: string };
    waiting.shift()?.({ stdout: r.stdout, stderr: '', code: r.code });
  });
  py = {
    send: (argv) => new Promise((res) => {
      waiting.push(res);
      p.stdin.write(`${JSON.stringify(argv)}\n`);
    }),
    close: () => p.kill(),
  };
  return py;
}

const runPy = (port: number, argv: string[]): Promise<Run> => pythonCli().send([`--address=127.0.0.1:${port}`, '--connect-timeout=30s', ...argv]);

test.after.always(() => py?.close());

// ---- fixtures ---------------------------------------------------------------------------------------

const ip4 = (a: string): object => ({ ipver: 0, address: Buffer.from(a) });
const ip6 = (a: string): object => ({ ipver: 1, address: Buffer.from(a) });
const b = (s: string): Buffer => Buffer.from(s);
const st = (code = 0, message = ''): object => ({ code, message });

const UL1 = 'fc00:1::8000:0:1';
const UL2 = 'fc00:1::8000:0:2';
const iface = (id: string, vni: number, v4: string, v6: string, ul: string, dev: string, host = ''): object => ({
  id: b(id), vni, primary_ipv4: b(v4), primary_ipv6: b(v6), underlay_route: b(ul), pci_name: dev,
  meteringParams: { total_rate: '0', public_rate: '0' }, hostname: host,
});
const VM1 = iface('vm1', 100, '172.32.10.5', '2001::10', UL1, 'net_tap2', 'host1');
const VM2 = iface('vm2', 200, '172.32.20.6', '2001::20', UL2, 'net_tap3');
const IFACES = { status: st(), interfaces: [VM2, VM1] };
const fwRule = (id: string, dir: number, prio: number, filter: object): object => ({
  id: b(id), direction: dir, action: 1, priority: prio,
  source_prefix: { ip: ip4('1.1.1.1'), length: 32 }, destination_prefix: { ip: ip4('5.5.5.0'), length: 24 }, protocol_filter: filter,
});
const TCP_FILTER = { tcp: { src_port_lower: 1, src_port_upper: 1000, dst_port_lower: 500, dst_port_upper: 600 } };

interface Case {
  /** Behaviour sentence (test title). */
  title: string;
  argv: string[];
  replies?: Replies;
  /** Expected requests, in order, each compared with t.like (bytes as text). */
  calls?: Array<[string, object]>;
  /** Expected parsed JSON output (compared with t.like). */
  json?: object;
  /** Text the JSON output contains (for what JSON.parse cannot represent, like uint64 values). */
  stdoutIncludes?: string;
  code?: number;
  /** Also compare these output formats with the stand-in (json is always compared). */
  formats?: string[];
  /** The upstream command line with the same output, for our additions to the command tree. */
  referenceArgv?: string[];
}

const CASES: Case[] = [
  // ---- init / version -------------------------------------------------------------------------
  {
    title: 'init checks the service is not initialized yet, then initializes it',
    argv: ['init'],
    replies: { CheckInitialized: { grpcCode: grpc.status.ABORTED, details: 'not initialized' }, Initialize: { status: st(), uuid: 'U-1' } },
    calls: [['CheckInitialized', {}], ['Initialize', {}]],
    json: { kind: 'Initialized', metadata: {}, spec: { uuid: 'U-1' }, status: { code: 0, message: '' } },
    formats: ['table', 'name', 'yaml'],
  },
  {
    title: 'init refuses an already initialized service naming its UUID (client error)',
    argv: ['init'],
    replies: { CheckInitialized: { status: st(), uuid: 'U-2' } },
    calls: [['CheckInitialized', {}]],
    json: { kind: 'Error', spec: { source: 'client' }, status: { code: 1000, message: 'error dp-service already initialized, uuid: U-2' } },
    code: 1,
    formats: ['table'],
  },
  {
    title: 'get init reports the UUID',
    argv: ['get', 'init'],
    replies: { CheckInitialized: { status: st(), uuid: 'U-3' } },
    json: { kind: 'Initialized', spec: { uuid: 'U-3' } },
    formats: ['table'],
  },
  {
    title: 'get version sends the client name and version and shows both sides',
    argv: ['get', 'version'],
    replies: { GetVersion: { status: st(), service_protocol: 'v9', service_version: 'v9' } },
    calls: [['GetVersion', { client_protocol: VERSION, client_name: 'dpservice-cli', client_version: VERSION }]],
    json: { kind: 'Version', metadata: { client_protocol: VERSION, client_name: 'dpservice-cli', client_version: VERSION },
      spec: { service_protocol: 'v9', service_version: 'v9' } },
    formats: ['table', 'name', 'yaml'],
  },
  // ---- interfaces ---------------------------------------------------------------------------------
  {
    title: 'create interface sends every setting and prints the created interface with its VF (kind left empty, as upstream)',
    argv: ['create', 'interface', '--id=vm1', '--vni=100', '--ipv4=172.32.10.5', '--ipv6=2001::10', '--device=net_tap2',
      '--underlay=fc00:1::d0:0:0:1', '--pxe-server=1.2.3.4', '--pxe-file-name=boot.ipxe', '--total-meter-rate=18446744073709551615',
      '--public-meter-rate=100', '--hostname=host1'],
    replies: { CreateInterface: { status: st(), underlay_route: b(UL1), vf: { name: 'net_tap2' } } },
    calls: [['CreateInterface', {
      interface_type: 0, interface_id: 'vm1', vni: 100, ipv4_config: { primary_address: '172.32.10.5' },
      ipv6_config: { primary_address: '2001::10' }, device_name: 'net_tap2', preferred_underlay_route: 'fc00:1::d0:0:0:1',
      pxe_config: { next_server: '1.2.3.4', boot_filename: 'boot.ipxe' },
      metering_parameters: { total_rate: '18446744073709551615', public_rate: '100' }, hostname: 'host1',
    }]],
    json: { kind: '', metadata: { id: 'vm1' }, spec: { vni: 100, device: 'net_tap2', primary_ipv4: '172.32.10.5', primary_ipv6: '2001::10',
      underlay_route: UL1, virtual_function: { name: 'net_tap2' }, pxe: { next_server: '1.2.3.4', boot_filename: 'boot.ipxe' },
      metering: { public_rate: 100 }, hostname: 'host1' } },
    stdoutIncludes: '"metering":{"total_rate":18446744073709551615,"public_rate":100}',
    formats: ['name', 'table', 'yaml'],
  },
  {
    title: 'add interface (alias) without the optional flags sends no PXE config and "::" as preferred underlay, as upstream',
    argv: ['add', 'iface', '--id', 'vm2', '--vni', '200', '--ipv4', '172.32.20.6', '--device', 'net_tap3'],
    replies: { CreateInterface: { status: st(), underlay_route: b(UL2), vf: { name: 'net_tap3' } } },
    calls: [['CreateInterface', { interface_id: 'vm2', ipv6_config: { primary_address: '::' }, pxe_config: null, preferred_underlay_route: '::' }]],
    json: { spec: { vni: 200, primary_ipv6: '::', pxe: {}, metering: {} } },
  },
  {
    title: 'get interface shows one interface',
    argv: ['get', 'interface', '--id=vm1'],
    replies: { GetInterface: { status: st(), interface: VM1 } },
    calls: [['GetInterface', { interface_id: 'vm1' }]],
    json: { kind: 'Interface', metadata: { id: 'vm1' }, spec: { vni: 100, device: 'net_tap2', primary_ipv4: '172.32.10.5',
      primary_ipv6: '2001::10', underlay_route: UL1, metering: {}, hostname: 'host1' } },
    formats: ['table', 'name', 'yaml'],
  },
  {
    title: 'get interface -w adds the NAT and VIP of the interface',
    argv: ['get', 'interface', '--id=vm1', '-w'],
    replies: {
      GetInterface: { status: st(), interface: VM1 },
      GetNat: { status: st(), nat_ip: ip4('10.0.0.1'), min_port: 100, max_port: 200, underlay_route: b(UL2) },
      GetVip: { status: st(), vip_ip: ip4('20.0.0.1'), underlay_route: b(UL2) },
    },
    calls: [['GetInterface', {}], ['GetNat', { interface_id: 'vm1' }], ['GetVip', { interface_id: 'vm1' }]],
    json: { spec: { nat: { kind: 'Nat', spec: { nat_ip: '10.0.0.1', min_port: 100, max_port: 200 } }, vip: { spec: { vip_ip: '20.0.0.1' } } } },
    formats: ['table'],
  },
  {
    title: 'list interfaces sorts by id by default',
    argv: ['list', 'interfaces'],
    replies: { ListInterfaces: IFACES },
    json: { kind: 'InterfaceList', items: [{ metadata: { id: 'vm1' } }, { metadata: { id: 'vm2' } }] },
    formats: ['table', 'name', 'yaml'],
  },
  {
    title: 'get interface without --id lists all interfaces',
    argv: ['get', 'interface'],
    replies: { ListInterfaces: IFACES },
    calls: [['ListInterfaces', {}]],
    json: { kind: 'InterfaceList', items: [{ metadata: { id: 'vm1' } }, { metadata: { id: 'vm2' } }] },
  },
  {
    title: 'list interfaces --sort-by=vni orders by VNI',
    argv: ['list', 'interfaces', '--sort-by=vni'],
    replies: { ListInterfaces: { status: st(), interfaces: [VM2, VM1] } },
    json: { items: [{ spec: { vni: 100 } }, { spec: { vni: 200 } }] },
  },
  {
    title: 'delete interface prints the deleted interface',
    argv: ['delete', 'interface', '--id=vm1'],
    calls: [['DeleteInterface', { interface_id: 'vm1' }]],
    json: { kind: 'Interface', metadata: { id: 'vm1' }, spec: { vni: 0 } },
    formats: ['name'],
  },
  // ---- prefixes ---------------------------------------------------------------------------------------
  {
    title: 'create prefix sends the prefix and prints its underlay route',
    argv: ['create', 'prefix', '--interface-id=vm1', '--prefix=10.10.0.0/24'],
    replies: { CreatePrefix: { status: st(), underlay_route: b(UL2) } },
    calls: [['CreatePrefix', { interface_id: 'vm1', prefix: { ip: { ipver: 0, address: '10.10.0.0' }, length: 24 }, preferred_underlay_route: '::' }]],
    json: { kind: 'Prefix', metadata: { interface_id: 'vm1', vni: 0 }, spec: { prefix: '10.10.0.0/24', underlay_route: UL2 } },
    formats: ['name', 'table'],
  },
  {
    title: 'list prefixes of an interface adds the interface VNI',
    argv: ['list', 'prefixes', '--interface-id=vm1'],
    replies: {
      ListPrefixes: { status: st(), prefixes: [{ ip: ip4('10.20.0.0'), length: 16, underlay_route: b(UL2) }, { ip: ip4('10.10.0.0'), length: 24, underlay_route: b(UL1) }] },
      GetInterface: { status: st(), interface: VM1 },
    },
    calls: [['ListPrefixes', { interface_id: 'vm1' }], ['GetInterface', { interface_id: 'vm1' }]],
    json: { kind: 'PrefixList', items: [{ metadata: { vni: 100 }, spec: { prefix: '10.10.0.0/24' } }, { spec: { prefix: '10.20.0.0/16' } }] },
    formats: ['table', 'name'],
  },
  {
    title: 'list prefixes without an interface merges the prefixes of every interface',
    argv: ['list', 'prefixes'],
    replies: {
      ListInterfaces: IFACES,
      ListPrefixes: [
        { status: st(), prefixes: [{ ip: ip4('10.30.0.0'), length: 16, underlay_route: b(UL2) }] },
        { status: st(), prefixes: [{ ip: ip4('10.10.0.0'), length: 24, underlay_route: b(UL1) }] },
      ],
    },
    calls: [['ListInterfaces', {}], ['ListPrefixes', { interface_id: 'vm2' }], ['ListPrefixes', { interface_id: 'vm1' }]],
    json: { kind: 'PrefixList', metadata: { interface_id: '' }, items: [
      { metadata: { interface_id: 'vm1', vni: 100 }, spec: { prefix: '10.10.0.0/24' } },
      { metadata: { interface_id: 'vm2', vni: 200 }, spec: { prefix: '10.30.0.0/16' } }] },
    formats: ['table'],
  },
  {
    title: 'delete prefix sends the prefix',
    argv: ['delete', 'prefix', '--interface-id=vm1', '--prefix=10.10.0.0/24'],
    calls: [['DeletePrefix', { interface_id: 'vm1', prefix: { ip: { address: '10.10.0.0' }, length: 24 } }]],
    json: { kind: 'Prefix', spec: { prefix: '10.10.0.0/24' } },
  },
  {
    title: 'create lbprefix sends a load balancer prefix',
    argv: ['create', 'lbprefix', '--interface-id=vm1', '--prefix=10.40.0.0/24', '--underlay=fc00:1::d0:0:0:9'],
    replies: { CreateLoadBalancerPrefix: { status: st(), underlay_route: b('fc00:1::d0:0:0:9') } },
    calls: [['CreateLoadBalancerPrefix', { interface_id: 'vm1', prefix: { length: 24 }, preferred_underlay_route: 'fc00:1::d0:0:0:9' }]],
    json: { kind: 'LoadBalancerPrefix', metadata: { interface_id: 'vm1' }, spec: { prefix: '10.40.0.0/24', underlay_route: 'fc00:1::d0:0:0:9' } },
  },
  {
    title: 'list lbprefixes labels its items as load balancer prefixes',
    argv: ['list', 'lbprefixes', '--interface-id=vm1'],
    replies: {
      ListLoadBalancerPrefixes: { status: st(), prefixes: [{ ip: ip4('10.40.0.0'), length: 24, underlay_route: b(UL2) }] },
      GetInterface: { status: st(), interface: VM1 },
    },
    json: { kind: 'LoadBalancerPrefixList', items: [{ kind: 'LoadBalancerPrefix', metadata: { vni: 100 } }] },
    formats: ['table'],
  },
  {
    title: 'delete lbprefix sends the prefix',
    argv: ['del', 'lbprfx', '--interface-id=vm1', '--prefix=10.40.0.0/24'],
    calls: [['DeleteLoadBalancerPrefix', { interface_id: 'vm1', prefix: { length: 24 } }]],
    json: { kind: 'LoadBalancerPrefix' },
  },
  // ---- virtual IPs ---------------------------------------------------------------------------------------
  {
    title: 'create virtualip sends the VIP',
    argv: ['create', 'vip', '--interface-id=vm1', '--vip=20.0.0.1'],
    replies: { CreateVip: { status: st(), underlay_route: b(UL2) } },
    calls: [['CreateVip', { interface_id: 'vm1', vip_ip: { ipver: 0, address: '20.0.0.1' } }]],
    json: { kind: 'VirtualIP', metadata: { interface_id: 'vm1' }, spec: { vip_ip: '20.0.0.1', underlay_route: UL2 } },
    formats: ['table', 'name'],
  },
  {
    title: 'get virtualip without an interface shows the VIPs of all interfaces that have one',
    argv: ['get', 'virtualip'],
    replies: {
      ListInterfaces: IFACES,
      GetVip: [{ status: st(341, 'SNAT_NO_DATA') }, { status: st(), vip_ip: ip4('20.0.0.1'), underlay_route: b(UL2) }],
    },
    calls: [['ListInterfaces', {}], ['GetVip', { interface_id: 'vm2' }], ['GetVip', { interface_id: 'vm1' }]],
    json: { kind: 'VirtualIP', metadata: { interface_id: 'vm1' }, spec: { vip_ip: '20.0.0.1' } },
    formats: ['table'],
  },
  {
    title: 'a service error is printed as a server error object with exit code 2',
    argv: ['get', 'vip', '--interface-id=vm9'],
    replies: { GetVip: { status: st(205, 'NO_VM') } },
    json: { kind: 'Error', spec: { source: 'server' }, status: { code: 205, message: 'NO_VM' } },
    code: 2,
    formats: ['table', 'name', 'yaml'],
  },
  {
    title: 'delete virtualip sends the interface id',
    argv: ['delete', 'virtualip', '--interface-id=vm1'],
    calls: [['DeleteVip', { interface_id: 'vm1' }]],
    json: { kind: 'VirtualIP', spec: { vip_ip: null } },
  },
  // ---- load balancers ---------------------------------------------------------------------------------------
  {
    title: 'create loadbalancer sends its ports (icmpv6 as protocol 0, like upstream)',
    argv: ['create', 'lb', '--id=lb1', '--vni=100', '--vip=30.0.0.1', '--lbports=tcp/80,udp/53', '--lbports=icmpv6/0'],
    replies: { CreateLoadBalancer: { status: st(), underlay_route: b(UL2) } },
    calls: [['CreateLoadBalancer', { loadbalancer_id: 'lb1', vni: 100, loadbalanced_ip: { ipver: 0, address: '30.0.0.1' },
      loadbalanced_ports: [{ port: 80, protocol: 6 }, { port: 53, protocol: 17 }, { port: 0, protocol: 0 }] }]],
    json: { kind: 'LoadBalancer', metadata: { id: 'lb1' }, spec: { vni: 100, loadbalanced_ip: '30.0.0.1',
      loadbalanced_ports: [{ protocol: 6, port: 80 }, { protocol: 17, port: 53 }, { protocol: 0, port: 0 }], underlay_route: UL2 } },
    formats: ['table', 'name'],
  },
  {
    title: 'create loadbalancer refuses an unknown port protocol before calling the service',
    argv: ['create', 'loadbalancer', '--id=lb1', '--vni=100', '--vip=30.0.0.1', '--lbports=gre/1'],
    calls: [],
    json: { kind: 'Error', spec: { source: 'client' }, status: { code: 1000, message: 'error converting port: unsupported protocol' } },
    code: 1,
  },
  {
    title: 'get loadbalancer shows its ports',
    argv: ['get', 'loadbalancer', '--id=lb1'],
    replies: { GetLoadBalancer: { status: st(), loadbalanced_ip: ip4('30.0.0.1'), vni: 100,
      loadbalanced_ports: [{ port: 80, protocol: 6 }], underlay_route: b(UL2) } },
    calls: [['GetLoadBalancer', { loadbalancer_id: 'lb1' }]],
    json: { kind: 'LoadBalancer', spec: { vni: 100, loadbalanced_ports: [{ protocol: 6, port: 80 }] } },
    formats: ['table', 'yaml'],
  },
  {
    title: 'list loadbalancers lists every load balancer',
    argv: ['list', 'loadbalancers'],
    replies: { ListLoadBalancers: { status: st(), loadbalancers: [
      { id: b('lb2'), vni: 200, ip: ip4('30.0.0.2'), ports: [{ port: 53, protocol: 17 }], underlay_route: b(UL1) },
      { id: b('lb1'), vni: 100, ip: ip4('30.0.0.1'), ports: [], underlay_route: b(UL2) }] } },
    json: { kind: 'LoadBalancerList', items: [{ metadata: { id: 'lb1' } }, { metadata: { id: 'lb2' } }] },
    formats: ['table'],
  },
  {
    title: 'delete loadbalancer sends the id',
    argv: ['delete', 'loadbalancer', '--id=lb1'],
    calls: [['DeleteLoadBalancer', { loadbalancer_id: 'lb1' }]],
    json: { kind: 'LoadBalancer', metadata: { id: 'lb1' } },
  },
  {
    title: 'create lbtarget sends the target address',
    argv: ['create', 'lbtarget', '--lb-id=lb1', '--target-ip=fc00:2::1'],
    calls: [['CreateLoadBalancerTarget', { loadbalancer_id: 'lb1', target_ip: { ipver: 1, address: 'fc00:2::1' } }]],
    json: { kind: 'LoadBalancerTarget', metadata: { loadbalancer_id: 'lb1' }, spec: { target_ip: 'fc00:2::1' } },
    formats: ['name'],
  },
  {
    title: 'list lbtargets lists the targets sorted by address',
    argv: ['list', 'lbtargets', '--lb-id=lb1'],
    replies: { ListLoadBalancerTargets: { status: st(), target_ips: [ip6('fc00:2::2'), ip6('fc00:2::1')] } },
    json: { kind: 'LoadBalancerTargetList', items: [{ spec: { target_ip: 'fc00:2::1' } }, { spec: { target_ip: 'fc00:2::2' } }] },
    formats: ['table'],
  },
  {
    title: 'delete lbtarget sends the target address',
    argv: ['delete', 'lbtarget', '--lb-id=lb1', '--target-ip=fc00:2::1'],
    calls: [['DeleteLoadBalancerTarget', { loadbalancer_id: 'lb1', target_ip: { ipver: 1, address: 'fc00:2::1' } }]],
    json: { kind: 'LoadBalancerTarget' },
  },
  // ---- NAT ---------------------------------------------------------------------------------------------------
  {
    title: 'create nat sends the NAT IP and port range',
    argv: ['create', 'nat', '--interface-id=vm1', '--nat-ip=10.0.0.1', '--minport=100', '--maxport=200'],
    replies: { CreateNat: { status: st(), underlay_route: b(UL2) } },
    calls: [['CreateNat', { interface_id: 'vm1', nat_ip: { ipver: 0, address: '10.0.0.1' }, min_port: 100, max_port: 200 }]],
    json: { kind: 'Nat', metadata: { interface_id: 'vm1' }, spec: { nat_ip: '10.0.0.1', min_port: 100, max_port: 200, underlay_route: UL2, vni: 0 } },
    formats: ['table', 'name'],
  },
  {
    title: 'get nat without an interface lists the NAT of every interface',
    argv: ['get', 'nat'],
    replies: {
      ListInterfaces: { status: st(), interfaces: [VM1] },
      GetNat: { status: st(), nat_ip: ip4('10.0.0.1'), min_port: 100, max_port: 200, underlay_route: b(UL2) },
    },
    json: { kind: 'NatList', items: [{ metadata: { interface_id: 'vm1' }, spec: { nat_ip: '10.0.0.1' } }] },
    formats: ['table'],
  },
  {
    title: 'list nats of type local asks for local NATs only',
    argv: ['list', 'nats', '--nat-ip=10.0.0.1', '--nat-type=local'],
    replies: { ListLocalNats: { status: st(), nat_entries: [{ nat_ip: ip4('172.32.10.5'), min_port: 100, max_port: 200, vni: 100,
      actual_nat_ip: ip4('10.0.0.1') }] } },
    calls: [['ListLocalNats', { nat_ip: { ipver: 0, address: '10.0.0.1' } }]],
    json: { kind: 'NatList', metadata: { nat_ip: '10.0.0.1', nat_type: 'local' },
      items: [{ kind: 'Nat', spec: { nat_ip: '172.32.10.5', min_port: 100, max_port: 200, vni: 100, actual_nat_ip: '10.0.0.1' } }] },
    formats: ['table'],
  },
  {
    title: 'list nats of any type asks for local and neighbor NATs',
    argv: ['list', 'nats'],
    replies: {
      ListLocalNats: { status: st(), nat_entries: [{ nat_ip: ip4('172.32.10.5'), min_port: 100, max_port: 200, vni: 100, actual_nat_ip: ip4('10.0.0.1') }] },
      ListNeighborNats: { status: st(), nat_entries: [{ min_port: 300, max_port: 400, vni: 100, underlay_route: b(UL2), actual_nat_ip: ip4('10.0.0.1') }] },
    },
    calls: [['ListLocalNats', { nat_ip: { address: '0.0.0.0' } }], ['ListNeighborNats', { nat_ip: { address: '0.0.0.0' } }]],
    json: { kind: 'NatList', items: [{ kind: 'Nat' }, { kind: 'NeighborNat', spec: { underlay_route: UL2, min_port: 300 } }] },
    formats: ['table', 'name'],
  },
  {
    title: 'list localnats (our shorthand) prints what list nats --nat-type=local prints',
    argv: ['list', 'localnats', '--nat-ip=10.0.0.1'],
    referenceArgv: ['list', 'nats', '--nat-ip=10.0.0.1', '--nat-type=local'],
    replies: { ListLocalNats: { status: st(), nat_entries: [{ nat_ip: ip4('172.32.10.5'), min_port: 100, max_port: 200, vni: 100,
      actual_nat_ip: ip4('10.0.0.1') }] } },
    calls: [['ListLocalNats', { nat_ip: { address: '10.0.0.1' } }]],
    json: { kind: 'NatList', metadata: { nat_type: 'local' } },
    formats: ['table'],
  },
  {
    title: 'list neighbornats (our shorthand) prints what list nats --nat-type=neigh prints',
    argv: ['list', 'neighbornats'],
    referenceArgv: ['list', 'nats', '--nat-type=neigh'],
    replies: { ListNeighborNats: { status: st(), nat_entries: [{ min_port: 300, max_port: 400, vni: 100, underlay_route: b(UL2),
      actual_nat_ip: ip4('10.0.0.1') }] } },
    calls: [['ListNeighborNats', { nat_ip: { address: '0.0.0.0' } }]],
    json: { kind: 'NatList', items: [{ kind: 'NeighborNat' }] },
    formats: ['table'],
  },
  {
    title: 'create neighbornat sends the other host underlay',
    argv: ['create', 'neighnat', '--nat-ip=10.0.0.1', '--vni=100', '--minport=300', '--maxport=400', `--underlayroute=${UL2}`],
    calls: [['CreateNeighborNat', { nat_ip: { address: '10.0.0.1' }, vni: 100, min_port: 300, max_port: 400, underlay_route: UL2 }]],
    json: { kind: 'NeighborNat', metadata: { nat_ip: '10.0.0.1' }, spec: { vni: 100, min_port: 300, max_port: 400, underlay_route: UL2 } },
    formats: ['table', 'name'],
  },
  {
    title: 'delete neighbornat sends the entry key',
    argv: ['delete', 'neighbornat', '--nat-ip=10.0.0.1', '--vni=100', '--minport=300', '--maxport=400'],
    calls: [['DeleteNeighborNat', { nat_ip: { address: '10.0.0.1' }, vni: 100, min_port: 300, max_port: 400 }]],
    json: { kind: 'NeighborNat' },
  },
  {
    title: 'delete nat sends the interface id',
    argv: ['delete', 'nat', '--interface-id=vm1'],
    calls: [['DeleteNat', { interface_id: 'vm1' }]],
    json: { kind: 'Nat', metadata: { interface_id: 'vm1' } },
  },
  // ---- routes -----------------------------------------------------------------------------------------------
  {
    title: 'create route sends weight 100 and the next hop',
    argv: ['create', 'route', '--vni=100', '--prefix=10.100.3.0/24', '--next-hop-vni=100', '--next-hop-ip=fc00:2::64:0:1'],
    calls: [['CreateRoute', { vni: 100, route: { weight: 100, prefix: { ip: { ipver: 0, address: '10.100.3.0' }, length: 24 },
      nexthop_vni: 100, nexthop_address: { ipver: 1, address: 'fc00:2::64:0:1' } } }]],
    json: { kind: 'Route', metadata: { vni: 100 }, spec: { prefix: '10.100.3.0/24', next_hop: { vni: 100, address: 'fc00:2::64:0:1' } } },
    formats: ['name', 'table'],
  },
  {
    title: 'get route lists the routes of a VNI sorted by prefix',
    argv: ['get', 'route', '--vni=100'],
    replies: { ListRoutes: { status: st(), routes: [
      { prefix: { ip: ip4('10.200.0.0'), length: 16 }, nexthop_vni: 200, nexthop_address: ip6('fc00:2::1') },
      { prefix: { ip: ip4('10.100.3.0'), length: 24 }, nexthop_vni: 100, nexthop_address: ip6('fc00:2::64:0:1') }] } },
    calls: [['ListRoutes', { vni: 100 }]],
    json: { kind: 'RouteList', metadata: { vni: 100 }, items: [{ spec: { prefix: '10.100.3.0/24' } }, { spec: { prefix: '10.200.0.0/16' } }] },
    formats: ['table', 'name', 'yaml'],
  },
  {
    title: 'delete route sends the prefix with weight 100',
    argv: ['delete', 'route', '--vni=100', '--prefix=10.100.3.0/24'],
    calls: [['DeleteRoute', { vni: 100, route: { weight: 100, prefix: { length: 24 } } }]],
    json: { kind: 'Route', spec: { prefix: '10.100.3.0/24', next_hop: { vni: 0 } } },
  },
  // ---- firewall rules ------------------------------------------------------------------------------------------
  {
    title: 'create firewallrule with tcp sends the port filter and prints it as upstream does',
    argv: ['create', 'fwrule', '--interface-id=vm1', '--rule-id=r1', '--direction=egress', '--action=accept', '--priority=100',
      '--src=1.1.1.1/32', '--dst=5.5.5.0/24', '--protocol=tcp', '--src-port-min=1', '--src-port-max=1000', '--dst-port-min=500',
      '--dst-port-max=600'],
    calls: [['CreateFirewallRule', { interface_id: 'vm1', rule: { id: 'r1', direction: 1, action: 1, priority: 100,
      source_prefix: { ip: { address: '1.1.1.1' }, length: 32 }, destination_prefix: { ip: { address: '5.5.5.0' }, length: 24 },
      protocol_filter: { filter: 'tcp', tcp: { src_port_lower: 1, src_port_upper: 1000, dst_port_lower: 500, dst_port_upper: 600 } } } }]],
    json: { kind: 'FirewallRule', metadata: { interface_id: 'vm1' }, spec: { id: 'r1', direction: 'Egress', action: 'Accept', priority: 100,
      source_prefix: '1.1.1.1/32', destination_prefix: '5.5.5.0/24',
      protocol_filter: { Filter: { Tcp: { src_port_lower: 1, src_port_upper: 1000, dst_port_lower: 500, dst_port_upper: 600 } } } } },
    formats: ['table', 'name', 'yaml'],
  },
  {
    title: 'create firewallrule with icmp sends the ICMP filter',
    argv: ['create', 'fwrule', '--interface-id=vm1', '--rule-id=r2', '--direction=ingress', '--action=accept', '--src=0.0.0.0/0',
      '--dst=0.0.0.0/0', '--protocol=icmp', '--icmp-type=8', '--icmp-code=-1'],
    calls: [['CreateFirewallRule', { rule: { direction: 0, priority: 1000, protocol_filter: { filter: 'icmp', icmp: { icmp_type: 8, icmp_code: -1 } } } }]],
    json: { spec: { direction: 'Ingress', priority: 1000, protocol_filter: { Filter: { Icmp: { icmp_type: 8, icmp_code: -1 } } } } },
    formats: ['table'],
  },
  {
    title: 'create firewallrule with tcp requires the port flags',
    argv: ['create', 'fwrule', '--interface-id=vm1', '--rule-id=r3', '--direction=ingress', '--action=accept', '--src=0.0.0.0/0',
      '--dst=0.0.0.0/0', '--protocol=tcp'],
    calls: [],
    json: { kind: 'Error', spec: { source: 'client' }, status: { code: 1000, message: 'required flag(s) "dst-port-min", "src-port-min" not set' } },
    code: 1,
  },
  {
    title: 'create firewallrule refuses an unknown action',
    argv: ['create', 'fwrule', '--interface-id=vm1', '--rule-id=r3', '--direction=ingress', '--action=maybe', '--src=0.0.0.0/0', '--dst=0.0.0.0/0'],
    json: { kind: 'Error', status: { code: 1000, message: 'error creating firewall rule: firewall action can be only: drop/deny/0|accept/allow/1' } },
    code: 1,
  },
  {
    title: 'get firewallrule shows one rule',
    argv: ['get', 'fwrule', '--interface-id=vm1', '--rule-id=r1'],
    replies: { GetFirewallRule: { status: st(), rule: fwRule('r1', 1, 100, TCP_FILTER) } },
    calls: [['GetFirewallRule', { interface_id: 'vm1', rule_id: 'r1' }]],
    json: { kind: 'FirewallRule', spec: { id: 'r1', direction: 'Egress', action: 'Accept', source_prefix: '1.1.1.1/32',
      protocol_filter: { Filter: { Tcp: { src_port_lower: 1 } } } } },
    formats: ['table', 'yaml'],
  },
  {
    title: 'list firewallrules without an interface merges the rules of every interface',
    argv: ['list', 'firewallrules'],
    replies: {
      ListInterfaces: IFACES,
      ListFirewallRules: [{ status: st(), rules: [fwRule('r9', 0, 5, {})] }, { status: st(), rules: [fwRule('r1', 1, 100, TCP_FILTER)] }],
    },
    calls: [['ListInterfaces', {}], ['ListFirewallRules', { interface_id: 'vm2' }], ['ListFirewallRules', { interface_id: 'vm1' }]],
    json: { kind: 'FirewallRuleList', items: [{ metadata: { interface_id: 'vm1' }, spec: { id: 'r1' } },
      { metadata: { interface_id: 'vm2' }, spec: { id: 'r9', protocol_filter: { Filter: null } } }] },
    formats: ['table'],
  },
  {
    title: 'delete firewallrule sends the rule id',
    argv: ['delete', 'fwrule', '--interface-id=vm1', '--rule-id=r1'],
    calls: [['DeleteFirewallRule', { interface_id: 'vm1', rule_id: 'r1' }]],
    json: { kind: 'FirewallRule', spec: { id: 'r1', priority: 0 } },
  },
  // ---- VNI -------------------------------------------------------------------------------------------------------
  {
    title: 'check vniinuse (get vni) sends the VNI and type and shows whether it is in use',
    argv: ['get', 'vni', '--vni=100', '--vni-type=0'],
    replies: { CheckVniInUse: { status: st(), in_use: true } },
    calls: [['CheckVniInUse', { vni: 100, type: 0 }]],
    json: { kind: 'Vni', metadata: { vni: 100, vni_type: 0 }, spec: { in_use: true } },
    formats: ['table', 'name'],
  },
  {
    title: 'check vniinuse (our name for get vni, after the RPC) prints what get vni prints',
    argv: ['check', 'vniinuse', '--vni=100', '--vni-type=1'],
    referenceArgv: ['get', 'vni', '--vni=100', '--vni-type=1'],
    replies: { CheckVniInUse: { status: st(), in_use: false } },
    calls: [['CheckVniInUse', { vni: 100, type: 1 }]],
    json: { kind: 'Vni', metadata: { vni: 100, vni_type: 1 }, spec: { in_use: false } },
    formats: ['table'],
  },
  {
    title: 'reset vni resets both families by default',
    argv: ['reset', 'vni', '--vni=100'],
    calls: [['ResetVni', { vni: 100, type: 2 }]],
    json: { kind: 'Vni', metadata: { vni: 100, vni_type: 2 }, spec: { in_use: false } },
    formats: ['name'],
  },
  {
    title: 'reset vni succeeds with an empty object on a gRPC error, as upstream',
    argv: ['reset', 'vni', '--vni=100', '--vni-type=ipv4'],
    replies: { ResetVni: { grpcCode: grpc.status.INVALID_ARGUMENT, details: 'Invalid type' } },
    calls: [['ResetVni', { vni: 100, type: 0 }]],
    json: { kind: '', metadata: { vni: 0, vni_type: 0 } },
  },
  // ---- capture ----------------------------------------------------------------------------------------------------
  {
    title: 'capture start sends the sink, ports, PFs and VFs',
    argv: ['capture', 'start', '--sink-node-ip=fc00:9::1', '--udp-src-port=3000', '--udp-dst-port=3001', '--pf=0,1', '--vf=vm1'],
    calls: [['CaptureStart', { capture_config: { sink_node_ip: { ipver: 1, address: 'fc00:9::1' }, udp_src_port: 3000, udp_dst_port: 3001,
      interfaces: [{ interface_type: 0, pf_index: 0 }, { interface_type: 0, pf_index: 1 }, { interface_type: 1, vf_name: 'vm1' }] } }]],
    json: { kind: 'CaptureStart', metadata: { capture_config: { sink_node_ipv6: 'fc00:9::1', udp_src_port: 3000, udp_dst_port: 3001 } },
      spec: { interfaces: [{ interface_type: 'pf', interface_info: '0' }, { interface_type: 'pf', interface_info: '1' },
        { interface_type: 'vf', interface_info: 'vm1' }] } },
    formats: ['table', 'name'],
  },
  {
    title: 'capture start refuses a PF index above 1',
    argv: ['capture', 'start', '--sink-node-ip=fc00:9::1', '--udp-src-port=3000', '--udp-dst-port=3001', '--pf=2'],
    calls: [],
    json: { kind: 'Error', status: { code: 1000, message: 'error converting PF indexes: pf index must be 0 or 1' } },
    code: 1,
  },
  {
    title: 'capture stop shows how many interfaces stopped',
    argv: ['capture', 'stop'],
    replies: { CaptureStop: { status: st(), stopped_interface_cnt: 3 } },
    calls: [['CaptureStop', {}]],
    json: { kind: '', spec: { iface_cnt: 3 } },
    formats: ['table', 'name'],
  },
  {
    title: 'capture status shows an active capture',
    argv: ['capture', 'status'],
    replies: { CaptureStatus: { status: st(), is_active: true, capture_config: { sink_node_ip: ip6('fc00:9::1'), udp_src_port: 3000,
      udp_dst_port: 3001, interfaces: [{ interface_type: 0, pf_index: 1 }, { interface_type: 1, vf_name: b('vm1') }] } } },
    json: { spec: { operation_status: true, capture_config: { sink_node_ipv6: 'fc00:9::1' },
      interfaces: [{ interface_type: 'pf', interface_info: '1' }, { interface_type: 'vf', interface_info: 'vm1' }] } },
    formats: ['table', 'yaml'],
  },
  {
    title: 'capture status shows an inactive capture',
    argv: ['capture', 'status'],
    replies: { CaptureStatus: { status: st(), is_active: false } },
    json: { spec: { operation_status: false, capture_config: {} } },
    formats: ['table'],
  },
  // ---- errors ------------------------------------------------------------------------------------------------------
  {
    title: 'a gRPC error is a grpc error object with its status code and exit code 1',
    argv: ['create', 'interface', '--id=vm4', '--vni=100', '--ipv4=0.0.0.0', '--ipv6=::', '--device=net_tap5'],
    replies: { CreateInterface: { grpcCode: grpc.status.INVALID_ARGUMENT,
      details: 'Invalid ipv4_config.primary_address and ipv6_config.primary_address combination' } },
    json: { kind: 'Error', spec: { source: 'grpc' },
      status: { code: 3, message: 'Invalid ipv4_config.primary_address and ipv6_config.primary_address combination' } },
    code: 1,
    formats: ['table', 'yaml'],
  },
  {
    title: 'an UNIMPLEMENTED call is reported as a proto version mismatch with exit code 2, as upstream',
    argv: ['get', 'nat', '--interface-id=vm1'],
    replies: { GetNat: { grpcCode: grpc.status.UNIMPLEMENTED, details: 'GetNat is not implemented yet' } },
    json: { kind: 'Error', spec: { source: 'client' },
      status: { code: 1000, message: 'error in gRPC, client and server are probably using different proto version' } },
    code: 2,
    formats: ['name'],
  },
  {
    title: 'a service error on a list is printed as a server error object',
    argv: ['list', 'routes', '--vni=7'],
    replies: { ListRoutes: { status: st(207, 'NO_VNI'), routes: [] } },
    json: { kind: 'Error', spec: { source: 'server' }, status: { code: 207, message: 'NO_VNI' } },
    code: 2,
    formats: ['table'],
  },
  {
    title: 'a missing required flag is a client error naming the flags',
    argv: ['create', 'interface', '--vni=1', '--ipv4=1.2.3.4'],
    calls: [],
    json: { kind: 'Error', spec: { source: 'client' }, status: { code: 1000, message: 'required flag(s) "device", "id" not set' } },
    code: 1,
    formats: ['name'],
  },
  {
    title: 'a flag value that does not parse is a client error with Go\'s parse message',
    argv: ['list', 'routes', '--vni=-1'],
    calls: [],
    json: { kind: 'Error', status: { code: 1000, message: 'invalid argument "-1" for "--vni" flag: strconv.ParseUint: parsing "-1": invalid syntax' } },
    code: 1,
  },
  {
    title: 'command names and aliases are case-insensitive and flags take every pflag syntax',
    argv: ['LIST', 'IFaces', '--sort-by', 'VNI', '-w', '--pretty=true', '--output=json'],
    replies: { ListInterfaces: IFACES, GetNat: { status: st(341, 'SNAT_NO_DATA') }, GetVip: { status: st(341, 'SNAT_NO_DATA') } },
    json: { kind: 'InterfaceList', items: [{ metadata: { id: 'vm1' } }, { metadata: { id: 'vm2' } }] },
    formats: ['table'],
  },
  {
    title: 'a shorthand flag takes its value attached',
    argv: ['list', 'routes', '--vni=100', '-ojson'],
    replies: { ListRoutes: { status: st(), routes: [] } },
    json: { kind: 'RouteList', items: [] },
  },
  {
    title: 'an unknown flag is a client error',
    argv: ['list', 'interfaces', '--bogus'],
    calls: [],
    json: { kind: 'Error', status: { code: 1000, message: 'unknown flag: --bogus' } },
    code: 1,
  },
  {
    title: 'an unknown shorthand flag is a client error quoting it as Go does',
    argv: ['list', 'interfaces', '-x'],
    json: { kind: 'Error', status: { code: 1000, message: "unknown shorthand flag: 'x' in -x" } },
    code: 1,
  },
  {
    title: 'a flag with three dashes is bad flag syntax',
    argv: ['list', 'interfaces', '---x'],
    json: { kind: 'Error', status: { code: 1000, message: 'bad flag syntax: ---x' } },
    code: 1,
  },
  {
    title: 'a positional argument where none is accepted is a client error',
    argv: ['list', 'interfaces', 'extra'],
    json: { kind: 'Error', status: { code: 1000, message: 'accepts 0 arg(s), received 1' } },
    code: 1,
  },
  {
    title: 'an unknown subcommand is a client error naming the command path',
    argv: ['list', 'bogus'],
    json: { kind: 'Error', status: { code: 1000, message: 'unknown command "bogus" for "dpservice-cli list"' } },
    code: 1,
  },
  {
    title: 'an unknown output format is a client error',
    argv: ['get', 'init', '-o', 'xml'],
    replies: { CheckInitialized: { status: st(), uuid: 'U-4' } },
    code: 1,
  },
];

// ---- tests -------------------------------------------------------------------------------------------

for (const c of CASES) {
  test(c.title, async (t) => {
    const srv = await scripted(c.replies ?? {});
    t.teardown(() => srv.close());
    const argv = c.argv.includes('-o') ? c.argv : [...c.argv, '-o', 'json'];
    const out = await runTs(srv.port, argv);
    t.is(out.code, c.code ?? 0, `exit code: ${out.stdout}${out.stderr}`);
    if (out.code !== (c.code ?? 0)) return;
    if (c.json) t.like(JSON.parse(out.stdout) as object, c.json);
    if (c.stdoutIncludes) t.true(out.stdout.includes(c.stdoutIncludes), out.stdout);
    if (c.calls) {
      t.is(srv.calls.length, c.calls.length, JSON.stringify(srv.calls));
      c.calls.forEach(([rpc, req], i) => {
        t.is(srv.calls[i]?.[0], rpc);
        if (Object.keys(req).length > 0) t.like(srv.calls[i]?.[1] as object, req);
      });
    }
    if (!HAVE_PY) return;
    // the same command through the stand-in of upstream's Go CLI, byte for byte, in each format
    const refArgv = c.referenceArgv ? [...c.referenceArgv, '-o', 'json'] : argv;
    const ref = await withServer(c.replies, (port) => runPy(port, refArgv));
    t.is(out.stdout, ref.stdout, 'stdout of -o json');
    t.is(out.code, ref.code, 'exit code of -o json');
    for (const format of c.formats ?? []) {
      const args = [...c.argv, '-o', format];
      const mine = await withServer(c.replies, (port) => runTsInProcess(port, args));
      const theirs = await withServer(c.replies, (port) => runPy(port, [...(c.referenceArgv ?? c.argv), '-o', format]));
      t.is(mine.stdout, theirs.stdout, `stdout of -o ${format}`);
      t.is(mine.code, theirs.code, `exit code of -o ${format}`);
    }
  });
}

test('the CLI table above covers every RPC that upstream dpservice-cli calls', (t) => {
  const called = new Set<string>();
  for (const c of CASES) {
    for (const [rpc] of c.calls ?? []) called.add(rpc);
    for (const rpc of Object.keys(c.replies ?? {})) called.add(rpc);
  }
  t.deepEqual(Object.keys(SERVICE).filter((r) => !called.has(r)), []);
});
