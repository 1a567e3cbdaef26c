/**
 * Network NAT (the NAT gateway) through the whole worker graph: a VM with a NAT reaches the
 * internet from the NAT address and a port of its range, replies come back translated, the port
 * search and its bookkeeping, an echo request to the NAT address answered, another host's ports
 * relayed to it, and what is dropped.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import test from 'ava';
import { VnfType } from '../../src/actors/underlay.js';
import { DropReason } from '../../src/packet/drop-reasons.js';
import { upstreamPortmapHash } from '../../src/packet/upstream-hash.js';
import { flowOfPort, FLOW_NAT_PORT, FLOW_SRC_NAT, FlowTable, R_FLAGS, RECORD } from '../../src/tables/flow-table.js';
import { Op } from '../../src/workers/channel.js';
import { WorkerCommands } from '../../src/workers/commands.js';
import { FS_FAST_PATH, FS_NAT_RACE } from '../../src/workers/node-context.js';
import type { NatWorkerData } from './fixtures/nat-worker.js';
import { HOST_UL, Rig, routedRig, toVm, type Vm, vmFrame, VMS } from './fixtures/overlay-rig.js';
import {
  addVm, ascii, cat, eth, hex, icmpEcho, icmpUnreach, INTERNET_GW, ip4, ip4num, ip6, ipv4, ipv4HeaderOk, ipv6, l4v4Ok, l4v6Ok, mac,
  makeCtx, PF0_MAC, PF1_MAC, REMOTE_HOST, route4, route6, ROUTER, tcp, tunnelFrame, u16, udp, withL4Checksum4, withL4Checksum6,
} from './frames.js';

const NAT_IP = '45.0.0.9';
const NAT_UL = 'fc00:1::a2';

/** The rig with the router's MAC known, the uplinks' underlay address set and A's NAT [min, max). */
function natRig(min = 1000, max = 2000): Rig {
  const rig = routedRig();
  const ports = rig.ctx.ports;
  ports.setNat(VMS.A.port, ip4num(NAT_IP), min, max);
  rig.ctx.fwd.vnf.set(ip6(NAT_UL), { type: VnfType.NAT, vni: 100, port: VMS.A.port });
  return rig;
}

/** The NAT port upstream's search starts from for `vm`'s source port (dp_find_new_port). */
function firstPort(vm: Vm, sport: number, min = 1000, max = 2000): number {
  return min + (upstreamPortmapHash(new Int32Array(6), vm.vni, ip4num(vm.ip), sport) % (max - min));
}

/** The inner IPv4 packet of a tunnelled frame. */
function inner(out: Uint8Array): Uint8Array {
  return out.subarray(54);
}

function srcPort(pkt: Uint8Array): number {
  return pkt[1]! === 1 ? 0 : (pkt[20]! << 8) | pkt[21]!;
}

