/**
 * The Go behaviours dpservice-cli's output depends on (net/netip, strconv, time, encoding/csv,
 * encoding/json, yaml.v2, sort.SliceStable), checked on tricky inputs: against fixed expectations,
 * and differentially against the same functions of the conformance stand-in of upstream's Go CLI
 * when it can run here.
 */
import test from 'ava';
import { resolve } from 'node:path';
import { ROOT } from '../../src/cli/host-tools.js';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { GoError, atoi, csvRecord, goBytes, goQuote, goString, parseDuration, parseInt64, parseUint, stableSort } from '../../src/cli/cli-go.js';
import { parseAddr, parsePrefix } from '../../src/cli/cli-netip.js';
import { goJson, type GoValue } from '../../src/cli/cli-objects.js';
import { goYaml } from '../../src/cli/cli-yaml.js';

const PY = '/usr/bin/python3';
// upstream CLI stand-in from shared/conformance (beside the checkout, as in CI); without it the
// byte-for-byte comparisons are skipped and say so
const PY_CLI = resolve(ROOT, '../shared/conformance/dpservice_cli.py');
const HAVE_PY = existsSync(PY) && existsSync(PY_CLI);

/** A function result as text, or its Go error text. */
function outcome(fn: () => string): string {
  try {
    return fn();
  } catch (e) {
    if (e instanceof GoError) return `error: ${e.text}`;
    throw e;
  }
}

type Probe = [kind: string, input: unknown];

const IMPL: Record<string, (x: never) => string> = {
  addr: (s: string) => parseAddr(s).toString(),
  prefix: (s: string) => parsePrefix(s).toString(),
  quote: (s: string) => goQuote(s),
  uint32: (s: string) => parseUint(s, 0, 32).toString(),
  int32: (s: string) => parseInt64(s, 0, 32).toString(),
  atoi: (s: string) => String(atoi(s)),
  duration: (s: string) => parseDuration(s).toString(),
  csv: (s: string) => JSON.stringify(csvRecord(s)),
  yaml: (v: GoValue) => goYaml(v),
  json: (v: GoValue) => goJson(v),
  jsonPretty: (v: GoValue) => goJson(v, true),
  sortMod3: (n: number) => JSON.stringify(stableSort([...Array(n).keys()].reverse(), (a, b) => a % 3 < b % 3)),
  sortAlwaysLess: (n: number) => JSON.stringify(stableSort([...Array(n).keys()], () => true)),
};

/** The stand-in's functions for the same probes, run in one Python process. */
const PY_PROBE = `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("dpservice_cli", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
F = {
    "addr": lambda s: str(m.parse_addr(s)),
    "prefix": lambda s: str(m.parse_prefix(s)),
    "quote": m.go_quote,
    "uint32": lambda s: str(m.go_parse_uint(s, 0, 32)),
    "int32": lambda s: str(m.go_parse_int(s, 0, 32)),
    "atoi": lambda s: str(m.go_atoi(s)),
    "duration": lambda s: str(round(m.go_parse_duration(s) * 1e9)),
    "csv": lambda s: json.dumps(m.go_csv_record(s), separators=(",", ":"), ensure_ascii=False),
    "yaml": m.go_yaml,
    "json": m.go_json,
    "jsonPretty": lambda v: m.go_json(v, True),
    "sortMod3": lambda n: json.dumps(m.go_stable_sort(list(reversed(range(n))), lambda a, b: a % 3 < b % 3), separators=(",", ":")),
    "sortAlwaysLess": lambda n: json.dumps(m.go_stable_sort(list(range(n)), lambda a, b: True), separators=(",", ":")),
}
out = []
for kind, arg in json.load(sys.stdin):
    try:
        out.append(F[kind](arg))
    except m.GoError as e:
        out.append("error: " + e.text)
json.dump(out, sys.stdout)
`;

