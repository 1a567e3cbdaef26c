import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_CONF_FILE,
  OptionError,
  VERSION,
  defaultOptions,
  helpText,
  parseServiceArgs,
  parseVirtsvc,
  readConfigFile,
  splitArgs,
  type ParseResult,
  type ReadConfigFile,
  type ServiceOptions,
} from '../../src/config/options.js';

const REQUIRED = ['--pf0=eth0', '--pf1=eth1', '--ipv6=fd00::1', '--vf-pattern=eth1vf'];
const NO_FILE = { DP_CONF: '' };

/** A reader that serves `files` by path and reports every other path as missing. */
function filesReader(files: Record<string, string>): ReadConfigFile {
  return (path) => files[path];
}

/** Parses with the required options prepended and no config file; fails the test unless it runs. */
function options(t: ExecutionContext, args: string[]): ServiceOptions {
  const r = parseServiceArgs([...REQUIRED, ...args], NO_FILE);
  if (r.kind !== 'run') {
    t.fail(`expected to run, got exit ${r.code}: ${r.stderr ?? ''}`);
    throw new Error('unreachable');
  }
  return r.options;
}

/** Asserts a parse result is an error exit with a one-line message and returns the message. */
function errorOf(t: ExecutionContext, r: ParseResult): string {
  if (r.kind !== 'exit') {
    t.fail('expected an error exit, got run');
    return '';
  }
  t.is(r.code, 1);
  t.is(r.stdout, undefined);
  const msg = r.stderr ?? '';
  t.regex(msg, /^[^\n]+\n$/, 'one line ending in a newline');
  return msg.trimEnd();
}

/** Parses with the required options appended (so the error is about `args`) and no config file. */
function cliError(t: ExecutionContext, args: string[]): string {
  return errorOf(t, parseServiceArgs([...args, ...REQUIRED], NO_FILE));
}

// ---- defaults ----

const DEFAULTS: [keyof ServiceOptions, unknown][] = [
  ['pf0', ''], ['pf1', ''], ['ipv6', ''], ['vfPattern', ''],
  ['dhcpMtu', 1500], ['dhcpDns', []], ['dhcpv6Dns', []], ['udpVirtsvc', []], ['tcpVirtsvc', []],
  ['wcmp', 100], ['nicType', 'mellanox'], ['noStats', false], ['enableIpv6Overlay', false],
  ['noOffload', false], ['graphtraceLoglevel', 0], ['color', 'never'], ['logFormat', 'text'],
  ['grpcPort', 1337], ['flowTimeout', 30], ['multiportEswitch', false], ['activeLockfile', ''],
  ['syncTap', ''], ['debugCoredumps', false], ['aPf0', ''], ['aPf1', ''],
  ['noIdleBackoff', false], ['burst', 32], ['metricsPort', 0], ['flowTableSize', 1048576], ['noFastPath', false],
];

test('default options have exactly the documented fields', (t) => {
  t.deepEqual(Object.keys(defaultOptions()).sort(), DEFAULTS.map(([k]) => k).sort());
});

const REQUIRED_FIELDS: (keyof ServiceOptions)[] = ['pf0', 'pf1', 'ipv6', 'vfPattern'];

for (const [field, value] of DEFAULTS) {
  if (REQUIRED_FIELDS.includes(field)) {
    test(`${field} is unset ('') in the defaults`, (t) => {
      t.deepEqual(defaultOptions()[field], value);
    });
  } else {
    test(`${field} defaults to ${JSON.stringify(value)} when not given`, (t) => {
      t.deepEqual(options(t, [])[field], value);
    });
  }
}

test('default options are fresh objects, so lists are not shared between parses', (t) => {
  const a = defaultOptions();
  a.dhcpDns.push('1.1.1.1');
  t.deepEqual(defaultOptions().dhcpDns, []);
});

// ---- every option ----

