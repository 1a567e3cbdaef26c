/**
 * Frame builders and checkers for the node unit tests: plain arrays in, Uint8Array frames out, and
 * a checksum verifier written independently of src/packet/checksum.ts (end-around carry per word
 * over an explicitly built pseudo header). Test helpers: they allocate freely.
 */
import { loadFrame, makeTestBatch, type PacketBatch } from '../../src/packet/batch.js';
import { DropReason } from '../../src/packet/drop-reasons.js';
import { flowHash, K_DST, K_PORTS, K_PROTO, K_SRC, K_VNI, KEY_WORDS } from '../../src/tables/flow-table.js';
import type { GraphNode } from '../../src/workers/graph.js';
import {
  createForwardingBuffers, DEFAULT_FORWARDING, type ForwardingSettings, type NodeContext, type NodeSettings, openForwarding,
} from '../../src/workers/node-context.js';
import { type InterfaceConfig, PortState, PortTable } from '../../src/tables/port-table.js';
import { type VirtsvcDef, VirtsvcTable } from '../../src/tables/virtsvc-table.js';

export const PORT_MAC = '66:66:66:66:66:00';
export const VM_MAC = '02:aa:bb:cc:dd:01';
export const VM_IPV4 = '10.100.1.1';
export const VM_IPV6 = '2000:100:1::1';
export const VM_LL = 'fe80::aabb:ccff:fedd:1';

export function mac(s: string): Uint8Array {
  return Uint8Array.from(s.split(':'), (h) => parseInt(h, 16));
}

export function ip4(s: string): Uint8Array {
  return Uint8Array.from(s.split('.'), (d) => Number(d));
}

export function ip4num(s: string): number {
  return ip4(s).reduce((a, o) => a * 256 + o, 0);
}

export function ip6(s: string): Uint8Array {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

export function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

export function text(b: Uint8Array): string {
  return String.fromCharCode(...b);
}

export function cat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function u16(v: number): number[] {
  return [(v >> 8) & 0xff, v & 0xff];
}

export function u32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

// ---- independent checksum ----

/** Ones'-complement sum of 16-bit words with the carry folded back at every step. */
export function onesSum(data: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < data.length; i += 2) {
    s += data[i]! * 256 + (i + 1 < data.length ? data[i + 1]! : 0);
    if (s > 0xffff) s -= 0xffff;
  }
  return s;
}

export function ipv4HeaderOk(frame: Uint8Array, ip = 14): boolean {
  const hlen = (frame[ip]! & 0x0f) * 4;
  return onesSum(frame.subarray(ip, ip + hlen)) === 0xffff;
}

export function udp4Ok(frame: Uint8Array, ip = 14, l4 = 34): boolean {
  const len = frame[l4 + 4]! * 256 + frame[l4 + 5]!;
  const pseudo = cat(frame.subarray(ip + 12, ip + 20), [0, 17], u16(len));
  return onesSum(cat(pseudo, frame.subarray(l4, l4 + len))) === 0xffff;
}

/** L4 checksum check under an IPv6 header: UDP (17) or ICMPv6 (58), length from the IPv6 header. */
export function l4v6Ok(frame: Uint8Array, proto: number, ip = 14): boolean {
  const len = frame[ip + 4]! * 256 + frame[ip + 5]!;
  const l4 = ip + 40;
  const pseudo = cat(frame.subarray(ip + 8, ip + 40), u32(len), [0, 0, 0, proto]);
  return onesSum(cat(pseudo, frame.subarray(l4, l4 + len))) === 0xffff;
}

// ---- frames ----

export function eth(dst: string, src: string, type: number): Uint8Array {
  return cat(mac(dst), mac(src), u16(type));
}

export interface ArpFields { op: number; sha: string; spa: string; tha: string; tpa: string }

export function arp(f: ArpFields): Uint8Array {
  return cat([0, 1, 8, 0, 6, 4], u16(f.op), mac(f.sha), ip4(f.spa), mac(f.tha), ip4(f.tpa));
}

