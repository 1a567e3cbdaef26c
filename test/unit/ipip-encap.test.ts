import test from 'ava';
import { loadFrame, makeTestBatch, PF_ENCAP, PF_IPV6 } from '../../src/packet/batch.js';
import { DropReason } from '../../src/packet/drop-reasons.js';
import type { NodeContext } from '../../src/workers/node-context.js';
import { IpipEncapNode, UNDERLAY_HOP_LIMIT, UNDERLAY_VTC_FLOW } from '../../src/workers/nodes/ipip-encap.js';
import {
  addPf, addVm, ascii, cat, eth, hex, ip6, ipv4, ipv6, mac, makeCtx, PF0_MAC, PF1_MAC, PORT_MAC, u16, udp, VM_MAC,
} from './frames.js';

const NH = 'fc00:2::1';

const INNER4 = ipv4('10.100.1.1', '10.100.2.7', 17, udp(40000, 53, ascii('question')));
const INNER6 = ipv6(ip6('2000:100:1::1'), ip6('2000:100:2::7'), 17, udp(40000, 53, ascii('question')), 64);

function setup(): NodeContext {
  const ctx = makeCtx();
  addPf(ctx, 1, PF1_MAC);
  addVm(ctx, 4, { vni: 100, ipv4: '10.100.1.4', underlay: 'fc00:1::4', own: '66:66:66:66:66:04' });
  return ctx;
}

interface Encapped { next: string | undefined; reason: number; out: Uint8Array; len: number }

/** Runs ipip_encap on an overlay frame from `inPort` leaving by `outPort` toward `nh` (as lookup set them). */
function encap(ctx: NodeContext, inner: Uint8Array, o: { inPort?: number; outPort?: number; nh?: string; headroom?: number } = {}): Encapped {
  const node = new IpipEncapNode(ctx);
  const b = makeTestBatch(3);
  const frame = cat(eth(PORT_MAC, VM_MAC, inner[0]! >> 4 === 4 ? 0x0800 : 0x86dd), inner);
  loadFrame(b, 2, frame, o.inPort ?? 3, o.headroom ?? 128);
  b.flags[2] = PF_ENCAP | (inner[0]! >> 4 === 6 ? PF_IPV6 : 0);
  b.outPort[2] = o.outPort ?? 0;
  b.ulDst.set(ip6(o.nh ?? NH), 2 * 16);
  b.ulDst.fill(0xaa, 16, 32);   // another slot's nexthop must not be taken
  const edge = node.process(b, 2);
  const s = b.start[2]!;
  return { next: node.edges[edge], reason: b.dropReason[2]!, out: b.bytes.slice(s, s + b.len[2]!), len: b.len[2]! };
}

/** The outer headers ipip_encap must write, built independently. */
function outer(dstMac: string, srcMac: string, src: string, dst: string, next: number, innerLen: number): Uint8Array {
  return cat(eth(dstMac, srcMac, 0x86dd), [0x60, 0, 0, 0], u16(innerLen), [next, 64], ip6(src), ip6(dst));
}

test('ipip_encap declares drop as edge 0 and the tx pseudo edge', (t) => {
  t.deepEqual(new IpipEncapNode(makeCtx()).edges, ['drop', 'tx']);
  t.is(UNDERLAY_HOP_LIMIT, 64);
  t.is(UNDERLAY_VTC_FLOW, 0x60000000);
});

test('an IPv4 packet gets IPv6 (next header 4, hop limit 64) from the interface underlay to the nexthop', (t) => {
  const r = encap(setup(), INNER4);
  t.is(r.next, 'tx');
  t.is(r.len, 14 + 40 + INNER4.length);
  t.is(hex(r.out), hex(cat(outer(PF0_MAC, PF0_MAC, 'fc00:1::1', NH, 4, INNER4.length), INNER4)),
    'router MAC not learned: the uplink\'s own MAC, as upstream');
});

test('an IPv6 packet gets next header 41', (t) => {
  const r = encap(setup(), INNER6);
  t.is(r.next, 'tx');
  t.is(hex(r.out), hex(cat(outer(PF0_MAC, PF0_MAC, 'fc00:1::1', NH, 41, INNER6.length), INNER6)));
});

test('the frame goes to the learned router MAC, from the uplink it leaves by, from the sending interface underlay', (t) => {
  const ctx = setup();
  ctx.ports.learnVmMac(0, mac('02:77:77:77:77:00'), 0);
  ctx.ports.learnVmMac(1, mac('02:77:77:77:77:01'), 0);
  t.true(ctx.ports.routerKnown(0));
  const cases: [number, number, string, string, string][] = [
    // in port, out port, router MAC, own MAC, outer source
    [3, 0, '02:77:77:77:77:00', PF0_MAC, 'fc00:1::1'],
    [3, 1, '02:77:77:77:77:01', PF1_MAC, 'fc00:1::1'],
    [4, 1, '02:77:77:77:77:01', PF1_MAC, 'fc00:1::4'],
  ];
  for (const [inPort, outPort, router, own, src] of cases) {
    const r = encap(ctx, INNER4, { inPort, outPort, nh: 'fc00:9::9' });
    t.is(hex(r.out), hex(cat(outer(router, own, src, 'fc00:9::9', 4, INNER4.length), INNER4)), `${inPort} -> ${outPort}`);
  }
});

test('the inner packet is carried unchanged, TTL and checksums included', (t) => {
  const r = encap(setup(), INNER4);
  t.is(hex(r.out.subarray(54)), hex(INNER4));
});

test('without 40 bytes of headroom the packet is dropped for lack of room', (t) => {
  const ok = encap(setup(), INNER4, { headroom: 40 });
  t.is(ok.next, 'tx');
  const r = encap(setup(), INNER4, { headroom: 39 });
  t.is(r.next, 'drop');
  t.is(r.reason, DropReason.NO_ROOM);
  t.is(hex(r.out.subarray(14)), hex(INNER4), 'untouched');
});
