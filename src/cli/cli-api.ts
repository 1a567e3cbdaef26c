/**
 * The client behind dpservice-cli (upstream's go/dpservice-go client and api conversions): one
 * method per operation, building the gRPC request from parsed flag values and turning the response
 * into the api object the CLI renders. A non-zero service status becomes a "[error code N] NAME"
 * error, but the object built so far is what the CLI prints first for create/delete; those quirks
 * are upstream's. Control path only.
 */
import { GoError, GoPanic, NIL_DEREF, atoi, goBytes, goString, toUint32, wrapped } from './cli-go.js';
import type { Msg, RpcClient } from './cli-client.js';
import { Addr, Prefix, parseAddr, parsePrefix, prefixFrom } from './cli-netip.js';
import { Lst, Obj, STATUS_OK, type GoMap, type GoValue, type Status } from './cli-objects.js';
import { statusError } from './cli-render.js';

// ---- conversions ------------------------------------------------------------------------------------

/** api.ProtoStatusToStatus: a missing status reads as success. */
function statusOf(res: Msg): Status {
  return res?.status ? [Number(res.status.code), String(res.status.message)] : STATUS_OK;
}

/** The status read without a nil check (upstream dereferences it directly). */
function statusDirect(res: Msg): Status {
  if (!res?.status) throw new GoPanic(NIL_DEREF);
  return statusOf(res);
}

/** errors.GetError on the response status; codes in `ignored` are not errors. */
function check(res: Msg, ignored: readonly number[] = []): void {
  const [code, msg] = statusOf(res);
  if (code !== 0 && !ignored.includes(code)) throw statusError(code, msg);
}

function parseAddrWrapped(s: string, prefix: string): Addr {
  return wrapped(prefix, () => parseAddr(s));
}

/** The `if s := string(x); s != "" { netip.ParseAddr(s) }` idiom: the zero Addr when empty. */
function addrIfSet(b: Buffer | null | undefined, prefix: string): Addr {
  return b && b.length > 0 ? parseAddrWrapped(goString(b), prefix) : new Addr();
}

/** api.NetIPAddrToProtoIpAddress */
function ipMsg(addr: Addr): object {
  return { ipver: addr.is6() ? 1 : 0, address: goBytes(addr.toString()) };
}

/** api.ProtoIpAddressToNetIPAddr */
function msgToAddr(ip: Msg): Addr {
  return parseAddrWrapped(goString(ip?.address), 'error parsing IP address');
}

/** api.NetIPAddrToByteSlice: unset for the zero Addr. */
function addrBytes(addr: Addr): Buffer | undefined {
  return addr.valid() ? goBytes(addr.toString()) : undefined;
}

function prefixMsg(p: Prefix): object {
  return { ip: ipMsg(p.addr), length: p.bits >>> 0 };
}

function big(v: unknown): bigint {
  try {
    return BigInt(String(v ?? '0'));
  } catch {
    return 0n;
  }
}

/** Interface spec fields, in Go struct order, with encoding/json's omitempty applied. */
export interface IfaceSpecArgs {
  vni?: number;
  device?: string;
  ipv4?: Addr;
  ipv6?: Addr;
  underlay?: Addr;
  vf?: string;
  pxe?: [string, string];
  nat?: Obj;
  vip?: Obj;
  metering?: [bigint, bigint];
  hostname?: string;
}

const IFACE_SPEC_ORDER = ['vni', 'device', 'primary_ipv4', 'primary_ipv6', 'underlay_route', 'virtual_function', 'pxe',
  'nat', 'vip', 'metering', 'hostname'];

function ifaceSpec(a: IfaceSpecArgs = {}): GoMap {
  const d: GoMap = { vni: a.vni ?? 0 };
  if (a.device) d.device = a.device;
  if (a.ipv4) d.primary_ipv4 = a.ipv4;
  if (a.ipv6) d.primary_ipv6 = a.ipv6;
  if (a.underlay) d.underlay_route = a.underlay;
  if (a.vf !== undefined) d.virtual_function = { name: a.vf };
  if (a.pxe) {
    const pxe: GoMap = {};
    if (a.pxe[0]) pxe.next_server = a.pxe[0];
    if (a.pxe[1]) pxe.boot_filename = a.pxe[1];
    d.pxe = pxe;
  }
  if (a.nat) d.nat = a.nat;
  if (a.vip) d.vip = a.vip;
  if (a.metering) {
    const m: GoMap = {};
    if (a.metering[0] !== 0n) m.total_rate = a.metering[0];
    if (a.metering[1] !== 0n) m.public_rate = a.metering[1];
    d.metering = m;
  }
  if (a.hostname) d.hostname = a.hostname;
  return d;
}

