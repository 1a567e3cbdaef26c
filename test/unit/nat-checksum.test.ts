import test from 'ava';
import { IPV4_DST, IPV4_SRC } from '../../src/packet/headers.js';
import { csumReplace32, rewriteIpv4 } from '../../src/packet/nat.js';
import {
  ascii, cat, hex, icmpEcho, ip4, ip4num, ipv4, ipv4HeaderOk, l4v4Ok, onesSum, tcp, u16, udp, withL4Checksum4,
} from './frames.js';

/** Rewrites `field` of the IPv4 packet at pkt[0..] (no Ethernet) and returns a copy. */
function rewrite(pkt: Uint8Array, field: number, addr: string): Uint8Array {
  const p = pkt.slice();
  const dv = new DataView(p.buffer);
  const ihl = (p[0]! & 0x0f) * 4;
  rewriteIpv4(dv, 0, field, ip4num(addr), p[9]!, ihl, p.length - ihl);
  return p;
}

const PAYLOAD = ascii('some payload, odd length');

function packets(): [string, Uint8Array][] {
  return [
    ['UDP', withL4Checksum4(ipv4('10.0.0.1', '45.0.0.1', 17, udp(40000, 53, PAYLOAD)), 0)],
    ['TCP', withL4Checksum4(ipv4('10.0.0.1', '45.0.0.1', 6, tcp(40000, 443, 0x18, PAYLOAD)), 0)],
    ['ICMP echo', ipv4('10.0.0.1', '45.0.0.1', 1, icmpEcho(8, 0x1234, 7, PAYLOAD))],
  ];
}

test('the frame builders make valid checksums (the verifier can fail)', (t) => {
  for (const [what, p] of packets()) {
    t.true(ipv4HeaderOk(p, 0), what);
    t.true(l4v4Ok(p, 0), what);
    const bad = p.slice();
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 0x40;
    t.false(l4v4Ok(bad, 0), `${what}: a flipped payload bit is caught`);
  }
});

test('rewriting the source or destination keeps the IPv4 header and L4 checksums valid', (t) => {
  for (const [what, p] of packets()) {
    for (const [field, name] of [[IPV4_SRC, 'source'], [IPV4_DST, 'destination']] as const) {
      for (const addr of ['10.100.1.2', '0.0.0.0', '255.255.255.255', '45.0.0.1', '192.168.255.1']) {
        const o = rewrite(p, field, addr);
        const label = `${what} ${name} -> ${addr}`;
        t.is(hex(o.subarray(field, field + 4)), hex(ip4(addr)), label);
        t.true(ipv4HeaderOk(o, 0), `${label}: header checksum`);
        t.true(l4v4Ok(o, 0), `${label}: L4 checksum`);
      }
    }
  }
});

test('ICMP has no pseudo header: its checksum is left as it was', (t) => {
  const p = packets()[2]![1];
  const o = rewrite(p, IPV4_DST, '10.100.1.2');
  t.is(hex(o.subarray(20)), hex(p.subarray(20)));
});

test('a UDP checksum of 0 (none) stays 0 after the rewrite', (t) => {
  const p = ipv4('10.0.0.1', '45.0.0.1', 17, udp(40000, 53, PAYLOAD));
  t.is(p[26]! | p[27]!, 0);
  const o = rewrite(p, IPV4_DST, '10.100.1.2');
  t.is(hex(o.subarray(26, 28)), '0000');
  t.true(ipv4HeaderOk(o, 0));
  t.is(hex(o.subarray(20)), hex(p.subarray(20)), 'the UDP datagram is untouched');
});