const PROBES: Probe[] = [
  ...['1.2.3.4', '0.0.0.0', '255.255.255.255', '1.2.3', '1.2.3.4.5', '1.2.3.256', '01.2.3.4', '1..2.3', '.1.2.3', '1.2.3.',
    '1.2.3.x', '::', '::1', '1::', '2001:db8::1', '2001:db8:0:0:1:0:0:1', '2001:0:0:1:0:0:0:1', 'fc00:1::d000:21:0:ef',
    '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::', '::ffff:1.2.3.4', '::1.2.3.4', '1:2:3:4:5:6:1.2.3.4', '1:2::3::4',
    '12345::', 'g::1', 'fe80::1%eth0', 'fe80::1%', ':1', '1:', '', 'xxx', '%x', ' 1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '0:0:1:0:0:1:0:0']
    .map((s): Probe => ['addr', s]),
  ...['10.0.0.0/8', '10.0.0.1/8', '0.0.0.0/0', '1.2.3.4/33', '1.2.3.4', '2001:db8::/32', '::/0', '::/129', '1.2.3.4/x',
    '1.2.3.4/-1', '1.2.3.4/+8', '1.2.3.4/08', 'fe80::1%eth0/64', 'x/8', '1.2.3.4/99999999999999999999']
    .map((s): Probe => ['prefix', s]),
  ...['', 'plain', 'tab\there', 'quote"back\\slash', 'bell\x07', 'del\x7f', 'ctl\x01', 'caf\u00e9', '\u2028', '\ufeff', '\u{1f600}',
    'nbsp\u00a0', 'bad\udc80byte'].map((s): Probe => ['quote', s]),
  ...['0', '42', '0x2A', '0X2a', '0o17', '017', '0b101', '1_000', '_1', '1__0', '0x_1f', '4294967295', '4294967296', '-1', '+1', '',
    'abc', '99999999999999999999999', '0x', '08', '1e3']
    .map((s): Probe => ['uint32', s]),
  ...['-2147483648', '2147483647', '2147483648', '-2147483649', '-0x10', '+0b11', '-', '-1_0'].map((s): Probe => ['int32', s]),
  ...['8', '-8', '+8', '08', '', '+', '9223372036854775807', '9223372036854775808', '-9223372036854775808', '1_0', ' 1']
    .map((s): Probe => ['atoi', s]),
  ...['4s', '300ms', '1m30s', '1h', '1.5s', '.5s', '1.s', '0', '-2s', '1', 's', '1x', '1\u00b5s', '1us', '2ns', '', '1.2.3s', '100000000000h']
    .map((s): Probe => ['duration', s]),
  ...['a,b,c', 'tcp/80', '', ',', 'a,,b', '"a,b",c', '"a""b"', '"a', 'a"b', '"a"x', ' a , b ', 'a\nb,c', 'a\r']
    .map((s): Probe => ['csv', s]),
  ...[
    'plain', '', 'yes', 'No', 'on', '~', 'null', '1', '-1', '1.5', '.5', '1e3', '0x1F', '0b101', '0o17', '1_000', '12:30', '1:2:3',
    '2001-12-14', '2001-02-30', '2001-12-14t21:59:43.10-05:00', '- x', '-x', ': x', 'a: b', 'a:b', '#x', 'x #y', 'x# y', '?', '? x',
    '@x', '`x', '!x', '&x', '*x', '|x', '>x', "'x", '"x', '%x', '[x', '{x', ',x', ' lead', 'trail ', 'multi\nline', 'multi\nline\n',
    'two\n\nbreaks', '\nlead', 'tab\tin', 'x\u0085y', 'caf\u00e9', '\u{1f600}', 'ctl\x01', 'bom\ufeff',
    'a long line with many words that goes on and on and on past the eighty column limit of the yaml emitter for sure',
    `${'x'.repeat(90)} ${'y'.repeat(10)}`, '---', '...x', '- ', 'fc00:1::d000:21:0:ef', '1.2.3.4/24', "it's",
  ].map((s): Probe => ['yaml', { k: s }]),
  ['yaml', { b: [1, 'two', { c: null, a: true }], a: {}, a10: [], a2: 0, A: false, '': 'empty key', '1': 'digit key' }],
  ['yaml', [{ x: [[1, 2], []] }, 'y']],
  ['yaml', { items: [{ kind: 'Interface', metadata: { id: 'vm1' }, spec: { vni: 100 } }], status: { code: 0, message: '' } }],
  ['json', { s: 'a<b>&c "q" \\ \n\t\r \u2028 \u0001 \u007f \u00e9', n: [1, -2, 0], e: {}, l: [], z: null, t: true }],
  ['jsonPretty', { a: { b: [1, { c: 'd' }], e: {} }, f: [] }],
  ...[1, 5, 20, 21, 45, 100].map((n): Probe => ['sortMod3', n]),
  ...[2, 21, 64].map((n): Probe => ['sortAlwaysLess', n]),
];

const FIXED: Array<[Probe, string]> = [
  [['addr', '2001:db8:0:0:1:0:0:1'], '2001:db8::1:0:0:1'],
  [['addr', '::ffff:1.2.3.4'], '::ffff:1.2.3.4'],
  [['addr', '1.2.3'], 'error: ParseAddr("1.2.3"): IPv4 address too short'],
  [['addr', 'xxx'], 'error: ParseAddr("xxx"): unable to parse IP'],
  [['prefix', '1.2.3.4/33'], 'error: netip.ParsePrefix("1.2.3.4/33"): prefix length out of range'],
  [['uint32', '-1'], 'error: strconv.ParseUint: parsing "-1": invalid syntax'],
  [['uint32', '4294967296'], 'error: strconv.ParseUint: parsing "4294967296": value out of range'],
  [['uint32', '0x2A'], '42'],
  [['duration', '1m30s'], '90000000000'],
  [['duration', '1x'], 'error: time: unknown unit "x" in duration "1x"'],
  [['csv', '"a,b",c'], '["a,b","c"]'],
  [['quote', 'tab\there'], '"tab\\there"'],
  [['yaml', { k: 'yes' }], 'k: "yes"\n'],
  [['yaml', { k: '' }], 'k: ""\n'],
  [['yaml', { k: 'multi\nline' }], 'k: |-\n  multi\n  line\n'],
  [['yaml', { b: 1, a: [1, 2] }], 'a:\n- 1\n- 2\nb: 1\n'],
  [['json', { s: '<&>' }], '{"s":"\\u003c\\u0026\\u003e"}'],
];

for (const [[kind, input], expected] of FIXED) {
  test(`${kind} of ${JSON.stringify(input)} is ${JSON.stringify(expected)}`, (t) => {
    t.is(outcome(() => IMPL[kind]!(input as never)), expected);
  });
}

test('invalid UTF-8 survives the round trip from bytes to a Go string and back, and quotes like Go', (t) => {
  const bytes = Buffer.from([0x61, 0xff, 0xc3, 0xa9, 0xe0, 0x80, 0x62]);
  const s = goString(bytes);
  t.is(s, 'a\udcff\u00e9\udce0\udc80b');
  t.deepEqual(goBytes(s), bytes);
  t.is(goQuote(s), '"a\\xff\u00e9\\xe0\\x80b"');
  t.is(goJson(s), '"a\\ufffd\u00e9\\ufffd\\ufffdb"');
});

test('every probe gives the same result as the conformance stand-in of upstream\'s Go CLI', (t) => {
  if (!HAVE_PY) {
    t.log(`${PY} or ${PY_CLI} missing: comparison skipped`);
    t.pass();
    return;
  }
  const py = spawnSync(PY, ['-c', PY_PROBE, PY_CLI], { input: JSON.stringify(PROBES), encoding: 'utf8', env: { PATH: process.env.PATH } });
  t.is(py.status, 0, py.stderr);
  const theirs = JSON.parse(py.stdout) as string[];
  t.is(theirs.length, PROBES.length);
  PROBES.forEach(([kind, input], i) => {
    t.is(outcome(() => IMPL[kind]!(input as never)), theirs[i] ?? '<missing>', `${kind} ${JSON.stringify(input)}`);
  });
});
