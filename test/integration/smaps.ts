/** What /proc/self/smaps says about a mapping of this process (for the shim's pool tests). */
import { readFileSync } from 'node:fs';

/** The /proc/self/smaps entry (header line and fields) of the mapping that holds `addr`. */
export function mappingOf(addr: bigint): { header: string; fields: Map<string, string> } | undefined {
  let found: { header: string; fields: Map<string, string> } | undefined;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (m) {
      if (found) return found;
      if (BigInt(`0x${m[1]!}`) <= addr && addr < BigInt(`0x${m[2]!}`)) found = { header: line, fields: new Map() };
    } else if (found) {
      const kv = /^(\w+):\s*(.*)$/.exec(line);
      if (kv) found.fields.set(kv[1]!, kv[2]!);
    }
  }
  return found;
}
