import test from 'ava';
import { frameOf, loadFrame, makeTestBatch, PF_ENCAP } from '../../src/packet/batch.js';
import { ACT_ENCAP, ACT_TO_VF, flowHash, FlowOwner, KEY_WORDS, R_ACT, R_GEN, R_UL, RECORD } from '../../src/tables/flow-table.js';
import { FirewallNode } from '../../src/workers/nodes/firewall.js';
import { ascii, cat, eth, flowKey4, hex, ip6, ipv4, makeCtx, PORT_MAC, udp, VM_IPV4, VM_MAC } from './frames.js';

const FRAME = cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4(VM_IPV4, '10.100.1.2', 17, udp(1, 2, ascii('x'))));

/** A context with one flow; runs the firewall on a packet of direction `dir` of it. */
function decide(dir: number, flags: number, outPort: number, gen: number, nh = 'fc00:2::1') {
  const ctx = makeCtx();
  const owner: FlowOwner = ctx.fwd.owner;
  const k = new Int32Array(KEY_WORDS * 2);
  k.set(flowKey4(100, VM_IPV4, '10.100.1.2', 1, 2, 17), 0);
  k.set(flowKey4(100, '10.100.1.2', VM_IPV4, 2, 1, 17), KEY_WORDS);
  const f = owner.insert(k, 0, flowHash(k, 0), KEY_WORDS, flowHash(k, KEY_WORDS), 3, 0);
  const node = new FirewallNode(ctx);
  const b = makeTestBatch(3);
  loadFrame(b, 2, FRAME, 3);
  b.flow[2] = f;
  b.dir[2] = dir;
  b.flags[2] = flags;
  b.outPort[2] = outPort;
  b.gen[2] = gen;
  b.ulDst.set(ip6(nh), 32);
  const next = node.edges[node.process(b, 2)];
  return { next, rec: ctx.fwd.flows.rec, base: f * RECORD, out: frameOf(b, 2) };
}

test('firewall declares drop as edge 0, tx and ipip_encap', (t) => {
  t.deepEqual(new FirewallNode(makeCtx()).edges, ['drop', 'tx', 'ipip_encap']);
});

test('a packet to a VM passes to tx and the flow caches "to VM port N" under the packet\'s generation', (t) => {
  for (const dir of [0, 1]) {
    const r = decide(dir, 0, 4, 7);
    t.is(r.next, 'tx', `dir ${dir}`);
    t.is(r.rec[r.base + R_ACT + dir], (ACT_TO_VF << 16) | 4, `dir ${dir}`);
    t.is(r.rec[r.base + R_GEN + dir], 7, `dir ${dir}`);
    t.is(r.rec[r.base + R_ACT + 1 - dir], 0, `dir ${dir}: the other direction is not decided`);
    t.is(r.rec[r.base + R_GEN + 1 - dir], 0, `dir ${dir}`);
    t.is(hex(r.out), hex(FRAME), 'rules are not enforced and nothing is rewritten');
  }
});

test('an encapsulated packet passes to ipip_encap and the flow caches the uplink and the outer destination', (t) => {
  for (const dir of [0, 1]) {
    const r = decide(dir, PF_ENCAP, 1, 3, 'fc00:2::abcd:1');
    t.is(r.next, 'ipip_encap', `dir ${dir}`);
    t.is(r.rec[r.base + R_ACT + dir], (ACT_ENCAP << 16) | 1);
    t.is(r.rec[r.base + R_GEN + dir], 3);
    const ul = new Uint8Array(16);
    const dv = new DataView(ul.buffer);
    for (let i = 0; i < 4; i++) dv.setInt32(i * 4, r.rec[r.base + R_UL + dir * 4 + i]!);
    t.is(hex(ul), hex(ip6('fc00:2::abcd:1')), `dir ${dir}`);
  }
});
