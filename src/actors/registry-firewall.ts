/**
 * The firewall rules of one interface (src/dp_firewall.c): a list in creation order, unique ids,
 * no size limit. Only ACCEPT rules are accepted (upstream refuses DROP with NO_DROP_SUPPORT, and
 * does not enforce rules yet). Control path only.
 */
import { DpError, DpErrorCode } from './errors.js';
import { FirewallAction, type FirewallRuleSpec } from './registry-types.js';

export class FirewallRuleList {
  private readonly rules: FirewallRuleSpec[] = [];

  get size(): number {
    return this.rules.length;
  }

  get(id: string): FirewallRuleSpec | undefined {
    return this.rules.find((r) => r.id === id);
  }

  /** Appends a rule: ALREADY_EXISTS for a used id, then NO_DROP_SUPPORT for a DROP rule. */
  add(rule: FirewallRuleSpec, owner: string): void {
    if (this.get(rule.id) !== undefined) throw new DpError(DpErrorCode.ALREADY_EXISTS, `rule '${rule.id}' exists on '${owner}'`);
    if (rule.action === FirewallAction.DROP) {
      throw new DpError(DpErrorCode.NO_DROP_SUPPORT, `rule '${rule.id}' on '${owner}': DROP rules are not supported`);
    }
    this.rules.push(rule);
  }

  /** Removes a rule; NOT_FOUND if there is none with this id. */
  delete(id: string, owner: string): FirewallRuleSpec {
    const i = this.rules.findIndex((r) => r.id === id);
    const rule = this.rules[i];
    if (rule === undefined) throw new DpError(DpErrorCode.NOT_FOUND, `no rule '${id}' on '${owner}'`);
    this.rules.splice(i, 1);
    return rule;
  }

  /** Every rule in creation order. */
  list(): FirewallRuleSpec[] {
    return [...this.rules];
  }

  /** Removes and returns every rule. */
  clear(): FirewallRuleSpec[] {
    return this.rules.splice(0, this.rules.length);
  }
}
