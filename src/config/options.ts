/**
 * Command line and config file of `dpservice-bin`: `<EAL args> -- <service args>`, with service
 * options also read from a `key value` file first. Everything is driven by `OPTION_TABLE`.
 *
 * Behaviour follows upstream (`src/dp_conf.c`, getopt_long): options are applied in order, `-h`
 * and `-v` act when reached, unambiguous prefixes of long options are accepted, scalars given
 * later override earlier ones and repeatable options accumulate (file first). Deliberate
 * differences: stray positional arguments and trailing text on config lines are errors instead of
 * being ignored, config line numbers are 1-based, and missing required options and the
 * multiport-eswitch/offload conflict are reported here instead of after EAL start-up.
 */

import { existsSync, readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import {
  DEFAULT_CONF_FILE,
  OPTION_TABLE,
  VIRTSVC_MAX,
  type OptionDef,
  type ServiceOptions,
} from './option-table.js';

export type { ColorMode, LogFormat, NicType, OptionDef, OptionType, ServiceOptions } from './option-table.js';
export { DEFAULT_CONF_FILE, OPTION_TABLE, VIRTSVC_MAX } from './option-table.js';

/** The table widened to its row interface, for generic code. */
const TABLE: readonly OptionDef[] = OPTION_TABLE;

/** Outcome of parsing: run with these options, or exit (help, version, or an error). */
export type ParseResult =
  | { kind: 'run'; options: ServiceOptions }
  | { kind: 'exit'; code: number; stdout?: string; stderr?: string };

/** Reads a config file; returns undefined when it does not exist, throws on other errors. */
export type ReadConfigFile = (path: string) => string | undefined;

/** A bad option, value or config line. The message is one line and names the option. */
export class OptionError extends Error {
  override name = 'OptionError';
}

/** One virtual service, `IPv4,port,IPv6,port` split into its parts. */
export interface VirtsvcSpec {
  virtualIp: string;
  virtualPort: number;
  serviceIp: string;
  servicePort: number;
}

/**
 * `v` + the `version` field of our package.json, e.g. `v0.1.0` (upstream prints its git describe,
 * also `v`-prefixed). Read once at module load.
 */
export const VERSION = `v${readPackageVersion()}`;

function readPackageVersion(): string {
  // Walk up from this module: src/config (ts sources) or dist/src/config (compiled).
  let dir = new URL('./', import.meta.url);
  for (let depth = 0; depth < 5; depth++) {
    const file = new URL('package.json', dir);
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'dpservice-ts' && typeof pkg.version === 'string') return pkg.version;
    }
    dir = new URL('../', dir);
  }
  return '0.0.0-unknown';
}

/** Default `ReadConfigFile`: a missing file (or missing directory) reads as undefined. */
export function readConfigFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/**
 * Splits process arguments (after the program name) at the first `--` into EAL and service
 * arguments. Without `--` everything belongs to EAL, except when the first argument is
 * `-h`/`--help`/`-v`/`--version`, so that `dpservice-bin -v` works.
 */
export function splitArgs(argv: string[]): { eal: string[]; service: string[] } {
  const sep = argv.indexOf('--');
  if (sep >= 0) return { eal: argv.slice(0, sep), service: argv.slice(sep + 1) };
  const first = argv[0];
  if (first === '-h' || first === '--help' || first === '-v' || first === '--version') {
    return { eal: [], service: argv.slice() };
  }
  return { eal: argv.slice(), service: [] };
}

/** Options with every field at its table default ('' for strings, false for flags, [] for lists). */
export function defaultOptions(): ServiceOptions {
  const opts: Record<string, unknown> = {};
  for (const def of TABLE) {
    if (def.key === undefined) continue;
    if (def.repeatable) opts[def.key] = [];
    else if (def.type === 'flag') opts[def.key] = false;
    else opts[def.key] = def.default ?? '';
  }
  // Complete by construction: option-table.ts checks at compile time that every field has a row.
  return opts as unknown as ServiceOptions;
}

/**
 * Parses the service arguments (the part after `--`), reading the config file first: `env.DP_CONF`
 * names it when defined (empty = no file; a missing named file is an error), otherwise
 * `/run/dpservice/dpservice.conf` is read if it exists. `readFile` is injectable for tests.
 */
