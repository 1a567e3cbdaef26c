/**
 * The graph alone, on bytes in an ordinary buffer (no DPDK): VM-to-VM UDP frames of `--batch`
 * flows, a batch at a time, four ways: the fast path as worker.ts runs it (FastPath.burstIo on an
 * io area: rx descriptors in, tx descriptors out, the graph for the rest), the fast path one packet
 * at a time on batch slots (FastPath.forward, the worker's loop before the burst passes), the
 * graph's own fast path (rx -> cls -> conntrack -> tx:
 * conntrack takes the flow's cached decision), and no fast path (rx -> cls -> conntrack -> dnat ->
 * ipv4_lookup -> snat -> firewall -> tx for every packet), and new flows (every packet the first of
 * a new flow: conntrack creates it, the whole graph decides; after each batch as many flows are
 * removed as were created, as aging would, keeping --population flows in the table; the time
 * includes the removal: a worker's sustained rate of new connections). Shows the per-packet cost of the logic
 * without NIC or mbuf memory effects. The VMs' interface routes are in the route table as
 * CreateInterface puts them (route-sync.ts: target = the VM's port).
 *
 * Each variant runs `--trials` times after a warm-up; min and median ns per packet are printed.
 *
 * The packet path's V8 inlining budget (src/workers/jit.ts) is set as the workers set it;
 * --default-jit measures with V8's defaults.
 *
 * And network NAT (nat): VM flows to the internet by a default route, each packet SNATed with a
 * port of the interface's NAT and encapsulated, by the fast path's slot path (FastPath.applySlot,
 * as the worker hands such packets over); the frames are written back before every round, which
 * --restore adds to the other variants for a fair comparison.
 *
 *   node dist/bench/graph.js [--batch 64] [--rounds 50000] [--trials 7] [--default-jit] [--only io,encap,decap,fused,graph,none,new,nat]
 *     [--population 10000] [--restore]
 */
import { loadFrame, makeTestBatch, MAX_SLOTS } from '../src/packet/batch.js';
import { DROP_REASON_NAMES } from '../src/packet/drop-reasons.js';
import { PortState, PortTable } from '../src/tables/port-table.js';
import { buildNodes } from '../src/workers/build-graph.js';
import { FAST_TX, FastPath } from '../src/workers/fast-path.js';
import { IoArea } from '../src/ffi/dpdk.js';
import { counterWords, Graph } from '../src/workers/graph.js';
import {
  createForwardingBuffers, DEFAULT_FORWARDING, FS_CREATED, FS_FAST_PATH, type NodeContext, openForwarding,
} from '../src/workers/node-context.js';
import { tuneJit } from '../src/workers/jit.js';
import { ipipFrame, udpFrame } from './frames.js';
import { VnfType } from '../src/actors/underlay.js';
import { numArg } from './args.js';

const VNI = 100;

type Variant = 'io' | 'encap' | 'decap' | 'fused' | 'graph' | 'none' | 'new' | 'nat';