const EVERY_OPTION: [string[], keyof ServiceOptions, unknown][] = [
  [['--pf0', 'dtap0'], 'pf0', 'dtap0'],
  [['--pf1', 'dtap1'], 'pf1', 'dtap1'],
  [['--ipv6', 'fc00:1::1'], 'ipv6', 'fc00:1::1'],
  [['--vf-pattern', 'dtapvf_'], 'vfPattern', 'dtapvf_'],
  [['--dhcp-mtu', '900'], 'dhcpMtu', 900],
  [['--dhcp-dns', '8.8.8.8'], 'dhcpDns', ['8.8.8.8']],
  [['--dhcpv6-dns', '2001:4860:4860::8888'], 'dhcpv6Dns', ['2001:4860:4860::8888']],
  [['--udp-virtsvc', '1.2.3.4,53,2a00::1,53'], 'udpVirtsvc', ['1.2.3.4,53,2a00::1,53']],
  [['--tcp-virtsvc', '1.2.3.4,443,2a00::1,443'], 'tcpVirtsvc', ['1.2.3.4,443,2a00::1,443']],
  [['--wcmp', '50'], 'wcmp', 50],
  [['--nic-type', 'tap'], 'nicType', 'tap'],
  [['--no-stats'], 'noStats', true],
  [['--enable-ipv6-overlay'], 'enableIpv6Overlay', true],
  [['--no-offload'], 'noOffload', true],
  [['--graphtrace-loglevel', '2'], 'graphtraceLoglevel', 2],
  [['--color', 'auto'], 'color', 'auto'],
  [['--log-format', 'json'], 'logFormat', 'json'],
  [['--grpc-port', '1338'], 'grpcPort', 1338],
  [['--flow-timeout', '5'], 'flowTimeout', 5],
  [['--multiport-eswitch', '--no-offload'], 'multiportEswitch', true],
  [['--active-lockfile', '/run/dpservice/active.lock'], 'activeLockfile', '/run/dpservice/active.lock'],
  [['--sync-tap', 'dtap_sync'], 'syncTap', 'dtap_sync'],
  [['--debug-coredumps'], 'debugCoredumps', true],
  [['--no-idle-backoff'], 'noIdleBackoff', true],
  [['--burst', '64'], 'burst', 64],
  [['--metrics-port', '9064'], 'metricsPort', 9064],
  [['--flow-table-size', '4096'], 'flowTableSize', 4096],
  [['--no-fast-path'], 'noFastPath', true],
];

for (const [args, field, expected] of EVERY_OPTION) {
  test(`${args.join(' ')} sets ${field}`, (t) => {
    t.deepEqual(options(t, args)[field], expected);
  });
  if (args.length === 2 && args[0] !== '--multiport-eswitch') {
    test(`${args[0]}=${args[1]} (equals form) sets ${field} like the space form`, (t) => {
      t.deepEqual(options(t, [`${args[0]}=${args[1]}`])[field], expected);
    });
  }
}

test('a scalar given twice keeps the last value', (t) => {
  t.is(options(t, ['--grpc-port=2000', '--grpc-port', '2001']).grpcPort, 2001);
});

test('a value may contain an equals sign after the first one', (t) => {
  t.is(options(t, ['--active-lockfile=/tmp/a=b']).activeLockfile, '/tmp/a=b');
});

test('an unambiguous prefix of a long option is accepted like getopt_long does', (t) => {
  t.is(options(t, ['--grpc=2000']).grpcPort, 2000);
  t.is(options(t, ['--no-st']).noStats, true);
});

// ---- ranges and integers ----

const RANGES: [string, number, number][] = [
  ['--dhcp-mtu', 68, 1500],
  ['--wcmp', 0, 100],
  ['--graphtrace-loglevel', 0, 2],
  ['--grpc-port', 1024, 65535],
  ['--flow-timeout', 1, 300],
  ['--burst', 1, 1024],
  ['--metrics-port', 0, 65535],
  ['--flow-table-size', 1024, 16777216],
];

