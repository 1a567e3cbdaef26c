import test from 'ava';
import { DropReason } from '../../src/packet/drop-reasons.js';
import { PORT_MAC_LEARNED } from '../../src/tables/port-table.js';
import { Ipv6NdNode } from '../../src/workers/nodes/ipv6-nd.js';
import {
  cat, eth, hex, ip6, ipv6, l4v6Ok, mac, makeCtx, PF0_MAC, PORT_MAC, ROUTER, ROUTER_LL, run, VM_LL, VM_MAC, vmMacOf,
} from './frames.js';

const E_TX = 1;

function ns(target: string, src = VM_LL, slla: string | null = VM_MAC, extra: number[] = []): Uint8Array {
  const icmp = cat([135, 0, 0, 0, 0, 0, 0, 0], ip6(target), slla === null ? [] : cat([1, 1], mac(slla)), extra);
  return cat(eth('33:33:ff:00:00:01', VM_MAC, 0x86dd), ipv6(ip6(src), ip6('ff02::1:ff00:1'), 58, icmp));
}

function rs(slla: string | null = VM_MAC): Uint8Array {
  const icmp = cat([133, 0, 0, 0, 0, 0, 0, 0], slla === null ? [] : cat([1, 1], mac(slla)));
  return cat(eth('33:33:00:00:00:02', VM_MAC, 0x86dd), ipv6(ip6(VM_LL), ip6('ff02::2'), 58, icmp));
}

test('an NS for fe80::1 becomes a solicited router NA with the port MAC as target link-layer address', (t) => {
  const ctx = makeCtx();
  const req = ns('fe80::1');
  const r = run(new Ipv6NdNode(ctx), req);
  t.is(r.edge, E_TX);
  t.is(r.b.outPort[r.slot], 3);
  const o = r.out;
  t.is(o.length, req.length);
  t.is(hex(o.subarray(0, 6)), hex(mac(VM_MAC)));
  t.is(hex(o.subarray(6, 12)), hex(mac(PORT_MAC)));
  t.is(hex(o.subarray(14, 22)), '60000000' + '0020' + '3aff', 'payload length and hop limit kept');
  t.is(hex(o.subarray(22, 38)), hex(ip6('fe80::1')));
  t.is(hex(o.subarray(38, 54)), hex(ip6(VM_LL)));
  t.is(o[54], 136);
  t.is(o[55], 0);
  t.is(hex(o.subarray(58, 62)), 'e0000000', 'router, solicited, override');
  t.is(hex(o.subarray(62, 78)), hex(ip6('fe80::1')));
  t.is(hex(o.subarray(78, 86)), '0201' + hex(mac(PORT_MAC)));
  t.true(l4v6Ok(o, 58));
});

test('an NS teaches the VM MAC from its Ethernet source', (t) => {
  const ctx = makeCtx();
  const req = ns('fe80::1');
  req.set(mac('12:34:56:78:9a:bc'), 6);
  run(new Ipv6NdNode(ctx), req);
  t.is(vmMacOf(ctx), '12:34:56:78:9a:bc');
  t.not(ctx.ports.flags(3) & PORT_MAC_LEARNED, 0);
});

test('an NS from the unspecified address is answered to ff02::1, and without options no option is added', (t) => {
  const req = ns('fe80::1', '::', null);
  const r = run(new Ipv6NdNode(makeCtx()), req);
  t.is(r.edge, E_TX);
  t.is(r.out.length, 14 + 40 + 24);
  t.is(hex(r.out.subarray(18, 20)), '0018');
  t.is(hex(r.out.subarray(38, 54)), hex(ip6('ff02::1')));
  t.is(hex(r.out.subarray(0, 6)), hex(mac(VM_MAC)), 'Ethernet still unicast to the sender');
  t.true(l4v6Ok(r.out, 58));
});

test('the NA replaces only the first option of the NS and keeps the rest', (t) => {
  const nonce = [14, 1, 1, 2, 3, 4, 5, 6];
  const r = run(new Ipv6NdNode(makeCtx()), ns('fe80::1', VM_LL, VM_MAC, nonce));
  t.is(r.edge, E_TX);
  t.is(hex(r.out.subarray(78, 86)), '0201' + hex(mac(PORT_MAC)));
  t.is(hex(r.out.subarray(86, 94)), hex(Uint8Array.from(nonce)));
  t.true(l4v6Ok(r.out, 58));
});

