import test from 'ava';
import { VnfType } from '../../src/actors/underlay.js';
import { VnfTable } from '../../src/tables/vnf-table.js';
import { cat, ip6 } from './frames.js';

/** Looks `addr` up as ipip_decap does: at an offset inside a packet buffer. */
function find(v: VnfTable, addr: string): { type: number; vni: number; port: number } | null {
  const pkt = cat(new Uint8Array(38), ip6(addr), new Uint8Array(5));
  if (!v.lookup(new DataView(pkt.buffer), 38)) return null;
  return { type: v.type, vni: v.vni, port: v.port };
}

test('an entry is found by its address with its type, VNI and port', (t) => {
  const v = VnfTable.create(64);
  t.true(v.set(ip6('fc00:1::1'), { type: VnfType.INTERFACE_IP, vni: 100, port: 3 }));
  t.true(v.set(ip6('fc00:1::2'), { type: VnfType.VIP, vni: 0xfffffffe, port: 4 }));
  t.true(v.set(ip6('fc00:1::3'), { type: VnfType.LB, vni: 7, port: -1 }));
  t.deepEqual(find(v, 'fc00:1::1'), { type: VnfType.INTERFACE_IP, vni: 100, port: 3 });
  t.deepEqual(find(v, 'fc00:1::2'), { type: VnfType.VIP, vni: 0xfffffffe, port: 4 }, 'VNI read back unsigned');
  t.deepEqual(find(v, 'fc00:1::3'), { type: VnfType.LB, vni: 7, port: -1 });
  t.is(v.size, 3);
});

test('an address that differs in any byte is not found', (t) => {
  const v = VnfTable.create(64);
  v.set(ip6('fc00:1::1'), { type: 1, vni: 100, port: 3 });
  const a = ip6('fc00:1::1');
  for (let i = 0; i < 16; i++) {
    const b = a.slice();
    b[i] = b[i]! ^ 1;
    t.false(v.lookup(new DataView(b.buffer), 0), `byte ${i}`);
  }
  t.is(find(v, '::'), null);
});

test('setting an address again replaces its entry without growing the table', (t) => {
  const v = VnfTable.create(64);
  v.set(ip6('fc00:1::1'), { type: 1, vni: 100, port: 3 });
  v.set(ip6('fc00:1::1'), { type: 3, vni: 200, port: 5 });
  t.deepEqual(find(v, 'fc00:1::1'), { type: 3, vni: 200, port: 5 });
  t.is(v.size, 1);
});

test('a deleted entry is gone, its neighbours on the probe chain stay reachable, a second delete is false', (t) => {
  const v = VnfTable.create(32);
  const addrs = Array.from({ length: 12 }, (_, i) => `fc00:1::${i + 1}`);
  addrs.forEach((a, i) => t.true(v.set(ip6(a), { type: 1, vni: i, port: i })));
  for (let i = 0; i < 12; i += 2) t.true(v.delete(ip6(addrs[i]!)));
  t.false(v.delete(ip6(addrs[0]!)));
  t.false(v.delete(ip6('fc00:9::9')));
  addrs.forEach((a, i) => t.deepEqual(find(v, a), i % 2 === 0 ? null : { type: 1, vni: i, port: i }, a));
  t.is(v.size, 6);
});

test('a full table (half its slots used) refuses a new address, still replaces existing ones, and takes one again after a delete', (t) => {
  const v = VnfTable.create(8);
  t.is(v.maxEntries, 4);
  const addrs = ['fc00::1', 'fc00::2', 'fc00::3', 'fc00::4'];
  addrs.forEach((a, i) => t.true(v.set(ip6(a), { type: 1, vni: i, port: i })));
  t.false(v.set(ip6('fc00::5'), { type: 1, vni: 9, port: 9 }));
  t.is(find(v, 'fc00::5'), null);
  t.true(v.set(ip6('fc00::3'), { type: 2, vni: 33, port: 3 }), 'replace in a full table');
  t.true(v.delete(ip6('fc00::2')));
  t.true(v.set(ip6('fc00::5'), { type: 1, vni: 9, port: 9 }), 'the tombstone is reused');
  t.deepEqual(find(v, 'fc00::5'), { type: 1, vni: 9, port: 9 });
  t.deepEqual(find(v, 'fc00::3'), { type: 2, vni: 33, port: 3 });
  t.deepEqual(find(v, 'fc00::1'), { type: 1, vni: 0, port: 0 });
  t.deepEqual(find(v, 'fc00::4'), { type: 1, vni: 3, port: 3 });
  t.is(find(v, 'fc00::2'), null);
  t.is(v.size, 4);
});