/** Sets one InterfaceSpec field, keeping encoding/json's (struct) field order. */
export function ifaceSpecSet(spec: GoMap, key: string, value: GoValue): void {
  spec[key] = value;
  const ordered: GoMap = {};
  for (const k of IFACE_SPEC_ORDER) if (k in spec) ordered[k] = spec[k]!;
  for (const k of Object.keys(spec)) delete spec[k];
  Object.assign(spec, ordered);
}

/** A load balancer port {protocol, port}. */
export interface LbPort {
  protocol: number;
  port: number;
}

function lbSpec(vni = 0, ip?: Addr, ports?: LbPort[], underlay?: Addr): GoMap {
  const d: GoMap = { vni };
  if (ip) d.loadbalanced_ip = ip;
  if (ports && ports.length > 0) d.loadbalanced_ports = ports.map((p) => ({ protocol: p.protocol, port: p.port }));
  if (underlay) d.underlay_route = underlay;
  return d;
}

function natMeta(iid: string): GoMap {
  return iid ? { interface_id: iid } : {};
}

function natSpec(natIp?: Addr | null, minp = 0, maxp = 0, underlay?: Addr | null, vni = 0, actual?: Addr | null): GoMap {
  const d: GoMap = {};
  if (natIp) d.nat_ip = natIp;
  d.min_port = minp;
  d.max_port = maxp;
  if (underlay) d.underlay_route = underlay;
  d.vni = vni;
  if (actual) d.actual_nat_ip = actual;
  return d;
}

function fwSpec(id: string, direction = '', action = '', priority = 0, src?: Prefix, dst?: Prefix, filter?: GoMap): GoMap {
  const d: GoMap = { id };
  if (direction) d.direction = direction;
  if (action) d.action = action;
  d.priority = priority;
  if (src) d.source_prefix = src;
  if (dst) d.destination_prefix = dst;
  if (filter) d.protocol_filter = filter;
  return d;
}

function routeSpec(prefix?: Prefix, nhVni = 0, nhIp?: Addr): GoMap {
  const d: GoMap = {};
  if (prefix) d.prefix = prefix;
  const nh: GoMap = { vni: nhVni };
  if (nhIp) nh.address = nhIp;
  d.next_hop = nh;
  return d;
}

/** A protocol filter to send: which member of the oneof, and its fields in proto order. */
export interface ProtocolFilterArg {
  which: 'icmp' | 'tcp' | 'udp' | null;
  fields: Record<string, number>;
}

/** encoding/json of *dpdkproto.ProtocolFilter: the oneof wrapper has no JSON tags. */
function protocolFilterJson(pf: ProtocolFilterArg): GoMap {
  if (pf.which === null) return { Filter: null };
  const inner: GoMap = {};
  for (const [k, v] of Object.entries(pf.fields)) if (v !== 0) inner[k] = v;
  return { Filter: { [pf.which[0]!.toUpperCase() + pf.which.slice(1)]: inner } };
}

const FILTER_FIELDS: Record<string, string[]> = {
  icmp: ['icmp_type', 'icmp_code'],
  tcp: ['src_port_lower', 'src_port_upper', 'dst_port_lower', 'dst_port_upper'],
  udp: ['src_port_lower', 'src_port_upper', 'dst_port_lower', 'dst_port_upper'],
};

function msgToFilter(pf: Msg): ProtocolFilterArg {
  const which = (pf?.filter ?? null) as ProtocolFilterArg['which'];
  const fields: Record<string, number> = {};
  if (which !== null) for (const f of FILTER_FIELDS[which] ?? []) fields[f] = Number(pf[which]?.[f] ?? 0);
  return { which, fields };
}

function msgToInterface(i: Msg): Obj {
  const ul = addrIfSet(i.underlay_route, 'error parsing underlay ip');
  const v4 = parseAddrWrapped(goString(i.primary_ipv4), 'error parsing primary ipv4');
  const v6 = parseAddrWrapped(goString(i.primary_ipv6), 'error parsing primary ipv6');
  if (!i.meteringParams) throw new GoPanic(NIL_DEREF);
  const metering: [bigint, bigint] = [big(i.meteringParams.total_rate), big(i.meteringParams.public_rate)];
  return new Obj('Interface', 'Interface', { id: goString(i.id) }, ifaceSpec({
    vni: Number(i.vni), device: String(i.pci_name ?? ''), ipv4: v4, ipv6: v6, underlay: ul, metering, hostname: String(i.hostname ?? ''),
  }));
}

