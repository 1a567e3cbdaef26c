/**
 * Virtual services through the whole worker graph (the rig): a VM's UDP and TCP to a service's
 * virtual address leave an uplink as IPv6 to the service from the service's underlay address and
 * a port of its own, the answers return as IPv4 from the virtual address; ports are given in turn
 * and come back when the connection's flow goes; what does not belong to a connection is dropped.
 */
import test from 'ava';
import { DropReason } from '../../src/packet/drop-reasons.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src/packet/headers.js';
import { upstreamVirtsvcHash } from '../../src/packet/upstream-hash.js';
import { TcpState, R_STATE, RECORD } from '../../src/tables/flow-table.js';
import { VIRTSVC_PORTS, type VirtsvcDef } from '../../src/tables/virtsvc-table.js';
import { routedRig, type Rig, VMS, vmFrame } from './fixtures/overlay-rig.js';
import {
  cat, eth, hex, ip4num, ip6, ipv4HeaderOk, ipv6, l4v4Ok, l4v6Ok, PF0_MAC, ROUTER, tcp, udp, withL4Checksum6,
} from './frames.js';

const SVC_UDP = '2a00:da8:fff6::1';
const SVC_TCP = '2a00:da8:fff6::2';
const SERVICES: VirtsvcDef[] = [
  { proto: IPPROTO_UDP, virtualIp: ip4num('1.2.3.4'), virtualPort: 5353, serviceIp: ip6(SVC_UDP), servicePort: 53 },
  { proto: IPPROTO_TCP, virtualIp: ip4num('5.6.7.8'), virtualPort: 4443, serviceIp: ip6(SVC_TCP), servicePort: 443 },
];
/** Service i's underlay address: the host's /64, 0xd0, 0xff, 0x40, 0, i little-endian (upstream's). */
const UL = ['fc00:1:0:0:d0ff:4000::', 'fc00:1:0:0:d0ff:4000:100:0'];

function rig(wcmp = 100): Rig {
  return routedRig({ wcmp }, SERVICES);
}

const payload = Uint8Array.of(1, 2, 3, 4, 5);

/** The fields of a translated request as the service sees it. */
function request(out: Uint8Array): { src: string; dst: string; sport: number; dport: number; next: number; hop: number } {
  const dv = new DataView(out.buffer, out.byteOffset);
  const addr = (at: number): string => hex(out.subarray(at, at + 16));
  return { src: addr(22), dst: addr(38), sport: dv.getUint16(54), dport: dv.getUint16(56), next: out[20]!, hop: out[21]! };
}

/** The service's answer to a request (as it arrives on pf0 from the router). */
function answer(req: Uint8Array, l4: Uint8Array): Uint8Array {
  const r = request(req);
  return withL4Checksum6(cat(eth(PF0_MAC, ROUTER, 0x86dd), ipv6(req.subarray(38, 54), req.subarray(22, 38), r.next, l4, 61)));
}

