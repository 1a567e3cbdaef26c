/** What the supervisor hands a worker thread at start (structured-cloned; SABs are shared). */
import type { ChannelBuffers } from './channel.js';
import type { ForwardingBuffers, ForwardingSettings, NodeSettings } from './node-context.js';

export interface WorkerData {
  /** Path of libdpshim.so. */
  shimPath: string;
  /** Worker index = queue id on every port. */
  queue: number;
  lcore: number;
  /** CPU to pin to (-1: leave unpinned). */
  cpu: number;
  /** Every started port; the worker polls its queue on each. */
  ports: number[];
  /** rx burst per port and per poll. */
  burst: number;
  /** false: busy-poll forever (--no-idle-backoff). */
  idleBackoff: boolean;
  /** The worker that sends periodic packets (GARP, NA, RA). */
  periodic: boolean;
  portTable: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  channel: ChannelBuffers;
  settings: NodeSettings;
  /** Shared forwarding tables (routes, VNF, flows) and the grace-period words. */
  forwarding: ForwardingBuffers;
  forwardingSettings: ForwardingSettings;
  qsbr: SharedArrayBuffer;
  /** Per-worker flow counters (FS_* words). */
  flowStats: SharedArrayBuffer;
  /** Wall-clock ms the flow table's seconds count from (the same for every worker). */
  epochMs: number;
}

/** Per-worker stats words (Float64Array in `stats`). */
export const WS_ITERATIONS = 0;
export const WS_RX = 1;
export const WS_TX = 2;
export const WS_TX_FAILED = 3;
export const WS_IDLE_WAITS = 4;
export const WS_BUSY = 5;
export const WS_COMMANDS = 6;
export const WS_ALLOC_FAILED = 7;
/** Idle sleeps a packet on an rx interrupt port ended (not the timeout or a command). */
export const WS_RX_WAKEUPS = 8;
export const WS_WORDS = 9;