test('a VM with a NAT leaves from the NAT address and a port of its range where upstream\'s search starts; replies come back translated', (t) => {
  const { A } = VMS;
  const cases: [string, number, Uint8Array, (p: number) => Uint8Array, Uint8Array][] = [
    ['UDP', 17, udp(40000, 53, ascii('query')), (p) => udp(53, p, ascii('answer')), udp(53, 40000, ascii('answer'))],
    ['TCP', 6, tcp(40001, 443, 0x02), (p) => tcp(443, p, 0x12), tcp(443, 40001, 0x12)],
    ['ICMP echo', 1, icmpEcho(8, 77, 1, ascii('ping')), (p) => icmpEcho(0, p, 1, ascii('ping')), icmpEcho(0, 77, 1, ascii('ping'))],
  ];
  for (const [what, proto, req, rep, want] of cases) {
    const rig = natRig();
    const out = rig.send(vmFrame(A, '8.8.8.8', proto, req), A.port);
    t.is(out.sink, 'tx-0', what);
    const pkt = inner(out.out);
    t.is(hex(pkt.subarray(12, 16)), hex(ip4(NAT_IP)), `${what}: from the NAT address`);
    const port = firstPort(A, proto === 1 ? 77 : (req[0]! << 8) | req[1]!);
    t.is(proto === 1 ? (pkt[24]! << 8) | pkt[25]! : srcPort(pkt), port, `${what}: the NAT port upstream would pick`);
    t.true(ipv4HeaderOk(pkt, 0) && l4v4Ok(pkt, 0), `${what}: checksums`);
    t.is(hex(out.out.subarray(22, 38)), hex(ip6(A.ul)), `${what}: outer source the interface's underlay address (upstream)`);
    t.is(hex(out.out.subarray(38, 54)), hex(ip6(INTERNET_GW)), what);
    const flags = rig.ctx.fwd.flows.rec[out.flow * RECORD + R_FLAGS]!;
    t.is(flags & (FLOW_SRC_NAT | FLOW_NAT_PORT), FLOW_SRC_NAT | FLOW_NAT_PORT, what);
    t.is(rig.ctx.fwd.nat.usedPorts(A.port), 1, `${what}: one NAT port in use`);

    // the answer, tunnelled to the NAT's underlay address, reaches A at its own address and port
    const answer = proto === 1 ? ipv4('8.8.8.8', NAT_IP, 1, rep(port)) : withL4Checksum4(ipv4('8.8.8.8', NAT_IP, proto, rep(port)), 0);
    const expect = proto === 1 ? ipv4('8.8.8.8', A.ip, 1, want) : withL4Checksum4(ipv4('8.8.8.8', A.ip, proto, want), 0);
    const back = rig.send(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL, answer), 0);
    t.is(back.sink, 'tx-3', what);
    t.deepEqual([back.flow, back.dir], [out.flow, 1], what);
    t.is(hex(back.out), hex(toVm(A, expect)), `${what}: translated back, checksums as if sent so`);
    // later packets both ways take the cached decision, with the same bytes
    const fast = rig.ctx.fwd.stats[FS_FAST_PATH]!;
    t.is(hex(rig.send(vmFrame(A, '8.8.8.8', proto, req), A.port).out), hex(out.out), `${what}: fast path out`);
    t.is(hex(rig.send(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL, answer), 0).out), hex(back.out), `${what}: fast path back`);
    t.is(hex(rig.sendFused(vmFrame(A, '8.8.8.8', proto, req), A.port).out), hex(out.out), `${what}: fused fast path out`);
    t.is(hex(rig.sendFused(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL, answer), 0).out), hex(back.out), `${what}: fused back`);
    t.is(rig.ctx.fwd.stats[FS_FAST_PATH]!, fast + 4, what);
  }
});

test('a source port keeps its NAT port toward other destinations; a taken port moves the search on; a full range drops', (t) => {
  const { A, B } = VMS;
  const rig = natRig(1000, 1002);
  const port = (r: { out: Uint8Array }): number => srcPort(inner(r.out));
  const first = rig.send(vmFrame(A, '8.8.8.8', 17, udp(40000, 53, ascii('a'))), A.port);
  const other = rig.send(vmFrame(A, '1.1.1.1', 17, udp(40000, 53, ascii('b'))), A.port);
  t.is(port(other), port(first), 'endpoint-independent: the same NAT port toward another remote end');
  // another source port to the same remote end: the other port of the two
  const second = rig.send(vmFrame(A, '8.8.8.8', 17, udp(40002, 53, ascii('c'))), A.port);
  t.is(second.sink, 'tx-0');
  t.not(port(second), port(first));
  t.true(port(second) >= 1000 && port(second) < 1002);
  // a third to the same remote end finds both taken
  const third = rig.send(vmFrame(A, '8.8.8.8', 17, udp(40004, 53, ascii('d'))), A.port);
  t.is(third.sink, 'drop');
  t.is(third.reason, DropReason.NAT_PORTS_FULL);
  t.is(rig.ctx.fwd.nat.usedPorts(A.port), 3);
  // ... and left no trace: its flow still expects replies at A's own address
  const stray = rig.send(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL,
    withL4Checksum4(ipv4('8.8.8.8', NAT_IP, 17, udp(53, port(first), ascii('x'))), 0)), 0);
  t.is(stray.sink, 'tx-3', 'the first flow\'s answer still reaches A');
  t.is(stray.flow, first.flow);
  // B has no NAT: its traffic leaves untranslated
  const b = rig.send(vmFrame(B, '8.8.8.8', 17, udp(40000, 53, ascii('b'))), B.port);
  t.is(hex(inner(b.out).subarray(12, 16)), hex(ip4(B.ip)));
});

