/**
 * Command-line handling with the behaviour of the Go libraries upstream's dpservice-cli is built
 * on (spf13/cobra and spf13/pflag): command lookup with aliases and case-insensitive names,
 * persistent flags inherited by subcommands, `--flag=value`, `--flag value`, `-o json`, `-ojson`,
 * bundled shorthands, typed flag values with Go's parse errors, required flags, and cobra's
 * help layout. Commands and flags are declared in cli-commands.ts. Control path only.
 */
import {
  GoError, csvRecord, durationString, goQuote, goQuoteRune, parseBool, parseDuration, parseInt64, parseUint,
} from './cli-go.js';
import { Addr, Prefix, parseAddr, parsePrefix } from './cli-netip.js';

/** pflag Value.Type() of the flag kinds dpservice-cli uses. */
export type FlagType = 'string' | 'bool' | 'uint8' | 'uint32' | 'uint64' | 'int32' | 'duration' | 'ip' | 'ipprefix' | 'stringSlice';

/** A flag value: strings, booleans, uint8/uint32/int32 numbers, uint64 and durations (ns) as bigint. */
export type FlagValue = string | boolean | number | bigint | Addr | Prefix | string[];

/** Trims like Go's strings.TrimSpace (the ip and ipprefix flag types do). */
function goTrimSpace(s: string): string {
  return s.replace(/^[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g, '');
}

/** A pflag.Flag with its current value. */
export class Flag {
  value: FlagValue;
  changed = false;
  required = false;
  readonly defValue: string;

  constructor(
    readonly name: string,
    readonly type: FlagType,
    defaultValue: FlagValue,
    readonly usage: string,
    readonly short = '',
  ) {
    this.value = defaultValue;
    this.defValue = this.string();
  }

  /** Value.String() */
  string(): string {
    const v = this.value;
    if (this.type === 'bool') return v ? 'true' : 'false';
    if (this.type === 'duration') return durationString(v as bigint);
    if (this.type === 'stringSlice') return `[${(v as string[]).join(',')}]`;
    return String(v);
  }

  /** Bool flags take no value on the command line ("--pretty" means "--pretty=true"). */
  get noOptValue(): string {
    return this.type === 'bool' ? 'true' : '';
  }

  /** Value.Set(s), with pflag's "invalid argument" wrapping of parse errors. */
  set(s: string): void {
    let v: FlagValue;
    try {
      switch (this.type) {
        case 'string':
          v = s;
          break;
        case 'bool':
          v = parseBool(s);
          break;
        case 'uint8':
          v = Number(parseUint(s, 0, 8));
          break;
        case 'uint32':
          v = Number(parseUint(s, 0, 32));
          break;
        case 'uint64':
          v = parseUint(s, 0, 64);
          break;
        case 'int32':
          v = Number(parseInt64(s, 0, 32));
          break;
        case 'duration':
          v = parseDuration(s);
          break;
        case 'ip':
          v = parseAddr(goTrimSpace(s));
          break;
        case 'ipprefix':
          v = parsePrefix(goTrimSpace(s));
          break;
        case 'stringSlice': {
          // CSV; a repeated flag appends
          const items = s === '' ? [] : csvRecord(s);
          v = this.changed ? [...(this.value as string[]), ...items] : items;
          break;
        }
      }
    } catch (e) {
      if (!(e instanceof GoError)) throw e;
      const name = this.short ? `-${this.short}, --${this.name}` : `--${this.name}`;
      throw new GoError(`invalid argument ${goQuote(s)} for ${goQuote(name)} flag: ${e.text}`);
    }
    this.value = v;
    this.changed = true;
  }

  /** Flag.defaultIsZeroValue: help shows "(default ...)" only for other defaults. */
  zeroDefault(): boolean {
    switch (this.type) {
      case 'bool':
        return this.defValue === 'false';
      case 'duration':
        return this.defValue === '0' || this.defValue === '0s';
      case 'uint8':
      case 'uint32':
      case 'uint64':
      case 'int32':
        return this.defValue === '0';
      case 'string':
        return this.defValue === '';
      case 'stringSlice':
        return this.defValue === '[]';
      default:
        return ['false', '<nil>', '', '0'].includes(this.string());
    }
  }
}

/** Positional-argument rule of a command (cobra's Args). */
export type ArgsRule = 'exact0' | 'noargs' | 'any' | 'completion';

/** What a command's run function gets: its command, flags by name and positional args. */
export interface Invocation {
  cmd: Command;
  flags: Map<string, Flag>;
  args: string[];
}

/** A cobra.Command. */
export class Command {
  parent: Command | undefined;
  readonly children: Command[] = [];
  /** help/version flags, added before parsing (cobra's InitDefaultHelpFlag/VersionFlag). */
  private readonly extra: Flag[] = [];
  /** Run before the required-flag check (PreRunE): may mark more flags required. */
  prerun: ((flags: Map<string, Flag>) => void) | undefined;
  /** Set on the root only: `-v` prints "<name> version <version>". */
  version = '';

  constructor(
    readonly use: string,
    public short: string,
    readonly aliases: string[],
    readonly args: ArgsRule,
    readonly run: ((inv: Invocation) => Promise<void>) | undefined,
    readonly local: Flag[] = [],
    readonly persistent: Flag[] = [],
    required: string[] = [],
    children: Command[] = [],
    readonly example = '',
  ) {
    for (const f of local) f.required = required.includes(f.name);
    for (const c of children) this.add(c);
  }

  add(child: Command): void {
    child.parent = this;
    this.children.push(child);
  }

  get name(): string {
    return this.use.split(' ')[0]!;
  }

  path(): string {
    return this.parent ? `${this.parent.path()} ${this.name}` : this.name;
  }

  private *ancestors(): Generator<Command> {
    for (let p = this.parent; p; p = p.parent) yield p;
  }

  /** c.Flags() after mergePersistentFlags: own flags first, then the nearest ancestors'. */
  flags(): Map<string, Flag> {
    const fs = new Map<string, Flag>();
    for (const f of [...this.local, ...this.persistent, ...this.extra]) if (!fs.has(f.name)) fs.set(f.name, f);
    for (const p of this.ancestors()) for (const f of p.persistent) if (!fs.has(f.name)) fs.set(f.name, f);
    return fs;
  }

  shorthands(): Map<string, Flag> {
    const m = new Map<string, Flag>();
    for (const f of this.flags().values()) if (f.short) m.set(f.short, f);
    return m;
  }

  runnable(): boolean {
    return this.run !== undefined;
  }

  private available(): boolean {
    return this.name !== 'help' && (this.runnable() || this.children.some((c) => c.available()));
  }

  /** cobra findNext with EnableCaseInsensitive. */
  findNext(word: string): Command | undefined {
    const w = word.toLowerCase();
    return this.children.find((c) => c.name.toLowerCase() === w || c.aliases.some((a) => a.toLowerCase() === w));
  }

  initDefaultFlags(): void {
    if (!this.flags().has('help')) this.extra.push(new Flag('help', 'bool', false, `help for ${this.name}`, 'h'));
    if (this.version && !this.flags().has('version')) {
      this.extra.push(new Flag('version', 'bool', false, `version for ${this.name}`, this.shorthands().has('v') ? '' : 'v'));
    }
  }

  // ---- help, laid out like cobra's default help -------------------------------------------------

  helpText(): string {
    let out = this.short ? `${this.short.trimEnd()}\n\n` : '';
    if (this.runnable() || this.children.length > 0) out += this.usageText();
    return out;
  }

  private useLine(): string {
    let line = this.parent ? `${this.parent.path()} ${this.use}` : this.use;
    if (this.name !== 'completion' && this.flags().size > 0 && !line.includes('[flags]')) line += ' [flags]';
    return line;
  }

  private inheritedMap(): Map<string, Flag> {
    const inherited = new Map<string, Flag>();
    for (const p of this.ancestors()) for (const f of p.persistent) if (!inherited.has(f.name)) inherited.set(f.name, f);
    return inherited;
  }

  private localFlags(): Map<string, Flag> {
    const inherited = this.inheritedMap();
    const out = new Map<string, Flag>();
    for (const f of [...this.flags().values(), ...this.persistent]) {
      if (!out.has(f.name) && inherited.get(f.name) !== f) out.set(f.name, f);
    }
    return out;
  }

  private usageText(): string {
    const subs = [...this.children].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const hasSubs = subs.some((c) => c.available());
    let t = 'Usage:';
    if (this.runnable()) t += `\n  ${this.useLine()}`;
    if (hasSubs) t += `\n  ${this.path()} [command]`;
    if (this.aliases.length > 0) t += `\n\nAliases:\n  ${[this.name, ...this.aliases].join(', ')}`;
    if (this.example) t += `\n\nExamples:\n${this.example}`;
    if (hasSubs) {
      const pad = Math.max(11, ...this.children.map((c) => c.name.length));
      t += '\n\nAvailable Commands:';
      for (const c of subs) if (c.available() || c.name === 'help') t += `\n  ${c.name.padEnd(pad)} ${c.short}`;
    }
    const local = this.localFlags();
    if (local.size > 0) t += `\n\nFlags:\n${flagUsages([...local.values()]).trimEnd()}`;
    const inherited = new Map<string, Flag>();
    for (const [name, f] of this.inheritedMap()) if (!local.has(name)) inherited.set(name, f);
    if (inherited.size > 0) t += `\n\nGlobal Flags:\n${flagUsages([...inherited.values()]).trimEnd()}`;
    return `${t}\n`;
  }
}

/** pflag FlagSet.FlagUsages */
function flagUsages(flags: Flag[]): string {
  const lines = [...flags].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((f): [string, string] => {
    let line = f.short ? `  -${f.short}, --${f.name}` : `      --${f.name}`;
    const varname = ({ bool: '', uint64: 'uint', stringSlice: 'strings' } as Record<string, string>)[f.type] ?? f.type;
    if (varname) line += ` ${varname}`;
    let usage = f.usage;
    if (!f.zeroDefault()) usage += f.type === 'string' ? ` (default ${goQuote(f.defValue)})` : ` (default ${f.defValue})`;
    return [line, usage];
  });
  const maxLen = lines.length > 0 ? Math.max(...lines.map(([l]) => l.length)) + 1 : 0;
  return lines.map(([line, usage]) => `${line} ${' '.repeat(maxLen - line.length)} ${usage}\n`).join('');
}

// ---- command line --------------------------------------------------------------------------------

/** cobra stripFlags: the words that are not flags or flag values. */
function stripFlags(args: string[], cmd: Command): string[] {
  const fs = cmd.flags();
  const shorts = cmd.shorthands();
  const words: string[] = [];
  for (let i = 0; i < args.length;) {
    const s = args[i]!;
    i++;
    if (s === '--') break;
    let takesValue = false;
    if (s.startsWith('--') && !s.includes('=')) takesValue = !fs.get(s.slice(2))?.noOptValue;
    else if (s.startsWith('-') && !s.includes('=') && s.length === 2) takesValue = !shorts.get(s.slice(1))?.noOptValue;
    else if (s !== '' && !s.startsWith('-')) {
      words.push(s);
      continue;
    }
    if (takesValue) {
      if (args.length - i <= 1) break;
      i++;
    }
  }
  return words;
}

/** cobra Command.Find: the command the words name, and the remaining arguments. */
export function findCommand(root: Command, argv: string[]): [Command, string[]] {
  let c = root;
  let args = argv;
  for (;;) {
    const words = stripFlags(args, c);
    const first = words[0];
    if (first === undefined) return [c, args];
    const next = c.findNext(first);
    if (next === undefined) return [c, args];
    const i = args.indexOf(first);
    args = [...args.slice(0, i), ...args.slice(i + 1)];
    c = next;
  }
}

/** pflag FlagSet.Parse: sets the flags, returns the positional arguments. */
export function parseFlags(cmd: Command, args: string[]): string[] {
  const fs = cmd.flags();
  const shorts = cmd.shorthands();
  const pos: string[] = [];
  for (let i = 0; i < args.length;) {
    const s = args[i]!;
    i++;
    if (s.length < 2 || s[0] !== '-') {
      pos.push(s);
      continue;
    }
    if (s[1] === '-') {
      if (s.length === 2) {
        pos.push(...args.slice(i));
        break;
      }
      const body = s.slice(2);
      if (body[0] === '-' || body[0] === '=') throw new GoError(`bad flag syntax: ${s}`);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      const f = fs.get(name);
      if (f === undefined) throw new GoError(`unknown flag: --${name}`);
      let value: string;
      if (eq >= 0) value = body.slice(eq + 1);
      else if (f.noOptValue) value = f.noOptValue;
      else if (i < args.length) value = args[i++]!;
      else throw new GoError(`flag needs an argument: ${s}`);
      f.set(value);
      continue;
    }
    let shorthands = s.slice(1);
    while (shorthands !== '') {
      const c = shorthands[0]!;
      const f = shorts.get(c);
      if (f === undefined) throw new GoError(`unknown shorthand flag: ${goQuoteRune(c)} in -${shorthands}`);
      let rest = shorthands.slice(1);
      let value: string;
      if (shorthands.length > 2 && shorthands[1] === '=') {
        value = shorthands.slice(2);
        rest = '';
      } else if (f.noOptValue) value = f.noOptValue;
      else if (shorthands.length > 1) {
        value = shorthands.slice(1);
        rest = '';
      } else if (i < args.length) value = args[i++]!;
      else throw new GoError(`flag needs an argument: ${goQuoteRune(c)} in -${shorthands}`);
      f.set(value);
      shorthands = rest;
    }
  }
  return pos;
}

/** cobra's positional-argument validators. */
export function validateArgs(cmd: Command, args: string[]): void {
  if (cmd.args === 'noargs' && args.length > 0) {
    throw new GoError(`unknown command ${goQuote(args[0]!)} for ${goQuote(cmd.path())}`);
  }
  if (cmd.args === 'exact0' && args.length > 0) throw new GoError(`accepts 0 arg(s), received ${args.length}`);
  if (cmd.args === 'completion') {
    if (args.length !== 1) throw new GoError(`accepts 1 arg(s), received ${args.length}`);
    if (!['bash', 'zsh', 'fish', 'powershell'].includes(args[0]!)) {
      throw new GoError(`invalid argument ${goQuote(args[0]!)} for ${goQuote(cmd.path())}`);
    }
  }
}

/**
 * cobra Command.ExecuteC: finds the command, parses its flags, handles -h and -v, checks
 * positional args and required flags, then runs it. Help and version text go to write.
 */
export async function execute(root: Command, argv: string[], write: (text: string) => void): Promise<void> {
  const [cmd, args] = findCommand(root, argv);
  cmd.initDefaultFlags();
  const pos = parseFlags(cmd, args);
  const fs = cmd.flags();
  if (fs.get('help')?.value === true || !cmd.runnable()) {
    write(cmd.helpText());
    return;
  }
  if (cmd.version && fs.get('version')?.value === true) {
    write(`${cmd.name} version ${cmd.version}\n`);
    return;
  }
  validateArgs(cmd, pos);
  cmd.prerun?.(fs);
  const missing = [...fs.values()].filter((f) => f.required && !f.changed).map((f) => f.name).sort();
  if (missing.length > 0) throw new GoError(`required flag(s) "${missing.join('", "')}" not set`);
  await cmd.run!({ cmd, flags: fs, args: pos });
}
