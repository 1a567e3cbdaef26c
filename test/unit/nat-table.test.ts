/**
 * The workers' NAT table: neighbour port ranges (add, find by address, VNI and port, remove, slot
 * reuse) and the NAT ports in use per VM port; and the registry refusing a neighbour range the
 * table could not take.
 */
import test from 'ava';
import { DpError, DpErrorCode } from '../../src/actors/errors.js';
import { NatTables } from '../../src/actors/registry-nat.js';
import { ChangeLog } from '../../src/actors/registry-changes.js';
import { MAX_NEIGHBOR_NATS, NatTable } from '../../src/tables/nat-table.js';
import { hex, ip4num, ip6 } from './frames.js';

const NAT = ip4num('45.0.0.9');

test('neighbour ranges are found by address, VNI and port; a removed one is gone and its slot is reused', (t) => {
  const nat = NatTable.create();
  t.true(nat.addNeighbor(NAT, 100, 500, 520, ip6('fc00:2::1')));
  t.true(nat.addNeighbor(NAT, 100, 520, 530, ip6('fc00:3::1')));
  t.true(nat.addNeighbor(NAT, 200, 500, 520, ip6('fc00:4::1')));
  const out = new DataView(new ArrayBuffer(32));
  const ul = (): string => hex(new Uint8Array(out.buffer, 16, 16));
  t.is(nat.findNeighbor(100, NAT, 519, out, 16), 0);
  t.is(ul(), hex(ip6('fc00:2::1')));
  t.is(nat.findNeighbor(100, NAT, 520, out, 16), 1, '[min, max): 520 is the next range\'s');
  t.is(ul(), hex(ip6('fc00:3::1')));
  t.is(nat.findNeighbor(200, NAT, 500, out, 16), 2);
  t.is(nat.findNeighbor(100, NAT, 530, null, 0), -1);
  t.is(nat.findNeighbor(100, NAT, 499, null, 0), -1);
  t.is(nat.findNeighbor(300, NAT, 510, null, 0), -1, 'another VNI');
  t.is(nat.findNeighbor(100, ip4num('45.0.0.10'), 510, null, 0), -1, 'another address');
  t.true(nat.isNeighborAddress(100, NAT));
  t.false(nat.isNeighborAddress(300, NAT));
  nat.removeNeighbor(NAT, 100, 500, 520);
  t.is(nat.findNeighbor(100, NAT, 510, null, 0), -1);
  t.is(nat.findNeighbor(100, NAT, 525, null, 0), 1, 'the others stay');
  nat.removeNeighbor(NAT, 100, 500, 999);
  t.is(nat.findNeighbor(200, NAT, 510, null, 0), 2, 'removing a range that is not there changes nothing');
  t.true(nat.addNeighbor(NAT, 100, 600, 610, ip6('fc00:5::1')));
  t.is(nat.findNeighbor(100, NAT, 605, null, 0), 0, 'the freed slot is reused');
});

test('the table takes MAX_NEIGHBOR_NATS ranges and refuses the next', (t) => {
  const nat = NatTable.create();
  let added = 0;
  for (let i = 0; i < MAX_NEIGHBOR_NATS; i++) if (nat.addNeighbor(NAT + i, 100, 1, 2, ip6('fc00:2::1'))) added++;
  t.is(added, MAX_NEIGHBOR_NATS);
  t.false(nat.addNeighbor(NAT, 100, 3, 4, ip6('fc00:2::1')));
  t.is(nat.findNeighbor(100, NAT + MAX_NEIGHBOR_NATS - 1, 1, null, 0), MAX_NEIGHBOR_NATS - 1);
});

test('NAT ports in use are counted per VM port', (t) => {
  const nat = NatTable.create();
  nat.countPort(3, 1);
  nat.countPort(3, 1);
  nat.countPort(4, 1);
  nat.countPort(3, -1);
  t.deepEqual([nat.usedPorts(3), nat.usedPorts(4), nat.usedPorts(5)], [1, 1, 0]);
});

test('the registry refuses a neighbour range beyond the workers\' table with OUT_OF_MEMORY and keeps what it has', (t) => {
  const tables = new NatTables(new ChangeLog());
  for (let i = 0; i < MAX_NEIGHBOR_NATS; i++) tables.addNeighbor(NAT + i, 100, 1, 2, ip6('fc00:2::1'));
  const e = t.throws(() => tables.addNeighbor(NAT, 100, 3, 4, ip6('fc00:2::1')));
  t.true(e instanceof DpError && e.code === DpErrorCode.OUT_OF_MEMORY, String(e));
  t.is(tables.listNeighbors(0).length, MAX_NEIGHBOR_NATS);
  tables.removeNeighbor(NAT, 100, 1, 2);
  t.notThrows(() => tables.addNeighbor(NAT, 100, 3, 4, ip6('fc00:2::1')), 'a removal makes room');
});
