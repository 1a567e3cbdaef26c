import test from 'ava';
import { DropReason } from '../../src/packet/drop-reasons.js';
import { PORT_ARP_DONE, PORT_MAC_LEARNED } from '../../src/tables/port-table.js';
import { arpCycleNeeded, ArpNode } from '../../src/workers/nodes/arp.js';
import { type ArpFields, arp, attach, cat, eth, hex, ip4, mac, makeCtx, PORT_MAC, run, VM_IPV4, VM_MAC, vmMacOf } from './frames.js';

const E_TX = 1;

function arpFrame(f: Partial<ArpFields> = {}, ethSrc = VM_MAC, pad = 18): Uint8Array {
  const a: ArpFields = { op: 1, sha: VM_MAC, spa: VM_IPV4, tha: '00:00:00:00:00:00', tpa: '169.254.0.1', ...f };
  return cat(eth('ff:ff:ff:ff:ff:ff', ethSrc, 0x0806), arp(a), new Uint8Array(pad));
}

/** A context whose port already learned a MAC (the VM's first ARP has been seen). */
function learnedCtx(): ReturnType<typeof makeCtx> {
  const ctx = makeCtx();
  ctx.ports.learnVmMac(3, mac('02:00:00:00:00:99'), 0);
  ctx.ports.markArpDone(3);
  return ctx;
}

test('an ARP request for 169.254.0.1 is answered in place from the port MAC', (t) => {
  const node = new ArpNode(learnedCtx());
  const req = arpFrame({ sha: '02:11:22:33:44:55', spa: '10.100.1.1' }, VM_MAC);
  const r = run(node, req);
  t.is(r.edge, E_TX);
  t.is(r.b.outPort[r.slot], 3);
  t.is(r.out.length, req.length, 'frame length (padding included) unchanged');
  t.is(hex(r.out.subarray(0, 6)), hex(mac('02:11:22:33:44:55')), 'Ethernet dst = sender hardware address');
  t.is(hex(r.out.subarray(6, 12)), hex(mac(PORT_MAC)));
  t.is(hex(r.out.subarray(12, 22)), '0806000108000604' + '0002');
  t.is(hex(r.out.subarray(22, 28)), hex(mac(PORT_MAC)), 'sender MAC = port MAC');
  t.is(hex(r.out.subarray(28, 32)), hex(ip4('169.254.0.1')));
  t.is(hex(r.out.subarray(32, 38)), hex(mac('02:11:22:33:44:55')), 'target MAC = requester');
  t.is(hex(r.out.subarray(38, 42)), hex(ip4('10.100.1.1')));
  t.is(hex(r.out.subarray(42)), hex(req.subarray(42)), 'padding untouched');
});

test('a probe from 0.0.0.0 (upstream test_l2_arp) is answered and teaches nothing', (t) => {
  const ctx = makeCtx();
  const r = run(new ArpNode(ctx), arpFrame({ spa: '0.0.0.0', tha: PORT_MAC }));
  t.is(r.edge, E_TX);
  t.is(hex(r.out.subarray(22, 28)), hex(mac(PORT_MAC)));
  t.is(hex(r.out.subarray(38, 42)), '00000000');
  t.is(ctx.ports.flags(3) & PORT_MAC_LEARNED, 0);
  t.is(vmMacOf(ctx), PORT_MAC, 'VM MAC still the guess (port MAC)');
});

test('the VM\'s first ARP from its own address teaches its MAC and is sent back unchanged', (t) => {
  for (const op of [1, 2]) {
    const ctx = makeCtx();
    const f = arpFrame({ op, sha: '02:00:00:00:00:77', tpa: '169.254.0.1' }, '12:34:56:78:9a:bc');
    const r = run(new ArpNode(ctx), f);
    t.is(r.edge, E_TX, `op ${op}`);
    t.is(r.b.outPort[r.slot], 3);
    t.is(hex(r.out), hex(f), 'reflected as is');
    t.is(vmMacOf(ctx), '12:34:56:78:9a:bc', 'learned from the Ethernet source');
    t.not(ctx.ports.flags(3) & PORT_MAC_LEARNED, 0);
    t.not(ctx.ports.flags(3) & PORT_ARP_DONE, 0, 'the first ARP ends the ARP cycle');
  }
});

