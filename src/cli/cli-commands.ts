/**
 * dpservice-cli's command tree (upstream cli/dpservice-cli/cmd): one declarative table of commands,
 * aliases, flags, defaults and required flags, and the run function of each command, including the
 * CLI-side merges upstream does (list prefixes/lbprefixes/firewall rules and get nat/virtualip
 * without an interface id walk all interfaces) and its sort orders. Control path only.
 */
import { Api, ifaceSpecSet, lbPortFromString, type CaptureIface, type ProtocolFilterArg } from './cli-api.js';
import { connect, type RpcClient } from './cli-client.js';
import { GoError, atoi, goLess, goQuote, stableSort, wrapped, wrappedAsync } from './cli-go.js';
import { Command, Flag, findCommand, type FlagType, type FlagValue, type Invocation } from './cli-flags.js';
import { Addr, IPV6_UNSPECIFIED, Prefix, parsePrefix } from './cli-netip.js';
import { Lst, Obj, type GoMap, type GoValue } from './cli-objects.js';
import { fmtPtr, protocolFilterText, renderList, renderObject, type RendererOptions, type Write } from './cli-render.js';

/** What the commands need from their surroundings. */
export interface CliContext {
  write: Write;
  /** Client version: `-v`, and client_version/client_protocol of `get version`. */
  version: string;
  /** Default gRPC port of --address (upstream reads DP_GRPC_PORT). */
  defaultPort: string;
  /** The one gRPC connection of this run, opened by the first command that needs it. */
  conn?: RpcClient;
}

// ---- a command run ----------------------------------------------------------------------------------

/** A command's run: typed flag access, renderer options and the (lazily connected) client. */
class Run {
  readonly ro: RendererOptions;

  constructor(
    readonly inv: Invocation,
    readonly ctx: CliContext,
  ) {
    this.ro = { output: this.str('output'), pretty: this.flag('pretty') === true, wide: this.flag('wide') === true };
  }

  private flag(name: string): FlagValue {
    const f = this.inv.flags.get(name);
    if (f === undefined) throw new Error(`command ${this.inv.cmd.path()} has no flag --${name}`);
    return f.value;
  }

  has(name: string): boolean {
    return this.inv.flags.has(name);
  }

  str(name: string): string {
    return this.flag(name) as string;
  }

  num(name: string): number {
    return this.flag(name) as number;
  }

  big(name: string): bigint {
    return this.flag(name) as bigint;
  }

  addr(name: string): Addr {
    return this.flag(name) as Addr;
  }

  prefix(name: string): Prefix {
    return this.flag(name) as Prefix;
  }

  list(name: string): string[] {
    return this.flag(name) as string[];
  }

  /** DPDKClientOptions.NewClient, once per process; failures carry the caller's prefix. */
  async client(prefix = 'error creating dpdk client'): Promise<Api> {
    if (this.ctx.conn === undefined) {
      const timeoutNs = this.big('connect-timeout');
      this.ctx.conn = await wrappedAsync(prefix, () => connect(this.str('address'), Number(timeoutNs / 1_000_000n)));
    }
    return new Api(this.ctx.conn, this.ctx.write, this.ctx.version);
  }

  renderObject(op: string, obj: Obj): void {
    renderObject(this.ro, op, obj, this.ctx.write);
  }

  renderList(op: string, lst: Lst): void {
    renderList(this.ro, op, lst, this.ctx.write);
  }
}

type RunFn = (r: Run) => Promise<void>;

function field(o: Obj, part: 'meta' | 'spec', key: string): GoValue | undefined {
  return o[part][key];
}

function sortItems(items: Obj[] | null, less: (a: Obj, b: Obj) => boolean): void {
  if (items && items.length > 0) stableSort(items, less);
}

function byKey(key: (o: Obj) => string | number): (a: Obj, b: Obj) => boolean {
  return (a, b) => {
    const x = key(a);
    const y = key(b);
    return typeof x === 'string' && typeof y === 'string' ? goLess(x, y) : x < y;
  };
}

// ---- create ---------------------------------------------------------------------------------------------

const createInterface: RunFn = async (r) => {
  const api = await r.client();
  const iface = await wrappedAsync('error creating interface', () => api.createInterface(r.str('id'), r.num('vni'), r.str('device'),
    r.addr('ipv4'), r.addr('ipv6'), r.addr('underlay'), [r.str('pxe-server'), r.str('pxe-file-name')],
    [r.big('total-meter-rate'), r.big('public-meter-rate')], r.str('hostname')));
  r.renderObject(`created, underlay route: ${fmtPtr(iface.spec.underlay_route)}`, iface);
};

const createPrefix = (lb: boolean): RunFn => async (r) => {
  const api = await r.client();
  const pfx = await wrappedAsync(lb ? 'error creating loadbalancer prefix' : 'error creating prefix', () =>
    (lb ? api.createLbPrefix(r.str('interface-id'), r.prefix('prefix'), r.addr('underlay'))
      : api.createPrefix(r.str('interface-id'), r.prefix('prefix'), r.addr('underlay'))));
  r.renderObject(`created, underlay route: ${fmtPtr(pfx.spec.underlay_route)}`, pfx);
};

const createRoute: RunFn = async (r) => {
  const api = await r.client();
  const route = await wrappedAsync('error creating route', () =>
    api.createRoute(r.num('vni'), r.prefix('prefix'), r.num('next-hop-vni'), r.addr('next-hop-ip')));
  r.renderObject(`created, Next Hop IP: ${r.addr('next-hop-ip').toString()}`, route);
};

const createVip: RunFn = async (r) => {
  const api = await r.client();
  const vip = await wrappedAsync('error creating virtual ip', () => api.createVip(r.str('interface-id'), r.addr('vip'), r.addr('underlay')));
  r.renderObject(`created, underlay route: ${fmtPtr(vip.spec.underlay_route)}`, vip);
};

