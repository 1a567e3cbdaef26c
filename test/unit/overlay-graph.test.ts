/**
 * The whole worker graph (buildNodes + Graph, as a worker and bench/graph.ts run it) on crafted
 * frames: overlay forwarding between local VMs, to and from the underlay, VIP NAT both ways, VNI
 * isolation, cached decisions (fast path) and their invalidation, WCMP, the uplink's ND.
 */
import test from 'ava';
import { VnfType } from '../../src/actors/underlay.js';
import { frameOf, loadFrame, makeTestBatch, MAX_SLOTS, type PacketBatch } from '../../src/packet/batch.js';
import { DropReason } from '../../src/packet/drop-reasons.js';
import { FAST_DONE, FAST_DROP, FAST_MISS, FAST_SLOT, FAST_TX, FastPath } from '../../src/workers/fast-path.js';
import { IoArea, TX_ENCAP4 } from '../../src/ffi/dpdk.js';
import { ETH_HLEN, IPV6_DST, IPV6_HLEN } from '../../src/packet/headers.js';
import { writeNexthop, writeUnderlay } from '../../src/workers/nodes/ipip-encap.js';
import { FS_CREATED, FS_FAST_DIRECT } from '../../src/workers/node-context.js';
import { KEY_STRIDE, OWNER_MASK, R_OWNER, R_UL, RECORD, UL_REF_SHIFT, ulRef } from '../../src/tables/flow-table.js';
import { encapped, Rig, toVm, vmFrame, VMS } from './fixtures/overlay-rig.js';
import {
  ascii, cat, eth, hex, icmpEcho, INTERNET_GW, ip4, ip4num, ip6, ipv4, ipv4HeaderOk, ipv6, l4v4Ok, l4v6Ok, mac,
  PF0_MAC, PF1_MAC, REMOTE_HOST, ROUTER, ROUTER_LL, tcp, tunnelFrame, u16, udp, VIP, VIP_UL, vmMacOf, vnf,
  withL4Checksum4,
} from './frames.js';

const SLOW = ['rx-3-0', 'cls', 'conntrack', 'dnat', 'ipv4_lookup', 'snat', 'firewall', 'tx-4'];
const FAST = ['rx-3-0', 'cls', 'conntrack', 'tx-4'];

test('VM to VM in one VNI: the first packet walks the graph, the second takes the cached decision, same bytes', (t) => {
  const rig = new Rig();
  const { A, B } = VMS;
  const f = vmFrame(A, B.ip, 17, udp(40000, 80, ascii('hello')));
  const want = toVm(B, f.subarray(14));
  const first = rig.send(f, A.port);
  t.is(first.sink, 'tx-4');
  t.is(hex(first.out), hex(want));
  t.deepEqual(first.nodes, SLOW);
  t.is(rig.fastPath, 0);
  const second = rig.send(f, A.port);
  t.is(second.sink, 'tx-4');
  t.is(hex(second.out), hex(first.out), 'identical output');
  t.deepEqual(second.nodes, FAST);
  t.is(rig.fastPath, 1);
  t.is(second.flow, first.flow);

  const r = vmFrame(B, A.ip, 17, udp(80, 40000, ascii('world')));
  const reply = rig.send(r, B.port);
  t.is(reply.sink, 'tx-3');
  t.is(hex(reply.out), hex(toVm(A, r.subarray(14))));
  t.deepEqual([reply.flow, reply.dir], [first.flow, 1]);
  t.true(reply.nodes.includes('firewall'), 'the reply direction decides on its own first packet');
  const reply2 = rig.send(r, B.port);
  t.is(hex(reply2.out), hex(reply.out));
  t.is(rig.fastPath, 2);
  t.is(rig.ctx.fwd.stats[FS_CREATED], 1);
});

test('VNI isolation: the same addresses in another VNI reach that VNI\'s VMs and flows', (t) => {
  const rig = new Rig();
  const { A, B, C, D } = VMS;
  const inA = rig.send(vmFrame(A, B.ip, 17, udp(40000, 80, ascii('x'))), A.port);
  rig.send(vmFrame(A, B.ip, 17, udp(40000, 80, ascii('x'))), A.port);
  const f = vmFrame(C, D.ip, 17, udp(40000, 80, ascii('x')));
  const inC = rig.send(f, C.port);
  t.is(inC.sink, 'tx-6', 'to D, not to B');
  t.is(hex(inC.out), hex(toVm(D, f.subarray(14))));
  t.not(inC.flow, inA.flow, 'a flow of its own, not VNI 100\'s cached one');
  t.true(inC.nodes.includes('ipv4_lookup'));
  const remote = rig.send(vmFrame(C, '10.100.2.7', 17, udp(1, 2, ascii('x'))), C.port);
  t.is(remote.sink, 'drop', 'VNI 100\'s routes are not VNI 200\'s');
  t.is(remote.reason, DropReason.NO_ROUTE);
});

test('a configuration change (generation bump) sends the next packet through the graph again', (t) => {
  const rig = new Rig();
  const { A, B } = VMS;
  const f = vmFrame(A, B.ip, 17, udp(40000, 80, ascii('hello')));
  rig.send(f, A.port);
  t.deepEqual(rig.send(f, A.port).nodes, FAST);
  rig.ctx.fwd.flows.bumpGeneration();
  const after = rig.send(f, A.port);
  t.deepEqual(after.nodes, SLOW);
  t.is(rig.fastPath, 1);
  t.deepEqual(rig.send(f, A.port).nodes, FAST, 'decided again in the new generation');
  // a route change takes effect for an existing flow: without B's /32 the default route takes it
  rig.ctx.fwd.routes4.delete(100, ip4num(B.ip), 32);
  rig.ctx.fwd.flows.bumpGeneration();
  const moved = rig.send(f, A.port);
  t.is(moved.sink, 'tx-0');
  t.is(hex(moved.out.subarray(38, 54)), hex(ip6(INTERNET_GW)));
  t.is(moved.flow, after.flow);
});

