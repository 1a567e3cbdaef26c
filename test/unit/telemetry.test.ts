/**
 * The telemetry snapshots the shim answers upstream's /dp_service/... commands from: one line per
 * number, "key\tvalue" or "dictionary\tkey\tvalue".
 */
import test from 'ava';
import {
  firewallSnapshot, graphSnapshot, natSnapshot, TELEMETRY_COMMANDS, tableSnapshot, tableUsage, type TelemetrySources, virtsvcSnapshot,
} from '../../src/actors/telemetry.js';
import { VirtsvcTable } from '../../src/tables/virtsvc-table.js';

function sources(over: Partial<TelemetrySources> = {}): TelemetrySources {
  return {
    graph: new Map([['rx-0-0', { calls: 3, objs: 90 }], ['cls', { calls: 2, objs: 80 }], ['drop', { calls: 1, objs: 5 }]]),
    usage: {
      interfaces: 2, firewallRules: new Map([['vm1', 2], ['vm2', 0]]), ports: new Map([['vm1', 3], ['vm2', 5]]), dnat: 1, snat: 1,
      loadBalancers: 3, vnis: 2, vnf: 4,
    },
    vfPorts: 4,
    flows: { capacity: 1048576, live: 17 },
    vnis: { capacity: 1024 },
    vnf: { capacity: 65536 },
    natUsedPorts: (port) => (port === 5 ? 7 : 0),
    virtsvc: VirtsvcTable.create([], new Uint8Array(8)),
    ...over,
  };
}

test('upstream\'s command names', (t) => {
  t.deepEqual(TELEMETRY_COMMANDS.map((c) => c.cmd), [
    '/dp_service/graph/obj_count', '/dp_service/graph/call_count', '/dp_service/graph/cycle_count', '/dp_service/graph/realloc_count',
    '/dp_service/table/saturation', '/dp_service/firewall/rule_count', '/dp_service/nat/used_port_count',
    '/dp_service/virtsvc/used_port_count',
  ]);
});

test('graph counters per node in blocks of 256 nodes, under upstream\'s block names', (t) => {
  t.is(graphSnapshot(sources(), 'obj_count'), 'Node_0_to_255\trx-0-0\t90\nNode_0_to_255\tcls\t80\nNode_0_to_255\tdrop\t5');
  t.is(graphSnapshot(sources(), 'call_count'), 'Node_0_to_255\trx-0-0\t3\nNode_0_to_255\tcls\t2\nNode_0_to_255\tdrop\t1');
  // not measured (cycles) or never happening (queue reallocation): zeros, not absent nodes
  t.is(graphSnapshot(sources(), 'cycle_count'), 'Node_0_to_255\trx-0-0\t0\nNode_0_to_255\tcls\t0\nNode_0_to_255\tdrop\t0');
  const many = new Map(Array.from({ length: 300 }, (_, i) => [`n${i}`, { calls: 1, objs: i }] as const));
  const lines = graphSnapshot(sources({ graph: many }), 'obj_count').split('\n');
  t.is(lines.length, 300);
  t.is(lines[255], 'Node_0_to_255\tn255\t255');
  t.is(lines[256], 'Node_256_to_511\tn256\t256');
});

test('table saturation under upstream\'s table names', (t) => {
  const rows = tableSnapshot(sources()).split('\n').map((l) => l.split('\t'));
  const tables = new Map<string, Record<string, number>>();
  for (const [table, stat, v] of rows) tables.set(table!, { ...tables.get(table!), [stat!]: Number(v) });
  t.deepEqual([...tables.keys()], ['interface_table', 'conntrack_table', 'dnat_table', 'snat_table', 'nat_portmap_table',
    'nat_portoverload_table', 'loadbalancer_table', 'loadbalancer_id_table', 'vni_table', 'vnf_table', 'reverse_vnf_table']);
  t.deepEqual(tables.get('interface_table'), { capacity: 4, entries: 2 });
  t.deepEqual(tables.get('conntrack_table'), { capacity: 1048576, entries: 17 });
  t.deepEqual(tables.get('dnat_table'), { capacity: 4032, entries: 1 });
  t.deepEqual(tables.get('loadbalancer_table'), { capacity: 256, entries: 3 });
  t.deepEqual(tables.get('vni_table'), { capacity: 1024, entries: 2 });
  t.deepEqual(tables.get('vnf_table'), { capacity: 65536, entries: 4 });
  t.deepEqual(tables.get('nat_portoverload_table'), { capacity: 1048576, entries: 7 });
});

test('per interface: firewall rules, NAT ports (every live interface)', (t) => {
  t.is(firewallSnapshot(sources()), 'vm1\t2\nvm2\t0');
  t.is(natSnapshot(sources()), 'vm1\t0\nvm2\t7');
  t.is(firewallSnapshot(sources({ usage: { ...sources().usage, firewallRules: new Map() } })), '');
});

test('virtual services as upstream names them, PROTOCOL:ip:port', (t) => {
  t.is(virtsvcSnapshot(sources()), '');
  const virtsvc = VirtsvcTable.create([
    { proto: 17, virtualIp: 0x01020304, virtualPort: 5353, serviceIp: new Uint8Array(16), servicePort: 53 },
    { proto: 6, virtualIp: 0x05060708, virtualPort: 4443, serviceIp: new Uint8Array(16), servicePort: 443 },
  ], new Uint8Array(8));
  virtsvc.countPort(1, 3);
  t.is(virtsvcSnapshot(sources({ virtsvc })), 'UDP:1.2.3.4:5353\t0\nTCP:5.6.7.8:4443\t3');
  const tables = tableUsage(sources({ virtsvc }));
  t.deepEqual(tables.slice(-2), [['virtsvc_table_0', 64512, 0], ['virtsvc_table_1', 64512, 3]]);
});

test('a key cannot break the line format', (t) => {
  const graph = new Map([['a\tb\nc', { calls: 1, objs: 2 }]]);
  t.is(graphSnapshot(sources({ graph }), 'obj_count'), 'Node_0_to_255\ta_b_c\t2');
});
