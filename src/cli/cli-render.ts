/**
 * dpservice-cli's renderers: `-o json` (and `--pretty`), `yaml`, `name` and `table` (go-pretty with
 * upstream's borderless style: aligned columns, numbers right-aligned), the "server error" switch of
 * RenderObject/RenderList, and the error objects printed when a command fails. Control path only.
 */
import { GoError, GoPanic, NIL_DEREF, atoi, goQuote, toUint32 } from './cli-go.js';
import { Addr, Prefix } from './cli-netip.js';
import { Lst, Obj, goJson, type GoMap, type GoValue } from './cli-objects.js';
import { goYaml } from './cli-yaml.js';

/** Renderer flags (-o, --pretty, -w) as a command run sees them. */
export interface RendererOptions {
  output: string;
  pretty: boolean;
  wide: boolean;
}

/** Where rendered text goes (stdout in the CLI). */
export type Write = (text: string) => void;

/** errors.StatusError: what a non-zero status turns into after rendering. */
export function statusError(code: number, message: string): GoError {
  return new GoError(message ? `[error code ${code}] ${message}` : `error code ${code}`);
}

/** fmt.Sprint of a *netip.Addr / *netip.Prefix field: "<nil>" when unset. */
export function fmtPtr(v: GoValue | undefined): string {
  if (v === undefined || v === null) return '<nil>';
  return v instanceof Addr || v instanceof Prefix ? v.toString() : String(v);
}

function str(v: GoValue | undefined): string {
  return v === undefined || v === null ? '' : String(v);
}

function num(v: GoValue | undefined): number | bigint {
  return typeof v === 'number' || typeof v === 'bigint' ? v : 0;
}

function sub(v: GoValue | undefined): GoMap | undefined {
  return v !== undefined && v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Addr) &&
    !(v instanceof Prefix) && !(v instanceof Obj) && !(v instanceof Lst)
    ? v
    : undefined;
}

// ---- protocol filters ----------------------------------------------------------------------------

/**
 * Go's protobuf text encoder separates fields with one or two spaces, chosen at random per binary
 * ("detrand"); the Go build the conformance stand-in was checked against uses two.
 */
const PROTOTEXT_FIELD_SEP = '  ';

/** ProtocolFilter.String() (prototext, single line) of the JSON form `{"Filter": {"Tcp": {...}}}`. */
export function protocolFilterText(pf: GoValue | undefined): string {
  const m = sub(pf);
  if (m === undefined) return '<nil>';
  const filter = sub(m.Filter);
  if (filter === undefined) return '';
  const [name, fields] = Object.entries(filter)[0] ?? ['', {}];
  const body = Object.entries(sub(fields) ?? {}).map(([k, v]) => `${k}:${str(v)}`).join(PROTOTEXT_FIELD_SEP);
  return `${name.toLowerCase()}:{${body}}`;
}

// ---- name ---------------------------------------------------------------------------------------------

/** GetName() of the api types. */
function objName(o: Obj): string {
  const m = o.meta;
  const s = o.spec;
  switch (o.typ) {
    case 'Route': {
      const nh = sub(s.next_hop);
      if (nh === undefined) throw new GoPanic(NIL_DEREF);
      return `${fmtPtr(s.prefix)}-${str(nh.vni)}`;
    }
    case 'Prefix':
    case 'LoadBalancerPrefix':
      return (s.prefix ?? new Prefix()).toString();
    case 'VirtualIP':
      return `on interface: ${str(m.interface_id)}`;
    case 'LoadBalancer':
    case 'Interface':
      return str(m.id);
    case 'LoadBalancerTarget':
      return `on loadbalancer: ${str(m.loadbalancer_id)}`;
    case 'Nat':
      return str(m.interface_id);
    case 'NeighborNat':
      if (m.nat_ip === undefined || m.nat_ip === null) throw new GoPanic(NIL_DEREF);
      return fmtPtr(m.nat_ip);
    case 'FirewallRule':
      return `${str(m.interface_id)}/${str(s.id)}`;
    case 'Initialized':
      return 'initialized';
    case 'Vni':
      return str(m.vni);
    case 'Version':
      return `${str(m.client_name)}-${str(m.client_protocol)}`;
    case 'CaptureStart':
      return fmtPtr(sub(m.capture_config)?.sink_node_ipv6);
    case 'CaptureStop':
      return 'capture stopped';
    case 'CaptureStatus':
      return 'get capture status';
    default:
      throw new GoError(`unsupported type *api.${o.typ}`);
  }
}

