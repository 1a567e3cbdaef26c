import test from 'ava';
import { frameOf, loadFrame, makeTestBatch } from '../../src/packet/batch.js';
import { DropReason } from '../../src/packet/drop-reasons.js';
import { PortState, type PortTable } from '../../src/tables/port-table.js';
import { TX_EDGE } from '../../src/workers/graph.js';
import type { NodeContext } from '../../src/workers/node-context.js';
import { Ipv6LookupNode } from '../../src/workers/nodes/ipv6-lookup.js';
import {
  ascii, cat, eth, hex, ip4num, ip6, ipv6, mac, makeCtx, PORT_MAC, udp, VM_IPV6, VM_MAC,
} from './frames.js';

/** Port 3 (from makeCtx): VNI 100, 2000:100:1::1. The others are declared here with their own MACs. */
const PEERS: [number, number, string, string][] = [
  // port, vni, IPv6 ('' = none), own MAC
  [4, 100, '2000:100:1::2', '66:66:66:66:66:04'],
  [5, 200, '2000:100:1::3', '66:66:66:66:66:05'],
  [6, 200, '2000:100:1::2', '66:66:66:66:66:06'],
  [7, 100, '', '66:66:66:66:66:07'],
];

function addVm(ports: PortTable, port: number, vni: number, ipv6: string, own: string): void {
  ports.initPort(port, PortState.VF_IDLE, mac(own));
  ports.attach(port, {
    vni, ipv4: ip4num(`10.0.${vni % 256}.${port}`), ipv6: ipv6 === '' ? new Uint8Array(16) : ip6(ipv6),
    underlay: ip6('fc00:1::1'), hostname: '', pxeServer: '', bootFile: '',
  });
}

function setup(): NodeContext {
  const ctx = makeCtx();
  for (const [port, vni, ip, own] of PEERS) addVm(ctx.ports, port, vni, ip, own);
  return ctx;
}

function packet(dst: string): Uint8Array {
  return cat(eth(PORT_MAC, VM_MAC, 0x86dd), ipv6(ip6(VM_IPV6), ip6(dst), 17, udp(40000, 80, ascii('hello')), 64));
}

interface Looked { next: string | undefined; reason: number; outPort: number; out: Uint8Array }

/** Runs the lookup on a packet received on a port of `vni` (cls set the VNI). */
function lookup(ctx: NodeContext, frame: Uint8Array, vni: number): Looked {
  const node = new Ipv6LookupNode(ctx);
  const b = makeTestBatch(2);
  loadFrame(b, 1, frame, 3);
  b.vni[1] = vni;
  b.outPort[1] = 0xffff;
  const edge = node.process(b, 1);
  return { next: node.edges[edge], reason: b.dropReason[1]!, outPort: b.outPort[1]!, out: frameOf(b, 1) };
}

test('ipv6_lookup declares drop as edge 0 and the tx pseudo edge', (t) => {
  t.deepEqual(new Ipv6LookupNode(makeCtx()).edges, ['drop', TX_EDGE]);
});

test('a packet to another VM of the same VNI goes to its port with the Ethernet header toward it', (t) => {
  const ctx = setup();
  const f = packet('2000:100:1::2');
  const r = lookup(ctx, f, 100);
  t.is(r.next, TX_EDGE);
  t.is(r.outPort, 4);
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

test('addresses are looked up within the packet VNI only', (t) => {
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
      t.is(r.next, TX_EDGE, what);
      t.is(r.outPort, port, what);
    }
  }
});

test('a detached interface is no longer found, and found again when re-attached', (t) => {
  const ctx = setup();
  ctx.ports.detach(4);
  const r = lookup(ctx, packet('2000:100:1::2'), 100);
  t.is(r.next, 'drop');
  t.is(r.reason, DropReason.NO_ROUTE);
  addVm(ctx.ports, 4, 100, '2000:100:1::2', '66:66:66:66:66:04');
  t.is(lookup(ctx, packet('2000:100:1::2'), 100).outPort, 4);
});

test('an address no VM has is dropped as no route, :: included', (t) => {
  const ctx = setup();
  // port 7 in VNI 100 has no IPv6 (stored as all zeros): :: must not find it
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
