// dhcpv6: the DHCPv6 server of every VM port: SOLICIT -> ADVERTISE, REQUEST/RELEASE/CONFIRM -> REPLY
// with the interface's IPv6 in an IA_NA, rewritten in place. Budget: ~400 ns (option walk, checksum).
import type { PacketBatch } from '../../packet/batch.js';
import { setUdp6Checksum } from '../../packet/checksum.js';
import { DropReason } from '../../packet/drop-reasons.js';
import { udpLength } from '../../packet/udp.js';
import {
  DHCPV6_CLIENT_PORT, DHCPV6_SERVER_PORT, ETH_DST, ETH_SRC, GATEWAY_IPV6, IPV6_DST, IPV6_PAYLOAD_LEN, IPV6_SRC,
  UDP_DPORT, UDP_HLEN, UDP_LEN, UDP_SPORT,
} from '../../packet/headers.js';
import {
  B_BOOT_FILE, B_IPV6, B_OWN_MAC, B_PXE_SERVER, PORT_HAS_IPV6, type PortTable, STR_MAX,
} from '../../tables/port-table.js';
import { drop, GraphNode, TX_EDGE } from '../graph.js';
import type { NodeContext } from '../node-context.js';
import { containsBytes, IPXE_USER_CLASS, PXE_TFTP_PATH, PXE_VENDOR_CLASS, PxeMode } from './dhcp.js';

const E_TX = 1;

/** Message types (RFC 8415). */
export const Dhcpv6Msg = {
  SOLICIT: 1,
  ADVERTISE: 2,
  REQUEST: 3,
  CONFIRM: 4,
  RENEW: 5,
  REBIND: 6,
  REPLY: 7,
  RELEASE: 8,
  DECLINE: 9,
} as const;

/** Option codes. */
export const Dhcpv6Opt = {
  CLIENTID: 1,
  SERVERID: 2,
  IA_NA: 3,
  IAADDR: 5,
  STATUS_CODE: 13,
  RAPID_COMMIT: 14,
  USER_CLASS: 15,
  VENDOR_CLASS: 16,
  DNS: 23,
  BOOT_FILE_URL: 59,
} as const;

export const DHCPV6_STATUS_SUCCESS = 0;
export const DHCPV6_STATUS_NOADDRSAVAIL = 2;
export const DHCPV6_STATUS_NOTONLINK = 4;
export const DHCPV6_INFINITY = 0xffffffff;
/** DUID type 3 (link-layer address) and the hardware type upstream puts in it (any value works). */
export const DUID_LL = 3;
export const DUID_LL_HW_TYPE = 0xabcd;
/** Message type and transaction id. */
export const DHCPV6_HLEN = 4;
/** Largest client id upstream accepts (bytes of DUID). */
export const CLIENT_ID_MAX = 128;
/** IA_NA fixed part (IAID, T1, T2). */
export const IA_NA_FIXED = 12;
/** Server id option: code, length, DUID-LL (type, hw type, MAC). */
export const SERVER_ID_OPT_LEN = 4 + 10;
/** IA_NA option with one IAADDR that carries a success status: 4 + 12 + (4 + 24 + 6). */
export const IA_NA_OPT_LEN = 50;
/** Upstream's boot file URL buffer (snprintf into 96 bytes): at most 95 characters. */
export const BOOT_FILE_URL_MAX = 95;

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const TFTP_PREFIX = ascii('tftp://[');
const HTTP_PREFIX = ascii('http://[');
const URL_MIDDLE = ascii(']/');

export class Dhcpv6Node extends GraphNode {
  readonly name = 'dhcpv6';
  readonly edges: readonly string[] = ['drop', TX_EDGE];
  private readonly ports: PortTable;
  private readonly ctx: NodeContext;

  // results of the option walk (fields, not objects: nothing allocated per packet)
  private clientIdLen = -1;
  private readonly clientId = new Uint8Array(CLIENT_ID_MAX);
  private hasIaNa = false;
  private iaid = 0;
  /** IAADDR options seen in IA_NAs, and whether one is not the interface's address. */
  private confirmAddrs = 0;
  private confirmMismatch = false;
  private rapidCommit = false;
  private pxeMode: number = PxeMode.NONE;
  private urlLen = 0;
  private readonly url = new Uint8Array(BOOT_FILE_URL_MAX);

  // snapshot of the interface configuration, taken under the port's sequence lock
  private snapPort = 0;
  private snapHasIpv6 = false;
  private readonly ipv6 = new Uint8Array(16);
  private pxeServerLen = 0;
  private bootFileLen = 0;
  private readonly pxeServer = new Uint8Array(STR_MAX);
  private readonly bootFile = new Uint8Array(STR_MAX);
  /** Bound once: PortTable.readStable takes a callback and the packet path must not make one. */
  private readonly snapshot: () => number;