test('after the first ARP, a request from the VM address is answered and the MAC is not relearned', (t) => {
  const ctx = makeCtx();
  const node = new ArpNode(ctx);
  run(node, arpFrame({}, '12:34:56:78:9a:bc'));
  const r = run(node, arpFrame({}, '02:02:02:02:02:02'));
  t.is(r.edge, E_TX);
  t.is(r.out[21], 2, 'a reply');
  t.is(vmMacOf(ctx), '12:34:56:78:9a:bc');
});

test('re-attaching an interface makes the next VM ARP teach the MAC again', (t) => {
  const ctx = makeCtx();
  const node = new ArpNode(ctx);
  run(node, arpFrame({}, '12:34:56:78:9a:bc'));
  attach(ctx.ports, 3, {});
  t.is(vmMacOf(ctx), '12:34:56:78:9a:bc', 'old MAC kept over re-attach');
  run(node, arpFrame({}, '01:02:03:04:05:06'));
  t.is(vmMacOf(ctx), '01:02:03:04:05:06');
});

test('on an interface without IPv4 an ARP from 0.0.0.0 counts as the VM\'s first ARP, as upstream', (t) => {
  const ctx = makeCtx({ ipv4: '' });
  const f = arpFrame({ spa: '0.0.0.0' }, '12:34:56:78:9a:bc');
  const r = run(new ArpNode(ctx), f);
  t.is(r.edge, E_TX);
  t.is(hex(r.out), hex(f));
  t.is(vmMacOf(ctx), '12:34:56:78:9a:bc');
});

test('ARP that is not a request for the gateway is dropped as not for us', (t) => {
  const cases: [string, Partial<ArpFields>][] = [
    ['request for another address', { tpa: '10.100.1.2' }],
    ['request for the VM itself', { tpa: VM_IPV4, spa: '10.100.1.9' }],
    ['reply to the gateway', { op: 2, spa: '10.100.1.9' }],
    ['RARP opcode', { op: 3, spa: '10.100.1.9' }],
  ];
  for (const [what, f] of cases) {
    const r = run(new ArpNode(learnedCtx()), arpFrame(f));
    t.is(r.edge, 0, what);
    t.is(r.reason, DropReason.ARP_NOT_FOR_US, what);
  }
});

test('ARP with a non-Ethernet/IPv4 address format is dropped as malformed', (t) => {
  const base = arpFrame();
  for (const [at, v] of [[15, 6], [16, 0x86], [18, 8], [19, 16]] as const) {
    const f = base.slice();
    f[at] = v;
    const r = run(new ArpNode(learnedCtx()), f);
    t.is(r.edge, 0, `byte ${at}`);
    t.is(r.reason, DropReason.MALFORMED, `byte ${at}`);
  }
});

test('every truncation of an ARP request is dropped as truncated', (t) => {
  const full = arpFrame({}, VM_MAC, 0);
  const node = new ArpNode(learnedCtx());
  for (let n = 0; n < full.length; n++) {
    const r = run(node, full.slice(0, n));
    t.is(r.edge, 0, `length ${n}`);
    t.is(r.reason, DropReason.TRUNCATED, `length ${n}`);
  }
  t.is(run(node, full).edge, E_TX);
});

test('a MAC learned by DHCP or ND does not end the ARP cycle; only an ARP does', (t) => {
  const ctx = makeCtx();
  ctx.ports.learnVmMac(3, mac('02:00:00:00:00:99'), 0);
  t.true(arpCycleNeeded(ctx.ports, 3));
  ctx.ports.markArpDone(3);
  t.false(arpCycleNeeded(ctx.ports, 3));
});
