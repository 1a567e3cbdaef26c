import test from 'ava';
import { ChangeLog, type RegistryChange } from '../../src/actors/registry-changes.js';

const VNI = (vni: number): RegistryChange => ({ kind: 'vni-added', vni });

test('nothing is recorded while nobody listens', async (t) => {
  const log = new ChangeLog();
  log.record(VNI(1));
  t.is(log.pendingCount, 0);
  const seen: RegistryChange[][] = [];
  log.subscribe((b) => void seen.push([...b]));
  await log.commit();
  t.deepEqual(seen, [], 'an empty commit calls no one');
});

test('a commit hands the batch in order to every listener and waits for each', async (t) => {
  const log = new ChangeLog();
  const order: string[] = [];
  log.subscribe(async (b) => {
    await new Promise((r) => setTimeout(r, 10));
    order.push(`slow:${b.length}`);
  });
  log.subscribe((b) => void order.push(`fast:${b.map((c) => (c.kind === 'vni-added' ? c.vni : 0)).join(',')}`));
  log.record(VNI(1));
  log.record(VNI(2));
  t.is(log.pendingCount, 2);
  await log.commit();
  t.deepEqual(order, ['slow:2', 'fast:1,2']);
  t.is(log.pendingCount, 0);
});

test('a failing listener does not stop the others; its error surfaces after all ran', async (t) => {
  const log = new ChangeLog();
  let second = 0;
  log.subscribe(() => {
    throw new Error('first failed');
  });
  log.subscribe(() => {
    second++;
  });
  log.record(VNI(3));
  await t.throwsAsync(log.commit(), { message: 'first failed' });
  t.is(second, 1);
});

test('an unsubscribed listener hears nothing more', async (t) => {
  const log = new ChangeLog();
  let calls = 0;
  const off = log.subscribe(() => {
    calls++;
  });
  log.record(VNI(1));
  await log.commit();
  off();
  log.record(VNI(2));
  await log.commit();
  t.is(calls, 1);
});