test('a VM\'s UDP to a virtual service leaves pf0 as IPv6 to the service from its underlay address and port 1025; the answer returns as IPv4', (t) => {
  const r = rig();
  const sent = r.send(vmFrame(VMS.A, '1.2.3.4', IPPROTO_UDP, udp(12345, 5353, payload)), VMS.A.port);
  t.is(sent.sink, 'tx-0');
  t.deepEqual(sent.nodes.filter((n) => n === 'virtsvc' || n === 'conntrack'), ['conntrack', 'virtsvc']);
  const o = sent.out;
  t.is(hex(o.subarray(0, 14)), hex(cat(eth(ROUTER, PF0_MAC, 0x86dd))), 'to the router from pf0, IPv6');
  const q = request(o);
  t.is(q.src, hex(ip6(UL[0]!)));
  t.is(q.dst, hex(ip6(SVC_UDP)));
  t.is(q.sport, 1025, 'the first port after the one the service gave last (none yet)');
  t.is(q.dport, 53);
  t.is(q.next, IPPROTO_UDP);
  t.is(q.hop, 64, 'hop limit = the VM\'s TTL');
  t.is(o.length, 14 + 40 + 8 + payload.length);
  t.true(l4v6Ok(o, IPPROTO_UDP), 'UDP checksum over the IPv6 pseudo header');

  const back = r.send(answer(o, udp(53, 1025, Uint8Array.of(9, 9))), 0);
  t.is(back.sink, `tx-${VMS.A.port}`);
  const a = back.out;
  t.is(hex(a.subarray(0, 14)), hex(cat(eth(VMS.A.mac, VMS.A.own, 0x0800))));
  t.true(ipv4HeaderOk(a));
  t.is(hex(a.subarray(26, 34)), hex(Uint8Array.of(1, 2, 3, 4, 10, 100, 1, 1)), 'from 1.2.3.4 to the VM');
  const dv = new DataView(a.buffer, a.byteOffset);
  t.is(dv.getUint16(34), 5353);
  t.is(dv.getUint16(36), 12345);
  t.is(a[22], 61, 'TTL = the answer\'s hop limit');
  t.true(l4v4Ok(a));
  t.is(r.ctx.fwd.virtsvc.usedPorts(0), 1);
});

test('ports are given in turn: each new connection gets the next one, a connection keeps its own', (t) => {
  const r = rig();
  const portOf = (sport: number): number => request(r.send(vmFrame(VMS.A, '1.2.3.4', IPPROTO_UDP, udp(sport, 5353, payload)), VMS.A.port).out).sport;
  t.deepEqual([12345, 12346, 12347].map(portOf), [1025, 1026, 1027]);
  t.is(portOf(12346), 1026, 'the same connection, the same port');
  t.is(request(r.send(vmFrame(VMS.B, '1.2.3.4', IPPROTO_UDP, udp(12345, 5353, payload)), VMS.B.port).out).sport, 1028,
    'another VM\'s connection from the same port');
  t.is(r.ctx.fwd.virtsvc.usedPorts(0), 4);
  // after the last port the search wraps around to the first
  r.ctx.fwd.virtsvc.setLastGiven(0, VIRTSVC_PORTS - 1);
  t.is(portOf(20000), 1024);
});

test('a connection\'s port is free again when its flow goes, and the service\'s count follows', (t) => {
  const r = rig();
  const first = r.send(vmFrame(VMS.A, '1.2.3.4', IPPROTO_UDP, udp(12345, 5353, payload)), VMS.A.port);
  t.is(r.ctx.fwd.virtsvc.usedPorts(0), 1);
  r.ctx.fwd.owner.remove(first.flow, 0);
  t.is(r.ctx.fwd.virtsvc.usedPorts(0), 0);
  t.is(r.send(answer(first.out, udp(53, 1025, payload)), 0).reason, DropReason.VIRTSVC_NO_CONN, 'no answer for a connection that went');
});

test('TCP: the handshake establishes the connection (24 h), every segment is translated both ways', (t) => {
  const r = rig();
  const syn = r.send(vmFrame(VMS.A, '5.6.7.8', IPPROTO_TCP, tcp(40000, 4443, 0x02)), VMS.A.port);
  t.is(syn.sink, 'tx-0');
  const q = request(syn.out);
  t.is(q.dst, hex(ip6(SVC_TCP)));
  t.is(q.src, hex(ip6(UL[1]!)), 'the second service\'s underlay address');
  t.deepEqual([q.sport, q.dport], [1025, 443]);
  t.true(l4v6Ok(syn.out, IPPROTO_TCP));
  const synAck = r.send(answer(syn.out, tcp(443, 1025, 0x12)), 0);
  t.is(synAck.sink, `tx-${VMS.A.port}`);
  t.true(l4v4Ok(synAck.out));
  t.is(r.send(vmFrame(VMS.A, '5.6.7.8', IPPROTO_TCP, tcp(40000, 4443, 0x10)), VMS.A.port).sink, 'tx-0');
  t.is(r.ctx.fwd.flows.rec[syn.flow * RECORD + R_STATE]! & 0xff, TcpState.ESTABLISHED);
});

