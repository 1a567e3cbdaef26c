// rx-<port>-<queue>: the source node of one port's queue. The worker fills it from one rx burst
// over all ports; the node only counts and hands packets to cls. Budget: ~2 ns.
import { GraphNode } from '../graph.js';

const E_CLS = 1;

export class RxNode extends GraphNode {
  readonly name: string;
  readonly edges: readonly string[] = ['drop', 'cls'];
  override readonly passThroughSource = true;
  constructor(port: number, queue: number) {
    super();
    this.name = `rx-${port}-${queue}`;
  }
  process(): number {
    return E_CLS;
  }
}