const createLoadBalancer: RunFn = async (r) => {
  const api = await r.client();
  const ports = r.list('lbports').map((p) => wrapped('error converting port', () => lbPortFromString(p)));
  const lb = await wrappedAsync('error creating loadbalancer', () =>
    api.createLoadBalancer(r.str('id'), r.num('vni'), r.addr('vip'), ports, r.addr('underlay')));
  r.renderObject(`created, underlay route: ${fmtPtr(lb.spec.underlay_route)}`, lb);
};

const createLbTarget: RunFn = async (r) => {
  const api = await r.client();
  const t = await wrappedAsync('error creating loadbalancer target', () => api.createLbTarget(r.str('lb-id'), r.addr('target-ip')));
  r.renderObject('created', t);
};

const createNat: RunFn = async (r) => {
  const api = await r.client();
  const nat = await wrappedAsync('error creating nat', () =>
    api.createNat(r.str('interface-id'), r.addr('nat-ip'), r.num('minport'), r.num('maxport'), r.addr('underlay')));
  r.renderObject(`created, underlay route: ${fmtPtr(nat.spec.underlay_route)}`, nat);
};

const createNeighborNat: RunFn = async (r) => {
  const api = await r.client();
  const nnat = await wrappedAsync('error creating neighbor nat', () =>
    api.createNeighborNat(r.addr('nat-ip'), r.num('vni'), r.num('minport'), r.num('maxport'), r.addr('underlayroute')));
  r.renderObject(`created, underlay route: ${fmtPtr(nnat.spec.underlay_route)}`, nnat);
};

const createFirewallRule: RunFn = async (r) => {
  const api = await r.client();
  // upstream re-parses the prefixes from their text; the zero Prefix cannot be (the flags are required)
  const src = wrapped('error parsing src prefix', () => parsePrefix(r.prefix('src').toString()));
  const dst = wrapped('error parsing dst prefix', () => parsePrefix(r.prefix('dst').toString()));
  const proto = r.str('protocol');
  let filter: ProtocolFilterArg = { which: null, fields: {} };
  if (proto === 'icmp' || proto === '1') {
    filter = { which: 'icmp', fields: { icmp_type: r.num('icmp-type'), icmp_code: r.num('icmp-code') } };
  } else if (['tcp', '6', 'udp', '17'].includes(proto)) {
    const ports = ['src-port-min', 'src-port-max', 'dst-port-min', 'dst-port-max'].map((n) => r.num(n));
    if (ports.some((p) => p < -1 || p === 0 || p > 65535)) throw new GoError('ports can only be -1 or <1,65535>');
    if (ports[0]! > ports[1]! || ports[2]! > ports[3]!) throw new GoError('min port must be lower or equal to max port');
    const fields = { src_port_lower: ports[0]!, src_port_upper: ports[1]!, dst_port_lower: ports[2]!, dst_port_upper: ports[3]! };
    filter = { which: proto === 'tcp' || proto === '6' ? 'tcp' : 'udp', fields };
  } else if (proto !== '') throw new GoError('protocol can be only: icmp = 1/tcp = 6/udp = 17');
  if (r.num('priority') > 65536) throw new GoError('priority can be only: <0,65536');
  const rule = await wrappedAsync('error creating firewall rule', () => api.createFirewallRule(r.str('interface-id'), r.str('rule-id'),
    r.str('direction'), r.str('action'), r.num('priority'), src, dst, filter));
  r.renderObject('created', rule);
};

/** `create` / `delete` without a subcommand: objects from --filename files (not supported here). */
const createFromFiles: RunFn = async (r) => {
  await r.client();
  const output = r.ro.output || 'table';
  if (!['json', 'yaml', 'name', 'table'].includes(output)) {
    throw new GoError(`error creating renderer: unknown renderer ${goQuote(output)}`);
  }
  if (r.list('filename').length > 0) {
    throw new GoError('error collecting objects: reading objects from --filename is not supported by dpservice-ts');
  }
};

// ---- delete -----------------------------------------------------------------------------------------------

const deleteWith = (prefix: string, call: (api: Api, r: Run) => Promise<Obj>): RunFn => async (r) => {
  const api = await r.client();
  const obj = await wrappedAsync(prefix, () => call(api, r));
  r.renderObject('deleted', obj);
};

// ---- get / list ---------------------------------------------------------------------------------------------

/** Adds the NAT and VIP of interfaces to their specs (-w); failures leave them out. */
async function addWideInfo(api: Api, ifaces: Obj[]): Promise<void> {
  for (const [method, key] of [['nat', 'nat'], ['vip', 'vip']] as const) {
    for (const iface of ifaces) {
      try {
        const id = String(iface.meta.id);
        ifaceSpecSet(iface.spec, key, method === 'nat' ? await api.getNat(id) : await api.getVip(id));
      } catch (e) {
        if (!(e instanceof GoError)) throw e;
      }
    }
  }
}

const listInterfaces = (sortBy?: string): RunFn => async (r) => {
  const api = await r.client('error getting dpdk client');
  const lst = await wrappedAsync('error listing interfaces', () => api.listInterfaces());
  if (r.ro.wide) await addWideInfo(api, lst.items ?? []);
  const by = (sortBy ?? r.str('sort-by')).toLowerCase();
  const s = (o: Obj, k: string): string => fmtPtr(field(o, 'spec', k));
  const vni = (o: Obj): number => Number(o.spec.vni);
  sortItems(lst.items, (a, b) => {
    switch (by) {
      case 'vni':
        return vni(a) !== vni(b) ? vni(a) < vni(b) : goLess(s(a, 'primary_ipv4'), s(b, 'primary_ipv4'));
      case 'device':
        return goLess(String(a.spec.device ?? ''), String(b.spec.device ?? ''));
      case 'ipv4':
        return s(a, 'primary_ipv4') !== s(b, 'primary_ipv4') ? goLess(s(a, 'primary_ipv4'), s(b, 'primary_ipv4')) : vni(a) < vni(b);
      case 'ipv6':
        return goLess(s(a, 'primary_ipv6'), s(b, 'primary_ipv6'));
      case 'underlayroute':
        return goLess(s(a, 'underlay_route'), s(b, 'underlay_route'));
      default:
        return goLess(String(a.meta.id), String(b.meta.id));
    }
  });
  r.renderList('', lst);
};

