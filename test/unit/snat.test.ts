import test from 'ava';
import { frameOf, makeTestBatch, PF_FROM_PF, PF_SOUTH_NORTH } from '../../src/packet/batch.js';
import { FLOW_DST_NAT, FLOW_SRC_NAT, R_FLAGS, RECORD } from '../../src/tables/flow-table.js';
import { Op } from '../../src/workers/channel.js';
import { WorkerCommands } from '../../src/workers/commands.js';
import type { NodeContext } from '../../src/workers/node-context.js';
import { ClsNode } from '../../src/workers/nodes/cls.js';
import { ConntrackNode } from '../../src/workers/nodes/conntrack.js';
import { DnatNode } from '../../src/workers/nodes/dnat.js';
import { Ipv4LookupNode } from '../../src/workers/nodes/ipv4-lookup.js';
import { Ipv6LookupNode } from '../../src/workers/nodes/ipv6-lookup.js';
import { SnatNode } from '../../src/workers/nodes/snat.js';
import {
  addVm, ascii, cat, eth, findFlow, flowKey4, hex, icmpEcho, ip4, ip4num, ip6, ipv4, ipv4HeaderOk, ipv6, l4v4Ok, makeCtx, PORT_MAC,
  route4, route6, runPath, tcp, udp, VIP, VM_IPV4, VM_IPV6, VM_MAC, withL4Checksum4,
} from './frames.js';

/** VM on port 3 (10.100.1.1, VNI 100) with VIP 45.0.0.1; a default route and 10/8 via the underlay. */
function setup(vip = true): NodeContext {
  const ctx = makeCtx();
  if (vip) ctx.ports.setVip(3, ip4num(VIP), ip6('fc00:1::45'));
  route4(ctx, 100, '0.0.0.0', 0, -1, 'fc00:ff::1');
  route4(ctx, 100, '10.0.0.0', 8, -1, 'fc00:2::1');
  route6(ctx, 100, '::', 0, -1, 'fc00:ff::1');
  return ctx;
}

function path(ctx: NodeContext): (ClsNode | ConntrackNode | DnatNode | Ipv4LookupNode | Ipv6LookupNode | SnatNode)[] {
  return [new ClsNode(ctx, true), new ConntrackNode(ctx), new DnatNode(ctx), new Ipv4LookupNode(ctx), new Ipv6LookupNode(ctx),
    new SnatNode(ctx)];
}

function out4(dst: string, proto: number, l4: Uint8Array): Uint8Array {
  const f = cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4(VM_IPV4, dst, proto, l4));
  return proto === 1 ? f : withL4Checksum4(f);
}

test('snat declares drop as edge 0 and firewall after it', (t) => {
  t.deepEqual(new SnatNode(makeCtx()).edges, ['drop', 'firewall']);
});

test('a new south-north flow from a VM with a VIP leaves from the VIP with valid checksums', (t) => {
  const cases: [string, number, Uint8Array][] = [
    ['UDP', 17, udp(40000, 53, ascii('query'))],
    ['TCP', 6, tcp(40000, 443, 0x02)],
    ['ICMP echo', 1, icmpEcho(8, 9, 1)],
  ];
  for (const [what, proto, l4] of cases) {
    const ctx = setup();
    const r = runPath(path(ctx), out4('8.8.8.8', proto, l4), 3);
    t.deepEqual(r.path, ['cls', 'conntrack', 'dnat', 'ipv4_lookup', 'snat'], what);
    t.is(r.exit, 'firewall', what);
    t.is(hex(r.out.subarray(26, 30)), hex(ip4(VIP)), `${what}: source is the VIP`);
    t.is(hex(r.out.subarray(30, 34)), hex(ip4('8.8.8.8')), what);
    t.true(ipv4HeaderOk(r.out), `${what}: header checksum`);
    t.true(l4v4Ok(r.out), `${what}: L4 checksum`);
    const f = r.b.flow[r.slot]!;
    t.is(ctx.fwd.flows.rec[f * RECORD + R_FLAGS]! & (FLOW_SRC_NAT | FLOW_DST_NAT), FLOW_SRC_NAT, what);
  }
});

