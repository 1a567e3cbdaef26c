/**
 * EAL argument handling before rte_eal_init. DPDK refuses an lcore id that has no CPU of the same
 * number ("lcore 2 unavailable"); on a small machine an operator asking for `-l 0,1,2` still wants
 * three lcores. We rewrite such a list into the equivalent `--lcores` map with lcore N on CPU
 * N mod (online CPUs), and say so in the log. Everything else passes through untouched.
 */
import { availableParallelism } from 'node:os';

/** Expands a DPDK core list ("0-2,4") into numbers; undefined if malformed. */
export function parseCoreList(s: string): number[] | undefined {
  const out: number[] = [];
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) return undefined;
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

export interface EalRewrite {
  args: string[];
  /** Set when -l was mapped onto fewer CPUs. */
  note?: string;
}

export function rewriteEalArgs(args: string[], cpus = availableParallelism()): EalRewrite {
  const out: string[] = [];
  let note: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    let list: string | undefined;
    if (a === '-l' && i + 1 < args.length) list = args[++i];
    else if (a.startsWith('-l') && a.length > 2 && !a.startsWith('--')) list = a.slice(2);
    if (list === undefined) {
      out.push(a);
      continue;
    }
    const cores = parseCoreList(list);
    if (!cores || cores.every((c) => c < cpus)) {
      out.push('-l', list);
      continue;
    }
    const map = cores.map((c) => `${c}@${c % cpus}`).join(',');
    out.push(`--lcores=${map}`);
    note = `-l ${list} names lcores beyond the ${cpus} online CPUs: running them as --lcores=${map} (lcores share CPUs)`;
  }
  return { args: out, note };
}
