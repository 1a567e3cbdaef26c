// dhcp: the DHCPv4 server of every VM port: DISCOVER -> OFFER, REQUEST -> ACK with the interface
// address, rewritten in place. Budget: ~300 ns (option walk, ~100 option bytes, two checksums).
import type { PacketBatch } from '../../packet/batch.js';
import { setIpv4HeaderChecksum, setUdp4Checksum } from '../../packet/checksum.js';
import { DropReason } from '../../packet/drop-reasons.js';
import { udpLength } from '../../packet/udp.js';
import {
  DHCP_CLIENT_PORT, DHCP_SERVER_PORT, ETH_DST, ETH_HLEN, ETH_SRC, GATEWAY_IPV4, IPV4_DST, IPV4_HLEN, IPV4_SRC,
  IPV4_TOTAL_LEN, UDP_DPORT, UDP_HLEN, UDP_LEN, UDP_SPORT,
} from '../../packet/headers.js';
import { B_BOOT_FILE, B_HOSTNAME, B_OWN_MAC, B_PXE_SERVER, type PortTable, STR_MAX } from '../../tables/port-table.js';
import { drop, GraphNode, TX_EDGE } from '../graph.js';
import type { NodeContext } from '../node-context.js';

const E_TX = 1;

/** BOOTP fixed header field offsets (RFC 2131), relative to the BOOTP header. */
export const BOOTP_OP = 0;
export const BOOTP_HTYPE = 1;
export const BOOTP_HLEN = 2;
export const BOOTP_HOPS = 3;
export const BOOTP_XID = 4;
export const BOOTP_SECS = 8;
export const BOOTP_FLAGS = 10;
export const BOOTP_CIADDR = 12;
export const BOOTP_YIADDR = 16;
export const BOOTP_SIADDR = 20;
export const BOOTP_GIADDR = 24;
export const BOOTP_CHADDR = 28;
export const BOOTP_SNAME = 44;
export const BOOTP_FILE = 108;
export const BOOTP_FILE_LEN = 128;
export const BOOTP_MAGIC = 236;
/** Options start right after the magic cookie. */
export const BOOTP_OPTIONS = 240;
export const BOOTP_REQUEST = 1;
export const BOOTP_REPLY = 2;
export const DHCP_MAGIC_COOKIE = 0x63825363;

/** Option codes (RFC 2132, 3004, 3442). */
export const DhcpOpt = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  HOSTNAME: 12,
  INTERFACE_MTU: 26,
  LEASE_TIME: 51,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  VENDOR_CLASS_ID: 60,
  USER_CLASS: 77,
  CLASSLESS_ROUTE: 121,
  END: 255,
} as const;

/** Message types (RFC 2132). */
export const DHCPDISCOVER = 1;
export const DHCPOFFER = 2;
export const DHCPREQUEST = 3;
export const DHCPACK = 5;

/** Lease time and subnet mask upstream hands out: infinite, /32. */
export const DHCP_INFINITE_LEASE = 0xffffffff;
export const DHCP_HOST_MASK = 0xffffffff;

/**
 * Upstream's cap on the options area of a reply: a 1500-byte frame minus Ethernet, IPv4, UDP and the
 * fixed BOOTP part (include/nodes/dhcp_node.h DHCP_MAX_OPTIONS_LEN).
 */
export const DHCP_MAX_OPTIONS_LEN = 1500 - ETH_HLEN - IPV4_HLEN - UDP_HLEN - BOOTP_OPTIONS;

/** Boot mode picked from the client's class options. */
export const PxeMode = { NONE: 0, TFTP: 1, HTTP: 2 } as const;

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
/** Option 60 containing this string: a legacy PXE ROM (x86-64 UEFI) that wants iPXE over TFTP. */
export const PXE_VENDOR_CLASS = ascii('PXEClient:Arch:00007');
/** Option 77 equal to this string: iPXE itself, which gets its script over HTTP. */
export const IPXE_USER_CLASS = ascii('iPXE');
/** The boot file a PXE ROM is sent to (TFTP). */
export const PXE_TFTP_PATH = ascii('ipxe/x86_64/ipxe.new');
const HTTP_PREFIX = ascii('http://');

/**
 * Option 121 value: 169.254.0.0/16 on-link (router 0.0.0.0), default route via 169.254.0.1, and,
 * with virtual services (upstream: in builds with them), 169.254.1.0/24 via 169.254.0.1.
 */
export function classlessRoutes(virtsvc: boolean): Uint8Array {
  const base = [16, 169, 254, 0, 0, 0, 0, 0, 169, 254, 0, 1];
  return Uint8Array.from(virtsvc ? [...base, 24, 169, 254, 1, 169, 254, 0, 1] : base);
}