test('NAT ports in use follow the flows: aged or flushed, a flow gives its port back', (t) => {
  const { A } = VMS;
  const rig = natRig();
  for (let i = 0; i < 5; i++) rig.send(vmFrame(A, '8.8.8.8', 6, tcp(41000 + i, 443, 0x02)), A.port);
  const nat = rig.ctx.fwd.nat;
  t.is(nat.usedPorts(A.port), 5);
  const owner = rig.ctx.fwd.owner;
  const f = owner.owned[0]!;
  owner.remove(f, 0);
  t.is(nat.usedPorts(A.port), 4, 'a removed flow gives its port back');
  // DeleteNat: new flows no longer get it, the flush finds the flows that have it
  rig.ctx.ports.disableNat(A.port);
  const cmds = new WorkerCommands(rig.ctx.fwd, rig.ctx.ports, () => 0);
  t.is(cmds.handle(Op.FLUSH_PORT, A.port), 4);
  t.is(nat.usedPorts(A.port), 0);
  rig.ctx.ports.forgetNat(A.port);
  const after = rig.send(vmFrame(A, '8.8.8.8', 6, tcp(41000, 443, 0x02)), A.port);
  t.is(hex(inner(after.out).subarray(12, 16)), hex(ip4(A.ip)), 'no NAT any more');
  t.is(nat.usedPorts(A.port), 0);
});

test('a flow NATed on another port\'s record is its NAT\'s: flowOfPort matches it by the NAT address and range', (t) => {
  const { A, B } = VMS;
  const rig = natRig();
  // a NAT flow A started, seen by the flush of another port: only the NAT address and range tie
  // it to the NAT (a flow another port created gets A's NAT when A sends on it first)
  const out = rig.send(vmFrame(A, '8.8.8.8', 17, udp(40000, 53, ascii('a'))), A.port);
  const rec = rig.ctx.fwd.flows.rec;
  const natRange = (2000 << 16) | 1000;
  t.true(flowOfPort(rec, out.flow, B.port, ip4num(B.ip), 100, 0, ip4num(NAT_IP) | 0, natRange), 'matched by the NAT whatever the port');
  t.false(flowOfPort(rec, out.flow, B.port, ip4num(B.ip), 100, 0, ip4num(NAT_IP) | 0, (3000 << 16) | 2000), 'another range');
  t.false(flowOfPort(rec, out.flow, B.port, ip4num(B.ip), 100, 0, ip4num('45.0.0.10') | 0, natRange), 'another address');
  t.false(flowOfPort(rec, out.flow, B.port, ip4num(B.ip), 200, 0, ip4num(NAT_IP) | 0, natRange), 'another VNI');
});

test('an echo request to the NAT address is answered from it, back to the sender\'s underlay address', (t) => {
  const rig = natRig();
  for (const pf of [0, 1]) {
    const req = ipv4('8.8.8.8', NAT_IP, 1, icmpEcho(8, 4242, 7, ascii('are you there')));
    const r = rig.send(tunnelFrame(pf === 0 ? PF0_MAC : PF1_MAC, ROUTER, INTERNET_GW, NAT_UL, req), pf);
    t.is(r.sink, `tx-${pf}`, 'out of the uplink it came in on');
    t.deepEqual(r.nodes, [`rx-${pf}-0`, 'cls', 'ipip_decap', 'conntrack', 'dnat', 'packet_relay', 'ipip_encap', `tx-${pf}`]);
    const want = ipv4(NAT_IP, '8.8.8.8', 1, icmpEcho(0, 4242, 7, ascii('are you there')));
    t.is(hex(inner(r.out)), hex(want), 'an echo reply, checksums right');
    t.is(hex(r.out.subarray(0, 12)), hex(cat(mac(ROUTER), mac(pf === 0 ? PF0_MAC : PF1_MAC))));
    t.is(hex(r.out.subarray(22, 38)), hex(ip6(HOST_UL)), 'from this host\'s underlay address');
    t.is(hex(r.out.subarray(38, 54)), hex(ip6(INTERNET_GW)), 'to where the request came from');
  }
});

