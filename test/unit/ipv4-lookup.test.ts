import test from 'ava';
import { frameOf, loadFrame, makeTestBatch, PF_ENCAP, PF_FROM_PF, PF_SOUTH_NORTH } from '../../src/packet/batch.js';
import { DropReason } from '../../src/packet/drop-reasons.js';
import type { NodeContext } from '../../src/workers/node-context.js';
import { Ipv4LookupNode, pickUplink } from '../../src/workers/nodes/ipv4-lookup.js';
import {
  addPf, addVm, ascii, cat, eth, hex, ip6, ipv4, mac, makeCtx, PORT_MAC, route4, udp, VM_IPV4, VM_MAC,
} from './frames.js';

/** Port 3 (from makeCtx): VNI 100, 10.100.1.1. The others are declared here with their own MACs. */
const PEERS: [number, number, string, string][] = [
  // port, vni, IPv4 ('' = none), own MAC
  [4, 100, '10.100.1.2', '66:66:66:66:66:04'],
  [5, 200, '10.100.1.3', '66:66:66:66:66:05'],
  [6, 200, '10.100.1.2', '66:66:66:66:66:06'],
  [7, 100, '', '66:66:66:66:66:07'],
];

const NH = 'fc00:2::1';

/** The VMs above with their /32 interface routes (as route-sync adds them), and uplinks 0 and 1. */
function setup(fwd: Parameters<typeof makeCtx>[3] = {}): NodeContext {
  const ctx = makeCtx({}, {}, 3, fwd);
  addPf(ctx, 1, '22:22:22:22:22:01');
  route4(ctx, 100, VM_IPV4, 32, 3);
  for (const [port, vni, ip, own] of PEERS) {
    addVm(ctx, port, { vni, ipv4: ip, own });
    if (ip !== '') route4(ctx, vni, ip, 32, port);
  }
  return ctx;
}

function packet(dst: string): Uint8Array {
  return cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4(VM_IPV4, dst, 17, udp(40000, 80, ascii('hello'))));
}

interface Looked { next: string | undefined; reason: number; outPort: number; flags: number; ulDst: string; out: Uint8Array }

/** Runs the lookup on a packet received on a port of `vni` (cls set the VNI and the flags). */
function lookup(ctx: NodeContext, frame: Uint8Array, vni: number, flags = 0, inPort = 3): Looked {
  const node = new Ipv4LookupNode(ctx);
  const b = makeTestBatch(2);
  loadFrame(b, 1, frame, inPort);
  b.vni[1] = vni;
  b.flags[1] = flags;
  b.outPort[1] = 0xffff;
  b.ulDst.fill(0xee, 16, 32);
  const edge = node.process(b, 1);
  return {
    next: node.edges[edge], reason: b.dropReason[1]!, outPort: b.outPort[1]!, flags: b.flags[1]!,
    ulDst: hex(b.ulDst.subarray(16, 32)), out: frameOf(b, 1),
  };
}

test('ipv4_lookup declares drop as edge 0 and snat after it', (t) => {
  t.deepEqual(new Ipv4LookupNode(makeCtx()).edges, ['drop', 'snat']);
});

test('a packet routed to another VM of the same VNI goes to its port with the Ethernet header toward it', (t) => {
  const ctx = setup();
  const f = packet('10.100.1.2');
  const r = lookup(ctx, f, 100);
  t.is(r.next, 'snat');
  t.is(r.outPort, 4);
  t.is(r.flags, 0, 'neither encapsulated nor south-north');
  t.is(hex(r.out.subarray(0, 6)), hex(mac('66:66:66:66:66:04')), 'dst: the VM MAC is the port MAC until learned');
  t.is(hex(r.out.subarray(6, 12)), hex(mac('66:66:66:66:66:04')), 'src: the target port MAC');
  t.is(hex(r.out.subarray(12)), hex(f.subarray(12)), 'the rest of the frame is unchanged');
  t.is(r.out.length, f.length);
});

test('after the target VM MAC was learned the packet is addressed to it', (t) => {
  const ctx = setup();
  ctx.ports.learnVmMac(4, mac('02:00:00:00:00:44'), 0);
  const f = packet('10.100.1.2');
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
    [100, '10.100.1.2', 4],
    [200, '10.100.1.2', 6],
    [200, '10.100.1.3', 5],
    [100, '10.100.1.3', -1],
    [200, '10.100.1.1', -1],
    [100, '10.100.1.1', 3],
    [300, '10.100.1.2', -1],
    [0, '10.100.1.2', -1],
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
  const r = lookup(ctx, packet('10.100.1.2'), 100);
  t.is(r.next, 'drop');
  t.is(r.reason, DropReason.NO_ROUTE);
  addVm(ctx, 4, { vni: 100, ipv4: '10.100.1.2', own: '66:66:66:66:66:04' });
  t.is(lookup(ctx, packet('10.100.1.2'), 100).outPort, 4);
});