test('an RS becomes upstream\'s RA: hop limit 255, M and O flags, lifetime 0xffff, port MAC option', (t) => {
  const ctx = makeCtx();
  const r = run(new Ipv6NdNode(ctx), rs());
  t.is(r.edge, E_TX);
  const o = r.out;
  t.is(o.length, 14 + 40 + 24);
  t.is(hex(o.subarray(0, 12)), hex(mac(VM_MAC)) + hex(mac(PORT_MAC)));
  t.is(hex(o.subarray(18, 20)), '0018');
  t.is(hex(o.subarray(22, 38)), hex(ip6('fe80::1')));
  t.is(hex(o.subarray(38, 54)), hex(ip6(VM_LL)));
  t.is(o[54], 134);
  t.is(o[55], 0);
  t.is(hex(o.subarray(58, 62)), 'ffc0ffff', 'cur hop limit 255, M|O, router lifetime 65535');
  t.is(hex(o.subarray(62, 70)), '0000000000000000', 'reachable time and retrans timer 0');
  t.is(hex(o.subarray(70, 78)), '0101' + hex(mac(PORT_MAC)));
  t.true(l4v6Ok(o, 58));
  t.is(ctx.ports.flags(3) & PORT_MAC_LEARNED, 0, 'an RS teaches nothing (as upstream)');
});

test('an RS without options grows into the RA when the buffer has room', (t) => {
  const r = run(new Ipv6NdNode(makeCtx()), rs(null));
  t.is(r.edge, E_TX);
  t.is(r.out.length, 78);
  t.true(l4v6Ok(r.out, 58));
});

test('an RS whose buffer cannot hold the RA is dropped for lack of room', (t) => {
  const f = rs(null);
  const r = run(new Ipv6NdNode(makeCtx()), f, { headroom: 2176 - f.length });
  t.is(r.edge, 0);
  t.is(r.reason, DropReason.NO_ROOM);
});

test('without --enable-ipv6-overlay every NS and RS is dropped', (t) => {
  const node = new Ipv6NdNode(makeCtx({}, { ipv6Overlay: false }));
  for (const f of [ns('fe80::1'), rs()]) {
    const r = run(node, f);
    t.is(r.edge, 0);
    t.is(r.reason, DropReason.ND_NOT_HANDLED);
  }
});

test('an NS for another target and other ICMPv6 types are not handled', (t) => {
  const node = new Ipv6NdNode(makeCtx());
  const other = ns('fe80::2');
  const echo = ns('fe80::1');
  echo[54] = 128;
  const na = ns('fe80::1');
  na[54] = 136;
  for (const f of [other, echo, na]) {
    const r = run(node, f);
    t.is(r.edge, 0);
    t.is(r.reason, DropReason.ND_NOT_HANDLED);
  }
});

test('a frame that is not ICMPv6 is malformed for this node', (t) => {
  const f = ns('fe80::1');
  f[20] = 17;
  const r = run(new Ipv6NdNode(makeCtx()), f);
  t.is(r.edge, 0);
  t.is(r.reason, DropReason.MALFORMED);
});

test('every truncation of an NS or an RS is dropped as truncated', (t) => {
  const node = new Ipv6NdNode(makeCtx());
  for (const full of [ns('fe80::1'), rs()]) {
    for (let n = 0; n < full.length; n++) {
      const r = run(node, full.slice(0, n));
      t.is(r.edge, 0, `length ${n}`);
      t.is(r.reason, DropReason.TRUNCATED, `length ${n}`);
    }
  }
});

test('an NS whose payload length is shorter than a target is truncated even in a long frame', (t) => {
  const f = ns('fe80::1');
  f[18] = 0;
  f[19] = 16;
  const r = run(new Ipv6NdNode(makeCtx()), f);
  t.is(r.reason, DropReason.TRUNCATED);
});

// ---- on an uplink: the host's neighbour discovery with the underlay router ----

