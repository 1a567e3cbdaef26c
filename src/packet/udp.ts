/** UDP header checks shared by the nodes that serve UDP protocols (DHCP, DHCPv6). */
import type { PacketBatch } from './batch.js';
import { DropReason } from './drop-reasons.js';
import { UDP_HLEN, UDP_LEN } from './headers.js';

/**
 * Validates the UDP header at b.l4[slot]: it lies in the frame and its length field covers at
 * least the header and no more than the frame. Returns the length field, or a negative DropReason
 * (-TRUNCATED, -MALFORMED). Allocation-free.
 */
export function udpLength(b: PacketBatch, slot: number): number {
  const len = b.len[slot]!;
  const l4 = b.l4[slot]!;
  if (l4 + UDP_HLEN > len) return -DropReason.TRUNCATED;
  const udpLen = b.dv.getUint16(b.start[slot]! + l4 + UDP_LEN);
  if (udpLen < UDP_HLEN) return -DropReason.MALFORMED;
  if (l4 + udpLen > len) return -DropReason.TRUNCATED;
  return udpLen;
}
