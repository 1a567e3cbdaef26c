/**
 * Warming the graph's code before a worker polls. V8 compiles code with the type feedback its
 * functions have gathered; on a freshly started worker the graph (every flow's first packet walks
 * it) has none, so a burst of new flows runs in the interpreter while V8 compiles, and can overflow
 * a VM's queue. The 6,000-flow test of test/integration/overlay.test.ts with both senders creating
 * their 3,000 new flows at once on a fresh host, alternating without / with this (bench/RESULTS.md):
 * without, first datagrams lost in 8 of 11 tries (78-1,412 of 6,000); with, in 2 of 11 (84, 324).
 *
 * warmUp runs the graph, the same classes the worker uses, over synthetic bursts on tables of its
 * own (an uplink, two VMs, a route via the underlay): new flows VM to VM and to the remote prefix,
 * their later packets, tunnels to a VM, TCP and ICMP. Feedback belongs to the functions, not to the
 * objects, so the worker's own instances start with it. Nothing here touches DPDK or the service's
 * tables.
 *
 * Only the graph: the fast path learns from real traffic alone. Warming it too (every kind of
 * packet through burstIo) made V8 compile the worker's loop for all of them, and a host with one
 * kind of traffic then forwarded it 7-21% slower (VM to VM, bench/overlay's samples per PMD sample);
 * with the graph alone it is level, and on mixed traffic (bench/overlay --paths mix) both are.
 */
import { VnfType } from '../actors/underlay.js';
import { IoArea } from '../ffi/dpdk.js';
import { loadFrame, makeTestBatch, MAX_SLOTS } from '../packet/batch.js';
import { ipipFrame, tcpFlowFrame, udpFlowFrame } from '../packet/synthetic.js';
import { MAX_PORTS, PortState, PortTable } from '../tables/port-table.js';
import { buildNodes } from './build-graph.js';
import { FAST_MISS, FastPath } from './fast-path.js';
import { counterWords, Graph } from './graph.js';
import {
  createForwardingBuffers, type ForwardingSettings, FS_WORDS, type NodeContext, type NodeSettings, openForwarding,
} from './node-context.js';

