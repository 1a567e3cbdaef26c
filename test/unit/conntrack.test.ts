import test, { type ExecutionContext } from 'ava';
import { frameOf, loadFrame, makeTestBatch } from '../../src/packet/batch.js';
import { DropReason } from '../../src/packet/drop-reasons.js';
import { VnfType } from '../../src/actors/underlay.js';
import { PF_ENCAP } from '../../src/packet/batch.js';
import {
  ACT_ENCAP, ACT_TO_VF, KEY_STRIDE, R_ACT, R_GEN, R_PORT, R_SEEN, R_STATE, R_UL, RECORD, TcpState,
} from '../../src/tables/flow-table.js';
import {
  createForwardingBuffers, DEFAULT_FORWARDING, FS_CREATED, FS_CROSS_WORKER, FS_FAST_PATH, FS_TABLE_FULL, type NodeContext,
  openForwarding,
} from '../../src/workers/node-context.js';
import { ClsNode } from '../../src/workers/nodes/cls.js';
import { ConntrackNode } from '../../src/workers/nodes/conntrack.js';
import { IpipDecapNode } from '../../src/workers/nodes/ipip-decap.js';
import {
  addVm, ascii, cat, eth, hex, icmpEcho, ip4, ip6, ipv4, ipv6, mac, makeCtx, PF0_MAC, PORT_MAC, runPath, tcp as tcpFlags,
  tunnelFrame, u16, u32, udp, VM_IPV4, VM_IPV6, VM_MAC, vnf,
} from './frames.js';

const VF = 3;

interface Tracked {
  next: string | undefined;
  reason: number;
  l4: number;
  proto: number;
  out: Uint8Array;
}

/** Runs a frame from the VM port through cls (which must pass it on) and then conntrack. */
function track(t: ExecutionContext, frame: Uint8Array, what: string): Tracked {
  const b = makeTestBatch(2);
  loadFrame(b, 1, frame, VF);
  const cls = new ClsNode(makeCtx(), true);
  t.is(cls.edges[cls.process(b, 1)], 'conntrack', `${what}: cls passes it to conntrack`);
  // garbage in the fields conntrack must write
  b.l4[1] = 0x7777;
  b.proto[1] = 0xee;
  b.dropReason[1] = DropReason.NONE;
  const node = new ConntrackNode(makeCtx());
  const edge = node.process(b, 1);
  return { next: node.edges[edge], reason: b.dropReason[1]!, l4: b.l4[1]!, proto: b.proto[1]!, out: frameOf(b, 1) };
}

function v4(proto: number, l4: Uint8Array | number[]): Uint8Array {
  return cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4(VM_IPV4, '10.100.1.2', proto, Uint8Array.from(l4)));
}

function v6(next: number, l4: Uint8Array | number[]): Uint8Array {
  return cat(eth(PORT_MAC, VM_MAC, 0x86dd), ipv6(ip6(VM_IPV6), ip6('2000:100:1::2'), next, Uint8Array.from(l4)));
}

/** An IPv4 header with options (IHL > 5) and a chosen fragment field; checksum left zero. */
function v4raw(proto: number, l4: Uint8Array | number[], ihl = 5, frag = 0): Uint8Array {
  const opts = new Uint8Array((ihl - 5) * 4).fill(1); // NOPs
  const total = ihl * 4 + l4.length;
  const h = cat([0x40 | ihl, 0], u16(total), [0x12, 0x34], u16(frag), [64, proto, 0, 0], ip4(VM_IPV4), ip4('10.100.1.2'));
  return cat(eth(PORT_MAC, VM_MAC, 0x0800), h, opts, Uint8Array.from(l4));
}

function tcp(sport: number, dport: number): Uint8Array {
  return cat(u16(sport), u16(dport), u32(1), u32(0), [0x50, 0x02], u16(65535), [0, 0, 0, 0]);
}

const ICMP_ECHO = Uint8Array.of(8, 0, 0, 0, 0, 1, 0, 1);
const ICMPV6_ECHO = Uint8Array.of(128, 0, 0, 0, 0, 1, 0, 1);
const ICMPV6_NA = cat([136, 0, 0, 0, 0x60, 0, 0, 0], ip6(VM_IPV6));
const DATA = ascii('payload');

