/**
 * Supervisor <-> worker command channel: two ringbuf.js SPSC rings of Int32 messages (commands
 * down, acknowledgements up) plus a small control block of Int32 slots.
 *
 * Why rings and not postMessage: a polling worker never returns to its event loop, so messages
 * posted to it would never be delivered. The worker checks the command ring once per poll
 * iteration (one Atomics load when empty). When the worker sleeps in its idle back-off
 * (CTL_SLEEPING) it waits in the shim on its rx interrupts and an eventfd (CTL_WAKE_FD), which the
 * supervisor writes to after pushing a command; a worker without one waits on CTL_WAKE, which the
 * supervisor notifies. The worker sets CTL_SLEEPING before it checks the ring a last time, the
 * supervisor pushes before it reads CTL_SLEEPING, so a command never waits for a sleep to end.
 */
import { RingBuffer } from 'ringbuf.js';

/** Int32 words per message: [op, seq, arg0, arg1]. */
export const MSG_WORDS = 4;
const RING_MSGS = 256;

export const Op = {
  PING: 1,
  /** A VM port lost its interface: forget everything about it (flows, learned state). */
  PORT_DETACH: 2,
  /** Leave the poll loop. */
  STOP: 3,
  /** Delete the worker's flows of VM port `a` (its VIP or NAT changed). */
  FLUSH_PORT: 4,
  /** Delete all of the worker's flows. */
  FLUSH_ALL: 5,
} as const;

// control block slots
export const CTL_WAKE = 0;       // Atomics.wait/notify target for the idle back-off
export const CTL_STOP = 1;       // non-zero: leave the poll loop
export const CTL_ACKS = 2;       // incremented (and notified) after every ack push
export const CTL_READY = 3;      // 1 once the worker polls, -1 if it failed to start
export const CTL_SLEEPING = 4;   // 1 while in the idle back-off wait
export const CTL_WAKE_FD = 5;    // the worker's wake-up eventfd (dps_idle_wake), -1 none
const CTL_WORDS = 8;

export interface ChannelBuffers {
  cmd: SharedArrayBuffer;
  ack: SharedArrayBuffer;
  ctl: SharedArrayBuffer;
}

export function createChannelBuffers(): ChannelBuffers {
  const ctl = new SharedArrayBuffer(CTL_WORDS * 4);
  new Int32Array(ctl)[CTL_WAKE_FD] = -1;
  return {
    cmd: RingBuffer.getStorageForCapacity(RING_MSGS * MSG_WORDS, Int32Array),
    ack: RingBuffer.getStorageForCapacity(RING_MSGS * MSG_WORDS, Int32Array),
    ctl,
  };
}

/** The worker's end: pops commands, pushes acks. */
export class WorkerChannel {
  private readonly cmd: RingBuffer;
  private readonly ack: RingBuffer;
  readonly ctl: Int32Array;
  private readonly msg = new Int32Array(MSG_WORDS);

  constructor(bufs: ChannelBuffers) {
    this.cmd = new RingBuffer(bufs.cmd, Int32Array);
    this.ack = new RingBuffer(bufs.ack, Int32Array);
    this.ctl = new Int32Array(bufs.ctl);
  }

  /** Next command into `out` (MSG_WORDS), or false if none. */
  poll(out: Int32Array): boolean {
    if (this.cmd.availableRead() < MSG_WORDS) return false;
    return this.cmd.pop(out, MSG_WORDS) === MSG_WORDS;
  }

  /** Whether a command waits (without taking it). */
  pending(): boolean {
    return this.cmd.availableRead() >= MSG_WORDS;
  }

  /** Acknowledges command `seq` with a result code (0 = ok). */
  acknowledge(seq: number, result: number): void {
    const m = this.msg;
    m[0] = seq;
    m[1] = result;
    m[2] = 0;
    m[3] = 0;
    // the ack ring has as many slots as the command ring: it cannot be full while commands wait
    this.ack.push(m, MSG_WORDS);
    Atomics.add(this.ctl, CTL_ACKS, 1);
    Atomics.notify(this.ctl, CTL_ACKS);
  }
}

/** The supervisor's end: sends commands and resolves them when acknowledged. */
export class SupervisorChannel {
  private readonly cmd: RingBuffer;
  private readonly ack: RingBuffer;
  readonly ctl: Int32Array;
  private seq = 0;
  private readonly pending = new Map<number, (result: number) => void>();
  private readonly msg = new Int32Array(MSG_WORDS);
  private readonly ackMsg = new Int32Array(MSG_WORDS);
  private watching = false;

  /** `wakeFd` writes to a worker's wake-up eventfd (Dpdk.idleWake); without it, Atomics.notify only. */
  constructor(bufs: ChannelBuffers, private readonly wakeFd?: (fd: number) => void) {
    this.cmd = new RingBuffer(bufs.cmd, Int32Array);
    this.ack = new RingBuffer(bufs.ack, Int32Array);
    this.ctl = new Int32Array(bufs.ctl);
  }

  /**
   * Sends a command; resolves with the worker's result code. Rejects after `timeoutMs` (a worker
   * that stopped polling is a fault the caller reports).
   */
  send(op: number, a = 0, b = 0, timeoutMs = 5000): Promise<number> {
    const seq = (this.seq = (this.seq + 1) & 0x7fffffff);
    const m = this.msg;
    m[0] = op;
    m[1] = seq;
    m[2] = a;
    m[3] = b;
    if (this.cmd.availableWrite() < MSG_WORDS) return Promise.reject(new Error('worker command ring full'));
    this.cmd.push(m, MSG_WORDS);
    this.wake();
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`worker did not acknowledge command ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(seq, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.watch();
    });
  }

  /** Waits asynchronously for acks while commands are pending (never blocks the event loop). */
  private watch(): void {
    if (this.watching) return;
    this.watching = true;
    const loop = (): void => {
      this.drain();
      if (this.pending.size === 0) {
        this.watching = false;
        return;
      }
      const seen = Atomics.load(this.ctl, CTL_ACKS);
      this.drain();
      if (this.pending.size === 0) {
        this.watching = false;
        return;
      }
      const w = Atomics.waitAsync(this.ctl, CTL_ACKS, seen, 100);
      if (w.async) void w.value.then(loop);
      else setImmediate(loop);
    };
    loop();
  }

  private drain(): void {
    const m = this.ackMsg;
    while (this.ack.availableRead() >= MSG_WORDS) {
      this.ack.pop(m, MSG_WORDS);
      const done = this.pending.get(m[0]!);
      if (done) {
        this.pending.delete(m[0]!);
        done(m[1]!);
      }
    }
  }

  stop(): void {
    Atomics.store(this.ctl, CTL_STOP, 1);
    this.wake();
  }

  /** Ends the worker's idle sleep, if it sleeps (after a push or a stop). */
  private wake(): void {
    if (Atomics.load(this.ctl, CTL_SLEEPING) === 0) return;
    const fd = Atomics.load(this.ctl, CTL_WAKE_FD);
    if (fd >= 0 && this.wakeFd !== undefined) this.wakeFd(fd);
    else Atomics.notify(this.ctl, CTL_WAKE);
  }
}
