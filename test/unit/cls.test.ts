import test from 'ava';
import { loadFrame, makeTestBatch, PF_FROM_PF, PF_IPV6 } from '../../src/packet/batch.js';
import { DropReason } from '../../src/packet/drop-reasons.js';
import { PortState } from '../../src/tables/port-table.js';
import type { NodeContext } from '../../src/workers/node-context.js';
import { ClsNode } from '../../src/workers/nodes/cls.js';
import {
  arp, ascii, attach, cat, eth, hex, ip6, ipv4, ipv6, mac, makeCtx, PORT_MAC, run, udp, VM_IPV4, VM_IPV6, VM_MAC,
} from './frames.js';

const PF = 0;
const VF = 3;

const V4_UDP = cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4(VM_IPV4, '10.100.1.2', 17, udp(1234, 80, ascii('hello'))));
const V6_UDP = cat(
  eth(PORT_MAC, VM_MAC, 0x86dd), ipv6(ip6(VM_IPV6), ip6('2000:100:1::2'), 17, udp(1234, 80, ascii('hello'))),
);
const ARP = cat(eth('ff:ff:ff:ff:ff:ff', VM_MAC, 0x0806), arp({
  op: 1, sha: VM_MAC, spa: VM_IPV4, tha: '00:00:00:00:00:00', tpa: '169.254.0.1',
}));

/** ICMPv6 neighbour solicitation (135, with its target) or router solicitation (133). */
const NS = cat([135, 0, 0, 0, 0, 0, 0, 0], ip6('fe80::1'));
const RS = Uint8Array.of(133, 0, 0, 0, 0, 0, 0, 0);
const ECHO6 = Uint8Array.of(128, 0, 0, 0, 0, 1, 0, 1);
const NA = cat([136, 0, 0, 0, 0x60, 0, 0, 0], ip6(VM_IPV6));

function v6(next: number, payload: Uint8Array, src = VM_MAC): Uint8Array {
  return cat(eth('33:33:00:00:00:01', src, 0x86dd), ipv6(ip6('fe80::1'), ip6('ff02::1'), next, payload));
}

/** An underlay packet from the fabric: IPv6 carrying an overlay packet (next header 4 or 41). */
function tunnel(next: number): Uint8Array {
  const inner = next === 4
    ? ipv4(VM_IPV4, '10.100.1.2', 17, udp(1, 2, ascii('x')))
    : ipv6(ip6(VM_IPV6), ip6('2000:100:1::2'), 17, udp(1, 2, ascii('x')));
  return cat(eth(PORT_MAC, '22:22:22:22:22:01', 0x86dd), ipv6(ip6('fc00:2::1'), ip6('fc00:1::1'), next, inner));
}

interface Classified {
  next: string | undefined;
  reason: number;
  len: number;
  flags: number;
  vni: number;
  l3: number;
  etherType: number;
  out: Uint8Array;
}

/** Runs cls once; the metadata cls must write starts as garbage so that the checks can fail. */
function classify(frame: Uint8Array, port: number, ctx: NodeContext = makeCtx(), withDecap = true): Classified {
  const node = new ClsNode(ctx, withDecap);
  const r = run(node, frame, { port, l3: 0x7777 });
  const s = r.slot;
  return {
    next: node.edges[r.edge], reason: r.reason, len: r.b.len[s]!, flags: r.b.flags[s]!, vni: r.b.vni[s]!,
    l3: r.b.l3[s]!, etherType: r.b.etherType[s]!, out: r.out,
  };
}

test('cls declares drop as edge 0 and ipip_decap and virtsvc only when the graph has the uplinks\' nodes', (t) => {
  const ctx = makeCtx();
  t.deepEqual(new ClsNode(ctx, true).edges, ['drop', 'arp', 'ipv6_nd', 'conntrack', 'ipip_decap', 'virtsvc']);
  t.deepEqual(new ClsNode(ctx, false).edges, ['drop', 'arp', 'ipv6_nd', 'conntrack']);
});

