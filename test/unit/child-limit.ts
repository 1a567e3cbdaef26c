/** Shared by the CLI test files: what a CLI run returns, and a cap on CLI processes at once. */
import { cpus } from 'node:os';

export interface Run {
  stdout: string;
  stderr: string;
  code: number;
}

// CLI processes at a time: the runs are CPU-bound and the machine is shared; too many at once
// would also exceed the CLI's connect timeout
let running = 0;
const queued: Array<() => void> = [];

export async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= Math.max(2, cpus().length)) await new Promise<void>((r) => queued.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    queued.shift()?.();
  }
}
