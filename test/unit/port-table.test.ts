import test from 'ava';
import { B_HOSTNAME, B_OWN_MAC, PORT_HAS_IPV4, PORT_HAS_IPV6, PortState, PortTable } from '../../src/tables/port-table.js';

const mac = Uint8Array.of(0x66, 0x66, 0x66, 0x66, 0x66, 0x01);
const cfg = (vni: number, ipv4: number, v6last: number) => ({
  vni, ipv4, ipv6: Uint8Array.of(0x20, 0, 0, 0x64, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, v6last),
  underlay: new Uint8Array(16), hostname: 'vm-host', pxeServer: '', bootFile: '',
});

test('a declared port starts with its own MAC as the VM MAC', (t) => {
  const pt = PortTable.create();
  pt.initPort(2, PortState.VF_IDLE, mac);
  const out = new Uint8Array(6);
  pt.copyVmMac(2, out, 0);
  t.deepEqual(out, mac);
  t.deepEqual(pt.bytes.slice(pt.at(2, B_OWN_MAC), pt.at(2, B_OWN_MAC) + 6), mac);
  t.is(pt.portLimit, 3);
});

test('attached interfaces are found by VNI and address, detached ones are not', (t) => {
  const pt = PortTable.create();
  pt.initPort(1, PortState.VF_IDLE, mac);
  pt.initPort(2, PortState.VF_IDLE, mac);
  pt.attach(1, cfg(100, 0x0a000001, 1));
  pt.attach(2, cfg(200, 0x0a000001, 1));
  t.is(pt.findIpv4(100, 0x0a000001), 1);
  t.is(pt.findIpv4(200, 0x0a000001), 2);
  t.is(pt.findIpv4(300, 0x0a000001), -1);
  const v6 = cfg(0, 0, 1).ipv6;
  t.is(pt.findIpv6(200, v6, 0), 2);
  t.is(pt.flags(1) & (PORT_HAS_IPV4 | PORT_HAS_IPV6), PORT_HAS_IPV4 | PORT_HAS_IPV6);
  pt.detach(2);
  t.is(pt.state(2), PortState.VF_IDLE);
  t.is(pt.findIpv4(200, 0x0a000001), -1);
  t.is(pt.findIpv6(200, v6, 0), -1);
});

test('a learned VM MAC replaces the previous one and survives re-attachment', (t) => {
  const pt = PortTable.create();
  pt.initPort(1, PortState.VF_IDLE, mac);
  pt.attach(1, cfg(100, 1, 1));
  const learned = Uint8Array.of(0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc);
  t.true(pt.learnVmMac(1, learned, 0));
  t.false(pt.learnVmMac(1, learned, 0));
  pt.detach(1);
  pt.attach(1, cfg(100, 1, 1));
  const out = new Uint8Array(6);
  pt.copyVmMac(1, out, 0);
  t.deepEqual(out, learned);
});

test('the table works the same from another view of the same SharedArrayBuffer', (t) => {
  const pt = PortTable.create();
  pt.initPort(0, PortState.PF, mac);
  pt.initPort(3, PortState.VF_IDLE, mac);
  pt.attach(3, cfg(7, 0xc0a80001, 9));
  const other = new PortTable(pt.sab);
  t.is(other.state(0), PortState.PF);
  t.is(other.vni(3), 7);
  t.is(other.ipv4(3), 0xc0a80001);
  const s = new Uint8Array(64);
  const n = other.copyString(3, B_HOSTNAME, s, 0);
  t.is(Buffer.from(s.subarray(0, n)).toString(), 'vm-host');
});
