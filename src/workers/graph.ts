/**
 * The graph engine: nodes with named next edges (`drop` is edge 0), a queue of slots per node, and
 * one batch loop written once. A node's per-packet function returns the edge index; the engine
 * moves the slot to that node's queue. Nodes run in their registration order (a topological order);
 * if a node sends packets back to an earlier node (recirculation) the loop runs again from there.
 *
 * Per-node call and object counters live in a shared Float64Array (one writer: this worker) that
 * the supervisor reads when telemetry or metrics are scraped.
 */
import { MAX_SLOTS, type PacketBatch } from '../packet/batch.js';
import { DROP_REASON_COUNT, DropReason } from '../packet/drop-reasons.js';

/** Pseudo edge name: "the tx node of the packet's outPort". */
export const TX_EDGE = 'tx';

export abstract class GraphNode {
  /** Upstream node name (telemetry shows it). */
  abstract readonly name: string;
  /** Next edges by name; index 0 must be 'drop'. */
  abstract readonly edges: readonly string[];
  /** Decides what happens to one packet; returns the edge index. Never throws. */
  abstract process(b: PacketBatch, slot: number): number;
  /**
   * A pass-through source (rx-<port>-<queue>): every packet goes to edge 1. The engine then counts
   * the node and queues straight at its successor (Graph.fromSource), saving one dispatch per
   * packet, as rte_graph source nodes enqueue from their own process function.
   */
  readonly passThroughSource: boolean = false;
}

/** Counter layout: [calls, objs] per node, then one counter per drop reason. */
export function counterWords(nodeCount: number): number {
  return nodeCount * 2 + DROP_REASON_COUNT;
}

const SINK = -2;

export class Graph {
  readonly nodes: GraphNode[];
  /** next[node][edge] = node index, or -1 for the tx pseudo edge */
  private readonly next: Int32Array[];
  /** All node queues in one array: node i's queue starts at i * MAX_SLOTS. */
  private readonly qbuf: Uint16Array;
  private readonly qlen: Int32Array;
  private readonly txByPort: Int32Array;
  readonly counters: Float64Array;
  private readonly dropIndex: number;
  private readonly sinks: Uint8Array;
  /** For pass-through sources: the node their packets go to (-1 otherwise). */
  private readonly sourceNext: Int32Array;
  /** Run number when a source or sink last counted a call (one call per node per run). */
  private readonly sourceRun: Int32Array;
  private runId = 0;
  /** Slots that reached tx nodes / the drop node this run, in order (for the worker to flush). */
  readonly txSlots = new Uint16Array(MAX_SLOTS);
  txCount = 0;
  readonly dropSlots = new Uint16Array(MAX_SLOTS);
  dropCount = 0;

  /**
   * @param nodes every node, in run order; must include one named 'drop' and tx nodes `tx-<port>`
   * @param counters shared Float64Array of at least counterWords(nodes.length) words
   */
  constructor(nodes: GraphNode[], counters: Float64Array, maxPorts = 256) {
    this.nodes = nodes;
    this.counters = counters;
    const byName = new Map<string, number>();
    nodes.forEach((n, i) => {
      if (byName.has(n.name)) throw new Error(`duplicate graph node ${n.name}`);
      byName.set(n.name, i);
    });
    const drop = byName.get('drop');
    if (drop === undefined) throw new Error('graph has no drop node');
    this.dropIndex = drop;
    this.txByPort = new Int32Array(maxPorts).fill(-1);
    this.sinks = new Uint8Array(nodes.length);
    this.sinks[drop] = 1;
    for (const [name, i] of byName) {
      const m = /^tx-(\d+)$/.exec(name);
      if (m) {
        this.txByPort[Number(m[1])] = i;
        this.sinks[i] = 1;
      }
    }
    this.next = nodes.map((n) => {
      if (n.edges[0] !== 'drop' && n.edges.length > 0) throw new Error(`node ${n.name}: edge 0 must be drop`);
      return Int32Array.from(n.edges, (e) => {
        if (e === TX_EDGE) return -1;
        const to = byName.get(e);
        if (to === undefined) throw new Error(`node ${n.name}: unknown next node ${e}`);
        return to;
      });
    });
    this.qbuf = new Uint16Array(nodes.length * MAX_SLOTS);
    this.sourceNext = Int32Array.from(nodes, (n, i) => (n.passThroughSource ? this.next[i]![1] ?? -1 : -1));
    this.sourceRun = new Int32Array(nodes.length).fill(-1);
    this.qlen = new Int32Array(nodes.length);
    if (counters.length < counterWords(nodes.length)) throw new Error('counter array too small');
  }

