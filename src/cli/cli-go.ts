/**
 * The pieces of Go's runtime and standard library whose exact behaviour shows in upstream
 * dpservice-cli's output: error values and their wrapping, strconv (Quote, ParseUint, ParseInt,
 * Atoi, ParseBool), time.ParseDuration, the CSV record reader behind pflag's string slices,
 * sort.SliceStable, and Go strings made from proto `bytes` fields. Control path only.
 *
 * Go strings are byte strings; here they are JS strings in which a byte that is not part of valid
 * UTF-8 is kept as the lone surrogate U+DC80+byte (Python's "surrogateescape"), so that it can be
 * written back out unchanged and escaped the way Go escapes it.
 */

/** A Go `error`: its Error() text, and the gRPC status code when it wraps a gRPC status error. */
export class GoError extends Error {
  readonly text: string;
  readonly grpcCode: number | undefined;

  constructor(text: string, grpcCode?: number) {
    super(text);
    this.text = text;
    this.grpcCode = grpcCode;
  }

  /** fmt.Errorf(prefix + ": %w", err) */
  wrap(prefix: string): GoError {
    return new GoError(`${prefix}: ${this.text}`, this.grpcCode);
  }
}

/** A Go runtime panic: the Go CLI dies with exit status 2 and a trace on stderr. */
export class GoPanic extends Error {}

/** The panic text of a nil pointer dereference. */
export const NIL_DEREF = 'runtime error: invalid memory address or nil pointer dereference';

/** Runs fn; a GoError it throws is wrapped with prefix (the `fmt.Errorf("%s: %w")` idiom). */
export function wrapped<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof GoError) throw e.wrap(prefix);
    throw e;
  }
}

/** Async form of `wrapped`. */
export async function wrappedAsync<T>(prefix: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof GoError) throw e.wrap(prefix);
    throw e;
  }
}

// ---- Go strings --------------------------------------------------------------------------------

/** True for the lone surrogates that stand for invalid UTF-8 bytes. */
export function isEscapedByte(code: number): boolean {
  return code >= 0xdc80 && code <= 0xdcff;
}

/** string([]byte): valid UTF-8 decoded, every other byte kept as U+DC80+byte. */
export function goString(b: Uint8Array | null | undefined): string {
  if (!b || b.length === 0) return '';
  let out = '';
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    // the length and first continuation byte range of a valid sequence (RFC 3629, as Go decodes)
    let need = 0;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    }
    let ok = need > 0 && i + need < b.length;
    if (ok) {
      for (let k = 1; k <= need; k++) {
        const x = b[i + k];
        if (x === undefined || x < (k === 1 ? lo : 0x80) || x > (k === 1 ? hi : 0xbf)) {
          ok = false;
          break;
        }
      }
    }
    if (!ok) {
      out += String.fromCharCode(0xdc00 + c);
      i++;
      continue;
    }
    let cp = need === 1 ? c & 0x1f : need === 2 ? c & 0x0f : c & 0x07;
    for (let k = 1; k <= need; k++) cp = (cp << 6) | (b[i + k]! & 0x3f);
    out += String.fromCodePoint(cp);
    i += need + 1;
  }
  return out;
}

/** []byte(string): the inverse of goString. */
export function goBytes(s: string): Buffer {
  const parts: number[] = [];
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (isEscapedByte(cp)) {
      parts.push(cp - 0xdc00);
      continue;
    }
    for (const x of Buffer.from(ch, 'utf8')) parts.push(x);
  }
  return Buffer.from(parts);
}

/** The byte length of a Go string. */
export function goLen(s: string): number {
  return goBytes(s).length;
}

// ---- strconv.Quote ---------------------------------------------------------------------------------

const QUOTE_ESC: Record<string, string> = {
  '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v',
};

/** unicode.IsPrint (letters, marks, numbers, punctuation, symbols and the ASCII space). */
export function isGoPrint(ch: string): boolean {
  return /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch);
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** strconv.Quote */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const o = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (isEscapedByte(o)) out += `\\x${hex(o - 0xdc00, 2)}`;
    else if (isGoPrint(ch)) out += ch;
    else if (QUOTE_ESC[ch] !== undefined) out += QUOTE_ESC[ch];
    else if (o < 0x20 || o === 0x7f) out += `\\x${hex(o, 2)}`;
    else if (o < 0x10000) out += `\\u${hex(o, 4)}`;
    else out += `\\U${hex(o, 8)}`;
  }
  return `${out}"`;
}

/** %q of a single byte or rune (a rune literal), as pflag quotes an unknown shorthand. */
export function goQuoteRune(c: string): string {
  if (c === "'") return "'\\''";
  const q = goQuote(c);
  return `'${q.slice(1, -1).replace(/\\"/g, '"')}'`;
}

