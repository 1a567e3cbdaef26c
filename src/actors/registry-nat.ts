/**
 * The NAT side tables (src/dp_nat.c): destination-NAT entries, neighbour NAT ranges and the order
 * upstream lists local NATs in. The per-interface VIP and NAT settings live with the interface in
 * the registry; this module keeps what is shared between interfaces and hosts.
 *
 * DNAT: a {VNI, IP} is answered by this host while a VIP, a local NAT or a neighbour NAT uses it.
 * A VIP owns its entry exclusively (a second one is DNAT_EXISTS); NAT users share theirs. Upstream
 * drops a shared entry when the first NAT user goes (while another local NAT still uses the IP);
 * counting users instead keeps the entry until the last one leaves.
 *
 * Control path only.
 */
import { DpError, DpErrorCode } from './errors.js';
import type { ChangeLog } from './registry-changes.js';
import type { DnatEntry, NeighborNatEntry } from './registry-types.js';
import { RteHashOrder } from './rte-hash-order.js';
import { MAX_NEIGHBOR_NATS } from '../tables/nat-table.js';
import { formatIpv4 } from './underlay.js';

/** Upstream sizes its SNAT table for 126 VFs x 32 ranges (DP_NAT_TABLE_MAX). */
export const SNAT_TABLE_CAPACITY = 126 * 32;

interface DnatRecord {
  entry: DnatEntry;
  vip: boolean;
  natUsers: number;
}

function dnatKey(vni: number, ip: number): string {
  return `${vni >>> 0}:${ip >>> 0}`;
}

/** [min, max) ranges of the same NAT IP overlap (upstream compares regardless of VNI). */
function overlaps(e: NeighborNatEntry, natIp: number, min: number, max: number): boolean {
  return e.natIp === natIp && max > e.minPort && min < e.maxPort;
}

export class NatTables {
  private readonly dnat = new Map<string, DnatRecord>();
  /** Neighbour ranges in insertion order (upstream's list, also its listing order). */
  private readonly neighbors: NeighborNatEntry[] = [];
  /**
   * Interfaces with a VIP or a NAT, placed as upstream's SNAT hash table (key {IPv4, VNI}) would
   * place them; ListLocalNats reports in this order.
   */
  readonly snatOrder = new RteHashOrder<object>(SNAT_TABLE_CAPACITY);

  constructor(private readonly changes: ChangeLog) {}

  // ---- DNAT ---------------------------------------------------------------------------------

  /** Claimed {VNI, IPv4} addresses (VIPs and NAT addresses). */
  get dnatCount(): number {
    return this.dnat.size;
  }

  hasDnat(vni: number, ip: number): boolean {
    return this.dnat.has(dnatKey(vni, ip));
  }

  /** Every DNAT entry (for building packet-path tables). */
  dnatEntries(): DnatEntry[] {
    return [...this.dnat.values()].map((r) => r.entry);
  }

  /** Claims {VNI, vip} for a VIP translating to `target`; DNAT_EXISTS if anything uses it. */
  addVipDnat(vni: number, vip: number, target: number): void {
    const key = dnatKey(vni, vip);
    if (this.dnat.has(key)) throw new DpError(DpErrorCode.DNAT_EXISTS, `${formatIpv4(vip)} in VNI ${vni} is already translated`);
    const entry: DnatEntry = { vni: vni >>> 0, ip: vip >>> 0, target: target >>> 0 };
    this.dnat.set(key, { entry, vip: true, natUsers: 0 });
    this.changes.record({ kind: 'dnat-added', entry });
  }

  removeVipDnat(vni: number, vip: number): void {
    const key = dnatKey(vni, vip);
    const rec = this.dnat.get(key);
    if (rec === undefined || !rec.vip) return;
    rec.vip = false;
    if (rec.natUsers === 0) this.drop(key, rec);
  }