const PF = 0;
/** EUI-64 link-local address of PF0_MAC 22:22:22:22:22:00. */
const PF_LL = 'fe80::2022:22ff:fe22:2200';

function uplinkCtx(): ReturnType<typeof makeCtx> {
  return makeCtx({}, {}, 3, { underlayPrefix: ip6('fc00:1::').subarray(0, 8) });
}

function uplinkNs(target: string, src = ROUTER_LL, srcMac = ROUTER, slla = true): Uint8Array {
  const icmp = cat([135, 0, 0, 0, 0, 0, 0, 0], ip6(target), slla ? cat([1, 1], mac(srcMac)) : []);
  return cat(eth('33:33:ff:00:00:01', srcMac, 0x86dd), ipv6(ip6(src), ip6('ff02::1:ff00:1'), 58, icmp));
}

function fromRouter(icmp: Uint8Array, srcMac = ROUTER, src = ROUTER_LL): Uint8Array {
  return cat(eth(PF0_MAC, srcMac, 0x86dd), ipv6(ip6(src), ip6(PF_LL), 58, icmp));
}

test('an NS on an uplink for an address of the underlay /64 is answered with a solicited NA from that address', (t) => {
  for (const [target, slla] of [['fc00:1::1', true], ['fc00:1::abcd:4', true], ['fc00:1::1', false]] as const) {
    const what = `${target}${slla ? '' : ' without option'}`;
    const r = run(new Ipv6NdNode(uplinkCtx()), uplinkNs(target, ROUTER_LL, ROUTER, slla), { port: PF });
    t.is(r.edge, E_TX, what);
    t.is(r.b.outPort[r.slot], PF, what);
    const o = r.out;
    t.is(o.length, 14 + 40 + 32, what);
    t.is(hex(o.subarray(0, 14)), hex(mac(ROUTER)) + hex(mac(PF0_MAC)) + '86dd', what);
    t.is(hex(o.subarray(14, 22)), '60000000' + '0020' + '3aff', `${what}: payload 32, ICMPv6, hop limit 255`);
    t.is(hex(o.subarray(22, 38)), hex(ip6(target)), `${what}: from the target`);
    t.is(hex(o.subarray(38, 54)), hex(ip6(ROUTER_LL)), `${what}: to the solicitor`);
    t.is(hex(o.subarray(54, 56)), '8800', what);
    t.is(hex(o.subarray(58, 62)), '60000000', `${what}: solicited and override, not a router`);
    t.is(hex(o.subarray(62, 78)), hex(ip6(target)), what);
    t.is(hex(o.subarray(78, 86)), '0201' + hex(mac(PF0_MAC)), `${what}: target link-layer option`);
    t.true(l4v6Ok(o, 58), `${what}: checksum`);
  }
});

test('an NS on an uplink for the uplink\'s own link-local address is answered', (t) => {
  const r = run(new Ipv6NdNode(uplinkCtx()), uplinkNs(PF_LL), { port: PF });
  t.is(r.edge, E_TX);
  t.is(hex(r.out.subarray(22, 38)), hex(ip6(PF_LL)));
  t.true(l4v6Ok(r.out, 58));
});

test('an NS on an uplink for a foreign address is dropped as not handled', (t) => {
  const node = new Ipv6NdNode(uplinkCtx());
  for (const target of ['fc00:2::1', 'fc00:1:0:1::1', 'fe80::2022:22ff:fe22:2201', 'fe80::1', '::']) {
    const r = run(node, uplinkNs(target), { port: PF });
    t.is(r.edge, 0, target);
    t.is(r.reason, DropReason.ND_NOT_HANDLED, target);
  }
});

test('an NS from the unspecified address (duplicate address detection) is answered to all nodes, unsolicited', (t) => {
  const ctx = uplinkCtx();
  const r = run(new Ipv6NdNode(ctx), uplinkNs('fc00:1::1', '::', ROUTER, false), { port: PF });
  t.is(r.edge, E_TX);
  t.is(hex(r.out.subarray(38, 54)), hex(ip6('ff02::1')));
  t.is(hex(r.out.subarray(58, 62)), '20000000', 'override only');
  t.true(l4v6Ok(r.out, 58));
  t.false(ctx.ports.routerKnown(PF), 'nothing learned from the unspecified address');
});

