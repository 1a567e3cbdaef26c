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
  let a = (GOLDEN + n * 4 + seed) | 0;
  let b = a;
  let c = a;
  let i = 0;
  let left = n;
  while (left > 3) {
    a = (a + k[i]!) | 0; b = (b + k[i + 1]!) | 0; c = (c + k[i + 2]!) | 0;
    a = (a - c) | 0; a ^= rot(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rot(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 4); b = (b + a) | 0;
    i += 3;
    left -= 3;
  }
  if (left === 0) return c >>> 0;
  if (left >= 3) c = (c + k[i + 2]!) | 0;
  if (left >= 2) b = (b + k[i + 1]!) | 0;
  a = (a + k[i]!) | 0;
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
