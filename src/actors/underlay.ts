/**
 * Underlay (VNF) addresses and the textual IP addresses of the gRPC API.
 *
 * Every object reachable from other hosts (interface, VIP, NAT, load balancer, prefix) gets its own
 * IPv6 underlay address inside the host's /64 (from --ipv6), laid out as upstream lays it out so
 * that tools and peers reading the address see the same fields:
 *
 *   bytes 0..7   host /64 prefix
 *   byte  8      address type, always 0xd0 (generated range <prefix>:d000:: - <prefix>:dfff::)
 *   byte  9      subtype: the VNF type when typed addresses are enabled, else 0
 *   byte  10     flags: 0x80 externally generated (HA peers pass them in), 0x40 secondary pool
 *   byte  11     random byte
 *   bytes 12..15 big-endian counter, starting at a random value below 256
 *
 * Addresses travel as ASCII text in `bytes` fields; the parsers here accept exactly what the C
 * library's inet_pton accepts and the formatters print what inet_ntop prints, so that addresses
 * read back byte for byte as upstream prints them. Control path only: these allocate.
 */

export const IPV6_SIZE = 16;

/** Byte 8 of every generated underlay address. */
export const UNDERLAY_ADDRESS_TYPE = 0xd0;
/** Byte 10 flag: the address was chosen by the client (`preferred_underlay_route`). */
export const UNDERLAY_FLAG_EXTERNALLY_GENERATED = 0x80;
/** Byte 10 flag: secondary pool (virtual services). */
export const UNDERLAY_FLAG_SECONDARY_POOL = 0x40;

const UL_TYPE = 8;
const UL_SUBTYPE = 9;
const UL_FLAGS = 10;
const UL_RANDOM = 11;
const UL_COUNTER = 12;

/** What an underlay address stands for; the subtype byte when typed addresses are enabled. */
export const VnfType = {
  UNDEFINED: 0,
  INTERFACE_IP: 1,
  VIP: 2,
  NAT: 3,
  LB: 4,
  LB_ALIAS_PFX: 5,
  ALIAS_PFX: 6,
} as const;

export type VnfTypeCode = (typeof VnfType)[keyof typeof VnfType];

/** Options of the generator; defaults match an upstream build without extra meson options. */
export interface UnderlayGeneratorOptions {
  /** Put the VNF type into byte 9 (upstream meson option `enable_underlay_type`). Default false. */
  typed?: boolean;
  /**
   * Random byte fixed to 1 and counter starting at 1, for reproducible addresses in tests
   * (upstream meson option `enable_static_underlay_ip`). Default false.
   */
  deterministic?: boolean;
  /** Source of random bytes (0..255); defaults to Math.random. */
  randomByte?: () => number;
}

function defaultRandomByte(): number {
  return Math.floor(Math.random() * 256) & 0xff;
}

/** Generates underlay addresses in the host /64 and checks client-chosen ones. */
export class UnderlayGenerator {
  private readonly prefix: Uint8Array;
  private readonly typed: boolean;
  private readonly deterministic: boolean;
  private readonly randomByte: () => number;
  /** Last counter value handed out (uint32); 0 = none yet. */
  private counter = 0;

  /** `hostIpv6` is the --ipv6 address; only its first 8 bytes are used. */
  constructor(hostIpv6: Uint8Array, opts: UnderlayGeneratorOptions = {}) {
    if (hostIpv6.length !== IPV6_SIZE) throw new RangeError(`host IPv6 must be 16 bytes, got ${hostIpv6.length}`);
    this.prefix = hostIpv6.slice(0, 8);
    this.typed = opts.typed ?? false;
    this.deterministic = opts.deterministic ?? false;
    this.randomByte = opts.randomByte ?? defaultRandomByte;
  }

  /** A fresh address for an object of the given VNF type (16 new bytes). */
  generate(type: VnfTypeCode): Uint8Array {
    const a = new Uint8Array(IPV6_SIZE);
    a.set(this.prefix, 0);
    a[UL_TYPE] = UNDERLAY_ADDRESS_TYPE;
    a[UL_SUBTYPE] = this.typed ? type : 0;
    a[UL_FLAGS] = 0;
    if (this.deterministic) {
      a[UL_RANDOM] = 1;
    } else {
      a[UL_RANDOM] = this.randomByte() & 0xff;
      // start from a random point so that restarts do not reuse the same sequence
      if (this.counter === 0) this.counter = this.randomByte() & 0xff;
    }
    this.counter = (this.counter + 1) >>> 0;
    new DataView(a.buffer).setUint32(UL_COUNTER, this.counter, false);
    return a;
  }

  /** True if `addr` lies in the host /64. */
  inHostPrefix(addr: Uint8Array): boolean {
    for (let i = 0; i < 8; i++) if (addr[i] !== this.prefix[i]) return false;
    return true;
  }

  /**
   * Whether a client-chosen (`preferred_underlay_route`) address is acceptable: all zero (meaning
   * "generate one"), or in the host /64 with the externally-generated flag set, so that it can
   * never collide with a generated address.
   */
  acceptsPreferred(addr: Uint8Array): boolean {
    if (isZeroIpv6(addr)) return true;
    return this.inHostPrefix(addr) && ((addr[UL_FLAGS]! & UNDERLAY_FLAG_EXTERNALLY_GENERATED) !== 0);
  }
}

// ---- text <-> bytes ---------------------------------------------------------------------------

/**
 * The string a C string would see in a `bytes`/`string` field: text up to the first NUL byte.
 * Accepts what proto-loader hands out for `bytes` (Buffer/Uint8Array) and `string` fields.
 */