test('frames from an active VM port go to arp, ipv6_nd or conntrack by their headers', (t) => {
  const cases: [string, Uint8Array, string, number, number][] = [
    // what, frame, next node, flags, etherType
    ['ARP', ARP, 'arp', 0, 0x0806],
    ['IPv4 UDP', V4_UDP, 'conntrack', 0, 0x0800],
    ['IPv6 neighbour solicitation', v6(58, NS), 'ipv6_nd', PF_IPV6, 0x86dd],
    ['IPv6 router solicitation', v6(58, RS), 'ipv6_nd', PF_IPV6, 0x86dd],
    ['IPv6 UDP', V6_UDP, 'conntrack', PF_IPV6, 0x86dd],
    ['ICMPv6 echo request', v6(58, ECHO6), 'conntrack', PF_IPV6, 0x86dd],
    ['ICMPv6 neighbour advertisement', v6(58, NA), 'conntrack', PF_IPV6, 0x86dd],
    ['IPv6 with next header IPv4 (not decapsulated from a VM)', v6(4, ipv4('1.1.1.1', '2.2.2.2', 17, udp(1, 2, ascii('x')))), 'conntrack', PF_IPV6, 0x86dd],
  ];
  for (const [what, frame, next, flags, type] of cases) {
    const c = classify(frame, VF);
    t.is(c.next, next, what);
    t.is(c.flags, flags, `${what}: flags`);
    t.is(c.vni, 100, `${what}: vni from the port`);
    t.is(c.l3, 14, `${what}: l3 offset`);
    t.is(c.etherType, type, `${what}: etherType`);
    t.is(hex(c.out), hex(frame), `${what}: bytes unchanged`);
  }
});

test('trailing bytes behind the IP packet (Ethernet padding) are trimmed from the frame length', (t) => {
  const cases: [string, Uint8Array][] = [
    ['IPv4 padded to 60 bytes', cat(V4_UDP, new Uint8Array(60 - V4_UDP.length))],
    ['IPv4 with 100 trailing bytes', cat(V4_UDP, new Uint8Array(100).fill(0xee))],
    ['IPv6 with 6 trailing bytes', cat(V6_UDP, new Uint8Array(6).fill(0xee))],
  ];
  for (const [what, frame] of cases) {
    const c = classify(frame, VF);
    t.is(c.next, 'conntrack', what);
    const ipLen = what.startsWith('IPv4') ? V4_UDP.length : V6_UDP.length;
    t.is(c.len, ipLen, what);
    t.is(hex(c.out), hex(frame.subarray(0, ipLen)), what);
  }
});

test('an ICMPv6 payload too short for a type is not taken for ND from the bytes behind it', (t) => {
  // payload length 0 and 3: the NS type byte that follows is padding, not part of the packet
  for (const plen of [0, 3]) {
    const f = cat(v6(58, NS.subarray(0, plen)), NS.subarray(plen));
    const c = classify(f, VF);
    t.is(c.next, 'conntrack', `payload ${plen}`);
    t.is(c.len, 54 + plen, `payload ${plen}`);
  }
});

test('IPv4 from an uplink is dropped as from-PF and marked as from the PF', (t) => {
  const c = classify(V4_UDP, PF);
  t.is(c.next, 'drop');
  t.is(c.reason, DropReason.FROM_PF);
  t.is(c.flags & PF_FROM_PF, PF_FROM_PF);
  t.is(c.vni, 0, 'no VNI on an uplink');
});

test('the underlay router\'s ND messages and echo replies from an uplink go to ipv6_nd, other ICMPv6 is from-PF', (t) => {
  const RA = Uint8Array.of(134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  const ECHO_REPLY = Uint8Array.of(129, 0, 0, 0, 0, 1, 0, 1);
  const cases: [string, Uint8Array, string][] = [
    ['NS', NS, 'ipv6_nd'],
    ['NA', NA, 'ipv6_nd'],
    ['RA', RA, 'ipv6_nd'],
    ['echo reply', ECHO_REPLY, 'ipv6_nd'],
    ['RS (routers do not solicit)', RS, 'drop'],
    ['echo request', ECHO6, 'drop'],
    ['destination unreachable', Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0), 'drop'],
    ['ICMPv6 payload of 3 bytes', NS.subarray(0, 3), 'drop'],
  ];
  for (const [what, payload, next] of cases) {
    const c = classify(v6(58, payload, '22:22:22:22:22:01'), PF);
    t.is(c.next, next, what);
    if (next === 'drop') t.is(c.reason, DropReason.FROM_PF, what);
    t.is(c.flags, PF_FROM_PF | PF_IPV6, what);
    t.is(c.vni, 0, what);
  }
});