test('an address no route covers is dropped as no route', (t) => {
  const ctx = setup();
  for (const dst of ['10.100.1.99', '169.254.0.1', '255.255.255.255', '8.8.8.8', '0.0.0.0']) {
    const r = lookup(ctx, packet(dst), 100);
    t.is(r.next, 'drop', dst);
    t.is(r.reason, DropReason.NO_ROUTE, dst);
  }
});

test('a route via the underlay sets the nexthop and pf0 and marks the packet for encapsulation', (t) => {
  const ctx = setup();
  route4(ctx, 100, '10.100.2.0', 24, -1, NH);
  const f = packet('10.100.2.7');
  const r = lookup(ctx, f, 100);
  t.is(r.next, 'snat');
  t.is(r.outPort, 0);
  t.is(r.flags, PF_ENCAP);
  t.is(r.ulDst, hex(ip6(NH)));
  t.is(hex(r.out), hex(f), 'ipip_encap writes the headers; the frame is not touched here');
});

test('the longest prefix wins: a /32 to a local VM inside a remote /24, and the /24 around it', (t) => {
  const ctx = setup();
  route4(ctx, 100, '10.100.1.0', 24, -1, NH);
  t.is(lookup(ctx, packet('10.100.1.2'), 100).outPort, 4);
  const r = lookup(ctx, packet('10.100.1.200'), 100);
  t.is(r.outPort, 0);
  t.is(r.ulDst, hex(ip6(NH)));
});

test('only a default route marks a packet south-north', (t) => {
  const ctx = setup();
  route4(ctx, 100, '0.0.0.0', 0, -1, 'fc00:ff::1');
  route4(ctx, 100, '10.0.0.0', 8, -1, NH);
  const cases: [string, number, string][] = [
    ['8.8.8.8', PF_ENCAP | PF_SOUTH_NORTH, 'fc00:ff::1'],
    ['10.1.2.3', PF_ENCAP, NH],
  ];
  for (const [dst, flags, nh] of cases) {
    const r = lookup(ctx, packet(dst), 100);
    t.is(r.flags, flags, dst);
    t.is(r.ulDst, hex(ip6(nh)), dst);
  }
});

test('a packet from an uplink may reach a local VM but is never routed back to the underlay', (t) => {
  const ctx = setup();
  route4(ctx, 100, '10.100.2.0', 24, -1, NH);
  const back = lookup(ctx, packet('10.100.2.7'), 100, PF_FROM_PF, 0);
  t.is(back.next, 'drop');
  t.is(back.reason, DropReason.PF_TO_PF);
  const local = lookup(ctx, packet('10.100.1.2'), 100, PF_FROM_PF, 0);
  t.is(local.next, 'snat');
  t.is(local.outPort, 4);
});

test('a remote route without an uplink to leave by is dropped as no uplink', (t) => {
  const ctx = setup({ pf0: -1, pf1: -1 });
  route4(ctx, 100, '10.100.2.0', 24, -1, NH);
  const r = lookup(ctx, packet('10.100.2.7'), 100);
  t.is(r.next, 'drop');
  t.is(r.reason, DropReason.NO_UPLINK);
});

test('pickUplink: pf0 at --wcmp 100 or without pf1, pf1 at 0, by hash mod 10 below round(wcmp / 10) in between', (t) => {
  const cases: [number, number, number, number][] = [
    // wcmp, pf1, hash, port
    [100, 1, 9, 0],
    [50, -1, 9, 0],
    [0, 1, 0, 1],
    [50, 1, 4, 0],
    [50, 1, 5, 1],
    [50, 1, 14, 0],
    [50, 1, 0xffffffff, 1],   // 4294967295 % 10 = 5
    [54, 1, 4, 0],
    [55, 1, 5, 0],            // round(5.5) = 6 entries for pf0
    [10, 1, 0, 0],
    [10, 1, 1, 1],
  ];
  for (const [wcmp, pf1, hash, port] of cases) {
    const ctx = makeCtx({}, {}, 3, { wcmp, pf1 });
    t.is(pickUplink(ctx.fwd, hash), port, `wcmp ${wcmp} pf1 ${pf1} hash ${hash}`);
  }
});
