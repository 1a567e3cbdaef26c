/**
 * What a flow's NAT flags do to its packets, shared by dnat and snat (first packets, and later
 * packets of a flow whose cached decision went stale) and by conntrack's fast path (later packets):
 * one definition, so the fast path cannot drift from the graph. IPv4 only (IPv6 has no NAT here).
 */
import type { PacketBatch } from '../../packet/batch.js';
import { PF_IPV6 } from '../../packet/batch.js';
import { ETH_HLEN, IPV4_DST, IPV4_SRC } from '../../packet/headers.js';
import { rewriteIpv4 } from '../../packet/nat.js';
import { FLOW_DST_NAT, FLOW_SRC_NAT, K_DST, K_SRC, KEY_STRIDE, R_FLAGS, R_KEY, RECORD, type FlowTable } from '../../tables/flow-table.js';

/** Destination rewrites: DNAT of the original direction, un-SNAT of replies. */
export function applyDstNat(flows: FlowTable, b: PacketBatch, slot: number): void {
  const f = b.flow[slot]!;
  const base = f * RECORD;
  const st = flows.rec[base + R_FLAGS]!;
  if ((st & (FLOW_SRC_NAT | FLOW_DST_NAT)) === 0 || (b.flags[slot]! & PF_IPV6) !== 0) return;
  const dir = b.dir[slot]!;
  let addr: number;
  if (dir === 0 && (st & FLOW_DST_NAT) !== 0) addr = flows.rec[base + R_KEY + KEY_STRIDE + K_SRC]!;
  else if (dir === 1 && (st & FLOW_SRC_NAT) !== 0) addr = flows.rec[base + R_KEY + K_SRC]!;
  else return;
  rewriteAddr(b, slot, IPV4_DST, addr);
}

/** Source rewrites: SNAT of the original direction, un-DNAT of replies. */
export function applySrcNat(flows: FlowTable, b: PacketBatch, slot: number): void {
  const f = b.flow[slot]!;
  const base = f * RECORD;
  const st = flows.rec[base + R_FLAGS]!;
  if ((st & (FLOW_SRC_NAT | FLOW_DST_NAT)) === 0 || (b.flags[slot]! & PF_IPV6) !== 0) return;
  const dir = b.dir[slot]!;
  let addr: number;
  if (dir === 0 && (st & FLOW_SRC_NAT) !== 0) addr = flows.rec[base + R_KEY + KEY_STRIDE + K_DST]!;
  else if (dir === 1 && (st & FLOW_DST_NAT) !== 0) addr = flows.rec[base + R_KEY + K_DST]!;
  else return;
  rewriteAddr(b, slot, IPV4_SRC, addr);
}

export function rewriteAddr(b: PacketBatch, slot: number, field: number, addr: number): void {
  const s = b.start[slot]!;
  const l4 = b.l4[slot]!;
  rewriteIpv4(b.dv, s + ETH_HLEN, field, addr, b.proto[slot]!, s + l4, b.len[slot]! - l4);
}
