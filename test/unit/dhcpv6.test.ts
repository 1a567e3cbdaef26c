import test from 'ava';
import { DropReason } from '../../src/packet/drop-reasons.js';
import { PORT_MAC_LEARNED } from '../../src/tables/port-table.js';
import { Dhcpv6Node } from '../../src/workers/nodes/dhcpv6.js';
import {
  ascii, cat, dhcpv6Frame, hex, ip6, l4v6Ok, mac, makeCtx, opt6, parseOpts6, PORT_MAC, run, text, u16, u32, VM_IPV6,
  VM_LL, VM_MAC,
} from './frames.js';

const E_TX = 1;
const L4 = { l4: 54 };
const OPTS = 14 + 40 + 8 + 4;
const IAID = 0x18702501;
const PXE = { pxeServer: '2001:dede::1', bootFile: 'ipxe' };

const CLIENT_ID = opt6(1, cat(u16(3), u16(1), mac(VM_MAC)));
const IA_NA = opt6(3, cat(u32(IAID), u32(0), u32(0)));
const RAPID = opt6(14, []);
const ELAPSED = opt6(8, [0, 0]);
const ORO = opt6(6, u16(59));
const VENDOR_PXE = opt6(16, cat(u32(343), u16(32), ascii('PXEClient:Arch:00007:UNDI:003016')));
const USER_IPXE = opt6(15, cat(u16(4), ascii('iPXE')));

/** The SOLICIT of upstream's test_dhcpv6.py: IA_NA, rapid commit, elapsed time, client id, ORO, class. */
function solicit(cls: Uint8Array = VENDOR_PXE, type = 1): Uint8Array {
  return dhcpv6Frame(type, 0xabcdef, cat(IA_NA, RAPID, ELAPSED, CLIENT_ID, ORO, cls));
}

function opts(out: Uint8Array): [number, string][] {
  return parseOpts6(out, OPTS, out.length).map(([c, v]) => [c, hex(v)]);
}

const SERVER_ID = '0003abcd' + hex(mac(VM_MAC));
const IA_NA_REPLY = hex(Uint8Array.from(cat(
  u32(IAID), u32(0xffffffff), u32(0xffffffff),
  u16(5), u16(30), ip6(VM_IPV6), u32(0xffffffff), u32(0xffffffff), u16(13), u16(2), u16(0),
)));
const DNS = hex(ip6('2001:4860:4860::6464')) + hex(ip6('2002:4861:4861::6464'));

test('a SOLICIT gets an ADVERTISE with server id, client id, IA_NA, rapid commit, DNS and boot URL in order', (t) => {
  const r = run(new Dhcpv6Node(makeCtx(PXE)), solicit(), L4);
  t.is(r.edge, E_TX);
  t.is(r.b.outPort[r.slot], 3);
  t.is(r.out[62], 2, 'ADVERTISE even with rapid commit, as upstream');
  t.is(hex(r.out.subarray(63, 66)), 'abcdef', 'transaction id kept');
  t.deepEqual(opts(r.out), [
    [2, SERVER_ID],
    [1, hex(CLIENT_ID.subarray(4))],
    [3, IA_NA_REPLY],
    [14, ''],
    [23, DNS],
    [59, hex(ascii('tftp://[2001:dede::1]/ipxe/x86_64/ipxe.new'))],
  ]);
});

test('the reply goes from fe80::1 and the port MAC back to the client, UDP 547 -> 546, checksummed', (t) => {
  const ctx = makeCtx(PXE);
  const r = run(new Dhcpv6Node(ctx), solicit(), L4);
  const o = r.out;
  t.is(hex(o.subarray(0, 6)), hex(mac(VM_MAC)));
  t.is(hex(o.subarray(6, 12)), hex(mac(PORT_MAC)));
  t.is(hex(o.subarray(12, 14)), '86dd');
  t.is(o[18]! * 256 + o[19]!, o.length - 54, 'IPv6 payload length');
  t.is(o[20], 17);
  t.is(o[21], 1, 'hop limit kept');
  t.is(hex(o.subarray(22, 38)), hex(ip6('fe80::1')));
  t.is(hex(o.subarray(38, 54)), hex(ip6(VM_LL)));
  t.is(hex(o.subarray(54, 58)), '02230222');
  t.is(o[58]! * 256 + o[59]!, o.length - 54, 'UDP length');
  t.true(l4v6Ok(o, 17));
  t.is(ctx.ports.flags(3) & PORT_MAC_LEARNED, 0, 'DHCPv6 teaches no MAC (as upstream)');
});

test('the server DUID-LL carries the client\'s MAC, as upstream fills it from the reply destination', (t) => {
  const f = dhcpv6Frame(1, 1, cat(CLIENT_ID, IA_NA), '12:34:56:78:9a:bc');
  const r = run(new Dhcpv6Node(makeCtx()), f, L4);
  t.deepEqual(opts(r.out)[0], [2, '0003abcd' + hex(mac('12:34:56:78:9a:bc'))]);
});