for (const [name, min, max] of RANGES) {
  test(`${name} accepts its bounds ${min} and ${max}`, (t) => {
    const field = EVERY_OPTION.find(([args]) => args[0] === name)?.[1];
    if (field === undefined) return t.fail(`no field for ${name}`);
    t.is(options(t, [`${name}=${min}`])[field], min);
    t.is(options(t, [`${name}=${max}`])[field], max);
  });
  for (const bad of [min - 1, max + 1]) {
    test(`${name} rejects ${bad} as out of range, naming the option`, (t) => {
      t.is(cliError(t, [`${name}=${bad}`]), `Invalid value '${bad}' for ${name}: out of range (${min} - ${max})`);
    });
  }
}

for (const bad of ['abc', '1.5', '', '0x10', '12abc', ' 1']) {
  test(`--grpc-port rejects '${bad}' as not an integer`, (t) => {
    t.is(cliError(t, [`--grpc-port=${bad}`]), `Invalid value '${bad}' for --grpc-port: not an integer`);
  });
}

test('a negative number in the space form is taken as the value, not as an option', (t) => {
  t.is(cliError(t, ['--wcmp', '-1']), "Invalid value '-1' for --wcmp: out of range (0 - 100)");
});

// ---- addresses ----

const BAD_ADDRESSES: [string, string, string][] = [
  ['--ipv6', 'fd00::g', 'not an IPv6 address'],
  ['--ipv6', '1.2.3.4', 'not an IPv6 address'],
  ['--ipv6', 'fe80::1%eth0', 'not an IPv6 address'],
  ['--ipv6', '', 'not an IPv6 address'],
  ['--dhcp-dns', '1.2.3', 'not an IPv4 address'],
  ['--dhcp-dns', '256.0.0.1', 'not an IPv4 address'],
  ['--dhcp-dns', '::1', 'not an IPv4 address'],
  ['--dhcp-dns', '"1.1.1.1"', 'not an IPv4 address'],
  ['--dhcpv6-dns', '8.8.8.8', 'not an IPv6 address'],
  ['--dhcpv6-dns', '2001:db8:::1', 'not an IPv6 address'],
];

for (const [name, value, reason] of BAD_ADDRESSES) {
  test(`${name} rejects '${value}' (${reason})`, (t) => {
    t.is(cliError(t, [`${name}=${value}`]), `Invalid value '${value}' for ${name}: ${reason}`);
  });
}

test('--ipv6 accepts an IPv4-mapped IPv6 address', (t) => {
  t.is(options(t, ['--ipv6=::ffff:10.0.0.1']).ipv6, '::ffff:10.0.0.1');
});

// ---- strings ----

test('interface names are limited to 15 bytes like IF_NAMESIZE', (t) => {
  t.is(options(t, ['--pf0=abcdefghijklmno']).pf0, 'abcdefghijklmno');
  t.is(cliError(t, ['--sync-tap=abcdefghijklmnop']), "Invalid value 'abcdefghijklmnop' for --sync-tap: longer than 15 bytes");
});

test('--active-lockfile accepts 255 bytes and rejects 256', (t) => {
  t.is(options(t, [`--active-lockfile=/${'a'.repeat(254)}`]).activeLockfile.length, 255);
  t.regex(cliError(t, [`--active-lockfile=/${'a'.repeat(255)}`]), /for --active-lockfile: longer than 255 bytes$/);
});

// ---- enums ----

const ENUMS: [string, keyof ServiceOptions, string[]][] = [
  ['--nic-type', 'nicType', ['mellanox', 'tap', 'bluefield2']],
  ['--color', 'color', ['never', 'always', 'auto']],
  ['--log-format', 'logFormat', ['text', 'json']],
];