function msgToPrefix(iid: string, p: Msg): Obj {
  if (!p.ip) throw new GoPanic(NIL_DEREF);
  const a = parseAddrWrapped(goString(p.ip.address), 'error parsing dpdk prefix address');
  const ul = parseAddrWrapped(goString(p.underlay_route), 'error parsing underlay route');
  return new Obj('Prefix', 'Prefix', { interface_id: iid, vni: 0 }, { prefix: prefixFrom(a, Number(p.length)), underlay_route: ul });
}

function msgToRoute(vni: number, r: Msg): Obj {
  if (!r.prefix) throw new GoPanic(NIL_DEREF);
  const a = parseAddrWrapped(goString(r.prefix.ip?.address), 'error parsing prefix address');
  const nh = parseAddrWrapped(goString(r.nexthop_address?.address), 'error parsing netxt hop address');
  return new Obj('Route', 'Route', { vni }, routeSpec(prefixFrom(a, Number(r.prefix.length)), Number(r.nexthop_vni), nh));
}

function msgToFwRule(r: Msg, iid: string): Obj {
  const prefixes: Prefix[] = [];
  for (const f of ['source_prefix', 'destination_prefix']) {
    const p = r[f];
    if (!p) throw new GoPanic(NIL_DEREF);
    prefixes.push(wrapped('error converting prefix', () => parsePrefix(`${goString(p.ip?.address)}/${Number(p.length)}`)));
  }
  const pf = r.protocol_filter ? protocolFilterJson(msgToFilter(r.protocol_filter)) : undefined;
  return new Obj('FirewallRule', 'FirewallRule', { interface_id: iid }, fwSpec(goString(r.id),
    Number(r.direction) === 0 ? 'Ingress' : 'Egress', Number(r.action) === 0 ? 'Drop' : 'Accept', Number(r.priority),
    prefixes[0], prefixes[1], pf));
}

function msgToLb(res: Msg, lbid: string, ipField: string, portsField: string, status: Status): Obj {
  const ul = addrIfSet(res.underlay_route, 'error parsing underlay ip');
  const lbip = addrIfSet(res[ipField]?.address, 'error parsing lb ip');
  const ports: LbPort[] = (res[portsField] as Msg[] ?? []).map((p) => ({ protocol: Number(p.protocol), port: Number(p.port) }));
  return new Obj('LoadBalancer', 'LoadBalancer', { id: lbid }, lbSpec(Number(res.vni), lbip, ports, ul), status);
}

/** api.StringLbportToLbport: "tcp/80" to a port. */
export function lbPortFromString(s: string): LbPort {
  const p = s.split('/');
  const name = p[0]!.toLowerCase();
  // upstream looks up "ICMPv6" in a table spelling it "ICMPV6": icmpv6 ports get protocol 0
  const protocols: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, sctp: 132, icmpv6: 0 };
  const protocol = protocols[name];
  if (protocol === undefined) throw new GoError('unsupported protocol');
  if (p.length < 2) throw new GoPanic('runtime error: index out of range [1] with length 1');
  const port = wrapped('error parsing port number', () => atoi(p[1]!));
  return { protocol, port: toUint32(port) };
}

/** A captured interface as the CLI names it: {interface_type: "pf"|"vf", interface_info}. */
export interface CaptureIface {
  interface_type: string;
  interface_info: string;
}

// ---- the client --------------------------------------------------------------------------------------

/** client.Client: each method returns an api object or throws a GoError. */
export class Api {
  constructor(
    private readonly c: RpcClient,
    /** Where a method prints directly (upstream's capture start does). */
    private readonly write: (text: string) => void,
    /** Version sent by GetVersion as client_protocol. */
    private readonly protoVersion: string,
  ) {}

  async getLoadBalancer(lbid: string): Promise<Obj> {
    const res = await this.c.call('GetLoadBalancer', { loadbalancer_id: goBytes(lbid) });
    check(res);
    return msgToLb(res, lbid, 'loadbalanced_ip', 'loadbalanced_ports', statusDirect(res));
  }

  async listLoadBalancers(): Promise<Lst> {
    const res = await this.c.call('ListLoadBalancers', {});
    check(res);
    const items = (res.loadbalancers as Msg[]).map((lb) => msgToLb(lb, goString(lb.id), 'ip', 'ports', STATUS_OK));
    return new Lst('LoadBalancerList', 'LoadBalancerList', {}, statusOf(res), items);
  }