test('with --no-fast-path every packet walks the whole graph', (t) => {
  const rig = new Rig({ fastPath: false });
  const { A, B } = VMS;
  const f = vmFrame(A, B.ip, 17, udp(40000, 80, ascii('hello')));
  const first = rig.send(f, A.port);
  for (let i = 0; i < 3; i++) {
    const r = rig.send(f, A.port);
    t.deepEqual(r.nodes, SLOW);
    t.is(hex(r.out), hex(first.out));
  }
  t.is(rig.fastPath, 0);
});

test('VM to a remote host: encapsulated toward the nexthop; the reply from the uplink is decapsulated back', (t) => {
  const rig = new Rig();
  const { A } = VMS;
  rig.ctx.ports.learnVmMac(0, mac(ROUTER), 0);
  const f = vmFrame(A, '10.100.2.7', 6, tcp(40000, 443, 0x02));
  const out = rig.send(f, A.port);
  t.is(out.sink, 'tx-0');
  t.is(hex(out.out), hex(encapped(ROUTER, PF0_MAC, A.ul, REMOTE_HOST, f.subarray(14))));
  t.deepEqual(out.nodes, ['rx-3-0', 'cls', 'conntrack', 'dnat', 'ipv4_lookup', 'snat', 'firewall', 'ipip_encap', 'tx-0']);
  const again = rig.send(f, A.port);
  t.is(hex(again.out), hex(out.out), 'fast path: identical encapsulation');
  t.deepEqual(again.nodes, ['rx-3-0', 'cls', 'conntrack', 'ipip_encap', 'tx-0']);

  const inner = withL4Checksum4(ipv4('10.100.2.7', A.ip, 6, tcp(443, 40000, 0x12)), 0);
  const back = rig.send(tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, A.ul, inner), 0);
  t.is(back.sink, 'tx-3');
  t.is(hex(back.out), hex(toVm(A, inner)));
  t.deepEqual([back.flow, back.dir], [out.flow, 1], 'the reply found the flow the request made');
  t.deepEqual(back.nodes, ['rx-0-0', 'cls', 'ipip_decap', 'conntrack', 'firewall', 'tx-3']);
  const back2 = rig.send(tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, A.ul, inner), 0);
  t.is(hex(back2.out), hex(back.out));
  t.deepEqual(back2.nodes, ['rx-0-0', 'cls', 'ipip_decap', 'conntrack', 'tx-3']);
  t.is(rig.ctx.fwd.stats[FS_CREATED], 1);
});

test('a tunnelled packet for a VNI is not delivered into another VNI with the same addresses', (t) => {
  const rig = new Rig();
  const { A, C } = VMS;
  // sent to C's underlay address: VNI 200, so A's VNI 100 flow is not found and C gets it
  rig.send(vmFrame(A, '10.100.2.7', 17, udp(40000, 53, ascii('q'))), A.port);
  const inner = withL4Checksum4(ipv4('10.100.2.7', C.ip, 17, udp(53, 40000, ascii('a'))), 0);
  const r = rig.send(tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, C.ul, inner), 0);
  t.is(r.sink, 'tx-5');
  t.is(r.dir, 0, 'a new flow in VNI 200');
  t.is(rig.ctx.fwd.stats[FS_CREATED], 2);
});

test('VIP DNAT: a VM reaches another by its VIP, and the reply comes back from the VIP', (t) => {
  const rig = new Rig();
  const { A, B } = VMS;
  rig.ctx.ports.setVip(B.port, ip4num(VIP), ip6(VIP_UL));
  const cases: [string, number, Uint8Array, Uint8Array][] = [
    ['UDP', 17, udp(40000, 80, ascii('hello')), udp(80, 40000, ascii('world'))],
    ['TCP', 6, tcp(40001, 80, 0x02), tcp(80, 40001, 0x12)],
    ['ICMP', 1, icmpEcho(8, 99, 1, ascii('ping')), icmpEcho(0, 99, 1, ascii('ping'))],
  ];
  for (const [what, proto, req, rep] of cases) {
    const f = vmFrame(A, VIP, proto, req);
    const out = rig.send(f, A.port);
    t.is(out.sink, 'tx-4', what);
    t.is(hex(out.out.subarray(30, 34)), hex(ip4(B.ip)), `${what}: to B's own address`);
    t.is(hex(out.out.subarray(26, 30)), hex(ip4(A.ip)), what);
    t.true(ipv4HeaderOk(out.out) && l4v4Ok(out.out), `${what}: checksums`);
    const r = vmFrame(B, A.ip, proto, rep);
    const back = rig.send(r, B.port);
    t.is(back.sink, 'tx-3', what);
    t.deepEqual([back.flow, back.dir], [out.flow, 1], what);
    t.is(hex(back.out.subarray(26, 30)), hex(ip4(VIP)), `${what}: from the VIP`);
    t.true(ipv4HeaderOk(back.out) && l4v4Ok(back.out), `${what}: checksums`);
    const fast = rig.fastPath;
    t.is(hex(rig.send(f, A.port).out), hex(out.out), `${what}: fast path DNAT`);
    t.is(hex(rig.send(r, B.port).out), hex(back.out), `${what}: fast path un-DNAT`);
    t.is(rig.fastPath, fast + 2, what);
  }
});

