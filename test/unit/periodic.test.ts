import test from 'ava';
import { makeTestBatch, type PacketBatch } from '../../src/packet/batch.js';
import type { NodeContext } from '../../src/workers/node-context.js';
import { ArpNode } from '../../src/workers/nodes/arp.js';
import {
  buildGarp, buildRa, buildRouterProbe, buildUnsolicitedNa, ECHO_PROBE_FRAME_LEN, garpWanted, ndWanted, PERIODIC_FAST_CYCLES,
  PERIODIC_FAST_INTERVAL_MS, PERIODIC_SLOW_INTERVAL_MS, PeriodicSchedule, ROUTER_PROBE_ID, routerProbeWanted, RS_FRAME_LEN,
} from '../../src/workers/nodes/periodic.js';
import { arp, cat, eth, hex, ip4, ip6, l4v6Ok, mac, makeCtx, PF0_MAC, PORT_MAC, run, VM_IPV4, VM_MAC } from './frames.js';

type Builder = (b: PacketBatch, slot: number, port: number, ctx: NodeContext) => boolean;

/** Builds into slot 2 of a test batch the way the worker does: a fresh mbuf, length 0. */
function build(fn: Builder, ctx: NodeContext, port = 3, headroom = 128): { ok: boolean; b: PacketBatch; out: Uint8Array } {
  const b = makeTestBatch(4);
  const mbuf = 2 * (b.bufShift + b.bufLen);
  b.reset(2, mbuf, mbuf + b.bufShift + headroom, 0, port);
  b.outPort[2] = 0xffff;
  const ok = fn(b, 2, port, ctx);
  const s = b.start[2]!;
  return { ok, b, out: b.bytes.slice(s, s + b.len[2]!) };
}

test('upstream\'s schedule: 5 s cycles until Initialize, 5 more after it, then every 30 s', (t) => {
  t.is(PERIODIC_FAST_INTERVAL_MS, 5000);
  t.is(PERIODIC_FAST_CYCLES, 5);
  t.is(PERIODIC_SLOW_INTERVAL_MS, 30000);
  const s = new PeriodicSchedule();
  t.deepEqual([s.next(false), s.next(false), s.next(false), s.next(false), s.next(false), s.next(false)], Array(6).fill(5000));
  t.deepEqual([s.next(true), s.next(true), s.next(true), s.next(true)], [5000, 5000, 5000, 5000]);
  t.is(s.next(true), 30000);
  t.is(s.next(true), 30000);
  t.is(s.next(false), 30000);
});

test('the GARP asks for the VM address while the port waits for the VM\'s first ARP', (t) => {
  const { ok, b, out } = build(buildGarp, makeCtx());
  t.true(ok);
  t.is(b.outPort[2], 3);
  t.is(hex(out), hex(cat(eth('ff:ff:ff:ff:ff:ff', PORT_MAC, 0x0806),
    arp({ op: 1, sha: PORT_MAC, spa: '169.254.0.1', tha: '00:00:00:00:00:00', tpa: VM_IPV4 }))));
  t.is(out.length, 42, 'no padding, as upstream');
});

test('once the VM answered, the GARP is a true gratuitous ARP for 169.254.0.1', (t) => {
  const ctx = makeCtx();
  const reply = cat(eth(PORT_MAC, VM_MAC, 0x0806), arp({ op: 2, sha: VM_MAC, spa: VM_IPV4, tha: PORT_MAC, tpa: '169.254.0.1' }));
  run(new ArpNode(ctx), reply);
  const { ok, out } = build(buildGarp, ctx);
  t.true(ok);
  t.is(hex(out.subarray(38, 42)), hex(ip4('169.254.0.1')));
  t.is(hex(out.subarray(28, 32)), hex(ip4('169.254.0.1')));
});

test('the unsolicited NA announces fe80::1 to all nodes with router and override flags', (t) => {
  const { ok, b, out } = build(buildUnsolicitedNa, makeCtx());
  t.true(ok);
  t.is(b.outPort[2], 3);
  t.is(out.length, 78);
  t.is(hex(out.subarray(0, 14)), '333300000001' + hex(mac(PORT_MAC)) + '86dd');
  t.is(hex(out.subarray(14, 22)), '60000000' + '0018' + '3aff');
  t.is(hex(out.subarray(22, 38)), hex(ip6('fe80::1')));
  t.is(hex(out.subarray(38, 54)), hex(ip6('ff02::1')));
  t.is(hex(out.subarray(54, 56)), '8800');
  t.is(hex(out.subarray(58, 62)), 'a0000000', 'router + override, not solicited');
  t.is(hex(out.subarray(62, 78)), hex(ip6('fe80::1')));
  t.true(l4v6Ok(out, 58));
});