for (const [name, field, choices] of ENUMS) {
  for (const choice of choices) {
    test(`${name} accepts '${choice}'`, (t) => {
      t.is(options(t, [`${name}=${choice}`])[field], choice);
    });
  }
  test(`${name} rejects an unknown value and lists the choices`, (t) => {
    const list = choices.map((c) => `'${c}'`).join(', ');
    t.is(cliError(t, [`${name}=Mellanox`]), `Invalid value 'Mellanox' for ${name}: choose from ${list}`);
  });
}

// ---- repeatables ----

test('--dhcp-dns and --dhcpv6-dns accumulate in the order given', (t) => {
  const o = options(t, ['--dhcp-dns', '8.8.8.8', '--dhcpv6-dns=2001:db8::53', '--dhcp-dns=8.8.4.4', '--dhcpv6-dns', '2001:db8::54']);
  t.deepEqual(o.dhcpDns, ['8.8.8.8', '8.8.4.4']);
  t.deepEqual(o.dhcpv6Dns, ['2001:db8::53', '2001:db8::54']);
});

const DNS_LIMITS: [string, number, (i: number) => string][] = [
  ['--dhcp-dns', 63, (i) => `10.0.0.${i}`],
  ['--dhcpv6-dns', 15, (i) => `2001:db8::${i}`],
];

for (const [name, max, addr] of DNS_LIMITS) {
  test(`${name} takes at most ${max} servers, the one-byte DHCP option length`, (t) => {
    const args = Array.from({ length: max }, (_, i) => `${name}=${addr(i + 1)}`);
    const field = name === '--dhcp-dns' ? 'dhcpDns' : 'dhcpv6Dns';
    t.is(options(t, args)[field].length, max);
    t.is(cliError(t, [...args, `${name}=${addr(max + 1)}`]), `Too many values for ${name} (at most ${max})`);
  });
}

// ---- virtual services ----

test('parseVirtsvc splits a spec into addresses and ports', (t) => {
  t.deepEqual(parseVirtsvc('1.2.3.4,53,2a00:da8::53,5353'), {
    virtualIp: '1.2.3.4', virtualPort: 53, serviceIp: '2a00:da8::53', servicePort: 5353,
  });
});

const BAD_VIRTSVC: [string, string][] = [
  ['1.2.3.4,53,2a00::1', 'expected IPv4,port,IPv6,port'],
  ['1.2.3.4,53,2a00::1,53,1', 'expected IPv4,port,IPv6,port'],
  ['1.2.3,53,2a00::1,53', "invalid IPv4 address '1.2.3'"],
  ['1.2.3.4,0,2a00::1,53', "invalid IPv4 port '0'"],
  ['1.2.3.4,65536,2a00::1,53', "invalid IPv4 port '65536'"],
  ['1.2.3.4,,2a00::1,53', "invalid IPv4 port ''"],
  ['1.2.3.4,53,1.2.3.5,53', "invalid IPv6 address '1.2.3.5'"],
  ['1.2.3.4,53,2a00::1,x', "invalid IPv6 port 'x'"],
];

for (const [spec, reason] of BAD_VIRTSVC) {
  test(`virtual service '${spec}' is rejected: ${reason}`, (t) => {
    t.is(cliError(t, [`--tcp-virtsvc=${spec}`]), `Invalid value '${spec}' for --tcp-virtsvc: ${reason}`);
    t.throws(() => parseVirtsvc(spec), { instanceOf: OptionError, message: new RegExp(reason.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) });
  });
}

test('a UDP service reusing an IPv4 endpoint is rejected', (t) => {
  t.is(
    cliError(t, ['--udp-virtsvc=1.2.3.4,53,2a00::1,53', '--udp-virtsvc=1.2.3.4,53,2a00::2,53']),
    "Invalid value '1.2.3.4,53,2a00::2,53' for --udp-virtsvc: IPv4 endpoint 1.2.3.4:53 is already used",
  );
});