// ---- strconv numbers ---------------------------------------------------------------------------------

/** strconv.NumError */
export class NumError extends GoError {
  readonly fn: string;
  readonly num: string;
  readonly kind: 'syntax' | 'range';

  constructor(fn: string, num: string, kind: 'syntax' | 'range') {
    super(`strconv.${fn}: parsing ${goQuote(num)}: ${kind === 'syntax' ? 'invalid syntax' : 'value out of range'}`);
    this.fn = fn;
    this.num = num;
    this.kind = kind;
  }
}

const U64_MAX = (1n << 64n) - 1n;

/** strconv.underscoreOK: underscores only between digits (a base prefix counts as a digit). */
function underscoreOK(str: string): boolean {
  let s = str;
  let saw = '^';
  let i = 0;
  if (s.startsWith('-') || s.startsWith('+')) s = s.slice(1);
  let hexa = false;
  if (s.length >= 2 && s[0] === '0' && 'box'.includes(s[1]!.toLowerCase())) {
    i = 2;
    saw = '0';
    hexa = s[1]!.toLowerCase() === 'x';
  }
  for (; i < s.length; i++) {
    const c = s[i]!;
    if ((c >= '0' && c <= '9') || (hexa && 'abcdef'.includes(c.toLowerCase()))) saw = '0';
    else if (c === '_') {
      if (saw !== '0') return false;
      saw = '_';
    } else {
      if (saw === '_') return false;
      saw = '!';
    }
  }
  return saw !== '_';
}

/** strconv.ParseUint */
export function parseUint(str: string, base: number, bitSize: number, fn = 'ParseUint', num = str): bigint {
  if (str === '') throw new NumError(fn, num, 'syntax');
  const base0 = base === 0;
  let s = str;
  if (base === 0) {
    base = 10;
    if (s[0] === '0') {
      if (s.length >= 3 && 'box'.includes(s[1]!.toLowerCase())) {
        base = { b: 2, o: 8, x: 16 }[s[1]!.toLowerCase() as 'b' | 'o' | 'x'];
        s = s.slice(2);
      } else {
        base = 8;
        s = s.slice(1);
      }
    }
  }
  const bigBase = BigInt(base);
  const maxVal = (1n << BigInt(bitSize)) - 1n;
  const cutoff = U64_MAX / bigBase + 1n;
  let n = 0n;
  let underscores = false;
  for (const c of s) {
    const o = c.codePointAt(0)!;
    const lc = o < 0x80 ? o | 0x20 : o;
    if (c === '_' && base0) {
      underscores = true;
      continue;
    }
    let d: number;
    if (o >= 0x30 && o <= 0x39) d = o - 0x30;
    else if (lc >= 0x61 && lc <= 0x7a) d = lc - 0x61 + 10;
    else throw new NumError(fn, num, 'syntax');
    if (d >= base) throw new NumError(fn, num, 'syntax');
    if (n >= cutoff) throw new NumError(fn, num, 'range');
    n = n * bigBase + BigInt(d);
    if (n > maxVal || n > U64_MAX) throw new NumError(fn, num, 'range');
  }
  if (underscores && !underscoreOK(str)) throw new NumError(fn, num, 'syntax');
  return n;
}

/** strconv.ParseInt */
export function parseInt64(str: string, base: number, bitSize: number, fn = 'ParseInt'): bigint {
  if (str === '') throw new NumError(fn, str, 'syntax');
  const neg = str[0] === '-';
  const s = str[0] === '+' || str[0] === '-' ? str.slice(1) : str;
  let un: bigint;
  try {
    un = parseUint(s, base, bitSize, fn, str);
  } catch (e) {
    if (!(e instanceof NumError) || e.kind !== 'range') throw e;
    un = 1n << 64n;
  }
  const cutoff = 1n << BigInt(bitSize - 1);
  if ((!neg && un >= cutoff) || (neg && un > cutoff)) throw new NumError(fn, str, 'range');
  return neg ? -un : un;
}

/** strconv.Atoi (64-bit int) */
export function atoi(str: string): bigint {
  const byteLen = goLen(str);
  if (byteLen > 0 && byteLen < 19) {
    let s = str;
    if (s[0] === '+' || s[0] === '-') {
      s = s.slice(1);
      if (s === '') throw new NumError('Atoi', str, 'syntax');
    }
    let n = 0n;
    for (const ch of s) {
      if (ch < '0' || ch > '9') throw new NumError('Atoi', str, 'syntax');
      n = n * 10n + BigInt(ch.charCodeAt(0) - 0x30);
    }
    return str[0] === '-' ? -n : n;
  }
  try {
    return parseInt64(str, 10, 64);
  } catch (e) {
    if (e instanceof NumError) throw new NumError('Atoi', e.num, e.kind);
    throw e;
  }
}

