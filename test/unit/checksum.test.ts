import test from 'ava';
import fc from 'fast-check';
import {
  foldSum, icmpChecksum, icmpv6Checksum, ipv4HeaderChecksum, ipv4PseudoSum, ipv6PseudoSum, setIcmpChecksum,
  setIcmpv6Checksum, setIpv4HeaderChecksum, setTcp4Checksum, setTcp6Checksum, setUdp4Checksum, setUdp6Checksum,
  sumIsValid, sumWords, udp4Checksum,
} from '../../src/packet/checksum.js';
import { cat, ip6, ipv4, ipv4HeaderOk, ipv6, l4v6Ok, onesSum, u16, u32, udp, udp4Ok } from './frames.js';

test('the IPv4 header checksum of a textbook header is 0xb861', (t) => {
  const h = Uint8Array.from(Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex'));
  t.is(ipv4HeaderChecksum(h, 0), 0xb861);
});

test('the IPv4 header checksum ignores whatever the checksum field holds', (t) => {
  const h = Uint8Array.from(Buffer.from('45000073000040004011abcdc0a80001c0a800c7', 'hex'));
  t.is(ipv4HeaderChecksum(h, 0), 0xb861);
});

test('the IPv4 header checksum covers IP options (IHL > 5)', (t) => {
  const h = Uint8Array.from(Buffer.from('4600007800004000401100000a0000010a00000294040000', 'hex'));
  setIpv4HeaderChecksum(h, 0);
  t.true(ipv4HeaderOk(h, 0));
  t.is(onesSum(h), 0xffff);
});

test('a stored IPv4 header checksum verifies at an offset inside a larger buffer', (t) => {
  const frame = cat(new Uint8Array(14), ipv4('10.0.0.1', '10.0.0.2', 17, new Uint8Array(8)));
  frame[24] = 0x55;
  frame[25] = 0xaa;
  setIpv4HeaderChecksum(frame, 14);
  t.true(ipv4HeaderOk(frame, 14));
});

test('the UDP checksum over IPv4 verifies with the pseudo header, odd payload length included', (t) => {
  for (const n of [0, 1, 2, 7, 8, 33]) {
    const payload = Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff);
    const frame = cat(new Uint8Array(14), ipv4('169.254.0.1', '10.100.1.1', 17, udp(67, 68, payload)));
    setUdp4Checksum(frame, 14, 34, 8 + n);
    t.true(udp4Ok(frame), `payload ${n}`);
  }
});

test('a UDP checksum that computes to zero is sent as 0xffff', (t) => {
  // append the checksum of the datagram as data: the sum then folds to 0xffff and the checksum to 0
  const base = cat(new Uint8Array(14), ipv4('10.0.0.1', '10.0.0.2', 17, udp(1000, 2000, Uint8Array.of(1, 2, 3, 4, 0, 0))));
  const c = udp4Checksum(base, 14, 34, 14);
  base[46] = c >> 8;
  base[47] = c & 0xff;
  t.is(udp4Checksum(base, 14, 34, 14), 0xffff);
  setUdp4Checksum(base, 14, 34, 14);
  t.true(udp4Ok(base));
});

test('TCP checksums over IPv4 and IPv6 verify against an independent sum', (t) => {
  const seg = cat(u16(40000), u16(443), u32(1), u32(0), [0x50, 0x02], u16(64240), [0, 0, 0, 0], [1, 2, 3]);
  const f4 = cat(new Uint8Array(14), ipv4('10.0.0.1', '45.86.6.6', 6, seg));
  setTcp4Checksum(f4, 14, 34, seg.length);
  const pseudo4 = cat(f4.subarray(26, 34), [0, 6], u16(seg.length));
  t.is(onesSum(cat(pseudo4, f4.subarray(34))), 0xffff);
  const f6 = cat(new Uint8Array(14), ipv6(ip6('2000::1'), ip6('2001:db8::2'), 6, seg, 64));
  setTcp6Checksum(f6, 14, 54, seg.length);
  t.true(l4v6Ok(f6, 6));
});

test('UDP and ICMPv6 checksums over IPv6 verify against an independent sum', (t) => {
  const u = udp(547, 546, Uint8Array.of(2, 0, 0, 1, 0, 23, 0, 0, 9));
  const f = cat(new Uint8Array(14), ipv6(ip6('fe80::1'), ip6('fe80::aabb:ccff:fedd:1'), 17, u, 1));
  setUdp6Checksum(f, 14, 54, u.length);
  t.true(l4v6Ok(f, 17));
  const na = cat([136, 0, 0, 0, 0xa0, 0, 0, 0], ip6('fe80::1'));
  const g = cat(new Uint8Array(14), ipv6(ip6('fe80::1'), ip6('ff02::1'), 58, na));
  setIcmpv6Checksum(g, 14, 54, na.length);
  t.true(l4v6Ok(g, 58));
  t.is(icmpv6Checksum(g, 14, 54, na.length), g[56]! * 256 + g[57]!);
});

test('the ICMP checksum covers the message without a pseudo header', (t) => {
  const echo = Uint8Array.of(8, 0, 0x12, 0x34, 0, 1, 0, 7, 0x61, 0x62, 0x63);
  setIcmpChecksum(echo, 0, echo.length);
  t.is(onesSum(echo), 0xffff);
  t.is(icmpChecksum(echo, 0, echo.length), echo[2]! * 256 + echo[3]!);
});

test('the IPv6 pseudo header counts a 32-bit upper-layer length', (t) => {
  const h = ipv6(ip6('::'), ip6('::'), 17, new Uint8Array(0));
  t.is(ipv6PseudoSum(h, 0, 17, 0x10004), 1 + 4 + 17);
  t.is(ipv4PseudoSum(cat(new Uint8Array(12), [0, 0, 0, 1, 0, 0, 0, 2]), 0, 17, 8), 1 + 2 + 17 + 8);
});

test('sums fold with end-around carry and validate at 0xffff', (t) => {
  t.is(foldSum(0x1fffe), 0xffff);
  t.is(foldSum(0x2_0001), 3);
  t.true(sumIsValid(0xffff));
  t.true(sumIsValid(0x1fffe));
  t.false(sumIsValid(0xfffe));
  t.is(sumWords(Uint8Array.of(0xff), 0, 1, 0), 0xff00);
});

test('any datagram checksummed by setUdp4Checksum/setUdp6Checksum verifies independently', (t) => {
  fc.assert(fc.property(
    fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 }),
    (payload, a, b) => {
      const u = udp(1234, 5678, payload);
      const f4 = cat(new Uint8Array(14), ipv4('1.2.3.4', '5.6.7.8', 17, u));
      setUdp4Checksum(f4, 14, 34, u.length);
      const f6 = cat(new Uint8Array(14), ipv6(a, b, 17, u));
      setUdp6Checksum(f6, 14, 54, u.length);
      return udp4Ok(f4) && l4v6Ok(f6, 17) && f6[60]! * 256 + f6[61]! !== 0;
    },
  ));
  t.pass();
});
