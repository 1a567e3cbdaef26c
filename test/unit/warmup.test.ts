/**
 * The worker's warm-up (src/workers/warmup.ts): its synthetic bursts all go through the graph and
 * out, on tables of its own, so that the worker's loop starts with the graph's type feedback.
 */
import test from 'ava';
import { nodeSettings } from '../../src/actors/dataplane.js';
import { parseServiceArgs } from '../../src/config/options.js';
import type { ForwardingSettings } from '../../src/workers/node-context.js';
import { warmUp } from '../../src/workers/warmup.js';

function settings() {
  const parsed = parseServiceArgs(['--pf0=net_tap0', '--pf1=net_tap1', '--vf-pattern=net_tap', '--ipv6=fc00:1::1', '--nic-type=tap'], { DP_CONF: '' });
  if (parsed.kind !== 'run') throw new Error('options');
  return nodeSettings(parsed.options);
}

function forwarding(pf0: number, pf1: number): ForwardingSettings {
  return { pf0, pf1, wcmp: 100, underlayPrefix: Uint8Array.of(0xfc, 0, 0, 1, 0, 0, 0, 0), flowTimeout: 30, fastPath: true };
}

test('every synthetic packet of the warm-up is forwarded by the graph: new and known flows, VM to VM, encapsulated, tunnelled replies, TCP and ICMP', (t) => {
  t.is(warmUp(settings(), forwarding(0, 1), 40), 40 * 32);
  // the uplinks need not be the first ports
  t.is(warmUp(settings(), forwarding(2, 3), 10), 10 * 32);
});

test('a worker without an uplink skips the warm-up', (t) => {
  t.is(warmUp(settings(), forwarding(-1, -1), 10), 0);
});
