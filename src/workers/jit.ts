/**
 * The compiler budget of the packet path. The per-packet code is a few functions of a few hundred
 * bytecodes each (the fast path's parse and finish, the graph nodes) calling small helpers (port
 * table readers, the flow table's hash and lookup, NAT and Ethernet writers). V8's default
 * inlining budget (460 bytecodes per callee, 920 per function) stops inlining those helpers part
 * of the way down, and every call left costs a frame and reloads what the caller had in
 * registers. bench/graph.js, fast path per burst: 64 ns/packet with the defaults, 53 ns with
 * 2000/8000 (1000/4000: 58 ns; 4000/20000: 52 ns, no better).
 *
 * The worker's loop inlines its whole iteration (worker.ts), the fast path with it, and V8 stops
 * every function's inlining at an absolute total too (4,600 bytecodes by default, which capped the
 * cumulative budget above): the encapsulation's writers were left as calls. bench/overlay, 1,000
 * flows, 1 worker, alternating with the absolute cap at its default: encapsulation 86-91 -> 77 ns
 * per packet, VM to VM and decapsulation unchanged (65-71, 75-81 ns).
 *
 * V8 flags are per process and read when a function is optimised, so setting them when a worker
 * starts, before its loop is compiled, covers the packet path of every worker.
 */
import { setFlagsFromString } from 'node:v8';

export const JIT_FLAGS = '--max-inlined-bytecode-size=2000 --max-inlined-bytecode-size-cumulative=20000 --max-inlined-bytecode-size-absolute=20000';

export function tuneJit(): void {
  setFlagsFromString(JIT_FLAGS);
}
