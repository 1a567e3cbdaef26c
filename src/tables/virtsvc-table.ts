/**
 * Virtual services (--udp-virtsvc, --tcp-virtsvc; upstream dp_virtsvc.c): a VM reaches an IPv6
 * service (a DNS server, say) at a virtual IPv4 address and port. Its packets leave an uplink as
 * plain IPv6 from the service's own underlay address and a port of the service's 64,512
 * (1024-65535), the answers come back to that address and port and return to the VM as IPv4 from
 * the virtual address and port.
 *
 * The connections are flows of the flow table (FLOW_VIRTSVC): the VM's key as it sends, and as reply
 * key the IPv6 answer's (VNI 0, from the service's address and port to the underlay address and
 * the connection's port). A port is free when no flow has the reply key it would make, so aging,
 * TCP state (24 h when established), flushes when an interface goes and the sharing between
 * workers are the flow table's. This table holds the services (fixed at start) and, per service,
 * where the port search goes on and how many ports are in use.
 *
 * LAYOUT (one SharedArrayBuffer of Int32 words): the count, then SERVICE words per service:
 * protocol, virtual address, virtual port, service port, the service's IPv6 address and its
 * underlay address (4 big-endian words each), the last port given (search cursor), ports in use.
 */
import { VIRTSVC_MAX } from '../config/option-table.js';
/** The first port a service gives (upstream DP_NB_SYSTEM_PORTS) and how many it has. */
export const VIRTSVC_FIRST_PORT = 1024;
export const VIRTSVC_PORTS = 65536 - VIRTSVC_FIRST_PORT;

const HEADER = 4;
const SERVICE = 16;
const S_PROTO = 0;
const S_VIP = 1;
const S_VPORT = 2;
const S_SPORT = 3;
const S_SVC = 4;
const S_UL = 8;
const S_CURSOR = 12;
const S_USED = 13;

/** One service as the command line gives it (addresses as numbers and bytes). */
export interface VirtsvcDef {
  proto: number;
  virtualIp: number;
  virtualPort: number;
  serviceIp: Uint8Array;
  servicePort: number;
}

export class VirtsvcTable {
  readonly words: Int32Array;
  /** Number of services (fixed at start). */
  readonly count: number;

  /**
   * The table for `defs`, in order: service i's underlay address is upstream's for index i
   * (dp_generate_virtsvc_ul_ipv6): the host's /64 `prefix`, then 0xd0, 0xff, the secondary pool
   * flag 0x40, 0, and i as upstream stores it (host byte order, little-endian).
   */
  static create(defs: readonly VirtsvcDef[], prefix: Uint8Array): VirtsvcTable {
    if (defs.length > VIRTSVC_MAX) throw new Error(`at most ${VIRTSVC_MAX} virtual services`);
    const w = new Int32Array(new SharedArrayBuffer((HEADER + defs.length * SERVICE) * 4));
    w[0] = defs.length;
    defs.forEach((d, i) => {
      const o = HEADER + i * SERVICE;
      w[o + S_PROTO] = d.proto;
      w[o + S_VIP] = d.virtualIp | 0;
      w[o + S_VPORT] = d.virtualPort;
      w[o + S_SPORT] = d.servicePort;
      const svc = new DataView(d.serviceIp.buffer, d.serviceIp.byteOffset, 16);
      const ul = new Uint8Array(16);
      ul.set(prefix.subarray(0, 8));
      ul.set([0xd0, 0xff, 0x40, 0, i & 0xff, (i >>> 8) & 0xff, (i >>> 16) & 0xff, i >>> 24], 8);
      const uv = new DataView(ul.buffer);
      for (let k = 0; k < 4; k++) {
        w[o + S_SVC + k] = svc.getInt32(k * 4);
        w[o + S_UL + k] = uv.getInt32(k * 4);
      }
    });
    return new VirtsvcTable(w.buffer as SharedArrayBuffer);
  }

  constructor(readonly sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab);
    this.count = this.words[0]!;
  }

  /** The service a VM's packet of `proto` to `ip`:`port` is addressed to, or -1. */
  byVirtual(proto: number, ip: number, port: number): number {
    const w = this.words;
    for (let i = 0, o = HEADER; i < this.count; i++, o += SERVICE) {
      if (w[o + S_VIP] === (ip | 0) && w[o + S_VPORT] === port && w[o + S_PROTO] === proto) return i;
    }
    return -1;
  }

  /** The service an uplink's packet of `proto` comes from: source address at dv[at..at+16], port `port`; or -1. */
  byService(proto: number, dv: DataView, at: number, port: number): number {
    const w = this.words;
    const a0 = dv.getInt32(at);
    const a1 = dv.getInt32(at + 4);
    const a2 = dv.getInt32(at + 8);
    const a3 = dv.getInt32(at + 12);
    for (let i = 0, o = HEADER; i < this.count; i++, o += SERVICE) {
      if (w[o + S_SPORT] === port && w[o + S_PROTO] === proto && w[o + S_SVC + 3] === a3 && w[o + S_SVC] === a0 && w[o + S_SVC + 1] === a1
        && w[o + S_SVC + 2] === a2) return i;
    }
    return -1;
  }

  proto(i: number): number {
    return this.words[HEADER + i * SERVICE + S_PROTO]!;
  }

  virtualIp(i: number): number {
    return this.words[HEADER + i * SERVICE + S_VIP]! >>> 0;
  }

  virtualPort(i: number): number {
    return this.words[HEADER + i * SERVICE + S_VPORT]!;
  }

  servicePort(i: number): number {
    return this.words[HEADER + i * SERVICE + S_SPORT]!;
  }

  /** Word offset in `words` of service i's IPv6 address (4 big-endian words). */
  serviceAt(i: number): number {
    return HEADER + i * SERVICE + S_SVC;
  }

  /** Word offset in `words` of service i's underlay address (4 big-endian words). */
  underlayAt(i: number): number {
    return HEADER + i * SERVICE + S_UL;
  }

  /** The connection index (port - VIRTSVC_FIRST_PORT) service i gave last. */
  lastGiven(i: number): number {
    return Atomics.load(this.words, HEADER + i * SERVICE + S_CURSOR);
  }

  setLastGiven(i: number, index: number): void {
    Atomics.store(this.words, HEADER + i * SERVICE + S_CURSOR, index);
  }

  /** Ports of service i in use (flows holding one). */
  usedPorts(i: number): number {
    return Atomics.load(this.words, HEADER + i * SERVICE + S_USED);
  }

  countPort(i: number, delta: number): void {
    Atomics.add(this.words, HEADER + i * SERVICE + S_USED, delta);
  }

  /** Upstream's name of service i in telemetry and metrics: PROTOCOL:address:port. */
  name(i: number): string {
    const ip = this.virtualIp(i);
    return `${this.proto(i) === 6 ? 'TCP' : 'UDP'}:${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}:${this.virtualPort(i)}`;
  }
}
