import test from 'ava';
import { DropReason } from '../../src/packet/drop-reasons.js';
import { PORT_MAC_LEARNED } from '../../src/tables/port-table.js';
import {
  classlessRoutes, DhcpNode, formatIpv4Text, parseIpv4Text,
} from '../../src/workers/nodes/dhcp.js';
import {
  ascii, bootp, cat, dhcpFrame, hex, ip4, ipv4HeaderOk, mac, makeCtx, opt4, parseOpts4, PORT_MAC, run, text, u16,
  udp4Ok, VM_IPV4, VM_MAC, vmMacOf,
} from './frames.js';

const E_TX = 1;
const L4 = { l4: 34 };
const BOOTP = 42;
const OPTIONS = BOOTP + 240;
const VENDOR_PXE = opt4(60, ascii('PXEClient:Arch:00007:UNDI:003016'));
const USER_IPXE = opt4(77, ascii('iPXE'));

function request(type: number, extra: Uint8Array | number[] = [], src = VM_MAC): Uint8Array {
  return dhcpFrame(bootp({ flags: 0x8000 }, cat(opt4(53, [type]), extra, [255])), src);
}

function optionsOf(out: Uint8Array): [number, string][] {
  return parseOpts4(out, OPTIONS).map(([c, v]) => [c, hex(v)]);
}

const ROUTES = '10a9fe' + '0000000000' + 'a9fe0001';

test('a DISCOVER gets an OFFER with upstream\'s options in upstream\'s order', (t) => {
  const ctx = makeCtx({ hostname: 'vm1-host' });
  const req = request(1, opt4(55, [1, 3, 6, 12, 15, 26, 28, 51, 54, 121]));
  const r = run(new DhcpNode(ctx), req, L4);
  t.is(r.edge, E_TX);
  t.is(r.b.outPort[r.slot], 3);
  t.deepEqual(optionsOf(r.out), [
    [53, '02'],
    [51, 'ffffffff'],
    [54, hex(ip4('169.254.0.1'))],
    [121, ROUTES],
    [1, 'ffffffff'],
    [26, hex(Uint8Array.from(u16(1337)))],
    [6, hex(ip4('8.8.4.4')) + hex(ip4('8.8.8.8'))],
    [12, hex(ascii('vm1-host'))],
    [255, ''],
  ]);
  t.is(r.out.length, OPTIONS + 3 + 6 + 6 + 14 + 6 + 4 + 10 + 10 + 1, 'frame ends right after END');
});

test('the OFFER goes unicast from the gateway to the interface address, with valid checksums', (t) => {
  const req = request(1);
  const r = run(new DhcpNode(makeCtx()), req, L4);
  const o = r.out;
  t.is(hex(o.subarray(0, 6)), hex(mac(VM_MAC)));
  t.is(hex(o.subarray(6, 12)), hex(mac(PORT_MAC)));
  t.is(hex(o.subarray(12, 14)), '0800');
  t.is(o[14], 0x45);
  t.is(o[16]! * 256 + o[17]!, o.length - 14, 'IPv4 total length');
  t.is(hex(o.subarray(18, 20)), hex(req.subarray(18, 20)), 'IP id kept');
  t.is(o[22], 64, 'TTL kept');
  t.is(o[23], 17);
  t.is(hex(o.subarray(26, 30)), hex(ip4('169.254.0.1')));
  t.is(hex(o.subarray(30, 34)), hex(ip4(VM_IPV4)));
  t.true(ipv4HeaderOk(o));
  t.is(hex(o.subarray(34, 38)), '00430044', 'UDP 67 -> 68');
  t.is(o[38]! * 256 + o[39]!, o.length - 34, 'UDP length');
  t.true(udp4Ok(o));
});