test('a service reusing an IPv6 endpoint is rejected even when spelled differently', (t) => {
  t.regex(
    cliError(t, ['--tcp-virtsvc=1.2.3.4,80,2A00:0::1,80', '--tcp-virtsvc=1.2.3.5,80,2a00::1,80']),
    /^Invalid value '1\.2\.3\.5,80,2a00::1,80' for --tcp-virtsvc: IPv6 endpoint \[2a00::1\]:80 is already used$/,
  );
});

test('the same endpoints may serve both UDP and TCP', (t) => {
  const o = options(t, ['--udp-virtsvc=1.2.3.4,53,2a00::1,53', '--tcp-virtsvc=1.2.3.4,53,2a00::1,53']);
  t.is(o.udpVirtsvc.length, 1);
  t.is(o.tcpVirtsvc.length, 1);
});

test('at most 256 virtual services are accepted, UDP and TCP together', (t) => {
  const spec = (i: number): string => `10.0.${i >> 8}.${i & 255},80,2a00::${i.toString(16)},80`;
  const args = Array.from({ length: 256 }, (_, i) => `--${i % 2 ? 'udp' : 'tcp'}-virtsvc=${spec(i)}`);
  const o = options(t, args);
  t.is(o.udpVirtsvc.length + o.tcpVirtsvc.length, 256);
  t.is(cliError(t, [...args, `--udp-virtsvc=${spec(300)}`]),
    'Too many virtual services at --udp-virtsvc (at most 256, UDP and TCP together)');
});

// ---- command-line syntax errors ----

const SYNTAX_ERRORS: [string, string[], string][] = [
  ['an unknown long option', ['--foo'], 'Unknown option --foo'],
  ['an unknown long option with a value', ['--foo=1'], 'Unknown option --foo'],
  ['an unknown short option', ['-x'], 'Unknown option -x'],
  ['a config-file-only key', ['--a-pf0=0000:3b:00.0'], 'Unknown option --a-pf0'],
  ['an ambiguous prefix', ['--no'], 'Ambiguous option --no (could be --no-stats, --no-offload, --no-idle-backoff, --no-fast-path)'],
  ['a value option at the end', ['--grpc-port'], 'Missing value for --grpc-port'],
  ['a value option followed by an option', ['--pf0', '--no-stats'], 'Missing value for --pf0'],
  ['a flag with a value', ['--no-stats=1'], 'Option --no-stats takes no value'],
  ['a positional argument', ['eth0'], "Unexpected argument 'eth0'"],
  ['an argument after a second --', ['--', 'x'], "Unexpected argument 'x'"],
];

for (const [what, args, message] of SYNTAX_ERRORS) {
  test(`${what} is an error: ${message}`, (t) => {
    t.is(errorOf(t, parseServiceArgs([...REQUIRED, ...args], NO_FILE)), message);
  });
}

test('a trailing -- ends the options without error', (t) => {
  t.is(options(t, ['--no-stats', '--']).noStats, true);
});

// ---- required options and combinations ----

for (const name of ['--pf0', '--pf1', '--ipv6', '--vf-pattern']) {
  test(`running without ${name} is an error naming it`, (t) => {
    const args = REQUIRED.filter((a) => !a.startsWith(`${name}=`));
    t.is(errorOf(t, parseServiceArgs(args, NO_FILE)), `Missing required option ${name}`);
  });
}

test('an empty interface name counts as missing', (t) => {
  t.is(errorOf(t, parseServiceArgs([...REQUIRED, '--pf1='], NO_FILE)), 'Missing required option --pf1');
});

test('--multiport-eswitch without --no-offload is refused like upstream', (t) => {
  t.regex(cliError(t, ['--multiport-eswitch']), /multiport e-switch mode: --multiport-eswitch requires --no-offload$/);
  t.is(options(t, ['--no-offload', '--multiport-eswitch']).multiportEswitch, true);
});

// ---- help and version ----

