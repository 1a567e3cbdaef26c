import test from 'ava';
import { DP_JHASH_SEED, RteHashOrder, dpJhashBuckets, jhash2Words } from '../../src/actors/rte-hash-order.js';

// Reference values printed by a C program calling rte_jhash_2words() from DPDK 22.11's
// rte_jhash.h with dpservice's seed; keys are {IPv4 in host order, VNI 100}.
const VECTORS: Array<[number, number]> = [
  [0x0a640101, 0xd5e48915],
  [0x0a640102, 0x18405803],
  [0x01020304, 0xc8b97f7a],
  [0xac150101, 0x549fd44a],
];
for (const [ip, hash] of VECTORS) {
  test(`jhash2Words matches DPDK's rte_jhash_2words for 0x${ip.toString(16)}`, (t) => {
    t.is(jhash2Words(ip, 100, DP_JHASH_SEED), hash);
  });
}

test("bucket counts follow dpservice's 20% margin rounded to a power of two, 8 slots a bucket", (t) => {
  t.is(dpJhashBuckets(126 * 32), 1024);  // SNAT table: 4838 entries -> 8192 slots
  t.is(dpJhashBuckets(256), 64);         // load balancers: 307 -> 512
  t.is(dpJhashBuckets(1), 1);
});

test('items are listed by bucket, not by insertion (the order upstream lists local NATs in)', (t) => {
  const order = new RteHashOrder<string>(126 * 32);
  order.insert('vm1', 0x0a640101, 100);  // bucket 277
  order.insert('vm2', 0x0a640102, 100);  // bucket 3
  t.deepEqual(order.ordered(), ['vm2', 'vm1']);
  t.is(order.size, 2);
  t.true(order.remove('vm2'));
  t.false(order.remove('vm2'));
  t.deepEqual(order.ordered(), ['vm1']);
});

test('within a bucket a new item takes the lowest free slot, and overflow is listed last', (t) => {
  const order = new RteHashOrder<number>(1);  // one bucket of 8 slots
  for (let i = 0; i < 10; i++) order.insert(i, i, 0);
  t.deepEqual(order.ordered(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  order.remove(2);
  order.insert(42, 0, 0);
  t.deepEqual(order.ordered().slice(0, 3), [0, 1, 42]);
  order.remove(9);
  t.is(order.size, 9);
});