  /** One more NAT user (local or neighbour) of {VNI, IP}; an existing entry is shared. */
  addNatDnat(vni: number, ip: number): void {
    const key = dnatKey(vni, ip);
    const rec = this.dnat.get(key);
    if (rec !== undefined) {
      rec.natUsers++;
      return;
    }
    const entry: DnatEntry = { vni: vni >>> 0, ip: ip >>> 0, target: 0 };
    this.dnat.set(key, { entry, vip: false, natUsers: 1 });
    this.changes.record({ kind: 'dnat-added', entry });
  }

  removeNatDnat(vni: number, ip: number): void {
    const key = dnatKey(vni, ip);
    const rec = this.dnat.get(key);
    if (rec === undefined || rec.natUsers === 0) return;
    if (--rec.natUsers === 0 && !rec.vip) this.drop(key, rec);
  }

  private drop(key: string, rec: DnatRecord): void {
    this.dnat.delete(key);
    this.changes.record({ kind: 'dnat-removed', entry: rec.entry });
  }

  // ---- neighbour NAT ------------------------------------------------------------------------

  /**
   * Registers another host's port range [min, max) of `natIp`. ALREADY_EXISTS when it overlaps a
   * range of the same IP, in any VNI (as upstream checks); OUT_OF_MEMORY beyond the workers' table
   * (MAX_NEIGHBOR_NATS).
   */
  addNeighbor(natIp: number, vni: number, minPort: number, maxPort: number, underlay: Uint8Array): NeighborNatEntry {
    if (this.neighbors.length >= MAX_NEIGHBOR_NATS) {
      // upstream's list has no bound; its allocation failure is OUT_OF_MEMORY
      throw new DpError(DpErrorCode.OUT_OF_MEMORY, `the neighbour NAT table is full (${MAX_NEIGHBOR_NATS} ranges)`);
    }
    const clash = this.neighbors.find((e) => overlaps(e, natIp, minPort, maxPort));
    if (clash !== undefined) {
      throw new DpError(
        DpErrorCode.ALREADY_EXISTS,
        `${formatIpv4(natIp)} ports ${minPort}-${maxPort} overlap ${clash.minPort}-${clash.maxPort} (VNI ${clash.vni})`,
      );
    }
    const entry: NeighborNatEntry = { natIp: natIp >>> 0, vni: vni >>> 0, minPort, maxPort, underlay: underlay.slice(0, 16) };
    this.neighbors.push(entry);
    this.changes.record({ kind: 'neighbor-nat-added', entry });
    this.addNatDnat(vni, natIp);
    return entry;
  }

  /** Removes the range with exactly these values; NOT_FOUND otherwise. */
  removeNeighbor(natIp: number, vni: number, minPort: number, maxPort: number): NeighborNatEntry {
    const i = this.neighbors.findIndex(
      (e) => e.natIp === natIp >>> 0 && e.vni === vni >>> 0 && e.minPort === minPort && e.maxPort === maxPort,
    );
    const entry = this.neighbors[i];
    if (entry === undefined) {
      throw new DpError(DpErrorCode.NOT_FOUND, `no neighbour NAT ${formatIpv4(natIp)} ${minPort}-${maxPort} in VNI ${vni}`);
    }
    this.neighbors.splice(i, 1);
    this.changes.record({ kind: 'neighbor-nat-removed', entry });
    this.removeNatDnat(entry.vni, entry.natIp);
    return entry;
  }

  /** Ranges of `natIp` (0 = all) in insertion order. */
  listNeighbors(natIp: number): NeighborNatEntry[] {
    return this.neighbors.filter((e) => natIp === 0 || e.natIp === natIp >>> 0);
  }

  /** Drops the ranges of one VNI, or of all VNIs (Initialize). */
  purgeNeighbors(vni: number | undefined): void {
    const gone = this.neighbors.filter((e) => vni === undefined || e.vni === vni >>> 0);
    for (const e of gone) this.removeNeighbor(e.natIp, e.vni, e.minPort, e.maxPort);
  }
}