test('-h and --help exit 0 with the help text on stdout', (t) => {
  for (const flag of ['-h', '--help']) {
    t.deepEqual(parseServiceArgs([flag], NO_FILE), { kind: 'exit', code: 0, stdout: helpText() });
  }
});

test('-v and --version print the DP Service version line', (t) => {
  for (const flag of ['-v', '--version']) {
    t.deepEqual(parseServiceArgs([flag], NO_FILE), { kind: 'exit', code: 0, stdout: `DP Service version ${VERSION}\n` });
  }
});

test('VERSION is the package.json version prefixed with v', (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  t.is(VERSION, `v${pkg.version}`);
});

test('help acts where it appears: options before it are checked, options after it are not', (t) => {
  t.deepEqual(parseServiceArgs(['-h', '--grpc-port=abc'], NO_FILE), { kind: 'exit', code: 0, stdout: helpText() });
  t.is(errorOf(t, parseServiceArgs(['--grpc-port=abc', '-h'], NO_FILE)), "Invalid value 'abc' for --grpc-port: not an integer");
});

test('a short option group acts on its first letter like getopt (-hv prints help)', (t) => {
  t.deepEqual(parseServiceArgs(['-hv'], NO_FILE), { kind: 'exit', code: 0, stdout: helpText() });
});

test('help lists every command-line option with its argument name', (t) => {
  const help = helpText();
  for (const [args] of EVERY_OPTION) {
    const takesValue = args[1] !== undefined && !args[1].startsWith('--');
    t.true(help.includes(`${args[0]}${takesValue ? '=' : ''}`), args[0]);
  }
  for (const s of ['-h, --help', '-v, --version', '--udp-virtsvc=IPv4,port,IPv6,port', '--flow-timeout=SECONDS']) {
    t.true(help.includes(s), s);
  }
});

test('help shows ranges, defaults and enum choices from the table', (t) => {
  const help = helpText();
  t.regex(help, /--dhcp-mtu=SIZE +.*\(68 - 1500, default 1500\)/);
  t.regex(help, /--nic-type=NICTYPE +.*'mellanox' \(default\), 'tap' or 'bluefield2'/);
  t.regex(help, /--pf0=IFNAME +.*\(required\)/);
});

test('help puts the dpservice-ts extensions in their own section and file-only keys in the file section', (t) => {
  const help = helpText();
  const ext = help.indexOf('dpservice-ts extensions:');
  const file = help.indexOf('Config file:');
  t.true(ext > help.indexOf('--debug-coredumps'));
  for (const name of ['--no-idle-backoff', '--burst=', '--metrics-port=', '--flow-table-size=', '--no-fast-path']) {
    const at = help.indexOf(name);
    t.true(at > ext && at < file, name);
  }
  t.true(help.indexOf('a-pf0 DEVARGS') > file);
  t.false(help.includes('--a-pf0'));
});

// ---- splitArgs ----

const SPLITS: [string, string[], string[], string[]][] = [
  ['splits at the first --', ['-l', '0,1', '--', '--pf0=a'], ['-l', '0,1'], ['--pf0=a']],
  ['keeps a later -- in the service part', ['-l', '0', '--', '--no-stats', '--', 'x'], ['-l', '0'], ['--no-stats', '--', 'x']],
  ['gives everything to EAL without --', ['-l', '0,1', '--no-pci'], ['-l', '0,1', '--no-pci'], []],
  ['gives -v alone to the service', ['-v'], [], ['-v']],
  ['gives --version alone to the service', ['--version'], [], ['--version']],
  ['gives -h alone to the service', ['-h'], [], ['-h']],
  ['gives --help alone to the service', ['--help'], [], ['--help']],
  ['leaves -h to EAL when it is not first', ['--no-pci', '-h'], ['--no-pci', '-h'], []],
  ['handles an empty argv', [], [], []],
  ['handles a leading --', ['--', '-v'], [], ['-v']],
  ['splits before a help flag', ['--no-pci', '--no-huge', '--', '--help'], ['--no-pci', '--no-huge'], ['--help']],
];

