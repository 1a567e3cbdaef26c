/**
 * Load balancers: upstream's Maglev table (checked against upstream's own dp_maglev.c, compiled
 * outside this repository with the same targets), the workers' table, and the lb node through the
 * whole graph: a target tunnelled to or delivered locally, kept by the flow, rebalanced when it
 * goes; echo requests answered; ICMP errors following the connection; what is dropped.
 */
import test from 'ava';
import { VnfType } from '../../src/actors/underlay.js';
import { DropReason } from '../../src/packet/drop-reasons.js';
import { LbTable, MAGLEV_SIZE, maglevTable } from '../../src/tables/lb-table.js';
import { HOST_UL, type Rig, routedRig, toVm, VMS } from './fixtures/overlay-rig.js';
import {
  ascii, cat, hex, icmpEcho, icmpUnreach, ip4, ip4num, ip6, ipv4, ipv4HeaderOk, ipv6, l4v4Ok, l4v6Ok, mac, PF0_MAC, PF1_MAC, REMOTE_HOST,
  ROUTER, tcp, tunnelFrame, u16, udp, withL4Checksum4, withL4Checksum6,
} from './frames.js';

const TARGETS = ['fc00:2::64:0:1', 'fc00:1::1', '2001:db8::5', 'fc00:a::d000:60:0:5a', 'fc00:3::9'].map((a) => ip6(a));

function counts(t: Int16Array): number[] {
  const c: number[] = [];
  for (const x of t) c[x] = (c[x] ?? 0) + 1;
  return c;
}

test('the Maglev table is upstream\'s: the same slots for the same targets, whatever order they came in', (t) => {
  // from upstream's dp_add_maglev_backend / dp_delete_maglev_backend with these targets
  const one = maglevTable([TARGETS[0]!]);
  t.deepEqual(counts(one), [MAGLEV_SIZE]);
  const sort = (l: Uint8Array[]): Uint8Array[] => [...l].sort((a, b) => Buffer.compare(a, b));
  const three = maglevTable(sort(TARGETS.slice(0, 3)));
  t.deepEqual(Array.from(three.subarray(0, 24)), [2, 1, 0, 1, 0, 1, 0, 2, 2, 0, 0, 1, 1, 1, 1, 2, 0, 2, 1, 2, 1, 0, 0, 1]);
  t.deepEqual(counts(three), [168, 168, 167]);
  const five = maglevTable(sort(TARGETS));
  t.deepEqual(Array.from(five.subarray(0, 24)), [3, 1, 0, 3, 0, 4, 4, 2, 2, 3, 0, 4, 1, 4, 1, 2, 0, 2, 3, 4, 4, 3, 0, 3]);
  t.deepEqual(counts(five), [101, 101, 101, 100, 100]);
  const four = maglevTable(sort([TARGETS[0]!, TARGETS[2]!, TARGETS[3]!, TARGETS[4]!]));
  t.deepEqual(Array.from(four.subarray(0, 24)), [2, 1, 0, 2, 0, 3, 3, 1, 1, 2, 0, 3, 2, 3, 0, 1, 0, 1, 2, 3, 3, 2, 0, 2]);
  t.deepEqual(counts(four), [126, 126, 126, 125]);
  // removing a target moves mostly its own slots
  const sorted5 = sort(TARGETS);
  const sorted4 = sort([TARGETS[0]!, TARGETS[2]!, TARGETS[3]!, TARGETS[4]!]);
  let kept = 0;
  let stayers = 0;
  for (let i = 0; i < MAGLEV_SIZE; i++) {
    const before = sorted5[five[i]!]!;
    if (Buffer.compare(before, TARGETS[1]!) === 0) continue;
    stayers++;
    if (Buffer.compare(sorted4[four[i]!]!, before) === 0) kept++;
  }
  t.true(kept / stayers > 0.9, `${kept} of ${stayers} slots of the remaining targets kept`);
});