test('what is no connection of a service is dropped: an answer to a port nobody holds, another source', (t) => {
  const r = rig();
  const req = r.send(vmFrame(VMS.A, '1.2.3.4', IPPROTO_UDP, udp(12345, 5353, payload)), VMS.A.port).out;
  t.is(r.send(answer(req, udp(53, 1026, payload)), 0).reason, DropReason.VIRTSVC_NO_CONN);
  // from the service's address but another port: not the service's (cls: not ours to handle)
  t.is(r.send(answer(req, udp(54, 1025, payload)), 0).reason, DropReason.FROM_PF);
  // to the virtual address but another port: routed as anything else (no route in VNI 100 here)
  t.false(r.send(vmFrame(VMS.A, '1.2.3.4', IPPROTO_UDP, udp(12345, 5354, payload)), VMS.A.port).nodes.includes('virtsvc'));
  // a truncated answer
  t.is(r.send(withL4Checksum6(cat(eth(PF0_MAC, ROUTER, 0x86dd), ipv6(req.subarray(38, 54), req.subarray(22, 38), IPPROTO_UDP,
    Uint8Array.of(0, 53, 4, 1)))), 0).reason, DropReason.TRUNCATED);
});

test('with --wcmp the uplink is upstream\'s choice by the connection\'s hash', (t) => {
  const r = rig(50);
  for (let sport = 12345; sport < 12365; sport++) {
    const out = r.send(vmFrame(VMS.A, '1.2.3.4', IPPROTO_UDP, udp(sport, 5353, payload)), VMS.A.port);
    const h = upstreamVirtsvcHash(VMS.A.port, sport, ip4num(VMS.A.ip));
    t.is(out.sink, h % 10 < 5 ? 'tx-0' : 'tx-1', `source port ${sport}`);
  }
});

test('hostile requests and answers (cut short, bytes flipped) never throw: each is sent, consistent, or dropped with a reason', (t) => {
  const r = rig();
  const req = vmFrame(VMS.A, '1.2.3.4', IPPROTO_UDP, udp(12345, 5353, payload));
  const sent = r.send(req, VMS.A.port).out;
  const ans = answer(sent, udp(53, 1025, payload));
  const tcpReq = vmFrame(VMS.A, '5.6.7.8', IPPROTO_TCP, tcp(40001, 4443, 0x02));
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const [base, port] = [[req, VMS.A.port], [ans, 0], [tcpReq, VMS.A.port]][i % 3] as [Uint8Array, number];
    const f = base.slice(0, i % 7 === 0 ? rnd(base.length) : base.length);
    for (let k = rnd(3); k > 0 && f.length > 14; k--) {
      const at = 14 + rnd(f.length - 14);
      f[at] = f[at]! ^ (1 << rnd(8));
    }
    let s: ReturnType<Rig['send']> | undefined;
    t.notThrows(() => { s = r.send(f, port); });
    if (!s) continue;
    t.true(s.sink === 'drop' ? s.reason !== DropReason.NONE : /^tx-\d+$/.test(s.sink), `outcome ${s.sink} reason ${s.reason}`);
    // what leaves is consistent: IPv6 to the service as long as its header says, IPv4 to the VM with a valid header
    if (s.sink === 'tx-0') t.is(s.out[18]! * 256 + s.out[19]! + 54, s.out.length, 'IPv6 payload length');
    if (s.sink === `tx-${VMS.A.port}`) {
      t.true(ipv4HeaderOk(s.out), 'IPv4 header checksum');
      t.is(s.out[16]! * 256 + s.out[17]! + 14, s.out.length, 'IPv4 total length');
    }
    const key = s.sink === 'drop' ? `drop ${s.reason}` : s.sink;
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  }
  t.log([...outcomes].map(([k, n]) => `${k}: ${n}`).join(', '));
});