const REMOTE_NET = 0x0a010000;   // 10.1.0.0/16, behind another host
const NEXTHOP = Uint8Array.of(0xfc, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
/** The underlay address of port p's interface (a VNF of type interface IP). */
function underlayOf(p: number): Uint8Array {
  return Uint8Array.of(0xfc, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, p);
}

/** ns per packet of each trial of one variant; throws if a packet did not reach tx. */
function measure(variant: Variant, batch: number, rounds: number, trials: number): { ns: number[]; fastShare: number } {
  const fastPath = variant !== 'none';
  const ports = PortTable.create();
  const mac = Uint8Array.of(0x66, 0x66, 0x66, 0x66, 0x66, 0x01);
  for (const p of [0, 1]) ports.initPort(p, PortState.PF, mac);
  const ctx: NodeContext = { ports, settings: { dhcpMtu: 1500, dhcpDns: new Uint8Array(0), dhcpv6Dns: new Uint8Array(0), ipv6Overlay: false },
    fwd: openForwarding(createForwardingBuffers(), { ...DEFAULT_FORWARDING, fastPath }, 0) };
  for (const [p, ip] of [[2, 0x0a000001], [3, 0x0a000002]] as const) {
    ports.initPort(p, PortState.VF_IDLE, mac);
    ports.attach(p, { vni: VNI, ipv4: ip, ipv6: new Uint8Array(16), underlay: underlayOf(p), hostname: '', pxeServer: '', bootFile: '' });
    if (ctx.fwd.routes4.insert(VNI, ip, 32, p, 0, new Uint8Array(16)) < 0) throw new Error(`cannot insert the route of port ${p}`);
    if (!ctx.fwd.vnf.set(underlayOf(p), { type: VnfType.INTERFACE_IP, vni: VNI, port: p })) throw new Error(`cannot insert the VNF of port ${p}`);
  }
  // encap: 10.1.0.0/16 via an underlay nexthop (what CreateRoute adds for a prefix on another host)
  if (ctx.fwd.routes4.insert(VNI, REMOTE_NET, 16, -1, VNI, NEXTHOP) < 0) throw new Error('cannot insert the route to 10.1.0.0/16');
  // nat: port 2's interface has a NAT and its flows go to the internet by a default route via the
  // underlay (each to its own remote address): NAT, encapsulation and the slot path on every packet
  const nat = variant === 'nat';
  if (nat) {
    ports.setNat(2, 0x2d000009, 1000, 2000);
    const gw = Uint8Array.of(0xfc, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
    if (ctx.fwd.routes4.insert(VNI, 0, 0, -1, VNI, gw) < 0) throw new Error('cannot insert the default route');
  }
  const nodes = buildNodes(ctx, [0, 1, 2, 3], 0);
  const g = new Graph(nodes, new Float64Array(counterWords(nodes.length)));
  const b = makeTestBatch(MAX_SLOTS);
  // encap: to 10.1.0.x, out of the uplink in IPv6; decap: the same tunnelled to port 2's VM, in on pf0
  const frames = Array.from({ length: batch }, (_, i) => (variant === 'decap'
    ? ipipFrame(NEXTHOP, underlayOf(2), udpFrame(REMOTE_NET + 1, 0x0a000001, 1024 + i))
    : udpFrame(0x0a000001, nat ? 0x08080800 + i : variant === 'encap' ? REMOTE_NET + 1 : 0x0a000002, 1024 + i)));
  const inPort = variant === 'decap' ? 0 : 2;
  // NAT, encapsulation and decapsulation rewrite the frames they forward: with --restore (always
  // for these) each frame is written back before it is received again (a copy per packet, in the
  // time measured)
  const restore = nat || variant === 'encap' || variant === 'decap' || process.argv.includes('--restore');
  const rxNodeByPort = Int32Array.from([0, 1, 2, 3], (p) => g.indexOf(`rx-${p}-0`));
  const dropNode = g.indexOf('drop');
  const rx2 = g.indexOf('rx-2-0');
  const fast = new FastPath(ctx);
  const fused = variant === 'fused';
  const verdict = new Uint8Array(MAX_SLOTS);
  frames.forEach((f, i) => loadFrame(b, i, f, inPort));
  let sent = 0;
  const io = IoArea.plain(MAX_SLOTS);
  const starts = Int32Array.from({ length: batch }, (_, i) => b.start[i]!);
  const runIo = (): void => {
    // what the shim's rx writes, then the worker's loop (worker.ts)
    for (let i = 0; i < batch; i++) {
      if (restore) b.bytes.set(frames[i]!, starts[i]!);
      io.rxOff[i] = b.mbuf[i]!;
      io.rxStart[i] = starts[i]!;
      io.rxLen[i] = frames[i]!.length;
      io.rxPort[i] = inPort;
    }
    const nf = fast.burstIo(io, batch, b, verdict);
    fast.handOff(io, batch, b, verdict, g, rxNodeByPort, dropNode);
    g.run(b);
    sent += nf + g.txCount;
    g.resetSinks();
  };
  // new flows: (source port, destination port) = a counter, never 67 or 547 (DHCP) as destination
  const population = numArg('--population', 10000);
  const owner = ctx.fwd.owner;
  let seq = 0;
  const always = (): boolean => true;
  const noToken = (): number => 0;
  const runNew = (): void => {
    for (let i = 0; i < batch; i++) {
      b.reset(i, b.mbuf[i]!, b.start[i]!, 64, 2);
      b.dv.setUint16(b.start[i]! + 34, seq & 0xffff);
      b.dv.setUint16(b.start[i]! + 36, 1024 + ((seq >>> 16) % 60000));
      seq++;
      g.fromSource(rx2, i);
    }
    g.run(b);
    sent += g.txCount;
    g.resetSinks();
    if (owner.ownedCount > population) owner.age(batch, always, noToken);
    owner.reclaim(always);
  };
  const run = variant === 'io' || variant === 'encap' || variant === 'decap' || nat ? runIo : variant === 'new' ? runNew : (): void => {
    for (let i = 0; i < batch; i++) b.reset(i, b.mbuf[i]!, b.start[i]!, 64, 2);
    for (let i = 0; i < batch; i++) {
      // a packet the fast path forwarded goes straight to tx
      if (fused && fast.forward(b, i) === FAST_TX) g.sendDirect(i);
      else g.fromSource(rx2, i);
    }
    g.run(b);
    sent += g.txCount;
    g.resetSinks();
  };
  for (let r = 0; r < 20000; r++) run();
  const warm = sent;
  const fast0 = ctx.fwd.stats[FS_FAST_PATH]!;
  const ns: number[] = [];
  for (let t = 0; t < trials; t++) {
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < rounds; r++) run();
    ns.push(Number(process.hrtime.bigint() - t0) / (rounds * batch));
  }
  if (warm !== 20000 * batch || sent !== (20000 + rounds * trials) * batch) {
    const base = nodes.length * 2;
    const drops = DROP_REASON_NAMES.map((n, r) => `${n}=${g.counters[base + r]}`).filter((s) => !s.endsWith('=0'));
    throw new Error(`only ${sent} of ${(20000 + rounds * trials) * batch} packets reached tx; drops: ${drops.join(' ')}`);
  }
  if (variant === 'new' && ctx.fwd.stats[FS_CREATED]! !== (20000 + rounds * trials) * batch) throw new Error('not every packet created a flow');
  return { ns: ns.sort((x, y) => x - y), fastShare: (ctx.fwd.stats[FS_FAST_PATH]! - fast0) / (rounds * trials * batch) };
}

function main(): void {
  if (!process.argv.includes('--default-jit')) tuneJit();
  const batch = numArg('--batch', 64);
  const rounds = numArg('--rounds', 50000);
  const trials = numArg('--trials', 7);
  const names: Record<Variant, string> = {
    io: 'fast path on the io area (FastPath.burstIo -> tx descriptors, as worker.ts)',
    encap: 'the same, VM to another host: encapsulated toward the route\'s nexthop (frames restored)',
    decap: 'the same, another host to a VM: decapsulated (frames restored)',
    fused: 'fast path per packet (FastPath.forward -> tx, the old worker loop)',
    graph: 'graph fast path: rx->cls->conntrack->tx',
    none: 'no fast path: rx->cls->conntrack->dnat->ipv4_lookup->snat->firewall->tx',
    new: 'new flows: conntrack creates each, the whole graph decides, aging removes',
    nat: 'network NAT to the internet, encapsulated (FastPath.burstIo and applySlot, frames restored)',
  };
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1]!.split(',') : undefined;
  for (const variant of (['io', 'encap', 'decap', 'fused', 'graph', 'none', 'new', 'nat'] as const).filter((v) => !only || only.includes(v))) {
    const { ns, fastShare } = measure(variant, batch, rounds, trials);
    const path = names[variant];
    const med = ns[ns.length >> 1]!;
    console.log(`graph only, ${path}, batch ${batch}: min ${ns[0]!.toFixed(1)} median ${med.toFixed(1)} ns/packet,`
      + ` ${(1e3 / med).toFixed(2)} Mpps (${(100 * fastShare).toFixed(0)}% took the cached decision)`);
  }
}

main();