test('the workers\' table: found by VNI, family and address; a target for a balanced port and protocol only', (t) => {
  const lb = LbTable.create();
  t.true(lb.set({ vni: 100, address: ip4('10.100.8.8'), ports: [{ port: 80, protocol: 6 }, { port: 0, protocol: 6 }], targets: [TARGETS[0]!] }));
  t.true(lb.set({ vni: 100, address: ip6('2001:db8::8'), ports: [{ port: 53, protocol: 17 }], targets: [] }));
  const e = lb.find(100, false, 0x0a640808, 0, 0, 0);
  t.true(e >= 0);
  t.is(lb.find(200, false, 0x0a640808, 0, 0, 0), -1, 'another VNI');
  const out = new DataView(new ArrayBuffer(16));
  t.true(lb.target(e, 6, 80, 12345, out, 0));
  t.is(hex(new Uint8Array(out.buffer)), hex(TARGETS[0]!));
  t.false(lb.target(e, 17, 80, 1, out, 0), 'UDP is not balanced');
  t.false(lb.target(e, 6, 81, 1, out, 0), 'nor another port');
  const e6 = lb.find(100, true, 0x20010db8, 0, 0, 8);
  t.true(e6 >= 0);
  t.false(lb.target(e6, 17, 53, 1, out, 0), 'no target yet');
  t.true(lb.hasTarget(e, new DataView(TARGETS[0]!.buffer, TARGETS[0]!.byteOffset, 16), 0));
  lb.remove(100, ip4('10.100.8.8'));
  t.is(lb.find(100, false, 0x0a640808, 0, 0, 0), -1);
});

const LB_IP = '10.100.8.8';
const LB_UL = 'fc00:1::b0';

/** The rig with the router's MAC known, the uplinks' underlay address and load balancer LB_IP:80 (TCP) with `targets`. */
function lbRig(targets: string[]): Rig {
  const rig = routedRig();
  rig.ctx.fwd.vnf.set(ip6(LB_UL), { type: VnfType.LB, vni: 100, port: -1 });
  rig.ctx.fwd.lb.set({ vni: 100, address: ip4(LB_IP), ports: [{ port: 80, protocol: 6 }], targets: targets.map((a) => ip6(a)) });
  return rig;
}

function toLb(inner: Uint8Array, pf = 0): Uint8Array {
  return tunnelFrame(pf === 0 ? PF0_MAC : PF1_MAC, ROUTER, '2001:db8::99', LB_UL, inner);
}

test('a remote target gets the packet tunnelled from this host, unchanged inside; the flow keeps its target', (t) => {
  const rig = lbRig([REMOTE_HOST]);
  const pkt = withL4Checksum4(ipv4('45.86.6.6', LB_IP, 6, tcp(40000, 80, 0x02)), 0);
  for (let i = 0; i < 2; i++) {
    const r = rig.send(toLb(pkt), 0);
    t.is(r.sink, 'tx-0', `packet ${i}`);
    t.deepEqual(r.nodes, ['rx-0-0', 'cls', 'ipip_decap', 'conntrack', 'lb', 'ipip_encap', 'tx-0']);
    t.is(hex(r.out.subarray(54)), hex(pkt), 'inner unchanged');
    t.is(hex(r.out.subarray(22, 38)), hex(ip6(HOST_UL)), 'from this host');
    t.is(hex(r.out.subarray(38, 54)), hex(ip6(REMOTE_HOST)), 'to the target');
  }
  t.is(rig.sendFused(toLb(pkt, 1), 1).sink, 'tx-1', 'out of the uplink it came in on');
});