test('conntrack declares drop as edge 0, the local servers, dnat, firewall, the fast-path exits, lb and virtsvc', (t) => {
  t.deepEqual(new ConntrackNode(makeCtx()).edges, ['drop', 'dhcp', 'dhcpv6', 'dnat', 'firewall', 'tx', 'ipip_encap', 'lb', 'virtsvc']);
});

test('DHCP goes to the local server of its IP version and everything else routable to dnat', (t) => {
  const cases: [string, Uint8Array, string][] = [
    ['UDP to 67 over IPv4', v4(17, udp(68, 67, DATA)), 'dhcp'],
    ['UDP to 547 over IPv6', v6(17, udp(546, 547, DATA)), 'dhcpv6'],
    ['UDP to 547 over IPv4', v4(17, udp(546, 547, DATA)), 'dnat'],
    ['UDP to 67 over IPv6', v6(17, udp(68, 67, DATA)), 'dnat'],
    ['UDP from 67 to 68 over IPv4', v4(17, udp(67, 68, DATA)), 'dnat'],
    ['UDP from 547 to 546 over IPv6', v6(17, udp(547, 546, DATA)), 'dnat'],
    ['TCP to 67 over IPv4', v4(6, tcp(68, 67)), 'dnat'],
    ['TCP to 547 over IPv6', v6(6, tcp(546, 547)), 'dnat'],
    ['TCP over IPv4', v4(6, tcp(40000, 443)), 'dnat'],
    ['UDP over IPv4', v4(17, udp(40000, 53, DATA)), 'dnat'],
    ['ICMP echo over IPv4', v4(1, ICMP_ECHO), 'dnat'],
    ['TCP over IPv6', v6(6, tcp(40000, 443)), 'dnat'],
    ['UDP over IPv6', v6(17, udp(40000, 53, DATA)), 'dnat'],
    ['ICMPv6 echo over IPv6', v6(58, ICMPV6_ECHO), 'dnat'],
    ['ICMPv6 neighbour advertisement', v6(58, ICMPV6_NA), 'dnat'],
    ['first IPv4 fragment (MF, offset 0)', v4raw(17, udp(1, 2, DATA), 5, 0x2000), 'dnat'],
    ['IPv4 with DF', v4raw(17, udp(1, 2, DATA), 5, 0x4000), 'dnat'],
  ];
  for (const [what, frame, next] of cases) {
    const r = track(t, frame, what);
    t.is(r.next, next, what);
    t.is(hex(r.out), hex(frame), `${what}: bytes unchanged`);
  }
});

test('protocols the overlay does not route are dropped as unsupported', (t) => {
  const cases: [string, Uint8Array][] = [
    ['ICMP inside IPv6', v6(1, ICMP_ECHO)],
    ['ICMPv6 inside IPv4', v4(58, ICMPV6_ECHO)],
    ['GRE over IPv4', v4(47, new Uint8Array(8))],
    ['GRE over IPv6', v6(47, new Uint8Array(8))],
    ['SCTP over IPv4', v4(132, new Uint8Array(16))],
    ['IPv4 in IPv6 from a VM', v6(4, ipv4('1.1.1.1', '2.2.2.2', 17, udp(1, 2, DATA)))],
    ['IPv6 hop-by-hop extension header', v6(0, new Uint8Array(8))],
    ['IPv6 fragment extension header', v6(44, cat([17, 0, 0, 0, 0, 0, 0, 1], udp(1, 2, DATA)))],
    ['IPv4 protocol 0', v4(0, new Uint8Array(8))],
    ['IPv4 protocol 255', v4(255, new Uint8Array(8))],
  ];
  for (const [what, frame] of cases) {
    const r = track(t, frame, what);
    t.is(r.next, 'drop', what);
    t.is(r.reason, DropReason.UNSUPPORTED_PROTOCOL, what);
  }
});

test('a non-first IPv4 fragment is dropped as unsupported even if its payload looks like DHCP', (t) => {
  for (const frag of [0x0001, 0x1000, 0x2001, 0x1fff, 0x3fff, 0x4001]) {
    const what = `fragment field 0x${frag.toString(16)}`;
    const r = track(t, v4raw(17, udp(68, 67, DATA), 5, frag), what);
    t.is(r.next, 'drop', what);
    t.is(r.reason, DropReason.UNSUPPORTED_PROTOCOL, what);
  }
});

