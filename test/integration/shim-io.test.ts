/**
 * The shim's one hot call, dps_io, on real DPDK in this process: two net_ring ports (what a
 * ring port transmits it receives again), frames written through the pool view, sent with their
 * ports interleaved in runs, received back grouped per port with the starts and lengths JS gave, drops
 * freed, a packet for a port that does not exist freed and counted, no mbuf lost; and, without
 * hugepages, the pool on a mapping of its own advised for transparent huge pages.
 */
import test from 'ava';
import { loadShim } from '../../src/ffi/dpdk.js';
import { flowHashV4 } from '../../src/tables/flow-table.js';
import { mappingOf, startRingShim } from './shim-rig.js';

test('dps_io sends interleaved packets each on its port in order, rewrites moved frames, frees drops, loses no mbuf', (t) => {
  const dpdk = startRingShim(t, 'shim-io', (d) => d.poolCreate(2047, 0, 2048));
  const info = dpdk.poolInfo();
  // without hugepages the pool has a private anonymous mapping of its own, advised for
  // transparent huge pages (VmFlags hg), not EAL's shared memfd, which gets none
  const map = mappingOf(dpdk.poolAddress());
  t.truthy(map, 'the pool is mapped');
  t.regex(map!.header, /^[0-9a-f]+-[0-9a-f]+ rw-p 00000000 00:00 0\s*$/, `private anonymous: ${map!.header}`);
  t.true(Number(map!.fields.get('Size')!.split(' ')[0]) * 1024 >= info.regionLen, 'one mapping holds every mbuf');
  t.true(map!.fields.get('VmFlags')!.split(' ').includes('hg'), 'advised for huge pages');
  t.log(`pool mapping ${map!.fields.get('Size')}, ${map!.fields.get('AnonHugePages')} of it on huge pages`);
  const bytes = new Uint8Array(dpdk.poolView());
  const io = dpdk.ioArea();
  io.pollPort.set([0, 1]);
  const avail = dpdk.poolInfo().available;

  const offs = new Uint32Array(8);
  t.is(dpdk.allocMbufs(offs, 8), 8);
  // six frames on ports 0,0,1,0,1,1 (runs of one port, port 0 resumed after port 1's run), a
  // seventh for a port that does not exist between them; odd frames moved 4 bytes into the
  // headroom with a new length
  const framePort = [0, 0, 1, 0, 1, 1];
  const txOrder = [0, 1, 2, 6, 3, 4, 5];
  txOrder.forEach((i, k) => {
    const start = offs[i]! + info.bufShift + info.headroom - (i % 2 === 1 ? 4 : 0);
    const len = 60 + i;
    bytes.fill(0, start, start + len);
    bytes[start] = i;
    io.txOff[k] = offs[i]!;
    io.txStart[k] = start;
    io.txLen[k] = len;
    io.txPort[k] = i === 6 ? 999 : framePort[i]!;
    io.txSet[k] = i === 6 ? 0 : 1;
  });
  // the eighth dropped
  io.freeOff[0] = offs[7]!;
  const n = dpdk.io(0, 7, 1, 2, 32, 64);
  t.is(io.result[0], 6, 'sent');
  t.is(io.result[1], 1, 'unsendable freed');
  t.is(n, 6, 'received back');
  const got = Array.from({ length: n }, (_, i) => ({ first: bytes[io.rxStart[i]!], len: io.rxLen[i], port: io.rxPort[i] }));
  t.deepEqual(got, [0, 1, 3, 2, 4, 5].map((i) => ({ first: i, len: 60 + i, port: framePort[i] })), 'each port in order, as written');
  for (let i = 0; i < n; i++) t.is(io.rxOff[i], offs[got[i]!.first!], 'same mbufs');

  // send them back out unchanged (txSet 0), then drop them all after the loop-back
  for (let i = 0; i < n; i++) {
    io.txOff[i] = io.rxOff[i]!;
    io.txPort[i] = io.rxPort[i]!;
    io.txSet[i] = 0;
  }
  const m = dpdk.io(0, n, 0, 2, 32, 64);
  t.is(m, 6);
  // lengths kept without a rewrite; this poll started at the second port (the first port rotates)
  t.deepEqual(Array.from(io.rxLen.subarray(0, m)), [62, 64, 65, 60, 61, 63]);
  t.deepEqual(Array.from(io.rxPort.subarray(0, m)), [1, 1, 1, 0, 0, 0]);

  // when `max` cuts a poll short, the port left out is polled first next time: send the six back,
  // then take them two at a time
  for (let i = 0; i < m; i++) {
    io.txOff[i] = io.rxOff[i]!;
    io.txPort[i] = io.rxPort[i]!;
    io.txSet[i] = 0;
  }
  const ports: number[] = [];
  let got2 = dpdk.io(0, m, 0, 2, 2, 2);
  const offsBack: number[] = [];
  for (let round = 0; round < 3; round++) {
    t.is(got2, 2, `round ${round}: two packets`);
    for (let i = 0; i < got2; i++) { ports.push(io.rxPort[i]!); offsBack.push(io.rxOff[i]!); }
    if (round < 2) got2 = dpdk.io(0, 0, 0, 2, 2, 2);
  }
  // three on each port: 2 of port 0, 2 of port 1, then port 0's last and port 1's last
  t.deepEqual(ports, [0, 0, 1, 1, 0, 1], 'each call starts at the next port');
  t.is(dpdk.io(0, 0, 0, 2, 2, 2), 0, 'all six received');
  offsBack.forEach((o, i) => { io.freeOff[i] = o; });
  t.is(dpdk.io(0, 0, offsBack.length, 0, 32, 0), 0);
  t.is(dpdk.poolInfo().available, avail, 'every mbuf back in the pool');

  // the flow prefetch (a hint) on: frames of every kind, short ones too, come back as sent
  const idx = new Int32Array(new SharedArrayBuffer(16 * 16 * 4));
  const pf = new Int32Array(new SharedArrayBuffer(4 * 2 * 3));
  pf.set([1, 0, 1, 7, 1, 9]);
  t.throws(() => dpdk.prefetchSetup(new Int32Array(16), 15, 16, pf), { instanceOf: TypeError });
  t.throws(() => dpdk.prefetchSetup(idx, 15, 16, null), { instanceOf: RangeError });
  t.throws(() => dpdk.prefetchSetup(idx, 15, 16, new Int32Array(new SharedArrayBuffer(4))), { instanceOf: RangeError });
  dpdk.prefetchSetup(idx, 15, 16, pf);
  const udp = [0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x9c, 0x40, 0, 80, 0, 8, 0, 0];
  const kinds = [udp, udp.slice(0, 20), [0x86, 0xdd, ...udp.slice(2)], [0x08, 0x00, 0x46, ...udp.slice(3)], [0x08, 0x00]];
  const offs2 = new Uint32Array(kinds.length);
  t.is(dpdk.allocMbufs(offs2, kinds.length), kinds.length);
  kinds.forEach((k, i) => {
    const start = offs2[i]! + info.bufShift + info.headroom;
    bytes.fill(0xee, start, start + 12);
    bytes.set(k, start + 12);
    io.txOff[i] = offs2[i]!;
    io.txStart[i] = start;
    io.txLen[i] = 12 + k.length;
    io.txPort[i] = i % 2;
    io.txSet[i] = 1;
  });
  const back = dpdk.io(0, kinds.length, 0, 2, 32, 64);
  t.is(back, kinds.length, 'all received with the prefetch on');
  const lens = Array.from(io.rxLen.subarray(0, back)).sort((a, b) => a - b);
  t.deepEqual(lens, kinds.map((k) => 12 + k.length).sort((a, b) => a - b), 'unchanged');
  dpdk.prefetchSetup(null, 0, 0, null);
  for (let i = 0; i < back; i++) io.freeOff[i] = io.rxOff[i]!;
  t.is(dpdk.io(0, 0, back, 0, 32, 0), 0);
  t.is(dpdk.poolInfo().available, avail, 'every mbuf back in the pool');
});

test('the shim\'s flow hash for its prefetch is the fast path\'s (flowHashV4)', (t) => {
  const dpdk = loadShim();
  let seed = 12345;
  const rnd = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) | 0;
    return seed ^ (seed >>> 11);
  };
  for (let i = 0; i < 10000; i++) {
    const w = [rnd() & 0xffffff, rnd(), rnd() & 0x1ff, rnd(), rnd()] as const;
    if ((dpdk.flowHashV4(...w) | 0) !== flowHashV4(...w)) {
      t.fail(`differs for ${w.join(' ')}`);
      return;
    }
  }
  t.pass();
});
