// arp: answers ARP requests for the gateway 169.254.0.1 in place from the port's own MAC and learns
// the VM MAC from the VM's first ARP after an interface is attached. Budget: ~25 ns, ~40 byte ops.
import type { PacketBatch } from '../../packet/batch.js';
import { DropReason } from '../../packet/drop-reasons.js';
import {
  ARP_HLEN, ARP_HTYPE, ARP_LEN, ARP_OP, ARP_OP_REPLY, ARP_OP_REQUEST, ARP_PLEN, ARP_PTYPE, ARP_SHA, ARP_SPA,
  ARP_THA, ARP_TPA, ETH_DST, ETH_HLEN, ETH_SRC, ETHERTYPE_IPV4, GATEWAY_IPV4,
} from '../../packet/headers.js';
import { B_OWN_MAC, PORT_ARP_DONE, PortState, type PortTable } from '../../tables/port-table.js';
import { drop, GraphNode, TX_EDGE } from '../graph.js';
import type { NodeContext } from '../node-context.js';

const E_TX = 1;

/**
 * Whether the port still waits for the VM's first ARP since its interface was attached (upstream
 * `dp_arp_cycle_needed`: interface ready and no ARP seen yet). While it does, the periodic ARP asks
 * for the VM's own address and the VM's ARP packets teach its MAC.
 * Only ARP ends the cycle (PORT_ARP_DONE); MAC learning from DHCP or ND does not.
 */
export function arpCycleNeeded(ports: PortTable, port: number): boolean {
  return ports.state(port) === PortState.VF_ACTIVE && (ports.flags(port) & PORT_ARP_DONE) === 0;
}

export class ArpNode extends GraphNode {
  readonly name = 'arp';
  readonly edges: readonly string[] = ['drop', TX_EDGE];
  private readonly ports: PortTable;

  constructor(ctx: NodeContext) {
    super();
    this.ports = ctx.ports;
  }

  process(b: PacketBatch, slot: number): number {
    const s = b.start[slot]!;
    const bytes = b.bytes;
    const dv = b.dv;
    if (b.len[slot]! < ETH_HLEN + ARP_LEN) return drop(b, slot, DropReason.TRUNCATED);
    const a = s + ETH_HLEN;
    if (dv.getUint16(a + ARP_HTYPE) !== 1 || dv.getUint16(a + ARP_PTYPE) !== ETHERTYPE_IPV4
      || bytes[a + ARP_HLEN] !== 6 || bytes[a + ARP_PLEN] !== 4) return drop(b, slot, DropReason.MALFORMED);

    const port = b.inPort[slot]!;
    const ports = this.ports;
    const sip = dv.getUint32(a + ARP_SPA);

    // The VM's first ARP (any opcode) from its own address: learn the Ethernet source and, as
    // upstream does, send the frame back out unchanged instead of answering it.
    if (arpCycleNeeded(ports, port) && sip === ports.ipv4(port)) {
      ports.learnVmMac(port, bytes, s + ETH_SRC);
      ports.markArpDone(port);
      b.outPort[slot] = port;
      return E_TX;
    }

    if (dv.getUint16(a + ARP_OP) !== ARP_OP_REQUEST || dv.getUint32(a + ARP_TPA) !== GATEWAY_IPV4) {
      return drop(b, slot, DropReason.ARP_NOT_FOR_US);
    }

    // reply in place: to the sender's hardware address, from the port MAC
    const own = ports.at(port, B_OWN_MAC);
    const pb = ports.bytes;
    for (let i = 0; i < 6; i++) {
      const sha = bytes[a + ARP_SHA + i]!;
      const mine = pb[own + i]!;
      bytes[s + ETH_DST + i] = sha;
      bytes[a + ARP_THA + i] = sha;
      bytes[s + ETH_SRC + i] = mine;
      bytes[a + ARP_SHA + i] = mine;
    }
    const tip = dv.getUint32(a + ARP_TPA);
    dv.setUint32(a + ARP_TPA, sip);
    dv.setUint32(a + ARP_SPA, tip);
    dv.setUint16(a + ARP_OP, ARP_OP_REPLY);
    b.outPort[slot] = port;
    return E_TX;
  }
}