test('the router MAC is learned from its NS, NA, RA and echo replies; the rest is consumed', (t) => {
  const ECHO_REPLY = Uint8Array.of(129, 0, 0, 0, 0x64, 0x70, 0, 1);
  const NA_MSG = cat([136, 0xa0, 0, 0, 0, 0, 0, 0], ip6(ROUTER_LL));
  const RA_MSG = Uint8Array.of(134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  const cases: [string, Uint8Array, number, number][] = [
    ['echo reply', fromRouter(ECHO_REPLY), 0, DropReason.CONSUMED],
    ['NA', fromRouter(NA_MSG), 0, DropReason.CONSUMED],
    ['RA', fromRouter(RA_MSG), 0, DropReason.CONSUMED],
    ['NS for a foreign address', uplinkNs('fc00:9::1'), 0, DropReason.ND_NOT_HANDLED],
    ['NS for us', uplinkNs('fc00:1::1'), E_TX, DropReason.NONE],
  ];
  for (const [what, f, edge, reason] of cases) {
    const ctx = uplinkCtx();
    t.false(ctx.ports.routerKnown(PF));
    const r = run(new Ipv6NdNode(ctx), f, { port: PF });
    t.is(r.edge, edge, what);
    if (edge === 0) t.is(r.reason, reason, what);
    t.true(ctx.ports.routerKnown(PF), what);
    t.is(vmMacOf(ctx, PF), ROUTER, what);
  }
});

test('a multicast source MAC or the uplink\'s own MAC is never taken for the router', (t) => {
  const ECHO_REPLY = Uint8Array.of(129, 0, 0, 0, 0, 1, 0, 1);
  for (const src of ['33:33:00:00:00:01', '01:00:5e:00:00:01', PF0_MAC]) {
    const ctx = uplinkCtx();
    const r = run(new Ipv6NdNode(ctx), fromRouter(ECHO_REPLY, src), { port: PF });
    t.is(r.reason, DropReason.CONSUMED, src);
    t.false(ctx.ports.routerKnown(PF), src);
    t.is(vmMacOf(ctx, PF), PF0_MAC, src);
  }
});

test('a newer router MAC replaces the learned one', (t) => {
  const ctx = uplinkCtx();
  const node = new Ipv6NdNode(ctx);
  const ECHO_REPLY = Uint8Array.of(129, 0, 0, 0, 0, 1, 0, 1);
  run(node, fromRouter(ECHO_REPLY), { port: PF });
  run(node, fromRouter(ECHO_REPLY, '22:22:22:22:22:fd'), { port: PF });
  t.is(vmMacOf(ctx, PF), '22:22:22:22:22:fd');
});

test('short or non-ICMPv6 packets on an uplink are dropped with a reason, never throwing', (t) => {
  const node = new Ipv6NdNode(uplinkCtx());
  const full = uplinkNs('fc00:1::1', ROUTER_LL, ROUTER, false);
  for (let n = 0; n < 62; n++) {
    const r = run(node, full.slice(0, n), { port: PF });
    t.is(r.reason, DropReason.TRUNCATED, `length ${n}`);
  }
  const shortNs = full.slice();
  shortNs[19] = 16;   // payload length 16: header and half a target
  t.is(run(node, shortNs, { port: PF }).reason, DropReason.TRUNCATED);
  const udpNext = full.slice();
  udpNext[20] = 17;
  t.is(run(node, udpNext, { port: PF }).reason, DropReason.MALFORMED);
  const tiny = full.slice();
  tiny[19] = 4;
  t.is(run(node, tiny, { port: PF }).reason, DropReason.MALFORMED, 'an ICMPv6 payload below its 8-byte header');
});

test('an NS on an uplink whose buffer cannot hold the NA option is dropped for lack of room', (t) => {
  const f = uplinkNs('fc00:1::1', ROUTER_LL, ROUTER, false);
  const r = run(new Ipv6NdNode(uplinkCtx()), f, { port: PF, headroom: 2176 - f.length });
  t.is(r.edge, 0);
  t.is(r.reason, DropReason.NO_ROOM);
});
