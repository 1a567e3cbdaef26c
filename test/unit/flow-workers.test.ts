/**
 * Two real worker threads sharing one connection-tracking table (the dataplane's situation when RSS
 * puts a flow's requests on one queue and its replies on another): each has its own FlowOwner and
 * ConntrackNode over the same SharedArrayBuffers, opened with openForwarding as a worker does.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import test, { type ExecutionContext } from 'ava';
import { flowHash, FlowTable, KEY_WORDS, R_OWNER, RECORD, reverseKey } from '../../src/tables/flow-table.js';
import { PortTable } from '../../src/tables/port-table.js';
import { createForwardingBuffers, FS_CREATED, FS_CROSS_WORKER, FS_DUPLICATE, type ForwardingBuffers } from '../../src/workers/node-context.js';
import type { FlowCommand, FlowWorkerData } from './fixtures/flow-worker.js';
import { flowKey4 } from './frames.js';

const N = 1000;
const OWN = 500;

interface Rig {
  bufs: ForwardingBuffers;
  ask: (w: Worker, c: FlowCommand) => Promise<Record<string, unknown>>;
  a: Worker;
  b: Worker;
}

function start(t: ExecutionContext): Rig {
  const bufs = createForwardingBuffers(8192);
  const ports = PortTable.create().sab;
  const progress = new SharedArrayBuffer(12);
  const spawn = (id: number): Worker => {
    const wd: FlowWorkerData = { id, bufs, ports, progress };
    return new Worker(new URL('./fixtures/flow-worker.js', import.meta.url), { workerData: wd });
  };
  const a = spawn(0);
  const b = spawn(1);
  t.teardown(async () => {
    await Promise.all([a.terminate(), b.terminate()]);
  });
  const ask = async (w: Worker, c: FlowCommand): Promise<Record<string, unknown>> => {
    w.postMessage(c);
    const [m] = await once(w, 'message') as [Record<string, unknown>];
    return m;
  };
  return { bufs, ask, a, b };
}

function requestKey(vni: number, i: number): Int32Array {
  return flowKey4(vni, `10.0.${i >> 8}.${i & 255}`, '10.1.0.1', 1000 + i, 53, 17);
}

test.serial('flows one worker created are found by another worker from the reply side, counted as cross-worker', async (t) => {
  const { ask, a, b } = start(t);
  const req = await ask(a, { op: 'requests', vni: 100, from: 0, to: N }) as { found: number[]; stats: number[] };
  t.is(req.stats[FS_CREATED], N);
  t.true(req.found.every((fd) => fd >= 0 && (fd & 1) === 0), 'A: every request is direction 0');
  t.is(new Set(req.found).size, N, 'A: one flow per request');
  const rep = await ask(b, { op: 'replies', vni: 100, from: 0, to: N }) as { found: number[]; stats: number[] };
  t.deepEqual(rep.found, req.found.map((fd) => fd | 1), 'B found every flow of A in direction 1');
  t.is(rep.stats[FS_CREATED], 0, 'B created no flow');
  t.is(rep.stats[FS_CROSS_WORKER], N);
  const again = await ask(a, { op: 'requests', vni: 100, from: 0, to: N }) as { found: number[]; stats: number[] };
  t.deepEqual(again.found, req.found);
  t.is(again.stats[FS_CROSS_WORKER], 0, 'A owns them');
  t.is(again.stats[FS_CREATED], N);
});

test.serial('requests on one worker and replies on another, at the same time, never miss and never duplicate a flow', async (t) => {
  const { bufs, ask, a, b } = start(t);
  await ask(a, { op: 'requests', vni: 100, from: 0, to: N });
  const [ra, rb] = await Promise.all([
    ask(a, { op: 'concurrent-requests', vni: 100, from: N, to: 2 * N, rounds: 10 }),
    ask(b, { op: 'concurrent-replies', vni: 100, base: N, ownVni: 200, own: OWN }),
  ]) as [{ bad: number; stats: number[] }, { bad: number; replies: number; overlapped: number; stats: number[] }];
  t.is(ra.bad, 0, 'A: every request found its flow in direction 0');
  t.is(rb.bad, 0, 'B: every reply found its flow in direction 1, every own flow was new');
  t.true(rb.replies >= 2 * N, `B replied ${rb.replies} times`);
  t.log(`B made ${rb.overlapped} passes while A was still running`);
  t.is(ra.stats[FS_CREATED], 2 * N, 'A created each of its flows once');
  t.is(rb.stats[FS_CREATED], OWN, 'B created only its own flows');

  // the table afterwards: every flow once, in both directions, owned by its creator
  const table = new FlowTable(bufs.flows);
  t.is(table.live, 2 * N + OWN);
  const flows = new Set<number>();
  const k = new Int32Array(KEY_WORDS * 2);
  let missing = 0;
  let wrongOwner = 0;
  for (const [vni, count, owner] of [[100, 2 * N, 0], [200, OWN, 1]] as const) {
    for (let i = 0; i < count; i++) {
      k.set(requestKey(vni, i), 0);
      reverseKey(k, 0, k, KEY_WORDS);
      const fwd = table.lookup(k, 0, flowHash(k, 0));
      const rev = table.lookup(k, KEY_WORDS, flowHash(k, KEY_WORDS));
      if (fwd < 0 || rev !== (fwd | 1) || (fwd & 1) !== 0) missing++;
      else if (table.rec[(fwd >>> 1) * RECORD + R_OWNER] !== owner) wrongOwner++;
      flows.add(fwd >>> 1);
    }
  }
  t.is(missing, 0);
  t.is(wrongOwner, 0);
  t.is(flows.size, 2 * N + OWN, 'distinct records');
});

test.serial('first packets of a connection from both sides on two workers at once: one flow, found from both sides', async (t) => {
  const { bufs, ask, a, b } = start(t);
  // A sends each flow's request while B sends its reply, in step: both miss, both insert
  const [ra, rb] = await Promise.all([
    ask(a, { op: 'simultaneous', vni: 100, from: 0, to: N, reply: false }),
    ask(b, { op: 'simultaneous', vni: 100, from: 0, to: N, reply: true }),
  ]) as [{ found: number[]; stats: number[] }, { found: number[]; stats: number[] }];
  t.true(ra.found.every((fd) => fd >= 0) && rb.found.every((fd) => fd >= 0), 'every packet had a flow');
  const duplicates = ra.stats[FS_DUPLICATE]! + rb.stats[FS_DUPLICATE]!;
  t.log(`records given up because the other worker made the same connection at once: ${duplicates}`);
  t.is(ra.stats[FS_CREATED]! + rb.stats[FS_CREATED]!, N, 'each connection created once (given-up records not counted)');

  const table = new FlowTable(bufs.flows);
  t.is(table.live, N, 'one record per connection');
  const k = new Int32Array(KEY_WORDS * 2);
  let split = 0;
  let twice = 0;
  for (let i = 0; i < N; i++) {
    k.set(requestKey(100, i), 0);
    reverseKey(k, 0, k, KEY_WORDS);
    const h = flowHash(k, 0);
    const rh = flowHash(k, KEY_WORDS);
    const fwd = table.lookup(k, 0, h);
    const rev = table.lookup(k, KEY_WORDS, rh);
    if (fwd < 0 || rev < 0 || (fwd >>> 1) !== (rev >>> 1) || (fwd & 1) === (rev & 1)) split++;
    if (table.lookupOther(k, 0, h, fwd >>> 1) >= 0 || table.lookupOther(k, KEY_WORDS, rh, rev >>> 1) >= 0) twice++;
  }
  t.is(split, 0, 'both sides of every connection find the same record, in opposite directions');
  t.is(twice, 0, 'no key is indexed in a second record');
});
