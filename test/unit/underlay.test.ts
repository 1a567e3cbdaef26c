import test from 'ava';
import fc from 'fast-check';
import {
  UNDERLAY_ADDRESS_TYPE,
  UNDERLAY_FLAG_EXTERNALLY_GENERATED,
  UnderlayGenerator,
  VnfType,
  cText,
  formatIpv4,
  formatIpv6,
  ipv6Key,
  isZeroIpv6,
  maskIpv4,
  maskIpv6,
  parseIpv4,
  parseIpv6,
} from '../../src/actors/underlay.js';

const hex = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('hex'));
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const HOST = parseIpv6('fc00:1::')!;

// expected values are what glibc's inet_pton/inet_ntop produce for the same input
const ipv4Cases: Array<[string, number | undefined]> = [
  ['1.2.3.4', 0x01020304],
  ['0.0.0.0', 0],
  ['255.255.255.255', 0xffffffff],
  ['10.0.0.255', 0x0a0000ff],
  ['256.0.0.0', undefined],
  ['1.2.3', undefined],
  ['1.2.3.4.', undefined],
  ['1.2.3.4.5', undefined],
  ['01.2.3.4', undefined],
  ['1.2.3.04', undefined],
  ['00.1.2.3', undefined],
  ['1..2.3', undefined],
  ['', undefined],
  [' 1.2.3.4', undefined],
  ['1.2.3.4 ', undefined],
  ['0x1.2.3.4', undefined],
  ['1234.1.1.1', undefined],
];
for (const [text, want] of ipv4Cases) {
  test(`IPv4 text ${JSON.stringify(text)} parses to ${want === undefined ? 'nothing' : want.toString(16)}`, (t) => {
    t.is(parseIpv4(text), want);
  });
}

const ipv6Cases: Array<[string, string | undefined]> = [
  ['::', '00000000000000000000000000000000'],
  ['::1', '00000000000000000000000000000001'],
  ['1::', '00010000000000000000000000000000'],
  ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
  ['FC00::ABCD', 'fc00000000000000000000000000abcd'],
  ['::ffff:1.2.3.4', '00000000000000000000ffff01020304'],
  ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
  ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
  ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
  ['0000::1', '00000000000000000000000000000001'],
  ['1:2:3:4:5:6:7:8:9', undefined],
  ['1:2:3:4:5:6:7:8::', undefined],
  ['1::2::3', undefined],
  [':1::', undefined],
  [':::', undefined],
  ['1::2:', undefined],
  [':', undefined],
  ['', undefined],
  ['00000::1', undefined],
  ['::12345', undefined],
  ['1.2.3.4', undefined],
  ['::01.2.3.4', undefined],
  ['::1.2.3', undefined],
  ['1:2:3:4:5:6:7:1.2.3.4', undefined],
  ['fe80::1%eth0', undefined],
  ['g::1', undefined],
];
for (const [text, want] of ipv6Cases) {
  test(`IPv6 text ${JSON.stringify(text)} parses to ${want ?? 'nothing'}`, (t) => {
    t.is(hex(parseIpv6(text)), want);
  });
}

const ntopCases: Array<[string, string]> = [
  ['00000000000000000000000000000000', '::'],
  ['00000000000000000000000000000001', '::1'],
  ['00000000000000000000ffff01020304', '::ffff:1.2.3.4'],
  ['00000000000000000000000001020304', '::1.2.3.4'],
  ['0064ff9b000000000000000001020304', '64:ff9b::102:304'],
  ['fc000001000000000000000000000000', 'fc00:1::'],
  ['fc000001000000000000800000000001', 'fc00:1::8000:0:1'],
  ['fc000001000000008000000000000001', 'fc00:1::8000:0:0:1'],
  ['00010000000200000000000300000000', '1:0:2::3:0:0'],
  ['00010002000300040005000600070008', '1:2:3:4:5:6:7:8'],
  ['00010000000200030004000500060007', '1:0:2:3:4:5:6:7'],
];
for (const [h, want] of ntopCases) {
  test(`16 bytes ${h} print as ${want}`, (t) => {
    t.is(formatIpv6(bytes(h)), want);
  });
}

test('IPv4 numbers print as dotted quads', (t) => {
  t.is(formatIpv4(0x0a000001), '10.0.0.1');
  t.is(formatIpv4(0xffffffff), '255.255.255.255');
  t.is(formatIpv4(0), '0.0.0.0');
});

test('any IPv4 prints and parses back to itself', (t) => {
  fc.assert(fc.property(fc.nat({ max: 0xffffffff }), (ip) => parseIpv4(formatIpv4(ip)) === ip));
  t.pass();
});