test('the BOOTP header carries the address, the gateway as server and relay, and the client MAC', (t) => {
  const req = request(1, [], '12:34:56:78:9a:bc');
  const r = run(new DhcpNode(makeCtx()), req, L4);
  const o = r.out;
  t.is(o[BOOTP], 2, 'BOOTREPLY');
  t.is(hex(o.subarray(BOOTP + 1, BOOTP + 4)), '010600');
  t.is(hex(o.subarray(BOOTP + 4, BOOTP + 8)), '3903f326', 'xid kept');
  t.is(hex(o.subarray(BOOTP + 10, BOOTP + 12)), '8000', 'flags kept');
  t.is(hex(o.subarray(BOOTP + 12, BOOTP + 16)), '00000000', 'ciaddr');
  t.is(hex(o.subarray(BOOTP + 16, BOOTP + 20)), hex(ip4(VM_IPV4)), 'yiaddr');
  t.is(hex(o.subarray(BOOTP + 20, BOOTP + 24)), hex(ip4('169.254.0.1')), 'siaddr');
  t.is(hex(o.subarray(BOOTP + 24, BOOTP + 28)), hex(ip4('169.254.0.1')), 'giaddr');
  t.is(hex(o.subarray(BOOTP + 28, BOOTP + 34)), hex(mac('12:34:56:78:9a:bc')), 'chaddr = Ethernet source');
  t.is(hex(o.subarray(0, 6)), hex(mac('12:34:56:78:9a:bc')));
  t.is(hex(o.subarray(BOOTP + 236, BOOTP + 240)), '63825363');
});

test('an OFFER teaches nothing, an ACK teaches the VM MAC from the Ethernet source', (t) => {
  const ctx = makeCtx();
  const node = new DhcpNode(ctx);
  run(node, request(1, [], '12:34:56:78:9a:bc'), L4);
  t.is(ctx.ports.flags(3) & PORT_MAC_LEARNED, 0);
  const r = run(node, request(3, opt4(50, ip4(VM_IPV4)), '12:34:56:78:9a:bc'), L4);
  t.is(r.edge, E_TX);
  t.is(parseOpts4(r.out, OPTIONS)[0]![1][0], 5, 'DHCPACK');
  t.is(vmMacOf(ctx), '12:34:56:78:9a:bc');
  run(node, request(3, [], '98:76:54:32:10:ab'), L4);
  t.is(vmMacOf(ctx), '98:76:54:32:10:ab', 'every ACK relearns');
});

test('without a hostname and DNS servers options 12 and 6 are left out; the MTU follows --dhcp-mtu', (t) => {
  const r = run(new DhcpNode(makeCtx({}, { dhcpDns: new Uint8Array(0), dhcpMtu: 1500 })), request(1), L4);
  t.deepEqual(optionsOf(r.out).map(([c]) => c), [53, 51, 54, 121, 1, 26, 255]);
  t.is(optionsOf(r.out)[5]![1], '05dc');
  t.true(udp4Ok(r.out));
});

test('with virtual services the classless routes add 169.254.1.0/24 via the gateway', (t) => {
  const r = run(new DhcpNode(makeCtx(), true), request(1), L4);
  t.is(optionsOf(r.out)[3]![1], ROUTES + '18a9fe01a9fe0001');
  t.is(hex(classlessRoutes(false)), ROUTES);
});

test('a PXE ROM (option 60) gets a broadcast reply with router, boot server and the iPXE image path', (t) => {
  const ctx = makeCtx({ ipv6: '', pxeServer: '192.168.1.10', bootFile: '/boot.ipxe', hostname: 'h' });
  const req = request(1, VENDOR_PXE);
  req.fill(0x58, BOOTP + 108, BOOTP + 236);
  const r = run(new DhcpNode(ctx), req, L4);
  t.is(r.edge, E_TX);
  const o = r.out;
  t.is(hex(o.subarray(0, 6)), 'ffffffffffff');
  t.is(hex(o.subarray(30, 34)), 'ffffffff');
  t.is(hex(o.subarray(BOOTP + 20, BOOTP + 24)), hex(ip4('192.168.1.10')), 'siaddr = PXE server');
  t.is(hex(o.subarray(BOOTP + 28, BOOTP + 34)), hex(mac(VM_MAC)), 'chaddr still the client');
  const file = o.subarray(BOOTP + 108, BOOTP + 236);
  t.is(text(file.subarray(0, 21)), 'ipxe/x86_64/ipxe.new\0');
  t.is(file[21], 0x58, 'the rest of the field is left as it was');
  t.deepEqual(optionsOf(o).map(([c]) => c), [53, 51, 54, 121, 1, 26, 3, 6, 12, 255]);
  t.is(optionsOf(o)[6]![1], hex(ip4('169.254.0.1')));
  t.true(ipv4HeaderOk(o));
  t.true(udp4Ok(o));
});

