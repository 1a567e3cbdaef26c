/**
 * `-o yaml`: ghodss/yaml's JSONToYAML of the JSON form, i.e. gopkg.in/yaml.v2's block emitter over
 * maps (keys sorted yaml.v2's way), lists and scalars, with its quoting decisions. Control path only.
 */
import { GoError, parseInt64, parseUint } from './cli-go.js';
import { plain, type GoMap, type GoValue } from './cli-objects.js';

const SPECIAL = new Set([
  'y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON',
  'n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF',
  '', '~', 'null', 'Null', 'NULL', '.nan', '.NaN', '.NAN', '.inf', '.Inf', '.INF',
  '+.inf', '+.Inf', '+.INF', '-.inf', '-.Inf', '-.INF',
]);
const FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const BASE60 = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;
const TIMESTAMPS = [
  /^(\d{4})-(\d{1,2})-(\d{1,2})$/,
  /^(\d{4})-(\d{1,2})-(\d{1,2})[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?(Z|[-+]\d\d:\d\d)$/,
  /^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?$/,
];
const BREAKS = '\r\n\x85\u2028\u2029';
const WIDTH = 80;

function isTimestamp(s: string): boolean {
  for (const rx of TIMESTAMPS) {
    const m = rx.exec(s);
    if (!m) continue;
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > new Date(Date.UTC(y, mo, 0)).getUTCDate()) return false;
    if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59)) return false;
    return true;
  }
  return false;
}

function succeeds(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (e instanceof GoError) return false;
    throw e;
  }
}

/** yaml.v2 resolve(): would the plain scalar s read back as a string? */
function plainIsString(s: string): boolean {
  if (SPECIAL.has(s)) return false;
  const c = s[0]!;
  if ('+-0123456789'.includes(c)) {
    if (isTimestamp(s)) return false;
    const p = s.replace(/_/g, '');
    if (succeeds(() => parseInt64(p, 0, 64)) || succeeds(() => parseUint(p, 0, 64))) return false;
    if (FLOAT.test(p) && Number.isFinite(Number(p))) return false;
    for (const pre of ['0b', '-0b']) {
      if (p.startsWith(pre) && succeeds(() => parseUint(p.slice(pre.length), 2, 64))) return false;
    }
  } else if (c === '.' && /^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(s)) return false;
  return !BASE60.test(s);
}

function printable(ch: string): boolean {
  const o = ch.codePointAt(0)!;
  return ch === '\n' || (o >= 0x20 && o <= 0x7e) || (o >= 0xa0 && o <= 0xd7ff) ||
    (o >= 0xe000 && o <= 0xfffd && o !== 0xfeff);
}

interface Analysis {
  multiline: boolean;
  blockPlain: boolean;
  single: boolean;
  block: boolean;
}

/** yaml_emitter_analyze_scalar */
function analyze(v: string): Analysis {
  if (v === '') return { multiline: false, blockPlain: true, single: true, block: false };
  const chars = Array.from(v);
  const n = chars.length;
  let blockInd = v.startsWith('---') || v.startsWith('...');
  let special = false;
  let lineBreaks = false;
  let leadSp = false;
  let leadBr = false;
  let trailSp = false;
  let trailBr = false;
  let breakSp = false;
  let spBreak = false;
  let prevSp = false;
  let prevBr = false;
  let precededWs = true;
  chars.forEach((ch, i) => {
    const next = chars[i + 1];
    const followedWs = next === undefined || next === ' ' || next === '\t';
    if (i === 0) {
      if ('#,[]{}&*!|>\'"%@`'.includes(ch)) blockInd = true;
      else if ((ch === '?' || ch === ':' || ch === '-') && followedWs) blockInd = true;
    } else if (ch === ':' && followedWs) blockInd = true;
    else if (ch === '#' && precededWs) blockInd = true;
    if (!printable(ch)) special = true;
    if (ch === ' ') {
      leadSp ||= i === 0;
      trailSp ||= i === n - 1;
      breakSp ||= prevBr;
      prevSp = true;
      prevBr = false;
    } else if (BREAKS.includes(ch)) {
      lineBreaks = true;
      leadBr ||= i === 0;
      trailBr ||= i === n - 1;
      spBreak ||= prevSp;
      prevSp = false;
      prevBr = true;
    } else {
      prevSp = false;
      prevBr = false;
    }
    precededWs = ch === ' ' || ch === '\t' || BREAKS.includes(ch);
  });
  let blockPlain = true;
  let single = true;
  let block = true;
  if (leadSp || leadBr || trailSp || trailBr) blockPlain = false;
  if (trailSp) block = false;
  if (breakSp) blockPlain = single = false;
  if (spBreak || special) blockPlain = single = block = false;
  if (lineBreaks || blockInd) blockPlain = false;
  return { multiline: lineBreaks, blockPlain, single, block };
}