export function parseServiceArgs(
  args: string[],
  env: Record<string, string | undefined>,
  readFile: ReadConfigFile = readConfigFile,
): ParseResult {
  const state = newState();
  try {
    const named = env.DP_CONF;
    const path = named ?? DEFAULT_CONF_FILE;
    if (path !== '') {
      const text = readConfig(readFile, path);
      if (text !== undefined) applyConfigFile(state, path, text);
      else if (named !== undefined) throw new OptionError(`Cannot open config file '${path}' (named by DP_CONF): no such file`);
    }
    const exit = applyCommandLine(state, args);
    if (exit !== undefined) return exit;
    checkRunnable(state.options);
    return { kind: 'run', options: state.options };
  } catch (err) {
    if (err instanceof OptionError) return { kind: 'exit', code: 1, stderr: `${err.message}\n` };
    throw err;
  }
}

/** Splits and checks a virtual-service spec `IPv4,port,IPv6,port`; throws `OptionError`. */
export function parseVirtsvc(spec: string): VirtsvcSpec {
  const parsed = virtsvcParts(spec);
  if (typeof parsed === 'string') throw new OptionError(`Invalid virtual service '${spec}': ${parsed}`);
  return parsed;
}

/** `--help` output, generated from the table. */
export function helpText(): string {
  const main = TABLE.filter((d) => !d.fileOnly && !d.extension);
  const ext = TABLE.filter((d) => d.extension && !d.fileOnly);
  const file = TABLE.filter((d) => d.fileOnly);
  const cliLeft = (d: OptionDef): string =>
    `${d.short !== undefined ? ` -${d.short}, ` : '     '}--${d.name}${d.arg !== undefined ? `=${d.arg}` : ''}`;
  const fileLeft = (d: OptionDef): string => `     ${d.name}${d.arg !== undefined ? ` ${d.arg}` : ''}`;
  const lefts = [...main.map(cliLeft), ...ext.map(cliLeft), ...file.map(fileLeft)];
  const width = Math.max(...lefts.map((l) => l.length)) + 2;
  const row = (left: string, d: OptionDef): string => `${left.padEnd(width)}${describe(d)}`;
  return [
    'Usage: dpservice-bin [EAL options] -- [options]',
    ...main.map((d) => row(cliLeft(d), d)),
    '',
    'dpservice-ts extensions:',
    ...ext.map((d) => row(cliLeft(d), d)),
    '',
    `Config file: read before the command line from $DP_CONF, or ${DEFAULT_CONF_FILE} when DP_CONF`,
    'is unset (DP_CONF="" reads no file). One \'key value\' per line: the key is a long option without',
    '\'--\', flags have no value, lines starting with \'#\' are comments. Keys valid only in the file:',
    ...file.map((d) => row(fileLeft(d), d)),
    '',
  ].join('\n');
}