const getInterface: RunFn = async (r) => {
  const api = await r.client();
  if (r.str('id') === '') return listInterfaces('')(r);
  const iface = await wrappedAsync('error getting interface', () => api.getInterface(r.str('id')));
  if (r.ro.wide) await addWideInfo(api, [iface]);
  r.renderObject('', iface);
};

const getVip: RunFn = async (r) => {
  const api = await r.client();
  if (r.str('interface-id') === '') {
    const ifaces = await wrappedAsync('error listing interfaces', () => api.listInterfaces());
    if (!ifaces.items || ifaces.items.length === 0) throw new GoError('error getting virtual ip: [error code 205] NO_VM');
    const vips: Obj[] = [];
    for (const iface of ifaces.items) {
      // interfaces without a VIP (341 SNAT_NO_DATA) are skipped
      const vip = await wrappedAsync('error getting virtual ip', () => api.getVip(String(iface.meta.id), [341]));
      if (vip.status[0] === 0) vips.push(vip);
    }
    for (const vip of vips) r.renderObject('', vip);
    return;
  }
  r.renderObject('', await wrappedAsync('error getting virtual ip', () => api.getVip(r.str('interface-id'))));
};

const listLoadBalancers = (sortBy?: string): RunFn => async (r) => {
  const api = await r.client('error getting dpdk client');
  const lst = await wrappedAsync('error listing loadbalancers', () => api.listLoadBalancers());
  const by = (sortBy ?? r.str('sort-by')).toLowerCase();
  const ip = (o: Obj): string => fmtPtr(o.spec.loadbalanced_ip);
  const vni = (o: Obj): number => Number(o.spec.vni);
  sortItems(lst.items, (a, b) => {
    switch (by) {
      case 'vni':
        return vni(a) !== vni(b) ? vni(a) < vni(b) : goLess(ip(a), ip(b));
      case 'ip':
        return ip(a) !== ip(b) ? goLess(ip(a), ip(b)) : vni(a) < vni(b);
      case 'underlayroute':
        return goLess(fmtPtr(a.spec.underlay_route), fmtPtr(b.spec.underlay_route));
      default:
        return goLess(String(a.meta.id), String(b.meta.id));
    }
  });
  r.renderList('', lst);
};

const getLoadBalancer: RunFn = async (r) => {
  const api = await r.client();
  if (r.str('id') === '') return listLoadBalancers('')(r);
  r.renderObject('', await wrappedAsync('error getting loadbalancer', () => api.getLoadBalancer(r.str('id'))));
};

const getNat: RunFn = async (r) => {
  const api = await r.client();
  if (r.str('interface-id') === '') {
    const ifaces = await wrappedAsync('error listing interfaces', () => api.listInterfaces());
    let items: Obj[] | null = null;
    for (const iface of ifaces.items ?? []) {
      const nat = await wrappedAsync('error getting nat', () => api.getNat(String(iface.meta.id)));
      items = [...(items ?? []), nat];
    }
    r.renderList('', new Lst('NatList', 'NatList', {}, [0, ''], items));
    return;
  }
  r.renderObject('', await wrappedAsync('error getting nat', () => api.getNat(r.str('interface-id'))));
};

const listFirewallRules = (interfaceId?: string, sortBy?: string): RunFn => async (r) => {
  const api = await r.client();
  const iid = interfaceId ?? r.str('interface-id');
  let lst: Lst;
  if (iid === '') {
    const ifaces = await wrappedAsync('error listing interfaces', () => api.listInterfaces());
    let items: Obj[] | null = null;
    for (const iface of ifaces.items ?? []) {
      const fl = await wrappedAsync('error getting firewall rules', () => api.listFirewallRules(String(iface.meta.id)));
      if (fl.items && fl.items.length > 0) items = [...(items ?? []), ...fl.items];
    }
    lst = new Lst('FirewallRuleList', 'FirewallRuleList', { interface_id: '' }, [0, ''], items);
  } else lst = await wrappedAsync('error listing firewall rules', () => api.listFirewallRules(iid));
  const by = (sortBy ?? r.str('sort-by')).toLowerCase();
  const keys: Record<string, (o: Obj) => string | number> = {
    direction: (o) => String(o.spec.direction ?? ''),
    src: (o) => fmtPtr(o.spec.source_prefix),
    source: (o) => fmtPtr(o.spec.source_prefix),
    dst: (o) => fmtPtr(o.spec.destination_prefix),
    destination: (o) => fmtPtr(o.spec.destination_prefix),
    action: (o) => String(o.spec.action ?? ''),
    protocol: (o) => protocolFilterText(o.spec.protocol_filter),
    priority: (o) => Number(o.spec.priority),
  };
  sortItems(lst.items, byKey(keys[by] ?? ((o) => String(o.spec.id))));
  r.renderList('', lst);
};

const getFirewallRule: RunFn = async (r) => {
  const api = await r.client();
  if (r.str('rule-id') === '') return listFirewallRules(r.str('interface-id'), '')(r);
  r.renderObject('', await wrappedAsync('error getting firewall rule', () => api.getFirewallRule(r.str('interface-id'), r.str('rule-id'))));
};

const getVni: RunFn = async (r) => {
  const api = await r.client();
  r.renderObject('', await wrappedAsync('error getting vni', () => api.getVni(r.num('vni'), r.num('vni-type'))));
};

const getVersion: RunFn = async (r) => {
  const api = await r.client();
  r.renderObject('', await wrappedAsync('error getting version', () => api.getVersion('dpservice-cli', r.ctx.version)));
};

const getInit: RunFn = async (r) => {
  const api = await r.client();
  r.renderObject('', await wrappedAsync('error checking initialization status', () => api.checkInitialized()));
};

