/**
 * bin/dpservice-cli against the real service on TAP ports: init, interface and route lifecycle
 * with -o json parsed, a table for people, and upstream's error object for a server error.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { removeLinks, ROOT, type Service, startService, tapTopology } from './harness.js';

const P = 'dcs';
const { PF0, PF1, VF0, VF1 } = tapTopology(P);
const GRPC = 21471;
let svc: Service | undefined;

function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    execFile(resolve(ROOT, 'bin/dpservice-cli'), ['--address', `127.0.0.1:${GRPC}`, ...args], { env: {}, timeout: 30000 },
      (e, stdout, stderr) => res({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out: stdout, err: stderr }));
  });
}

test.before(async () => {
  await removeLinks([PF0.iface, PF1.iface, VF0.iface, VF1.iface]);
  svc = await startService({ lcores: '0,1', pf0: PF0, pf1: PF1, vfs: [VF0, VF1], vfPattern: `${P}vf`, grpcPort: GRPC, filePrefix: `${P}${process.pid}` });
});

test.after.always(async () => {
  await svc?.stop();
  await removeLinks([PF0.iface, PF1.iface, VF0.iface, VF1.iface]);
});

test.serial('the CLI initializes the service and manages interfaces and routes', async (t) => {
  t.is((await cli('init')).code, 0);
  const created = await cli('create', 'interface', '--id=vm1', '--vni=100', '--ipv4=10.100.1.1', '--ipv6=2000:100:1::1',
    '--device=net_tap2', '-o', 'json');
  t.is(created.code, 0, created.err);
  const c = JSON.parse(created.out) as { spec: { underlay_route: string }; status: { code: number } };
  t.regex(c.spec.underlay_route, /^fc00:1::d0/);

  const got = JSON.parse((await cli('get', 'interface', '--id=vm1', '-o', 'json')).out) as {
    kind: string; metadata: { id: string }; spec: { vni: number; primary_ipv4: string; pci_name?: string; device?: string };
  };
  t.is(got.kind, 'Interface');
  t.is(got.metadata.id, 'vm1');
  t.is(got.spec.vni, 100);
  t.is(got.spec.primary_ipv4, '10.100.1.1');

  t.is((await cli('create', 'route', '--prefix=10.200.0.0/16', '--next-hop-vni=100', '--next-hop-ip=fc00:2::1', '--vni=100')).code, 0);
  const routes = JSON.parse((await cli('list', 'routes', '--vni=100', '-o', 'json')).out) as { items: Array<{ spec: { prefix: string } }> };
  t.true(routes.items.some((r) => r.spec.prefix === '10.200.0.0/16'), JSON.stringify(routes));

  const table = await cli('list', 'interfaces', '-o', 'table');
  t.is(table.code, 0);
  t.regex(table.out, /vm1\s+100\s/);

  t.is((await cli('delete', 'interface', '--id=vm1')).code, 0);
  const missing = await cli('get', 'interface', '--id=vm1', '-o', 'json');
  t.is(missing.code, 2, 'server errors exit 2');
  const e = JSON.parse(missing.out) as { kind: string; spec: { source: string }; status: { code: number; message: string } };
  t.deepEqual([e.kind, e.spec.source, e.status.code], ['Error', 'server', 201]);
});