for (const [what, argv, eal, service] of SPLITS) {
  test(`splitArgs ${what}`, (t) => {
    t.deepEqual(splitArgs(argv), { eal, service });
  });
}

// ---- config file ----

const CONF = '/etc/dpservice-test.conf';

function withConf(text: string, args: string[] = []): ParseResult {
  return parseServiceArgs(args, { DP_CONF: CONF }, filesReader({ [CONF]: text }));
}

test('the config file sets values and flags, skipping comments and blank lines', (t) => {
  const r = withConf([
    '# generated by prepare.sh',
    '',
    'no-stats',
    'pf0 enp59s0f0np0',
    '  pf1\tenp59s0f1np1  ',
    '   # indented comment',
    'vf-pattern enp59s0f0v',
    'ipv6 2001:db8::1',
    'a-pf0 0000:3b:00.0,class=rxq_cqe_comp_en=0,rx_vec_en=1,representor=pf[0-1]vf[0-31]',
    'multiport-eswitch',
    'no-offload',
    'grpc-port 1400 # trailing comment',
  ].join('\n'));
  if (r.kind !== 'run') return t.fail(r.stderr);
  t.like(r.options, {
    noStats: true, pf0: 'enp59s0f0np0', pf1: 'enp59s0f1np1', vfPattern: 'enp59s0f0v', ipv6: '2001:db8::1',
    aPf0: '0000:3b:00.0,class=rxq_cqe_comp_en=0,rx_vec_en=1,representor=pf[0-1]vf[0-31]',
    aPf1: '', multiportEswitch: true, noOffload: true, grpcPort: 1400,
  });
});

test('the config file accepts CRLF line endings', (t) => {
  const r = withConf('pf0 a\r\npf1 b\r\nipv6 fd00::1\r\nvf-pattern v\r\nno-stats\r\n');
  if (r.kind !== 'run') return t.fail(r.stderr);
  t.is(r.options.pf1, 'b');
  t.true(r.options.noStats);
});

const FILE_ERRORS: [string, string, string][] = [
  ['an unknown key', 'no-stats\n\nfoo bar\n', `Config file '${CONF}' line 3: unknown key 'foo'`],
  ['a key written with =', 'pf0=eth0\n', `Config file '${CONF}' line 1: unknown key 'pf0=eth0'`],
  ['help as a key', 'help\n', `Config file '${CONF}' line 1: unknown key 'help'`],
  ['a flag with a value', 'no-stats yes\n', `Config file '${CONF}' line 1: 'no-stats' is a flag and takes no value`],
  ['a key without its value', '# c\npf0\n', `Config file '${CONF}' line 2: missing value for 'pf0'`],
  ['a key with only a comment after it', 'pf0 # none\n', `Config file '${CONF}' line 1: missing value for 'pf0'`],
  ['text after the value', 'pf0 eth0 eth1\n', `Config file '${CONF}' line 1: unexpected 'eth1' after the value of 'pf0'`],
  ['a bad value', '\n\n\n\ngrpc-port abc\n', `Config file '${CONF}' line 5: Invalid value 'abc' for grpc-port: not an integer`],
  ['a bad address', 'dhcp-dns 1.2.3\n', `Config file '${CONF}' line 1: Invalid value '1.2.3' for dhcp-dns: not an IPv4 address`],
  ['a too long a-pf1', `a-pf1 ${'x'.repeat(128)}\n`, `Config file '${CONF}' line 1: Invalid value '${'x'.repeat(128)}' for a-pf1: longer than 127 bytes`],
];

for (const [what, text, message] of FILE_ERRORS) {
  test(`the config file rejects ${what}, naming the file and line`, (t) => {
    t.is(errorOf(t, withConf(text, REQUIRED)), message);
  });
}

