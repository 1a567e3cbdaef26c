import test from 'ava';
import { loadFrame, makeTestBatch, type PacketBatch } from '../../src/packet/batch.js';
import { DropReason } from '../../src/packet/drop-reasons.js';
import { counterWords, Graph, GraphNode, SinkNode, TX_EDGE } from '../../src/workers/graph.js';
import { RxPeriodicNode } from '../../src/workers/nodes/rx-periodic.js';
import { RxNode } from '../../src/workers/nodes/rx.js';

/** Stands in for cls: records the slots it sees and sends them to tx on port 2. */
class Recorder extends GraphNode {
  readonly name = 'cls';
  readonly edges = ['drop', TX_EDGE];
  readonly seen: number[] = [];
  process(b: PacketBatch, slot: number): number {
    this.seen.push(slot);
    b.outPort[slot] = 2;
    return 1;
  }
}

/** rx-2-0, cls, tx-2, drop: counters [calls, objs] at node index * 2. */
function build(): { g: Graph; counters: Float64Array; rec: Recorder; rx: RxNode } {
  const rx = new RxNode(2, 0);
  const rec = new Recorder();
  const nodes = [rx, rec, new SinkNode('tx-2'), new SinkNode('drop')];
  const counters = new Float64Array(counterWords(nodes.length));
  return { g: new Graph(nodes, counters), counters, rec, rx };
}

test('an rx node is named rx-<port>-<queue> and sends everything to cls', (t) => {
  for (const [port, queue] of [[0, 0], [2, 5], [255, 15]] as const) {
    const rx = new RxNode(port, queue);
    t.is(rx.name, `rx-${port}-${queue}`);
    t.deepEqual(rx.edges, ['drop', 'cls']);
    t.true(rx.passThroughSource);
    t.is(rx.edges[rx.process()], 'cls');
  }
});

test('packets from an rx source are counted on it once per run and reach cls in order', (t) => {
  const { g, counters, rec } = build();
  const b = makeTestBatch(8);
  for (let i = 0; i < 3; i++) {
    loadFrame(b, i, Uint8Array.of(i), 2);
    g.fromSource(0, i);
  }
  t.deepEqual([counters[0], counters[1]], [1, 3], 'rx: one call, three objects, counted on arrival');
  g.run(b);
  t.deepEqual(rec.seen, [0, 1, 2], 'cls saw every packet once, in rx order');
  t.deepEqual([counters[0], counters[1]], [1, 3], 'running the graph does not count rx again');
  t.deepEqual([counters[2], counters[3]], [1, 3], 'cls: one call, three objects');
  t.deepEqual([counters[4], counters[5]], [1, 3], 'tx-2: one call, three objects');
  t.deepEqual(Array.from(g.txSlots.subarray(0, g.txCount)), [0, 1, 2]);
  t.is(g.dropCount, 0);
  g.resetSinks();

  for (let i = 0; i < 2; i++) {
    loadFrame(b, i, Uint8Array.of(i), 2);
    g.fromSource(0, i);
  }
  g.run(b);
  t.deepEqual([counters[0], counters[1]], [2, 5], 'second run: one more call, two more objects');
  t.deepEqual([counters[2], counters[3]], [2, 5]);
  t.is(g.txCount, 2);
});

test('an rx run with no packets counts no call', (t) => {
  const { g, counters, rec } = build();
  g.run(makeTestBatch(2));
  t.deepEqual(Array.from(counters.subarray(0, 8)), [0, 0, 0, 0, 0, 0, 0, 0]);
  t.deepEqual(rec.seen, []);
});

test('the periodic source sends each packet to the tx node of its outPort', (t) => {
  const p = new RxPeriodicNode();
  t.is(p.name, 'rx_periodic');
  t.deepEqual(p.edges, ['drop', TX_EDGE]);
  t.false(p.passThroughSource);
  const nodes = [p, new SinkNode('tx-3'), new SinkNode('tx-5'), new SinkNode('drop')];
  const counters = new Float64Array(counterWords(nodes.length));
  const g = new Graph(nodes, counters);
  const b = makeTestBatch(8);
  const outs = [5, 3, 5, 9];
  outs.forEach((out, slot) => {
    loadFrame(b, slot, Uint8Array.of(slot), 0);
    b.outPort[slot] = out;
    b.dropReason[slot] = DropReason.NONE;
    g.fromSource(0, slot);
  });
  g.run(b);
  t.deepEqual([counters[0], counters[1]], [1, 4], 'rx_periodic: one call, four objects');
  t.deepEqual([counters[2], counters[3]], [1, 1], 'tx-3 got the packet for port 3');
  t.deepEqual([counters[4], counters[5]], [1, 2], 'tx-5 got both packets for port 5');
  t.deepEqual(Array.from(g.txSlots.subarray(0, g.txCount)).sort(), [0, 1, 2]);
  t.deepEqual(Array.from(g.dropSlots.subarray(0, g.dropCount)), [3], 'a port without a tx node: drop');
  t.is(b.dropReason[3], DropReason.NO_OUTPUT);
  t.is(counters[4 * 2 + DropReason.NO_OUTPUT], 1, 'counted under no_output');
});
