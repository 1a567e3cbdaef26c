import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import test, { type ExecutionContext } from 'ava';
import {
  type ChannelBuffers, createChannelBuffers, CTL_READY, CTL_SLEEPING, CTL_STOP, CTL_WAKE_FD, SupervisorChannel,
} from '../../src/workers/channel.js';

/** Starts the echo worker on fresh channel buffers; the worker is terminated when the test ends. */
function startEcho(t: ExecutionContext, bufs: ChannelBuffers = createChannelBuffers()): { sup: SupervisorChannel; worker: Worker } {
  const sup = new SupervisorChannel(bufs);
  const worker = new Worker(new URL('./fixtures/echo-worker.js', import.meta.url), { workerData: bufs });
  t.teardown(async () => {
    await worker.terminate();
  });
  return { sup, worker };
}

test('a polling worker answers commands in order with its results', async (t) => {
  const { sup } = startEcho(t);
  const order: number[] = [];
  const sends = [[1, 2], [2, 7], [3, 0], [7, -5], [100, 3]].map(([op, arg], i) =>
    sup.send(op!, arg!).then((r) => {
      order.push(i);
      return r;
    }));
  t.deepEqual(await Promise.all(sends), [12, 27, 30, 65, 1003]);
  t.deepEqual(order, [0, 1, 2, 3, 4], 'resolved in the order sent');
});

test('200 commands in flight all resolve with their own results', async (t) => {
  const { sup } = startEcho(t);
  const sends: Promise<number>[] = [];
  const want: number[] = [];
  for (let i = 0; i < 200; i++) {
    const op = (i % 7) + 1;
    sends.push(sup.send(op, i * 3));
    want.push(op * 10 + i * 3);
  }
  t.deepEqual(await Promise.all(sends), want);
  // and the channel keeps working afterwards
  t.is(await sup.send(4, 1), 41);
});

test('a command to a worker that never polls rejects after the timeout', async (t) => {
  const sup = new SupervisorChannel(createChannelBuffers());
  const t0 = performance.now();
  await t.throwsAsync(sup.send(6, 1, 0, 50), { message: 'worker did not acknowledge command 6 within 50 ms' });
  t.true(performance.now() - t0 >= 45, 'not before the timeout');
});

test('an acknowledgement arriving after its command timed out does not answer a later command', async (t) => {
  const bufs = createChannelBuffers();
  const sup = new SupervisorChannel(bufs);
  await t.throwsAsync(sup.send(4, 2, 0, 20), { message: /within 20 ms/ });
  // the worker starts late, finds the old command in the ring and acknowledges it (result 42)
  startEcho(t, bufs);
  t.is(await sup.send(5, 1), 51);
  t.is(await sup.send(9, 9), 99);
});

test('a command that does not fit in the ring is rejected at once', async (t) => {
  const sup = new SupervisorChannel(createChannelBuffers());
  const sends: Promise<number>[] = [];
  for (let i = 0; i < 256; i++) sends.push(sup.send(1, i, 0, 30));
  await t.throwsAsync(sup.send(2, 0, 0, 60_000), { message: 'worker command ring full' });
  const settled = await Promise.allSettled(sends);
  t.true(settled.every((s) => s.status === 'rejected' && /within 30 ms/.test(String(s.reason))), 'the 256 that fit time out');
});

test('stop() makes the worker leave its poll loop and exit', async (t) => {
  t.timeout(10_000);
  const { sup, worker } = startEcho(t);
  t.is(await sup.send(1, 1), 11, 'the worker is polling');
  t.is(Atomics.load(sup.ctl, CTL_READY), 1);
  const exit = once(worker, 'exit');
  sup.stop();
  t.is(Atomics.load(sup.ctl, CTL_STOP), 1);
  const [code] = (await exit) as [number];
  t.is(code, 0, 'exited on its own, not terminated');
});

test('a command or a stop wakes a sleeping worker by its eventfd, and an awake one not at all', (t) => {
  const bufs = createChannelBuffers();
  const woken: number[] = [];
  const sup = new SupervisorChannel(bufs, (fd) => woken.push(fd));
  const ctl = new Int32Array(bufs.ctl);
  t.is(ctl[CTL_WAKE_FD], -1, 'no wake fd until a worker sets one');
  Atomics.store(ctl, CTL_WAKE_FD, 42);
  void sup.send(1, 0, 0, 50).catch(() => undefined);
  t.deepEqual(woken, [], 'an awake worker polls its ring anyway');
  Atomics.store(ctl, CTL_SLEEPING, 1);
  void sup.send(1, 0, 0, 50).catch(() => undefined);
  sup.stop();
  t.deepEqual(woken, [42, 42], 'one write to the eventfd per command and per stop');
});
