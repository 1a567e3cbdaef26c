/**
 * What a flow's NAT flags do to its packets, shared by dnat and snat (first packets, and later
 * packets of a flow whose cached decision went stale) and by conntrack's fast path (later packets):
 * one definition, so the fast path cannot drift from the graph. IPv4 only (IPv6 has no NAT here).
 */
import type { PacketBatch } from '../../packet/batch.js';
import { PF_IPV6 } from '../../packet/batch.js';
import { ETH_HLEN, IPPROTO_ICMP, IPV4_DST, IPV4_SRC } from '../../packet/headers.js';
import { quotedPacket, rewriteIpv4, rewriteL4Port, rewriteQuoted } from '../../packet/nat.js';
import {
  FLOW_DST_NAT, FLOW_NAT_PORT, FLOW_SRC_NAT, flowHash, FlowTable, K_DST, K_PORTS, K_PROTO, K_SRC, KEY_STRIDE, KEY_WORDS, R_FLAGS, R_KEY,
  RECORD, setNatFlags,
} from '../../tables/flow-table.js';
import { FS_NAT_RACE, FS_TABLE_FULL, type Forwarding } from '../node-context.js';

/**
 * Destination rewrites: DNAT of the original direction (to the reply's source), un-SNAT of replies
 * (to the original source; with network NAT also the destination port, to the original source port).
 */
export function applyDstNat(flows: FlowTable, b: PacketBatch, slot: number): void {
  applyNat(flows, b, slot, IPV4_DST, FLOW_DST_NAT, FLOW_SRC_NAT, K_SRC);
}

/**
 * Source rewrites: SNAT of the original direction (to the reply's destination; with network NAT
 * also the source port, to the reply's destination port), un-DNAT of replies (to the original destination).
 */
export function applySrcNat(flows: FlowTable, b: PacketBatch, slot: number): void {
  applyNat(flows, b, slot, IPV4_SRC, FLOW_SRC_NAT, FLOW_DST_NAT, K_DST);
}

/**
 * The NAT of flow f (it has FLOW_SRC_NAT or FLOW_DST_NAT) applied to its packet in direction `dir`
 * in place, as dnat and snat apply it (destination, then source; see natSide): IPv4 header at `ip`,
 * L4 header at `l4` with `l4len` bytes, protocol `proto`. The fast path's way for packets it never
 * puts on a batch slot.
 */
export function natPacket(rec: Int32Array, f: number, dir: number, dv: DataView, ip: number, l4: number, l4len: number, proto: number): void {
  const base = f * RECORD;
  const st = rec[base + R_FLAGS]!;
  natSide(rec, base, st, dir, dv, ip, l4, l4len, proto, IPV4_DST, FLOW_DST_NAT, FLOW_SRC_NAT, K_SRC);
  natSide(rec, base, st, dir, dv, ip, l4, l4len, proto, IPV4_SRC, FLOW_SRC_NAT, FLOW_DST_NAT, K_DST);
}

function applyNat(flows: FlowTable, b: PacketBatch, slot: number, field: number, flag0: number, flag1: number, keyWord: number): void {
  const rec = flows.rec;
  const base = b.flow[slot]! * RECORD;
  const st = rec[base + R_FLAGS]!;
  if ((st & (FLOW_SRC_NAT | FLOW_DST_NAT)) === 0 || (b.flags[slot]! & PF_IPV6) !== 0) return;
  const s = b.start[slot]!;
  const l4 = b.l4[slot]!;
  natSide(rec, base, st, b.dir[slot]!, b.dv, s + ETH_HLEN, s + l4, b.len[slot]! - l4, b.proto[slot]!, field, flag0, flag1, keyWord);
}

/**
 * Rewrites address `field` of an IPv4 packet of the flow at rec[base] (flags `st`) in direction
 * `dir` when the flow has `flag0` (original direction: the value is word `keyWord` of the reply
 * key) or `flag1` (reply direction: the same word of the original key). Network NAT (the SNAT
 * flag with FLOW_NAT_PORT) translates the port on that side too. An ICMP error about the flow's
 * packets (conntrack found the flow by the packet it quotes) gets the mirror image in the quoted
 * packet: what was translated there on its way out is put back.
 */
