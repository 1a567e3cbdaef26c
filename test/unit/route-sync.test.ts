import test from 'ava';
import { pino } from 'pino';
import type { DataplaneApi } from '../../src/actors/dataplane-api.js';
import { DpError, DpErrorCode } from '../../src/actors/errors.js';
import { Registry } from '../../src/actors/registry.js';
import { ipv4Addr, ipv6Addr } from '../../src/actors/registry-types.js';
import { RouteSync } from '../../src/actors/route-sync.js';
import { TableSync, type WorkerBarrier } from '../../src/actors/table-sync.js';
import { FlowTable } from '../../src/tables/flow-table.js';
import { VnfTable } from '../../src/tables/vnf-table.js';
import { Op } from '../../src/workers/channel.js';
import { parseIpv4, parseIpv6 } from '../../src/actors/underlay.js';
import { Lpm4Table } from '../../src/tables/lpm.js';
import { Lpm6Table } from '../../src/tables/lpm6.js';

class FakeDataplane implements DataplaneApi {
  readonly hostIpv6 = parseIpv6('fc00:1::')!;
  // the sizes of the tables setup() creates
  readonly tableLimits = { vnfs: 1024, routes: 1024, routesPerVni: 512 };
  vfPort(name: string): number | undefined {
    const m = /^net_tap(\d)$/.exec(name);
    return m ? Number(m[1]) : undefined;
  }
  async attachInterface(): Promise<void> {}
  async detachInterface(): Promise<void> {}
  markInitialized(): void {}
}

const v4 = (s: string): number => parseIpv4(s)!;
const v6 = (s: string): Uint8Array => parseIpv6(s)!;

/** A registry with one interface whose changes reach the route tables through `sync` (or through `tables`, given one). */
async function setup(tables?: (sync: RouteSync) => TableSync): Promise<{ reg: Registry; sync: RouteSync }> {
  const sync = new RouteSync(Lpm4Table.create({ maxRoutes: 1024, maxRoutesPerVni: 512, maxVnis: 16 }),
    Lpm6Table.create({ maxRoutes: 1024, maxRoutesPerVni: 512, maxVnis: 16 }), pino({ level: 'silent' }));
  const reg = new Registry(new FakeDataplane());
  const via = tables?.(sync);
  reg.changes.subscribe((c) => (via ? via.apply(c) : sync.apply(c)));
  await reg.createInterface({
    id: 'vm1', vni: 100, ipv4: v4('10.0.0.1'), ipv6: v6('2000::1'), deviceName: 'net_tap2',
    pxeServer: '', bootFile: '', hostname: '', totalRate: 0n, publicRate: 0n,
  });
  await reg.changes.commit();
  return { reg, sync };
}

test('an interface address routes to its VM port in its VNI only', async (t) => {
  const { sync } = await setup();
  const r = sync.v4.lookup(100, v4('10.0.0.1'));
  t.true(r >= 0);
  t.is(sync.v4.target(r), 2);
  t.is(sync.v4.lookup(200, v4('10.0.0.1')), -1);
  const r6 = sync.v6.lookup(100, v6('2000::1'), 0);
  t.is(sync.v6.target(r6), 2);
});

test('external routes carry their next hop and go with delete and VNI reset', async (t) => {
  const { reg, sync } = await setup();
  reg.createRoute(100, ipv4Addr(v4('10.200.0.0')), 16, 100, ipv6Addr(v6('fc00:2::1')));
  reg.createRoute(100, ipv4Addr(v4('0.0.0.0')), 0, 100, ipv6Addr(v6('fc00::ffff')));
  await reg.changes.commit();
  const r = sync.v4.lookup(100, v4('10.200.3.4'));
  t.is(sync.v4.length(r), 16);
  t.is(sync.v4.target(r), -1);
  const nh = new Uint8Array(16);
  sync.v4.copyNexthop(r, nh, 0);
  t.deepEqual(nh, v6('fc00:2::1'));
  t.is(sync.v4.length(sync.v4.lookup(100, v4('8.8.8.8'))), 0, 'default route');

  reg.deleteRoute(100, ipv4Addr(v4('10.200.0.0')), 16);
  await reg.changes.commit();
  t.is(sync.v4.length(sync.v4.lookup(100, v4('10.200.3.4'))), 0, 'falls back to the default route');

  reg.resetVniRoutes(100);
  await reg.changes.commit();
  t.is(sync.v4.lookup(100, v4('8.8.8.8')), -1, 'external routes flushed');
  t.is(sync.v4.target(sync.v4.lookup(100, v4('10.0.0.1'))), 2, 'the interface route is back');
});

test('deleting the last interface of a VNI empties its tables', async (t) => {
  const { reg, sync } = await setup();
  await reg.deleteInterface('vm1');
  await reg.changes.commit();
  t.is(sync.v4.lookup(100, v4('10.0.0.1')), -1);
  t.is(sync.v6.lookup(100, v6('2000::1'), 0), -1);
  t.is(sync.v4.size + sync.v6.size, 0);
});