  async createLoadBalancer(lbid: string, vni: number, vip: Addr, ports: LbPort[], underlay: Addr): Promise<Obj> {
    const res = await this.c.call('CreateLoadBalancer', {
      loadbalancer_id: goBytes(lbid), vni, loadbalanced_ip: ipMsg(vip), loadbalanced_ports: ports.map((p) => ({ port: p.port, protocol: p.protocol })),
      preferred_underlay_route: addrBytes(underlay),
    });
    const ret = new Obj('LoadBalancer', 'LoadBalancer', { id: lbid }, lbSpec(), statusOf(res));
    check(res);
    const ul = parseAddrWrapped(goString(res.underlay_route), 'error parsing underlay route');
    ret.spec = lbSpec(vni, vip, ports, ul);
    return ret;
  }

  async deleteLoadBalancer(lbid: string): Promise<Obj> {
    const res = await this.c.call('DeleteLoadBalancer', { loadbalancer_id: goBytes(lbid) });
    const ret = new Obj('LoadBalancer', 'LoadBalancer', { id: lbid }, lbSpec(), statusOf(res));
    check(res);
    return ret;
  }

  private async listPrefixesOf(rpc: string, iid: string, lb: boolean): Promise<Lst> {
    const res = await this.c.call(rpc, { interface_id: goBytes(iid) });
    check(res);
    const items = (res.prefixes as Msg[]).map((p) => {
      const o = msgToPrefix(iid, p);
      if (lb) o.kind = 'LoadBalancerPrefix';
      return o;
    });
    return new Lst('PrefixList', lb ? 'LoadBalancerPrefixList' : 'PrefixList', { interface_id: iid }, statusOf(res), items);
  }

  listLbPrefixes(iid: string): Promise<Lst> {
    return this.listPrefixesOf('ListLoadBalancerPrefixes', iid, true);
  }

  listPrefixes(iid: string): Promise<Lst> {
    return this.listPrefixesOf('ListPrefixes', iid, false);
  }

  private async createPrefixOf(rpc: string, iid: string, prefix: Prefix, underlay: Addr, typ: string, meta: GoMap): Promise<Obj> {
    const res = await this.c.call(rpc, { interface_id: goBytes(iid), prefix: prefixMsg(prefix), preferred_underlay_route: addrBytes(underlay) });
    const ret = new Obj(typ, typ, meta, { prefix }, statusOf(res));
    check(res);
    ret.spec.underlay_route = parseAddrWrapped(goString(res.underlay_route), 'error parsing underlay route');
    return ret;
  }

  createLbPrefix(iid: string, prefix: Prefix, underlay: Addr): Promise<Obj> {
    return this.createPrefixOf('CreateLoadBalancerPrefix', iid, prefix, underlay, 'LoadBalancerPrefix', { interface_id: iid });
  }

  createPrefix(iid: string, prefix: Prefix, underlay: Addr): Promise<Obj> {
    return this.createPrefixOf('CreatePrefix', iid, prefix, underlay, 'Prefix', { interface_id: iid, vni: 0 });
  }

  private async deletePrefixOf(rpc: string, iid: string, prefix: Prefix, typ: string, meta: GoMap): Promise<Obj> {
    const res = await this.c.call(rpc, { interface_id: goBytes(iid), prefix: prefixMsg(prefix) });
    const ret = new Obj(typ, typ, meta, { prefix }, statusOf(res));
    check(res);
    return ret;
  }

  deleteLbPrefix(iid: string, prefix: Prefix): Promise<Obj> {
    return this.deletePrefixOf('DeleteLoadBalancerPrefix', iid, prefix, 'LoadBalancerPrefix', { interface_id: iid });
  }

  deletePrefix(iid: string, prefix: Prefix): Promise<Obj> {
    return this.deletePrefixOf('DeletePrefix', iid, prefix, 'Prefix', { interface_id: iid, vni: 0 });
  }

  async listLbTargets(lbid: string): Promise<Lst> {
    const res = await this.c.call('ListLoadBalancerTargets', { loadbalancer_id: goBytes(lbid) });
    check(res);
    const items = (res.target_ips as Msg[]).map((t) =>
      new Obj('LoadBalancerTarget', 'LoadBalancerTarget', { loadbalancer_id: lbid }, { target_ip: msgToAddr(t) }));
    return new Lst('LoadBalancerTargetList', 'LoadBalancerTargetList', { loadbalancer_id: lbid }, statusOf(res), items);
  }

