/**
 * The mbuf pool in EAL's memory, the path of machines with hugepages (and the fallback when the
 * pool's own mapping fails), run here without them (dps_pool_create_eal): the pool view covers
 * every mbuf, and frames written through it go out of two net_ring ports and come back as
 * written, with no mbuf lost.
 */
import test from 'ava';
import { mappingOf, startRingShim } from './shim-rig.js';

test('the pool in EAL\'s memory: frames written through the pool view go out and come back, no mbuf lost', (t) => {
  const dpdk = startRingShim(t, 'pool-eal', (d) => d.poolCreateInEal(2047, 32, 2048));
  const info = dpdk.poolInfo();
  t.is(info.mbufs, 2047);
  // EAL's memory without hugepages is a shared memfd, not the private mapping the service makes
  const map = mappingOf(dpdk.poolAddress());
  t.truthy(map, 'the pool is mapped');
  t.regex(map!.header, / rw-s /, `EAL's shared memory: ${map!.header}`);
  const bytes = new Uint8Array(dpdk.poolView());
  t.true(bytes.length >= info.regionLen, 'the view covers the region');
  const io = dpdk.ioArea();
  io.pollPort.set([0, 1]);
  const avail = dpdk.poolInfo().available;

  // 32 frames, each with its index, alternately on the two ports, half of them moved 8 bytes into
  // the headroom with a new length (as encapsulation does)
  const n = 32;
  const offs = new Uint32Array(n);
  t.is(dpdk.allocMbufs(offs, n), n);
  const expect = new Map<number, { len: number; port: number }>();
  for (let i = 0; i < n; i++) {
    const moved = i % 2 === 1;
    const start = offs[i]! + info.bufShift + info.headroom - (moved ? 8 : 0);
    const len = 64 + i;
    bytes.fill(0xa5, start, start + len);
    bytes[start] = i;
    bytes[start + len - 1] = 0x5a;
    io.txOff[i] = offs[i]!;
    io.txStart[i] = start;
    io.txLen[i] = len;
    io.txPort[i] = i % 2;
    io.txSet[i] = 1;
    expect.set(i, { len, port: i % 2 });
  }
  const got = dpdk.io(0, n, 0, 2, 32, 64);
  t.is(io.result[0], n, 'all sent');
  t.is(got, n, 'all received back');
  for (let k = 0; k < got; k++) {
    const s = io.rxStart[k]!;
    const i = bytes[s]!;
    const e = expect.get(i);
    t.truthy(e, `frame ${i} was sent`);
    t.is(io.rxLen[k], e!.len, `frame ${i}'s length`);
    t.is(io.rxPort[k], e!.port, `frame ${i}'s port`);
    t.is(bytes[s + e!.len - 1], 0x5a, `frame ${i}'s last byte`);
    t.is(io.rxOff[k], offs[i], `frame ${i} in its own mbuf`);
    io.freeOff[k] = io.rxOff[k]!;
  }
  t.is(dpdk.io(0, 0, got, 0, 32, 0), 0);
  t.is(dpdk.poolInfo().available, avail, 'every mbuf back in the pool');
});