test('with the limits of its tables, the registry refuses a route beyond them (ROUTE_INSERT) and the tables hold every route it took', async (t) => {
  const v4t = Lpm4Table.create({ maxRoutes: 12, maxRoutesPerVni: 8, maxVnis: 4 });
  const v6t = Lpm6Table.create({ maxRoutes: 12, maxRoutesPerVni: 8, maxVnis: 4 });
  const sync = new RouteSync(v4t, v6t, pino({ level: 'silent' }));
  const dp = new FakeDataplane();
  const reg = new Registry(Object.assign(dp, { tableLimits: { vnfs: 1024, routes: v4t.capacity, routesPerVni: v4t.vniCapacity } }));
  reg.changes.subscribe((c) => sync.apply(c));
  const nh = ipv6Addr(v6('fc00:2::1'));
  for (const [id, vni, port] of [['vm1', 7, 2], ['vm2', 8, 3]] as const) {
    await reg.createInterface({
      id, vni, ipv4: v4(`10.0.${port}.1`), ipv6: new Uint8Array(16), deviceName: `net_tap${port}`,
      pxeServer: '', bootFile: '', hostname: '', totalRate: 0n, publicRate: 0n,
    });
  }
  const add = (vni: number, i: number): number => {
    try {
      reg.createRoute(vni, ipv4Addr(v4(`10.${i}.0.0`)), 16, vni, nh);
      return 0;
    } catch (e) {
      return (e as DpError).code;
    }
  };
  for (let i = 1; i <= 7; i++) t.is(add(7, i), 0);
  t.is(add(7, 8), DpErrorCode.ROUTE_INSERT, 'VNI 7 holds 8 routes');
  for (let i = 1; i <= 3; i++) t.is(add(8, i), 0);
  t.is(add(8, 4), DpErrorCode.ROUTE_INSERT, 'the table holds 12 routes');
  await reg.changes.commit();
  t.is(sync.refused, 0);
  t.is(v4t.size, 12);
  t.is(v4t.count(7), 8);
  for (let i = 1; i <= 7; i++) t.is(v4t.length(v4t.lookup(7, v4(`10.${i}.1.1`))), 16, `10.${i}.0.0/16 in VNI 7`);
});

// the registry's limits are the tables' (Dataplane.tableLimits); should they ever disagree, what
// the table refuses is counted and logged
test('a table refusing a route the registry took is counted and logged, and the service goes on', async (t) => {
  const sync = new RouteSync(Lpm4Table.create({ maxRoutes: 64, maxRoutesPerVni: 2, maxVnis: 4 }),
    Lpm6Table.create({ maxRoutes: 64, maxRoutesPerVni: 2, maxVnis: 4 }), pino({ level: 'silent' }));
  const reg = new Registry(new FakeDataplane());
  reg.changes.subscribe((c) => sync.apply(c));
  await reg.createInterface({
    id: 'vm1', vni: 7, ipv4: v4('10.0.0.1'), ipv6: new Uint8Array(16), deviceName: 'net_tap2',
    pxeServer: '', bootFile: '', hostname: '', totalRate: 0n, publicRate: 0n,
  });
  for (let i = 0; i < 4; i++) reg.createRoute(7, ipv4Addr(v4(`10.${i + 1}.0.0`)), 16, 7, ipv6Addr(v6('fc00:2::1')));
  await t.notThrowsAsync(reg.changes.commit());
  t.true(sync.refused >= 1);
  t.true(sync.v4.size <= 2);
});

test('a deleted route\'s grace period starts at the generation bump that makes decisions naming it stale', async (t) => {
  const flows = FlowTable.create(64);
  const events: string[] = [];
  const barrier: WorkerBarrier = {
    broadcast: async (op) => {
      events.push(`broadcast ${op} at generation ${flows.generation}`);
    },
  };
  const { reg, sync } = await setup((routes) => {
    const origStart = routes.startGrace.bind(routes);
    routes.startGrace = () => {
      events.push(`startGrace at generation ${flows.generation}`);
      origStart();
    };
    // routes and the interface's VNF entry change here: the other tables are not touched
    return new TableSync(routes, VnfTable.create(64), null as never, flows, null as never, null as never, barrier, pino({ level: 'silent' }));
  });
  t.true(sync.v4.deferGrace && sync.v6.deferGrace);
  reg.createRoute(100, ipv4Addr(v4('10.200.0.0')), 16, 100, ipv6Addr(v6('fc00:2::1')));
  await reg.changes.commit();
  const g0 = flows.generation;
  events.length = 0;
  reg.deleteRoute(100, ipv4Addr(v4('10.200.0.0')), 16);
  await reg.changes.commit();
  t.deepEqual(events, [`startGrace at generation ${g0 + 1}`, `broadcast ${Op.PING} at generation ${g0 + 1}`]);
});