test('command-line scalars override the config file', (t) => {
  const r = withConf('grpc-port 1400\nnic-type tap\npf0 fromfile\n', [...REQUIRED, '--grpc-port=1500']);
  if (r.kind !== 'run') return t.fail(r.stderr);
  t.is(r.options.grpcPort, 1500);
  t.is(r.options.nicType, 'tap');
  t.is(r.options.pf0, 'eth0');
});

test('DNS servers from the config file and the command line accumulate, file first', (t) => {
  const r = withConf('dhcp-dns 8.8.8.8\ndhcpv6-dns 2001:db8::53\n', [...REQUIRED, '--dhcp-dns', '1.1.1.1']);
  if (r.kind !== 'run') return t.fail(r.stderr);
  t.deepEqual(r.options.dhcpDns, ['8.8.8.8', '1.1.1.1']);
  t.deepEqual(r.options.dhcpv6Dns, ['2001:db8::53']);
});

test('virtual services from the file count towards duplicates on the command line', (t) => {
  const msg = errorOf(t, withConf('udp-virtsvc 1.2.3.4,53,2a00::1,53\n', [...REQUIRED, '--udp-virtsvc=1.2.3.4,53,2a00::2,53']));
  t.regex(msg, /^Invalid value .* for --udp-virtsvc: IPv4 endpoint 1\.2\.3\.4:53 is already used$/);
});

test('required options may come from the config file alone', (t) => {
  const r = withConf('pf0 a\npf1 b\nipv6 fd00::1\nvf-pattern v\n');
  t.is(r.kind, 'run');
});

test('an empty DP_CONF reads no file at all', (t) => {
  const asked: string[] = [];
  const r = parseServiceArgs(REQUIRED, { DP_CONF: '' }, (path) => {
    asked.push(path);
    return 'no-stats\n';
  });
  t.deepEqual(asked, []);
  t.is(r.kind, 'run');
});

test('without DP_CONF the default file is read', (t) => {
  const r = parseServiceArgs(REQUIRED, {}, filesReader({ [DEFAULT_CONF_FILE]: 'no-stats\n' }));
  if (r.kind !== 'run') return t.fail(r.stderr);
  t.is(DEFAULT_CONF_FILE, '/run/dpservice/dpservice.conf');
  t.true(r.options.noStats);
});

test('a missing default file is fine', (t) => {
  t.is(parseServiceArgs(REQUIRED, {}, filesReader({})).kind, 'run');
});

test('a missing file named by DP_CONF is an error naming the file', (t) => {
  t.is(
    errorOf(t, parseServiceArgs(REQUIRED, { DP_CONF: '/nonexistent/dp.conf' }, filesReader({}))),
    "Cannot open config file '/nonexistent/dp.conf' (named by DP_CONF): no such file",
  );
});

test('an unreadable config file is an error naming the file', (t) => {
  const r = parseServiceArgs(REQUIRED, {}, () => {
    throw new Error('EACCES: permission denied');
  });
  t.is(errorOf(t, r), `Cannot read config file '${DEFAULT_CONF_FILE}': EACCES: permission denied`);
});

test('config file errors are reported before help is handled, like upstream', (t) => {
  t.regex(errorOf(t, withConf('bogus\n', ['-h'])), /unknown key 'bogus'/);
});

test('readConfigFile reads a real file and reports a missing one as undefined', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dpservice-options-'));
  try {
    const file = join(dir, 'dpservice.conf');
    writeFileSync(file, 'no-stats\n');
    t.is(readConfigFile(file), 'no-stats\n');
    t.is(readConfigFile(join(dir, 'missing.conf')), undefined);
    t.is(readConfigFile(join(file, 'below-a-file')), undefined);
    const r = parseServiceArgs(REQUIRED, { DP_CONF: file });
    t.true(r.kind === 'run' && r.options.noStats);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
