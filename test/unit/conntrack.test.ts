import test, { type ExecutionContext } from 'ava';
import { frameOf, loadFrame, makeTestBatch } from '../../src/packet/batch.js';
import { DropReason } from '../../src/packet/drop-reasons.js';
import { ClsNode } from '../../src/workers/nodes/cls.js';
import { ConntrackNode } from '../../src/workers/nodes/conntrack.js';
import {
  ascii, cat, eth, hex, ip4, ip6, ipv4, ipv6, makeCtx, PORT_MAC, u16, u32, udp, VM_IPV4, VM_IPV6, VM_MAC,
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

test('conntrack declares drop as edge 0, the local servers, dnat, firewall and the fast-path exits', (t) => {
  t.deepEqual(new ConntrackNode(makeCtx()).edges, ['drop', 'dhcp', 'dhcpv6', 'dnat', 'firewall', 'tx', 'ipip_encap']);
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
