/**
 * The shim's encapsulation (dps_encap_setup, io_encap) on real DPDK in this process: frames sent
 * through dps_io with txSet TX_ENCAP4/TX_ENCAP6 and only their txEncap word come back out of the
 * net_ring ports with the same bytes as the fast path's JavaScript writer (writeUnderlay and the
 * route's nexthop) gives them, from the port and route tables as they are when the frame goes out:
 * per uplink, per VM port, per route, IPv4 and IPv6 inside, after a router MAC changes, after a
 * route changes and the configuration generation says so; an out-of-range reference gets a zero
 * destination, as the JS writer's reads would.
 */
import test from 'ava';
import { TX_ENCAP4, TX_ENCAP6, TX_MOVED } from '../../src/ffi/dpdk.js';
import { ETH_HLEN, IPV6_DST, IPV6_HLEN } from '../../src/packet/headers.js';
import { ulRef } from '../../src/tables/flow-table.js';
import { nexthopWord } from '../../src/tables/lpm-core.js';
import { Lpm4Table } from '../../src/tables/lpm.js';
import { Lpm6Table } from '../../src/tables/lpm6.js';
import { PortState, PortTable } from '../../src/tables/port-table.js';
import { encapTables } from '../../src/workers/fast-path.js';
import { writeNexthop, writeUnderlay } from '../../src/workers/nodes/ipip-encap.js';
import { startRingShim } from './shim-rig.js';

const mac = (last: number): Uint8Array => Uint8Array.of(0x02, 0, 0, 0, 0, last);
const v6addr = (tag: number): Uint8Array => Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0xfd : i === 15 ? tag : i === 7 ? 0xaa : 0));