test('an address set again after its delete is stored once (no stale duplicate behind a tombstone)', (t) => {
  const v = VnfTable.create(16);
  for (let i = 1; i <= 6; i++) v.set(ip6(`fc00::${i}`), { type: 1, vni: i, port: i });
  v.delete(ip6('fc00::2'));
  v.set(ip6('fc00::2'), { type: 2, vni: 22, port: 2 });
  v.set(ip6('fc00::2'), { type: 3, vni: 23, port: 2 });
  t.deepEqual(find(v, 'fc00::2'), { type: 3, vni: 23, port: 2 });
  t.true(v.delete(ip6('fc00::2')));
  t.is(find(v, 'fc00::2'), null, 'one delete removes it');
  t.is(v.size, 5);
});

test('clear removes every entry and the table takes new ones', (t) => {
  const v = VnfTable.create(32);
  for (let i = 1; i <= 16; i++) v.set(ip6(`fc00::${i}`), { type: 1, vni: i, port: i });
  v.clear();
  t.is(v.size, 0);
  for (let i = 1; i <= 16; i++) t.is(find(v, `fc00::${i}`), null);
  // no tombstones left behind: every slot's state word (layout of vnf-table.ts: a 4-word header,
  // 12 words per slot, the state in word 1) is free again
  for (let s = 0; s < v.slots; s++) t.is(v.w[4 + s * 12 + 1], 0, `slot ${s}`);
  for (let i = 1; i <= 16; i++) t.true(v.set(ip6(`fc01::${i}`), { type: 2, vni: i, port: i }));
  t.deepEqual(find(v, 'fc01::16'), { type: 2, vni: 16, port: 16 });
});

test('a worker view over the same buffer sees the supervisor\'s changes', (t) => {
  const writer = VnfTable.create(64);
  const reader = new VnfTable(writer.sab);
  t.is(reader.slots, 64);
  writer.set(ip6('fc00:1::1'), { type: 1, vni: 100, port: 3 });
  t.deepEqual(find(reader, 'fc00:1::1'), { type: 1, vni: 100, port: 3 });
  writer.delete(ip6('fc00:1::1'));
  t.is(find(reader, 'fc00:1::1'), null);
});

test('a table whose size is not a power of two is refused', (t) => {
  for (const n of [3, 100, 1000]) t.throws(() => VnfTable.create(n), { instanceOf: RangeError }, `${n}`);
});

/** Nanoseconds per lookup of an absent address (after a warm-up). */
function missCost(v: VnfTable): number {
  const pkt = ip6('fc00:ffff::1');
  const dv = new DataView(pkt.buffer);
  for (let i = 0; i < 2000; i++) v.lookup(dv, 0);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 20000; i++) {
    pkt[15] = i & 0xff;
    pkt[14] = i >> 8;
    v.lookup(dv, 0);
  }
  return Number(process.hrtime.bigint() - t0) / 20000;
}

// A delete must not leave tombstones that pile up: if the free slots of a table that sees
// interfaces come and go ran out, a lookup of an address not in the table (any tunnelled packet
// to an unknown underlay address: NO_VNF) would probe every slot (65536 in the dataplane's table).
test('a lookup miss stays cheap after many addresses came and went', (t) => {
  const fresh = VnfTable.create(1024);
  fresh.set(ip6('fc00::1'), { type: 1, vni: 1, port: 1 });
  const churned = VnfTable.create(1024);
  for (let i = 0; i < 20000; i++) {
    const a = ip6(`fc00:1::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`);
    churned.set(a, { type: 1, vni: 1, port: 1 });
    churned.delete(a);
  }
  churned.set(ip6('fc00::1'), { type: 1, vni: 1, port: 1 });
  t.is(churned.size, 1);
  const base = missCost(fresh);
  const after = missCost(churned);
  t.log(`miss: ${base.toFixed(0)} ns fresh, ${after.toFixed(0)} ns after churn`);
  t.true(after < base * 10, `${after.toFixed(0)} ns per miss after churn vs ${base.toFixed(0)} ns`);
});
