/**
 * The logging actor: one pino logger for the process, in upstream's two formats. JSON lines carry
 * upstream's field names (ts, level, logger, msg plus key/values); text lines are
 * `ts LEVEL logger: msg key=value ...`, coloured by level with --color always (or auto on a TTY).
 */
import { pino, type Logger } from 'pino';

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARNING', 50: 'ERR', 60: 'CRIT' };
const COLORS: Record<number, string> = { 20: '\x1b[2m', 30: '', 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[1;31m' };

export interface LogOptions {
  format: 'text' | 'json';
  color: 'never' | 'always' | 'auto';
  level?: string;
  /** Where lines go (default: stdout). */
  write?: (line: string) => void;
}

export function createLogger(o: LogOptions): Logger {
  const write = o.write ?? ((line: string) => { process.stdout.write(line); });
  const color = o.color === 'always' || (o.color === 'auto' && process.stdout.isTTY === true);
  const stream = {
    write(json: string): void {
      if (o.format === 'json') {
        write(json);
        return;
      }
      write(toText(json, color));
    },
  };
  return pino({
    level: o.level ?? 'info',
    // no base bindings: every actor logs through a child that names its logger (see loggerFor)
    base: undefined,
    messageKey: 'msg',
    timestamp: () => `,"ts":"${new Date().toISOString()}"`,
    formatters: { level: (_label, number) => ({ level: LEVEL_NAMES[number] ?? String(number) }) },
  }, stream);
}

const LEVEL_NUMBERS: Record<string, number> = { TRACE: 10, DEBUG: 20, INFO: 30, WARNING: 40, ERR: 50, CRIT: 60 };

function toText(json: string, color: boolean): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { ts, level, logger, msg, ...rest } = rec;
  const kv = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const line = `${String(ts)} ${String(level)} ${String(logger)}: ${String(msg ?? '')}${kv ? ' ' + kv : ''}`;
  const c = color ? COLORS[LEVEL_NUMBERS[String(level)] ?? 30] : '';
  return c ? `${c}${line}\x1b[0m\n` : `${line}\n`;
}

/** The logger of one of upstream's log sources: `service`, `graph` or `grpc`. */
export function loggerFor(root: Logger, name: 'service' | 'graph' | 'grpc'): Logger {
  return root.child({ logger: name });
}