const listPrefixes = (lb: boolean): RunFn => async (r) => {
  const api = await r.client(lb ? 'error creating dpdk client' : 'error creating client');
  const iid = r.str('interface-id');
  const what = lb ? 'loadbalancer prefixes' : 'prefixes';
  const lister = (id: string): Promise<Lst> => (lb ? api.listLbPrefixes(id) : api.listPrefixes(id));
  let lst: Lst;
  if (iid === '') {
    const ifaces = await wrappedAsync('error listing interfaces', () => api.listInterfaces());
    let items: Obj[] | null = null;
    for (const iface of ifaces.items ?? []) {
      const pl = await wrappedAsync(`error getting ${what}`, () => lister(String(iface.meta.id)));
      for (const p of pl.items ?? []) p.meta.vni = iface.spec.vni ?? 0;
      if (pl.items && pl.items.length > 0) items = [...(items ?? []), ...pl.items];
    }
    lst = new Lst('PrefixList', 'PrefixList', { interface_id: '' }, [0, ''], items);
  } else {
    lst = await wrappedAsync(`error listing ${what}`, () => lister(iid));
    const iface = await wrappedAsync('error getting interface', () => api.getInterface(iid));
    for (const p of lst.items ?? []) p.meta.vni = iface.spec.vni ?? 0;
  }
  if (r.str('sort-by').toLowerCase() === 'underlayroute') sortItems(lst.items, byKey((p) => fmtPtr(p.spec.underlay_route)));
  else sortItems(lst.items, byKey((p) => fmtPtr(p.spec.prefix)));
  r.renderList('', lst);
};

const listRoutes: RunFn = async (r) => {
  const api = await r.client();
  const lst = await wrappedAsync('error listing routes', () => api.listRoutes(r.num('vni')));
  const by = r.str('sort-by').toLowerCase();
  const nh = (o: Obj): GoMap => (o.spec.next_hop ?? {}) as GoMap;
  if (by === 'nexthopvni') sortItems(lst.items, byKey((o) => Number(nh(o).vni)));
  else if (by === 'nexthopip') sortItems(lst.items, byKey((o) => fmtPtr(nh(o).address)));
  else sortItems(lst.items, byKey((o) => fmtPtr(o.spec.prefix)));
  r.renderList('', lst);
};

const listLbTargets: RunFn = async (r) => {
  const api = await r.client();
  const lst = await wrappedAsync('error listing loadbalancer targets', () => api.listLbTargets(r.str('lb-id')));
  sortItems(lst.items, byKey((o) => fmtPtr(o.spec.target_ip)));
  r.renderList('', lst);
};

/** list nats (natType undefined: from --nat-type), list localnats, list neighbornats. */
const listNats = (natType?: string): RunFn => async (r) => {
  const api = await r.client();
  const lst = await wrappedAsync('error listing nats', () => api.listNats(r.addr('nat-ip'), natType ?? r.str('nat-type')));
  const by = r.str('sort-by').toLowerCase();
  // upstream's comparator, inconsistent when an address is missing: kept for the same order
  sortItems(lst.items, (a, b) => {
    if (by === 'ip' || by === 'underlayroute') {
      const k = by === 'ip' ? 'nat_ip' : 'underlay_route';
      const x = a.spec[k];
      const y = b.spec[k];
      if (x !== undefined && y !== undefined) return goLess(fmtPtr(x), fmtPtr(y));
      return true;
    }
    if (by === 'minport' || by === 'maxport') {
      const k = `${by.slice(0, 3)}_port`;
      return Number(a.spec[k]) < Number(b.spec[k]);
    }
    return Number(a.spec.vni) < Number(b.spec.vni);
  });
  r.renderList('', lst);
};

// ---- reset, init, capture ---------------------------------------------------------------------------------

const VNI_TYPES: Record<string, number> = { ipv4: 0, '0': 0, ipv6: 1, '1': 1, both: 2, '2': 2 };

const resetVni: RunFn = async (r) => {
  const api = await r.client();
  const vniType = VNI_TYPES[r.str('vni-type').toLowerCase()];
  if (vniType === undefined) throw new GoError('VNI type can be only: ipv4 = 0/ipv6 = 1/both = 2');
  let vni: Obj;
  try {
    vni = await api.resetVni(r.num('vni'), vniType);
  } catch (e) {
    if (!(e instanceof GoError)) throw e;
    if (!e.text.includes('rpc error')) throw e.wrap('error resetting vni');
    // upstream does not treat a gRPC error as one here: the client's empty Vni is printed
    vni = new Obj('Vni', '', { vni: 0, vni_type: 0 }, { in_use: false });
  }
  r.renderObject('reset', vni);
};

const init: RunFn = async (r) => {
  const api = await r.client();
  let uuid: string | undefined;
  try {
    uuid = String((await api.checkInitialized()).spec.uuid);
  } catch (e) {
    if (!(e instanceof GoError)) throw e;
    if (!e.text.includes('not initialized')) throw new GoError('error checking initialization');
  }
  if (uuid !== undefined) throw new GoError(`error dp-service already initialized, uuid: ${uuid}`);
  r.renderObject('', await wrappedAsync('error initializing', () => api.initialize()));
};

const captureStart: RunFn = async (r) => {
  const api = await r.client();
  const interfaces: CaptureIface[] = [];
  if (r.str('pf') !== '') {
    const idx = r.str('pf').split(',');
    if (idx.length > 2) throw new GoError('error converting PF indexes: too many pf indexes specified');
    for (const i of idx) {
      const n = wrapped('error converting PF indexes: error parsing pf index', () => atoi(i));
      if (n > 1n) throw new GoError('error converting PF indexes: pf index must be 0 or 1');
    }
    interfaces.push(...idx.map((i) => ({ interface_type: 'pf', interface_info: i })));
  }
  if (r.str('vf') !== '') interfaces.push(...r.str('vf').split(',').map((i) => ({ interface_type: 'vf', interface_info: i })));
  const sink = r.addr('sink-node-ip');
  const cap = await wrappedAsync('error initializing packet capturing', () =>
    api.captureStart(sink, r.num('udp-src-port'), r.num('udp-dst-port'), interfaces));
  r.renderObject(`Packet capturing initialized: ${sink.toString()}\n`, cap);
};

const captureStop: RunFn = async (r) => {
  const api = await r.client();
  r.renderObject('Packet capturing stopped \n', await wrappedAsync('error stopping capturing', () => api.captureStop()));
};

