import test from 'ava';
import { frameOf, loadFrame, makeTestBatch, PF_ENCAP, PF_FROM_PF, PF_IPV6, PF_SOUTH_NORTH } from '../../src/packet/batch.js';
import { DropReason } from '../../src/packet/drop-reasons.js';
import type { NodeContext } from '../../src/workers/node-context.js';
import { Ipv6LookupNode } from '../../src/workers/nodes/ipv6-lookup.js';
import {
  addVm, ascii, cat, eth, hex, ip6, ipv6, mac, makeCtx, PORT_MAC, route6, udp, VM_IPV6, VM_MAC,
} from './frames.js';

/** Port 3 (from makeCtx): VNI 100, 2000:100:1::1. The others are declared here with their own MACs. */
const PEERS: [number, number, string, string][] = [
  // port, vni, IPv6 ('' = none), own MAC
  [4, 100, '2000:100:1::2', '66:66:66:66:66:04'],
  [5, 200, '2000:100:1::3', '66:66:66:66:66:05'],
  [6, 200, '2000:100:1::2', '66:66:66:66:66:06'],
  [7, 100, '', '66:66:66:66:66:07'],
];

const NH = 'fc00:2::1';

/** The VMs above with their /128 interface routes (as route-sync adds them). */
function setup(): NodeContext {
  const ctx = makeCtx();
  route6(ctx, 100, VM_IPV6, 128, 3);
  for (const [port, vni, ip, own] of PEERS) {
    addVm(ctx, port, { vni, ipv4: `10.0.${vni % 256}.${port}`, ipv6: ip, own });
    if (ip !== '') route6(ctx, vni, ip, 128, port);
  }
  return ctx;
}

function packet(dst: string): Uint8Array {
  return cat(eth(PORT_MAC, VM_MAC, 0x86dd), ipv6(ip6(VM_IPV6), ip6(dst), 17, udp(40000, 80, ascii('hello')), 64));
}

interface Looked { next: string | undefined; reason: number; outPort: number; flags: number; ulDst: string; out: Uint8Array }

/** Runs the lookup on a packet received on a port of `vni` (cls set the VNI and the flags). */
function lookup(ctx: NodeContext, frame: Uint8Array, vni: number, flags = PF_IPV6): Looked {
  const node = new Ipv6LookupNode(ctx);
  const b = makeTestBatch(2);
  loadFrame(b, 1, frame, 3);
  b.vni[1] = vni;
  b.flags[1] = flags;
  b.outPort[1] = 0xffff;
  const edge = node.process(b, 1);
  return {
    next: node.edges[edge], reason: b.dropReason[1]!, outPort: b.outPort[1]!, flags: b.flags[1]!,
    ulDst: hex(b.ulDst.subarray(16, 32)), out: frameOf(b, 1),
  };
}

test('ipv6_lookup declares drop as edge 0 and snat after it', (t) => {
  t.deepEqual(new Ipv6LookupNode(makeCtx()).edges, ['drop', 'snat']);
});

test('a packet routed to another VM of the same VNI goes to its port with the Ethernet header toward it', (t) => {
  const ctx = setup();
  const f = packet('2000:100:1::2');
  const r = lookup(ctx, f, 100);
  t.is(r.next, 'snat');
  t.is(r.outPort, 4);
  t.is(r.flags, PF_IPV6);
  t.is(hex(r.out.subarray(0, 6)), hex(mac('66:66:66:66:66:04')), 'dst: the VM MAC is the port MAC until learned');
  t.is(hex(r.out.subarray(6, 12)), hex(mac('66:66:66:66:66:04')), 'src: the target port MAC');
  t.is(hex(r.out.subarray(12)), hex(f.subarray(12)), 'the rest of the frame is unchanged');
  t.is(r.out.length, f.length);
});

test('after the target VM MAC was learned the packet is addressed to it', (t) => {
  const ctx = setup();
  ctx.ports.learnVmMac(4, mac('02:00:00:00:00:44'), 0);
  const f = packet('2000:100:1::2');
  const r = lookup(ctx, f, 100);
  t.is(r.outPort, 4);
  t.is(hex(r.out.subarray(0, 6)), hex(mac('02:00:00:00:00:44')), 'dst: learned VM MAC');
  t.is(hex(r.out.subarray(6, 12)), hex(mac('66:66:66:66:66:04')), 'src: still the port MAC');
  t.is(hex(r.out.subarray(12)), hex(f.subarray(12)));
});