/** strconv.ParseBool */
export function parseBool(s: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  throw new NumError('ParseBool', s, 'syntax');
}

// ---- time.ParseDuration --------------------------------------------------------------------------

/** time's quote(): control and non-ASCII characters as \x escapes of their UTF-8 bytes. */
function timeQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const o = ch.codePointAt(0)!;
    if (o >= 0x80 || ch < ' ') {
      for (const b of goBytes(ch)) out += `\\x${hex(b, 2)}`;
    } else out += ch === '"' || ch === '\\' ? `\\${ch}` : ch;
  }
  return `${out}"`;
}

const DURATION_UNITS: Record<string, bigint> = {
  ns: 1n, us: 1000n, '\u00b5s': 1000n, '\u03bcs': 1000n, ms: 1_000_000n,
  s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n,
};
const I63 = 1n << 63n;

/** time.ParseDuration, in nanoseconds. */
export function parseDuration(orig: string): bigint {
  const bad = (): GoError => new GoError(`time: invalid duration ${timeQuote(orig)}`);
  let s = orig;
  let neg = false;
  if (s !== '' && (s[0] === '+' || s[0] === '-')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw bad();
  const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
  let total = 0n;
  while (s !== '') {
    if (!(s[0] === '.' || isDigit(s[0]))) throw bad();
    let i = 0;
    let v = 0n;
    while (i < s.length && isDigit(s[i])) {
      v = v * 10n + BigInt(s.charCodeAt(i) - 0x30);
      if (v > I63) throw bad();
      i++;
    }
    const pre = i > 0;
    s = s.slice(i);
    let f = 0n;
    let scale = 1;
    let post = false;
    if (s[0] === '.') {
      s = s.slice(1);
      i = 0;
      let overflow = false;
      while (i < s.length && isDigit(s[i])) {
        if (!overflow) {
          if (f > (I63 - 1n) / 10n) overflow = true;
          else {
            f = f * 10n + BigInt(s.charCodeAt(i) - 0x30);
            scale *= 10;
          }
        }
        i++;
      }
      post = i > 0;
      s = s.slice(i);
    }
    if (!pre && !post) throw bad();
    i = 0;
    while (i < s.length && !(s[i] === '.' || isDigit(s[i]))) i++;
    if (i === 0) throw new GoError(`time: missing unit in duration ${timeQuote(orig)}`);
    const u = s.slice(0, i);
    s = s.slice(i);
    const unit = DURATION_UNITS[u];
    if (unit === undefined) throw new GoError(`time: unknown unit ${timeQuote(u)} in duration ${timeQuote(orig)}`);
    if (v > I63 / unit) throw bad();
    v *= unit;
    if (f > 0n) {
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > I63) throw bad();
    }
    total += v;
    if (total > I63) throw bad();
  }
  if (!neg && total > I63 - 1n) throw bad();
  return neg ? -total : total;
}

/** time.Duration.String() for whole and fractional seconds (flag defaults in --help). */
export function durationString(ns: bigint): string {
  if (ns === 0n) return '0s';
  const sign = ns < 0n ? '-' : '';
  const a = ns < 0n ? -ns : ns;
  const trim = (x: string): string => x.replace(/0+$/, '').replace(/\.$/, '');
  if (a < 1_000_000_000n) {
    const [unit, div] = a >= 1_000_000n ? ['ms', 1e6] : a >= 1000n ? ['\u00b5s', 1e3] : ['ns', 1];
    return sign + trim((Number(a) / div).toFixed(9)) + unit;
  }
  const h = a / 3_600_000_000_000n;
  const m = (a % 3_600_000_000_000n) / 60_000_000_000n;
  const rest = Number(a % 60_000_000_000n) / 1e9;
  return sign + (h > 0n ? `${h}h${m}m` : m > 0n ? `${m}m` : '') + trim(rest.toFixed(9)) + 's';
}

// ---- encoding/csv (pflag string slices) -------------------------------------------------------------

