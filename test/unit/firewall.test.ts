import test from 'ava';
import { frameOf, loadFrame, makeTestBatch, PF_ENCAP } from '../../src/packet/batch.js';
import {
  ACT_ENCAP, ACT_NAT, ACT_TO_VF, FLOW_DECIDED, FLOW_DST_NAT, FLOW_SRC_NAT, flowHash, FlowOwner, KEY_STRIDE, KEY_WORDS, R_ACT, R_FLAGS, R_GEN, R_UL,
  RECORD,
} from '../../src/tables/flow-table.js';
import { FirewallNode } from '../../src/workers/nodes/firewall.js';
import { ascii, cat, eth, flowKey4, hex, ip6, ipv4, makeCtx, PORT_MAC, udp, VM_IPV4, VM_MAC } from './frames.js';

const FRAME = cat(eth(PORT_MAC, VM_MAC, 0x0800), ipv4(VM_IPV4, '10.100.1.2', 17, udp(1, 2, ascii('x'))));

/** A context with one flow; runs the firewall on a packet of direction `dir` of it. */
function decide(dir: number, flags: number, outPort: number, gen: number, nh = 'fc00:2::1', flowFlags = 0) {
  const ctx = makeCtx();
  const owner: FlowOwner = ctx.fwd.owner;
  const k = new Int32Array(KEY_WORDS * 2);
  k.set(flowKey4(100, VM_IPV4, '10.100.1.2', 1, 2, 17), 0);
  k.set(flowKey4(100, '10.100.1.2', VM_IPV4, 2, 1, 17), KEY_WORDS);
  const f = owner.insert(k, 0, flowHash(k, 0), KEY_WORDS, flowHash(k, KEY_WORDS), 3, 0);
  ctx.fwd.flows.rec[f * RECORD + R_FLAGS] = flowFlags;
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
    t.is(r.rec[r.base + R_ACT + dir * KEY_STRIDE], (ACT_TO_VF << 16) | 4, `dir ${dir}`);
    t.is(r.rec[r.base + R_GEN + dir * KEY_STRIDE], 7, `dir ${dir}`);
    t.is(r.rec[r.base + R_ACT + (1 - dir) * KEY_STRIDE], 0, `dir ${dir}: the other direction is not decided`);
    t.is(r.rec[r.base + R_GEN + (1 - dir) * KEY_STRIDE], 0, `dir ${dir}`);
    t.is(hex(r.out), hex(FRAME), 'rules are not enforced and nothing is rewritten');
  }
});

test('an encapsulated packet passes to ipip_encap and the flow caches the uplink and the outer destination', (t) => {
  for (const dir of [0, 1]) {
    const r = decide(dir, PF_ENCAP, 1, 3, 'fc00:2::abcd:1');
    t.is(r.next, 'ipip_encap', `dir ${dir}`);
    t.is(r.rec[r.base + R_ACT + dir * KEY_STRIDE], (ACT_ENCAP << 16) | 1);
    t.is(r.rec[r.base + R_GEN + dir * KEY_STRIDE], 3);
    const ul = new Uint8Array(16);
    const dv = new DataView(ul.buffer);
    for (let i = 0; i < 4; i++) dv.setInt32(i * 4, r.rec[r.base + R_UL + dir * 4 + i]!);
    t.is(hex(ul), hex(ip6('fc00:2::abcd:1')), `dir ${dir}`);
  }
});

test('a decision of a flow with VIP or network NAT says so on its own line (ACT_NAT); one without does not', (t) => {
  for (const [flags, nat] of [[0, 0], [FLOW_SRC_NAT, ACT_NAT], [FLOW_DST_NAT, ACT_NAT], [FLOW_SRC_NAT | FLOW_DST_NAT, ACT_NAT]] as const) {
    for (const dir of [0, 1]) {
      const r = decide(dir, 0, 4, 7, 'fc00:2::1', flags);
      t.is(r.rec[r.base + R_ACT + dir * KEY_STRIDE], nat | (ACT_TO_VF << 16) | 4, `flags ${flags} dir ${dir}`);
      t.is(r.rec[r.base + R_FLAGS]!, flags | FLOW_DECIDED, 'the first packet decided the flow');
    }
  }
});
