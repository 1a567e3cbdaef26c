import test from 'ava';
import { PF_ENCAP } from '../../src/packet/batch.js';
import { rteJhashWords, upstreamFlowHash, upstreamPortmapHash, upstreamVirtsvcHash } from '../../src/packet/upstream-hash.js';
import { ConntrackNode } from '../../src/workers/nodes/conntrack.js';
import { DnatNode } from '../../src/workers/nodes/dnat.js';
import { Ipv4LookupNode } from '../../src/workers/nodes/ipv4-lookup.js';
import { ClsNode } from '../../src/workers/nodes/cls.js';
import {
  addPf, cat, eth, hex, icmpEcho, ip4num, ip6, ipv4, makeCtx, PORT_MAC, route4, runPath, tcp, udp, VM_IPV4, VM_MAC, withL4Checksum4,
} from './frames.js';

const scratch = new Int32Array(11);

function hash4(src: string, dst: string, proto: number, ps: number, pd: number, vni: number): number {
  return upstreamFlowHash(scratch, false, proto, Int32Array.of(ip4num(src) | 0, 0, 0, 0), 0,
    Int32Array.of(ip4num(dst) | 0, 0, 0, 0), 0, ps, pd, 0, vni);
}

test('upstream\'s known vectors: ICMP echo (type 8, id 0) from 10.100.1.1 in VNI 100', (t) => {
  // from upstream's test suite: these two destinations leave by pf0 and pf1 at --wcmp 50
  t.is(hash4('10.100.1.1', '10.100.2.102', 1, 8, 0, 100), 3166405840);
  t.is(hash4('10.100.1.1', '10.100.2.125', 1, 8, 0, 100), 730441168);
});

test('upstream\'s NAT port search start: rte_jhash of the packed 23-byte netnat_portmap_key, as DPDK 22.11 computes it', (t) => {
  // vectors from DPDK's rte_jhash (rte_jhash.h, built against libdpdk-dev here) over
  // {uint32 vni; {16 address bytes, IPv4 host-order in the first four; bool is_v6}; uint16 port}
  const k = new Int32Array(6);
  t.is(upstreamPortmapHash(k, 100, ip4num('10.100.1.1'), 40000), 816220727);
  t.is(upstreamPortmapHash(k, 100, ip4num('10.100.1.1'), 1246), 2483502685);
  t.is(upstreamPortmapHash(k, 100, ip4num('10.100.1.1'), 0x40), 1426867956);
  t.is(upstreamPortmapHash(k, 100, ip4num('10.100.1.1'), 0x50), 1571556105);
  t.is(upstreamPortmapHash(k, 100, ip4num('10.100.1.2'), 40000), 1048756706);
  t.is(upstreamPortmapHash(k, 0xffffff, ip4num('192.168.1.100'), 80), 1041770449);
  t.is(upstreamPortmapHash(k, 0xffffff, ip4num('192.168.1.100'), 65535), 259907690);
});

test('upstream\'s virtual service connection hash: rte_jhash_2words of the packed {port id, VM port, VM address} key, initval 0xfee1900d', (t) => {
  // vectors from DPDK's rte_jhash_2words (rte_jhash.h, built against libdpdk-dev here) over the
  // two little-endian words of {uint16 vf_port_id; be16 vf_l4_port; be32 vf_ip}
  t.is(upstreamVirtsvcHash(2, 12345, 0xac100164), 877326649);
  t.is(upstreamVirtsvcHash(2, 12346, 0xac100164), 1516027965);
  t.is(upstreamVirtsvcHash(3, 12348, 0x0a000001), 44742149);
  t.is(upstreamVirtsvcHash(2, 40000, 0xc0a80001), 2692063492);
  t.is(upstreamVirtsvcHash(5, 1, 0xffffffff), 3063590521);
});

test('every key field changes the hash', (t) => {
  const base = hash4('10.100.1.1', '10.100.2.102', 17, 1000, 53, 100);
  const variants: [string, number][] = [
    ['source', hash4('10.100.1.2', '10.100.2.102', 17, 1000, 53, 100)],
    ['destination', hash4('10.100.1.1', '10.100.2.103', 17, 1000, 53, 100)],
    ['protocol', hash4('10.100.1.1', '10.100.2.102', 6, 1000, 53, 100)],
    ['source port', hash4('10.100.1.1', '10.100.2.102', 17, 1001, 53, 100)],
    ['destination port', hash4('10.100.1.1', '10.100.2.102', 17, 1000, 54, 100)],
    ['VNI', hash4('10.100.1.1', '10.100.2.102', 17, 1000, 53, 101)],
  ];
  for (const [what, h] of variants) t.not(h, base, what);
  const dv = (s: string): Int32Array => {
    const v = new DataView(ip6(s).buffer);
    return Int32Array.from([0, 1, 2, 3], (i) => v.getInt32(i * 4));
  };
  const v6 = upstreamFlowHash(scratch, true, 17, dv('2000::1'), 0, dv('2000::2'), 0, 1000, 53, 0, 100);
  t.not(v6, upstreamFlowHash(scratch, true, 17, dv('2000::1'), 0, dv('2000::3'), 0, 1000, 53, 0, 100));
  t.true(v6 >= 0 && v6 <= 0xffffffff, 'unsigned 32-bit');
});