const captureStatus: RunFn = async (r) => {
  const api = await r.client();
  r.renderObject('', await wrappedAsync('error checking initialization status', () => api.captureStatus()));
};

// ---- the table ---------------------------------------------------------------------------------------

const ALIASES = {
  interface: ['interface', 'interfaces', 'iface', 'ifaces'],
  prefix: ['prefix', 'prefixes', 'prfx', 'prfxs'],
  route: ['route', 'routes', 'rt', 'rts'],
  virtualip: ['virtualip', 'virtualips', 'vip', 'vips'],
  loadbalancer: ['loadbalancer', 'loadbalancers', 'lbs', 'lb'],
  lbprefix: ['loadbalancer-prefix', 'loadbalancer-prefixes', 'lbprefix', 'lbprfx', 'lbprfxs'],
  lbtarget: ['loadbalancer-target', 'loadbalancer-targets', 'lbtrgt', 'lbtrgts', 'lbtarget'],
  nat: ['nat', 'translation'],
  neighbornat: ['nnat', 'ngbnat', 'neighnat'],
  firewallrule: ['firewallrule', 'fwrule', 'fw-rule', 'firewallrules', 'fwrules', 'fw-rules'],
};
type AliasKey = keyof typeof ALIASES;

/** One flag of the table: name, type, default, help text. */
const flag = (name: string, type: FlagType, def: FlagValue, usage: string, short = ''): Flag => new Flag(name, type, def, usage, short);
const S = (name: string, usage: string, def = ''): Flag => flag(name, 'string', def, usage);
const U32 = (name: string, usage: string, def = 0): Flag => flag(name, 'uint32', def, usage);
const I32 = (name: string, usage: string): Flag => flag(name, 'int32', -1, usage);
const IP = (name: string, usage: string, def: Addr = new Addr()): Flag => flag(name, 'ip', def, usage);
const PFX = (name: string, usage: string): Flag => flag(name, 'ipprefix', new Prefix(), usage);
const UNDERLAY = (): Flag => IP('underlay', 'Preferred underlay IPv6 address (must be in the host\'s /64).', IPV6_UNSPECIFIED);
const SORT = (keys: string): Flag => S('sort-by', `Column to sort by: ${keys}.`);

interface Leaf {
  use: string;
  short: string;
  run: RunFn;
  flags?: Flag[];
  required?: string[];
  /** Default: the aliases of the object named by the first word of `use`. */
  aliases?: string[];
  args?: 'exact0' | 'any';
  example?: string;
}

function leaf(l: Leaf, ctx: CliContext): Command {
  const name = l.use.split(' ')[0]!;
  const aliases = l.aliases ?? (ALIASES[name as AliasKey] ?? []);
  return new Command(l.use, l.short, aliases, l.args ?? 'exact0', (inv) => l.run(new Run(inv, ctx)), l.flags ?? [], [], l.required ?? [],
    [], l.example ?? '');
}

function rendererFlags(defaultOutput: string): Flag[] {
  return [
    flag('output', 'string', defaultOutput, 'Output format: json, yaml, table or name.', 'o'),
    flag('pretty', 'bool', false, 'Indent JSON output.'),
    flag('wide', 'bool', false, 'Show more columns in table output (NAT and VIP of interfaces).', 'w'),
  ];
}

function group(use: string, short: string, defaultOutput: string, subs: Command[], run: RunFn, ctx: CliContext,
  opts: { aliases?: string[]; filename?: boolean } = {}): Command {
  const flags = opts.filename ? [flag('filename', 'stringSlice', [], 'Files with objects to act on.', 'f')] : [];
  return new Command(use, short, opts.aliases ?? [], 'noargs', (inv) => run(new Run(inv, ctx)), flags, rendererFlags(defaultOutput), [],
    subs);
}

/** cmd.SubcommandRequired: prints the command's help, then fails. */
const subcommandRequired: RunFn = async (r) => {
  r.ctx.write(r.inv.cmd.helpText());
  throw new GoError('subcommand is required');
};

const IFACE_ID = 'Interface ID.';
const LB_ID = 'Load balancer ID.';