export function ipv4(src: string, dst: string, proto: number, payload: Uint8Array, ttl = 64): Uint8Array {
  const h = cat([0x45, 0], u16(20 + payload.length), [0x12, 0x34, 0, 0, ttl, proto, 0, 0], ip4(src), ip4(dst));
  const c = 0xffff - onesSum(h);
  h[10] = c >> 8;
  h[11] = c & 0xff;
  return cat(h, payload);
}

export function udp(sport: number, dport: number, payload: Uint8Array): Uint8Array {
  return cat(u16(sport), u16(dport), u16(8 + payload.length), [0, 0], payload);
}

export function ipv6(src: Uint8Array, dst: Uint8Array, next: number, payload: Uint8Array, hop = 255): Uint8Array {
  return cat([0x60, 0, 0, 0], u16(payload.length), [next, hop], src, dst, payload);
}

/** A DHCPv4 option (code, value). */
export function opt4(code: number, value: number[] | Uint8Array): Uint8Array {
  return cat([code, value.length], value);
}

export interface BootpFields { op?: number; xid?: number; chaddr?: string; flags?: number; magic?: number }

/** BOOTP fixed part (240 bytes with the magic cookie) followed by the raw options bytes. */
export function bootp(f: BootpFields, options: Uint8Array): Uint8Array {
  const fixed = new Uint8Array(240);
  fixed[0] = f.op ?? 1;
  fixed[1] = 1;
  fixed[2] = 6;
  fixed.set(u32(f.xid ?? 0x3903f326), 4);
  fixed.set(u16(f.flags ?? 0), 10);
  fixed.set(mac(f.chaddr ?? VM_MAC), 28);
  fixed.set(u32(f.magic ?? 0x63825363), 236);
  return cat(fixed, options);
}

/** Ethernet + IPv4 + UDP 68 -> 67 around a BOOTP message, as a DHCP client sends it. */
export function dhcpFrame(message: Uint8Array, src = VM_MAC): Uint8Array {
  return cat(eth('ff:ff:ff:ff:ff:ff', src, 0x0800), ipv4('0.0.0.0', '255.255.255.255', 17, udp(68, 67, message)));
}

/** A DHCPv6 option (code, value). */
export function opt6(code: number, value: number[] | Uint8Array): Uint8Array {
  return cat(u16(code), u16(value.length), value);
}

export function dhcpv6Frame(type: number, trid: number, options: Uint8Array, src = VM_MAC): Uint8Array {
  const msg = cat([type], u32(trid).slice(1), options);
  return cat(eth('33:33:00:01:00:02', src, 0x86dd), ipv6(ip6(VM_LL), ip6('ff02::1:2'), 17, udp(546, 547, msg), 1));
}

/** Parses DHCPv4 options up to END into [code, value] pairs (END itself included as [255]). */
export function parseOpts4(b: Uint8Array, off: number): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = [];
  let i = off;
  while (i < b.length) {
    const c = b[i]!;
    if (c === 255) {
      out.push([255, new Uint8Array(0)]);
      break;
    }
    if (c === 0) {
      i++;
      continue;
    }
    const n = b[i + 1]!;
    out.push([c, b.slice(i + 2, i + 2 + n)]);
    i += 2 + n;
  }
  return out;
}

/** Parses DHCPv6 options into [code, value] pairs. */
export function parseOpts6(b: Uint8Array, off: number, end: number): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = [];
  let i = off;
  while (i + 4 <= end) {
    const c = b[i]! * 256 + b[i + 1]!;
    const n = b[i + 2]! * 256 + b[i + 3]!;
    out.push([c, b.slice(i + 4, i + 4 + n)]);
    i += 4 + n;
  }
  return out;
}

// ---- the port table and the node harness ----

export const DEFAULT_SETTINGS: NodeSettings = {
  dhcpMtu: 1337,
  dhcpDns: cat(ip4('8.8.4.4'), ip4('8.8.8.8')),
  dhcpv6Dns: cat(ip6('2001:4860:4860::6464'), ip6('2002:4861:4861::6464')),
  ipv6Overlay: true,
};

export interface IfaceOptions {
  ipv4?: string;
  ipv6?: string;
  hostname?: string;
  pxeServer?: string;
  bootFile?: string;
}

/** The MAC of uplink port 0 in makeCtx. */
export const PF0_MAC = '22:22:22:22:22:00';