test('rte_jhash of zero words is the initial value mix of the length and seed only', (t) => {
  // n = 0: no words are read and c = 0xdeadbeef + seed
  t.is(rteJhashWords(new Int32Array(0), 0, 0), 0xdeadbeef);
  t.is(rteJhashWords(new Int32Array(0), 0, 1), 0xdeadbef0);
  t.not(rteJhashWords(Int32Array.of(1), 1, 0), rteJhashWords(Int32Array.of(2), 1, 0));
});

test('with --wcmp 50 the first known destination leaves by pf0 and the second by pf1, as upstream', (t) => {
  const ctx = makeCtx({}, {}, 3, { wcmp: 50 });
  addPf(ctx, 1, '22:22:22:22:22:01');
  route4(ctx, 100, '10.100.2.0', 24, -1, 'fc00:2::1');
  const nodes = [new ClsNode(ctx, true), new ConntrackNode(ctx), new DnatNode(ctx), new Ipv4LookupNode(ctx)];
  const ping = (dst: string): Uint8Array => cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4(VM_IPV4, dst, 1, icmpEcho(8, 0, 1)));
  for (const [dst, pf] of [['10.100.2.102', 0], ['10.100.2.125', 1]] as const) {
    const r = runPath(nodes, ping(dst), 3);
    t.deepEqual(r.path, ['cls', 'conntrack', 'dnat', 'ipv4_lookup'], dst);
    t.is(r.exit, 'snat', dst);
    t.is(r.b.outPort[r.slot], pf, dst);
    t.is(r.b.flags[r.slot]! & PF_ENCAP, PF_ENCAP, dst);
    t.is(hex(r.b.ulDst.subarray(16, 32)), hex(ip6('fc00:2::1')), dst);
  }
});

test('a flow keeps its uplink for every packet, and UDP flows spread over both uplinks', (t) => {
  const ctx = makeCtx({}, {}, 3, { wcmp: 50 });
  addPf(ctx, 1, '22:22:22:22:22:01');
  route4(ctx, 100, '10.100.2.0', 24, -1, 'fc00:2::1');
  ctx.fwd.settings.fastPath = false;
  const nodes = [new ClsNode(ctx, true), new ConntrackNode(ctx), new DnatNode(ctx), new Ipv4LookupNode(ctx)];
  const count = [0, 0];
  for (let sport = 1000; sport < 1100; sport++) {
    const f = cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4(VM_IPV4, '10.100.2.9', 17, udp(sport, 53, new Uint8Array(4))));
    const first = runPath(nodes, f, 3).b.outPort[1]!;
    const again = runPath(nodes, f, 3).b.outPort[1]!;
    t.is(again, first, `sport ${sport}`);
    count[first] = count[first]! + 1;
  }
  t.true(count[0]! > 25 && count[1]! > 25, `pf0 ${count[0]}, pf1 ${count[1]}`);
});

test('with --wcmp 50 a VM with a NAT hashes as upstream marks it (NAT VNF type in the key): its flows leave by the uplinks upstream\'s suite expects', (t) => {
  // upstream's test_vf_to_pf.py with port redundancy: VM1 with a NAT pings public_ip3 (id 0x50)
  // and opens TCP 1256 -> 505 to public_ip, and expects both on pf1
  const seen: number[] = [];
  for (const nat of [true, false]) {
    const ctx = makeCtx({}, {}, 3, { wcmp: 50 });
    addPf(ctx, 1, '22:22:22:22:22:01');
    route4(ctx, 100, '0.0.0.0', 0, -1, 'fc00:ff::1');
    if (nat) ctx.ports.setNat(3, ip4num('172.21.1.1'), 100, 102);
    const nodes = [new ClsNode(ctx, true), new ConntrackNode(ctx), new DnatNode(ctx), new Ipv4LookupNode(ctx)];
    const frames = [
      cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4(VM_IPV4, '45.86.6.206', 1, icmpEcho(8, 0x50, 0))),
      withL4Checksum4(cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4(VM_IPV4, '45.86.6.6', 6, tcp(1256, 505, 0x02)))),
    ];
    for (const f of frames) seen.push(runPath(nodes, f, 3).b.outPort[1]!);
  }
  t.deepEqual(seen.slice(0, 2), [1, 1], 'with the NAT: pf1, pf1');
  t.notDeepEqual(seen.slice(2), [1, 1], 'the mark decides: without the NAT not both on pf1');
});
