/**
 * dpservice-cli: the command-line client of dpservice's gRPC API, a drop-in for upstream's Go
 * `dpservice-cli` (same commands, aliases, flags, outputs, error objects and exit codes).
 *
 *   dpservice-cli [--address host:port] [-o json|yaml|name|table] [--pretty] [-w] <verb> <object> [flags]
 *
 * Exit status: 0 on success, 2 for an error reported by the service (`"source":"server"`) and for
 * a service that does not implement the call, 1 for everything else (bad flags, unreachable
 * service, gRPC errors). Control path only.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { VERSION } from '../config/options.js';
import { buildCli, type CliContext } from './cli-commands.js';
import { execute } from './cli-flags.js';
import { GoError, GoPanic, NIL_DEREF, goBytes } from './cli-go.js';
import { renderError } from './cli-render.js';

/** Exit codes of upstream's main.go. */
export const CLIENT_ERROR = 1;
export const SERVER_ERROR = 2;

/** The text grpc-go puts in an Unimplemented error; upstream reports a proto version mismatch then. */
const UNIMPLEMENTED_MARK = 'Unimplemented desc';

/** main.go manualParseOutput: the output format errors are rendered in, read before parsing. */
export function manualParseOutput(argv: string[]): string {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--output' || a === '-o') {
      if (i + 1 < argv.length) return argv[i + 1]!;
    } else if (a.startsWith('--output=') || a.startsWith('-o=')) return a.slice(a.indexOf('=') + 1);
  }
  return 'name';
}

/** Output and exit status of one CLI run. */
export interface CliResult {
  stdout: Buffer;
  stderr: string;
  code: number;
}

/** Runs the CLI on argv (without the program name); never rejects. */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  const out: Buffer[] = [];
  const ctx: CliContext = {
    write: (text) => out.push(goBytes(text)),
    version: VERSION,
    defaultPort: env.DP_GRPC_PORT || '1337',
  };
  const output = manualParseOutput(argv);
  const done = (code: number, stderr = ''): CliResult => {
    ctx.conn?.close();
    return { stdout: Buffer.concat(out), stderr, code };
  };
  try {
    await execute(buildCli(ctx), argv, ctx.write);
    return done(0);
  } catch (e) {
    if (e instanceof GoPanic) {
      const signal = e.message === NIL_DEREF ? '[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x0]\n' : '';
      return done(SERVER_ERROR, `panic: ${e.message}\n${signal}\ngoroutine 1 [running]:\n`);
    }
    if (!(e instanceof GoError)) {
      return done(CLIENT_ERROR, `dpservice-cli: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    }
    if (e.text.includes(UNIMPLEMENTED_MARK)) {
      ctx.write(renderError(new GoError('error in gRPC, client and server are probably using different proto version'), output));
      return done(SERVER_ERROR);
    }
    ctx.write(renderError(e, output));
    return done(e.text.includes('error code') ? SERVER_ERROR : CLIENT_ERROR);
  }
}

async function main(): Promise<void> {
  const res = await runCli(process.argv.slice(2));
  // a reader that went away (`| head`) is not an error of the command
  process.stdout.on('error', () => process.exit(res.code));
  process.stdout.write(res.stdout);
  if (res.stderr) process.stderr.write(res.stderr);
  // grpc-js may keep timers alive briefly after close; the answer is complete, so leave now
  process.stdout.write('', () => process.exit(res.code));
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === import.meta.url;
  } catch {
    return false;
  }
}

if (invokedDirectly()) void main();