test('tunnelled IPv6 from an uplink goes to ipip_decap only when the graph has a decap node', (t) => {
  const cases: [string, Uint8Array, boolean, string, number][] = [
    ['IPv4 in IPv6, decap', tunnel(4), true, 'ipip_decap', DropReason.NONE],
    ['IPv6 in IPv6, decap', tunnel(41), true, 'ipip_decap', DropReason.NONE],
    ['IPv4 in IPv6, no decap', tunnel(4), false, 'drop', DropReason.FROM_PF],
    ['IPv6 in IPv6, no decap', tunnel(41), false, 'drop', DropReason.FROM_PF],
    ['UDP over IPv6, decap', V6_UDP, true, 'drop', DropReason.FROM_PF],
    ['ICMPv6 echo, decap', v6(58, ECHO6), true, 'drop', DropReason.FROM_PF],
  ];
  for (const [what, frame, withDecap, next, reason] of cases) {
    const c = classify(frame, PF, makeCtx(), withDecap);
    t.is(c.next, next, what);
    if (next === 'drop') t.is(c.reason, reason, what);
    t.is(c.flags, PF_FROM_PF | PF_IPV6, what);
    t.is(c.vni, 0, what);
  }
});

test('a frame on a VM port without an interface is dropped as port not active', (t) => {
  const detached = makeCtx();
  detached.ports.detach(VF);
  const unused = makeCtx();
  const ports: [string, NodeContext, number][] = [
    ['VF without interface', makeCtx(null), VF],
    ['VF whose interface was detached', detached, VF],
    ['undeclared port', unused, 9],
  ];
  for (const [where, ctx, port] of ports) {
    for (const [what, frame] of [['ARP', ARP], ['IPv4', V4_UDP], ['IPv6', V6_UDP]] as const) {
      const c = classify(frame, port, ctx);
      t.is(c.next, 'drop', `${where}: ${what}`);
      t.is(c.reason, DropReason.PORT_NOT_ACTIVE, `${where}: ${what}`);
    }
  }
  attach(detached.ports, VF, {});
  t.is(classify(V4_UDP, VF, detached).next, 'conntrack', 're-attached port is active again');
});

test('an unknown ethertype is dropped as unsupported on VM ports and uplinks', (t) => {
  for (const type of [0x8100, 0x88cc, 0x0000, 0x0805, 0x86de, 0xffff]) {
    for (const port of [VF, PF]) {
      const frame = cat(eth(PORT_MAC, VM_MAC, type), V4_UDP.subarray(14));
      const c = classify(frame, port);
      t.is(c.next, 'drop', `0x${type.toString(16)} port ${port}`);
      t.is(c.reason, DropReason.UNSUPPORTED_ETHERTYPE, `0x${type.toString(16)} port ${port}`);
    }
  }
});

test('an IPv4 header with a wrong version, IHL below 5 or total length below IHL is malformed', (t) => {
  const cases: [string, number, number][] = [
    // what, version/IHL byte, total length
    ['version 6', 0x65, V4_UDP.length - 14],
    ['version 0', 0x05, V4_UDP.length - 14],
    ['version 15', 0xf5, V4_UDP.length - 14],
    ['IHL 4', 0x44, V4_UDP.length - 14],
    ['IHL 0', 0x40, V4_UDP.length - 14],
    ['total length 19 < IHL 20', 0x45, 19],
    ['total length 0', 0x45, 0],
    ['total length 20 < IHL 24', 0x46, 20],
    ['total length 33 < IHL 60', 0x4f, 33],
  ];
  for (const [what, vihl, total] of cases) {
    const f = V4_UDP.slice();
    f[14] = vihl;
    f[16] = total >> 8;
    f[17] = total & 0xff;
    const c = classify(f, VF);
    t.is(c.next, 'drop', what);
    t.is(c.reason, DropReason.MALFORMED, what);
  }
});