  async createLbTarget(lbid: string, target: Addr): Promise<Obj> {
    const res = await this.c.call('CreateLoadBalancerTarget', { loadbalancer_id: goBytes(lbid), target_ip: ipMsg(target) });
    const ret = new Obj('LoadBalancerTarget', 'LoadBalancerTarget', { loadbalancer_id: lbid }, {}, statusOf(res));
    check(res);
    ret.spec = { target_ip: target };
    return ret;
  }

  async deleteLbTarget(lbid: string, target: Addr): Promise<Obj> {
    const res = await this.c.call('DeleteLoadBalancerTarget', { loadbalancer_id: goBytes(lbid), target_ip: ipMsg(target) });
    const ret = new Obj('LoadBalancerTarget', 'LoadBalancerTarget', { loadbalancer_id: lbid }, {}, statusOf(res));
    check(res);
    return ret;
  }

  async getInterface(iid: string): Promise<Obj> {
    const res = await this.c.call('GetInterface', { interface_id: goBytes(iid) });
    check(res);
    if (!res.interface) throw new GoPanic(NIL_DEREF);
    return msgToInterface(res.interface);
  }

  async listInterfaces(): Promise<Lst> {
    const res = await this.c.call('ListInterfaces', {});
    check(res);
    return new Lst('InterfaceList', 'InterfaceList', {}, statusOf(res), (res.interfaces as Msg[]).map(msgToInterface));
  }

  async createInterface(iid: string, vni: number, device: string, ipv4: Addr, ipv6: Addr, underlay: Addr,
    pxe: [string, string], metering: [bigint, bigint], hostname: string): Promise<Obj> {
    const req: Record<string, unknown> = {
      interface_type: 0,
      interface_id: goBytes(iid),
      vni,
      ipv4_config: ipv4.valid() ? { primary_address: goBytes(ipv4.toString()) } : undefined,
      ipv6_config: ipv6.valid() ? { primary_address: goBytes(ipv6.toString()) } : undefined,
      device_name: device,
      metering_parameters: { total_rate: metering[0].toString(), public_rate: metering[1].toString() },
      preferred_underlay_route: addrBytes(underlay),
      hostname,
    };
    if (pxe[0] && pxe[1]) req.pxe_config = { next_server: pxe[0], boot_filename: pxe[1] };
    const res = await this.c.call('CreateInterface', req);
    const ret = new Obj('Interface', '', { id: iid }, ifaceSpec(), statusOf(res));
    check(res);
    const ul = parseAddrWrapped(goString(res.underlay_route), 'error parsing underlay route');
    if (!res.vf) throw new GoPanic(NIL_DEREF);
    ret.spec = ifaceSpec({ vni, device, ipv4, ipv6, underlay: ul, vf: String(res.vf.name), pxe, metering, hostname });
    return ret;
  }

  async deleteInterface(iid: string): Promise<Obj> {
    const res = await this.c.call('DeleteInterface', { interface_id: goBytes(iid) });
    const ret = new Obj('Interface', 'Interface', { id: iid }, ifaceSpec(), statusOf(res));
    check(res);
    return ret;
  }

  async getVip(iid: string, ignored: readonly number[] = []): Promise<Obj> {
    const res = await this.c.call('GetVip', { interface_id: goBytes(iid) });
    const ret = new Obj('VirtualIP', 'VirtualIP', { interface_id: iid }, { vip_ip: null }, statusOf(res));
    check(res, ignored);
    if (statusOf(res)[0] !== 0) return ret;
    const ip = parseAddrWrapped(goString(res.vip_ip?.address), 'error parsing virtual ip address');
    const ul = parseAddrWrapped(goString(res.underlay_route), 'error parsing underlay route');
    return new Obj('VirtualIP', 'VirtualIP', { interface_id: iid }, { vip_ip: ip, underlay_route: ul }, statusOf(res));
  }

  async createVip(iid: string, vip: Addr, underlay: Addr): Promise<Obj> {
    const res = await this.c.call('CreateVip', { interface_id: goBytes(iid), vip_ip: ipMsg(vip), preferred_underlay_route: addrBytes(underlay) });
    const ret = new Obj('VirtualIP', 'VirtualIP', { interface_id: iid }, { vip_ip: vip }, statusOf(res));
    check(res);
    ret.spec.underlay_route = parseAddrWrapped(goString(res.underlay_route), 'error parsing underlay route');
    return ret;
  }

