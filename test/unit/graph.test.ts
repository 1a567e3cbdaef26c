import test from 'ava';
import { loadFrame, makeTestBatch, type PacketBatch } from '../../src/packet/batch.js';
import { DROP_REASON_COUNT, DropReason } from '../../src/packet/drop-reasons.js';
import { buildNodes, graphNodeNames } from '../../src/workers/build-graph.js';
import { counterWords, Graph, GraphNode, SinkNode, TX_EDGE } from '../../src/workers/graph.js';
import { makeCtx } from './frames.js';

/** Sends even first bytes to tx on port 7, odd ones to drop with MALFORMED. */
class Splitter extends GraphNode {
  readonly name = 'split';
  readonly edges = ['drop', 'mid', TX_EDGE];
  process(b: PacketBatch, slot: number): number {
    if (b.bytes[b.start[slot]!]! % 2 === 0) return 1;
    b.dropReason[slot] = DropReason.MALFORMED;
    return 0;
  }
}
class Mid extends GraphNode {
  readonly name = 'mid';
  readonly edges = ['drop', TX_EDGE];
  process(b: PacketBatch, slot: number): number {
    b.outPort[slot] = 7;
    return 1;
  }
}
/** Sends a packet back to an earlier node once (recirculation), then to tx. */
class Loop extends GraphNode {
  readonly name = 'loop';
  readonly edges = ['drop', 'split', TX_EDGE];
  process(b: PacketBatch, slot: number): number {
    if (b.vni[slot] === 0) {
      b.vni[slot] = 1;
      return 1;
    }
    return 2;
  }
}

function build(extra: GraphNode[] = []): { g: Graph; counters: Float64Array } {
  const nodes = [new Splitter(), new Mid(), ...extra, new SinkNode('tx-7'), new SinkNode('drop')];
  const counters = new Float64Array(counterWords(nodes.length));
  return { g: new Graph(nodes, counters), counters };
}

test('packets follow the edges their node returns to tx or drop', (t) => {
  const { g, counters } = build();
  const b = makeTestBatch(8);
  for (let i = 0; i < 4; i++) {
    loadFrame(b, i, Uint8Array.of(i, 0, 0), 0);
    g.enqueue(0, i);
  }
  g.run(b);
  t.deepEqual(Array.from(g.txSlots.subarray(0, g.txCount)), [0, 2]);
  t.deepEqual(Array.from(g.dropSlots.subarray(0, g.dropCount)), [1, 3]);
  // split: 1 call, 4 packets; mid: 1 call 2 packets; drop reason MALFORMED counted twice
  t.deepEqual([counters[0], counters[1], counters[2], counters[3]], [1, 4, 1, 2]);
  t.is(counters[4 * 2 + DropReason.MALFORMED], 2);
  t.is(counters.length, 4 * 2 + DROP_REASON_COUNT);
});

test('the tx pseudo edge goes to the tx node of the packet outPort, or drop if there is none', (t) => {
  const { g } = build();
  const b = makeTestBatch(4);
  loadFrame(b, 0, Uint8Array.of(0), 0);
  g.enqueue(g.indexOf('mid'), 0);
  loadFrame(b, 1, Uint8Array.of(0), 0);
  g.run(b);
  t.is(g.txCount, 1);
  g.resetSinks();
  // a node that sends to a port without a tx node: drop
  class Nowhere extends GraphNode {
    readonly name = 'nowhere';
    readonly edges = ['drop', TX_EDGE];
    process(bb: PacketBatch, slot: number): number {
      bb.outPort[slot] = 3;
      return 1;
    }
  }
  const nodes = [new Nowhere(), new SinkNode('tx-7'), new SinkNode('drop')];
  const g2 = new Graph(nodes, new Float64Array(counterWords(3)));
  g2.enqueue(0, 1);
  g2.run(b);
  t.is(g2.txCount, 0);
  t.is(g2.dropCount, 1);
});

test('a packet sent back to an earlier node is processed again in the same run', (t) => {
  const { g } = build([new Loop()]);
  const b = makeTestBatch(4);
  loadFrame(b, 0, Uint8Array.of(2), 0);
  g.enqueue(g.indexOf('loop'), 0);
  g.run(b);
  // loop -> split -> mid -> tx
  t.is(g.txCount, 1);
  t.is(b.vni[0], 1);
});

test('an edge index out of range drops the packet instead of throwing', (t) => {
  class Bad extends GraphNode {
    readonly name = 'bad';
    readonly edges = ['drop'];
    process(): number {
      return 9;
    }
  }
  const g = new Graph([new Bad(), new SinkNode('drop')], new Float64Array(counterWords(2)));
  const b = makeTestBatch(2);
  loadFrame(b, 0, Uint8Array.of(1), 0);
  g.enqueue(0, 0);
  t.notThrows(() => g.run(b));
  t.is(g.dropCount, 1);
});

test('graph construction rejects unknown edges, duplicate names and a missing drop node', (t) => {
  class Lost extends GraphNode {
    readonly name = 'lost';
    readonly edges = ['drop', 'nowhere'];
    process(): number {
      return 0;
    }
  }
  t.throws(() => new Graph([new Lost(), new SinkNode('drop')], new Float64Array(64)), { message: /unknown next node nowhere/ });
  t.throws(() => new Graph([new SinkNode('drop'), new SinkNode('drop')], new Float64Array(64)), { message: /duplicate/ });
  t.throws(() => new Graph([new SinkNode('tx-1')], new Float64Array(64)), { message: /no drop node/ });
});

test('the service graph has upstream\'s node order, every edge resolves and drop is edge 0 everywhere', (t) => {
  const ctx = makeCtx();
  const ports = [0, 1, 3];
  const nodes = buildNodes(ctx, ports, 2);
  t.deepEqual(nodes.map((n) => n.name), graphNodeNames(ports, 2));
  t.deepEqual(graphNodeNames(ports, 2), [
    'rx-0-2', 'rx-1-2', 'rx-3-2', 'rx_periodic', 'cls', 'arp', 'ipv6_nd', 'ipip_decap', 'conntrack', 'dhcp', 'dhcpv6', 'lb', 'dnat',
    'ipv4_lookup', 'ipv6_lookup', 'snat', 'firewall', 'packet_relay', 'virtsvc', 'ipip_encap', 'tx-0', 'tx-1', 'tx-3', 'drop',
  ]);
  t.notThrows(() => new Graph(nodes, new Float64Array(counterWords(nodes.length))));
  for (const n of nodes) if (n.edges.length > 0) t.is(n.edges[0], 'drop', n.name);
  // every edge goes forward in the run order (no recirculation in the service graph)
  const at = new Map(nodes.map((n, i) => [n.name, i]));
  for (const [i, n] of nodes.entries()) {
    for (const e of n.edges.slice(1)) if (e !== TX_EDGE) t.true(at.get(e)! > i, `${n.name} -> ${e}`);
  }
});
