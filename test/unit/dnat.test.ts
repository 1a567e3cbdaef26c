import test from 'ava';
import { VnfType } from '../../src/actors/underlay.js';
import { DropReason } from '../../src/packet/drop-reasons.js';
import { FLOW_DST_NAT, FLOW_SRC_NAT, R_FLAGS, RECORD } from '../../src/tables/flow-table.js';
import type { NodeContext } from '../../src/workers/node-context.js';
import { ClsNode } from '../../src/workers/nodes/cls.js';
import { ConntrackNode } from '../../src/workers/nodes/conntrack.js';
import { DnatNode } from '../../src/workers/nodes/dnat.js';
import { IpipDecapNode } from '../../src/workers/nodes/ipip-decap.js';
import {
  addVm, ascii, cat, eth, findFlow, flowKey4, hex, icmpEcho, ip4, ip4num, ip6, ipv4, ipv4HeaderOk, ipv6, l4v4Ok, makeCtx,
  PF0_MAC, PORT_MAC, runPath, tcp, tunnelFrame, udp, VIP, VM_IPV4, VM_MAC, vnf, withL4Checksum4,
} from './frames.js';

const VM_B = '10.100.1.2';

/** VM A on port 3 (10.100.1.1), VM B on port 4 (10.100.1.2, VIP 45.0.0.1) in VNI 100; VM C in VNI 200 with 45.0.0.2. */
function setup(): NodeContext {
  const ctx = makeCtx();
  addVm(ctx, 4, { vni: 100, ipv4: VM_B, underlay: 'fc00:1::4', own: '66:66:66:66:66:04' });
  addVm(ctx, 5, { vni: 200, ipv4: '10.200.1.5', underlay: 'fc00:1::5', own: '66:66:66:66:66:05' });
  ctx.ports.setVip(4, ip4num(VIP), ip6('fc00:1::45'));
  ctx.ports.setVip(5, ip4num('45.0.0.2'), ip6('fc00:1::46'));
  return ctx;
}

function nodes(ctx: NodeContext): [ClsNode, ConntrackNode, DnatNode] {
  return [new ClsNode(ctx, true), new ConntrackNode(ctx), new DnatNode(ctx)];
}

function fromVm(src: string, dst: string, proto: number, l4: Uint8Array, srcMac = VM_MAC): Uint8Array {
  const f = cat(eth(PORT_MAC, srcMac, 0x0800), ipv4(src, dst, proto, l4));
  return proto === 1 ? f : withL4Checksum4(f);
}

const L4: [string, number, Uint8Array][] = [
  ['UDP', 17, udp(40000, 80, ascii('hello'))],
  ['TCP', 6, tcp(40000, 80, 0x02)],
  ['ICMP echo', 1, icmpEcho(8, 77, 1, ascii('ping'))],
];

test('dnat declares drop as edge 0, the two lookups and packet_relay after it', (t) => {
  t.deepEqual(new DnatNode(makeCtx()).edges, ['drop', 'ipv4_lookup', 'ipv6_lookup', 'packet_relay']);
});

test('a new flow to a VIP of its VNI is sent to the VIP owner\'s address with valid checksums', (t) => {
  for (const [what, proto, l4] of L4) {
    const ctx = setup();
    const f = fromVm(VM_IPV4, VIP, proto, l4);
    const r = runPath(nodes(ctx), f, 3);
    t.is(r.exit, 'ipv4_lookup', what);
    t.is(hex(r.out.subarray(30, 34)), hex(ip4(VM_B)), `${what}: destination rewritten`);
    t.is(hex(r.out.subarray(26, 30)), hex(ip4(VM_IPV4)), `${what}: source kept`);
    t.true(ipv4HeaderOk(r.out), `${what}: header checksum`);
    t.true(l4v4Ok(r.out), `${what}: L4 checksum`);
    // everything from L4 on but the checksum field: ports, identifier, payload
    const csum = 34 + (proto === 6 ? 16 : proto === 17 ? 6 : 2);
    t.is(hex(cat(r.out.subarray(34, csum), r.out.subarray(csum + 2))), hex(cat(f.subarray(34, csum), f.subarray(csum + 2))),
      `${what}: L4 bytes kept`);
    const flow = r.b.flow[r.slot]!;
    t.is(ctx.fwd.flows.rec[flow * RECORD + R_FLAGS]! & (FLOW_DST_NAT | FLOW_SRC_NAT), FLOW_DST_NAT, what);
  }
});