test('VIP DNAT from the underlay: tunnelled to the VIP\'s address, delivered to its owner, the reply leaves from the VIP', (t) => {
  const rig = new Rig();
  const { B } = VMS;
  rig.ctx.ports.setVip(B.port, ip4num(VIP), ip6(VIP_UL));
  vnf(rig.ctx, VIP_UL, VnfType.VIP, 100, B.port);
  const inner = withL4Checksum4(ipv4('8.8.8.8', VIP, 6, tcp(50000, 22, 0x02)), 0);
  const r = rig.send(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, VIP_UL, inner), 0);
  t.is(r.sink, 'tx-4');
  t.deepEqual(r.nodes, ['rx-0-0', 'cls', 'ipip_decap', 'conntrack', 'dnat', 'ipv4_lookup', 'snat', 'firewall', 'tx-4']);
  t.is(hex(r.out.subarray(30, 34)), hex(ip4(B.ip)));
  t.true(ipv4HeaderOk(r.out) && l4v4Ok(r.out));
  const rep = vmFrame(B, '8.8.8.8', 6, tcp(22, 50000, 0x12));
  const back = rig.send(rep, B.port);
  t.is(back.sink, 'tx-0');
  t.deepEqual([back.flow, back.dir], [r.flow, 1]);
  const innerOut = back.out.subarray(54);
  t.is(hex(innerOut.subarray(12, 16)), hex(ip4(VIP)), 'from the VIP');
  t.true(ipv4HeaderOk(innerOut, 0) && l4v4Ok(innerOut, 0));
  t.is(hex(back.out.subarray(22, 38)), hex(ip6(B.ul)), 'outer source: the interface underlay (upstream)');
  t.is(hex(back.out.subarray(38, 54)), hex(ip6(INTERNET_GW)));
});

test('VIP SNAT: a south-north flow leaves from the VIP and the reply to the VIP is delivered to the VM', (t) => {
  const rig = new Rig();
  const { A } = VMS;
  rig.ctx.ports.setVip(A.port, ip4num(VIP), ip6(VIP_UL));
  vnf(rig.ctx, VIP_UL, VnfType.VIP, 100, A.port);
  const f = vmFrame(A, '8.8.8.8', 17, udp(40000, 53, ascii('query')));
  const out = rig.send(f, A.port);
  t.is(out.sink, 'tx-0');
  const inner = out.out.subarray(54);
  t.is(hex(inner.subarray(12, 16)), hex(ip4(VIP)), 'source NATed to the VIP');
  t.true(ipv4HeaderOk(inner, 0) && l4v4Ok(inner, 0));
  t.is(hex(out.out.subarray(38, 54)), hex(ip6(INTERNET_GW)));
  t.is(hex(rig.send(f, A.port).out), hex(out.out), 'fast path: the same SNAT');

  const answer = withL4Checksum4(ipv4('8.8.8.8', VIP, 17, udp(53, 40000, ascii('answer'))), 0);
  const back = rig.send(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, VIP_UL, answer), 0);
  t.is(back.sink, 'tx-3');
  t.deepEqual([back.flow, back.dir], [out.flow, 1]);
  t.is(hex(back.out.subarray(30, 34)), hex(ip4(A.ip)), 'destination back to the VM');
  t.is(hex(back.out.subarray(0, 12)), hex(mac(A.mac)) + hex(mac(A.own)));
  t.true(ipv4HeaderOk(back.out) && l4v4Ok(back.out));
  const again = rig.send(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, VIP_UL, answer), 0);
  t.is(hex(again.out), hex(back.out), 'fast path: the same un-SNAT');
});

test('a VIP\'s reply tunnelled to the interface\'s own address is delivered as the graph delivers it, cached decision or not', (t) => {
  // the graph takes a tunnel to an interface address straight to the firewall (upstream), without
  // NAT; a decision cached for the VIP's tunnel (un-SNAT) must not be repeated for it (found by
  // test/unit/graph-fuzz.test.ts: the fast path un-NATed such packets, the graph did not)
  const answer = withL4Checksum4(ipv4('8.8.8.8', VIP, 17, udp(53, 40000, ascii('answer'))), 0);
  const results: string[] = [];
  for (const fastPath of [true, false]) {
    const rig = new Rig({ fastPath });
    const { A } = VMS;
    rig.ctx.ports.setVip(A.port, ip4num(VIP), ip6(VIP_UL));
    vnf(rig.ctx, VIP_UL, VnfType.VIP, 100, A.port);
    rig.send(vmFrame(A, '8.8.8.8', 17, udp(40000, 53, ascii('query'))), A.port);
    const viaVip = rig.send(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, VIP_UL, answer), 0);
    t.is(hex(viaVip.out.subarray(30, 34)), hex(ip4(A.ip)), 'via the VIP\'s address: un-SNATed');
    const viaIface = tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, A.ul, answer);
    for (let i = 0; i < 2; i++) {
      const r = rig.send(viaIface, 0);
      t.is(r.sink, 'tx-3');
      t.is(hex(r.out.subarray(30, 34)), hex(ip4(VIP)), `via the interface's address (${i}): as sent`);
      results.push(hex(r.out));
      const fused = rig.sendFused(viaIface, 0);
      t.is(hex(fused.out), hex(r.out), 'the fused fast path agrees');
    }
    t.is(hex(rig.send(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, VIP_UL, answer), 0).out), hex(viaVip.out),
      'the VIP\'s tunnel still takes its own decision');
  }
  t.is(new Set(results).size, 1, 'the same bytes with the fast path on and off');
});

