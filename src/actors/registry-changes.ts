/**
 * What the packet path must learn about every control-plane change, as an ordered list of events.
 *
 * The registry records a change at the moment its state changes (after every check passed, so a
 * refused request records nothing) and the gRPC actor commits the recorded batch after each call,
 * before it answers: listeners (the dataplane actor) rebuild the shared tables the workers read
 * and flush the flows that depended on a removed object, and the call answers only once they
 * are done. That keeps upstream's guarantee that a deleted object has no live flows when the
 * delete returns. Events carry snapshots; listeners may keep them.
 *
 * Nothing is recorded while nobody listens, so an unsubscribed registry does not grow a backlog.
 */
import type {
  CaptureStatusInfo,
  DnatEntry,
  FirewallRuleSpec,
  InterfaceInfo,
  LoadBalancerInfo,
  LocalNatEntry,
  NeighborNatEntry,
  PrefixInfo,
  RouteInfo,
  VipInfo,
  VnfEntry,
} from './registry-types.js';

/**
 * One change. Removal events also say which flows must go (what upstream flushes):
 * - `interface-removed`: every flow of the port (dp_remove_iface_flows);
 * - `vip-removed` / `nat-removed`: the port's VIP / network-NAT flows, and their NAT ports;
 * - `neighbor-nat-removed`: flows relayed for that range;
 * - `lb-target-removed`: flows balanced to that target; `lb-removed`: flows of the LB;
 * - `route-removed`, `vni-routes-reset`, `vni-removed`: cached routing decisions of the VNI;
 * - `firewall-rule-*`: cached firewall verdicts of the port.
 */
export type RegistryChange =
  /** An interface went live (the dataplane attached the port before this is recorded). */
  | { readonly kind: 'interface-added'; readonly iface: InterfaceInfo }
  /** An interface was removed; its objects' own removal events precede this one. */
  | { readonly kind: 'interface-removed'; readonly iface: InterfaceInfo }
  /** A VNI got its first user (an interface or a load balancer): empty route tables exist. */
  | { readonly kind: 'vni-added'; readonly vni: number }
  /** A VNI lost its last user: its route tables are gone, routes included. */
  | { readonly kind: 'vni-removed'; readonly vni: number }
  /** Every route of the VNI was dropped (ResetVni, Initialize); re-added routes follow. */
  | { readonly kind: 'vni-routes-reset'; readonly vni: number }
  | { readonly kind: 'route-added'; readonly route: RouteInfo }
  | { readonly kind: 'route-removed'; readonly route: RouteInfo }
  /** An underlay address is answered by this host (decapsulation target). */
  | { readonly kind: 'vnf-added'; readonly address: Uint8Array; readonly entry: VnfEntry }
  | { readonly kind: 'vnf-removed'; readonly address: Uint8Array; readonly entry: VnfEntry }
  | { readonly kind: 'prefix-added'; readonly prefix: PrefixInfo }
  | { readonly kind: 'prefix-removed'; readonly prefix: PrefixInfo }
  /** 1:1 SNAT of the interface's IPv4 to `vip` (its DNAT comes as `dnat-added`). */
  | { readonly kind: 'vip-added'; readonly port: number; readonly vni: number; readonly ifaceIpv4: number; readonly vip: VipInfo }
  | { readonly kind: 'vip-removed'; readonly port: number; readonly vni: number; readonly ifaceIpv4: number; readonly vip: VipInfo }
  /** Network NAT (and NAT64) of an interface. */
  | { readonly kind: 'nat-added'; readonly entry: LocalNatEntry }
  | { readonly kind: 'nat-removed'; readonly entry: LocalNatEntry }
  | { readonly kind: 'dnat-added'; readonly entry: DnatEntry }
  | { readonly kind: 'dnat-removed'; readonly entry: DnatEntry }
  | { readonly kind: 'neighbor-nat-added'; readonly entry: NeighborNatEntry }
  | { readonly kind: 'neighbor-nat-removed'; readonly entry: NeighborNatEntry }
  | { readonly kind: 'lb-added'; readonly lb: LoadBalancerInfo }
  | { readonly kind: 'lb-removed'; readonly lb: LoadBalancerInfo }
  /** The target set changed: rebuild the Maglev table from `lb.targets` (the set after the change). */
  | { readonly kind: 'lb-target-added'; readonly lb: LoadBalancerInfo; readonly target: Uint8Array }
  | { readonly kind: 'lb-target-removed'; readonly lb: LoadBalancerInfo; readonly target: Uint8Array }
  | { readonly kind: 'firewall-rule-added'; readonly port: number; readonly rule: FirewallRuleSpec }
  | { readonly kind: 'firewall-rule-removed'; readonly port: number; readonly rule: FirewallRuleSpec }
  /** Mirror offloaded traffic of `status.targets` (resolved: PF indexes, interface ids). */
  | { readonly kind: 'capture-started'; readonly status: CaptureStatusInfo }
  | { readonly kind: 'capture-stopped' };

/** Receives each committed batch, in order; the RPC answers after the returned promise settles. */
export type ChangeListener = (changes: readonly RegistryChange[]) => void | Promise<void>;

/** The registry's pending changes and their subscribers. */
export class ChangeLog {
  private pending: RegistryChange[] = [];
  private readonly listeners: ChangeListener[] = [];

  /** Notes a change for the next commit (dropped when nobody listens). */
  record(change: RegistryChange): void {
    if (this.listeners.length > 0) this.pending.push(change);
  }

  /** Adds a listener; returns the function that removes it again. */
  subscribe(listener: ChangeListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Changes recorded since the last commit. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /**
   * Hands the recorded batch to every listener in subscription order and waits for each. A
   * failing listener does not stop the others; the first failure is rethrown afterwards.
   */
  async commit(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    let failed = false;
    let failure: unknown;
    for (const listener of [...this.listeners]) {
      try {
        await listener(batch);
      } catch (e) {
        if (!failed) failure = e;
        failed = true;
      }
    }
    if (failed) throw failure;
  }
}