  constructor(ctx: NodeContext) {
    super();
    this.ctx = ctx;
    this.ports = ctx.ports;
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
    if (udpLen < UDP_HLEN + DHCPV6_HLEN) return drop(b, slot, DropReason.TRUNCATED);
    const msg = s + l4 + UDP_HLEN;
    const opts = msg + DHCPV6_HLEN;
    const optsLen = udpLen - UDP_HLEN - DHCPV6_HLEN;
    const type = bytes[msg]!;
    const port = b.inPort[slot]!;

    this.snapPort = port;
    this.ports.readStable(port, this.snapshot);

    let reply: number;
    let replyLen: number;
    if (!this.snapHasIpv6) {
      // no address to give: say so (NoAddrsAvail) so the client stops waiting; the rest is dropped
      if (type !== Dhcpv6Msg.SOLICIT && type !== Dhcpv6Msg.REQUEST) return drop(b, slot, DropReason.DHCPV6_NOT_HANDLED);
      reply = Dhcpv6Msg.REPLY;
      replyLen = 6;
    } else if (type === Dhcpv6Msg.CONFIRM) {
      // A CONFIRM naming addresses (a rebooted VM checking its lease) gets server id, client id and
      // a status (RFC 8415 18.3.3): Success if they are the interface's address, else NotOnLink.
      // Upstream strips every option, which real clients ignore: ISC dhclient then retransmits for
      // ~20 s before it falls back to SOLICIT. A CONFIRM without addresses gets upstream's bare REPLY.
      reply = Dhcpv6Msg.REPLY;
      const bad = this.parseOptions(bytes, dv, opts, optsLen);
      if (bad !== 0) return drop(b, slot, bad);
      replyLen = this.confirmAddrs === 0 ? 0 : SERVER_ID_OPT_LEN + 6 + (this.clientIdLen >= 0 ? 4 + this.clientIdLen : 0);
    } else if (type === Dhcpv6Msg.SOLICIT || type === Dhcpv6Msg.REQUEST || type === Dhcpv6Msg.RELEASE) {
      // upstream answers SOLICIT with ADVERTISE even when it echoes a rapid commit option
      reply = type === Dhcpv6Msg.SOLICIT ? Dhcpv6Msg.ADVERTISE : Dhcpv6Msg.REPLY;
      const bad = this.parseOptions(bytes, dv, opts, optsLen);
      if (bad !== 0) return drop(b, slot, bad);
      replyLen = SERVER_ID_OPT_LEN + 4 + this.ctx.settings.dhcpv6Dns.length;
      if (this.clientIdLen >= 0) replyLen += 4 + this.clientIdLen;
      if (this.hasIaNa) replyLen += IA_NA_OPT_LEN;
      if (this.rapidCommit) replyLen += 4;
      if (this.urlLen > 0) replyLen += 4 + this.urlLen;
    } else {
      return drop(b, slot, DropReason.DHCPV6_NOT_HANDLED);
    }

    const newUdpLen = UDP_HLEN + DHCPV6_HLEN + replyLen;
    if (!b.setLength(slot, l4 + newUdpLen)) return drop(b, slot, DropReason.NO_ROOM);

    // back to the client, from the port MAC and fe80::1 (no MAC learning here, as upstream)
    const pb = this.ports.bytes;
    const own = this.ports.at(port, B_OWN_MAC);
    for (let i = 0; i < 6; i++) {
      bytes[s + ETH_DST + i] = bytes[s + ETH_SRC + i]!;
      bytes[s + ETH_SRC + i] = pb[own + i]!;
    }
    const ip = s + l3;
    bytes.copyWithin(ip + IPV6_DST, ip + IPV6_SRC, ip + IPV6_SRC + 16);
    for (let i = 0; i < 16; i++) bytes[ip + IPV6_SRC + i] = GATEWAY_IPV6[i]!;
    dv.setUint16(s + l4 + UDP_SPORT, DHCPV6_SERVER_PORT);
    dv.setUint16(s + l4 + UDP_DPORT, DHCPV6_CLIENT_PORT);
    bytes[msg] = reply;

    let o = opts;
    if (!this.snapHasIpv6) {
      o = putOption(dv, o, Dhcpv6Opt.STATUS_CODE, 2);
      dv.setUint16(o, DHCPV6_STATUS_NOADDRSAVAIL);
    } else if (type === Dhcpv6Msg.CONFIRM) {
      if (replyLen > 0) {
        o = this.writeIds(bytes, dv, o, s + ETH_DST);
        o = putOption(dv, o, Dhcpv6Opt.STATUS_CODE, 2);
        dv.setUint16(o, this.confirmMismatch ? DHCPV6_STATUS_NOTONLINK : DHCPV6_STATUS_SUCCESS);
      }
    } else {
      o = this.writeOptions(bytes, dv, o, s + ETH_DST);
    }

    dv.setUint16(ip + IPV6_PAYLOAD_LEN, newUdpLen);
    dv.setUint16(s + l4 + UDP_LEN, newUdpLen);
    setUdp6Checksum(bytes, ip, s + l4, newUdpLen);
    b.outPort[slot] = port;
    return E_TX;
  }