/** Parses dotted-quad text at bytes[off, off+len); the address as an unsigned number, or -1. */
export function parseIpv4Text(bytes: Uint8Array, off: number, len: number): number {
  let ip = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < len; i++) {
    const c = bytes[off + i]!;
    if (c >= 0x30 && c <= 0x39) {
      octet = octet * 10 + (c - 0x30);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === 0x2e && digits > 0 && dots < 3) {
      ip = ip * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return ip * 256 + octet;
}

/** Writes `ip` as dotted-quad text at dst[off..], at most `max` bytes; returns the bytes written. */
export function formatIpv4Text(ip: number, dst: Uint8Array, off: number, max: number): number {
  let n = 0;
  for (let k = 3; k >= 0; k--) {
    const o = Math.floor(ip / 2 ** (8 * k)) & 0xff;
    if (o >= 100 && n < max) dst[off + n++] = 0x30 + Math.floor(o / 100);
    if (o >= 10 && n < max) dst[off + n++] = 0x30 + (Math.floor(o / 10) % 10);
    if (n < max) dst[off + n++] = 0x30 + (o % 10);
    if (k > 0 && n < max) dst[off + n++] = 0x2e;
  }
  return n;
}

/** Whether `needle` occurs in bytes[off, off+len) (memmem). */
export function containsBytes(bytes: Uint8Array, off: number, len: number, needle: Uint8Array): boolean {
  const n = needle.length;
  for (let i = 0; i + n <= len; i++) {
    let j = 0;
    while (j < n && bytes[off + i + j] === needle[j]) j++;
    if (j === n) return true;
  }
  return false;
}

export class DhcpNode extends GraphNode {
  readonly name = 'dhcp';
  readonly edges: readonly string[] = ['drop', TX_EDGE];
  private readonly ports: PortTable;
  private readonly ctx: NodeContext;
  private readonly routes: Uint8Array;
  private readonly dnsLen: number;

  // per-packet results of the option walk (fields, not objects: nothing allocated per packet)
  private msgType = 0;
  private pxeMode: number = PxeMode.NONE;

  // snapshot of the interface configuration, taken under the port's sequence lock
  private snapPort = 0;
  private snapWithPxe = false;
  private snapIpv4 = 0;
  private hostnameLen = 0;
  private pxeServerLen = 0;
  private bootFileLen = 0;
  private readonly hostname = new Uint8Array(STR_MAX);
  private readonly pxeServer = new Uint8Array(STR_MAX);
  private readonly bootFile = new Uint8Array(STR_MAX);
  /** Bound once: PortTable.readStable takes a callback and the packet path must not make one. */
  private readonly snapshot: () => number;

  /**
   * @param virtsvc whether the service has virtual services (upstream: builds with
   *   `-Denable_virtual_services`): adds the 169.254.1.0/24 route to option 121.
   */
  constructor(ctx: NodeContext, virtsvc = false) {
    super();
    this.ctx = ctx;
    this.ports = ctx.ports;
    this.routes = classlessRoutes(virtsvc);
    // an option holds at most 255 bytes; the option parser already caps --dhcp-dns at 63 servers
    this.dnsLen = Math.min(ctx.settings.dhcpDns.length, 252) & ~3;
    this.snapshot = () => this.takeSnapshot();
  }

  process(b: PacketBatch, slot: number): number {
    const s = b.start[slot]!;
    const l3 = b.l3[slot]!;
    const l4 = b.l4[slot]!;
    const bytes = b.bytes;
    const dv = b.dv;
    const udpLen = udpLength(b, slot);
    if (udpLen < 0) return drop(b, slot, -udpLen);
    const bootp = s + l4 + UDP_HLEN;
    const bootpLen = udpLen - UDP_HLEN;
    if (bootpLen < BOOTP_OPTIONS) return drop(b, slot, DropReason.TRUNCATED);

    const port = b.inPort[slot]!;
    if (this.ports.ipv4(port) === 0) return drop(b, slot, DropReason.DHCP_NOT_HANDLED);
    if (bytes[bootp + BOOTP_OP] !== BOOTP_REQUEST) return drop(b, slot, DropReason.DHCP_NOT_HANDLED);
    if (dv.getUint32(bootp + BOOTP_MAGIC) !== DHCP_MAGIC_COOKIE) return drop(b, slot, DropReason.MALFORMED);

    const bad = this.parseOptions(bytes, bootp + BOOTP_OPTIONS, bootpLen - BOOTP_OPTIONS);
    if (bad !== 0) return drop(b, slot, bad);
    let reply: number;
    if (this.msgType === DHCPDISCOVER) reply = DHCPOFFER;
    else if (this.msgType === DHCPREQUEST) reply = DHCPACK;
    else return drop(b, slot, DropReason.DHCP_NOT_HANDLED);
    const pxe = this.pxeMode;

    this.snapPort = port;
    this.snapWithPxe = pxe !== PxeMode.NONE;
    this.ports.readStable(port, this.snapshot);
    const ipv4 = this.snapIpv4;
    if (ipv4 === 0) return drop(b, slot, DropReason.DHCP_NOT_HANDLED);

    // options: 53, 51, 54, 121, 1, 26, [3 for PXE], [6], [12], 255 (upstream's order)
    let optLen = 3 + 6 + 6 + 2 + this.routes.length + 6 + 4;
    if (pxe !== PxeMode.NONE) optLen += 6;
    if (this.dnsLen > 0) optLen += 2 + this.dnsLen;
    if (this.hostnameLen > 0) optLen += 2 + this.hostnameLen;
    if (optLen >= DHCP_MAX_OPTIONS_LEN) return drop(b, slot, DropReason.NO_ROOM);
    optLen += 1;
    const newLen = l4 + UDP_HLEN + BOOTP_OPTIONS + optLen;
    if (!b.setLength(slot, newLen)) return drop(b, slot, DropReason.NO_ROOM);

    // Ethernet: back to the client from the port MAC; the ACK teaches the VM MAC
    const pb = this.ports.bytes;
    const own = this.ports.at(port, B_OWN_MAC);
    for (let i = 0; i < 6; i++) {
      const client = bytes[s + ETH_SRC + i]!;
      bytes[s + ETH_DST + i] = client;
      bytes[bootp + BOOTP_CHADDR + i] = client;
      bytes[s + ETH_SRC + i] = pb[own + i]!;
    }
    if (reply === DHCPACK) this.ports.learnVmMac(port, bytes, s + ETH_DST);

    const ip = s + l3;
    dv.setUint32(ip + IPV4_SRC, GATEWAY_IPV4);
    dv.setUint16(ip + IPV4_TOTAL_LEN, newLen - l3);
    dv.setUint16(s + l4 + UDP_SPORT, DHCP_SERVER_PORT);
    dv.setUint16(s + l4 + UDP_DPORT, DHCP_CLIENT_PORT);
    dv.setUint16(s + l4 + UDP_LEN, newLen - l4);

    bytes[bootp + BOOTP_OP] = BOOTP_REPLY;
    dv.setUint32(bootp + BOOTP_YIADDR, ipv4);
    dv.setUint32(bootp + BOOTP_GIADDR, GATEWAY_IPV4);
    if (pxe !== PxeMode.NONE) {
      // PXE ROMs get a broadcast reply naming the boot server and file
      for (let i = 0; i < 6; i++) bytes[s + ETH_DST + i] = 0xff;
      dv.setUint32(ip + IPV4_DST, 0xffffffff);
      const server = this.pxeServerIpv4();
      dv.setUint32(bootp + BOOTP_SIADDR, server);
      this.writeBootFile(bytes, bootp + BOOTP_FILE, pxe, server);
    } else {
      dv.setUint32(ip + IPV4_DST, ipv4);
      dv.setUint32(bootp + BOOTP_SIADDR, GATEWAY_IPV4);
    }

    let o = bootp + BOOTP_OPTIONS;
    o = putOption(bytes, o, DhcpOpt.MESSAGE_TYPE, 1);
    bytes[o++] = reply;
    o = putOption(bytes, o, DhcpOpt.LEASE_TIME, 4);
    dv.setUint32(o, DHCP_INFINITE_LEASE);
    o += 4;
    o = putOption(bytes, o, DhcpOpt.SERVER_ID, 4);
    dv.setUint32(o, GATEWAY_IPV4);
    o += 4;
    o = putOption(bytes, o, DhcpOpt.CLASSLESS_ROUTE, this.routes.length);
    o = copyInto(bytes, o, this.routes, this.routes.length);
    o = putOption(bytes, o, DhcpOpt.SUBNET_MASK, 4);
    dv.setUint32(o, DHCP_HOST_MASK);
    o += 4;
    o = putOption(bytes, o, DhcpOpt.INTERFACE_MTU, 2);
    dv.setUint16(o, this.ctx.settings.dhcpMtu);
    o += 2;
    if (pxe !== PxeMode.NONE) {
      o = putOption(bytes, o, DhcpOpt.ROUTER, 4);
      dv.setUint32(o, GATEWAY_IPV4);
      o += 4;
    }
    if (this.dnsLen > 0) {
      o = putOption(bytes, o, DhcpOpt.DNS, this.dnsLen);
      o = copyInto(bytes, o, this.ctx.settings.dhcpDns, this.dnsLen);
    }
    if (this.hostnameLen > 0) {
      o = putOption(bytes, o, DhcpOpt.HOSTNAME, this.hostnameLen);
      o = copyInto(bytes, o, this.hostname, this.hostnameLen);
    }
    bytes[o] = DhcpOpt.END;

    setIpv4HeaderChecksum(bytes, ip);
    setUdp4Checksum(bytes, ip, s + l4, newLen - l4);
    b.outPort[slot] = port;
    return E_TX;
  }

  /**
   * Walks the options at bytes[off, off+len): message type and PXE mode. Returns 0 or a drop reason.
   * Unlike upstream, a PAD after an option advances one byte (upstream skips the previous option's
   * length again, dhcp_node.c parse_options), and the PXE mode is per packet (upstream keeps it in
   * a function-level static, so one PXE client turns every later reply into a PXE reply).
   */
  private parseOptions(bytes: Uint8Array, off: number, len: number): number {
    this.msgType = 0;
    this.pxeMode = PxeMode.NONE;
    let i = 0;
    while (i < len) {
      const code = bytes[off + i++]!;
      if (code === DhcpOpt.PAD) continue;
      if (code === DhcpOpt.END) break;
      if (i >= len) return DropReason.MALFORMED;
      const n = bytes[off + i++]!;
      if (i + n > len) return DropReason.MALFORMED;
      const data = off + i;
      if (code === DhcpOpt.MESSAGE_TYPE) {
        if (n < 1) return DropReason.MALFORMED;
        this.msgType = bytes[data]!;
      } else if (code === DhcpOpt.USER_CLASS) {
        if (n === IPXE_USER_CLASS.length && containsBytes(bytes, data, n, IPXE_USER_CLASS)) this.pxeMode = PxeMode.HTTP;
      } else if (code === DhcpOpt.VENDOR_CLASS_ID) {
        if (n >= PXE_VENDOR_CLASS.length && containsBytes(bytes, data, n, PXE_VENDOR_CLASS)) this.pxeMode = PxeMode.TFTP;
      }
      i += n;
    }
    // no message type: plain BOOTP, which upstream does not serve
    return this.msgType === 0 ? DropReason.DHCP_NOT_HANDLED : 0;
  }

  private takeSnapshot(): number {
    const port = this.snapPort;
    const ports = this.ports;
    this.snapIpv4 = ports.ipv4(port);
    this.hostnameLen = ports.copyString(port, B_HOSTNAME, this.hostname, 0);
    if (this.snapWithPxe) {
      this.pxeServerLen = ports.copyString(port, B_PXE_SERVER, this.pxeServer, 0);
      this.bootFileLen = ports.copyString(port, B_BOOT_FILE, this.bootFile, 0);
    }
    return 0;
  }

  /**
   * The interface's PXE server as an IPv4 number. Upstream keeps it as an address whose family
   * follows the interface (IPv6 when the interface has IPv6, then DHCPv4 PXE aborts on an assert);
   * unset or not IPv4 gives 0.0.0.0 here, as an unset address does upstream.
   */
  private pxeServerIpv4(): number {
    const ip = parseIpv4Text(this.pxeServer, 0, this.pxeServerLen);
    return ip < 0 ? 0 : ip;
  }

  /**
   * BOOTP `file`: the TFTP path for PXE ROMs, "http://<server><boot file>" for iPXE (no slash added,
   * as upstream), NUL-terminated and cut to the field like snprintf; the rest of the field is left.
   */
  private writeBootFile(bytes: Uint8Array, file: number, pxe: number, server: number): void {
    const max = BOOTP_FILE_LEN - 1;
    let n: number;
    if (pxe === PxeMode.TFTP) {
      n = copyInto(bytes, file, PXE_TFTP_PATH, PXE_TFTP_PATH.length) - file;
    } else {
      n = copyInto(bytes, file, HTTP_PREFIX, HTTP_PREFIX.length) - file;
      n += formatIpv4Text(server, bytes, file + n, max - n);
      const tail = Math.min(this.bootFileLen, max - n);
      n = copyInto(bytes, file + n, this.bootFile, tail) - file;
    }
    bytes[file + n] = 0;
  }
}

/** Writes an option's code and length at `o`; returns where its value goes. */
function putOption(bytes: Uint8Array, o: number, code: number, len: number): number {
  bytes[o] = code;
  bytes[o + 1] = len;
  return o + 2;
}

/** Copies src[0, n) to bytes[o..]; returns the offset after it. */
function copyInto(bytes: Uint8Array, o: number, src: Uint8Array, n: number): number {
  for (let i = 0; i < n; i++) bytes[o + i] = src[i]!;
  return o + n;
}

