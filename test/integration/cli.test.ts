/**
 * The dpservice-bin launcher and command line, as upstream's harness and operators use them: an
 * empty environment, -v, -h, and bad options that must fail with a message naming the option,
 * before any DPDK resource is touched.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { ROOT } from './harness.js';

interface Out { code: number; stdout: string; stderr: string }

function bin(args: string[], env: Record<string, string> = {}): Promise<Out> {
  return new Promise((res) => {
    execFile(resolve(ROOT, 'bin/dpservice-bin'), args, { env, timeout: 20000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      res({ code, stdout, stderr });
    });
  });
}

test('-v prints the version with an empty environment (no PATH)', async (t) => {
  const r = await bin(['-v']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^DP Service version v\d+\.\d+\.\d+/);
});

test('-h after the EAL separator lists every upstream option with its default', async (t) => {
  const r = await bin(['--', '-h'], { DP_CONF: '' });
  t.is(r.code, 0, r.stderr);
  for (const opt of ['--pf0', '--pf1', '--ipv6', '--vf-pattern', '--dhcp-mtu', '--dhcp-dns', '--dhcpv6-dns', '--wcmp',
    '--nic-type', '--no-stats', '--enable-ipv6-overlay', '--no-offload', '--grpc-port', '--flow-timeout', '--color',
    '--log-format', '--multiport-eswitch', '--active-lockfile', '--sync-tap', '--debug-coredumps']) {
    t.true(r.stdout.includes(opt), `help lists ${opt}`);
  }
});

const REQUIRED = ['--pf0=a', '--pf1=b', '--ipv6=fc00::1', '--vf-pattern=x'];
const bad: Array<[string, string[], RegExp]> = [
  ['an unknown option', [...REQUIRED, '--bogus'], /--bogus/],
  ['a port out of range', [...REQUIRED, '--grpc-port=80'], /--grpc-port/],
  ['an invalid IPv6 address', [...REQUIRED, '--ipv6=fc00::zz'], /--ipv6/],
  ['an invalid DNS server', [...REQUIRED, '--dhcp-dns=1.2.3'], /--dhcp-dns/],
  ['an unknown NIC type', [...REQUIRED, '--nic-type=foo'], /--nic-type/],
  ['a missing required option', REQUIRED.slice(1), /--pf0/],
];
for (const [what, args, msg] of bad) {
  test(`${what} exits non-zero with a message naming the option`, async (t) => {
    const r = await bin(['-l', '0,1', '--no-huge', '--', ...args], { DP_CONF: '' });
    t.not(r.code, 0);
    t.regex(r.stderr, msg);
  });
}

test('a config file named by DP_CONF that does not exist is an error naming the file', async (t) => {
  const r = await bin(['-l', '0,1', '--', '--pf0=a'], { DP_CONF: '/nonexistent/dps.conf' });
  t.not(r.code, 0);
  t.regex(r.stderr, /\/nonexistent\/dps\.conf/);
});

test('a port that does not exist stops the start-up with a message naming it', async (t) => {
  const r = await bin(['-l', '0,1', '--no-huge', '-m', '256', '--no-pci', `--file-prefix=dcli${process.pid}`, '--',
    '--pf0=no_such_port', '--pf1=nope', '--ipv6=fc00:1::1', '--vf-pattern=x', '--grpc-port=21449'], { DP_CONF: '' });
  t.not(r.code, 0);
  t.regex(r.stderr, /--pf0: no DPDK port named no_such_port/);
});