test('routes are looked up within the packet VNI only', (t) => {
  const ctx = setup();
  const cases: [number, string, number][] = [
    // vni, destination, port (-1: NO_ROUTE)
    [100, '2000:100:1::2', 4],
    [200, '2000:100:1::2', 6],
    [200, '2000:100:1::3', 5],
    [100, '2000:100:1::3', -1],
    [200, '2000:100:1::1', -1],
    [100, '2000:100:1::1', 3],
    [300, '2000:100:1::2', -1],
    [0, '2000:100:1::2', -1],
  ];
  for (const [vni, dst, port] of cases) {
    const f = packet(dst);
    const r = lookup(ctx, f, vni);
    const what = `${dst} in VNI ${vni}`;
    if (port < 0) {
      t.is(r.next, 'drop', what);
      t.is(r.reason, DropReason.NO_ROUTE, what);
      t.is(hex(r.out), hex(f), `${what}: a dropped frame is not rewritten`);
    } else {
      t.is(r.next, 'snat', what);
      t.is(r.outPort, port, what);
    }
  }
});

test('a route to a detached interface finds no VM, and finds it again when re-attached', (t) => {
  const ctx = setup();
  ctx.ports.detach(4);
  const r = lookup(ctx, packet('2000:100:1::2'), 100);
  t.is(r.next, 'drop');
  t.is(r.reason, DropReason.NO_ROUTE);
  addVm(ctx, 4, { vni: 100, ipv4: '10.0.100.4', ipv6: '2000:100:1::2', own: '66:66:66:66:66:04' });
  t.is(lookup(ctx, packet('2000:100:1::2'), 100).outPort, 4);
});

test('an address no route covers is dropped as no route, :: included', (t) => {
  const ctx = setup();
  // port 7 in VNI 100 has no IPv6 (stored as all zeros) and no route: :: must not find it
  for (const dst of ['2000:100:1::99', '2000:100:1::', 'fe80::1', 'ff02::1', '::']) {
    const r = lookup(ctx, packet(dst), 100);
    t.is(r.next, 'drop', dst);
    t.is(r.reason, DropReason.NO_ROUTE, dst);
  }
});

test('an address differing from a VM address in any one byte is not that VM', (t) => {
  const ctx = setup();
  const target = ip6('2000:100:1::2');
  for (let i = 0; i < 16; i++) {
    const f = packet('2000:100:1::2');
    f[14 + 24 + i] = target[i]! ^ 0x80;
    const r = lookup(ctx, f, 100);
    t.is(r.reason, DropReason.NO_ROUTE, `byte ${i}`);
  }
});

test('a route via the underlay sets the nexthop and pf0, a default route also marks south-north', (t) => {
  const ctx = setup();
  route6(ctx, 100, '2000:100:2::', 48, -1, NH);
  route6(ctx, 100, '::', 0, -1, 'fc00:ff::1');
  const cases: [string, number, string][] = [
    ['2000:100:2::7', PF_IPV6 | PF_ENCAP, NH],
    ['2001:db8::1', PF_IPV6 | PF_ENCAP | PF_SOUTH_NORTH, 'fc00:ff::1'],
  ];
  for (const [dst, flags, nh] of cases) {
    const f = packet(dst);
    const r = lookup(ctx, f, 100);
    t.is(r.next, 'snat', dst);
    t.is(r.outPort, 0, dst);
    t.is(r.flags, flags, dst);
    t.is(r.ulDst, hex(ip6(nh)), dst);
    t.is(hex(r.out), hex(f), `${dst}: frame untouched`);
  }
  t.is(lookup(ctx, packet('2000:100:1::2'), 100).outPort, 4, 'the /128 still wins over ::/0');
});

test('a decapsulated IPv6 packet is not routed back to the underlay', (t) => {
  const ctx = setup();
  route6(ctx, 100, '2000:100:2::', 48, -1, NH);
  const r = lookup(ctx, packet('2000:100:2::7'), 100, PF_IPV6 | PF_FROM_PF);
  t.is(r.next, 'drop');
  t.is(r.reason, DropReason.PF_TO_PF);
});