test('a packet for a port another host owns is relayed to it; with the range gone, or for a port of ours without a flow, it is dropped', (t) => {
  const rig = natRig();
  const nat = rig.ctx.fwd.nat;
  t.true(nat.addNeighbor(ip4num(NAT_IP), 100, 3000, 3100, ip6(REMOTE_HOST)));
  t.true(nat.addNeighbor(ip4num(NAT_IP), 100, 4000, 4100, ip6('fc00:3::1')));
  const pkt = withL4Checksum4(ipv4('8.8.8.8', NAT_IP, 6, tcp(443, 3050, 0x10, ascii('data'))), 0);
  const frame = tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL, pkt);
  for (let i = 0; i < 2; i++) {
    const r = rig.send(frame, 0);
    t.is(r.sink, 'tx-0', `relayed (${i})`);
    t.is(hex(inner(r.out)), hex(pkt), 'the inner packet unchanged');
    t.is(hex(r.out.subarray(22, 38)), hex(ip6(HOST_UL)));
    t.is(hex(r.out.subarray(38, 54)), hex(ip6(REMOTE_HOST)), 'to the host that owns the port');
  }
  const other = withL4Checksum4(ipv4('8.8.8.8', NAT_IP, 17, udp(53, 4099, ascii('x'))), 0);
  t.is(hex(rig.send(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL, other), 0).out.subarray(38, 54)), hex(ip6('fc00:3::1')));
  // the range removed: the same flow's next packet is no longer relayed (relaying is never cached)
  nat.removeNeighbor(ip4num(NAT_IP), 100, 3000, 3100);
  const gone = rig.send(frame, 0);
  t.is(gone.sink, 'drop');
  t.is(gone.reason, DropReason.NAT_NO_FLOW);
  // a port of our own range with no flow (upstream: a premature packet for network NAT)
  const early = rig.send(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL,
    withL4Checksum4(ipv4('8.8.8.8', NAT_IP, 6, tcp(443, 1500, 0x02)), 0)), 0);
  t.deepEqual([early.sink, early.reason], ['drop', DropReason.NAT_NO_FLOW]);
  // the address in another VNI is not ours
  t.false(nat.isNeighborAddress(200, ip4num(NAT_IP)));
});

test('NAT over VIP: with both, south-north flows take the NAT (as upstream)', (t) => {
  const { A } = VMS;
  const rig = natRig();
  rig.ctx.ports.setVip(A.port, ip4num('45.0.0.1'), ip6('fc00:1::45'));
  const out = rig.send(vmFrame(A, '8.8.8.8', 17, udp(40000, 53, ascii('q'))), A.port);
  t.is(hex(inner(out.out).subarray(12, 16)), hex(ip4(NAT_IP)));
});

test('ICMP other than echo from a NATed VM gets the NAT address only', (t) => {
  const { A } = VMS;
  const rig = natRig();
  // a port unreachable the VM sends, quoting a packet
  const quoted = ipv4('8.8.8.8', A.ip, 17, udp(53, 40000, ascii('q')));
  const msg = cat([3, 3, 0, 0, 0, 0, 0, 0], quoted);
  const f = cat(eth(A.own, A.mac, 0x0800), ipv4(A.ip, '8.8.8.8', 1, msg));
  const out = rig.send(f, A.port);
  t.is(out.sink, 'tx-0');
  t.is(hex(inner(out.out).subarray(12, 16)), hex(ip4(NAT_IP)));
  t.is(hex(inner(out.out).subarray(20)), hex(msg), 'the message itself unchanged');
  t.true(ipv4HeaderOk(inner(out.out), 0));
  t.is(rig.ctx.fwd.nat.usedPorts(A.port), 0, 'no port taken');
});

test('two workers taking NAT ports toward the same remote ends at the same time never take the same one', async (t) => {
  // 32 flows per worker per round into a range of 64 ports, every round toward another remote
  // end: the two searches overlap, and where both pick a port at once one of them moves on
  const ctx = makeCtx({}, {}, 3);
  route4(ctx, 100, '0.0.0.0', 0, -1, INTERNET_GW);
  ctx.ports.setNat(3, ip4num(NAT_IP), 1000, 1064);
  const bufs = {
    routes4: ctx.fwd.routes4.sab, routes6: ctx.fwd.routes6.sab, vnf: ctx.fwd.vnf.sab, flows: FlowTable.create(65536).sab,
    nat: ctx.fwd.nat.sab, lb: ctx.fwd.lb.sab, virtsvc: ctx.fwd.virtsvc.sab,
  };
  const progress = new SharedArrayBuffer(4);
  const rounds = 300;
  const spawn = (id: number): Worker => {
    const wd: NatWorkerData = { id, bufs, ports: ctx.ports.sab, progress, rounds, flows: 32 };
    return new Worker(new URL('./fixtures/nat-worker.js', import.meta.url), { workerData: wd });
  };
  const workers = [spawn(0), spawn(1)];
  t.teardown(async () => { await Promise.all(workers.map((w) => w.terminate())); });
  const results = await Promise.all(workers.map(async (w) => (await once(w, 'message'))[0] as { ports: number[][]; stats: number[] }));
  let taken = 0;
  let dupes = 0;
  for (let r = 0; r < rounds; r++) {
    const all = [...results[0]!.ports[r]!, ...results[1]!.ports[r]!];
    t.false(all.includes(-1), `round ${r}: every flow got a port`);
    dupes += all.length - new Set(all).size;
    taken += all.length;
  }
  t.is(dupes, 0, 'no NAT port taken twice toward one remote end');
  t.is(ctx.fwd.nat.usedPorts(3), taken);
  const races = results[0]!.stats[FS_NAT_RACE]! + results[1]!.stats[FS_NAT_RACE]!;
  t.log(`${taken} NAT ports taken, ${races} taken at the same moment by the other worker and searched on`);
});

