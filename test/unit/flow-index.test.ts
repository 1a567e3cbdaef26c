/**
 * The flow index under two real threads publishing at once (workers inserting new flows at the same
 * time): an entry a thread publishes keeps its own tag, whichever thread wrote a tag to that entry
 * first. Both threads' flows share their first buckets, so they race for the same free entries.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import test from 'ava';
import { FlowTable } from '../../src/tables/flow-table.js';
import type { PublishResult, PublishWorkerData } from './fixtures/publish-worker.js';

test('two threads publishing into the same buckets at once: every published flow is found under its own tag', async (t) => {
  const table = FlowTable.create(512);
  const barrier = new SharedArrayBuffer(4);
  const flows = 256;
  const rounds = 400;
  const workers = [0, 1].map((id) => {
    const wd: PublishWorkerData = { id, sab: table.sab, flows, rounds, barrier };
    return new Worker(new URL('./fixtures/publish-worker.js', import.meta.url), { workerData: wd });
  });
  t.teardown(async () => { await Promise.all(workers.map((w) => w.terminate())); });
  const results = await Promise.all(workers.map(async (w) => (await once(w, 'message'))[0] as PublishResult));
  for (const [id, r] of results.entries()) {
    t.log(`thread ${id}: published ${r.published}, refused ${r.refused}`);
    t.is(r.lostTag, 0, `thread ${id}: entries whose tag the other thread overwrote`);
    t.true(r.published > rounds * flows * 0.9, `thread ${id}: the index took its flows`);
  }
  t.is(table.idx.filter((x, i) => (i & 15) >= 8 && x !== 0).length, 0, 'every entry unpublished');
});
