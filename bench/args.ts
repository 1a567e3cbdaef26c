/** Small helpers the benches share: a numeric command-line option and a percentile. */

/** The number after `name` on the command line, or `def`. */
export function numArg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

/** The p-th percentile of ascending `sorted` (nearest rank). */
export function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