  async deleteVip(iid: string): Promise<Obj> {
    const res = await this.c.call('DeleteVip', { interface_id: goBytes(iid) });
    const ret = new Obj('VirtualIP', 'VirtualIP', { interface_id: iid }, { vip_ip: null }, statusOf(res));
    check(res);
    return ret;
  }

  async listRoutes(vni: number): Promise<Lst> {
    const res = await this.c.call('ListRoutes', { vni });
    check(res);
    return new Lst('RouteList', 'RouteList', { vni }, statusOf(res), (res.routes as Msg[]).map((r) => msgToRoute(vni, r)));
  }

  async createRoute(vni: number, prefix: Prefix, nhVni: number, nhIp: Addr): Promise<Obj> {
    const res = await this.c.call('CreateRoute', {
      vni, route: { weight: 100, prefix: prefixMsg(prefix), nexthop_vni: nhVni, nexthop_address: ipMsg(nhIp) },
    });
    const ret = new Obj('Route', 'Route', { vni }, routeSpec(prefix), statusOf(res));
    check(res);
    ret.spec = routeSpec(prefix, nhVni, nhIp);
    return ret;
  }

  async deleteRoute(vni: number, prefix: Prefix): Promise<Obj> {
    const res = await this.c.call('DeleteRoute', { vni, route: { weight: 100, prefix: prefixMsg(prefix) } });
    const ret = new Obj('Route', 'Route', { vni }, routeSpec(prefix), statusOf(res));
    check(res);
    return ret;
  }

  async getNat(iid: string): Promise<Obj> {
    const res = await this.c.call('GetNat', { interface_id: goBytes(iid) });
    check(res);
    const ul = addrIfSet(res.underlay_route, 'error parsing underlay ip');
    const natIp = addrIfSet(res.nat_ip?.address, 'error parsing nat ip');
    return new Obj('Nat', 'Nat', natMeta(iid), natSpec(natIp, Number(res.min_port), Number(res.max_port), ul), statusDirect(res));
  }

  async createNat(iid: string, natIp: Addr, minp: number, maxp: number, underlay: Addr): Promise<Obj> {
    const res = await this.c.call('CreateNat', {
      interface_id: goBytes(iid), nat_ip: ipMsg(natIp), min_port: minp, max_port: maxp, preferred_underlay_route: addrBytes(underlay),
    });
    const ret = new Obj('Nat', 'Nat', natMeta(iid), natSpec(), statusOf(res));
    check(res);
    const ul = parseAddrWrapped(goString(res.underlay_route), 'error parsing underlay route');
    ret.spec = natSpec(natIp, minp, maxp, ul);
    return ret;
  }

  async deleteNat(iid: string): Promise<Obj> {
    const res = await this.c.call('DeleteNat', { interface_id: goBytes(iid) });
    const ret = new Obj('Nat', 'Nat', natMeta(iid), natSpec(), statusOf(res));
    check(res);
    return ret;
  }

  async listNats(natIp: Addr, natType: string): Promise<Lst> {
    const t = natType.toLowerCase();
    let rpcs: string[];
    if (t === 'local' || t === '1') rpcs = ['ListLocalNats'];
    else if (t === 'neigh' || t === '2' || t === 'neighbor') rpcs = ['ListNeighborNats'];
    else if (t === 'any' || t === '0' || t === '') rpcs = ['ListLocalNats', 'ListNeighborNats'];
    else throw new GoError('nat type can be only: Any = 0/Local = 1/Neigh(bor) = 2');
    const entries: Msg[] = [];
    let status: Status = STATUS_OK;
    for (const rpc of rpcs) {
      const res = await this.c.call(rpc, { nat_ip: ipMsg(natIp) });
      if (rpcs.length === 1) {
        // with both types, upstream does not look at the statuses
        check(res);
        status = statusOf(res);
      }
      entries.push(...(res.nat_entries as Msg[]));
    }
    // upstream fills one api.Nat variable per entry and copies it: fields an entry does not set
    // carry over from the previous entry
    let kind = '';
    let curNatIp: Addr | null = null;
    let curUl: Addr | null = null;
    let curActual: Addr | null = null;
    const items = entries.map((e) => {
      if (e.underlay_route && e.underlay_route.length > 0) {
        curUl = parseAddrWrapped(goString(e.underlay_route), 'error parsing underlay route');
        curNatIp = null;
        kind = 'NeighborNat';
      } else if (e.nat_ip) {
        curNatIp = parseAddrWrapped(goString(e.nat_ip.address), 'error parsing natted ip');
        kind = 'Nat';
      }
      if (e.actual_nat_ip) curActual = parseAddrWrapped(goString(e.actual_nat_ip.address), 'error parsing nat ip');
      return new Obj('Nat', kind, {}, natSpec(curNatIp, Number(e.min_port), Number(e.max_port), curUl, Number(e.vni), curActual));
    });
    const meta: GoMap = { nat_ip: natIp };
    if (natType) meta.nat_type = natType;
    return new Lst('NatList', 'NatList', meta, status, items);
  }

