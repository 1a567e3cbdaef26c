/**
 * The graph alone, on bytes in an ordinary buffer (no DPDK): VM-to-VM UDP frames through
 * rx -> cls -> conntrack -> ipv4_lookup -> tx, a batch at a time. Shows the per-packet cost of the
 * graph's logic without NIC or mbuf memory effects.
 *
 *   node dist/bench/graph.js [--batch 64] [--rounds 200000]
 */
import { loadFrame, makeTestBatch, MAX_SLOTS } from '../src/packet/batch.js';
import { PortState, PortTable } from '../src/tables/port-table.js';
import { buildNodes } from '../src/workers/build-graph.js';
import { counterWords, Graph } from '../src/workers/graph.js';
import { createForwardingBuffers, DEFAULT_FORWARDING, type NodeContext, openForwarding } from '../src/workers/node-context.js';
import { udpFrame } from './frames.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

function main(): void {
  const batch = arg('--batch', 64);
  const rounds = arg('--rounds', 200000);
  const ports = PortTable.create();
  const mac = Uint8Array.of(0x66, 0x66, 0x66, 0x66, 0x66, 0x01);
  for (const p of [0, 1]) ports.initPort(p, PortState.PF, mac);
  for (const [p, ip] of [[2, 0x0a000001], [3, 0x0a000002]] as const) {
    ports.initPort(p, PortState.VF_IDLE, mac);
    ports.attach(p, { vni: 100, ipv4: ip, ipv6: new Uint8Array(16), underlay: new Uint8Array(16), hostname: '', pxeServer: '', bootFile: '' });
  }
  const ctx: NodeContext = { ports, settings: { dhcpMtu: 1500, dhcpDns: new Uint8Array(0), dhcpv6Dns: new Uint8Array(0), ipv6Overlay: false },
    fwd: openForwarding(createForwardingBuffers(), DEFAULT_FORWARDING, 0) };
  const portIds = [0, 1, 2, 3];
  const nodes = buildNodes(ctx, portIds, 0);
  const g = new Graph(nodes, new Float64Array(counterWords(nodes.length)));
  const b = makeTestBatch(MAX_SLOTS);
  const frames = Array.from({ length: batch }, (_, i) => udpFrame(0x0a000001, 0x0a000002, 1024 + i));
  const rx2 = g.indexOf('rx-2-0');
  frames.forEach((f, i) => loadFrame(b, i, f, 2));
  const run = (): void => {
    for (let i = 0; i < batch; i++) {
      b.reset(i, b.mbuf[i]!, b.start[i]!, 64, 2);
      g.fromSource(rx2, i);
    }
    g.run(b);
    g.resetSinks();
  };
  for (let r = 0; r < 20000; r++) run();
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) run();
  const ns = Number(process.hrtime.bigint() - t0) / (rounds * batch);
  console.log(`graph only (rx->cls->conntrack->ipv4_lookup->tx), batch ${batch}: ${ns.toFixed(1)} ns/packet, ${(1e3 / ns).toFixed(2)} Mpps`);
}

main();