test('any 16 bytes print as IPv6 text that parses back to the same bytes', (t) => {
  // zero-heavy words so that "::" compression and dotted tails are exercised
  const word = fc.oneof(fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff }));
  fc.assert(
    fc.property(fc.array(word, { minLength: 8, maxLength: 8 }), (words) => {
      const b = new Uint8Array(16);
      words.forEach((w, i) => {
        b[2 * i] = w >> 8;
        b[2 * i + 1] = w & 0xff;
      });
      return hex(parseIpv6(formatIpv6(b))) === hex(b);
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('text fields are read as C strings: up to the first NUL byte', (t) => {
  t.is(cText(Buffer.from('1.2.3.4\0junk')), '1.2.3.4');
  t.is(cText('abc\0def'), 'abc');
  t.is(cText(Buffer.alloc(0)), '');
  t.is(cText(null), '');
  t.is(cText(undefined), '');
});

test('masks clear the bits past the prefix length', (t) => {
  t.is(maskIpv4(0x010203ff, 24), 0x01020300);
  t.is(maskIpv4(0x010203ff, 25), 0x01020380);
  t.is(maskIpv4(0xffffffff, 0), 0);
  t.is(maskIpv4(0xffffffff, 32), 0xffffffff);
  t.is(formatIpv6(maskIpv6(parseIpv6('1234:5678:9abc::ffff')!, 36)), '1234:5678:9000::');
  t.is(formatIpv6(maskIpv6(parseIpv6('1234::1')!, 128)), '1234::1');
  t.true(isZeroIpv6(maskIpv6(parseIpv6('ffff::1')!, 0)));
});

test('generated addresses keep the host /64 and carry type 0xd0, no flags and a rising counter', (t) => {
  const g = new UnderlayGenerator(parseIpv6('fc00:1::1')!);
  const a = g.generate(VnfType.INTERFACE_IP);
  const b = g.generate(VnfType.VIP);
  for (const x of [a, b]) {
    t.is(hex(x.subarray(0, 8)), hex(HOST.subarray(0, 8)));
    t.is(x[8], UNDERLAY_ADDRESS_TYPE);
    t.is(x[9], 0, 'subtype is 0 unless typed addresses are enabled');
    t.is(x[10], 0, 'generated addresses have no flags');
  }
  const counter = (x: Uint8Array): number => new DataView(x.buffer, x.byteOffset).getUint32(12);
  t.is(counter(b), counter(a) + 1);
  t.true(counter(a) >= 1 && counter(a) <= 256, 'the counter starts at a random value below 256, then increments');
  t.not(ipv6Key(a), ipv6Key(b));
  t.regex(formatIpv6(a), /^fc00:1::d0[0-9a-f]{2}:/);
});

test('typed generation puts the VNF type into byte 9; deterministic generation fixes random and counter', (t) => {
  const g = new UnderlayGenerator(HOST, { typed: true, deterministic: true });
  const a = g.generate(VnfType.NAT);
  t.is(hex(a), 'fc00000100000000d003000100000001');
  t.is(formatIpv6(g.generate(VnfType.LB)), 'fc00:1::d004:1:0:2');
});

test('the random byte and the counter start come from the random source', (t) => {
  const seq = [0x42, 0x10, 0x99];
  const g = new UnderlayGenerator(HOST, { randomByte: () => seq.shift() ?? 0 });
  t.is(formatIpv6(g.generate(VnfType.INTERFACE_IP)), 'fc00:1::d000:42:0:11');
  t.is(formatIpv6(g.generate(VnfType.INTERFACE_IP)), 'fc00:1::d000:99:0:12');
});

const preferredCases: Array<[string, boolean, string]> = [
  ['::', true, 'all zero means "generate one"'],
  ['fc00:1::8000:0:1', true, 'host /64 with the externally-generated flag'],
  ['fc00:1::c000:0:2', true, 'the flag may come with other flags'],
  ['fc00:1::d000:0:0:1', false, 'a generated address (no flag)'],
  ['fc00:1::1', false, 'no flag'],
  ['fc00:2::8000:0:1', false, 'another /64'],
];
for (const [text, ok, why] of preferredCases) {
  test(`preferred underlay ${text} is ${ok ? 'accepted' : 'refused'} (${why})`, (t) => {
    const g = new UnderlayGenerator(HOST);
    t.is(g.acceptsPreferred(parseIpv6(text)!), ok);
  });
}

test('a preferred underlay needs byte 10 flag 0x80', (t) => {
  const g = new UnderlayGenerator(HOST);
  const a = HOST.slice();
  a[10] = UNDERLAY_FLAG_EXTERNALLY_GENERATED;
  a[15] = 7;
  t.true(g.acceptsPreferred(a));
  a[10] = 0x7f;
  t.false(g.acceptsPreferred(a));
});

test('the generator refuses a host address that is not 16 bytes', (t) => {
  t.throws(() => new UnderlayGenerator(new Uint8Array(4)), { instanceOf: RangeError });
});