/** Builds the command tree of one CLI run. */
export function buildCli(ctx: CliContext): Command {
  const L = (l: Leaf): Command => leaf(l, ctx);

  const createFw = L({
    use: 'firewallrule <--interface-id> [flags]', short: 'Create a firewall rule on an interface', run: createFirewallRule,
    flags: [S('interface-id', IFACE_ID), S('rule-id', 'Rule ID.'), S('direction', 'Traffic direction: ingress/0 or egress/1.'),
      S('action', 'Action: accept/allow/1 or drop/deny/0.'), U32('priority', 'Priority (0 highest, 65536 lowest).', 1000),
      PFX('src', 'Source prefix (0.0.0.0/0 matches all).'), PFX('dst', 'Destination prefix (0.0.0.0/0 matches all).'),
      S('protocol', 'Protocol filter: icmp/1, tcp/6 or udp/17 (none: all protocols).'),
      I32('src-port-min', 'First source port (-1: any).'), I32('src-port-max', 'Last source port.'),
      I32('dst-port-min', 'First destination port (-1: any).'), I32('dst-port-max', 'Last destination port.'),
      I32('icmp-type', 'ICMP type (-1: any).'), I32('icmp-code', 'ICMP code (-1: any).')],
    required: ['interface-id', 'rule-id', 'direction', 'action', 'src', 'dst'],
    example: 'dpservice-cli create fwrule --interface-id=vm1 --rule-id=12 --direction=ingress --action=accept --src=1.1.1.1/32 ' +
      '--dst=5.5.5.0/24 --protocol=tcp --src-port-min=1 --src-port-max=1000 --dst-port-min=500 --dst-port-max=600',
  });
  // the protocol decides which port/ICMP flags are required too
  createFw.prerun = (fs) => {
    const proto = fs.get('protocol')!.value;
    let names: string[] = [];
    if (proto === 'icmp' || proto === '1') names = ['icmp-type', 'icmp-code'];
    else if (['tcp', '6', 'udp', '17'].includes(proto as string)) {
      names = ['src-port-min', ...(fs.get('src-port-min')!.value !== -1 ? ['src-port-max'] : []),
        'dst-port-min', ...(fs.get('dst-port-min')!.value !== -1 ? ['dst-port-max'] : [])];
    }
    for (const n of names) fs.get(n)!.required = true;
  };

  const create = group('create [command]', 'Create one of [interface prefix route virtualip loadbalancer lbprefix lbtarget nat neighbornat firewallrule]',
    'name', [
      L({
        use: 'interface <--id> <--ipv4> [<--ipv6>] <--vni> <--device> [<--underlay>] [<--total-meter-rate>] [<--public-meter-rate>]',
        short: 'Create an interface', run: createInterface,
        flags: [S('id', 'Interface ID.'), U32('vni', 'VNI of the interface.'), IP('ipv4', 'Primary IPv4 address (0.0.0.0: none).'),
          IP('ipv6', 'Primary IPv6 address.', IPV6_UNSPECIFIED), S('device', 'Device (port) name, e.g. net_tap2.'), UNDERLAY(),
          S('pxe-server', 'PXE next server.'), S('pxe-file-name', 'PXE boot file name.'),
          flag('total-meter-rate', 'uint64', 0n, 'Total egress rate limit in Mbit/s (0: none).'),
          flag('public-meter-rate', 'uint64', 0n, 'Public egress rate limit in Mbit/s (0: none).'), S('hostname', 'Hostname for DHCP.')],
        required: ['id', 'vni', 'ipv4', 'device'],
        example: 'dpservice-cli create interface --id=vm1 --ipv4=10.200.1.4 --ipv6=2000:200:1::4 --vni=200 --device=net_tap2',
      }),
      L({
        use: 'prefix <--prefix> <--interface-id> [<--underlay>]', short: 'Create an alias prefix on an interface', run: createPrefix(false),
        flags: [PFX('prefix', 'Prefix to route to the interface.'), S('interface-id', IFACE_ID), UNDERLAY()],
        required: ['prefix', 'interface-id'],
      }),
      L({
        use: 'route <--prefix> <--next-hop-vni> <--next-hop-ip> <--vni>', short: 'Create a route in a VNI', run: createRoute,
        flags: [PFX('prefix', 'Destination prefix.'), U32('next-hop-vni', 'VNI of the next hop.'),
          IP('next-hop-ip', 'Underlay IPv6 address of the next hop.'), U32('vni', 'VNI of the route table.')],
        required: ['prefix', 'next-hop-vni', 'next-hop-ip', 'vni'],
      }),
      L({
        use: 'virtualip <--vip> <--interface-id> [<--underlay>]', short: 'Create a virtual IP (1:1 NAT) on an interface', run: createVip,
        flags: [IP('vip', 'Virtual (public) IP.'), S('interface-id', IFACE_ID), UNDERLAY()], required: ['vip', 'interface-id'],
      }),
      L({
        use: 'loadbalancer <--id> <--vni> <--vip> <--lbports> [<--underlay>]', short: 'Create a load balancer', run: createLoadBalancer,
        flags: [S('id', LB_ID), U32('vni', 'VNI of the load balancer.'), IP('vip', 'Load-balanced IP.'),
          flag('lbports', 'stringSlice', [], 'Ports as protocol/port, e.g. tcp/80,udp/53.'), UNDERLAY()],
        required: ['id', 'vni', 'vip', 'lbports'],
      }),
      L({
        use: 'lbprefix <--prefix> <--interface-id> [<--underlay>]', short: 'Create a load balancer target prefix on an interface',
        run: createPrefix(true), flags: [PFX('prefix', 'Prefix.'), S('interface-id', IFACE_ID), UNDERLAY()],
        required: ['prefix', 'interface-id'],
      }),
      L({
        use: 'lbtarget <target-ip> <--lb-id>', short: 'Add a target to a load balancer', run: createLbTarget,
        flags: [IP('target-ip', 'Underlay IPv6 address of the target.'), S('lb-id', LB_ID)], required: ['target-ip', 'lb-id'],
      }),
      L({
        use: 'nat <--interface-id> <--nat-ip> <--minport> <--maxport> [<--underlay>]', short: 'Create a NAT on an interface', run: createNat,
        flags: [S('interface-id', IFACE_ID), U32('minport', 'First NAT port.'), U32('maxport', 'End of the NAT port range (excluded).'),
          IP('nat-ip', 'NAT IP.'), UNDERLAY()],
        required: ['interface-id', 'minport', 'maxport', 'nat-ip'],
      }),
      L({
        use: 'neighbornat <--nat-ip> <--vni> <--minport> <--maxport> <--underlayroute>', short: 'Create a NAT entry of another host',
        run: createNeighborNat,
        flags: [IP('nat-ip', 'NAT IP.'), U32('vni', 'VNI.'), U32('minport', 'First NAT port.'),
          U32('maxport', 'End of the NAT port range (excluded).'), IP('underlayroute', 'Underlay address of the other host.')],
        required: ['nat-ip', 'vni', 'minport', 'maxport', 'underlayroute'],
      }),
      createFw,
    ], createFromFiles, ctx, { aliases: ['add'], filename: true });

  const getFw = L({
    use: 'firewallrule <--rule-id> <--interface-id>', short: 'Get a firewall rule (all of an interface without --rule-id)',
    run: getFirewallRule, flags: [S('rule-id', 'Rule ID.'), S('interface-id', IFACE_ID)],
  });
  getFw.prerun = (fs) => {
    if (fs.get('rule-id')!.value !== '') fs.get('interface-id')!.required = true;
  };

  const get = group('get [command]', 'Get one of [interface virtualip loadbalancer nat firewallrule vni version init lbprefix lbtarget prefix route]',
    'table', [
      L({ use: 'interface <--id>', short: 'Get an interface (all without --id)', run: getInterface, flags: [S('id', IFACE_ID)], args: 'any' }),
      L({ use: 'virtualip <--interface-id>', short: 'Get the virtual IP of an interface (all without --interface-id)', run: getVip,
        flags: [S('interface-id', IFACE_ID)] }),
      L({ use: 'loadbalancer <--id>', short: 'Get a load balancer (all without --id)', run: getLoadBalancer, flags: [S('id', LB_ID)] }),
      L({ use: 'nat <--interface-id>', short: 'Get the NAT of an interface (all without --interface-id)', run: getNat,
        flags: [S('interface-id', IFACE_ID)] }),
      getFw,
      L({ use: 'vni <--vni> <--vni-type>', short: 'Tell whether a VNI is in use', run: getVni,
        flags: [U32('vni', 'VNI.'), flag('vni-type', 'uint8', 0, 'VNI type: 0 IPv4, 1 IPv6, 2 both.')],
        required: ['vni', 'vni-type'], aliases: ALIASES.nat }),
      L({ use: 'version', short: 'Get the service and client versions', run: getVersion, aliases: ALIASES.nat }),
      L({ use: 'init', short: 'Get the initialization UUID of the service', run: getInit, aliases: [] }),
      L({ use: 'lbprefix <--interface-id>', short: 'List load balancer prefixes of an interface', run: listPrefixes(true),
        flags: [S('interface-id', IFACE_ID), SORT('prefix, underlayroute')] }),
      L({ use: 'lbtarget <--lb-id>', short: 'List the targets of a load balancer', run: listLbTargets,
        flags: [S('lb-id', LB_ID), SORT('ip')] }),
      L({ use: 'prefix <--interface-id>', short: 'List prefixes of an interface', run: listPrefixes(false),
        flags: [S('interface-id', IFACE_ID), SORT('prefix, underlayroute')] }),
      L({ use: 'route <--vni>', short: 'List the routes of a VNI', run: listRoutes,
        flags: [U32('vni', 'VNI.'), SORT('prefix, nexthopvni, nexthopip')] }),
    ], subcommandRequired, ctx);

  const list = group('list [command]', 'List one of [firewallrules interfaces prefixes lbprefixes routes lbtargets nats loadbalancers]',
    'table', [
      L({ use: 'firewallrules <--interface-id>', short: 'List firewall rules (of all interfaces without --interface-id)',
        run: listFirewallRules(), flags: [S('interface-id', IFACE_ID), SORT('id, direction, src, dst, action, protocol, priority')],
        aliases: ALIASES.firewallrule }),
      L({ use: 'interfaces', short: 'List all interfaces', run: listInterfaces(),
        flags: [SORT('id, vni, device, ipv4, ipv6, underlayroute')], aliases: ALIASES.interface }),
      L({ use: 'prefixes <--interface-id>', short: 'List prefixes (of all interfaces without --interface-id)', run: listPrefixes(false),
        flags: [S('interface-id', IFACE_ID), SORT('prefix, underlayroute')], aliases: ALIASES.prefix }),
      L({ use: 'lbprefixes <--interface-id>', short: 'List load balancer prefixes (of all interfaces without --interface-id)',
        run: listPrefixes(true), flags: [S('interface-id', IFACE_ID), SORT('prefix, underlayroute')], aliases: ALIASES.lbprefix }),
      L({ use: 'routes <--vni>', short: 'List the routes of a VNI', run: listRoutes,
        flags: [U32('vni', 'VNI.'), SORT('prefix, nexthopvni, nexthopip')], aliases: ALIASES.route }),
      L({ use: 'lbtargets <--lb-id>', short: 'List the targets of a load balancer', run: listLbTargets,
        flags: [S('lb-id', LB_ID), SORT('ip')], aliases: ALIASES.lbtarget }),
      L({ use: 'nats <--nat-ip> <--nat-type>', short: 'List local and/or neighbor NATs of a NAT IP', run: listNats(),
        flags: [IP('nat-ip', 'NAT IP (0.0.0.0: all).', new Addr(new Uint8Array(4))),
          S('nat-type', 'NAT type: any/0, local/1 or neigh(bor)/2.', '0'), SORT('vni, ip, minport, maxport, underlayroute')],
        aliases: ALIASES.nat }),
      L({ use: 'loadbalancers', short: 'List all load balancers', run: listLoadBalancers(),
        flags: [SORT('id, vni, ip, underlayroute')], aliases: ALIASES.loadbalancer }),
      // not in upstream: shorthands for `list nats --nat-type=local|neigh`
      L({ use: 'localnats <--nat-ip>', short: 'List local NATs of a NAT IP (list nats --nat-type=local)', run: listNats('local'),
        flags: [IP('nat-ip', 'NAT IP (0.0.0.0: all).', new Addr(new Uint8Array(4))), SORT('vni, ip, minport, maxport, underlayroute')] }),
      L({ use: 'neighbornats <--nat-ip>', short: 'List neighbor NATs of a NAT IP (list nats --nat-type=neigh)', run: listNats('neigh'),
        flags: [IP('nat-ip', 'NAT IP (0.0.0.0: all).', new Addr(new Uint8Array(4))), SORT('vni, ip, minport, maxport, underlayroute')] }),
    ], subcommandRequired, ctx);

  const del = group('delete [command]', 'Delete one of [interface prefix route virtualip loadbalancer lbprefix lbtarget nat neighbornat firewallrule]',
    'name', [
      L({ use: 'interface <--id>', short: 'Delete an interface', run: deleteWith('error deleting interface', (a, r) => a.deleteInterface(r.str('id'))),
        flags: [S('id', IFACE_ID)], required: ['id'] }),
      L({ use: 'prefix <--prefix> <--interface-id>', short: 'Delete a prefix of an interface',
        run: deleteWith('error deleting prefix', (a, r) => a.deletePrefix(r.str('interface-id'), r.prefix('prefix'))),
        flags: [PFX('prefix', 'Prefix.'), S('interface-id', IFACE_ID)], required: ['prefix', 'interface-id'] }),
      L({ use: 'route <--prefix> <--vni>', short: 'Delete a route of a VNI',
        run: deleteWith('error deleting route', (a, r) => a.deleteRoute(r.num('vni'), r.prefix('prefix'))),
        flags: [PFX('prefix', 'Destination prefix.'), U32('vni', 'VNI.')], required: ['prefix', 'vni'] }),
      L({ use: 'virtualip <--interface-id>', short: 'Delete the virtual IP of an interface',
        run: deleteWith('error deleting virtual ip', (a, r) => a.deleteVip(r.str('interface-id'))),
        flags: [S('interface-id', IFACE_ID)], required: ['interface-id'] }),
      L({ use: 'loadbalancer <--id>', short: 'Delete a load balancer',
        run: deleteWith('error deleting loadbalancer', (a, r) => a.deleteLoadBalancer(r.str('id'))),
        flags: [S('id', LB_ID)], required: ['id'] }),
      L({ use: 'lbprefix <--prefix> <--interface-id>', short: 'Delete a load balancer prefix of an interface',
        run: deleteWith('error deleting loadbalancer prefix', (a, r) => a.deleteLbPrefix(r.str('interface-id'), r.prefix('prefix'))),
        flags: [PFX('prefix', 'Prefix.'), S('interface-id', IFACE_ID)], required: ['prefix', 'interface-id'] }),
      // upstream's message says "neighbor nat" here
      L({ use: 'lbtarget <--target-ip> <--lb-id>', short: 'Remove a target from a load balancer',
        run: deleteWith('error deleting neighbor nat', (a, r) => a.deleteLbTarget(r.str('lb-id'), r.addr('target-ip'))),
        flags: [IP('target-ip', 'Underlay IPv6 address of the target.'), S('lb-id', LB_ID)], required: ['target-ip', 'lb-id'] }),
      L({ use: 'nat <--interface-id>', short: 'Delete the NAT of an interface',
        run: deleteWith('error deleting nat', (a, r) => a.deleteNat(r.str('interface-id'))),
        flags: [S('interface-id', IFACE_ID)], required: ['interface-id'] }),
      L({ use: 'neighbornat <--nat-ip> <--vni> <--minport> <--maxport>', short: 'Delete a NAT entry of another host',
        run: deleteWith('error deleting neighbor nat', (a, r) => a.deleteNeighborNat(r.addr('nat-ip'), r.num('vni'), r.num('minport'), r.num('maxport'))),
        flags: [IP('nat-ip', 'NAT IP.'), U32('vni', 'VNI.'), U32('minport', 'First NAT port.'), U32('maxport', 'End of the NAT port range.')],
        required: ['nat-ip', 'vni', 'minport', 'maxport'] }),
      L({ use: 'firewallrule <--rule-id> <--interface-id>', short: 'Delete a firewall rule',
        run: deleteWith('error deleting firewall rule', (a, r) => a.deleteFirewallRule(r.str('interface-id'), r.str('rule-id'))),
        flags: [S('rule-id', 'Rule ID.'), S('interface-id', IFACE_ID)], required: ['rule-id', 'interface-id'] }),
    ], createFromFiles, ctx, { aliases: ['del'], filename: true });

  const reset = group('reset [command]', 'Reset one of [vni]', 'name', [
    L({ use: 'vni <--vni> <--vni-type>', short: 'Reset (flush the routes of) a VNI', run: resetVni,
      flags: [U32('vni', 'VNI.'), S('vni-type', 'VNI type: ipv4/0, ipv6/1 or both/2.', 'both')], required: ['vni'], aliases: ALIASES.nat }),
  ], subcommandRequired, ctx);

  // not in upstream: `check vniinuse` is `get vni` under the name of its RPC (CheckVniInUse)
  const check = group('check [command]', 'Check one of [vniinuse]', 'table', [
    L({ use: 'vniinuse <--vni> <--vni-type>', short: 'Tell whether a VNI is in use (same as get vni)', run: getVni,
      flags: [U32('vni', 'VNI.'), flag('vni-type', 'uint8', 0, 'VNI type: 0 IPv4, 1 IPv6, 2 both.')],
      required: ['vni', 'vni-type'], aliases: ['vni'] }),
  ], subcommandRequired, ctx);

  const capture = group('capture', 'Start, stop or query packet capturing', 'table', [
    L({ use: 'start <--sink-node-ip> <--udp-src-port> <--udp-dst-port> [--pf] [--vf]', short: 'Start capturing packets', run: captureStart,
      flags: [IP('sink-node-ip', 'Underlay IPv6 address of the capture sink.'), U32('udp-src-port', 'UDP source port of captured packets.'),
        U32('udp-dst-port', 'UDP destination port of captured packets.'), S('pf', 'PF indexes to capture (0, 1 or 0,1).'),
        S('vf', 'Interface IDs of VFs to capture, comma-separated.')],
      required: ['sink-node-ip', 'udp-src-port', 'udp-dst-port'], aliases: [] }),
    L({ use: 'stop', short: 'Stop capturing packets', run: captureStop, aliases: [] }),
    L({ use: 'status', short: 'Show the packet capturing status', run: captureStatus, aliases: [] }),
  ], subcommandRequired, ctx);

  const initCmd = L({ use: 'init', short: 'Initialize dpservice (once after it started)', run: init, aliases: [] });
  const completion = new Command('completion [bash|zsh|fish|powershell]', 'Shell completion (not provided by dpservice-ts)', [],
    'completion', async () => {
      throw new GoError('shell completion scripts are not provided by dpservice-ts');
    });

  const root = new Command('dpservice-cli [command]', '', [], 'noargs', (inv) => subcommandRequired(new Run(inv, ctx)), [], [
    ...rendererFlags(''),
    S('address', 'dpservice address (overrides DP_GRPC_PORT).', `localhost:${ctx.defaultPort}`),
    flag('connect-timeout', 'duration', 4_000_000_000n, 'Timeout to connect to the dpservice.'),
  ], [], [create, get, list, del, reset, initCmd, capture, check, completion]);
  root.version = ctx.version;
  root.add(new Command('help [command]', 'Help about any command', [], 'any', async (inv) => {
    const [target] = findCommand(root, inv.args);
    target.initDefaultFlags();
    ctx.write(target.helpText());
  }));
  return root;
}