const DQ: Record<string, string> = {
  '\0': '0', '\x07': 'a', '\b': 'b', '\t': 't', '\n': 'n', '\v': 'v', '\f': 'f', '\r': 'r',
  '\x1b': 'e', '"': '"', '\\': '\\', '\x85': 'N', '\xa0': '_', '\u2028': 'L', '\u2029': 'P',
};

/** yaml.JSONToYAML sorts map keys with keyList.Less: digit runs compare numerically. */
function keyLess(a: string, b: string): boolean {
  const ac = Array.from(a);
  const bc = Array.from(b);
  const isLetter = (c: string): boolean => /^\p{L}$/u.test(c);
  const isDigit = (c: string | undefined): boolean => c !== undefined && /^\p{Nd}$/u.test(c);
  for (let i = 0; i < Math.min(ac.length, bc.length); i++) {
    const x = ac[i]!;
    const y = bc[i]!;
    if (x === y) continue;
    const al = isLetter(x);
    const bl = isLetter(y);
    if (al && bl) return x < y;
    if (al || bl) return bl;
    let an = 0;
    let bn = 0;
    if (x === '0' || y === '0') {
      for (let j = i - 1; j >= 0 && isDigit(ac[j]); j--) {
        if (ac[j] !== '0') {
          an = 1;
          bn = 1;
          break;
        }
      }
    }
    let ai = i;
    for (; ai < ac.length && isDigit(ac[ai]); ai++) an = an * 10 + ac[ai]!.charCodeAt(0) - 0x30;
    let bi = i;
    for (; bi < bc.length && isDigit(bc[bi]); bi++) bn = bn * 10 + bc[bi]!.charCodeAt(0) - 0x30;
    if (an !== bn) return an < bn;
    if (ai !== bi) return ai < bi;
    return x < y;
  }
  return ac.length < bc.length;
}

/** The parts of yaml.v2's emitter that block-style documents of maps, lists and scalars use. */
class Emitter {
  private readonly buf: string[] = [];
  private column = 0;
  private whitespace = true;
  private indention = true;
  private indent = -1;

  output(): string {
    return this.buf.join('');
  }

  private put(s: string): void {
    this.buf.push(s);
    this.column += Array.from(s).length;
  }

  putBreak(): void {
    this.buf.push('\n');
    this.column = 0;
  }

  private writeIndent(): void {
    const indent = Math.max(this.indent, 0);
    if (!this.indention || this.column > indent || (this.column === indent && !this.whitespace)) this.putBreak();
    while (this.column < indent) this.put(' ');
    this.whitespace = true;
    this.indention = true;
  }

  private indicator(ind: string, needWs: boolean, isWs: boolean, isIndention: boolean): void {
    if (needWs && !this.whitespace) this.put(' ');
    this.put(ind);
    this.whitespace = isWs;
    this.indention = this.indention && isIndention;
  }

  /** A scalar node (string, number, bool or null) in block context. */
  private scalar(value: GoValue, simpleKey: boolean): void {
    let text: string;
    let style: 'plain' | 'single' | 'double' | 'literal';
    if (value === null) [text, style] = ['null', 'plain'];
    else if (typeof value === 'boolean') [text, style] = [value ? 'true' : 'false', 'plain'];
    else if (typeof value === 'number' || typeof value === 'bigint') [text, style] = [value.toString(), 'plain'];
    else {
      text = String(value);
      if (text.includes('\n')) style = 'literal';
      else if (text !== '' && plainIsString(text)) style = 'plain';
      else style = 'double';
    }
    const a = analyze(text);
    if (simpleKey && a.multiline) style = 'double';
    if (style === 'plain' && (!a.blockPlain || (text === '' && simpleKey))) style = 'single';
    if (style === 'single' && !a.single) style = 'double';
    if (style === 'literal' && (!a.block || simpleKey)) style = 'double';
    const saved = this.indent;
    this.indent = this.indent < 0 ? 2 : this.indent + 2;
    const breaksOk = !simpleKey;
    if (style === 'plain') this.plainScalar(text, breaksOk);
    else if (style === 'single') this.singleQuoted(text, breaksOk);
    else if (style === 'double') this.doubleQuoted(text, breaksOk);
    else this.literal(text);
    this.indent = saved;
  }

  private plainScalar(v: string, breaksOk: boolean): void {
    if (!this.whitespace) this.put(' ');
    const chars = Array.from(v);
    let spaces = false;
    let breaks = false;
    chars.forEach((ch, i) => {
      if (ch === ' ') {
        if (breaksOk && !spaces && this.column > WIDTH && chars[i + 1] !== ' ') this.writeIndent();
        else this.put(ch);
        spaces = true;
      } else if (BREAKS.includes(ch)) {
        if (!breaks && ch === '\n') this.putBreak();
        this.putBreak();
        this.indention = true;
        breaks = true;
      } else {
        if (breaks) this.writeIndent();
        this.put(ch);
        this.indention = false;
        spaces = false;
        breaks = false;
      }
    });
    this.whitespace = false;
    this.indention = false;
  }