export function cText(v: Uint8Array | string | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1');
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/**
 * Parses dotted-quad text from `start` to the end of `s` into out[off..off+4]. Exactly four
 * decimal parts, each 0..255 without leading zeros, nothing else (inet_pton semantics).
 */
function parseIpv4Into(s: string, start: number, out: Uint8Array, off: number): boolean {
  let parts = 0;
  let sawDigit = false;
  let cur = 0;
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isDigit(c)) {
      if (sawDigit && cur === 0) return false;  // leading zero
      cur = cur * 10 + (c - 0x30);
      if (cur > 255) return false;
      if (!sawDigit) {
        if (++parts > 4) return false;
        sawDigit = true;
      }
    } else if (c === 0x2e && sawDigit) {
      if (parts === 4) return false;
      out[off + parts - 1] = cur;
      cur = 0;
      sawDigit = false;
    } else {
      return false;
    }
  }
  if (parts < 4 || !sawDigit) return false;
  out[off + 3] = cur;
  return true;
}

/** IPv4 text to an unsigned 32-bit number (host order, a.b.c.d = a<<24|...), or undefined. */
export function parseIpv4(text: string): number | undefined {
  const b = new Uint8Array(4);
  if (!parseIpv4Into(text, 0, b, 0)) return undefined;
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

/** IPv6 text (with "::" and an optional dotted IPv4 tail) to 16 new bytes, or undefined. */
export function parseIpv6(text: string): Uint8Array | undefined {
  const out = new Uint8Array(IPV6_SIZE);
  const n = text.length;
  let i = 0;
  let tp = 0;
  let gap = -1;  // where "::" was seen
  if (n > 0 && text.charCodeAt(0) === 0x3a) {
    if (n < 2 || text.charCodeAt(1) !== 0x3a) return undefined;
    i = 1;
  }
  let tokenStart = i;
  let sawHex = false;
  let hexDigits = 0;
  let val = 0;
  while (i < n) {
    const c = text.charCodeAt(i++);
    const h = hexValue(c);
    if (h >= 0) {
      if (++hexDigits > 4) return undefined;
      val = (val << 4) | h;
      sawHex = true;
      continue;
    }
    if (c === 0x3a) {
      tokenStart = i;
      if (!sawHex) {
        if (gap >= 0) return undefined;
        gap = tp;
        continue;
      }
      if (i >= n) return undefined;  // trailing single ':'
      if (tp + 2 > IPV6_SIZE) return undefined;
      out[tp++] = (val >> 8) & 0xff;
      out[tp++] = val & 0xff;
      sawHex = false;
      hexDigits = 0;
      val = 0;
      continue;
    }
    if (c === 0x2e && tp + 4 <= IPV6_SIZE && parseIpv4Into(text, tokenStart, out, tp)) {
      tp += 4;
      sawHex = false;
      break;
    }
    return undefined;
  }
  if (sawHex) {
    if (tp + 2 > IPV6_SIZE) return undefined;
    out[tp++] = (val >> 8) & 0xff;
    out[tp++] = val & 0xff;
  }
  if (gap >= 0) {
    if (tp === IPV6_SIZE) return undefined;
    const moved = tp - gap;
    for (let k = 1; k <= moved; k++) {
      out[IPV6_SIZE - k] = out[gap + moved - k]!;
      out[gap + moved - k] = 0;
    }
    tp = IPV6_SIZE;
  }
  return tp === IPV6_SIZE ? out : undefined;
}

/** An unsigned 32-bit IPv4 as dotted-quad text. */
export function formatIpv4(ip: number): string {
  return `${(ip >>> 24) & 0xff}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
}

/**
 * 16 bytes as IPv6 text the way inet_ntop prints it: lowercase, the first longest run of two or
 * more zero groups as "::", and IPv4-compatible (::a.b.c.d) / IPv4-mapped (::ffff:a.b.c.d)
 * addresses with a dotted tail.
 */
export function formatIpv6(a: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((a[2 * i]! << 8) | a[2 * i + 1]!);
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (curBase < 0) {
        curBase = i;
        curLen = 1;
      } else {
        curLen++;
      }
    } else if (curBase >= 0) {
      if (bestBase < 0 || curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (curBase >= 0 && (bestBase < 0 || curLen > bestLen)) {
    bestBase = curBase;
    bestLen = curLen;
  }
  if (bestBase >= 0 && bestLen < 2) bestBase = -1;

  let s = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) s += ':';
      continue;
    }
    if (i !== 0) s += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      s += `${a[12]!}.${a[13]!}.${a[14]!}.${a[15]!}`;
      return s;
    }
    s += words[i]!.toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) s += ':';
  return s;
}

export function isZeroIpv6(a: Uint8Array): boolean {
  for (let i = 0; i < IPV6_SIZE; i++) if (a[i] !== 0) return false;
  return true;
}

export function equalIpv6(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < IPV6_SIZE; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The IPv4 with every bit past `length` cleared (length 0..32). */
export function maskIpv4(ip: number, length: number): number {
  if (length <= 0) return 0;
  if (length >= 32) return ip >>> 0;
  return (ip & (0xffffffff << (32 - length))) >>> 0;
}

/** A copy of the IPv6 with every bit past `length` cleared (length 0..128). */
export function maskIpv6(a: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(IPV6_SIZE);
  for (let i = 0; i < IPV6_SIZE; i++) {
    const bits = length - i * 8;
    if (bits >= 8) out[i] = a[i]!;
    else if (bits > 0) out[i] = a[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/** 16 bytes as 32 lowercase hex digits; a compact map key for control-plane tables. */
export function ipv6Key(a: Uint8Array): string {
  return Buffer.from(a.buffer, a.byteOffset, IPV6_SIZE).toString('hex');
}