test('the shim writes encapsulations byte for byte as the fast path\'s JS writer, from the tables as they are at tx', (t) => {
  const dpdk = startRingShim(t, 'shim-encap', (d) => d.poolCreate(2047, 0, 2048));
  const info = dpdk.poolInfo();
  const bytes = new Uint8Array(dpdk.poolView());
  const io = dpdk.ioArea();
  io.pollPort.set([0, 1]);
  const avail = info.available;

  // uplinks 0 and 1 (the ring ports) with their own MACs and learned routers; VM ports 5 and 200
  const ports = PortTable.create();
  ports.initPort(0, PortState.PF, mac(0x10), v6addr(0x10));
  ports.initPort(1, PortState.PF, mac(0x11), v6addr(0x11));
  ports.learnVmMac(0, mac(0xe0), 0);
  ports.learnVmMac(1, mac(0xe1), 0);
  ports.initPort(5, PortState.VF_IDLE, mac(0x05), v6addr(0x05));
  ports.initPort(200, PortState.VF_IDLE, mac(0xc8), v6addr(0xc8));
  const r4 = Lpm4Table.create({ maxRoutes: 64, maxRoutesPerVni: 64, maxVnis: 4 });
  const r6 = Lpm6Table.create({ maxRoutes: 64, maxRoutesPerVni: 64, maxVnis: 4 });
  const a = r4.insert(100, 0x0a000000, 8, 1, 100, v6addr(0x41));
  const b4 = r4.insert(100, 0x0b000000, 8, 1, 100, v6addr(0x42));
  const c = r6.insert(100, v6addr(0x01), 64, 1, 100, v6addr(0x61));
  t.true(a > 0 && b4 > 0 && c > 0, 'routes');
  // the flow table's configuration generation: the route tables' writer bumps it after a change
  const generation = new Int32Array(new SharedArrayBuffer(4)).fill(1);
  const tables = encapTables(ports, r4.fields, r6.fields, generation);
  const layout = tables.layout;
  t.throws(() => dpdk.encapSetup({ ...tables, fields4: new Int32Array(64) }), { instanceOf: TypeError });
  t.throws(() => dpdk.encapSetup({ ...tables, layout: [...layout.slice(0, 5), 250, ...layout.slice(6)] }), { message: /Invalid argument/ });
  t.throws(() => dpdk.encapSetup({ ...tables, generation: new Int32Array(1) }), { instanceOf: TypeError });
  dpdk.encapSetup(tables);

  // out port, in port, route table and record, inner IPv6, inner length
  const cases: [number, number, 'v4' | 'v6', number, boolean, number][] = [
    [1, 5, 'v4', a, false, 60],
    [0, 5, 'v4', b4, false, 98],
    [1, 200, 'v6', c, true, 80],
    [0, 200, 'v4', a, false, 1400],
    [1, 5, 'v4', 1 << 20, false, 70],   // no such record: a zero destination
  ];
  const expected = (k: number, kept: Uint8Array, fields4 = r4.fields): Uint8Array => {
    const [out, inPort, table, r, innerV6, innerLen] = cases[k]!;
    const frame = new Uint8Array(ETH_HLEN + IPV6_HLEN + innerLen);
    const dv = new DataView(frame.buffer);
    writeUnderlay(ports, dv, 0, out, inPort, innerLen, innerV6);
    writeNexthop(dv, ETH_HLEN + IPV6_DST, table === 'v4' ? fields4 : r6.fields, r);
    frame.set(kept, ETH_HLEN + IPV6_HLEN);
    return frame;
  };

  // by default each case twice in one burst, interleaved: the second of each way is a copy of the
  // first's headers; `fields4`: the IPv4 routes the headers are expected from
  const all = [...cases.keys(), ...cases.keys()];
  const roundTrip = (label: string, which = all, fields4 = r4.fields): void => {
    const burst = which.map((k) => cases[k]!);
    const offs = new Uint32Array(burst.length);
    t.is(dpdk.allocMbufs(offs, burst.length), burst.length);
    const inner: Uint8Array[] = [];
    burst.forEach(([out, inPort, table, r, innerV6, innerLen], k) => {
      // the inner frame where rx would have put it: Ethernet, then the packet; stale bytes where
      // the outer headers go
      const start = offs[k]! + info.bufShift + info.headroom;
      bytes.fill(0xa5, start - IPV6_HLEN, start);
      for (let i = 0; i < ETH_HLEN + innerLen; i++) bytes[start + i] = (i * 7 + k) & 0xff;
      inner.push(bytes.slice(start + ETH_HLEN, start + ETH_HLEN + innerLen));
      io.txOff[k] = offs[k]!;
      io.txStart[k] = start - IPV6_HLEN;
      io.txLen[k] = ETH_HLEN + innerLen + IPV6_HLEN;
      io.txPort[k] = out;
      io.txSet[k] = innerV6 ? TX_ENCAP6 : TX_ENCAP4;
      io.txEncap[k] = (ulRef(r, table === 'v6') << 8) | inPort;
    });
    const n = dpdk.io(0, burst.length, 0, 2, 32, 64);
    t.is(io.result[0], burst.length, `${label}: all sent`);
    t.is(n, burst.length, `${label}: all received`);
    for (let i = 0; i < n; i++) {
      const k = offs.indexOf(io.rxOff[i]!);
      const got = bytes.slice(io.rxStart[i]!, io.rxStart[i]! + io.rxLen[i]!);
      t.is(io.rxPort[i], burst[k]![0], `${label}: packet ${k} on its uplink`);
      t.deepEqual(got, expected(which[k]!, inner[k]!, fields4), `${label}: packet ${k} as the JS writer`);
      io.freeOff[i] = io.rxOff[i]!;
    }
    t.is(dpdk.io(0, 0, n, 0, 32, 0), 0);
  };

  roundTrip('first');
  // the zero destination of the out-of-range reference, as the JS writer's undefined reads give
  t.deepEqual(expected(4, new Uint8Array(70)).subarray(ETH_HLEN + IPV6_DST, ETH_HLEN + IPV6_HLEN), new Uint8Array(16));
  // a new router MAC on uplink 1 and another underlay on port 5: the next frames carry them
  ports.learnVmMac(1, mac(0xe9), 0);
  ports.initPort(5, PortState.VF_IDLE, mac(0x05), v6addr(0x55));
  roundTrip('after changes');

  // headers stay composed across bursts while the tables are unchanged: a route's nexthop
  // rewritten in place, without the generation bump every route change makes, is not seen; after
  // the bump it is
  roundTrip('case 0 composed', [0]);
  const before = r4.fields.slice();
  r4.fields.set(new Int32Array(v6addr(0x4f).buffer), nexthopWord(a));
  roundTrip('route changed, generation not yet bumped: the composed headers', [0], before);
  Atomics.add(generation, 0, 1);
  roundTrip('route changed, generation bumped', [0, 3, 0]);

  // off: TX_MOVED frames and encapsulation descriptors alike go out as JS left them
  dpdk.encapSetup(null);
  const offs = new Uint32Array(2);
  t.is(dpdk.allocMbufs(offs, 2), 2);
  for (let k = 0; k < 2; k++) {
    const start = offs[k]! + info.bufShift + info.headroom;
    bytes.fill(0x3c + k, start, start + 100);
    io.txOff[k] = offs[k]!;
    io.txStart[k] = start;
    io.txLen[k] = 100;
    io.txPort[k] = k;
    io.txSet[k] = k === 0 ? TX_MOVED : TX_ENCAP4;
    io.txEncap[k] = (ulRef(a, false) << 8) | 5;
  }
  const n = dpdk.io(0, 2, 0, 2, 32, 64);
  t.is(n, 2);
  for (let i = 0; i < n; i++) {
    const k = offs.indexOf(io.rxOff[i]!);
    t.deepEqual(bytes.slice(io.rxStart[i]!, io.rxStart[i]! + io.rxLen[i]!), new Uint8Array(100).fill(0x3c + k), `off: frame ${k} untouched`);
    io.freeOff[i] = io.rxOff[i]!;
  }
  t.is(dpdk.io(0, 0, n, 0, 32, 0), 0);
  t.is(dpdk.poolInfo().available, avail, 'every mbuf back in the pool');
});
