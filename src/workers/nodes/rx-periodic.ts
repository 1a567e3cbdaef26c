// rx_periodic: the source of packets the service sends on its own (gratuitous ARP, unsolicited NA,
// RA) on a timer; the worker builds them into fresh mbufs and this node sends them. Budget: ~2 ns.
import { GraphNode, TX_EDGE } from '../graph.js';

const E_TX = 1;

export class RxPeriodicNode extends GraphNode {
  readonly name = 'rx_periodic';
  readonly edges: readonly string[] = ['drop', TX_EDGE];
  process(): number {
    return E_TX;
  }
}