test('conntrack records the L4 offset and protocol, reading ports behind the IPv4 options', (t) => {
  const cases: [string, Uint8Array, number, number, string][] = [
    // what, frame, l4, proto, next
    ['IPv4 IHL 5 UDP', v4(17, udp(1, 2, DATA)), 34, 17, 'dnat'],
    ['IPv4 IHL 6 TCP', v4raw(6, tcp(1, 2), 6), 38, 6, 'dnat'],
    ['IPv4 IHL 6 UDP to 67', v4raw(17, udp(68, 67, DATA), 6), 38, 17, 'dhcp'],
    ['IPv4 IHL 6 UDP to 80 whose options hold 67 where IHL 5 ports would be', v4raw(17, udp(68, 80, DATA), 6), 38, 17, 'dnat'],
    ['IPv4 IHL 15 ICMP', v4raw(1, ICMP_ECHO, 15), 74, 1, 'dnat'],
    ['IPv6 UDP', v6(17, udp(1, 2, DATA)), 54, 17, 'dnat'],
    ['IPv6 ICMPv6', v6(58, ICMPV6_ECHO), 54, 58, 'dnat'],
  ];
  for (const [what, frame, l4, proto, next] of cases) {
    if (what.includes('options hold 67')) {
      // bytes 36..37 (the UDP dport of an IHL 5 header) read 67
      frame[36] = 0;
      frame[37] = 67;
    }
    const r = track(t, frame, what);
    t.is(r.l4, l4, `${what}: l4`);
    t.is(r.proto, proto, `${what}: proto`);
    t.is(r.next, next, what);
  }
});

test('an L4 header shorter than its protocol needs is dropped as truncated', (t) => {
  const cases: [string, Uint8Array, string][] = [
    // what, frame, next when one more byte is present
    ['UDP 7 bytes over IPv4', v4(17, udp(68, 80, new Uint8Array(0)).subarray(0, 7)), 'dnat'],
    ['UDP to 67, 7 bytes', v4(17, udp(68, 67, new Uint8Array(0)).subarray(0, 7)), 'dhcp'],
    ['UDP 0 bytes over IPv4', v4(17, []), ''],
    ['TCP 19 bytes over IPv4', v4(6, tcp(1, 2).subarray(0, 19)), 'dnat'],
    ['ICMP 7 bytes over IPv4', v4(1, ICMP_ECHO.subarray(0, 7)), 'dnat'],
    ['UDP 7 bytes over IPv6', v6(17, udp(1, 2, new Uint8Array(0)).subarray(0, 7)), 'dnat'],
    ['UDP to 547, 7 bytes', v6(17, udp(546, 547, new Uint8Array(0)).subarray(0, 7)), 'dhcpv6'],
    ['TCP 19 bytes over IPv6', v6(6, tcp(1, 2).subarray(0, 19)), 'dnat'],
    ['ICMPv6 7 bytes over IPv6', v6(58, ICMPV6_ECHO.subarray(0, 7)), 'dnat'],
    ['UDP behind IPv4 options, 7 bytes', v4raw(17, udp(68, 80, new Uint8Array(0)).subarray(0, 7), 6), 'dnat'],
  ];
  for (const [what, frame, full] of cases) {
    const r = track(t, frame, what);
    t.is(r.next, 'drop', what);
    t.is(r.reason, DropReason.TRUNCATED, what);
    if (full === '') continue;
    // the same packet with its last L4 byte present (the exact minimum) passes
    const lenAt = frame[12] === 0x86 ? 19 : 17; // low byte of the IPv6 payload / IPv4 total length
    const longer = cat(frame, [0]);
    longer[lenAt] = longer[lenAt]! + 1;
    t.is(track(t, longer, `${what} + 1`).next, full, `${what} + 1 byte`);
  }
});

test('Ethernet padding behind a short L4 header does not count as L4 bytes', (t) => {
  const frame = cat(v4(1, ICMP_ECHO.subarray(0, 4)), new Uint8Array(60 - 14 - 20 - 4));
  t.is(frame.length, 60);
  const r = track(t, frame, 'ICMP 4 bytes padded to 60');
  t.is(r.next, 'drop');
  t.is(r.reason, DropReason.TRUNCATED);
});