  /**
   * Reply options in upstream's order: server id, client id (echoed), IA_NA, rapid commit (echoed),
   * DNS servers (always, possibly empty), boot file URL. `clientMac` is where the client's MAC sits.
   */
  private writeOptions(bytes: Uint8Array, dv: DataView, at: number, clientMac: number): number {
    let o = this.writeIds(bytes, dv, at, clientMac);
    if (this.hasIaNa) {
      o = putOption(dv, o, Dhcpv6Opt.IA_NA, IA_NA_OPT_LEN - 4);
      dv.setUint32(o, this.iaid);
      dv.setUint32(o + 4, DHCPV6_INFINITY);
      dv.setUint32(o + 8, DHCPV6_INFINITY);
      o = putOption(dv, o + IA_NA_FIXED, Dhcpv6Opt.IAADDR, 30);
      o = copyInto(bytes, o, this.ipv6, 16);
      dv.setUint32(o, DHCPV6_INFINITY);
      dv.setUint32(o + 4, DHCPV6_INFINITY);
      o = putOption(dv, o + 8, Dhcpv6Opt.STATUS_CODE, 2);
      dv.setUint16(o, DHCPV6_STATUS_SUCCESS);
      o += 2;
    }
    if (this.rapidCommit) o = putOption(dv, o, Dhcpv6Opt.RAPID_COMMIT, 0);
    const dns = this.ctx.settings.dhcpv6Dns;
    o = putOption(dv, o, Dhcpv6Opt.DNS, dns.length);
    o = copyInto(bytes, o, dns, dns.length);
    if (this.urlLen > 0) {
      o = putOption(dv, o, Dhcpv6Opt.BOOT_FILE_URL, this.urlLen);
      o = copyInto(bytes, o, this.url, this.urlLen);
    }
    return o;
  }

  /**
   * Server id and the echoed client id. The server DUID-LL carries the reply's Ethernet destination,
   * i.e. the client's MAC, not the port's: upstream does so (dhcpv6_node.c generate_reply_options).
   */
  private writeIds(bytes: Uint8Array, dv: DataView, at: number, clientMac: number): number {
    let o = putOption(dv, at, Dhcpv6Opt.SERVERID, 10);
    dv.setUint16(o, DUID_LL);
    dv.setUint16(o + 2, DUID_LL_HW_TYPE);
    for (let i = 0; i < 6; i++) bytes[o + 4 + i] = bytes[clientMac + i]!;
    o += 10;
    if (this.clientIdLen >= 0) {
      o = putOption(dv, o, Dhcpv6Opt.CLIENTID, this.clientIdLen);
      o = copyInto(bytes, o, this.clientId, this.clientIdLen);
    }
    return o;
  }

  /**
   * Walks the request options at bytes[off, off+len). Returns 0 or a drop reason.
   *
   * Like upstream, the walk stops when no more than a bare option header is left (a trailing
   * zero-length option such as a final rapid commit is not seen). Unlike upstream, an option must
   * end inside the message: upstream lets the last one overrun by up to its 4-byte header and reads
   * past the packet.
   */
  private parseOptions(bytes: Uint8Array, dv: DataView, off: number, len: number): number {
    this.clientIdLen = -1;
    this.confirmAddrs = 0;
    this.confirmMismatch = false;
    this.hasIaNa = false;
    this.rapidCommit = false;
    this.pxeMode = PxeMode.NONE;
    let i = 0;
    while (i + 4 < len) {
      const code = dv.getUint16(off + i);
      const n = dv.getUint16(off + i + 2);
      if (i + 4 + n > len) return DropReason.MALFORMED;
      const data = off + i + 4;
      switch (code) {
        case Dhcpv6Opt.CLIENTID:
          if (n > CLIENT_ID_MAX) return DropReason.MALFORMED;
          for (let k = 0; k < n; k++) this.clientId[k] = bytes[data + k]!;
          this.clientIdLen = n;
          break;
        case Dhcpv6Opt.IA_NA:
          if (n < IA_NA_FIXED) return DropReason.MALFORMED;
          this.hasIaNa = true;
          this.iaid = dv.getUint32(data);
          if (!this.scanIaAddrs(dv, data + IA_NA_FIXED, n - IA_NA_FIXED)) return DropReason.MALFORMED;
          break;
        case Dhcpv6Opt.RAPID_COMMIT:
          if (n !== 0) return DropReason.MALFORMED;
          this.rapidCommit = true;
          break;
        case Dhcpv6Opt.VENDOR_CLASS:
          // enterprise number (4), then the first vendor-class-data length (2). Upstream compares
          // that length without byte-swapping it (little-endian host read), then searches op_len
          // bytes from the data, 6 past the option's end; the search stays inside the option here.
          if (n >= 6 && dv.getUint16(data + 4, true) >= PXE_VENDOR_CLASS.length
            && containsBytes(bytes, data + 6, n - 6, PXE_VENDOR_CLASS)) this.pxeMode = PxeMode.TFTP;
          break;
        case Dhcpv6Opt.USER_CLASS:
          // the first user-class-data item must be exactly "iPXE"
          if (n >= 6 && dv.getUint16(data) === IPXE_USER_CLASS.length
            && containsBytes(bytes, data + 2, IPXE_USER_CLASS.length, IPXE_USER_CLASS)) this.pxeMode = PxeMode.HTTP;
          break;
        default:
          break;
      }
      i += 4 + n;
    }
    this.buildBootFileUrl();
    return 0;
  }