test('an ICMP error about a NATed flow reaches the VM with the NAT undone in the quoted packet too', (t) => {
  const { A } = VMS;
  const rig = natRig();
  const out = rig.send(vmFrame(A, '8.8.8.8', 6, tcp(1256, 503, 0x02)), A.port);
  const sent = inner(out.out);
  const natPort = srcPort(sent);
  // fragmentation needed (code 4), quoting the packet as it left
  const msg = icmpUnreach(4, sent);
  const back = rig.send(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL, ipv4('8.8.8.8', NAT_IP, 1, msg)), 0);
  t.is(back.sink, 'tx-3');
  t.deepEqual([back.flow, back.dir], [out.flow, 1], 'the quoted packet\'s flow, as its reply');
  const pkt = back.out.subarray(14);
  t.is(hex(pkt.subarray(16, 20)), hex(ip4(A.ip)), 'to the VM');
  t.true(ipv4HeaderOk(pkt, 0) && l4v4Ok(pkt, 0), 'outer header and ICMP checksums');
  const q = pkt.subarray(28);
  t.is(hex(q.subarray(12, 16)), hex(ip4(A.ip)), 'quoted source: the VM\'s address');
  t.is((q[20]! << 8) | q[21]!, 1256, 'quoted source port: the VM\'s');
  t.true(ipv4HeaderOk(q, 0), 'quoted header checksum');
  t.not(natPort, 1256);
  // the connection goes on: its reply still takes the cached decision
  const reply = withL4Checksum4(ipv4('8.8.8.8', NAT_IP, 6, tcp(503, natPort, 0x12)), 0);
  t.is(rig.sendFused(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL, reply), 0).sink, 'tx-3');
});

test('an ICMP error between VMs travels as a packet of the flow it quotes; one quoting no flow is keyed by itself', (t) => {
  const { A, B } = VMS;
  const rig = new Rig();
  const req = rig.send(vmFrame(A, B.ip, 17, udp(40000, 9, ascii('x'))), A.port);
  const quoted = ipv4(A.ip, B.ip, 17, udp(40000, 9, ascii('x')));
  const unreach = (q: Uint8Array): Uint8Array => icmpUnreach(3, q);
  const r = rig.send(cat(eth(B.own, B.mac, 0x0800), ipv4(B.ip, A.ip, 1, unreach(quoted))), B.port);
  t.is(r.sink, 'tx-3');
  t.deepEqual([r.flow, r.dir], [req.flow, 1]);
  const flows = rig.ctx.fwd.flows.live;
  const other = rig.send(cat(eth(B.own, B.mac, 0x0800), ipv4(B.ip, A.ip, 1, unreach(ipv4(A.ip, B.ip, 17, udp(1, 2, ascii('y')))))), B.port);
  t.is(other.sink, 'tx-3');
  t.not(other.flow, req.flow);
  t.is(rig.ctx.fwd.flows.live, flows + 1);
});

