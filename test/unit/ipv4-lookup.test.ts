import test from 'ava';
import { frameOf, loadFrame, makeTestBatch } from '../../src/packet/batch.js';
import { DropReason } from '../../src/packet/drop-reasons.js';
import { PortState, type PortTable } from '../../src/tables/port-table.js';
import { TX_EDGE } from '../../src/workers/graph.js';
import type { NodeContext } from '../../src/workers/node-context.js';
import { Ipv4LookupNode } from '../../src/workers/nodes/ipv4-lookup.js';
import {
  ascii, cat, eth, hex, ip4num, ip6, ipv4, mac, makeCtx, PORT_MAC, udp, VM_IPV4, VM_MAC,
} from './frames.js';

/** Port 3 (from makeCtx): VNI 100, 10.100.1.1. The others are declared here with their own MACs. */
const PEERS: [number, number, string, string][] = [
  // port, vni, IPv4 ('' = none), own MAC
  [4, 100, '10.100.1.2', '66:66:66:66:66:04'],
  [5, 200, '10.100.1.3', '66:66:66:66:66:05'],
  [6, 200, '10.100.1.2', '66:66:66:66:66:06'],
  [7, 100, '', '66:66:66:66:66:07'],
];

function addVm(ports: PortTable, port: number, vni: number, ipv4: string, own: string): void {
  ports.initPort(port, PortState.VF_IDLE, mac(own));
  ports.attach(port, {
    vni, ipv4: ipv4 === '' ? 0 : ip4num(ipv4), ipv6: ip6(`2000:${vni}::${port}`), underlay: ip6('fc00:1::1'),
    hostname: '', pxeServer: '', bootFile: '',
  });
}

function setup(): NodeContext {
  const ctx = makeCtx();
  for (const [port, vni, ip, own] of PEERS) addVm(ctx.ports, port, vni, ip, own);
  return ctx;
}

function packet(dst: string): Uint8Array {
  return cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4(VM_IPV4, dst, 17, udp(40000, 80, ascii('hello'))));
}

interface Looked { next: string | undefined; reason: number; outPort: number; out: Uint8Array }

/** Runs the lookup on a packet received on a port of `vni` (cls set the VNI). */
function lookup(ctx: NodeContext, frame: Uint8Array, vni: number): Looked {
  const node = new Ipv4LookupNode(ctx);
  const b = makeTestBatch(2);
  loadFrame(b, 1, frame, 3);
  b.vni[1] = vni;
  b.outPort[1] = 0xffff;
  const edge = node.process(b, 1);
  return { next: node.edges[edge], reason: b.dropReason[1]!, outPort: b.outPort[1]!, out: frameOf(b, 1) };
}

test('ipv4_lookup declares drop as edge 0 and the tx pseudo edge', (t) => {
  t.deepEqual(new Ipv4LookupNode(makeCtx()).edges, ['drop', TX_EDGE]);
});

test('a packet to another VM of the same VNI goes to its port with the Ethernet header toward it', (t) => {
  const ctx = setup();
  const f = packet('10.100.1.2');
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
  const f = packet('10.100.1.2');
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
      t.is(r.next, TX_EDGE, what);
      t.is(r.outPort, port, what);
    }
  }
});

test('a detached interface is no longer found, and found again when re-attached', (t) => {
  const ctx = setup();
  ctx.ports.detach(4);
  const r = lookup(ctx, packet('10.100.1.2'), 100);
  t.is(r.next, 'drop');
  t.is(r.reason, DropReason.NO_ROUTE);
  addVm(ctx.ports, 4, 100, '10.100.1.2', '66:66:66:66:66:04');
  t.is(lookup(ctx, packet('10.100.1.2'), 100).outPort, 4);
});

test('an address no VM has is dropped as no route', (t) => {
  const ctx = setup();
  for (const dst of ['10.100.1.99', '169.254.0.1', '255.255.255.255', '8.8.8.8']) {
    const r = lookup(ctx, packet(dst), 100);
    t.is(r.next, 'drop', dst);
    t.is(r.reason, DropReason.NO_ROUTE, dst);
  }
});

// Known bug (reported): PortTable.findIpv4 does not check PORT_HAS_IPV4, so a packet to 0.0.0.0
// matches an interface attached without IPv4 (stored as 0) in the same VNI: port 7 here.
test('a packet to 0.0.0.0 does not reach an interface that has no IPv4', (t) => {
  const r = lookup(setup(), packet('0.0.0.0'), 100);
  t.is(r.next, 'drop');
  t.is(r.reason, DropReason.NO_ROUTE);
});