test('iPXE (option 77 "iPXE") gets http://<server><boot file> as boot file name', (t) => {
  const ctx = makeCtx({ ipv6: '', pxeServer: '192.168.1.10', bootFile: '/boot.ipxe' });
  const r = run(new DhcpNode(ctx), request(1, USER_IPXE), L4);
  const file = r.out.subarray(BOOTP + 108, BOOTP + 236);
  t.is(text(file.subarray(0, 30)), 'http://192.168.1.10/boot.ipxe\0');
  t.is(hex(r.out.subarray(BOOTP + 20, BOOTP + 24)), hex(ip4('192.168.1.10')));
});

test('the later of several class options decides the PXE mode', (t) => {
  const ctx = makeCtx({ ipv6: '', pxeServer: '10.0.0.5', bootFile: 'x' });
  const r = run(new DhcpNode(ctx), request(1, cat(USER_IPXE, VENDOR_PXE)), L4);
  t.is(text(r.out.subarray(BOOTP + 108, BOOTP + 129)), 'ipxe/x86_64/ipxe.new\0');
});

test('a PXE reply without a usable IPv4 PXE server names 0.0.0.0', (t) => {
  const r = run(new DhcpNode(makeCtx({ pxeServer: '2001:dede::1', bootFile: '/b' })), request(1, USER_IPXE), L4);
  t.is(r.edge, E_TX);
  t.is(hex(r.out.subarray(BOOTP + 20, BOOTP + 24)), '00000000');
  t.is(text(r.out.subarray(BOOTP + 108, BOOTP + 124)), 'http://0.0.0.0/b');
});

test('the PXE mode of one client does not carry over to the next request', (t) => {
  const node = new DhcpNode(makeCtx({ pxeServer: '10.0.0.5' }));
  run(node, request(1, VENDOR_PXE), L4);
  const r = run(node, request(1), L4);
  t.is(hex(r.out.subarray(0, 6)), hex(mac(VM_MAC)));
  t.is(hex(r.out.subarray(30, 34)), hex(ip4(VM_IPV4)));
  t.false(optionsOf(r.out).some(([c]) => c === 3));
});

test('PAD options are skipped one byte at a time wherever they sit', (t) => {
  const opts = cat([0, 0], opt4(61, cat([1], mac(VM_MAC))), [0], opt4(53, [1]), [0, 0, 255]);
  const r = run(new DhcpNode(makeCtx()), dhcpFrame(bootp({}, opts)), L4);
  t.is(r.edge, E_TX);
  t.is(optionsOf(r.out)[0]![1], '02');
});

test('options after END are ignored', (t) => {
  const opts = cat(opt4(53, [1]), [255], opt4(53, [3]), [0xde, 0xad]);
  const r = run(new DhcpNode(makeCtx()), dhcpFrame(bootp({}, opts)), L4);
  t.is(optionsOf(r.out)[0]![1], '02');
});

test('a request with many options gets a shorter reply; a short one a longer reply', (t) => {
  const big = request(1, opt4(55, Array.from({ length: 200 }, (_, i) => i + 1)));
  const rb = run(new DhcpNode(makeCtx()), big, L4);
  const small = request(1);
  const rs = run(new DhcpNode(makeCtx()), small, L4);
  t.true(rb.out.length < big.length);
  t.true(rs.out.length > small.length);
  t.is(rb.out.length, rs.out.length);
  t.true(udp4Ok(rb.out) && udp4Ok(rs.out));
});

