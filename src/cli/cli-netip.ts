/**
 * Go's net/netip Addr and Prefix as dpservice-cli uses them: parsing with Go's error texts (they
 * reach the user inside "invalid argument" messages) and Go's canonical text forms. Control path
 * only.
 */
import { GoError, atoi, goQuote } from './cli-go.js';

const V4IN6 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** netip.Addr: the zero Addr (raw null), IPv4 (4 bytes) or IPv6 (16 bytes) with an optional zone. */
export class Addr {
  readonly raw: Uint8Array | null;
  readonly zone: string;

  constructor(raw: Uint8Array | null = null, zone = '') {
    this.raw = raw;
    this.zone = zone;
  }

  valid(): boolean {
    return this.raw !== null;
  }

  is4(): boolean {
    return this.raw !== null && this.raw.length === 4;
  }

  is6(): boolean {
    return this.raw !== null && this.raw.length === 16;
  }

  bitLen(): number {
    return this.raw === null ? 0 : 8 * this.raw.length;
  }

  /** Addr.String() */
  toString(): string {
    const r = this.raw;
    if (r === null) return 'invalid IP';
    if (r.length === 4) return r.join('.');
    let s: string;
    if (V4IN6.every((b, i) => r[i] === b)) s = `::ffff:${Array.from(r.subarray(12)).join('.')}`;
    else {
      const groups: number[] = [];
      for (let i = 0; i < 16; i += 2) groups.push((r[i]! << 8) | r[i + 1]!);
      // the longest run of at least two zero groups (the first one on a tie) becomes "::"
      let zs = -1;
      let ze = -1;
      for (let i = 0; i < 8; i++) {
        let j = i;
        while (j < 8 && groups[j] === 0) j++;
        if (j - i >= 2 && j - i > ze - zs) {
          zs = i;
          ze = j;
        }
      }
      s = '';
      for (let i = 0; i < 8; i++) {
        if (i === zs) {
          s += '::';
          i = ze - 1;
          continue;
        }
        if (i > 0 && i !== ze) s += ':';
        s += groups[i]!.toString(16);
      }
    }
    return this.zone ? `${s}%${this.zone}` : s;
  }

  /** MarshalText: "" for the zero Addr. */
  text(): string {
    return this.raw === null ? '' : this.toString();
  }
}

/** The IPv6 unspecified address `::` (default of the --underlay flags). */
export const IPV6_UNSPECIFIED = new Addr(new Uint8Array(16));

function addrError(s: string, msg: string, at = ''): GoError {
  return new GoError(`ParseAddr(${goQuote(s)}): ${msg}${at ? ` (at ${goQuote(at)})` : ''}`);
}

function parseIpv4(s: string): Addr {
  const fields: number[] = [];
  let val = 0;
  let digits = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch >= '0' && ch <= '9') {
      if (digits === 1 && val === 0) throw addrError(s, 'IPv4 field has octet with leading zero');
      val = val * 10 + ch.charCodeAt(0) - 0x30;
      digits++;
      if (val > 255) throw addrError(s, 'IPv4 field has value >255');
    } else if (ch === '.') {
      if (i === 0 || i === s.length - 1 || s[i - 1] === '.') {
        throw addrError(s, 'IPv4 field must have at least one digit', s.slice(i));
      }
      if (fields.length === 3) throw addrError(s, 'IPv4 address too long');
      fields.push(val);
      val = 0;
      digits = 0;
    } else throw addrError(s, 'unexpected character', s.slice(i));
  }
  if (fields.length < 3) throw addrError(s, 'IPv4 address too short');
  fields.push(val);
  return new Addr(Uint8Array.from(fields));
}

function hexDigit(c: string): number {
  if (c >= '0' && c <= '9') return c.charCodeAt(0) - 0x30;
  if (c >= 'a' && c <= 'f') return c.charCodeAt(0) - 0x61 + 10;
  if (c >= 'A' && c <= 'F') return c.charCodeAt(0) - 0x41 + 10;
  return -1;
}