test('iPXE (user class "iPXE") gets http://[server]/<boot file> as boot file URL', (t) => {
  const r = run(new Dhcpv6Node(makeCtx(PXE)), solicit(USER_IPXE), L4);
  const url = opts(r.out).find(([c]) => c === 59);
  t.is(url?.[1], hex(ascii('http://[2001:dede::1]/ipxe')));
});

test('a vendor class whose first data length has a zero low byte is not PXE (upstream reads it unswapped)', (t) => {
  const cls = opt6(16, cat(u32(343), u16(0x0100), ascii('PXEClient:Arch:00007'), new Uint8Array(236)));
  const r = run(new Dhcpv6Node(makeCtx(PXE)), solicit(cls), L4);
  t.is(r.edge, E_TX);
  t.false(opts(r.out).some(([c]) => c === 59));
  const short = opt6(16, cat(u32(343), u16(5), ascii('hello'), u16(20), ascii('PXEClient:Arch:00007')));
  const r2 = run(new Dhcpv6Node(makeCtx(PXE)), solicit(short), L4);
  t.true(opts(r2.out).some(([c]) => c === 59), 'a short first item with the string later still matches');
});

test('a boot file URL is cut to upstream\'s 95 characters', (t) => {
  const ctx = makeCtx({ pxeServer: '2001:dede:dede:dede:dede:dede:dede:dede', bootFile: 'b'.repeat(63) });
  const r = run(new Dhcpv6Node(ctx), solicit(USER_IPXE), L4);
  const url = parseOpts6(r.out, OPTS, r.out.length).find(([c]) => c === 59)![1];
  t.is(url.length, 95);
  t.true(text(url).startsWith('http://[2001:dede:dede:dede:dede:dede:dede:dede]/bbb'));
  t.true(l4v6Ok(r.out, 17));
});

test('a PXE client on an interface without PXE server gets no boot file URL', (t) => {
  const r = run(new Dhcpv6Node(makeCtx()), solicit(), L4);
  t.is(r.edge, E_TX);
  t.false(opts(r.out).some(([c]) => c === 59));
});

test('REQUEST and RELEASE get a REPLY with the same options', (t) => {
  for (const type of [3, 8]) {
    const r = run(new Dhcpv6Node(makeCtx()), dhcpv6Frame(type, 7, cat(CLIENT_ID, IA_NA, ELAPSED)), L4);
    t.is(r.edge, E_TX, `type ${type}`);
    t.is(r.out[62], 7);
    t.deepEqual(opts(r.out), [[2, SERVER_ID], [1, hex(CLIENT_ID.subarray(4))], [3, IA_NA_REPLY], [23, DNS]]);
    t.true(l4v6Ok(r.out, 17));
  }
});

test('only the options the client sent are echoed; DNS is always present, empty without servers', (t) => {
  const r = run(new Dhcpv6Node(makeCtx({}, { dhcpv6Dns: new Uint8Array(0) })), dhcpv6Frame(1, 7, ELAPSED), L4);
  t.deepEqual(opts(r.out), [[2, SERVER_ID], [23, '']]);
  t.is(r.out.length, OPTS + 14 + 4);
});

test('a rapid commit that ends the message is not echoed (upstream stops before a bare last header)', (t) => {
  const r = run(new Dhcpv6Node(makeCtx()), dhcpv6Frame(1, 7, cat(CLIENT_ID, IA_NA, RAPID)), L4);
  t.deepEqual(opts(r.out).map(([c]) => c), [2, 1, 3, 23]);
});

test('the last of repeated client id and IA_NA options wins', (t) => {
  const cid2 = opt6(1, [9, 9, 9]);
  const ia2 = opt6(3, cat(u32(0x42), u32(1), u32(2), opt6(5, new Uint8Array(24))));
  const r = run(new Dhcpv6Node(makeCtx()), dhcpv6Frame(3, 7, cat(CLIENT_ID, IA_NA, cid2, ia2)), L4);
  const o = opts(r.out);
  t.deepEqual(o[1], [1, '090909']);
  t.is(o[2]![1].slice(0, 8), '00000042');
});

const iaWith = (addr: string): Uint8Array => opt6(3, cat(u32(IAID), u32(0), u32(0),
  opt6(5, cat(ip6(addr), u32(3600), u32(7200)))));

test('a CONFIRM of the interface address gets server id, client id and status Success', (t) => {
  const r = run(new Dhcpv6Node(makeCtx()), dhcpv6Frame(4, 0x123456, cat(ELAPSED, CLIENT_ID, iaWith(VM_IPV6))), L4);
  t.is(r.edge, E_TX);
  t.is(r.out[62], 7, 'REPLY');
  t.deepEqual(opts(r.out), [[2, SERVER_ID], [1, hex(CLIENT_ID.subarray(4))], [13, '0000']]);
  t.true(l4v6Ok(r.out, 17));
});

test('a CONFIRM of another address gets status NotOnLink', (t) => {
  const r = run(new Dhcpv6Node(makeCtx()), dhcpv6Frame(4, 0x123456, cat(CLIENT_ID, iaWith('2000:999::1'))), L4);
  t.is(r.edge, E_TX);
  t.deepEqual(opts(r.out).at(-1), [13, '0004']);
});