test('a flow\'s reply tunnelled to another interface\'s address goes where the graph sends it, cached decision or not', (t) => {
  // the graph delivers a tunnel to an interface address to that interface whatever the inner
  // destination (upstream); a decision cached for the tunnel to A's address must not send the
  // same flow's tunnel to B's address to A (found by test/unit/graph-fuzz.test.ts)
  const results: string[] = [];
  for (const fastPath of [true, false]) {
    const rig = new Rig({ fastPath });
    rigRouter(rig);
    const { A, B } = VMS;
    rig.send(vmFrame(A, '10.100.2.7', 17, udp(40000, 53, ascii('q'))), A.port);
    const answer = withL4Checksum4(ipv4('10.100.2.7', A.ip, 17, udp(53, 40000, ascii('a'))), 0);
    t.is(rig.send(tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, A.ul, answer), 0).sink, 'tx-3');
    t.is(rig.send(tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, A.ul, answer), 0).sink, 'tx-3', 'again (cached, with the fast path)');
    const toB = tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, B.ul, answer);
    for (let i = 0; i < 2; i++) {
      const r = rig.send(toB, 0);
      t.is(r.sink, 'tx-4', `tunnelled to B's address (${i}): delivered to B`);
      t.is(rig.sendFused(toB, 0).sink, 'tx-4', 'the fused fast path agrees');
      results.push(hex(r.out));
    }
    t.is(rig.sendFused(tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, A.ul, answer), 0).sink, 'tx-3', 'A\'s tunnel still goes to A');
  }
  t.is(new Set(results).size, 1, 'the same bytes with the fast path on and off');
});

test('WCMP at 50%: upstream\'s two known destinations leave by pf0 and pf1', (t) => {
  const rig = new Rig({ wcmp: 50 });
  const { A } = VMS;
  rig.ctx.ports.learnVmMac(0, mac(ROUTER), 0);
  rig.ctx.ports.learnVmMac(1, mac('22:22:22:22:22:fd'), 0);
  const cases: [string, number, string, string][] = [
    ['10.100.2.102', 0, ROUTER, PF0_MAC],
    ['10.100.2.125', 1, '22:22:22:22:22:fd', PF1_MAC],
  ];
  for (const [dst, pf, router, own] of cases) {
    const f = vmFrame(A, dst, 1, icmpEcho(8, 0, 1));
    for (const pass of ['slow', 'fast']) {
      const r = rig.send(f, A.port);
      t.is(r.sink, `tx-${pf}`, `${dst} ${pass}`);
      t.is(hex(r.out), hex(encapped(router, own, A.ul, REMOTE_HOST, f.subarray(14))), `${dst} ${pass}`);
    }
  }
});

test('a tunnelled packet that dnat routes back to the underlay is dropped as PF to PF', (t) => {
  const rig = new Rig();
  rig.ctx.ports.setVip(VMS.B.port, ip4num(VIP), ip6(VIP_UL));
  vnf(rig.ctx, VIP_UL, VnfType.VIP, 100, VMS.B.port);
  const inner = withL4Checksum4(ipv4('8.8.8.8', '10.100.2.7', 17, udp(1, 2, ascii('x'))), 0);
  const r = rig.send(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, VIP_UL, inner), 0);
  t.is(r.sink, 'drop');
  t.is(r.reason, DropReason.PF_TO_PF);
  t.deepEqual(r.nodes, ['rx-0-0', 'cls', 'ipip_decap', 'conntrack', 'dnat', 'ipv4_lookup', 'drop']);
});

test('a packet tunnelled to an interface address is delivered to that interface without a route lookup (upstream)', (t) => {
  const rig = new Rig();
  const inner = withL4Checksum4(ipv4('10.100.9.9', '10.100.2.7', 17, udp(1, 2, ascii('x'))), 0);
  const r = rig.send(tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, VMS.A.ul, inner), 0);
  t.is(r.sink, 'tx-3');
  t.deepEqual(r.nodes, ['rx-0-0', 'cls', 'ipip_decap', 'conntrack', 'firewall', 'tx-3']);
  t.is(hex(r.out), hex(toVm(VMS.A, inner)));
});

test('uplink ND through the graph: an NS for an underlay address is answered, a foreign one dropped', (t) => {
  const rig = new Rig();
  const ns = (target: string): Uint8Array => cat(eth('33:33:ff:00:00:03', ROUTER, 0x86dd),
    ipv6(ip6(ROUTER_LL), ip6('ff02::1:ff00:3'), 58, cat([135, 0, 0, 0, 0, 0, 0, 0], ip6(target), [1, 1], mac(ROUTER))));
  const r = rig.send(ns(VMS.A.ul), 0);
  t.is(r.sink, 'tx-0');
  t.deepEqual(r.nodes, ['rx-0-0', 'cls', 'ipv6_nd', 'tx-0']);
  t.is(hex(r.out.subarray(0, 12)), hex(mac(ROUTER)) + hex(mac(PF0_MAC)));
  t.is(hex(r.out.subarray(22, 38)), hex(ip6(VMS.A.ul)));
  t.is(hex(r.out.subarray(54, 56)), '8800');
  t.is(hex(r.out.subarray(62, 78)), hex(ip6(VMS.A.ul)), 'target');
  t.is(hex(r.out.subarray(78, 86)), '0201' + hex(mac(PF0_MAC)), 'target link-layer option');
  t.true(l4v6Ok(r.out, 58));
  const foreign = rig.send(ns('fc00:2::1'), 0);
  t.is(foreign.sink, 'drop');
  t.is(foreign.reason, DropReason.ND_NOT_HANDLED);
});

