import test from 'ava';
import { parseCoreList, rewriteEalArgs } from '../../src/actors/eal-args.js';

const lists: Array<[string, number[] | undefined]> = [
  ['0,1', [0, 1]],
  ['0-3', [0, 1, 2, 3]],
  ['0,2-3', [0, 2, 3]],
  ['3-1', undefined],
  ['a', undefined],
  ['', undefined],
];
for (const [s, want] of lists) {
  test(`core list "${s}" expands to ${JSON.stringify(want)}`, (t) => {
    t.deepEqual(parseCoreList(s), want);
  });
}

test('a core list that fits the CPUs passes through unchanged', (t) => {
  const r = rewriteEalArgs(['-l', '0,1', '--no-huge'], 2);
  t.deepEqual(r.args, ['-l', '0,1', '--no-huge']);
  t.is(r.note, undefined);
});

test('lcores beyond the online CPUs become an --lcores map and the rewrite is explained', (t) => {
  const r = rewriteEalArgs(['-l', '0,1,2', '--vdev=net_null0'], 2);
  t.deepEqual(r.args, ['--lcores=0@0,1@1,2@0', '--vdev=net_null0']);
  t.regex(r.note ?? '', /beyond the 2 online CPUs/);
  t.deepEqual(rewriteEalArgs(['-l0-2'], 2).args, ['--lcores=0@0,1@1,2@0']);
});

test('other EAL arguments are never touched', (t) => {
  const args = ['--lcores=0@0,1@1', '--main-lcore', '1', '--log-level=user*:8', '-m', '1024'];
  t.deepEqual(rewriteEalArgs(args, 2).args, args);
});