/** The first record of val as encoding/csv reads it (pflag's readAsCSV). */
export function csvRecord(val: string): string[] {
  let line = goBytes(val);
  const nl = line.indexOf(0x0a);
  if (nl >= 0) line = line.subarray(0, nl);
  if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
  const fields: Buffer[] = [];
  let col = 1;
  const perr = (column: number, bare: boolean): GoError =>
    new GoError(`parse error on line 1, column ${column}: ${bare ? 'bare " in non-quoted-field' : 'extraneous or missing " in quoted-field'}`);
  for (;;) {
    if (line.length === 0 || line[0] !== 0x22) {
      const i = line.indexOf(0x2c);
      const field = i < 0 ? line : line.subarray(0, i);
      const j = field.indexOf(0x22);
      if (j >= 0) throw perr(col + j, true);
      fields.push(field);
      if (i < 0) break;
      line = line.subarray(i + 1);
      col += i + 1;
      continue;
    }
    line = line.subarray(1);
    col += 1;
    const buf: number[] = [];
    for (;;) {
      const i = line.indexOf(0x22);
      if (i < 0) {
        col += line.length;
        throw perr(col, false);
      }
      buf.push(...line.subarray(0, i));
      line = line.subarray(i + 1);
      col += i + 1;
      if (line[0] === 0x22) {
        buf.push(0x22);
        line = line.subarray(1);
        col += 1;
      } else if (line[0] === 0x2c) {
        line = line.subarray(1);
        col += 1;
        fields.push(Buffer.from(buf));
        break;
      } else if (line.length === 0) {
        fields.push(Buffer.from(buf));
        return fields.map(goString);
      } else throw perr(col - 1, false);
    }
  }
  return fields.map(goString);
}

// ---- sort.SliceStable ------------------------------------------------------------------------------

/**
 * sort.SliceStable(items, less) with Go's algorithm (insertion-sorted blocks of 20 merged by
 * SymMerge), so that the inconsistent comparators of some upstream --sort-by keys give Go's order.
 * Sorts in place and returns items.
 */
export function stableSort<T>(items: T[], less: (a: T, b: T) => boolean): T[] {
  const data = items;
  const lt = (i: number, j: number): boolean => less(data[i]!, data[j]!);
  const swap = (i: number, j: number): void => {
    const x = data[i]!;
    data[i] = data[j]!;
    data[j] = x;
  };
  const insertion = (a: number, b: number): void => {
    for (let i = a + 1; i < b; i++) for (let j = i; j > a && lt(j, j - 1); j--) swap(j, j - 1);
  };
  const swapRange = (a: number, b: number, n: number): void => {
    for (let i = 0; i < n; i++) swap(a + i, b + i);
  };
  const rotate = (a: number, m: number, b: number): void => {
    let i = m - a;
    let j = b - m;
    while (i !== j) {
      if (i > j) {
        swapRange(m - i, m, j);
        i -= j;
      } else {
        swapRange(m - i, m + j - i, i);
        j -= i;
      }
    }
    swapRange(m - i, m, i);
  };
  const symMerge = (a: number, m: number, b: number): void => {
    if (m - a === 1) {
      let i = m;
      let j = b;
      while (i < j) {
        const h = (i + j) >>> 1;
        if (lt(h, a)) i = h + 1;
        else j = h;
      }
      for (let k = a; k < i - 1; k++) swap(k, k + 1);
      return;
    }
    if (b - m === 1) {
      let i = a;
      let j = m;
      while (i < j) {
        const h = (i + j) >>> 1;
        if (!lt(m, h)) i = h + 1;
        else j = h;
      }
      for (let k = m; k > i; k--) swap(k, k - 1);
      return;
    }
    const mid = (a + b) >>> 1;
    const n = mid + m;
    let start: number;
    let r: number;
    if (m > mid) {
      start = n - b;
      r = mid;
    } else {
      start = a;
      r = m;
    }
    const p = n - 1;
    while (start < r) {
      const c = (start + r) >>> 1;
      if (!lt(p - c, c)) start = c + 1;
      else r = c;
    }
    const end = n - start;
    if (start < m && m < end) rotate(start, m, end);
    if (a < start && start < mid) symMerge(a, start, mid);
    if (mid < end && end < b) symMerge(mid, end, b);
  };
  const n = data.length;
  let block = 20;
  let a = 0;
  let b = block;
  while (b <= n) {
    insertion(a, b);
    a = b;
    b += block;
  }
  insertion(a, n);
  while (block < n) {
    a = 0;
    b = 2 * block;
    while (b <= n) {
      symMerge(a, a + block, b);
      a = b;
      b += 2 * block;
    }
    const m = a + block;
    if (m < n) symMerge(a, m, n);
    block *= 2;
  }
  return data;
}

/** uint32(n) of a Go int: the low 32 bits. */
export function toUint32(n: bigint): number {
  return Number(BigInt.asUintN(32, n));
}

/** Go's `<` on strings: bytewise comparison of their UTF-8. */
export function goLess(a: string, b: string): boolean {
  return Buffer.compare(goBytes(a), goBytes(b)) < 0;
}
