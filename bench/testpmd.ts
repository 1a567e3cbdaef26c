/**
 * dpdk-testpmd as the benchmarks' baseline: one run mechanism for bench/forward.ts and
 * bench/overlay.ts. testpmd starts with `--stats-period=1`; the run waits for the first stats
 * period (the warm-up) and then for `periods` more, so a run on a slow or busy machine still
 * yields its periods instead of a fixed sleep that may end before any; then it is stopped.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DPDK_RUNTIME_DIR } from '../src/ffi/dpdk.js';

/** Removes the EAL runtime directory of `prefix`, which testpmd (and a killed process) leaves behind. */
export function removeEalRuntime(prefix: string): void {
  rmSync(join(DPDK_RUNTIME_DIR, prefix), { recursive: true, force: true });
}

export interface TestpmdPeriods {
  /** Tx-pps of port 0 and port 1 per stats period after the first. */
  pairs: [number, number][];
  /** testpmd's CPU time over the measured periods, per forwarding core (1 = it had its CPUs). */
  cpuShare: number;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits until cond() holds, at most maxMs. */
export async function until(cond: () => boolean, maxMs: number): Promise<void> {
  const end = performance.now() + maxMs;
  while (!cond() && performance.now() < end) await sleep(20);
}

/** A process's CPU time so far (user + system, /proc/PID/stat), in seconds. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  // the fields after the command name, which is in parentheses and may hold spaces
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Runs `dpdk-testpmd args` (with --stats-period=1) for `periods` measured periods on `cores` forwarding cores. */
export async function runTestpmdPeriods(args: string[], periods: number, cores: number): Promise<TestpmdPeriods> {
  const proc = spawn('dpdk-testpmd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const printed = (): number => (out.match(/Tx-pps:/g)?.length ?? 0) / 2;
  await until(() => printed() >= 1, 15000);
  const c0 = cpuSeconds(proc.pid);
  const t0 = performance.now();
  await until(() => printed() >= 1 + periods, 5000 + periods * 1000);
  const cpuShare = (cpuSeconds(proc.pid) - c0) / ((performance.now() - t0) / 1000) / cores;
  proc.kill('SIGINT');
  const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await new Promise((r) => proc.once('exit', r));
  clearTimeout(killer);
  const prefix = args.find((x) => x.startsWith('--file-prefix='));
  if (prefix) removeEalRuntime(prefix.slice('--file-prefix='.length));
  // each stats period lists Tx-pps of port 0 then port 1; the first period is the warm-up
  const pps = [...out.matchAll(/Tx-pps:\s+(\d+)/g)].map((m) => Number(m[1]));
  const pairs: [number, number][] = [];
  for (let i = 2; i + 1 < pps.length; i += 2) pairs.push([pps[i]!, pps[i + 1]!]);
  if (pairs.length === 0) throw new Error(`testpmd printed no stats:\n${out.slice(-2000)}`);
  return { pairs, cpuShare };
}