test('the periodic RA is the RS answer sent to all nodes', (t) => {
  const { ok, out } = build(buildRa, makeCtx());
  t.true(ok);
  t.is(out.length, 78);
  t.is(hex(out.subarray(0, 14)), '333300000001' + hex(mac(PORT_MAC)) + '86dd');
  t.is(hex(out.subarray(14, 22)), '60000000' + '0018' + '3aff');
  t.is(hex(out.subarray(22, 54)), hex(ip6('fe80::1')) + hex(ip6('ff02::1')));
  t.is(hex(out.subarray(54, 56)), '8600');
  t.is(hex(out.subarray(58, 70)), 'ffc0ffff' + '00000000' + '00000000');
  t.is(hex(out.subarray(70, 78)), '0101' + hex(mac(PORT_MAC)));
  t.true(l4v6Ok(out, 58));
});

test('IPv6 periodic packets need --enable-ipv6-overlay and an interface IPv6', (t) => {
  const off = makeCtx({}, { ipv6Overlay: false });
  const noV6 = makeCtx({ ipv6: '' });
  for (const fn of [buildRa, buildUnsolicitedNa]) {
    for (const ctx of [off, noV6]) {
      const { ok, b } = build(fn, ctx);
      t.false(ok);
      t.is(b.len[2], 0, 'slot untouched');
    }
  }
  t.false(ndWanted(off, 3));
  t.true(ndWanted(makeCtx(), 3));
});

test('the GARP needs an interface with IPv4 on a VM port', (t) => {
  t.false(build(buildGarp, makeCtx({ ipv4: '' })).ok);
  t.false(build(buildGarp, makeCtx(null)).ok, 'port without interface');
  t.false(build(buildGarp, makeCtx(), 0).ok, 'uplink port');
  t.false(garpWanted(makeCtx(null), 3));
  t.true(garpWanted(makeCtx(), 3));
});

test('a builder reports false when the buffer cannot hold the packet', (t) => {
  for (const fn of [buildGarp, buildRa, buildUnsolicitedNa]) {
    const { ok, b } = build(fn, makeCtx(), 3, 2176 - 41);
    t.false(ok);
    t.is(b.len[2], 0);
  }
});

// ---- router probes on uplinks ----

/** EUI-64 link-local address of PF0_MAC 22:22:22:22:22:00. */
const PF_LL = 'fe80::2022:22ff:fe22:2200';

test('the router solicitation probe goes from the uplink link-local address to all routers with our MAC', (t) => {
  const { ok, b, out } = build((bb, s, p, c) => buildRouterProbe(bb, s, p, c, 0), makeCtx(), 0);
  t.true(ok);
  t.is(b.outPort[2], 0);
  t.is(out.length, RS_FRAME_LEN);
  t.is(RS_FRAME_LEN, 70);
  t.is(hex(out.subarray(0, 14)), '333300000002' + hex(mac(PF0_MAC)) + '86dd');
  t.is(hex(out.subarray(14, 22)), '60000000' + '0010' + '3aff');
  t.is(hex(out.subarray(22, 38)), hex(ip6(PF_LL)));
  t.is(hex(out.subarray(38, 54)), hex(ip6('ff02::2')));
  t.is(hex(out.subarray(54, 56)), '8500');
  t.is(hex(out.subarray(58, 62)), '00000000', 'reserved');
  t.is(hex(out.subarray(62, 70)), '0101' + hex(mac(PF0_MAC)), 'source link-layer option');
  t.true(l4v6Ok(out, 58));
  t.is(b.l4[2], 54);
  t.is(b.proto[2], 58);
});

test('the echo probe asks all routers for an echo reply with our probe identifier', (t) => {
  const { ok, out } = build((bb, s, p, c) => buildRouterProbe(bb, s, p, c, 1), makeCtx(), 0);
  t.true(ok);
  t.is(out.length, ECHO_PROBE_FRAME_LEN);
  t.is(ECHO_PROBE_FRAME_LEN, 62);
  t.is(hex(out.subarray(0, 14)), '333300000002' + hex(mac(PF0_MAC)) + '86dd');
  t.is(hex(out.subarray(14, 22)), '60000000' + '0008' + '3aff');
  t.is(hex(out.subarray(22, 54)), hex(ip6(PF_LL)) + hex(ip6('ff02::2')));
  t.is(hex(out.subarray(54, 56)), '8000');
  t.is(hex(out.subarray(58, 62)), ROUTER_PROBE_ID.toString(16).padStart(4, '0') + '0001');
  t.true(l4v6Ok(out, 58));
});

test('router probes go out on uplinks only and need room in the buffer', (t) => {
  const ctx = makeCtx();
  t.true(routerProbeWanted(ctx, 0));
  t.false(routerProbeWanted(ctx, 3), 'VM port');
  t.false(routerProbeWanted(ctx, 9), 'undeclared port');
  for (const kind of [0, 1] as const) {
    const probe: Builder = (bb, s, p, c) => buildRouterProbe(bb, s, p, c, kind);
    const vm = build(probe, ctx, 3);
    t.false(vm.ok);
    t.is(vm.b.len[2], 0, 'slot untouched');
    const tight = build(probe, ctx, 0, 2176 - 61);
    t.false(tight.ok);
    t.is(tight.b.len[2], 0);
  }
});
