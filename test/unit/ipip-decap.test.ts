import test from 'ava';
import { VnfType } from '../../src/actors/underlay.js';
import { loadFrame, makeTestBatch, PF_DECAPPED, PF_FROM_PF, PF_IPV6 } from '../../src/packet/batch.js';
import { DropReason } from '../../src/packet/drop-reasons.js';
import type { NodeContext } from '../../src/workers/node-context.js';
import { ClsNode } from '../../src/workers/nodes/cls.js';
import { IpipDecapNode } from '../../src/workers/nodes/ipip-decap.js';
import {
  ascii, cat, eth, hex, ip6, ipv4, ipv6, mac, makeCtx, PF0_MAC, PORT_MAC, ROUTER, runPath, tunnelFrame, u16, udp, vnf,
} from './frames.js';

const PF = 0;
const VF = 3;
const UL_IF = 'fc00:1::1';

const INNER4 = ipv4('10.100.2.7', '10.100.1.1', 17, udp(53, 40000, ascii('answer')));
const INNER6 = ipv6(ip6('2000:100:2::7'), ip6('2000:100:1::1'), 17, udp(53, 40000, ascii('answer')), 63);

function setup(): NodeContext {
  const ctx = makeCtx();
  vnf(ctx, UL_IF, VnfType.INTERFACE_IP, 100, VF);
  return ctx;
}

function tunnel(inner: Uint8Array, dst = UL_IF): Uint8Array {
  return tunnelFrame(PF0_MAC, ROUTER, 'fc00:2::1', dst, inner);
}

/** Runs cls (which must pass the frame to ipip_decap) and then ipip_decap, as the graph does. */
function decap(ctx: NodeContext, frame: Uint8Array): ReturnType<typeof runPath> {
  return runPath([new ClsNode(ctx, true), new IpipDecapNode(ctx)], frame, PF);
}

test('ipip_decap declares drop as edge 0 and conntrack after it', (t) => {
  t.deepEqual(new IpipDecapNode(makeCtx()).edges, ['drop', 'conntrack']);
});

test('IPv4 in IPv6 to an interface address loses its outer headers and gets Ethernet toward the VM', (t) => {
  const ctx = setup();
  ctx.ports.learnVmMac(VF, mac('02:00:00:00:00:33'), 0);
  const r = decap(ctx, tunnel(INNER4));
  t.deepEqual(r.path, ['cls', 'ipip_decap']);
  t.is(r.exit, 'conntrack');
  t.is(hex(r.out), hex(cat(eth('02:00:00:00:00:33', PORT_MAC, 0x0800), INNER4)));
  const s = r.slot;
  t.is(r.b.vni[s], 100);
  t.is(r.b.vnfType[s], VnfType.INTERFACE_IP);
  t.is(r.b.outPort[s], VF);
  t.is(r.b.inPort[s], PF, 'still received on the uplink');
  t.is(r.b.flags[s], PF_FROM_PF | PF_DECAPPED, 'IPv6 flag cleared for an IPv4 inner packet');
});

test('IPv6 in IPv6 keeps the IPv6 flag and gets ethertype 0x86dd', (t) => {
  const r = decap(setup(), tunnel(INNER6));
  t.is(r.exit, 'conntrack');
  t.is(hex(r.out), hex(cat(eth(PORT_MAC, PORT_MAC, 0x86dd), INNER6)), 'VM MAC not learned yet: the port MAC');
  t.is(r.b.flags[r.slot], PF_FROM_PF | PF_DECAPPED | PF_IPV6);
});

test('the VNF entry decides VNI, kind and VM port', (t) => {
  const ctx = makeCtx();
  const cases: [string, number, number][] = [
    ['fc00:1::10', VnfType.INTERFACE_IP, 100],
    ['fc00:1::11', VnfType.VIP, 200],
    ['fc00:1::12', VnfType.NAT, 300],
    ['fc00:1::13', VnfType.ALIAS_PFX, 400],
    ['fc00:1::14', VnfType.LB_ALIAS_PFX, 0xfffffffe],
  ];
  for (const [addr, type, vni] of cases) vnf(ctx, addr, type, vni, VF);
  for (const [addr, type, vni] of cases) {
    const r = decap(ctx, tunnel(INNER4, addr));
    t.is(r.exit, 'conntrack', addr);
    t.is(r.b.vnfType[r.slot], type, addr);
    t.is(r.b.vni[r.slot], vni, addr);
  }
});