test('the router MAC learned from an echo reply addresses the next encapsulated packet', (t) => {
  const rig = new Rig();
  const { A } = VMS;
  const f = vmFrame(A, '10.100.2.7', 17, udp(1, 2, ascii('x')));
  t.is(hex(rig.send(f, A.port).out.subarray(0, 6)), hex(mac(PF0_MAC)), 'router unknown: the uplink\'s own MAC');
  const reply = cat(eth(PF0_MAC, ROUTER, 0x86dd), ipv6(ip6(ROUTER_LL), ip6('fe80::2022:22ff:fe22:2200'), 58,
    Uint8Array.of(129, 0, 0, 0, 0x64, 0x70, 0, 1)));
  const r = rig.send(reply, 0);
  t.is(r.sink, 'drop');
  t.is(r.reason, DropReason.CONSUMED);
  t.is(vmMacOf(rig.ctx, 0), ROUTER);
  t.is(hex(rig.send(f, A.port).out.subarray(0, 12)), hex(mac(ROUTER)) + hex(mac(PF0_MAC)),
    'the fast path reads the router MAC at send time');
  const mcast = cat(eth(PF0_MAC, '33:33:00:00:00:01', 0x86dd), reply.subarray(14));
  rig.send(mcast, 0);
  t.is(vmMacOf(rig.ctx, 0), ROUTER, 'a multicast source is not learned');
});

test('a full batch of VM to VM packets is forwarded in one run', (t) => {
  const rig = new Rig();
  const { A, B } = VMS;
  const b = makeTestBatch(MAX_SLOTS > 256 ? 256 : MAX_SLOTS);
  const g = rig.g;
  const rx = g.indexOf('rx-3-0');
  for (let i = 0; i < 256; i++) {
    loadFrame(b, i, vmFrame(A, B.ip, 17, udp(1000 + (i % 16), 80, ascii('x'))), A.port);
    g.fromSource(rx, i);
  }
  g.run(b);
  t.is(g.txCount, 256);
  t.is(g.dropCount, 0);
  t.is(rig.ctx.fwd.stats[FS_CREATED], 16);
  g.resetSinks();
});

// A tunnelled packet whose inner header equals a VM's outgoing flow must not take that flow's
// cached "encapsulate" decision (back into the underlay): the graph delivers it to the interface
// (conntrack -> firewall for an interface address). Decisions are kept per side (VM or uplink).
test('a tunnelled packet matching a VM\'s outgoing flow is handled as the graph would, cached or not', (t) => {
  const rig = new Rig();
  const { A } = VMS;
  const f = vmFrame(A, '10.100.2.7', 17, udp(40000, 53, ascii('q')));
  rig.send(f, A.port);
  rig.send(f, A.port);
  const spoof = tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, A.ul, f.subarray(14));
  const r = rig.send(spoof, 0);
  t.not(r.sink, 'tx-0', 'not reflected into the underlay');
});

// The same packet through the slow path (after a configuration change) must not replace the flow's
// direction-0 decision with "to VM port 3": the VM's own next packets still go to the remote host.
test('a tunnelled packet cannot change where a VM\'s own flow goes', (t) => {
  const rig = new Rig();
  const { A } = VMS;
  const f = vmFrame(A, '10.100.2.7', 17, udp(40000, 53, ascii('q')));
  const first = rig.send(f, A.port);
  rig.ctx.fwd.flows.bumpGeneration();
  rig.send(tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, A.ul, f.subarray(14)), 0);
  const next = rig.send(f, A.port);
  t.is(next.sink, 'tx-0');
  t.is(hex(next.out), hex(first.out));
});

// ---- the fused fast path (FastPath, before the graph in the worker) ----

/** Packets of every kind of flow: [what, frame, in port] of a first packet and of its reply. */
function flowsOf(rig: Rig): [string, Uint8Array, number][] {
  const { A, B } = VMS;
  rig.ctx.ports.setVip(B.port, ip4num(VIP), ip6(VIP_UL));
  rig.ctx.ports.setVip(A.port, ip4num('45.0.0.9'), ip6('fc00:1::49'));
  vnf(rig.ctx, 'fc00:1::49', VnfType.VIP, 100, A.port);
  const tcpOut = vmFrame(A, '10.100.2.7', 6, tcp(40000, 443, 0x10, ascii('data')));
  return [
    ['VM to VM, UDP', vmFrame(A, B.ip, 17, udp(40000, 80, ascii('hello'))), A.port],
    ['VM to VM reply', vmFrame(B, A.ip, 17, udp(80, 40000, ascii('world'))), B.port],
    ['VM to remote, TCP (encapsulated)', tcpOut, A.port],
    ['remote reply (decapsulated)', tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, A.ul,
      withL4Checksum4(ipv4('10.100.2.7', A.ip, 6, tcp(443, 40000, 0x10, ascii('back'))), 0)), 0],
    ['VM to VIP (DNAT)', vmFrame(A, VIP, 17, udp(40001, 80, ascii('hello'))), A.port],
    ['VIP owner reply (un-DNAT)', vmFrame(B, A.ip, 17, udp(80, 40001, ascii('world'))), B.port],
    ['south-north from a VM with a VIP (SNAT)', vmFrame(A, '8.8.8.8', 1, icmpEcho(8, 5, 1, ascii('ping'))), A.port],
    ['reply to the VIP (un-SNAT)', tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, 'fc00:1::49', ipv4('8.8.8.8', '45.0.0.9', 1,
      icmpEcho(0, 5, 1, ascii('ping')))), 0],
  ];
}