test('an IPv6 header whose version is not 6 is malformed', (t) => {
  for (const v of [0x40, 0x00, 0x70]) {
    const f = V6_UDP.slice();
    f[14] = v;
    const c = classify(f, VF);
    t.is(c.next, 'drop', `first byte 0x${v.toString(16)}`);
    t.is(c.reason, DropReason.MALFORMED, `first byte 0x${v.toString(16)}`);
  }
});

test('ARP that is not Ethernet/IPv4 with 6- and 4-byte addresses is malformed', (t) => {
  const cases: [string, number, number][] = [
    ['hardware type 6', 15, 6],
    ['protocol type 0x86dd', 16, 0x86],
    ['hardware size 8', 18, 8],
    ['hardware size 0', 18, 0],
    ['protocol size 16', 19, 16],
    ['protocol size 6', 19, 6],
  ];
  for (const [what, at, v] of cases) {
    const f = ARP.slice();
    f[at] = v;
    const c = classify(f, VF);
    t.is(c.next, 'drop', what);
    t.is(c.reason, DropReason.MALFORMED, what);
  }
});

test('every truncation of a valid frame is dropped as truncated, never throwing', (t) => {
  const ctx = makeCtx();
  const frames: [string, Uint8Array, number][] = [
    ['IPv4 UDP', V4_UDP, VF],
    ['IPv6 UDP', V6_UDP, VF],
    ['IPv6 NS', v6(58, NS), VF],
    ['ARP', ARP, VF],
    ['ARP on an uplink', ARP, PF],
    ['IPv4 in IPv6 on an uplink', tunnel(4), PF],
  ];
  const node = new ClsNode(ctx, true);
  for (const [what, frame, port] of frames) {
    t.not(node.edges[run(node, frame, { port }).edge], 'drop', `${what}: the whole frame passes`);
    for (let n = 0; n < frame.length; n++) {
      // the rest of the real frame sits behind the cut: a node reading past len sees valid bytes
      const b = makeTestBatch(2);
      loadFrame(b, 1, frame, port);
      b.len[1] = n;
      t.is(node.process(b, 1), 0, `${what}: length ${n}, bytes behind`);
      t.is(b.dropReason[1], DropReason.TRUNCATED, `${what}: length ${n}, bytes behind`);
      // the cut frame ends at the end of memory: a read past len would throw (DataView)
      const e = makeTestBatch(1, 0, n);
      loadFrame(e, 0, frame.subarray(0, n), port, 0);
      t.is(node.process(e, 0), 0, `${what}: length ${n}, end of memory`);
      t.is(e.dropReason[0], DropReason.TRUNCATED, `${what}: length ${n}, end of memory`);
    }
  }
});

test('an IPv4 or IPv6 length field pointing past the frame end is truncated', (t) => {
  const cases: [string, Uint8Array, number, number][] = [
    // what, frame, offset of the length field, value
    ['IPv4 total one byte too long', V4_UDP, 16, V4_UDP.length - 14 + 1],
    ['IPv4 total 0xffff', V4_UDP, 16, 0xffff],
    ['IPv6 payload one byte too long', V6_UDP, 18, V6_UDP.length - 54 + 1],
    ['IPv6 payload 0xffff', V6_UDP, 18, 0xffff],
  ];
  for (const [what, frame, at, v] of cases) {
    const f = frame.slice();
    f[at] = v >> 8;
    f[at + 1] = v & 0xff;
    const c = classify(f, VF);
    t.is(c.next, 'drop', what);
    t.is(c.reason, DropReason.TRUNCATED, what);
  }
});

test('an uplink port is recognised by its role, not its number', (t) => {
  const ctx = makeCtx();
  ctx.ports.initPort(5, PortState.PF, mac('22:22:22:22:22:05'));
  const c = classify(V4_UDP, 5, ctx);
  t.is(c.reason, DropReason.FROM_PF);
  t.is(c.flags, PF_FROM_PF);
  t.is(classify(tunnel(4), 5, ctx).next, 'ipip_decap');
});