test('a CONFIRM whose IA_NA overruns its option is dropped as malformed', (t) => {
  const ia = iaWith(VM_IPV6);
  ia[3] = ia[3]! - 4; // the IA_NA claims less than its IAADDR needs
  const r = run(new Dhcpv6Node(makeCtx()), dhcpv6Frame(4, 1, cat(CLIENT_ID, ia, ELAPSED)), L4);
  t.is(r.edge, 0);
  t.is(r.reason, DropReason.MALFORMED);
});

test('CONFIRM without addresses gets a bare REPLY with every option stripped, as upstream', (t) => {
  const r = run(new Dhcpv6Node(makeCtx()), dhcpv6Frame(4, 0x123456, cat(ELAPSED, CLIENT_ID)), L4);
  t.is(r.edge, E_TX);
  t.is(r.out.length, OPTS);
  t.is(hex(r.out.subarray(62, 66)), '07123456');
  t.true(l4v6Ok(r.out, 17));
});

test('without an IPv6 address SOLICIT and REQUEST get a REPLY with status NoAddrsAvail only', (t) => {
  for (const type of [1, 3]) {
    const r = run(new Dhcpv6Node(makeCtx({ ipv6: '' })), dhcpv6Frame(type, 5, cat(IA_NA, CLIENT_ID)), L4);
    t.is(r.edge, E_TX, `type ${type}`);
    t.is(r.out[62], 7);
    t.deepEqual(opts(r.out), [[13, '0002']]);
    t.is(r.out.length, OPTS + 6);
    t.is(hex(r.out.subarray(22, 38)), hex(ip6('fe80::1')));
    t.true(l4v6Ok(r.out, 17));
  }
});

test('without an IPv6 address CONFIRM, RELEASE and the rest are dropped', (t) => {
  for (const type of [4, 8, 5]) {
    const r = run(new Dhcpv6Node(makeCtx({ ipv6: '' })), dhcpv6Frame(type, 5, ELAPSED), L4);
    t.is(r.edge, 0, `type ${type}`);
    t.is(r.reason, DropReason.DHCPV6_NOT_HANDLED);
  }
});

test('message types the server does not serve are dropped as not handled', (t) => {
  for (const type of [2, 5, 6, 7, 9, 10, 11, 12]) {
    const r = run(new Dhcpv6Node(makeCtx()), dhcpv6Frame(type, 5, cat(CLIENT_ID, IA_NA)), L4);
    t.is(r.edge, 0, `type ${type}`);
    t.is(r.reason, DropReason.DHCPV6_NOT_HANDLED, `type ${type}`);
  }
});

test('malformed options are dropped as malformed', (t) => {
  const udpLenTooSmall = solicit();
  udpLenTooSmall[58] = 0;
  udpLenTooSmall[59] = 4;
  const cases: [string, Uint8Array][] = [
    ['a client id over 128 bytes', dhcpv6Frame(1, 1, cat(opt6(1, new Uint8Array(129)), IA_NA))],
    ['an IA_NA under 12 bytes', dhcpv6Frame(1, 1, cat(CLIENT_ID, opt6(3, new Uint8Array(11)), ELAPSED))],
    ['a rapid commit with data', dhcpv6Frame(1, 1, cat(opt6(14, [1]), CLIENT_ID))],
    ['an option running past the end', dhcpv6Frame(3, 1, cat(CLIENT_ID, u16(8), u16(20), [1, 2, 3, 4]))],
    ['an option overrunning by its header size', dhcpv6Frame(3, 1, cat(CLIENT_ID, u16(8), u16(4), [1]))],
    ['a UDP length below the header', udpLenTooSmall],
  ];
  for (const [what, f] of cases) {
    const r = run(new Dhcpv6Node(makeCtx()), f, L4);
    t.is(r.edge, 0, what);
    t.is(r.reason, DropReason.MALFORMED, what);
  }
});

test('every truncation of a SOLICIT is dropped as truncated, never thrown', (t) => {
  const full = solicit();
  const node = new Dhcpv6Node(makeCtx(PXE));
  for (let n = 0; n < full.length; n++) {
    const r = run(node, full.slice(0, n), L4);
    t.is(r.edge, 0, `length ${n}`);
    t.is(r.reason, DropReason.TRUNCATED, `length ${n}`);
  }
  t.is(run(node, full, L4).edge, E_TX);
});

test('a UDP payload shorter than the DHCPv6 header is truncated', (t) => {
  const f = dhcpv6Frame(1, 1, new Uint8Array(0)).subarray(0, 64);
  f[58] = 0;
  f[59] = 10;
  f[18] = 0;
  f[19] = 10;
  const r = run(new Dhcpv6Node(makeCtx()), f, L4);
  t.is(r.reason, DropReason.TRUNCATED);
});

test('a reply that does not fit the buffer is dropped for lack of room', (t) => {
  const f = dhcpv6Frame(1, 1, cat(CLIENT_ID, IA_NA));
  const r = run(new Dhcpv6Node(makeCtx()), f, { l4: 54, headroom: 2176 - f.length });
  t.is(r.edge, 0);
  t.is(r.reason, DropReason.NO_ROOM);
});
