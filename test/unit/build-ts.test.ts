/**
 * bin/build-ts.mjs on a small project of its own: module-level numeric constants (also imported,
 * folded from other constants, negative) and members of `as const` objects are emitted as values;
 * names, shadowing locals, property names and shorthand properties stay; the output computes what
 * the source says; type errors fail the build as tsc's do.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const script = path.join(root, 'bin/build-ts.mjs');

const CONSTS = `
export const OFF = 14;
export const WORDS = 1 << 4;
export const NEG = -(OFF + 2);
export const MASK = ~0 >>> 8;
export const HEX = 0x9e3779b1;
export const Role = { IDLE: 0, ACTIVE: OFF - 11 } as const;
export const Mutable = { N: 1 };
export const RATIO = 3 / 4;
export const NAME = 'x';
`;

const MAIN = `
import { HEX, MASK, Mutable, NAME, NEG, OFF, Role, WORDS } from './consts.js';
const LOCAL = WORDS * 2;
export const PortKind = Role;
export function read(a: number[]): number {
  return a[OFF]! + LOCAL + Role.ACTIVE;
}
export function shadow(OFF: number): number {
  return OFF + 1;
}
export function values(): Record<string, number | string> {
  const o = { OFF: 1, WORDS };
  Mutable.N += 1;
  return { OFF: o.OFF, WORDS: o.WORDS, neg: NEG, mask: MASK, hex: HEX, active: Role.ACTIVE, idle: Role.IDLE, mutable: Mutable.N, NAME };
}
`;

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'build-ts-'));
  writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }');
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noUncheckedIndexedAccess: true, outDir: 'out' },
    include: ['*.ts'],
  }));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

function build(dir: string): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [script, '-p', path.join(dir, 'tsconfig.json')], { encoding: 'utf8', cwd: dir });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

test('constants become values; names, locals and properties stay; the output computes the same', async (t) => {
  const dir = project({ 'consts.ts': CONSTS, 'main.ts': MAIN });
  try {
    const r = build(dir);
    t.is(r.status, 0, r.stderr + r.stdout);
    const out = readFileSync(path.join(dir, 'out/main.js'), 'utf8');
    // imported, folded, negative and member constants are inlined
    t.regex(out, /return a\[14\] \+ 32 \+ 3;/);
    t.regex(out, /neg: \(-16\), mask: 16777215, hex: 2654435761,/);
    t.regex(out, /active: 3, idle: 0/);
    // a parameter shadowing a constant, property names and shorthand properties are left alone
    t.regex(out, /function shadow\(OFF\) \{\s*return OFF \+ 1;/);
    t.regex(out, /const o = \{ OFF: 1, WORDS \};/);
    // an object without `as const`, a string constant and a whole object are not values to inline
    t.regex(out, /Mutable\.N \+= 1;/);
    t.regex(out, /mutable: Mutable\.N, NAME \}/);
    t.regex(out, /export const PortKind = Role;/);
    // the declarations are still there for anyone who imports them
    const consts = readFileSync(path.join(dir, 'out/consts.js'), 'utf8');
    t.regex(consts, /export const OFF = 14;/);
    const m = await import(pathToFileURL(path.join(dir, 'out/main.js')).href) as {
      read(a: number[]): number; shadow(n: number): number; values(): Record<string, number | string>; PortKind: Record<string, number>;
    };
    t.is(m.read(Array.from({ length: 20 }, (_, i) => i * 10)), 140 + 32 + 3);
    t.is(m.shadow(5), 6);
    t.deepEqual(m.values(), { OFF: 1, WORDS: 16, neg: -16, mask: 16777215, hex: 0x9e3779b1, active: 3, idle: 0, mutable: 2, NAME: 'x' });
    t.deepEqual(m.PortKind, { IDLE: 0, ACTIVE: 3 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a type error fails the build with tsc\'s message', (t) => {
  const dir = project({ 'bad.ts': 'export const X: number = "text";\n' });
  try {
    const r = build(dir);
    t.is(r.status, 2);
    t.regex(r.stderr + r.stdout, /bad\.ts\(1,14\): error TS2322/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
