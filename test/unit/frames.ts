/**
 * Frame builders and checkers for the node unit tests: plain arrays in, Uint8Array frames out, and
 * a checksum verifier written independently of src/packet/checksum.ts (end-around carry per word
 * over an explicitly built pseudo header). Test helpers: they allocate freely.
 */
import { loadFrame, makeTestBatch, type PacketBatch } from '../../src/packet/batch.js';
import type { GraphNode } from '../../src/workers/graph.js';
import {
  createForwardingBuffers, DEFAULT_FORWARDING, type NodeContext, type NodeSettings, openForwarding,
} from '../../src/workers/node-context.js';
import { type InterfaceConfig, PortState, PortTable } from '../../src/tables/port-table.js';

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

/** A port table with port `port` declared as a VM port (own MAC PORT_MAC) and, unless null, attached. */
export function makeCtx(iface: IfaceOptions | null = {}, settings: Partial<NodeSettings> = {}, port = 3): NodeContext {
  const ports = PortTable.create();
  ports.initPort(0, PortState.PF, mac('22:22:22:22:22:00'));
  ports.initPort(port, PortState.VF_IDLE, mac(PORT_MAC));
  if (iface !== null) attach(ports, port, iface);
  return { ports, settings: { ...DEFAULT_SETTINGS, ...settings }, fwd: openForwarding(createForwardingBuffers(4096), DEFAULT_FORWARDING, 0) };
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
