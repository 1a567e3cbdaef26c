/**
 * PM2-managed deployment: `pm2 start pm2.config.js` runs the dataplane from the upstream-style conf
 * file with the lcore count from DPS_LCORES, PM2 reports it online, and `pm2 delete` stops it
 * cleanly (the TAP devices go away). PM2 runs with its own PM2_HOME and is killed afterwards.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dpClient, portOpen, removeLinks, ROOT, tryRun, waitFor } from './harness.js';

const GRPC = 21461;
const LINKS = ['dpmpf0', 'dpmpf1', 'dpmvf0'];

test('pm2 starts the service from pm2.config.js and the conf file, and stops it cleanly', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'dps-pm2-'));
  const conf = join(home, 'dpservice.conf');
  writeFileSync(conf, ['# conf for the PM2 test', 'pf0 dpmpf0', 'pf1 dpmpf1', 'vf-pattern dpmvf', 'ipv6 fc00:1::1',
    'nic-type tap', 'no-offload', `grpc-port ${GRPC}`, ''].join('\n'));
  const env = {
    ...process.env, PM2_HOME: home, DP_CONF: conf, DPS_LCORES: '0,1',
    DPS_EAL_ARGS: `--no-huge -m 512 --no-pci --file-prefix=dpm${process.pid} --vdev=net_tap0,iface=dpmpf0 `
      + '--vdev=net_tap1,iface=dpmpf1 --vdev=net_tap2,iface=dpmvf0',
    DPS_ARGS: '--log-format=json',
  };
  const pm2 = resolve(ROOT, 'node_modules/.bin/pm2');
  const run = (args: string[]) => new Promise<{ code: number; out: string }>((res) => {
    execFile(pm2, args, { env, cwd: ROOT, timeout: 60000 }, (err, stdout, stderr) => res({ code: err ? 1 : 0, out: stdout + stderr }));
  });
  t.teardown(async () => {
    await run(['kill']);
    await removeLinks(LINKS);
    rmSync(home, { recursive: true, force: true });
  });

  const started = await run(['start', 'pm2.config.js']);
  t.is(started.code, 0, started.out);
  await waitFor('the gRPC port', () => portOpen(GRPC), 30000);
  const list = await run(['jlist']);
  const apps = JSON.parse(list.out.slice(list.out.indexOf('['))) as Array<{ name: string; pm2_env: { status: string } }>;
  t.deepEqual(apps.map((a) => [a.name, a.pm2_env.status]), [['dpservice', 'online']]);
  const c = dpClient(`127.0.0.1:${GRPC}`);
  t.is((await c.call('Initialize')).status.code, 0);
  c.close();

  const deleted = await run(['delete', 'dpservice']);
  t.is(deleted.code, 0, deleted.out);
  await waitFor('the TAP devices to go', async () => (await tryRun('ip', ['link', 'show', 'dpmvf0'])).code !== 0, 20000);
  t.false(await portOpen(GRPC));
});