test('the fused fast path forwards later packets exactly as the graph forwards them', (t) => {
  const viaGraph = new Rig();
  const fused = new Rig();
  rigRouter(viaGraph);
  rigRouter(fused);
  const a = flowsOf(viaGraph);
  const b = flowsOf(fused);
  // first packets (and each reply's first packet) decide in the graph of both rigs
  for (const [what, f, port] of a) t.false(viaGraph.send(f, port).sink === 'drop', `${what}: first packet forwarded`);
  for (const [what, f, port] of b) t.false(fused.sendFused(f, port).fused, `${what}: first packet walks the graph`);
  for (let i = 0; i < a.length; i++) {
    const [what, f, port] = a[i]!;
    const g = viaGraph.send(f, port);
    const x = fused.sendFused(b[i]![1], port);
    t.true(x.fused, `${what}: fused`);
    t.is(x.sink, g.sink, what);
    t.is(hex(x.out), hex(g.out), `${what}: same bytes`);
    t.deepEqual([x.flow, x.dir], [g.flow, g.dir], what);
  }
  t.is(fused.fastPath, viaGraph.fastPath, 'counted as fast-path packets alike');
});

function rigRouter(rig: Rig): void {
  rig.ctx.ports.learnVmMac(0, mac(ROUTER), 0);
}

test('the fused fast path leaves to the graph what only the graph may decide', (t) => {
  const rig = new Rig();
  const { A, B } = VMS;
  const f = vmFrame(A, B.ip, 17, udp(40000, 80, ascii('hello')));
  t.false(rig.sendFused(f, A.port).fused, 'first packet: no flow yet');
  t.true(rig.sendFused(f, A.port).fused);
  rig.ctx.fwd.flows.bumpGeneration();
  t.false(rig.sendFused(f, A.port).fused, 'stale decision after a configuration change');
  t.true(rig.sendFused(f, A.port).fused);
  // the same flow's packets that are unusual: IPv4 options, a fragment, a truncated L4 header
  const opts = cat(f.subarray(0, 14), [0x46], f.subarray(15, 16), u16(f.length - 14 + 4), f.subarray(18, 34), [1, 1, 1, 1], f.subarray(34));
  const frag = f.slice();
  frag[20] = 0x20;   // MF
  const cut = f.slice(0, 14 + 20 + 4);
  cut[16] = 0;
  cut[17] = 24;
  for (const [what, x] of [['IPv4 options', opts], ['first fragment', frag], ['4 bytes of UDP', cut]] as const) {
    const b = rig.b;
    loadFrame(b, 0, x, A.port);
    t.is(rig.fast.forward(b, 0), FAST_MISS, what);
    t.is(hex(frameOf(b, 0)), hex(x), `${what}: untouched`);
  }
  // DHCP, ND, ARP and packets on an uplink that are not tunnels
  const dhcp = vmFrame(A, '255.255.255.255', 17, udp(68, 67, ascii('discover')));
  const arpReq = cat(eth('ff:ff:ff:ff:ff:ff', A.mac, 0x0806), new Uint8Array(28));
  const plain = cat(eth(PF0_MAC, ROUTER, 0x0800), f.subarray(14));
  for (const [what, x, port] of [['DHCP', dhcp, A.port], ['ARP', arpReq, A.port], ['IPv4 on an uplink', plain, 0]] as const) {
    loadFrame(rig.b, 0, x, port);
    t.is(rig.fast.forward(rig.b, 0), FAST_MISS, what);
  }
  t.not(FAST_DROP, FAST_TX);
});

test('a tunnelled packet whose flow direction is cached as "encapsulate" is left to the graph (never PF to PF)', (t) => {
  const rig = new Rig();
  const { A } = VMS;
  const f = vmFrame(A, '10.100.2.7', 17, udp(40000, 53, ascii('q')));
  rig.send(f, A.port);
  rig.send(f, A.port);
  loadFrame(rig.b, 0, tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, A.ul, f.subarray(14)), 0);
  t.is(rig.fast.forward(rig.b, 0), FAST_MISS);
});

/** Runs FastPath.burstIo over `frames` as the worker does (rx descriptors from the batch). */
function runBurstIo(rig: Rig, frames: [Uint8Array, number][], headroom = 128, fast = rig.fast): {
  b: PacketBatch; io: IoArea; verdict: Uint8Array; nt: number;
} {
  const b = makeTestBatch(frames.length);
  const io = IoArea.plain(MAX_SLOTS);
  frames.forEach(([f, port], i) => {
    loadFrame(b, i, f, port, headroom);
    b.flow[i] = -1;
    io.rxOff[i] = b.mbuf[i]!;
    io.rxStart[i] = b.start[i]!;
    io.rxLen[i] = b.len[i]!;
    io.rxPort[i] = port;
  });
  const verdict = new Uint8Array(MAX_SLOTS);
  const nt = fast.burstIo(io, frames.length, b, verdict);
  return { b, io, verdict, nt };
}

/**
 * Two rigs with the router and flowsOf's flows, each flow's first packet sent through both: one
 * for the per-packet path, one for burstIo.
 */
function twinRigs(): { perPacket: Rig; perIo: Rig; a: [string, Uint8Array, number][] } {
  const perPacket = new Rig();
  const perIo = new Rig();
  rigRouter(perPacket);
  rigRouter(perIo);
  const a = flowsOf(perPacket);
  flowsOf(perIo);
  for (const [, f, port] of a) {
    perPacket.send(f, port);
    perIo.send(f, port);
  }
  return { perPacket, perIo, a };
}