// ---- flows ----

function pathOf(ctx: NodeContext): [ClsNode, IpipDecapNode, ConntrackNode] {
  return [new ClsNode(ctx, true), new IpipDecapNode(ctx), new ConntrackNode(ctx)];
}

function udp4(src: string, dst: string, sport: number, dport: number): Uint8Array {
  return cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4(src, dst, 17, udp(sport, dport, DATA)));
}

test('a flow is created by its first packet, found again by the next and by replies in direction 1', (t) => {
  const ctx = makeCtx();
  addVm(ctx, 4, { vni: 100, ipv4: '10.100.1.2' });
  ctx.fwd.clock.now = 1234;
  const p = pathOf(ctx);
  const a = runPath(p, udp4(VM_IPV4, '10.100.1.2', 40000, 80), VF);
  const f = a.b.flow[a.slot]!;
  t.is(a.b.dir[a.slot], 0);
  t.is(ctx.fwd.stats[FS_CREATED], 1);
  const again = runPath(p, udp4(VM_IPV4, '10.100.1.2', 40000, 80), VF);
  t.deepEqual([again.b.flow[again.slot], again.b.dir[again.slot]], [f, 0]);
  const reply = runPath(p, udp4('10.100.1.2', VM_IPV4, 80, 40000), 4);
  t.deepEqual([reply.b.flow[reply.slot], reply.b.dir[reply.slot]], [f, 1]);
  t.is(ctx.fwd.stats[FS_CREATED], 1, 'one flow for all three');
  const rec = ctx.fwd.flows.rec;
  t.is(rec[f * RECORD + R_SEEN], 1234);
  t.is(rec[f * RECORD + R_SEEN + KEY_STRIDE], 1234, 'each direction has its time');
  t.is(rec[f * RECORD + R_PORT], VF, 'the flow belongs to the VM port it came from');
  t.is(ctx.fwd.stats[FS_CROSS_WORKER], 0);
  t.is(ctx.fwd.flows.live, 1);
});

test('the same addresses and ports in another VNI, protocol or port pair are other flows', (t) => {
  const ctx = makeCtx();
  addVm(ctx, 5, { vni: 200, ipv4: VM_IPV4 });
  const p = pathOf(ctx);
  const flows = [
    runPath(p, udp4(VM_IPV4, '10.100.1.2', 40000, 80), VF),
    runPath(p, udp4(VM_IPV4, '10.100.1.2', 40000, 80), 5),
    runPath(p, udp4(VM_IPV4, '10.100.1.2', 40001, 80), VF),
    runPath(p, cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4(VM_IPV4, '10.100.1.2', 6, tcp(40000, 80))), VF),
  ].map((r) => r.b.flow[r.slot]);
  t.is(new Set(flows).size, 4);
  t.is(ctx.fwd.stats[FS_CREATED], 4);
});

test('an ICMP echo reply with the request\'s identifier belongs to the request\'s flow; other ICMP types do not', (t) => {
  const ctx = makeCtx();
  addVm(ctx, 4, { vni: 100, ipv4: '10.100.1.2' });
  const p = pathOf(ctx);
  const ping = (src: string, dst: string, type: number, id: number, port: number): [number, number] => {
    const r = runPath(p, cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4(src, dst, 1, icmpEcho(type, id, 1))), port);
    return [r.b.flow[r.slot]!, r.b.dir[r.slot]!];
  };
  const [f] = ping(VM_IPV4, '10.100.1.2', 8, 77, VF);
  t.deepEqual(ping('10.100.1.2', VM_IPV4, 0, 77, 4), [f, 1]);
  t.not(ping('10.100.1.2', VM_IPV4, 0, 78, 4)[0], f, 'another identifier');
  t.not(ping('10.100.1.2', VM_IPV4, 3, 77, 4)[0], f, 'destination unreachable');
});