test('a target that is a local VM\'s LB prefix gets the packet delivered; its answer leaves by the route', (t) => {
  const { A } = VMS;
  const rig = lbRig([A.ul]);
  rig.ctx.fwd.vnf.set(ip6(A.ul), { type: VnfType.LB_ALIAS_PFX, vni: 100, port: A.port });
  const pkt = withL4Checksum4(ipv4('45.86.6.6', LB_IP, 6, tcp(40000, 80, 0x02)), 0);
  const r = rig.send(toLb(pkt), 0);
  t.is(r.sink, 'tx-3');
  t.deepEqual(r.nodes, ['rx-0-0', 'cls', 'ipip_decap', 'conntrack', 'lb', 'firewall', 'tx-3']);
  t.is(hex(r.out), hex(toVm(A, pkt)), 'to the VM, addressed to the load balancer');
  t.is(rig.send(toLb(pkt), 0).sink, 'tx-3', 'again');
  const answer = withL4Checksum4(cat([0x45], ipv4(LB_IP, '45.86.6.6', 6, tcp(80, 40000, 0x12)).subarray(1)), 0);
  const back = rig.send(cat(mac(A.own), mac(A.mac), u16(0x0800), answer), A.port);
  t.deepEqual([back.flow, back.dir], [r.flow, 1], 'the answer is the connection\'s reply');
  t.is(back.sink, 'tx-0', 'out by the default route');
});

test('a removed target\'s connections are balanced anew; a removed load balancer\'s are dropped', (t) => {
  const rig = lbRig(['fc00:2::1', 'fc00:3::1']);
  const lb = rig.ctx.fwd.lb;
  const pkts = Array.from({ length: 16 }, (_, i) => withL4Checksum4(ipv4('45.86.6.6', LB_IP, 6, tcp(41000 + i, 80, 0x10)), 0));
  const target = (p: Uint8Array): string => hex(rig.send(toLb(p), 0).out.subarray(38, 54));
  const first = pkts.map(target);
  t.is(new Set(first).size, 2, 'both targets in use');
  lb.set({ vni: 100, address: ip4(LB_IP), ports: [{ port: 80, protocol: 6 }], targets: [ip6('fc00:3::1')] });
  const after = pkts.map(target);
  t.true(after.every((x) => x === hex(ip6('fc00:3::1'))), 'all on the remaining target');
  lb.set({ vni: 100, address: ip4(LB_IP), ports: [{ port: 80, protocol: 6 }], targets: [ip6('fc00:3::1'), ip6('fc00:2::1')] });
  t.deepEqual(pkts.map(target), after, 'a target added does not move existing connections');
  lb.remove(100, ip4(LB_IP));
  const gone = rig.send(toLb(pkts[0]!), 0);
  t.deepEqual([gone.sink, gone.reason], ['drop', DropReason.LB_NO_TARGET]);
});

test('echo requests to the load balancer\'s address are answered (IPv4 and IPv6); other ports and ICMP are dropped', (t) => {
  const rig = lbRig([REMOTE_HOST]);
  const r = rig.send(toLb(ipv4('45.86.6.6', LB_IP, 1, icmpEcho(8, 7, 1, ascii('ping')))), 0);
  t.is(r.sink, 'tx-0');
  const reply = r.out.subarray(54);
  t.is(hex(reply), hex(ipv4(LB_IP, '45.86.6.6', 1, icmpEcho(0, 7, 1, ascii('ping')))));
  t.is(hex(r.out.subarray(38, 54)), hex(ip6('2001:db8::99')), 'back to the sender');
  rig.ctx.fwd.lb.set({ vni: 100, address: ip6('2001:db8::8'), ports: [{ port: 443, protocol: 6 }], targets: [] });
  const e6 = rig.send(toLb(withL4Checksum6(ipv6(ip6('2001:db8::1'), ip6('2001:db8::8'), 58, cat([128, 0, 0, 0], u16(9), u16(1), ascii('p6')), 64), 0)), 0);
  t.is(e6.sink, 'tx-0');
  const r6 = e6.out.subarray(54);
  t.is(r6[40], 129, 'an ICMPv6 echo reply');
  t.is(hex(r6.subarray(8, 24)), hex(ip6('2001:db8::8')));
  t.true(l4v6Ok(e6.out, 58, 54), 'its checksum');
  const other = rig.send(toLb(withL4Checksum4(ipv4('45.86.6.6', LB_IP, 17, udp(1, 80, ascii('u'))), 0)), 0);
  t.deepEqual([other.sink, other.reason], ['drop', DropReason.LB_NO_TARGET]);
  const ts = rig.send(toLb(ipv4('45.86.6.6', LB_IP, 1, cat([13, 0, 0, 0], new Uint8Array(16)))), 0);
  t.deepEqual([ts.sink, ts.reason], ['drop', DropReason.LB_NO_TARGET], 'a timestamp request');
  t.true(ipv4HeaderOk(reply, 0) && l4v4Ok(reply, 0));
});