test('a UDP checksum that becomes 0 is sent as 0xffff', (t) => {
  // find a payload word for which the rewritten datagram's checksum computes to 0
  const base = ipv4('10.0.0.1', '45.0.0.1', 17, udp(40000, 53, new Uint8Array(2)));
  let found = false;
  for (let w = 0; w < 0x10000 && !found; w++) {
    const p = base.slice();
    p[28] = w >> 8;
    p[29] = w & 0xff;
    const target = p.slice();
    target.set(ip4('10.100.1.2'), 16);
    const pseudo = cat(target.subarray(12, 20), [0, 17], u16(10));
    // the checksum field is 0 here: a sum of 0xffff means the computed checksum is 0
    if (onesSum(cat(pseudo, target.subarray(20))) !== 0xffff) continue;
    found = true;
    withL4Checksum4(p, 0);
    const o = rewrite(p, IPV4_DST, '10.100.1.2');
    t.is(hex(o.subarray(26, 28)), 'ffff');
    t.true(l4v4Ok(o, 0));
  }
  t.true(found, 'a payload word with that property exists');
});

test('rewriting behind IPv4 options finds the L4 header by the IHL', (t) => {
  const inner = udp(40000, 53, PAYLOAD);
  const h = cat([0x46, 0], u16(24 + inner.length), [0, 1, 0, 0, 64, 17, 0, 0], ip4('10.0.0.1'), ip4('45.0.0.1'), [1, 1, 1, 0]);
  const c = 0xffff - onesSum(h);
  h[10] = c >> 8;
  h[11] = c & 0xff;
  const p = withL4Checksum4(cat(h, inner), 0);
  const o = rewrite(p, IPV4_SRC, '100.64.0.1');
  t.true(ipv4HeaderOk(o, 0));
  t.true(l4v4Ok(o, 0));
});

test('an L4 header too short to hold its checksum is left alone and nothing is read past it', (t) => {
  for (const [proto, n] of [[6, 17], [17, 7]] as const) {
    const p = ipv4('10.0.0.1', '45.0.0.1', proto, new Uint8Array(n).fill(0xab));
    const o = rewrite(p, IPV4_DST, '10.100.1.2');
    t.true(ipv4HeaderOk(o, 0), `proto ${proto}`);
    t.is(hex(o.subarray(20)), hex(p.subarray(20)), `proto ${proto}: L4 bytes untouched`);
  }
});

test('rewriting an address to itself changes nothing', (t) => {
  for (const [what, p] of packets()) t.is(hex(rewrite(p, IPV4_SRC, '10.0.0.1')), hex(p), what);
});

test('incremental updates agree with the verifier over many random addresses and payloads', (t) => {
  let seed = 0x1234567;
  const rnd = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed >>> 8;
  };
  const addr = (): string => [rnd() & 255, rnd() & 255, rnd() & 255, rnd() & 255].join('.');
  let bad = 0;
  for (let i = 0; i < 500; i++) {
    const payload = Uint8Array.from({ length: rnd() % 40 }, () => rnd() & 255);
    const proto = [6, 17, 1][i % 3]!;
    const l4 = proto === 6 ? tcp(rnd() & 0xffff, rnd() & 0xffff, 0x10, payload)
      : proto === 17 ? udp(rnd() & 0xffff, rnd() & 0xffff, payload) : icmpEcho(8, rnd() & 0xffff, 1, payload);
    let p = ipv4(addr(), addr(), proto, l4);
    if (proto !== 1) p = withL4Checksum4(p, 0);
    const o = rewrite(rewrite(p, IPV4_SRC, addr()), IPV4_DST, addr());
    if (!ipv4HeaderOk(o, 0) || !l4v4Ok(o, 0)) bad++;
  }
  t.is(bad, 0);
});

test('csumReplace32 adjusts a checksum field for a 32-bit change as a full recomputation would', (t) => {
  const data = Uint8Array.from([0x12, 0x34, 0xab, 0xcd, 0, 0, 0xff, 0xff, 0x00, 0x01]);
  const c = 0xffff - onesSum(data);
  data[4] = c >> 8;
  data[5] = c & 0xff;
  const dv = new DataView(data.buffer);
  const old = dv.getUint32(0);
  dv.setUint32(0, 0xdeadbeef);
  csumReplace32(dv, 4, old, 0xdeadbeef);
  t.is(onesSum(data), 0xffff);
});