  /** Counts the IAADDR sub-options of an IA_NA and compares their addresses; false if malformed. */
  private scanIaAddrs(dv: DataView, off: number, len: number): boolean {
    let i = 0;
    while (i + 4 <= len) {
      const code = dv.getUint16(off + i);
      const n = dv.getUint16(off + i + 2);
      if (i + 4 + n > len) return false;
      if (code === Dhcpv6Opt.IAADDR) {
        if (n < 24) return false;
        this.confirmAddrs++;
        for (let k = 0; k < 16; k++) {
          if (dv.getUint8(off + i + 4 + k) !== this.ipv6[k]) {
            this.confirmMismatch = true;
            break;
          }
        }
      }
      i += 4 + n;
    }
    return true;
  }

  /**
   * tftp://[<server>]/ipxe/x86_64/ipxe.new for PXE, http://[<server>]/<boot file> for iPXE, cut to
   * upstream's 95 characters. The server text is the interface's PXE server as stored. Without a PXE
   * server upstream aborts on an assert; here the reply just carries no boot file URL.
   */
  private buildBootFileUrl(): void {
    this.urlLen = 0;
    if (this.pxeMode === PxeMode.NONE || this.pxeServerLen === 0) return;
    const url = this.url;
    let n = 0;
    const prefix = this.pxeMode === PxeMode.TFTP ? TFTP_PREFIX : HTTP_PREFIX;
    n = appendCapped(url, n, prefix, prefix.length);
    n = appendCapped(url, n, this.pxeServer, this.pxeServerLen);
    n = appendCapped(url, n, URL_MIDDLE, URL_MIDDLE.length);
    if (this.pxeMode === PxeMode.TFTP) n = appendCapped(url, n, PXE_TFTP_PATH, PXE_TFTP_PATH.length);
    else n = appendCapped(url, n, this.bootFile, this.bootFileLen);
    this.urlLen = n;
  }

  private takeSnapshot(): number {
    const port = this.snapPort;
    const ports = this.ports;
    this.snapHasIpv6 = (ports.flags(port) & PORT_HAS_IPV6) !== 0;
    const at = ports.at(port, B_IPV6);
    const pb = ports.bytes;
    for (let i = 0; i < 16; i++) this.ipv6[i] = pb[at + i]!;
    this.pxeServerLen = ports.copyString(port, B_PXE_SERVER, this.pxeServer, 0);
    this.bootFileLen = ports.copyString(port, B_BOOT_FILE, this.bootFile, 0);
    return 0;
  }
}

/** Writes an option's code and length at `o`; returns where its value goes. */
function putOption(dv: DataView, o: number, code: number, len: number): number {
  dv.setUint16(o, code);
  dv.setUint16(o + 2, len);
  return o + 4;
}

/** Copies src[0, n) to bytes[o..]; returns the offset after it. */
function copyInto(bytes: Uint8Array, o: number, src: Uint8Array, n: number): number {
  for (let i = 0; i < n; i++) bytes[o + i] = src[i]!;
  return o + n;
}

/** Appends src[0, n) to the URL buffer at `at`, up to its capacity; returns the new length. */
function appendCapped(url: Uint8Array, at: number, src: Uint8Array, n: number): number {
  let k = at;
  for (let i = 0; i < n && k < url.length; i++) url[k++] = src[i]!;
  return k;
}