  private singleQuoted(v: string, breaksOk: boolean): void {
    this.indicator("'", true, false, false);
    const chars = Array.from(v);
    let spaces = false;
    let breaks = false;
    chars.forEach((ch, i) => {
      if (ch === ' ') {
        if (breaksOk && !spaces && this.column > WIDTH && i > 0 && i < chars.length - 1 && chars[i + 1] !== ' ') {
          this.writeIndent();
        } else this.put(ch);
        spaces = true;
      } else if (BREAKS.includes(ch)) {
        if (!breaks && ch === '\n') this.putBreak();
        this.putBreak();
        this.indention = true;
        breaks = true;
      } else {
        if (breaks) this.writeIndent();
        this.put(ch === "'" ? "''" : ch);
        this.indention = false;
        spaces = false;
        breaks = false;
      }
    });
    this.indicator("'", false, false, false);
    this.whitespace = false;
    this.indention = false;
  }

  private doubleQuoted(v: string, breaksOk: boolean): void {
    this.indicator('"', true, false, false);
    const chars = Array.from(v);
    let spaces = false;
    chars.forEach((ch, i) => {
      const o = ch.codePointAt(0)!;
      if (!printable(ch) || ch === '\ufeff' || BREAKS.includes(ch) || ch === '"' || ch === '\\') {
        const esc = DQ[ch];
        if (esc !== undefined) this.put(`\\${esc}`);
        else if (o <= 0xff) this.put(`\\x${o.toString(16).toUpperCase().padStart(2, '0')}`);
        else if (o <= 0xffff) this.put(`\\u${o.toString(16).toUpperCase().padStart(4, '0')}`);
        else this.put(`\\U${o.toString(16).toUpperCase().padStart(8, '0')}`);
        spaces = false;
      } else if (ch === ' ') {
        if (breaksOk && !spaces && this.column > WIDTH && i > 0 && i < chars.length - 1) {
          this.writeIndent();
          if (chars[i + 1] === ' ') this.put('\\');
        } else this.put(ch);
        spaces = true;
      } else {
        this.put(ch);
        spaces = false;
      }
    });
    this.indicator('"', false, false, false);
    this.whitespace = false;
    this.indention = false;
  }

  private literal(v: string): void {
    const chars = Array.from(v);
    let hints = '';
    if (' '.includes(chars[0]!) || BREAKS.includes(chars[0]!)) hints += '2';
    const last = chars[chars.length - 1]!;
    if (!BREAKS.includes(last)) hints += '-';
    else if (chars.length === 1 || BREAKS.includes(chars[chars.length - 2]!)) hints += '+';
    this.indicator(`|${hints}`, true, false, false);
    this.putBreak();
    this.indention = true;
    this.whitespace = true;
    let breaks = true;
    for (const ch of chars) {
      if (BREAKS.includes(ch)) {
        this.putBreak();
        this.indention = true;
        breaks = true;
      } else {
        if (breaks) this.writeIndent();
        this.put(ch);
        this.indention = false;
        breaks = false;
      }
    }
    this.whitespace = false;
    this.indention = false;
  }

  node(v: GoValue, inMapping = false): void {
    if (Array.isArray(v)) {
      if (v.length > 0) this.sequence(v, inMapping);
      else this.indicator('[]', true, false, false);
    } else if (v !== null && typeof v === 'object') {
      const m = v as GoMap;
      if (Object.keys(m).length > 0) this.mapping(m);
      else this.indicator('{}', true, false, false);
    } else this.scalar(v, false);
  }

  private mapping(d: GoMap): void {
    const saved = this.indent;
    this.indent = this.indent < 0 ? 0 : this.indent + 2;
    const keys = Object.keys(d).sort((a, b) => (keyLess(a, b) ? -1 : keyLess(b, a) ? 1 : 0));
    for (const k of keys) {
      this.writeIndent();
      this.scalar(k, true);
      this.indicator(':', false, false, false);
      this.node(d[k]!, true);
    }
    this.indent = saved;
  }

  private sequence(seq: GoValue[], inMapping: boolean): void {
    const saved = this.indent;
    if (!(inMapping && !this.indention)) this.indent = this.indent < 0 ? 0 : this.indent + 2;
    for (const item of seq) {
      this.writeIndent();
      this.indicator('-', true, false, true);
      this.node(item);
    }
    this.indent = saved;
  }
}

/** yaml.JSONToYAML(json.Marshal(v)), with its trailing newline. */
export function goYaml(v: GoValue): string {
  const e = new Emitter();
  e.node(plain(v));
  e.putBreak();
  return e.output();
}