test('an outer destination that is not ours is dropped as no VNF, its bytes untouched', (t) => {
  const f = tunnel(INNER4, 'fc00:1::99');
  const r = decap(setup(), f);
  t.is(r.exit, 'drop');
  t.is(r.reason, DropReason.NO_VNF);
  t.is(hex(r.out), hex(f));
});

test('a load balancer\'s address goes on to conntrack without a VM port; a detached VM\'s is dropped as unsupported', (t) => {
  const ctx = setup();
  vnf(ctx, 'fc00:1::2', VnfType.LB, 100, -1);
  const lb = decap(ctx, tunnel(INNER4, 'fc00:1::2'));
  t.is(lb.exit, 'conntrack');
  t.is(lb.b.outPort[lb.slot], 0xffff, 'no VM port (the flow belongs to none)');
  t.is(lb.b.vnfType[lb.slot], VnfType.LB);
  t.is(hex(lb.out.subarray(14)), hex(INNER4));
  const at = lb.slot * 16;
  t.is(hex(lb.b.ulDst.subarray(at, at + 16)), hex(ip6('fc00:2::1')), 'the outer source kept (where an answer goes)');
  ctx.ports.detach(VF);
  const gone = decap(ctx, tunnel(INNER4));
  t.is(gone.exit, 'drop');
  t.is(gone.reason, DropReason.UNSUPPORTED_VNF);
});

test('trailing bytes in the outer payload behind the inner packet are trimmed', (t) => {
  const r = decap(setup(), tunnel(cat(INNER4, new Uint8Array(9).fill(0xee))));
  t.is(r.exit, 'conntrack');
  t.is(r.out.length, 14 + INNER4.length);
  t.is(hex(r.out.subarray(14)), hex(INNER4));
});

test('an inner header with a wrong version, IHL or total length is malformed', (t) => {
  const cases: [string, Uint8Array, number, number][] = [
    // what, inner, byte offset, value
    ['IPv4 inner with version 6', INNER4, 0, 0x65],
    ['IPv4 inner with IHL 4', INNER4, 0, 0x44],
    ['IPv4 inner total length 19', INNER4, 3, 19],
    ['IPv4 inner IHL 6, total length 20', INNER4, 0, 0x46],
    ['IPv6 inner with version 4', INNER6, 0, 0x40],
  ];
  for (const [what, inner, at, v] of cases) {
    const i = inner.slice();
    i[at] = v;
    if (what.includes('IHL 6')) i.set(u16(20), 2);
    const next = inner === INNER4 ? 4 : 41;
    const f = cat(eth(PF0_MAC, ROUTER, 0x86dd), ipv6(ip6('fc00:2::1'), ip6(UL_IF), next, i, 64));
    const r = decap(setup(), f);
    t.is(r.exit, 'drop', what);
    t.is(r.reason, DropReason.MALFORMED, what);
  }
});

test('an inner packet cut short inside the outer payload is truncated, at every length, never throwing', (t) => {
  const ctx = setup();
  const node = new IpipDecapNode(ctx);
  for (const [what, inner, next] of [['IPv4', INNER4, 4], ['IPv6', INNER6, 41]] as const) {
    for (let n = 0; n < inner.length; n++) {
      // the outer payload length says n: cls accepts the frame and trims it there
      const f = cat(eth(PF0_MAC, ROUTER, 0x86dd), ipv6(ip6('fc00:2::1'), ip6(UL_IF), next, inner.subarray(0, n), 64));
      const r = decap(ctx, f);
      t.is(r.exit, 'drop', `${what} ${n}`);
      t.is(r.reason, DropReason.TRUNCATED, `${what} ${n}`);
      // the frame ends at the end of memory: a read past it would throw
      const e = makeTestBatch(1, 0, f.length);
      loadFrame(e, 0, f, PF, 0);
      e.flags[0] = PF_FROM_PF | PF_IPV6;
      t.is(node.process(e, 0), 0, `${what} ${n}, end of memory`);
      t.is(e.dropReason[0], DropReason.TRUNCATED, `${what} ${n}, end of memory`);
    }
  }
});

test('the inner packet of the largest frame is delivered whole', (t) => {
  const big = ipv4('10.100.2.7', '10.100.1.1', 17, udp(53, 40000, new Uint8Array(1500 - 28).fill(7)));
  const r = decap(setup(), tunnel(big));
  t.is(r.exit, 'conntrack');
  t.is(r.out.length, 14 + 1500);
  t.is(hex(r.out.subarray(14)), hex(big));
});