  async createNeighborNat(natIp: Addr, vni: number, minp: number, maxp: number, underlay: Addr): Promise<Obj> {
    const res = await this.c.call('CreateNeighborNat', {
      nat_ip: ipMsg(natIp), vni, min_port: minp, max_port: maxp, underlay_route: goBytes(underlay.toString()),
    });
    const ret = new Obj('NeighborNat', 'NeighborNat', { nat_ip: natIp }, { vni: 0, min_port: 0, max_port: 0 }, statusOf(res));
    check(res);
    ret.spec = { vni, min_port: minp, max_port: maxp, underlay_route: underlay };
    return ret;
  }

  async deleteNeighborNat(natIp: Addr, vni: number, minp: number, maxp: number): Promise<Obj> {
    const res = await this.c.call('DeleteNeighborNat', { nat_ip: ipMsg(natIp), vni, min_port: minp, max_port: maxp });
    const ret = new Obj('NeighborNat', 'NeighborNat', { nat_ip: natIp }, { vni: 0, min_port: 0, max_port: 0 }, statusOf(res));
    check(res);
    return ret;
  }

  async listFirewallRules(iid: string): Promise<Lst> {
    const res = await this.c.call('ListFirewallRules', { interface_id: goBytes(iid) });
    check(res);
    return new Lst('FirewallRuleList', 'FirewallRuleList', { interface_id: iid }, statusOf(res),
      (res.rules as Msg[]).map((r) => msgToFwRule(r, iid)));
  }

  async createFirewallRule(iid: string, rid: string, direction: string, action: string, priority: number, src: Prefix,
    dst: Prefix, filter: ProtocolFilterArg): Promise<Obj> {
    const a = action.toLowerCase();
    let actionN: number;
    if (a === 'accept' || a === 'allow' || a === '1') [actionN, action] = [1, 'Accept'];
    else if (a === 'drop' || a === 'deny' || a === '0') [actionN, action] = [0, 'Drop'];
    else throw new GoError('firewall action can be only: drop/deny/0|accept/allow/1');
    const d = direction.toLowerCase();
    let directionN: number;
    if (d === 'ingress' || d === '0') [directionN, direction] = [0, 'Ingress'];
    else if (d === 'egress' || d === '1') [directionN, direction] = [1, 'Egress'];
    else throw new GoError('traffic direction can be only: Ingress = 0/Egress = 1');
    const rule = {
      id: goBytes(rid), direction: directionN, action: actionN, priority,
      source_prefix: prefixMsg(src), destination_prefix: prefixMsg(dst),
      protocol_filter: filter.which === null ? {} : { [filter.which]: filter.fields },
    };
    const res = await this.c.call('CreateFirewallRule', { interface_id: goBytes(iid), rule });
    const ret = new Obj('FirewallRule', 'FirewallRule', { interface_id: iid }, fwSpec(rid), statusOf(res));
    check(res);
    ret.spec = fwSpec(rid, direction, action, priority, src, dst, protocolFilterJson(filter));
    return ret;
  }

  async getFirewallRule(iid: string, rid: string): Promise<Obj> {
    const res = await this.c.call('GetFirewallRule', { interface_id: goBytes(iid), rule_id: goBytes(rid) });
    check(res);
    if (!res.rule) throw new GoPanic(NIL_DEREF);
    return msgToFwRule(res.rule, iid);
  }

  async deleteFirewallRule(iid: string, rid: string): Promise<Obj> {
    const res = await this.c.call('DeleteFirewallRule', { interface_id: goBytes(iid), rule_id: goBytes(rid) });
    const ret = new Obj('FirewallRule', 'FirewallRule', { interface_id: iid }, fwSpec(rid), statusOf(res));
    check(res);
    return ret;
  }