// ---- the overlay topology the graph tests share ----

/** Uplink port 1 (addPf). */
export const PF1_MAC = '22:22:22:22:22:01';
/** The underlay router behind the uplinks: MAC and link-local address. */
export const ROUTER = '22:22:22:22:22:fe';
export const ROUTER_LL = 'fe80::2022:22ff:fe22:22fe';
/** Another host's underlay address (a route's nexthop) and the internet gateway's. */
export const REMOTE_HOST = 'fc00:2::1';
export const INTERNET_GW = 'fc00:ff::1';
/** A VIP and its underlay address. */
export const VIP = '45.0.0.1';
export const VIP_UL = 'fc00:1::45';

/**
 * A port table with port 0 declared as an uplink (PF0_MAC), port `port` as a VM port (own MAC
 * PORT_MAC) and, unless null, attached; forwarding tables of 4096 flows with `fwd` over the
 * defaults (a copy: tests may change it).
 */
export function makeCtx(iface: IfaceOptions | null = {}, settings: Partial<NodeSettings> = {}, port = 3,
  fwd: Partial<ForwardingSettings> = {}, virtsvc: VirtsvcDef[] = []): NodeContext {
  const ports = PortTable.create();
  ports.initPort(0, PortState.PF, mac(PF0_MAC));
  ports.initPort(port, PortState.VF_IDLE, mac(PORT_MAC));
  if (iface !== null) attach(ports, port, iface);
  return {
    ports, settings: { ...DEFAULT_SETTINGS, ...settings },
    fwd: openForwarding(createForwardingBuffers(4096, VirtsvcTable.create(virtsvc, ip6('fc00:1::').subarray(0, 8))),
      { ...DEFAULT_FORWARDING, ...fwd }, 0),
  };
}

export function attach(ports: PortTable, port: number, iface: IfaceOptions): void {
  const cfg: InterfaceConfig = {
    vni: 100,
    ipv4: iface.ipv4 === undefined ? ip4num(VM_IPV4) : iface.ipv4 === '' ? 0 : ip4num(iface.ipv4),
    ipv6: iface.ipv6 === undefined ? ip6(VM_IPV6) : iface.ipv6 === '' ? new Uint8Array(16) : ip6(iface.ipv6),
    underlay: ip6('fc00:1::1'),
    hostname: iface.hostname ?? '',
    pxeServer: iface.pxeServer ?? '',
    bootFile: iface.bootFile ?? '',
  };
  ports.attach(port, cfg);
}

export interface RunResult {
  edge: number;
  b: PacketBatch;
  slot: number;
  out: Uint8Array;
  reason: number;
}

export interface RunOptions { port?: number; l3?: number; l4?: number; headroom?: number; slot?: number }

/** Loads `frame` into a fresh test batch, sets the L3/L4 offsets, runs the node once. */
export function run(node: GraphNode, frame: Uint8Array, o: RunOptions = {}): RunResult {
  const b = makeTestBatch(4);
  const slot = o.slot ?? 1;
  loadFrame(b, slot, frame, o.port ?? 3, o.headroom ?? 128);
  b.l3[slot] = o.l3 ?? 14;
  b.l4[slot] = o.l4 ?? 0;
  b.outPort[slot] = 0xffff;
  const edge = node.process(b, slot);
  const s = b.start[slot]!;
  return { edge, b, slot, out: b.bytes.slice(s, s + b.len[slot]!), reason: b.dropReason[slot]! };
}

/** The VM MAC the port table holds for `port`, as text. */
export function vmMacOf(ctx: NodeContext, port = 3): string {
  const m = new Uint8Array(6);
  ctx.ports.copyVmMac(port, m, 0);
  return Array.from(m, (x) => x.toString(16).padStart(2, '0')).join(':');
}

// ---- overlay: more ports, routes, VNFs, L4 frames with checksums ----

/** Declares `port` as an uplink with its own MAC. */
export function addPf(ctx: NodeContext, port: number, own: string): void {
  ctx.ports.initPort(port, PortState.PF, mac(own));
}

export interface VmOptions {
  vni: number;
  /** '' = none */
  ipv4: string;
  /** '' = none (default) */
  ipv6?: string;
  underlay?: string;
  /** The port's own MAC (the VM MAC starts as this until learned). */
  own?: string;
}