test('a reply that does not fit the buffer is dropped for lack of room', (t) => {
  const req = request(1);
  const r = run(new DhcpNode(makeCtx()), req, { l4: 34, headroom: 2176 - req.length });
  t.is(r.edge, 0);
  t.is(r.reason, DropReason.NO_ROOM);
});

test('requests the server does not answer are dropped as not handled', (t) => {
  const cases: [string, Uint8Array, ReturnType<typeof makeCtx>?][] = [
    ['DECLINE', request(4)],
    ['RELEASE', request(7)],
    ['INFORM', request(8)],
    ['a reply (op 2)', dhcpFrame(bootp({ op: 2 }, cat(opt4(53, [1]), [255])))],
    ['plain BOOTP, no message type', dhcpFrame(bootp({}, cat(opt4(12, ascii('x')), [255])))],
    ['no options at all', dhcpFrame(bootp({}, new Uint8Array(0)))],
    ['an interface without IPv4', request(1), makeCtx({ ipv4: '' })],
  ];
  for (const [what, f, ctx] of cases) {
    const r = run(new DhcpNode(ctx ?? makeCtx()), f, L4);
    t.is(r.edge, 0, what);
    t.is(r.reason, DropReason.DHCP_NOT_HANDLED, what);
  }
});

test('malformed DHCP messages are dropped as malformed', (t) => {
  const udpLenTooSmall = request(1);
  udpLenTooSmall[38] = 0;
  udpLenTooSmall[39] = 7;
  const cases: [string, Uint8Array][] = [
    ['a wrong magic cookie', dhcpFrame(bootp({ magic: 0x63825364 }, cat(opt4(53, [1]), [255])))],
    ['an option running past the end', dhcpFrame(bootp({}, cat(opt4(53, [1]), [12, 50], ascii('ab'))))],
    ['an option without its length byte', dhcpFrame(bootp({}, cat(opt4(53, [1]), [12])))],
    ['an empty message type', dhcpFrame(bootp({}, cat([53, 0], [255])))],
    ['a UDP length below the header', udpLenTooSmall],
  ];
  for (const [what, f] of cases) {
    const r = run(new DhcpNode(makeCtx()), f, L4);
    t.is(r.edge, 0, what);
    t.is(r.reason, DropReason.MALFORMED, what);
  }
});

test('every truncation of a DISCOVER is dropped as truncated, never thrown', (t) => {
  const full = request(1, cat(opt4(55, [1, 3, 6]), VENDOR_PXE));
  const node = new DhcpNode(makeCtx());
  for (let n = 0; n < full.length; n++) {
    const r = run(node, full.slice(0, n), L4);
    t.is(r.edge, 0, `length ${n}`);
    t.is(r.reason, DropReason.TRUNCATED, `length ${n}`);
  }
  t.is(run(node, full, L4).edge, E_TX);
});

test('a BOOTP message shorter than its fixed part is truncated even when the UDP length agrees', (t) => {
  const f = dhcpFrame(bootp({}, new Uint8Array(0)).subarray(0, 200));
  const r = run(new DhcpNode(makeCtx()), f, L4);
  t.is(r.reason, DropReason.TRUNCATED);
});

test('IPv4 text parses and formats without allocation helpers disagreeing', (t) => {
  for (const s of ['0.0.0.0', '1.2.3.4', '192.168.1.10', '255.255.255.255', '10.0.100.9']) {
    const b = ascii(s);
    const n = parseIpv4Text(b, 0, b.length);
    t.is(n, ip4(s).reduce((a, o) => a * 256 + o, 0), s);
    const out = new Uint8Array(15);
    t.is(text(out.subarray(0, formatIpv4Text(n, out, 0, 15))), s);
  }
  for (const s of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', 'a.b.c.d', '2001:db8::1', '1.2.3.4 ']) {
    const b = ascii(s);
    t.is(parseIpv4Text(b, 0, b.length), -1, JSON.stringify(s));
  }
});