  private async initialized(rpc: string): Promise<Obj> {
    const res = await this.c.call(rpc, {});
    const ret = new Obj('Initialized', 'Initialized', {}, { uuid: '' }, statusOf(res));
    check(res);
    ret.spec.uuid = String(res.uuid ?? '');
    return ret;
  }

  checkInitialized(): Promise<Obj> {
    return this.initialized('CheckInitialized');
  }

  initialize(): Promise<Obj> {
    return this.initialized('Initialize');
  }

  private async vniCall(rpc: string, vni: number, vniType: number): Promise<Obj> {
    const res = await this.c.call(rpc, { vni, type: vniType });
    const ret = new Obj('Vni', 'Vni', { vni, vni_type: vniType }, { in_use: false }, statusOf(res));
    check(res);
    if (rpc === 'CheckVniInUse') ret.spec.in_use = res.in_use === true;
    return ret;
  }

  getVni(vni: number, vniType: number): Promise<Obj> {
    return this.vniCall('CheckVniInUse', vni, vniType);
  }

  resetVni(vni: number, vniType: number): Promise<Obj> {
    return this.vniCall('ResetVni', vni, vniType);
  }

  async getVersion(clientName: string, clientVersion: string): Promise<Obj> {
    const meta: GoMap = { client_protocol: this.protoVersion, client_name: clientName, client_version: clientVersion };
    const res = await this.c.call('GetVersion', { client_protocol: this.protoVersion, client_name: clientName, client_version: clientVersion });
    const ret = new Obj('Version', 'Version', meta, { service_protocol: '', service_version: '' }, statusOf(res));
    check(res);
    ret.spec = { service_protocol: String(res.service_protocol ?? ''), service_version: String(res.service_version ?? '') };
    return ret;
  }

  async captureStart(sink: Addr, srcPort: number, dstPort: number, interfaces: CaptureIface[]): Promise<Obj> {
    const ifaces: object[] = [];
    for (const it of interfaces) {
      if (it.interface_type === 'pf') {
        let pfIndex: bigint;
        try {
          pfIndex = atoi(it.interface_info);
        } catch {
          this.write(`error filling interface info for interface ${it.interface_info}\n`);
          continue;
        }
        ifaces.push({ interface_type: 0, pf_index: toUint32(pfIndex) });
      } else ifaces.push({ interface_type: 1, vf_name: goBytes(it.interface_info) });
    }
    const res = await this.c.call('CaptureStart', {
      capture_config: { sink_node_ip: ipMsg(sink), udp_src_port: srcPort, udp_dst_port: dstPort, interfaces: ifaces },
    });
    const config: GoMap = { sink_node_ipv6: sink };
    if (srcPort) config.udp_src_port = srcPort;
    if (dstPort) config.udp_dst_port = dstPort;
    const spec: GoMap = interfaces.length > 0 ? { interfaces: interfaces.map((i) => ({ ...i })) } : {};
    const ret = new Obj('CaptureStart', 'CaptureStart', { capture_config: config }, spec, statusOf(res));
    check(res);
    return ret;
  }

  async captureStop(): Promise<Obj> {
    const res = await this.c.call('CaptureStop', {});
    check(res);
    return new Obj('CaptureStop', '', {}, { iface_cnt: Number(res.stopped_interface_cnt) }, statusOf(res));
  }

  async captureStatus(): Promise<Obj> {
    const res = await this.c.call('CaptureStatus', {});
    check(res);
    if (res.is_active !== true) {
      return new Obj('CaptureStatus', '', {}, { operation_status: false, capture_config: {} }, statusOf(res));
    }
    const c = res.capture_config;
    if (!c) throw new GoPanic(NIL_DEREF);
    const ifaces: GoMap[] = [];
    for (const ci of c.interfaces as Msg[]) {
      const t = Number(ci.interface_type);
      if (t !== 0 && t !== 1) throw new GoError('unsupported interface type');
      ifaces.push({ interface_type: t === 0 ? 'pf' : 'vf', interface_info: t === 0 ? String(Number(ci.pf_index)) : goString(ci.vf_name) });
    }
    const sink = msgToAddr(c.sink_node_ip);
    const config: GoMap = { sink_node_ipv6: sink };
    if (Number(c.udp_src_port)) config.udp_src_port = Number(c.udp_src_port);
    if (Number(c.udp_dst_port)) config.udp_dst_port = Number(c.udp_dst_port);
    const spec: GoMap = { operation_status: true, capture_config: config };
    if (ifaces.length > 0) spec.interfaces = ifaces;
    return new Obj('CaptureStatus', '', {}, spec, statusOf(res));
  }
}