test('the NATed flow expects replies from the VM\'s own address, not from the VIP', (t) => {
  const ctx = setup();
  const r = runPath(nodes(ctx), fromVm(VM_IPV4, VIP, 17, udp(40000, 80, ascii('hello'))), 3);
  const flow = r.b.flow[r.slot]!;
  t.is(findFlow(ctx, flowKey4(100, VM_B, VM_IPV4, 80, 40000, 17)), (flow << 1) | 1);
  t.is(findFlow(ctx, flowKey4(100, VIP, VM_IPV4, 80, 40000, 17)), -1);
  t.is(findFlow(ctx, flowKey4(100, VM_IPV4, VIP, 40000, 80, 17)), flow << 1, 'the original key is the VIP one');
});

test('later packets of the flow are rewritten the same way; the replies pass dnat unchanged', (t) => {
  const ctx = setup();
  const n = nodes(ctx);
  const f = fromVm(VM_IPV4, VIP, 17, udp(40000, 80, ascii('hello')));
  const first = runPath(n, f, 3);
  const second = runPath(n, f, 3);
  t.is(second.b.dir[second.slot], 0);
  t.is(hex(second.out), hex(first.out));
  const reply = fromVm(VM_B, VM_IPV4, 17, udp(80, 40000, ascii('world')), '02:00:00:00:00:04');
  const r = runPath(n, reply, 4);
  t.is(r.b.dir[r.slot], 1);
  t.is(r.b.flow[r.slot], first.b.flow[first.slot]);
  t.is(r.exit, 'ipv4_lookup');
  t.is(hex(r.out), hex(reply), 'the source goes back to the VIP in snat');
});

test('a VIP of another VNI, an address that is no VIP, or a removed VIP is left alone', (t) => {
  const ctx = setup();
  const cases: [string, string][] = [['VIP of VNI 200', '45.0.0.2'], ['not a VIP', '45.0.0.9'], ['VM address', VM_B]];
  for (const [what, dst] of cases) {
    const f = fromVm(VM_IPV4, dst, 17, udp(40000, 80, ascii('hello')));
    const r = runPath(nodes(ctx), f, 3);
    t.is(r.exit, 'ipv4_lookup', what);
    t.is(hex(r.out), hex(f), what);
    t.is(ctx.fwd.flows.rec[r.b.flow[r.slot]! * RECORD + R_FLAGS]! & FLOW_DST_NAT, 0, what);
  }
  ctx.ports.setVip(4, 0, null);
  const f = fromVm(VM_IPV4, VIP, 17, udp(40001, 80, ascii('hello')));
  t.is(hex(runPath(nodes(ctx), f, 3).out), hex(f), 'VIP removed');
});

test('a UDP checksum of 0 stays 0 under DNAT', (t) => {
  const f = cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4(VM_IPV4, VIP, 17, udp(40000, 80, ascii('hello'))));
  const r = runPath(nodes(setup()), f, 3);
  t.is(hex(r.out.subarray(30, 34)), hex(ip4(VM_B)));
  t.is(hex(r.out.subarray(40, 42)), '0000');
  t.true(ipv4HeaderOk(r.out));
});

test('traffic tunnelled to the VIP\'s underlay address is sent on to the VIP owner', (t) => {
  const ctx = setup();
  vnf(ctx, 'fc00:1::45', VnfType.VIP, 100, 4);
  const inner = withL4Checksum4(ipv4('8.8.8.8', VIP, 6, tcp(443, 50000, 0x02)), 0);
  const f = tunnelFrame(PF0_MAC, '22:22:22:22:22:fe', 'fc00:2::1', 'fc00:1::45', inner);
  const r = runPath([new ClsNode(ctx, true), new IpipDecapNode(ctx), new ConntrackNode(ctx), new DnatNode(ctx)], f, 0);
  t.deepEqual(r.path, ['cls', 'ipip_decap', 'conntrack', 'dnat']);
  t.is(r.exit, 'ipv4_lookup');
  t.is(hex(r.out.subarray(30, 34)), hex(ip4(VM_B)));
  t.true(ipv4HeaderOk(r.out));
  t.true(l4v4Ok(r.out));
  t.is(r.reason, DropReason.NONE);
});

test('IPv6 goes to ipv6_lookup untouched (no IPv6 NAT)', (t) => {
  const ctx = setup();
  const f = cat(eth(PORT_MAC, VM_MAC, 0x86dd), ipv6(ip6('2000:100:1::1'), ip6('2000:100:1::2'), 17, udp(1, 2, ascii('x')), 64));
  const r = runPath(nodes(ctx), f, 3);
  t.is(r.exit, 'ipv6_lookup');
  t.is(hex(r.out), hex(f));
});
