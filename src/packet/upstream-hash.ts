/**
 * Upstream's flow hash (dp_get_conntrack_flow_hash_value: rte_jhash over the packed 44-byte
 * `struct flow_key` with dpservice's seed), reproduced because it decides observable behaviour:
 * which uplink WCMP sends a flow out of (upstream's suite checks that a given destination leaves
 * by pf0 and another by pf1). Computed once per flow on the slow path, never per packet.
 *
 * struct flow_key (packed, host little-endian): l3_dst {16 bytes: IPv4 as a host-order uint32 in
 * the first four, or the IPv6 bytes; is_v6}, proto, port_dst (uint16), l3_src {16; is_v6},
 * vnf_type (uint8), port_src or ICMP type (uint16), vni (uint32).
 */
import { DP_JHASH_SEED } from '../actors/rte-hash-order.js';

const GOLDEN = 0xdeadbeef;

function rot(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** DPDK rte_jhash over `n` 32-bit little-endian words (n * 4 bytes), initval `seed`. */
export function rteJhashWords(k: Int32Array, n: number, seed: number): number {
  return rteJhash(k, n * 4, seed);
}

/**
 * DPDK rte_jhash over a key of `len` bytes given as little-endian 32-bit words, the bytes past
 * `len` in the last word zero (what rte_jhash's tail masks leave of them), initval `seed`.
 */
export function rteJhash(k: Int32Array, len: number, seed: number): number {
  let a = (GOLDEN + len + seed) | 0;
  let b = a;
  let c = a;
  let i = 0;
  let left = len;
  while (left > 12) {
    a = (a + k[i]!) | 0; b = (b + k[i + 1]!) | 0; c = (c + k[i + 2]!) | 0;
    a = (a - c) | 0; a ^= rot(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rot(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 4); b = (b + a) | 0;
    i += 3;
    left -= 12;
  }
  if (left === 0) return c >>> 0;
  if (left > 8) c = (c + k[i + 2]!) | 0;
  if (left > 4) b = (b + k[i + 1]!) | 0;
  a = (a + k[i]!) | 0;
  return jhashFinal(a, b, c);
}

/** DPDK's __rte_jhash_final of a, b, c: the hash (c). */
function jhashFinal(a: number, b: number, c: number): number {
  c ^= b; c = (c - rot(b, 14)) | 0;
  a ^= c; a = (a - rot(c, 11)) | 0;
  b ^= a; b = (b - rot(a, 25)) | 0;
  c ^= b; c = (c - rot(b, 16)) | 0;
  a ^= c; a = (a - rot(c, 4)) | 0;
  b ^= a; b = (b - rot(a, 14)) | 0;
  c ^= b; c = (c - rot(b, 24)) | 0;
  return c >>> 0;
}

function bswap(x: number): number {
  return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
}

/**
 * Upstream's hash of a flow key given as our key words: `src`/`dst` are 4 big-endian words each
 * (IPv4: word 0 only), `portSrc`/`portDst` the L4 ports (ICMP: type and identifier).
 */
export function upstreamFlowHash(scratch: Int32Array, v6: boolean, proto: number, src: Int32Array, so: number, dst: Int32Array,
  dOff: number, portSrc: number, portDst: number, vnfType: number, vni: number): number {
  const k = scratch;
  for (let i = 0; i < 4; i++) {
    k[i] = v6 ? bswap(dst[dOff + i]!) : i === 0 ? dst[dOff]! : 0;
    k[5 + i] = v6 ? bswap(src[so + i]!) : i === 0 ? src[so]! : 0;
  }
  k[4] = (v6 ? 1 : 0) | (proto << 8) | (portDst << 16);
  k[9] = (v6 ? 1 : 0) | (vnfType << 8) | (portSrc << 16);
  k[10] = vni | 0;
  return rteJhashWords(k, 11, DP_JHASH_SEED);
}

/**
 * Where upstream starts looking for a free NAT port of a VM's source (dp_find_new_port): rte_jhash
 * with dpservice's seed over the packed 23-byte `struct netnat_portmap_key` {vni (uint32), src_ip
 * (struct dp_ip_address: 16 address bytes, an IPv4 as a host-order uint32 in the first four; is_v6),
 * iface_src_port (uint16)}, host little-endian. Reproduced so that a VM's source port gets the NAT
 * port upstream would give it (its suite checks that two of them differ). `scratch`: 6 words.
 */
export function upstreamPortmapHash(scratch: Int32Array, vni: number, ipv4: number, srcPort: number): number {
  const k = scratch;
  k[0] = vni | 0;
  k[1] = ipv4 | 0;
  k[2] = 0; k[3] = 0; k[4] = 0;
  // byte 20: is_v6 (0), bytes 21-22: the port, little-endian
  k[5] = (srcPort & 0xffff) << 8;
  return rteJhash(k, 23, DP_JHASH_SEED);
}

/**
 * upstreamPortmapHash for a VM's IPv6 source (NAT64): the address bytes in order (`src`[so..so+4],
 * big-endian words) and is_v6 set.
 */
export function upstreamPortmapHash6(scratch: Int32Array, vni: number, src: Int32Array, so: number, srcPort: number): number {
  const k = scratch;
  k[0] = vni | 0;
  for (let i = 0; i < 4; i++) k[1 + i] = bswap(src[so + i]!);
  k[5] = 1 | ((srcPort & 0xffff) << 8);
  return rteJhash(k, 23, DP_JHASH_SEED);
}

/** Upstream's hash_func_init_val of its jhash tables (dp_create_jhash_table). */
const VIRTSVC_JHASH_INIT = 0xfee1900d;

/**
 * Upstream's hash of a virtual service's connection (dp_virtsvc_get_pf_route: rte_hash_hash of the
 * packed 8-byte `struct dp_virtsvc_conn_key` {vf_port_id (uint16), vf_l4_port (big-endian),
 * vf_ip (big-endian)} with dp_jhash_2words, i.e. rte_jhash_2words of its two little-endian words,
 * initval 0xfee1900d): its WCMP table picks the uplink by it, and its suite checks which.
 */
export function upstreamVirtsvcHash(portId: number, vmPort: number, vmIp: number): number {
  const w0 = (portId & 0xffff) | (((vmPort >>> 8) & 0xff) << 16) | ((vmPort & 0xff) << 24);
  const w1 = bswap(vmIp | 0);
  // rte_jhash_2words: __rte_jhash_3words(a + 8, b + 8, 8, initval), then its final mix
  const init = (GOLDEN + VIRTSVC_JHASH_INIT + 8) | 0;
  return jhashFinal((w0 + init) | 0, (w1 + init) | 0, init);
}
