import test from 'ava';
import { createLogger, loggerFor } from '../../src/actors/logging.js';

function capture(format: 'text' | 'json', color: 'never' | 'always' = 'never'): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, log: createLogger({ format, color, write: (l) => lines.push(l) }) };
}

test('JSON lines carry upstream field names: ts, level, logger, msg and the key/values', (t) => {
  const { lines, log } = capture('json');
  loggerFor(log, 'grpc').info({ port: 1337 }, 'listening');
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  t.is(rec['msg'], 'listening');
  t.is(rec['level'], 'INFO');
  t.is(rec['logger'], 'grpc');
  t.is(rec['port'], 1337);
  t.regex(String(rec['ts']), /^\d{4}-\d\d-\d\dT/);
  t.is((lines[0]!.match(/"logger"/g) ?? []).length, 1, 'the logger key appears once');
});

test('text lines read "ts LEVEL logger: msg key=value"', (t) => {
  const { lines, log } = capture('text');
  loggerFor(log, 'service').warn({ port: 3, device: 'net_tap3' }, 'port is odd');
  t.regex(lines[0]!, /^\S+ WARNING service: port is odd port=3 device=net_tap3\n$/);
});

test('--color always colours warnings and errors, never leaves them plain', (t) => {
  const c = capture('text', 'always');
  c.log.error('boom');
  t.true(c.lines[0]!.startsWith('\x1b[31m'));
  const p = capture('text', 'never');
  p.log.error('boom');
  t.false(p.lines[0]!.includes('\x1b['));
});