const VNI = 100;
const VM_A = 0x0a000001;   // 10.0.0.1
const VM_B = 0x0a000002;   // 10.0.0.2
const REMOTE = 0x0a010001;  // 10.1.0.1, behind another host
const NEXTHOP = Uint8Array.of(0xfc, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
const BURST = 32;
/** The warm-up's ports' MAC (its uplink's, as the tunnels' destination, and its VMs'). */
const PF_MAC = Uint8Array.of(0x22, 0x22, 0x22, 0x22, 0x22, 0x00);
/**
 * Bursts warmUp runs by default: 48,000 packets, 130-175 ms in a plain process, 217-235 ms in each
 * of two workers starting at once (the service logs it: 'worker warmed up its graph').
 */
export const WARM_BURSTS = 1500;

function underlayOf(p: number): Uint8Array {
  return Uint8Array.of(0xfc, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, p);
}

/**
 * A frame from the first VM (10.0.0.1) to `dst`, source port (ICMP: echo identifier) `sport`: UDP
 * (17), a TCP ACK (6) or an ICMP echo request (1).
 */
function vmFrame(dst: number, proto: number, sport: number): Uint8Array {
  if (proto === 6) return tcpFlowFrame(VM_A, dst, sport, 5001);
  const f = udpFlowFrame(VM_A, dst, sport, 5001);
  if (proto === 1) {
    const dv = new DataView(f.buffer);
    f[23] = 1;
    dv.setUint32(34, 8 << 24);
    dv.setUint16(38, sport);
    dv.setUint16(40, 1);
  }
  return f;
}

/** The reply to a frame vmFrame built for 10.1.0.1: source and destination swapped. */
function replyOf(f: Uint8Array): Uint8Array {
  const r = f.slice();
  const dv = new DataView(r.buffer);
  dv.setUint32(26, dv.getUint32(30));
  dv.setUint32(30, VM_A);
  if (r[23] === 1) {
    r[34] = 0;
  } else {
    const sport = dv.getUint16(34);
    dv.setUint16(34, dv.getUint16(36));
    dv.setUint16(36, sport);
  }
  return r;
}

/**
 * Runs `bursts` synthetic bursts through a graph of its own (see above; a fast path of its own only
 * hands every packet over), with the worker's own settings objects (`settings`, `fwdSettings`: the
 * same objects give V8 the same shapes, where look-alikes would make the worker's loop
 * polymorphic) and its uplink's port id.
 * Returns the packets sent, for tests (allocates; call it once, before polling).
 */
export function warmUp(settings: NodeSettings, fwdSettings: ForwardingSettings, bursts = WARM_BURSTS): number {
  const pf0 = fwdSettings.pf0;
  if (pf0 < 0 || pf0 >= MAX_PORTS) return 0;
  // two VM ports that are not uplinks
  const [vmA, vmB] = [0, 1, 2, 3].filter((p) => p !== pf0 && p !== fwdSettings.pf1) as [number, number];
  const ports = PortTable.create();
  ports.initPort(pf0, PortState.PF, PF_MAC, underlayOf(0xf0));
  ports.learnVmMac(pf0, Uint8Array.of(0x52, 0x54, 0, 0, 0, 0xfe), 0);
  const fwd = openForwarding(createForwardingBuffers(16384), fwdSettings, 0, new Float64Array(new SharedArrayBuffer(FS_WORDS * 8)));
  const ctx: NodeContext = { ports, settings, fwd };
  for (const [p, ip] of [[vmA, VM_A], [vmB, VM_B]] as const) {
    ports.initPort(p, PortState.VF_IDLE, PF_MAC);
    ports.attach(p, { vni: VNI, ipv4: ip, ipv6: new Uint8Array(16), underlay: underlayOf(p), hostname: '', pxeServer: '', bootFile: '' });
    ctx.fwd.routes4.insert(VNI, ip, 32, p, 0, new Uint8Array(16));
    ctx.fwd.vnf.set(underlayOf(p), { type: VnfType.INTERFACE_IP, vni: VNI, port: p });
  }
  ctx.fwd.routes4.insert(VNI, REMOTE & 0xffff0000, 16, -1, VNI, NEXTHOP);
  const portIds = [pf0, vmA, vmB];
  const nodes = buildNodes(ctx, portIds, 0);
  const g = new Graph(nodes, new Float64Array(counterWords(nodes.length)));
  const rxNodeByPort = new Int32Array(Math.max(...portIds) + 1).fill(-1);
  for (const p of portIds) rxNodeByPort[p] = g.indexOf(`rx-${p}-0`);
  const dropNode = g.indexOf('drop');
  // the hand-off to the graph (which every first packet takes) without the fast path's own work
  const fast = new FastPath(ctx);
  const b = makeTestBatch(MAX_SLOTS);
  const io = IoArea.plain(MAX_SLOTS);
  const verdict = new Uint8Array(MAX_SLOTS);
  // the frames of a burst, built once: a fifth of them get a new source port (a new flow) in
  // every burst, the rest are flows seen before
  const frames: [Uint8Array, number][] = [];
  for (let i = 0; i < BURST; i++) {
    const kind = i % 8;
    const sport = 1024 + i;
    const f = kind === 0 || kind === 1 ? vmFrame(VM_B, 17, sport)
      : kind === 2 || kind === 3 ? vmFrame(REMOTE, 17, sport)
        : kind === 4 ? vmFrame(VM_B, 6, sport)
          : kind === 5 ? vmFrame(REMOTE, 1, sport)
            : ipipFrame(NEXTHOP, underlayOf(vmA), replyOf(vmFrame(REMOTE, 17, sport)), PF_MAC);
    frames.push([f, kind >= 6 ? pf0 : vmA]);
  }
  let sent = 0;
  for (let k = 0; k < bursts; k++) {
    // VM to VM, to the remote prefix (encapsulated), TCP, ICMP and the remote host's replies,
    // tunnelled
    for (let i = 0; i < BURST; i++) {
      const [f, port] = frames[i]!;
      if (i % 5 === 0) {
        // the source port of a VM's packet (an echo's identifier), the destination port of a
        // tunnelled reply
        const at = port === pf0 ? 54 + 20 + 2 : f[23] === 1 ? 14 + 20 + 4 : 14 + 20;
        const sport = 1024 + BURST + ((k * 7 + i) % 60000);
        f[at] = sport >> 8;
        f[at + 1] = sport & 0xff;
      }
      if (i % 8 === 4) f[47] = k < 2 ? 0x02 : 0x10;
      loadFrame(b, i, f, port);
      io.rxOff[i] = b.mbuf[i]!;
      io.rxStart[i] = b.start[i]!;
      io.rxLen[i] = b.len[i]!;
      io.rxPort[i] = port;
    }
    b.count = BURST;
    verdict.fill(FAST_MISS);
    fast.handOff(io, BURST, b, verdict, g, rxNodeByPort, dropNode);
    g.run(b);
    sent += g.txCount;
    g.resetSinks();
  }
  return sent;
}