  indexOf(name: string): number {
    return this.nodes.findIndex((n) => n.name === name);
  }

  /** Queues a slot at a node (rx sources and locally generated packets enter here). */
  enqueue(node: number, slot: number): void {
    const n = this.qlen[node]!;
    this.qbuf[node * MAX_SLOTS + n] = slot;
    this.qlen[node] = n + 1;
  }

  /**
   * A packet from a pass-through source node: counted on the source (objs, and one call per run)
   * and queued at the source's successor. Other nodes get it queued at themselves.
   */
  fromSource(node: number, slot: number): void {
    const to = this.sourceNext[node]!;
    if (to < 0) {
      this.enqueue(node, slot);
      return;
    }
    const c = this.counters;
    if (this.sourceRun[node] !== this.runId) {
      this.sourceRun[node] = this.runId;
      c[node * 2] = c[node * 2]! + 1;
    }
    c[node * 2 + 1] = c[node * 2 + 1]! + 1;
    this.enqueue(to, slot);
  }

  /** Runs every queued packet to a sink (a tx node or drop). */
  run(b: PacketBatch): void {
    this.runId = (this.runId + 1) | 0;
    const nodes = this.nodes;
    const count = nodes.length;
    const qlen = this.qlen;
    const qbuf = this.qbuf;
    const counters = this.counters;
    const txByPort = this.txByPort;
    const outPort = b.outPort;
    let i = 0;
    while (i < count) {
      const n = qlen[i]!;
      if (n === 0) {
        i++;
        continue;
      }
      const qs = i * MAX_SLOTS;
      qlen[i] = 0;
      counters[i * 2] = counters[i * 2]! + 1;
      counters[i * 2 + 1] = counters[i * 2 + 1]! + n;
      if (this.sinks[i] === 1) {
        this.collect(i, qs, n, b);
        i++;
        continue;
      }
      const node = nodes[i]!;
      // the method is loaded once per node visit, not per packet: the load site sees every node
      // class (megamorphic, a stub cache probe per load)
      const visit = node.process;
      const next = this.next[i]!;
      const edges = next.length;
      let back = count;
      for (let k = 0; k < n; k++) {
        const slot = qbuf[qs + k]!;
        const edge = visit.call(node, b, slot);
        let to = edge >= 0 && edge < edges ? next[edge]! : this.noOutput(b, slot);
        if (to === -1) {
          to = txByPort[outPort[slot]!] ?? -1;
          if (to < 0) to = this.noOutput(b, slot);
        }
        const tn = qlen[to]!;
        qbuf[to * MAX_SLOTS + tn] = slot;
        qlen[to] = tn + 1;
        if (to < back && to <= i) back = to;
      }
      i = back < count ? back : i + 1;
    }
  }

  /** The drop node, for a packet that has nowhere to go (a bug in a node, or a port without tx). */
  private noOutput(b: PacketBatch, slot: number): number {
    b.dropReason[slot] = DropReason.NO_OUTPUT;
    return this.dropIndex;
  }

  private collect(node: number, qs: number, n: number, b: PacketBatch): void {
    const q = this.qbuf;
    if (node === this.dropIndex) {
      const base = this.nodes.length * 2;
      for (let k = 0; k < n; k++) {
        const slot = q[qs + k]!;
        const r = base + b.dropReason[slot]!;
        this.counters[r] = this.counters[r]! + 1;
        this.dropSlots[this.dropCount++] = slot;
      }
      return;
    }
    for (let k = 0; k < n; k++) this.txSlots[this.txCount++] = q[qs + k]!;
  }

  /** A packet the worker forwarded without the graph (fast path): straight to the tx list. */
  sendDirect(slot: number): void {
    this.txSlots[this.txCount++] = slot;
  }

  /** Clears the sink lists after the worker flushed them. */
  resetSinks(): void {
    this.txCount = 0;
    this.dropCount = 0;
  }
}

/** A sink node: `drop` (frees the mbuf) or `tx-<port>` (sends on the port). */
export class SinkNode extends GraphNode {
  readonly name: string;
  readonly edges: readonly string[] = [];
  constructor(name: string) {
    super();
    this.name = name;
  }
  process(): number {
    return SINK;
  }
}

/**
 * Marks a packet dropped for `reason` (a DropReason, counted by the drop node); returns the drop
 * edge, 0, so a node's per-packet function ends with `return drop(b, slot, DropReason.X)`.
 */
export function drop(b: PacketBatch, slot: number, reason: number): number {
  b.dropReason[slot] = reason;
  return 0;
}