/** A row's help text plus what the table knows about its values. */
function describe(d: OptionDef): string {
  let text = d.help;
  if (d.type === 'int') text += ` (${d.min} - ${d.max}, default ${d.default})`;
  if (d.choices !== undefined) {
    const names = d.choices.map((c) => (c === d.default ? `'${c}' (default)` : `'${c}'`));
    text += `: ${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
  }
  if (d.type === 'virtsvc') text += ` (can be used multiple times, at most ${VIRTSVC_MAX} services in total)`;
  else if (d.repeatable) text += ` (can be used multiple times, at most ${d.maxCount})`;
  if (d.required) text += ' (required)';
  return text;
}

interface ParseState {
  options: ServiceOptions;
  /** Per protocol: virtual `ip:port` and canonical service `ip|port` keys already taken. */
  virtsvcTaken: { udpVirtsvc: Set<string>; tcpVirtsvc: Set<string> };
}

function newState(): ParseState {
  return { options: defaultOptions(), virtsvcTaken: { udpVirtsvc: new Set(), tcpVirtsvc: new Set() } };
}

function readConfig(readFile: ReadConfigFile, path: string): string | undefined {
  try {
    return readFile(path);
  } catch (err) {
    throw new OptionError(`Cannot read config file '${path}': ${err instanceof Error ? err.message : String(err)}`);
  }
}

const FILE_KEYS = new Map(TABLE.filter((d) => d.action === undefined).map((d) => [d.name, d]));
const CLI_LONG = TABLE.filter((d) => !d.fileOnly);
const CLI_SHORT = new Map(CLI_LONG.filter((d) => d.short !== undefined).map((d) => [`-${d.short}`, d]));

/** Applies a config file: `key value` lines, `#` comment lines, flags without a value. */
function applyConfigFile(state: ParseState, path: string, text: string): void {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `Config file '${path}' line ${i + 1}: `;
    const tokens = line.split(/\s+/);
    // A token starting with '#' after the key begins a trailing comment.
    const hash = tokens.findIndex((t, idx) => idx > 0 && t.startsWith('#'));
    const words = hash < 0 ? tokens : tokens.slice(0, hash);
    const key = words[0] ?? '';
    const def = FILE_KEYS.get(key);
    if (def === undefined) throw new OptionError(`${where}unknown key '${key}'`);
    if (def.type === 'flag') {
      if (words.length > 1) throw new OptionError(`${where}'${key}' is a flag and takes no value`);
      applyFlag(state, def);
      continue;
    }
    const value = words[1];
    if (value === undefined) throw new OptionError(`${where}missing value for '${key}'`);
    if (words.length > 2) throw new OptionError(`${where}unexpected '${words[2]}' after the value of '${key}'`);
    applyValue(state, def, value, key, where);
  }
}

/** Applies command-line arguments in order; returns an exit result for `-h`/`-v`. */
function applyCommandLine(state: ParseState, args: string[]): ParseResult | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--') {
      const rest = args[i + 1];
      if (rest !== undefined) throw new OptionError(`Unexpected argument '${rest}'`);
      break;
    }
    let def: OptionDef;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      def = findLong(eq < 0 ? arg.slice(2) : arg.slice(2, eq));
      if (eq >= 0) inline = arg.slice(eq + 1);
    } else if (arg.startsWith('-') && arg.length > 1) {
      // Only -h and -v exist; both act immediately, so a group like -hv acts on its first letter.
      const found = CLI_SHORT.get(arg.slice(0, 2));
      if (found === undefined) throw new OptionError(`Unknown option ${arg.slice(0, 2)}`);
      def = found;
      if (arg.length > 2) inline = arg.slice(2);
      if (def.type === 'flag' && inline !== undefined && def.action === undefined) {
        throw new OptionError(`Unknown option ${arg}`);
      }
    } else {
      throw new OptionError(`Unexpected argument '${arg}'`);
    }
    const label = `--${def.name}`;
    if (def.action === 'help') return { kind: 'exit', code: 0, stdout: helpText() };
    if (def.action === 'version') return { kind: 'exit', code: 0, stdout: `DP Service version ${VERSION}\n` };
    if (def.type === 'flag') {
      if (inline !== undefined) throw new OptionError(`Option ${label} takes no value`);
      applyFlag(state, def);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = args[i + 1];
      if (next === undefined || looksLikeOption(next)) throw new OptionError(`Missing value for ${label}`);
      value = next;
      i++;
    }
    applyValue(state, def, value, label, '');
  }
  return undefined;
}

/** A following argument that is an option, not a value (negative numbers are values). */
function looksLikeOption(arg: string): boolean {
  return arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg);
}

/** Exact long name, else a unique prefix (getopt_long accepts abbreviations). */
function findLong(name: string): OptionDef {
  const exact = CLI_LONG.find((d) => d.name === name);
  if (exact !== undefined) return exact;
  const candidates = name === '' ? [] : CLI_LONG.filter((d) => d.name.startsWith(name));
  const only = candidates[0];
  if (only !== undefined && candidates.length === 1) return only;
  if (candidates.length > 1) {
    throw new OptionError(`Ambiguous option --${name} (could be ${candidates.map((d) => `--${d.name}`).join(', ')})`);
  }
  throw new OptionError(`Unknown option --${name}`);
}

/** The options object seen as writable fields; every key written comes from the table. */
function fields(state: ParseState): Record<string, unknown> {
  return state.options as unknown as Record<string, unknown>;
}

function applyFlag(state: ParseState, def: OptionDef): void {
  if (def.key !== undefined) fields(state)[def.key] = true;
}

/**
 * Checks and stores one value. `label` names the option as the user wrote it (`--grpc-port` on
 * the command line, `grpc-port` in the file); `where` prefixes config-file errors.
 */
