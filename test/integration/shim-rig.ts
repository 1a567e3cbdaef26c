/** The shim's pool tests' rig: EAL with two net_ring ports in this process, and /proc/self/smaps. */
import { readFileSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import { type Dpdk, loadShim } from '../../src/ffi/dpdk.js';

/**
 * Starts EAL in this process without hugepages, with two net_ring ports (0 and 1: what one
 * transmits it receives again), an mbuf pool of 2,047 made by `createPool`, and both ports set up;
 * stops them and EAL when the test ends.
 */
export function startRingShim(t: ExecutionContext, name: string, createPool: (dpdk: Dpdk) => number): Dpdk {
  const dpdk = loadShim();
  const eal = [name, '-l', '0', '--no-huge', '-m', '256', '--no-pci', `--file-prefix=${name.replace(/-/g, '')}${process.pid}`,
    '--log-level=lib.*:error', '--vdev=net_ring0', '--vdev=net_ring1'];
  t.true(dpdk.ealInit(eal.length, eal) >= 0, 'EAL init');
  t.teardown(() => {
    for (const p of [0, 1]) { dpdk.portStop(p); dpdk.portClose(p); }
    dpdk.ealCleanup();
  });
  t.is(createPool(dpdk), 0, 'pool');
  for (const p of [0, 1]) t.is(dpdk.portSetup(p, 1, 256, 256), 0, `port ${p}`);
  return dpdk;
}

/** The /proc/self/smaps entry (header line and fields) of the mapping that holds `addr`. */
export function mappingOf(addr: bigint): { header: string; fields: Map<string, string> } | undefined {
  let found: { header: string; fields: Map<string, string> } | undefined;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (m) {
      if (found) return found;
      if (BigInt(`0x${m[1]!}`) <= addr && addr < BigInt(`0x${m[2]!}`)) found = { header: line, fields: new Map() };
    } else if (found) {
      const kv = /^(\w+):\s*(.*)$/.exec(line);
      if (kv) found.fields.set(kv[1]!, kv[2]!);
    }
  }
  return found;
}