function parseIpv6(inp: string): Addr {
  let s = inp;
  let zone = '';
  const pct = s.indexOf('%');
  if (pct !== -1) {
    zone = s.slice(pct + 1);
    s = s.slice(0, pct);
    if (zone === '') throw addrError(inp, 'zone must be a non-empty string');
  }
  const ip = new Uint8Array(16);
  let ellipsis = -1;
  if (s.length >= 2 && s[0] === ':' && s[1] === ':') {
    ellipsis = 0;
    s = s.slice(2);
    if (s === '') return new Addr(new Uint8Array(16), zone);
  }
  let i = 0;
  while (i < 16) {
    let off = 0;
    let acc = 0;
    while (off < s.length) {
      const d = hexDigit(s[off]!);
      if (d < 0) break;
      acc = (acc << 4) + d;
      if (acc > 0xffff) throw addrError(inp, 'IPv6 field has value >=2^16', s);
      off++;
    }
    if (off === 0) throw addrError(inp, 'each colon-separated field must have at least one digit', s);
    if (off < s.length && s[off] === '.') {
      if (ellipsis < 0 && i !== 12) {
        throw addrError(inp, 'embedded IPv4 address must replace the final 2 fields of the address', s);
      }
      if (i + 4 > 16) throw addrError(inp, 'too many hex fields to fit an embedded IPv4 at the end of the address', s);
      let v4: Addr;
      try {
        v4 = parseIpv4(s);
      } catch (e) {
        if (e instanceof GoError) throw addrError(inp, e.text, s);
        throw e;
      }
      ip.set(v4.raw!, i);
      s = '';
      i += 4;
      break;
    }
    ip[i] = acc >> 8;
    ip[i + 1] = acc & 0xff;
    i += 2;
    s = s.slice(off);
    if (s === '') break;
    if (s[0] !== ':') throw addrError(inp, 'unexpected character, want colon', s);
    if (s.length === 1) throw addrError(inp, 'colon must be followed by more characters', s);
    s = s.slice(1);
    if (s[0] === ':') {
      if (ellipsis >= 0) throw addrError(inp, 'multiple :: in address', s);
      ellipsis = i;
      s = s.slice(1);
      if (s === '') break;
    }
  }
  if (s !== '') throw addrError(inp, 'trailing garbage after address', s);
  if (i < 16) {
    if (ellipsis < 0) throw addrError(inp, 'address string too short');
    const n = 16 - i;
    ip.copyWithin(ellipsis + n, ellipsis, i);
    ip.fill(0, ellipsis, ellipsis + n);
  } else if (ellipsis >= 0) throw addrError(inp, 'the :: must expand to at least one field of zeros');
  return new Addr(ip, zone);
}

/** netip.ParseAddr */
export function parseAddr(s: string): Addr {
  for (const ch of s) {
    if (ch === '.') return parseIpv4(s);
    if (ch === ':') return parseIpv6(s);
    if (ch === '%') throw addrError(s, 'missing IPv6 address');
  }
  throw addrError(s, 'unable to parse IP');
}

/** netip.Prefix; bits -1 marks an invalid prefix. */
export class Prefix {
  readonly addr: Addr;
  readonly bits: number;

  constructor(addr: Addr = new Addr(), bits = 0) {
    this.addr = addr;
    this.bits = bits;
  }

  valid(): boolean {
    return this.addr.raw !== null && this.bits >= 0 && this.bits <= this.addr.bitLen();
  }

  toString(): string {
    return this.valid() ? `${this.addr.toString()}/${this.bits}` : 'invalid Prefix';
  }

  /** MarshalText: "" for the zero Prefix. */
  text(): string {
    if (this.addr.raw === null && this.bits === 0) return '';
    return this.toString();
  }
}

/** netip.PrefixFrom (the zone is dropped; out-of-range bits make an invalid prefix). */
export function prefixFrom(addr: Addr, bits: number): Prefix {
  return new Prefix(new Addr(addr.raw), bits >= 0 && bits <= addr.bitLen() ? bits : -1);
}

/** netip.ParsePrefix */
export function parsePrefix(s: string): Prefix {
  const head = `netip.ParsePrefix(${goQuote(s)}): `;
  const i = s.lastIndexOf('/');
  if (i < 0) throw new GoError(`${head}no '/'`);
  let ip: Addr;
  try {
    ip = parseAddr(s.slice(0, i));
  } catch (e) {
    if (e instanceof GoError) throw new GoError(head + e.text);
    throw e;
  }
  if (ip.is6() && ip.zone) throw new GoError(`${head}IPv6 zones cannot be present in a prefix`);
  let bits: bigint;
  try {
    bits = atoi(s.slice(i + 1));
  } catch (e) {
    if (e instanceof GoError) throw new GoError(`${head}bad bits after slash: ${goQuote(s.slice(i + 1))}`);
    throw e;
  }
  if (bits < 0n || bits > (ip.is4() ? 32n : 128n)) throw new GoError(`${head}prefix length out of range`);
  return prefixFrom(ip, Number(bits));
}