test('NAT64: a VM\'s IPv6 to 64:ff9b::/96 leaves as IPv4 from its NAT address and port; the answer comes back as IPv6', (t) => {
  const { A } = VMS;
  const vm6 = '2000:100:1::3';
  const cases: [string, number, Uint8Array, (p: number) => Uint8Array, Uint8Array][] = [
    ['UDP', 17, udp(40000, 53, ascii('q6')), (p) => udp(53, p, ascii('a6')), udp(53, 40000, ascii('a6'))],
    ['TCP', 6, tcp(40001, 443, 0x02), (p) => tcp(443, p, 0x12), tcp(443, 40001, 0x12)],
    ['ICMPv6 echo', 58, cat([128, 0, 0, 0], u16(0x77), u16(1), ascii('ping')), (p) => icmpEcho(0, p, 1, ascii('ping')),
      cat([129, 0, 0, 0], u16(0x77), u16(1), ascii('ping'))],
  ];
  for (const [what, proto, req, rep, want] of cases) {
    const rig = natRig();
    const ctx = rig.ctx;
    addVm(ctx, A.port, { vni: 100, ipv4: A.ip, ipv6: vm6, underlay: A.ul, own: A.own });
    ctx.ports.setNat(A.port, ip4num(NAT_IP), 1000, 2000);
    ctx.ports.learnVmMac(A.port, mac(A.mac), 0);
    route6(ctx, 100, '::', 0, -1, INTERNET_GW);
    route6(ctx, 100, vm6, 128, A.port);
    const frame = withL4Checksum6(cat(eth(A.own, A.mac, 0x86dd), ipv6(ip6(vm6), ip6('64:ff9b::808:808'), proto, req, 64)));
    const out = rig.send(frame, A.port);
    t.is(out.sink, 'tx-0', what);
    t.is(out.out[14 + 6], 4, `${what}: IPv4 in IPv6`);
    const pkt = inner(out.out);
    t.is(hex(pkt.subarray(12, 20)), hex(cat(ip4(NAT_IP), ip4('8.8.8.8'))), `${what}: from the NAT address to the embedded one`);
    t.is(pkt[8], 64, `${what}: TTL = hop limit`);
    t.true(ipv4HeaderOk(pkt, 0) && l4v4Ok(pkt, 0), `${what}: checksums`);
    const natPort = proto === 58 ? (pkt[24]! << 8) | pkt[25]! : srcPort(pkt);
    t.true(natPort >= 1000 && natPort < 2000, `${what}: a port of the range (${natPort})`);
    t.is(ctx.fwd.nat.usedPorts(A.port), 1, what);
    // the answer from 8.8.8.8 to the NAT address and port
    const p4 = proto === 58 ? 1 : proto;
    const answer = p4 === 1 ? ipv4('8.8.8.8', NAT_IP, 1, rep(natPort)) : withL4Checksum4(ipv4('8.8.8.8', NAT_IP, p4, rep(natPort)), 0);
    for (let i = 0; i < 2; i++) {
      const back = (i === 0 ? rig.send.bind(rig) : rig.sendFused.bind(rig))(tunnelFrame(PF0_MAC, ROUTER, INTERNET_GW, NAT_UL, answer), 0);
      t.is(back.sink, 'tx-3', what);
      const expect = withL4Checksum6(cat(eth(A.mac, A.own, 0x86dd), ipv6(ip6('64:ff9b::808:808'), ip6(vm6), proto, want, 64)));
      t.is(hex(back.out), hex(expect), `${what} (${i}): IPv6 again, from 64:ff9b::8.8.8.8 to the VM's address and port`);
      t.true(l4v6Ok(back.out, proto), what);
    }
    // later packets out are translated the same (NAT64 flows cache no decision)
    t.is(hex(rig.sendFused(frame, A.port).out), hex(out.out), `${what}: again`);
    t.is(ctx.fwd.nat.usedPorts(A.port), 1, `${what}: still one port`);
  }
});

test('NAT64 needs a NAT and takes only echo of ICMPv6; without a NAT the packet leaves as it is', (t) => {
  const { A } = VMS;
  const vm6 = '2000:100:1::3';
  const rig = natRig();
  const ctx = rig.ctx;
  addVm(ctx, A.port, { vni: 100, ipv4: A.ip, ipv6: vm6, underlay: A.ul, own: A.own });
  ctx.ports.setNat(A.port, ip4num(NAT_IP), 1000, 2000);
  route6(ctx, 100, '::', 0, -1, INTERNET_GW);
  const unreach = withL4Checksum6(cat(eth(A.own, A.mac, 0x86dd), ipv6(ip6(vm6), ip6('64:ff9b::808:808'), 58,
    cat([1, 4, 0, 0, 0, 0, 0, 0], new Uint8Array(48)), 64)));
  const r = rig.send(unreach, A.port);
  t.deepEqual([r.sink, r.reason], ['drop', DropReason.UNSUPPORTED_PROTOCOL]);
  ctx.ports.disableNat(A.port);
  const plain = withL4Checksum6(cat(eth(A.own, A.mac, 0x86dd), ipv6(ip6(vm6), ip6('64:ff9b::808:808'), 17, udp(1, 2, ascii('x')), 64)));
  const out = rig.send(plain, A.port);
  t.is(out.sink, 'tx-0');
  t.is(out.out[14 + 6], 41, 'IPv6 in IPv6, untranslated');
});