test('an ICMP error about a balanced connection goes to the connection\'s target, even as its first packet', (t) => {
  const rig = lbRig(['fc00:2::1', 'fc00:3::1', 'fc00:4::1', 'fc00:5::1']);
  for (let i = 0; i < 8; i++) {
    const conn = withL4Checksum4(ipv4('45.86.6.6', LB_IP, 6, tcp(42000 + i, 80, 0x02)), 0);
    const err = ipv4('45.86.6.1', LB_IP, 1, icmpUnreach(4, withL4Checksum4(ipv4(LB_IP, '45.86.6.6', 6, tcp(80, 42000 + i, 0x12)), 0)));
    const first = hex(rig.send(toLb(err), 0).out.subarray(38, 54));
    const connTarget = hex(rig.send(toLb(conn), 0).out.subarray(38, 54));
    t.is(first, connTarget, `connection ${i}: the error before the connection's packet went to the same target`);
    t.is(hex(rig.send(toLb(err), 0).out.subarray(38, 54)), connTarget, `connection ${i}: and after`);
  }
});

test('a VM behind a NAT talks to a load balancer whose target is another VM of the host, hairpinned by the router', (t) => {
  // upstream's test_nat_to_lb_nat: B's NAT flow and the connection the load balancer delivers to
  // A have the same addresses and ports, one from the NAT's side, one from A's (the key mark)
  const { A, B } = VMS;
  const rig = lbRig([A.ul]);
  const NAT_IP = '45.0.0.9';
  const NAT_UL = 'fc00:1::a2';
  rig.ctx.fwd.vnf.set(ip6(A.ul), { type: VnfType.LB_ALIAS_PFX, vni: 100, port: A.port });
  rig.ctx.ports.setNat(B.port, ip4num(NAT_IP), 400, 401);
  rig.ctx.fwd.vnf.set(ip6(NAT_UL), { type: VnfType.NAT, vni: 100, port: B.port });
  for (let round = 0; round < 2; round++) {
    // B -> LB: out by the default route from its NAT address
    const out = rig.send(cat(mac(B.own), mac(B.mac), u16(0x0800), withL4Checksum4(ipv4(B.ip, LB_IP, 6, tcp(2400, 80, 0x02)), 0)), B.port);
    t.is(out.sink, 'tx-0', `${round}: B's request leaves`);
    const natted = out.out.slice(54);
    t.is(hex(natted.subarray(12, 16)), hex(ip4(NAT_IP)));
    // the router sends it to the load balancer, which delivers it to A
    const atA = rig.send(toLb(natted), 0);
    t.is(atA.sink, 'tx-3', `${round}: delivered to A`);
    // A answers from the load balancer's address: out by the default route, not to B
    const answer = withL4Checksum4(ipv4(LB_IP, NAT_IP, 6, tcp(80, 400, 0x12)), 0);
    const fromA = rig.send(cat(mac(A.own), mac(A.mac), u16(0x0800), answer), A.port);
    t.is(fromA.sink, 'tx-0', `${round}: A's answer leaves`);
    t.deepEqual([fromA.flow, fromA.dir], [atA.flow, 1], `${round}: as the reply of the connection A got`);
    // the router sends A's answer to B's NAT: B gets it, un-NATed
    const atB = rig.send(tunnelFrame(PF0_MAC, ROUTER, '2001:db8::99', NAT_UL, fromA.out.slice(54)), 0);
    t.is(atB.sink, 'tx-4', `${round}: B gets the answer`);
    t.deepEqual([atB.flow, atB.dir], [out.flow, 1], `${round}: as the reply of its own flow`);
    t.is(hex(atB.out.subarray(30, 34)), hex(ip4(B.ip)));
    t.is((atB.out[36]! << 8) | atB.out[37]!, 2400);
  }
});