test('the fast path on the io area (as the worker runs it) forwards in place exactly as the per-packet path', (t) => {
  const { perPacket, perIo, a } = twinRigs();
  const { A, B } = VMS;
  const mixed: [Uint8Array, number][] = [
    ...a.map(([, f, port]) => [f, port] as [Uint8Array, number]),
    [vmFrame(A, B.ip, 17, udp(40999, 80, ascii('new flow'))), A.port],
    [vmFrame(A, '255.255.255.255', 17, udp(68, 67, ascii('discover'))), A.port],
    // Ethernet padding behind a short frame is not sent on
    [cat(vmFrame(A, B.ip, 17, udp(40000, 80, ascii('hello'))), new Uint8Array(7)), A.port],
    ...a.map(([, f, port]) => [f, port] as [Uint8Array, number]),
  ];
  const fast0 = perIo.fastPath;
  const { b, io, verdict, nt } = runBurstIo(perIo, mixed);
  let k = 0;
  let slotPath = 0;
  let forwarded = 0;
  mixed.forEach(([f, port], i) => {
    const one = perPacket.sendFused(f, port);
    const v = verdict[i]!;
    t.is(v !== FAST_MISS, one.fused, `packet ${i}: same verdict`);
    if (v === FAST_MISS) {
      t.is(hex(frameOf(b, i)), hex(f), `packet ${i}: left untouched for the graph`);
      return;
    }
    forwarded++;
    if (v === FAST_SLOT) {
      // applied on the batch slot (none here: VIP NAT is done in place too)
      slotPath++;
      b.reset(i, io.rxOff[i]!, io.rxStart[i]!, io.rxLen[i]!, port);
      const w = perIo.fast.applySlot(b, i);
      t.is(w === FAST_TX ? `tx-${b.outPort[i]}` : 'drop', one.sink, `packet ${i}`);
      t.is(hex(frameOf(b, i)), hex(one.out), `packet ${i}: same bytes`);
      return;
    }
    t.is(v, FAST_DONE);
    t.is(io.txOff[k], io.rxOff[i], `packet ${i}: its mbuf`);
    t.is(`tx-${io.txPort[k]}`, one.sink, `packet ${i}`);
    const out = b.bytes.slice(io.txStart[k], io.txStart[k]! + io.txLen[k]!);
    t.is(hex(out), hex(one.out), `packet ${i}: same bytes`);
    t.is(io.txSet[k], io.txStart[k] !== io.rxStart[i] || io.txLen[k] !== io.rxLen[i] ? 1 : 0, `packet ${i}: txSet`);
    k++;
  });
  t.is(nt, k);
  t.true(k >= 10 && slotPath === 0, `${k} in place (the VIP's NATed flows included), ${slotPath} on the slot`);
  t.is(perIo.fastPath - fast0, forwarded, 'every fast-path packet counted once');
});

test('with the shim writing encapsulations, the fast path hands over only the route and in port, and those give the per-packet path\'s bytes', (t) => {
  const { perPacket, perIo, a } = twinRigs();
  perIo.fast.shimEncap = true;
  const frames = a.map(([, f, port]) => [f, port] as [Uint8Array, number]);
  const { b, io, verdict, nt } = runBurstIo(perIo, frames);
  const fwd = perIo.ctx.fwd;
  let k = 0;
  let encaps = 0;
  frames.forEach(([f, port], i) => {
    const one = perPacket.sendFused(f, port);
    if (verdict[i] !== FAST_DONE) return;
    const out = b.bytes.slice(io.txStart[k], io.txStart[k]! + io.txLen[k]!);
    if (io.txSet[k]! < TX_ENCAP4) {
      t.is(hex(out), hex(one.out), `${a[i]![0]}: written here`);
    } else {
      encaps++;
      t.is(io.txSet[k], TX_ENCAP4, `${a[i]![0]}: IPv4 inside`);
      t.is(io.txEncap[k]! & OWNER_MASK, port, 'the in port');
      const ref = io.txEncap[k]! >>> 8;
      t.true(ref !== 0, 'a route holds the outer destination');
      t.is(hex(out.subarray(ETH_HLEN + IPV6_HLEN)), hex(one.out.subarray(ETH_HLEN + IPV6_HLEN)), 'the inner packet as the per-packet path has it');
      // what the shim's io_encap writes (its bytes equal writeUnderlay's: shim-encap.test.ts)
      const dv = new DataView(out.buffer);
      writeUnderlay(perIo.ctx.ports, dv, 0, io.txPort[k]!, port, out.length - ETH_HLEN - IPV6_HLEN, false);
      writeNexthop(dv, ETH_HLEN + IPV6_DST, (ref & 1) === 0 ? fwd.routes4.fields : fwd.routes6.fields, ref >>> 1);
      t.is(hex(out), hex(one.out), `${a[i]![0]}: the same bytes once the shim has written them`);
    }
    k++;
  });
  t.is(nt, k);
  t.true(encaps >= 2, `${encaps} encapsulations handed to the shim`);
});

test('the fast path on the io area leaves an encapsulation without headroom to the slot path, which drops it', (t) => {
  const rig = new Rig();
  rigRouter(rig);
  const { A } = VMS;
  const f = vmFrame(A, '10.100.2.7', 6, tcp(40000, 443, 0x10, ascii('data')));
  rig.send(f, A.port);
  const { b, io, verdict, nt } = runBurstIo(rig, [[f, A.port]], 16);
  t.is(nt, 0);
  t.is(verdict[0], FAST_SLOT);
  b.reset(0, io.rxOff[0]!, io.rxStart[0]!, io.rxLen[0]!, A.port);
  t.is(rig.fast.applySlot(b, 0), FAST_DROP);
  t.is(b.dropReason[0], DropReason.NO_ROOM);
});