test('TCP flags drive upstream\'s connection states', (t) => {
  const SYN = 0x02;
  const ACK = 0x10;
  const FIN = 0x01;
  const RST = 0x04;
  const cases: [string, [number, number][], number][] = [
    // what, [direction, flags] packets, final state
    ['SYN', [[0, SYN]], TcpState.NEW_SYN],
    ['SYN, SYN-ACK', [[0, SYN], [1, SYN | ACK]], TcpState.NEW_SYNACK],
    ['three-way handshake', [[0, SYN], [1, SYN | ACK], [0, ACK]], TcpState.ESTABLISHED],
    ['handshake, FIN', [[0, SYN], [1, SYN | ACK], [0, ACK], [1, FIN | ACK]], TcpState.FINWAIT],
    ['handshake, RST', [[0, SYN], [1, SYN | ACK], [0, ACK], [0, RST]], TcpState.RST_FIN],
    ['mid-stream ACK (flow seen late)', [[0, ACK]], TcpState.ESTABLISHED],
    ['SYN-ACK from the initiator side does not advance', [[0, SYN], [0, SYN | ACK]], TcpState.NEW_SYN],
    ['SYN after RST starts again', [[0, RST], [0, SYN]], TcpState.NEW_SYN],
  ];
  for (const [what, packets, state] of cases) {
    const ctx = makeCtx();
    addVm(ctx, 4, { vni: 100, ipv4: '10.100.1.2' });
    const p = pathOf(ctx);
    let f = -1;
    for (const [dir, flags] of packets) {
      const frame = dir === 0
        ? cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4(VM_IPV4, '10.100.1.2', 6, tcpFlags(40000, 80, flags)))
        : cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4('10.100.1.2', VM_IPV4, 6, tcpFlags(80, 40000, flags)));
      const r = runPath(p, frame, dir === 0 ? VF : 4);
      f = r.b.flow[r.slot]!;
    }
    t.is(ctx.fwd.flows.rec[f * RECORD + R_STATE]! & 0xff, state, what);
  }
});

test('a new flow that does not fit is dropped as table full and counted', (t) => {
  const ctx = makeCtx();
  ctx.fwd = openForwarding(createForwardingBuffers(64), { ...DEFAULT_FORWARDING }, 0);
  const p = pathOf(ctx);
  for (let i = 0; i < 64; i++) t.is(runPath(p, udp4(VM_IPV4, '10.100.1.2', 1000 + i, 80), VF).exit, 'dnat');
  const r = runPath(p, udp4(VM_IPV4, '10.100.1.2', 999, 80), VF);
  t.is(r.exit, 'drop');
  t.is(r.reason, DropReason.FLOW_TABLE_FULL);
  t.is(ctx.fwd.stats[FS_TABLE_FULL], 1);
  t.is(ctx.fwd.stats[FS_CREATED], 64);
  t.is(runPath(p, udp4('10.100.1.2', VM_IPV4, 80, 1000), 3).b.dir[1], 1, 'existing flows are still found');
});

test('decapsulated traffic goes on by the kind of underlay address it was sent to', (t) => {
  const cases: [number, string, number][] = [
    // VNF type, next, drop reason
    [VnfType.VIP, 'dnat', DropReason.NONE],
    [VnfType.NAT, 'dnat', DropReason.NONE],
    [VnfType.INTERFACE_IP, 'firewall', DropReason.NONE],
    [VnfType.ALIAS_PFX, 'firewall', DropReason.NONE],
    [VnfType.LB_ALIAS_PFX, 'firewall', DropReason.NONE],
    [VnfType.LB, 'lb', DropReason.NONE],
    [VnfType.UNDEFINED, 'drop', DropReason.UNSUPPORTED_VNF],
  ];
  for (const [type, next, reason] of cases) {
    const ctx = makeCtx();
    vnf(ctx, 'fc00:1::1', type, 100, VF);
    // UDP to 67 from the fabric is not for our DHCP server
    const inner = ipv4('10.100.2.7', VM_IPV4, 17, udp(68, 67, DATA));
    const r = runPath(pathOf(ctx), tunnelFrame(PF0_MAC, '22:22:22:22:22:fe', 'fc00:2::1', 'fc00:1::1', inner), 0);
    t.deepEqual(r.path, ['cls', 'ipip_decap', 'conntrack'], `type ${type}`);
    t.is(r.exit, next, `type ${type}`);
    t.is(r.reason, reason, `type ${type}`);
    if (next !== 'drop' && next !== 'lb') t.is(ctx.fwd.flows.rec[r.b.flow[r.slot]! * RECORD + R_PORT], VF, 'the flow belongs to the VM it goes to');
  }
});