/** Declares `port` as a VM port and attaches an interface to it. */
export function addVm(ctx: NodeContext, port: number, o: VmOptions): void {
  ctx.ports.initPort(port, PortState.VF_IDLE, mac(o.own ?? PORT_MAC));
  ctx.ports.attach(port, {
    vni: o.vni, ipv4: o.ipv4 === '' ? 0 : ip4num(o.ipv4), ipv6: o.ipv6 ? ip6(o.ipv6) : new Uint8Array(16),
    underlay: ip6(o.underlay ?? 'fc00:1::1'), hostname: '', pxeServer: '', bootFile: '',
  });
}

/** Adds an IPv4 route to the shared table: to a local VM port (`target` >= 0) or via an underlay nexthop. */
export function route4(ctx: NodeContext, vni: number, prefix: string, len: number, target: number, nh = '::'): number {
  const r = ctx.fwd.routes4.insert(vni, ip4num(prefix), len, target, vni, ip6(nh));
  if (r < 0) throw new Error(`route ${prefix}/${len} in ${vni} refused: ${r}`);
  return r;
}

/** Adds an IPv6 route, as route4. */
export function route6(ctx: NodeContext, vni: number, prefix: string, len: number, target: number, nh = '::'): number {
  const r = ctx.fwd.routes6.insert(vni, ip6(prefix), len, target, vni, ip6(nh));
  if (r < 0) throw new Error(`route ${prefix}/${len} in ${vni} refused: ${r}`);
  return r;
}

/** Adds an underlay address of this host to the VNF table. */
export function vnf(ctx: NodeContext, addr: string, type: number, vni: number, port: number): void {
  if (!ctx.fwd.vnf.set(ip6(addr), { type, vni, port })) throw new Error(`VNF ${addr} refused`);
}

/** TCP header (20 bytes, no options) with flags, checksum zero, followed by `payload`. */
export function tcp(sport: number, dport: number, flags: number, payload: Uint8Array = new Uint8Array(0), seq = 1): Uint8Array {
  return cat(u16(sport), u16(dport), u32(seq), u32(0), [0x50, flags], u16(65535), [0, 0, 0, 0], payload);
}

/** ICMP echo (type 8 request, 0 reply) with identifier and sequence, checksum filled in. */
export function icmpEcho(type: number, id: number, seq: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const m = cat([type, 0, 0, 0], u16(id), u16(seq), payload);
  const c = 0xffff - onesSum(m);
  m[2] = c >> 8;
  m[3] = c & 0xff;
  return m;
}

/** ICMP destination unreachable (code `code`) quoting `quoted`, checksum filled in. */
export function icmpUnreach(code: number, quoted: Uint8Array): Uint8Array {
  const m = cat([3, code, 0, 0, 0, 0, 0, 0], quoted);
  const c = 0xffff - onesSum(m);
  m[2] = c >> 8;
  m[3] = c & 0xff;
  return m;
}

/**
 * Fills the TCP or UDP checksum of an IPv4 packet at frame[ip..] (IHL honoured) from the
 * independent sum; a UDP result of 0 is sent as 0xffff. Returns the frame.
 */
export function withL4Checksum4(frame: Uint8Array, ip = 14): Uint8Array {
  const hlen = (frame[ip]! & 0x0f) * 4;
  const total = frame[ip + 2]! * 256 + frame[ip + 3]!;
  const proto = frame[ip + 9]!;
  const l4 = ip + hlen;
  const len = total - hlen;
  const at = proto === 6 ? l4 + 16 : l4 + 6;
  frame[at] = 0;
  frame[at + 1] = 0;
  const pseudo = cat(frame.subarray(ip + 12, ip + 20), [0, proto], u16(len));
  let c = 0xffff - onesSum(cat(pseudo, frame.subarray(l4, l4 + len)));
  if (c === 0 && proto === 17) c = 0xffff;
  frame[at] = c >> 8;
  frame[at + 1] = c & 0xff;
  return frame;
}

