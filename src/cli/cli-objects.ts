/**
 * The api objects of upstream's go/dpservice-go (Interface, Prefix, Route, ... and their lists) as
 * dpservice-cli prints them, and Go's encoding/json for them. An object keeps exactly the keys Go's
 * encoding/json would emit (omitempty applied), in Go struct field order. Control path only.
 */
import { isEscapedByte } from './cli-go.js';
import { Addr, Prefix } from './cli-netip.js';

/** A value inside an object: what encoding/json can meet in the api types. */
export type GoValue = string | number | bigint | boolean | null | Addr | Prefix | Obj | Lst | GoValue[] | GoMap;
/** A Go struct (or map) as an ordered key/value record. */
export interface GoMap {
  [key: string]: GoValue;
}

/** api.Status: [code, message]. */
export type Status = readonly [number, string];
export const STATUS_OK: Status = [0, ''];

/**
 * An api object. `typ` is the Go type name (renderers switch on it), `kind` its TypeMeta.Kind
 * (may be empty: some client calls leave it unset).
 */
export class Obj {
  constructor(
    public typ: string,
    public kind: string,
    public meta: GoMap,
    public spec: GoMap,
    public status: Status = STATUS_OK,
  ) {}

  json(): GoMap {
    return { kind: this.kind, metadata: this.meta, spec: this.spec, status: { code: this.status[0], message: this.status[1] } };
  }
}

/** An api list (InterfaceList, ...); items null is a nil slice (JSON null). */
export class Lst {
  constructor(
    public typ: string,
    public kind: string,
    public meta: GoMap,
    public status: Status = STATUS_OK,
    public items: Obj[] | null = null,
  ) {}

  json(): GoMap {
    return {
      kind: this.kind,
      metadata: this.meta,
      status: { code: this.status[0], message: this.status[1] },
      items: this.items === null ? null : this.items.map((i) => i.json()),
    };
  }
}

function isMap(v: GoValue): v is GoMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Addr) && !(v instanceof Prefix) &&
    !(v instanceof Obj) && !(v instanceof Lst);
}

/**
 * The value as JSON-decoded data (what ghodss/yaml sees after json.Marshal): addresses as text,
 * objects as maps, invalid UTF-8 replaced by U+FFFD.
 */
export function plain(v: GoValue): GoValue {
  if (v instanceof Obj || v instanceof Lst) return plain(v.json());
  if (v instanceof Addr || v instanceof Prefix) return v.text();
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'string') return v.replace(/[\udc80-\udcff]/g, '\ufffd');
  if (v !== null && isMap(v)) {
    const out: GoMap = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}

// ---- encoding/json ------------------------------------------------------------------------------

const JSON_ESC: Record<string, string> = {
  '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t',
  '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029',
};

/** A JSON string as encoding/json writes it (HTML-safe escapes, invalid UTF-8 as \ufffd). */
export function jsonString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const esc = JSON_ESC[ch];
    if (esc !== undefined) out += esc;
    else if (ch < ' ') out += `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
    else if (isEscapedByte(ch.charCodeAt(0))) out += '\\ufffd';
    else out += ch;
  }
  return `${out}"`;
}

function encode(v: GoValue, out: string[], indent: string, depth: number): void {
  if (v === null) out.push('null');
  else if (typeof v === 'boolean') out.push(v ? 'true' : 'false');
  else if (typeof v === 'number' || typeof v === 'bigint') out.push(v.toString());
  else if (typeof v === 'string') out.push(jsonString(v));
  else if (v instanceof Addr || v instanceof Prefix) out.push(jsonString(v.text()));
  else if (v instanceof Obj || v instanceof Lst) encode(v.json(), out, indent, depth);
  else {
    const isArr = Array.isArray(v);
    const entries: Array<[string | null, GoValue]> = isArr ? v.map((x) => [null, x]) : Object.entries(v);
    if (entries.length === 0) {
      out.push(isArr ? '[]' : '{}');
      return;
    }
    out.push(isArr ? '[' : '{');
    entries.forEach(([k, x], n) => {
      if (n > 0) out.push(',');
      if (indent) out.push(`\n${indent.repeat(depth + 1)}`);
      if (k !== null) out.push(jsonString(k) + (indent ? ': ' : ':'));
      encode(x, out, indent, depth + 1);
    });
    if (indent) out.push(`\n${indent.repeat(depth)}`);
    out.push(isArr ? ']' : '}');
  }
}

/** json.Marshal, or an Encoder with SetIndent("", "  ") when pretty; no trailing newline. */
export function goJson(v: GoValue, pretty = false): string {
  const out: string[] = [];
  encode(v, out, pretty ? '  ' : '', 0);
  return out.join('');
}