test('a later packet whose flow direction has a decision of the current generation takes it (fast path)', (t) => {
  const ctx = makeCtx();
  addVm(ctx, 4, { vni: 100, ipv4: '10.100.1.2', own: '66:66:66:66:66:04' });
  ctx.ports.learnVmMac(4, mac('02:00:00:00:00:44'), 0);
  const p = pathOf(ctx);
  const frame = udp4(VM_IPV4, '10.100.1.2', 40000, 80);
  const first = runPath(p, frame, VF);
  const f = first.b.flow[first.slot]!;
  const rec = ctx.fwd.flows.rec;
  // what firewall caches: to VM port 4, for direction 0, in this generation
  rec[f * RECORD + R_ACT] = (ACT_TO_VF << 16) | 4;
  rec[f * RECORD + R_GEN] = ctx.fwd.flows.generation;
  const fast = runPath(p, frame, VF);
  t.is(fast.exit, 'tx');
  t.is(fast.b.outPort[fast.slot], 4);
  t.is(hex(fast.out), hex(cat(eth('02:00:00:00:00:44', '66:66:66:66:66:04', 0x0800), frame.subarray(14))));
  t.is(ctx.fwd.stats[FS_FAST_PATH], 1);
  t.is(runPath(p, udp4('10.100.1.2', VM_IPV4, 80, 40000), 4).exit, 'dnat', 'the reply direction has no decision yet');

  ctx.fwd.flows.bumpGeneration();
  t.is(runPath(p, frame, VF).exit, 'dnat', 'a configuration change makes the decision stale');
  rec[f * RECORD + R_GEN] = ctx.fwd.flows.generation;
  ctx.fwd.settings.fastPath = false;
  t.is(runPath(p, frame, VF).exit, 'dnat', '--no-fast-path');
  t.is(ctx.fwd.stats[FS_FAST_PATH], 1);
});

test('a cached encapsulation decision sends the packet to ipip_encap with its nexthop', (t) => {
  const ctx = makeCtx();
  const p = pathOf(ctx);
  const frame = udp4(VM_IPV4, '10.100.2.7', 40000, 80);
  const f = runPath(p, frame, VF).b.flow[1]!;
  const rec = ctx.fwd.flows.rec;
  rec[f * RECORD + R_ACT] = (ACT_ENCAP << 16) | 1;
  const nh = new DataView(ip6('fc00:2::abcd').buffer);
  for (let i = 0; i < 4; i++) rec[f * RECORD + R_UL + i] = nh.getInt32(i * 4);
  rec[f * RECORD + R_GEN] = ctx.fwd.flows.generation;
  const r = runPath(p, frame, VF);
  t.is(r.exit, 'ipip_encap');
  t.is(r.b.outPort[r.slot], 1);
  t.is(r.b.flags[r.slot]! & PF_ENCAP, PF_ENCAP);
  t.is(hex(r.b.ulDst.subarray(16, 32)), hex(ip6('fc00:2::abcd')));
  t.is(hex(r.out), hex(frame), 'ipip_encap writes the headers');
});

test('packets of a flow another worker created are counted as cross-worker', (t) => {
  const ctx = makeCtx();
  addVm(ctx, 4, { vni: 100, ipv4: '10.100.1.2' });
  const bufs = { routes4: ctx.fwd.routes4.sab, routes6: ctx.fwd.routes6.sab, vnf: ctx.fwd.vnf.sab, flows: ctx.fwd.flows.sab, nat: ctx.fwd.nat.sab, lb: ctx.fwd.lb.sab,
    virtsvc: ctx.fwd.virtsvc.sab };
  const other: NodeContext = { ...ctx, fwd: openForwarding(bufs, { ...DEFAULT_FORWARDING }, 1) };
  runPath(pathOf(ctx), udp4(VM_IPV4, '10.100.1.2', 40000, 80), VF);
  const r = runPath(pathOf(other), udp4('10.100.1.2', VM_IPV4, 80, 40000), 4);
  t.is(r.b.dir[r.slot], 1);
  t.is(other.fwd.stats[FS_CROSS_WORKER], 1);
  t.is(other.fwd.stats[FS_CREATED], 0);
  t.is(ctx.fwd.stats[FS_CROSS_WORKER], 0);
});