/** Fills the TCP, UDP or ICMPv6 checksum of an IPv6 packet at frame[ip..] (no extension headers). Returns the frame. */
export function withL4Checksum6(frame: Uint8Array, ip = 14): Uint8Array {
  const len = frame[ip + 4]! * 256 + frame[ip + 5]!;
  const proto = frame[ip + 6]!;
  const l4 = ip + 40;
  const at = l4 + (proto === 6 ? 16 : proto === 17 ? 6 : 2);
  frame[at] = 0;
  frame[at + 1] = 0;
  const pseudo = cat(frame.subarray(ip + 8, ip + 40), u32(len), [0, 0, 0, proto]);
  let c = 0xffff - onesSum(cat(pseudo, frame.subarray(l4, l4 + len)));
  if (c === 0) c = 0xffff;
  frame[at] = c >> 8;
  frame[at + 1] = c & 0xff;
  return frame;
}

/**
 * Whether the L4 checksum of the IPv4 packet at frame[ip..] is right: TCP and UDP over the pseudo
 * header (a UDP checksum of 0 means none and passes), ICMP over the message alone.
 */
export function l4v4Ok(frame: Uint8Array, ip = 14): boolean {
  const hlen = (frame[ip]! & 0x0f) * 4;
  const total = frame[ip + 2]! * 256 + frame[ip + 3]!;
  const proto = frame[ip + 9]!;
  const l4 = ip + hlen;
  const len = total - hlen;
  const seg = frame.subarray(l4, l4 + len);
  if (proto === 1) return onesSum(seg) === 0xffff;
  if (proto === 17 && frame[l4 + 6] === 0 && frame[l4 + 7] === 0) return true;
  const pseudo = cat(frame.subarray(ip + 12, ip + 20), [0, proto], u16(len));
  return onesSum(cat(pseudo, seg)) === 0xffff;
}

/** An underlay frame: Ethernet + IPv6 (hop limit 64) carrying `inner` with next header 4 or 41. */
export function tunnelFrame(dstMac: string, srcMac: string, src: string, dst: string, inner: Uint8Array): Uint8Array {
  const next = inner[0]! >> 4 === 4 ? 4 : 41;
  return cat(eth(dstMac, srcMac, 0x86dd), ipv6(ip6(src), ip6(dst), next, inner, 64));
}

export interface PathResult {
  /** Names of the nodes the packet went through, in order. */
  path: string[];
  /** The edge name that left the given nodes ('drop', 'tx', or a node not in the list). */
  exit: string;
  b: PacketBatch;
  slot: number;
  out: Uint8Array;
  reason: number;
}

/**
 * Runs a packet through `nodes` by edge names, from the first node, until an edge leads to a node
 * not in the list. Metadata is set as rx would (reset); `setup` may change it before the first node.
 */
export function runPath(nodes: GraphNode[], frame: Uint8Array, port: number, setup?: (b: PacketBatch, slot: number) => void,
  b: PacketBatch = makeTestBatch(4), slot = 1): PathResult {
  loadFrame(b, slot, frame, port);
  b.dropReason[slot] = DropReason.NONE;
  if (setup) setup(b, slot);
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const path: string[] = [];
  let node: GraphNode | undefined = nodes[0];
  let exit = '';
  while (node) {
    path.push(node.name);
    exit = node.edges[node.process(b, slot)] ?? `bad edge`;
    node = byName.get(exit);
  }
  const s = b.start[slot]!;
  return { path, exit, b, slot, out: b.bytes.slice(s, s + b.len[slot]!), reason: b.dropReason[slot]! };
}

/** A connection-tracking key as conntrack builds it for an IPv4 packet (TCP/UDP ports, ICMP id twice). */
export function flowKey4(vni: number, src: string, dst: string, sport: number, dport: number, proto: number): Int32Array {
  const k = new Int32Array(KEY_WORDS);
  k[K_VNI] = vni;
  k[K_PORTS] = (sport << 16) | dport;
  k[K_PROTO] = proto;
  k[K_SRC] = ip4num(src) | 0;
  k[K_DST] = ip4num(dst) | 0;
  return k;
}

/** flow << 1 | direction of a key in the context's flow table, or -1. */
export function findFlow(ctx: NodeContext, k: Int32Array): number {
  return ctx.fwd.flows.lookup(k, 0, flowHash(k, 0));
}