function applyValue(state: ParseState, def: OptionDef, value: string, label: string, where: string): void {
  const key = def.key;
  if (key === undefined) return;
  const invalid = (reason: string): OptionError =>
    new OptionError(`${where}Invalid value '${value}' for ${label}: ${reason}`);
  let parsed: string | number = value;
  switch (def.type) {
    case 'int': {
      if (!/^[+-]?\d+$/.test(value)) throw invalid('not an integer');
      parsed = Number(value);
      if (parsed < (def.min ?? -Infinity) || parsed > (def.max ?? Infinity)) {
        throw invalid(`out of range (${def.min} - ${def.max})`);
      }
      break;
    }
    case 'string':
      if (def.maxLength !== undefined && Buffer.byteLength(value) > def.maxLength) {
        throw invalid(`longer than ${def.maxLength} bytes`);
      }
      break;
    case 'ipv4':
      if (!isIPv4(value)) throw invalid('not an IPv4 address');
      break;
    case 'ipv6':
      if (!isStrictIPv6(value)) throw invalid('not an IPv6 address');
      break;
    case 'enum':
      if (!(def.choices ?? []).includes(value)) {
        throw invalid(`choose from ${(def.choices ?? []).map((c) => `'${c}'`).join(', ')}`);
      }
      break;
    case 'virtsvc': {
      const spec = virtsvcParts(value);
      if (typeof spec === 'string') throw invalid(spec);
      const total = state.options.udpVirtsvc.length + state.options.tcpVirtsvc.length;
      if (total >= VIRTSVC_MAX) {
        throw new OptionError(`${where}Too many virtual services at ${label} (at most ${VIRTSVC_MAX}, UDP and TCP together)`);
      }
      // Upstream rejects a second service of the same protocol on either endpoint.
      const taken = key === 'udpVirtsvc' ? state.virtsvcTaken.udpVirtsvc : state.virtsvcTaken.tcpVirtsvc;
      const virtualKey = `v ${spec.virtualIp} ${spec.virtualPort}`;
      const serviceKey = `s ${canonicalIPv6(spec.serviceIp)} ${spec.servicePort}`;
      if (taken.has(virtualKey)) throw invalid(`IPv4 endpoint ${spec.virtualIp}:${spec.virtualPort} is already used`);
      if (taken.has(serviceKey)) throw invalid(`IPv6 endpoint [${spec.serviceIp}]:${spec.servicePort} is already used`);
      taken.add(virtualKey);
      taken.add(serviceKey);
      break;
    }
    case 'flag':
      fields(state)[key] = true;
      return;
  }
  if (def.repeatable) {
    const list = fields(state)[key] as string[];
    if (def.type !== 'virtsvc' && def.maxCount !== undefined && list.length >= def.maxCount) {
      throw new OptionError(`${where}Too many values for ${label} (at most ${def.maxCount})`);
    }
    list.push(value);
  } else {
    fields(state)[key] = parsed;
  }
}

/** node:net accepts zone ids (`fe80::1%eth0`); inet_pton, which upstream uses, does not. */
function isStrictIPv6(value: string): boolean {
  return isIPv6(value) && !value.includes('%');
}

/** One spelling per IPv6 address (compressed, lower case), so duplicates are found. */
function canonicalIPv6(value: string): string {
  return new URL(`http://[${value}]/`).hostname;
}

/** Splits `IPv4,port,IPv6,port`; returns the parts or the reason it is invalid. */
function virtsvcParts(spec: string): VirtsvcSpec | string {
  const parts = spec.split(',');
  if (parts.length !== 4) return 'expected IPv4,port,IPv6,port';
  const [virtualIp = '', virtualPortText = '', serviceIp = '', servicePortText = ''] = parts;
  if (!isIPv4(virtualIp)) return `invalid IPv4 address '${virtualIp}'`;
  const virtualPort = portNumber(virtualPortText);
  if (virtualPort === undefined) return `invalid IPv4 port '${virtualPortText}'`;
  if (!isStrictIPv6(serviceIp)) return `invalid IPv6 address '${serviceIp}'`;
  const servicePort = portNumber(servicePortText);
  if (servicePort === undefined) return `invalid IPv6 port '${servicePortText}'`;
  return { virtualIp, virtualPort, serviceIp, servicePort };
}

/** 1..65535 in decimal, else undefined (upstream rejects port 0). */
function portNumber(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** Checks that need the whole configuration. */
function checkRunnable(options: ServiceOptions): void {
  if (options.multiportEswitch && !options.noOffload) {
    throw new OptionError(
      'HW offloading is not supported in multiport e-switch mode: --multiport-eswitch requires --no-offload',
    );
  }
  for (const def of TABLE) {
    if (def.required && def.key !== undefined && options[def.key] === '') {
      throw new OptionError(`Missing required option --${def.name}`);
    }
  }
}