function renderName(v: Obj | Lst, op: string): string {
  let objs: Obj[];
  if (v instanceof Lst) {
    if (v.status[0] !== 0) return `${[v.typ.toLowerCase(), ...(op ? [op] : [])].join(' ')}\n`;
    objs = v.items ?? [];
  } else objs = [v];
  let out = '';
  for (const o of objs) {
    const parts = [o.kind ? `${o.kind.toLowerCase()}/${objName(o)}` : objName(o)];
    if (op) parts.push(op);
    out += `${parts.join(' ')}\n`;
  }
  return out;
}

// ---- table --------------------------------------------------------------------------------------------

/** A cell of a Go integer kind whose text is not its decimal value (protobuf enums). */
class EnumCell {
  constructor(readonly text: string) {}
}
type Cell = string | number | bigint | EnumCell;

const PROTOCOL_NAMES: Record<number, string> = { 0: 'UNDEFINED', 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPV6', 132: 'SCTP' };

function natString(nat: GoValue | undefined): string {
  const o = nat instanceof Obj ? nat : undefined;
  return o ? `${fmtPtr(o.spec.nat_ip)} <${str(o.spec.min_port)}, ${str(o.spec.max_port)}>` : '';
}

function captureInterfaces(s: GoMap): [string, string] {
  const ifaces = Array.isArray(s.interfaces) ? s.interfaces : [];
  let pfs = '';
  let vfs = '';
  for (const i of ifaces) {
    const m = sub(i) ?? {};
    if (m.interface_type === 'pf') pfs += `${str(m.interface_info)} `;
    else vfs += `${str(m.interface_info)} `;
  }
  return [pfs, vfs];
}

/** renderer.defaultTableConverter.ConvertToTable: headers and rows. */
function tableData(v: Obj | Lst, wide: boolean): [string[], Cell[][]] {
  const items = v instanceof Lst ? (v.items ?? []) : [v];
  const t = v instanceof Lst ? v.typ.slice(0, -4) : v.typ;
  switch (t) {
    case 'LoadBalancer':
      return [['ID', 'VNI', 'LbVipIP', 'Lbports', 'UnderlayRoute'], items.map((o) => {
        const s = o.spec;
        const ports = (Array.isArray(s.loadbalanced_ports) ? s.loadbalanced_ports : [])
          .map((p) => `${PROTOCOL_NAMES[Number(sub(p)?.protocol)] ?? ''}/${str(sub(p)?.port)}`).join(' ');
        return [str(o.meta.id), num(s.vni), fmtPtr(s.loadbalanced_ip), `[${ports}]`, fmtPtr(s.underlay_route)];
      })];
    case 'LoadBalancerTarget':
      return [['IpVersion', 'Address'], items.map((o) => {
        const ip = o.spec.target_ip;
        if (!(ip instanceof Addr)) throw new GoPanic(NIL_DEREF);
        return [new EnumCell(ip.is6() ? 'IPV6' : 'IPV4'), fmtPtr(ip)];
      })];
    case 'Interface': {
      const headers = ['ID', 'VNI', 'Device', 'IPv4', 'IPv6', 'UnderlayRoute', 'TotalTx', 'PublicTx', 'Hostname'];
      const vfNeeded = items.some((o) => o.spec.virtual_function !== undefined);
      if (vfNeeded) headers.push('VirtualFunction');
      if (wide) headers.push('Nat', 'VirtualIP');
      const rows = items.map((o) => {
        const s = o.spec;
        const metering = sub(s.metering);
        if (metering === undefined) throw new GoPanic(NIL_DEREF);
        const row: Cell[] = [str(o.meta.id), num(s.vni), str(s.device), fmtPtr(s.primary_ipv4), fmtPtr(s.primary_ipv6),
          fmtPtr(s.underlay_route), num(metering.total_rate), num(metering.public_rate), str(s.hostname)];
        if (s.virtual_function !== undefined) row.push(str(sub(s.virtual_function)?.name));
        else if (vfNeeded) row.push('');
        row.push(wide && s.nat !== undefined ? natString(s.nat) : '');
        row.push(wide && s.vip instanceof Obj ? fmtPtr(s.vip.spec.vip_ip) : '');
        return row;
      });
      return [headers, rows];
    }
    case 'Prefix':
      return [['VNI', 'Prefix', 'UnderlayRoute', 'InterfaceID'],
        items.map((o) => [num(o.meta.vni), fmtPtr(o.spec.prefix), fmtPtr(o.spec.underlay_route), str(o.meta.interface_id)])];
    case 'Route':
      return [['Prefix', 'VNI', 'NextHopVNI', 'NextHopIP'], items.map((o) => {
        const nh = sub(o.spec.next_hop);
        if (nh === undefined) throw new GoPanic(NIL_DEREF);
        return [fmtPtr(o.spec.prefix), num(o.meta.vni), num(nh.vni), fmtPtr(nh.address)];
      })];
    case 'Nat': {
      const local = items.length > 0 && str(items[0]!.meta.interface_id) !== '';
      if (local) {
        return [['InterfaceID', 'NatIP', 'MinPort', 'MaxPort', 'UnderlayRoute'], items.map((o) => [
          str(o.meta.interface_id), fmtPtr(o.spec.nat_ip), num(o.spec.min_port), num(o.spec.max_port),
          fmtPtr(o.spec.underlay_route)])];
      }
      return [['VNI', 'IP', 'MinPort', 'MaxPort', 'UnderlayRoute', 'NatIP', 'NatType'], items.map((o) => [
        num(o.spec.vni), fmtPtr(o.spec.nat_ip), num(o.spec.min_port), num(o.spec.max_port), fmtPtr(o.spec.underlay_route),
        fmtPtr(o.spec.actual_nat_ip), o.spec.underlay_route === undefined ? 'Local' : 'Neighbor'])];
    }
    case 'FirewallRule':
      return [['InterfaceID', 'RuleID', 'Direction', 'Src', 'Dst', 'Action', 'Protocol', 'Priority'], items.map((o) => [
        str(o.meta.interface_id), str(o.spec.id), str(o.spec.direction), fmtPtr(o.spec.source_prefix),
        fmtPtr(o.spec.destination_prefix), str(o.spec.action), protocolFilterText(o.spec.protocol_filter),
        num(o.spec.priority)])];
    default:
      break;
  }
  if (v instanceof Lst) throw new GoError(`unsupported type *api.${v.typ}`);
  const m = v.meta;
  const s = v.spec;
  switch (t) {
    case 'VirtualIP':
      return [['InterfaceID', 'VirtualIP', 'UnderlayRoute'], [[str(m.interface_id), fmtPtr(s.vip_ip), fmtPtr(s.underlay_route)]]];
    case 'NeighborNat':
      return [['VNI', 'NatIP', 'MinPort', 'MaxPort', 'UnderlayRoute'],
        [[num(s.vni), fmtPtr(m.nat_ip), num(s.min_port), num(s.max_port), fmtPtr(s.underlay_route)]]];
    case 'Initialized':
      return [['UUID'], [[str(s.uuid)]]];
    case 'Vni':
      return [['VNI', 'VniType', 'inUse'], [[num(m.vni), num(m.vni_type), s.in_use === true ? 'true' : 'false']]];
    case 'Version':
      return [['ServiceProto', 'ServiceVersion', 'ClientName', 'ClientProto', 'ClientVersion'],
        [[str(s.service_protocol), str(s.service_version), str(m.client_name), str(m.client_protocol), str(m.client_version)]]];
    case 'CaptureStart': {
      const c = sub(m.capture_config) ?? {};
      const [pfs, vfs] = captureInterfaces(s);
      return [['SinkNodeIP', 'UdpSrcPort', 'UdpDstPort', 'PF Interfaces', 'VF Interfaces'],
        [[fmtPtr(c.sink_node_ipv6), num(c.udp_src_port), num(c.udp_dst_port), pfs, vfs]]];
    }
    case 'CaptureStatus': {
      const headers = ['Operation Status', 'SinkNodeIP', 'UdpSrcPort', 'UdpDstPort', 'PF Interfaces', 'VF Interfaces'];
      if (s.operation_status !== true) return [headers, [['NOT_ACTIVE', '', '', '', '', '']]];
      const c = sub(s.capture_config) ?? {};
      const [pfs, vfs] = captureInterfaces(s);
      return [headers, [['ACTIVE', fmtPtr(c.sink_node_ipv6), num(c.udp_src_port), num(c.udp_dst_port), pfs, vfs]]];
    }
    case 'CaptureStop':
      return [['Stopped Interface'], [[num(s.iface_cnt)]]];
    default:
      throw new GoError(`unsupported type *api.${t}`);
  }
}

/** Terminal columns a string takes: wide East Asian characters count 2, combining marks 0. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    if (/^[\p{Mn}\p{Me}\p{Cf}]$/u.test(ch)) continue;
    const o = ch.codePointAt(0)!;
    const wideChar = (o >= 0x1100 && o <= 0x115f) || (o >= 0x2e80 && o <= 0xa4cf && o !== 0x303f) ||
      (o >= 0xac00 && o <= 0xd7a3) || (o >= 0xf900 && o <= 0xfaff) || (o >= 0xfe30 && o <= 0xfe4f) ||
      (o >= 0xff00 && o <= 0xff60) || (o >= 0xffe0 && o <= 0xffe6) || (o >= 0x1f300 && o <= 0x1f64f) ||
      (o >= 0x1f900 && o <= 0x1f9ff) || (o >= 0x20000 && o <= 0x3fffd);
    w += wideChar ? 2 : 1;
  }
  return w;
}

/**
 * go-pretty with dpservice-cli's style: no borders, one space of padding on each side of every
 * cell, columns as wide as their widest cell, columns of numbers right-aligned, others left.
 */
function renderTable(v: Obj | Lst, wide: boolean): string {
  const [headers, rows] = tableData(v, wide);
  const lines = (c: Cell): string[] => {
    const s = c instanceof EnumCell ? c.text : String(c);
    return s.replace(/\t/g, '    ').replace(/\r/g, '').split('\n');
  };
  const ncols = Math.max(headers.length, ...rows.map((r) => r.length));
  const numeric: boolean[] = new Array<boolean>(ncols).fill(true);
  for (const r of rows) {
    r.forEach((c, i) => {
      if (typeof c === 'string') numeric[i] = false;
    });
  }
  const table = [headers.map(lines), ...rows.map((r) => r.map(lines))];
  const widths: number[] = new Array<number>(ncols).fill(0);
  for (const r of table) r.forEach((ls, i) => (widths[i] = Math.max(widths[i]!, ...ls.map(displayWidth))));
  const text: string[] = [];
  for (const r of table) {
    const height = Math.max(1, ...r.map((ls) => ls.length));
    for (let ln = 0; ln < height; ln++) {
      let line = '';
      for (let i = 0; i < ncols; i++) {
        const s = r[i]?.[ln] ?? '';
        const isNum = numeric[i]!;
        const content = isNum ? s.replace(/^ +/, '') : s.replace(/ +$/, '');
        const pad = ' '.repeat(Math.max(0, widths[i]! - displayWidth(content)));
        line += ` ${isNum ? pad + content : content + pad} `;
      }
      text.push(line);
    }
  }
  return `${text.join('\n')}\n`;
}

// ---- RenderObject / RenderList ------------------------------------------------------------------

function render(ro: RendererOptions, op: string, v: Obj | Lst, kindForError: () => string): string {
  const output = ro.output || 'table';
  if (!['json', 'yaml', 'name', 'table'].includes(output)) {
    throw new GoError(`error creating renderer: unknown renderer ${goQuote(output)}`);
  }
  try {
    if (output === 'json') return `${goJson(v, ro.pretty)}\n`;
    if (output === 'yaml') return goYaml(v);
    if (output === 'name') return renderName(v, op);
    return renderTable(v, ro.wide);
  } catch (e) {
    if (e instanceof GoError) throw e.wrap(`error rendering ${kindForError()}`);
    throw e;
  }
}

/** RendererOptions.RenderObject: renders, then fails with the object's non-zero status. */
export function renderObject(ro: RendererOptions, op: string, obj: Obj, write: Write): void {
  if (obj.status[0] !== 0) {
    op = `server error: ${obj.status[0]}, ${obj.status[1]}`;
    if (ro.output === 'table') ro.output = 'name';
  }
  write(render(ro, op, obj, () => obj.kind));
  if (obj.status[0] !== 0) throw statusError(obj.status[0], obj.status[1]);
}

/** RendererOptions.RenderList: renders, then fails with the list's non-zero status. */
export function renderList(ro: RendererOptions, op: string, lst: Lst, write: Write): void {
  if (lst.status[0] !== 0) {
    op = `server error: ${lst.status[0]}, ${lst.status[1]}`;
    if (ro.output === 'table') ro.output = 'name';
  }
  write(render(ro, op, lst, () => {
    const first = lst.items?.[0];
    if (first === undefined) throw new GoPanic('runtime error: index out of range [0] with length 0');
    return first.kind;
  }));
  if (lst.status[0] !== 0) throw statusError(lst.status[0], lst.status[1]);
}

// ---- errors -------------------------------------------------------------------------------------------

/** Where an error came from, as the error object's spec.source says. */
export type ErrorSource = 'server' | 'grpc' | 'client';

/** cmd.parseError: [source, code, message], or undefined when the text cannot be parsed. */
function parseError(err: GoError): [ErrorSource, number, string] | undefined {
  const t = err.text;
  if (t.includes('[error code')) {
    const m = /^(.*)\[error code ([0-9]+)\] (.*)$/.exec(t);
    if (!m) return undefined;
    let code: bigint;
    try {
      code = atoi(m[2]!);
    } catch {
      return undefined;
    }
    return ['server', toUint32(code), m[3]!];
  }
  if (t.includes('rpc error')) {
    if (!/^(.*)rpc error: (.*)$/.test(t)) return undefined;
    // status.Convert: the wrapped gRPC status' code; its message is the whole text, of which the
    // part after "desc = " is kept
    const idx = t.indexOf('desc = ');
    return ['grpc', err.grpcCode ?? 2, idx < 0 ? t.slice(6) : t.slice(idx + 7)];
  }
  return ['client', 1000, t];
}

/** The error object printed for a failed command: `{"kind":"Error","spec":{"source":...},"status":{...}}`. */
export function errorObject(err: GoError): GoMap {
  let parsed = parseError(err);
  parsed ??= ['client', 999, `could not parse error: ${err.text}`];
  const [source, code, message] = parsed;
  return { kind: 'Error', spec: { source }, status: { code: code >>> 0, message } };
}

/** cmd.RenderError: the error object as JSON or YAML, otherwise one "<source> error: ..." line. */
export function renderError(err: GoError, output: string): string {
  const obj = errorObject(err);
  if (output === 'yaml') return goYaml(obj);
  if (output === 'json') return `${goJson(obj)}\n`;
  return `${String(sub(obj.spec)?.source)} error: ${err.text}\n`;
}
