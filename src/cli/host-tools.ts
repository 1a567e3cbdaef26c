/**
 * Host-side helpers for the demo and the integration tests: bounded command runs, waits, network
 * namespaces as VMs, and the project root. Control path only (allocates freely).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** The project root (the directory holding package.json). */
export const ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(resolve(dir, 'package.json'))) dir = dirname(dir);
  return dir;
})();

export interface RunResult { code: number; stdout: string; stderr: string }

/** Runs a command (argv form), bounded in time; never rejects. */
export async function tryRun(cmd: string, args: string[], timeoutMs = 20000): Promise<RunResult> {
  try {
    const { stdout, stderr } = await execFileP(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? String(e) };
  }
}

/** Runs a command, bounded in time; rejects with its stderr if it fails. */
export async function run(cmd: string, args: string[], timeoutMs = 20000): Promise<string> {
  const r = await tryRun(cmd, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10000, stepMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ port, host });
    s.once('connect', () => { s.destroy(); res(true); });
    s.once('error', () => res(false));
  });
}

export async function nsCreate(ns: string): Promise<void> {
  await nsDelete(ns);
  await run('ip', ['netns', 'add', ns]);
  await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
}

/** Kills what still runs in a namespace and removes it; fine if it does not exist. */
export async function nsDelete(ns: string): Promise<void> {
  const pids = await tryRun('ip', ['netns', 'pids', ns]);
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) await tryRun('kill', ['-9', pid]);
  await tryRun('ip', ['netns', 'del', ns]);
}

/** Moves a kernel interface (a TAP of the service) into a namespace and sets it up. */
export async function moveToNs(iface: string, ns: string): Promise<void> {
  await waitFor(`interface ${iface}`, async () => (await tryRun('ip', ['link', 'show', iface])).code === 0, 10000);
  await run('ip', ['link', 'set', iface, 'netns', ns]);
  await run('ip', ['-n', ns, 'link', 'set', iface, 'up']);
}

export function nsExec(ns: string, cmd: string[], timeoutMs = 20000): Promise<RunResult> {
  return tryRun('ip', ['netns', 'exec', ns, ...cmd], timeoutMs);
}

/** Removes interfaces left behind by an earlier, killed run; fine if they do not exist. */
export async function removeLinks(names: string[]): Promise<void> {
  for (const n of names) await tryRun('ip', ['link', 'del', n]);
}

/** Parses the `name=value` lines the dhclient hook writes. */
export function parseLease(text: string): Record<string, string> {
  const o: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) o[line.slice(0, i)] = line.slice(i + 1).replace(/^'|'$/g, '');
  }
  return o;
}