function natSide(rec: Int32Array, base: number, st: number, dir: number, dv: DataView, ip: number, l4: number, l4len: number, proto: number,
  field: number, flag0: number, flag1: number, keyWord: number): void {
  let addr: number;
  if (dir === 0 && (st & flag0) !== 0) addr = rec[base + R_KEY + KEY_STRIDE + keyWord]!;
  else if (dir === 1 && (st & flag1) !== 0) addr = rec[base + R_KEY + keyWord]!;
  else return;
  rewriteIpv4(dv, ip, field, addr, proto, l4, l4len);
  let port = -1;
  if ((st & FLOW_NAT_PORT) !== 0 && ((dir === 0 ? flag0 : flag1) & FLOW_SRC_NAT) !== 0) {
    port = field === IPV4_SRC ? rec[base + R_KEY + KEY_STRIDE + K_PORTS]! & 0xffff : rec[base + R_KEY + K_PORTS]! >>> 16;
    rewriteL4Port(dv, l4, l4len, proto, field === IPV4_DST, port);
  }
  if (proto !== IPPROTO_ICMP) return;
  const q = quotedPacket(dv, l4, l4len);
  if (q >= 0) rewriteQuoted(dv, l4, q, field === IPV4_SRC ? IPV4_DST : IPV4_SRC, addr, port);
}

/** Sets the source (`dst` false) or destination L4 port of the packet (ICMP echo: its identifier). */
export function rewritePort(b: PacketBatch, slot: number, dst: boolean, port: number): void {
  const s = b.start[slot]!;
  const l4 = b.l4[slot]!;
  rewriteL4Port(b.dv, s + l4, b.len[slot]! - l4, b.proto[slot]!, dst, port);
}

/**
 * Marks flow f NATed (`flag`) on its first packet and re-indexes its reply key with word `keyWord`
 * set to `addr` (replies are then expected from or to the translated address), with key mark
 * `mark` (KEY_MARK_SHIFT). False when the index cannot take the new key: the caller drops the
 * packet as FLOW_TABLE_FULL and counts it.
 */
/** tryReplyKey's answers. */
export const KEY_TAKEN = 0;
export const KEY_SET = 1;
export const KEY_REFUSED = 2;

/**
 * Tries k[0..KEY_WORDS) as the reply key of flow f, whose old reply key is at k[KEY_WORDS..]: a
 * port search's step (network NAT, virtual services). KEY_TAKEN if a flow has that key, or another
 * worker's new flow took it at the same moment (after publishing, each looks for another record with
 * the key: of two such workers at least one sees the other, and moves on); KEY_SET with f's reply
 * key set; KEY_REFUSED if the index refused it (f's old reply key is back then).
 */
export function tryReplyKey(fwd: Forwarding, f: number, k: Int32Array): number {
  const flows = fwd.flows;
  const h = flowHash(k, 0);
  if (flows.lookup(k, 0, h) >= 0) return KEY_TAKEN;
  if (!fwd.owner.rekeyReply(f, k, 0, h)) {
    fwd.stats[FS_TABLE_FULL] = fwd.stats[FS_TABLE_FULL]! + 1;
    fwd.owner.rekeyReply(f, k, KEY_WORDS, flowHash(k, KEY_WORDS));
    return KEY_REFUSED;
  }
  if (flows.lookupOther(k, 0, h, f) >= 0) {
    fwd.stats[FS_NAT_RACE] = fwd.stats[FS_NAT_RACE]! + 1;
    return KEY_TAKEN;
  }
  return KEY_SET;
}

export function natFlow(fwd: Forwarding, f: number, flag: number, keyWord: number, addr: number, k: Int32Array, mark = 0): boolean {
  const flows = fwd.flows;
  setNatFlags(flows.rec, f, flag);
  flows.copyKey(f, 1, k, 0);
  k[keyWord] = addr | 0;
  k[K_PROTO] = k[K_PROTO]! | mark;
  if (fwd.owner.rekeyReply(f, k, 0, flowHash(k, 0))) return true;
  fwd.stats[FS_TABLE_FULL] = fwd.stats[FS_TABLE_FULL]! + 1;
  return false;
}

export function rewriteAddr(b: PacketBatch, slot: number, field: number, addr: number): void {
  const s = b.start[slot]!;
  const l4 = b.l4[slot]!;
  rewriteIpv4(b.dv, s + ETH_HLEN, field, addr, b.proto[slot]!, s + l4, b.len[slot]! - l4);
}