test('the VNF the fast path remembers within a burst is looked up again in the next burst', (t) => {
  const rig = new Rig();
  rigRouter(rig);
  const { A } = VMS;
  const out = vmFrame(A, '10.100.2.7', 6, tcp(40000, 443, 0x10, ascii('data')));
  const back = tunnelFrame(PF0_MAC, ROUTER, REMOTE_HOST, A.ul, withL4Checksum4(ipv4('10.100.2.7', A.ip, 6, tcp(443, 40000, 0x10, ascii('back'))), 0));
  rig.send(out, A.port);
  rig.send(back, 0);
  const first = runBurstIo(rig, [[back, 0], [back, 0]]);
  t.deepEqual([first.verdict[0], first.verdict[1]], [FAST_DONE, FAST_DONE], 'both tunnels of the burst decapsulated');
  t.true(rig.ctx.fwd.vnf.delete(ip6(A.ul)));
  const next = runBurstIo(rig, [[back, 0]]);
  t.is(next.verdict[0], FAST_MISS, 'the removed VNF is not remembered across bursts');
  t.is(next.nt, 0);
});

test('the flow cache never answers with a removed flow: the next packet walks the graph, and the new flow is the one the cache then gives', (t) => {
  const rig = new Rig();
  const { A, B } = VMS;
  const f = vmFrame(A, B.ip, 17, udp(40000, 80, ascii('hello')));
  const first = rig.send(f, A.port);
  t.true(rig.sendFused(f, A.port).fused, 'the flow cache now holds the flow');
  t.is(rig.sendFused(f, A.port).flow, first.flow, 'and gives it');

  const owner = rig.ctx.fwd.owner;
  t.is(owner.removeWhere((flow) => flow === first.flow, 1), 1);
  const after = rig.sendFused(f, A.port);
  t.false(after.fused, 'the removed flow is not used: the packet walks the graph');
  t.is(after.sink, 'tx-4');
  t.not(after.flow, first.flow, 'a new record (the removed one waits for its grace period)');
  t.is(rig.ctx.fwd.stats[FS_CREATED], 2);
  const again = rig.sendFused(f, A.port);
  t.true(again.fused);
  t.is(again.flow, after.flow, 'the cache gives the new flow');

  // the same for a flow whose record was reused for another key: the key tells them apart
  const g = vmFrame(A, B.ip, 17, udp(40001, 80, ascii('other')));
  t.is(owner.removeWhere((flow) => flow === after.flow, 2), 1);
  owner.reclaim(() => true);
  const other = rig.send(g, A.port);
  t.is(other.flow, after.flow, 'the record is reused for another connection');
  const back = rig.sendFused(f, A.port);
  t.false(back.fused, 'the first connection\'s packet is not taken for the second one\'s');
  t.not(back.flow, other.flow);
  t.is(hex(rig.sendFused(g, A.port).out), hex(toVm(B, g.subarray(14))));
});

test('an encapsulating decision names its route: the fast path takes the outer destination from the route table, or from the record without one', (t) => {
  const rig = new Rig();
  rigRouter(rig);
  const { A } = VMS;
  const f = vmFrame(A, '10.100.2.7', 17, udp(40000, 443, ascii('data')));
  const want = hex(encapped(ROUTER, PF0_MAC, A.ul, REMOTE_HOST, f.subarray(14)));
  const first = rig.send(f, A.port);
  t.is(hex(first.out), want);
  const fwd = rig.ctx.fwd;
  const rec = fwd.flows.rec;
  const owner = first.flow * RECORD + R_OWNER + first.dir * KEY_STRIDE;
  const route = fwd.routes4.lookup(100, ip4num('10.100.2.7'));
  t.is(rec[owner]! & OWNER_MASK, fwd.owner.worker, 'the owner stays');
  t.is(rec[owner]! >>> UL_REF_SHIFT, ulRef(route, false), 'the route that holds the nexthop');
  // the single loop, the passes (which read line 2 ahead only for what needs it), and the passes'
  // loop while the shim prefetches (this UDP packet looked up at once)
  const passes = new FastPath(rig.ctx, 0);
  const direct = new FastPath(rig.ctx, 0);
  direct.prefetching = true;
  const ioOut = (): string => {
    const outs = [rig.fast, passes, direct].map((fast) => {
      const directBefore = fwd.stats[FS_FAST_DIRECT]!;
      const { b, io, verdict, nt } = runBurstIo(rig, [[f, A.port]], 128, fast);
      t.is(verdict[0], FAST_DONE);
      t.is(nt, 1);
      t.is(fwd.stats[FS_FAST_DIRECT]! - directBefore, fast === direct ? 1 : 0, 'fastpath_direct counts the packets looked up at once');
      return hex(b.bytes.slice(io.txStart[0], io.txStart[0]! + io.txLen[0]!));
    });
    t.is(outs[1], outs[0], 'passes and single loop alike');
    t.is(outs[2], outs[0], 'and the passes\' loop while the shim prefetches');
    return outs[0]!;
  };
  t.is(ioOut(), want);
  // the copy in the record's line 2 is not read while the route is named (overwritten to show it)
  const ul = first.flow * RECORD + R_UL + first.dir * 4;
  rec.fill(0x11111111, ul, ul + 4);
  t.is(ioOut(), want);
  // without a route (a load balancer's target, a relayed packet) the record's copy is used
  rec[owner] = rec[owner]! & OWNER_MASK;
  t.is(ioOut(), hex(encapped(ROUTER, PF0_MAC, A.ul, '1111:1111:1111:1111:1111:1111:1111:1111', f.subarray(14))));
});