test('a flow SNATed with a VIP goes with the VIP, whichever port created it (a flush of the VIP\'s interface removes it)', (t) => {
  // the VIP still in the port table (DeleteInterface's flush), or already removed from it and
  // named in the command (DeleteVip's); a VIP above 127.255.255.255 is negative as a table word
  for (const [vip, removed] of [[VIP, false], ['200.0.0.1', true]] as const) {
    const ctx = setup(false);
    ctx.ports.setVip(3, ip4num(vip), ip6('fc00:1::45'));
    // another VM of the VNI sends with the first one's address as its source: its flow, not SNATed
    addVm(ctx, 4, { vni: 100, ipv4: '10.100.1.2' });
    const frame = out4('8.8.8.8', 17, udp(40000, 53, ascii('q')));
    t.is(hex(runPath(path(ctx), frame, 4).out.subarray(26, 30)), hex(ip4(VM_IPV4)));
    // then the owner of the address sends on the same 5-tuple: the flow gets its VIP
    const r = runPath(path(ctx), frame, 3);
    t.is(r.exit, 'firewall');
    t.is(hex(r.out.subarray(26, 30)), hex(ip4(vip)), 'SNATed with the VIP');
    t.is(ctx.fwd.flows.live, 1);
    t.is(ctx.fwd.flows.rec[r.b.flow[r.slot]! * RECORD + R_FLAGS]! & FLOW_SRC_NAT, FLOW_SRC_NAT);
    // what DeleteInterface or DeleteVip has the workers do for port 3; before, such a flow stayed
    // and kept translating with the removed VIP until it aged out
    if (removed) ctx.ports.setVip(3, 0, null);
    t.is(new WorkerCommands(ctx.fwd, ctx.ports, () => 0).handle(Op.FLUSH_PORT, 3, removed ? ip4num(vip) : 0), 1, vip);
    t.is(ctx.fwd.flows.live, 0);
  }
});

test('the SNATed flow expects replies to the VIP', (t) => {
  const ctx = setup();
  const r = runPath(path(ctx), out4('8.8.8.8', 17, udp(40000, 53, ascii('query'))), 3);
  const f = r.b.flow[r.slot]!;
  t.is(findFlow(ctx, flowKey4(100, '8.8.8.8', VIP, 53, 40000, 17)), (f << 1) | 1);
  t.is(findFlow(ctx, flowKey4(100, '8.8.8.8', VM_IPV4, 53, 40000, 17)), -1);
});

test('later packets of the flow leave from the VIP too', (t) => {
  const ctx = setup();
  const n = path(ctx);
  const f = out4('8.8.8.8', 17, udp(40000, 53, ascii('query')));
  const first = runPath(n, f, 3);
  const second = runPath(n, f, 3);
  t.is(second.b.flow[second.slot], first.b.flow[first.slot]);
  t.is(hex(second.out), hex(first.out));
});

test('no SNAT without a VIP, on a route that is not the default, or for IPv6', (t) => {
  const cases: [string, NodeContext, Uint8Array][] = [
    ['no VIP', setup(false), out4('8.8.8.8', 17, udp(40000, 53, ascii('q')))],
    ['10/8 is not south-north', setup(), out4('10.1.2.3', 17, udp(40000, 53, ascii('q')))],
    ['IPv6 default route', setup(), cat(eth(PORT_MAC, VM_MAC, 0x86dd), ipv6(ip6(VM_IPV6), ip6('2001:db8::1'), 17, udp(1, 2, ascii('q')), 64))],
  ];
  for (const [what, ctx, f] of cases) {
    const r = runPath(path(ctx), f, 3);
    t.is(r.exit, 'firewall', what);
    t.is(hex(r.out), hex(f), what);
    t.is(ctx.fwd.flows.rec[r.b.flow[r.slot]! * RECORD + R_FLAGS]! & FLOW_SRC_NAT, 0, what);
  }
});

test('a south-north packet that came from an uplink is not SNATed', (t) => {
  const ctx = setup();
  const conntrack = new ConntrackNode(ctx);
  const snat = new SnatNode(ctx);
  const f = out4('8.8.8.8', 17, udp(40000, 53, ascii('q')));
  // conntrack makes the flow; the flags are what lookup would have set for a decapsulated packet
  const r = runPath([conntrack], f, 3, (b, slot) => {
    b.vni[slot] = 100;
    b.flags[slot] = PF_FROM_PF | PF_SOUTH_NORTH;
  }, makeTestBatch(4));
  t.is(r.exit, 'dnat');
  t.is(snat.edges[snat.process(r.b, r.slot)], 'firewall');
  t.is(ctx.fwd.flows.rec[r.b.flow[r.slot]! * RECORD + R_FLAGS]! & FLOW_SRC_NAT, 0);
  t.is(hex(frameOf(r.b, r.slot)), hex(f));
});
