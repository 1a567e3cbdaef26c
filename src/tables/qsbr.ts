/**
 * Quiescent-state-based reclamation (QSBR, the scheme of DPDK's `rte_rcu_qsbr`) for the shared
 * tables: tells the single writer when an entry it unlinked can no longer be in use by a reader,
 * so that it may be overwritten. Readers pay one `quiescent()` between two batches (two Atomics,
 * ~20-40 ns; a busy worker every few bursts, see HOUSEKEEP_EVERY in worker.ts), never anything per
 * lookup.
 *
 * Protocol. Word 0 is the writer's token T (starts at 1). Each reader owns one word: 0 while it is
 * offline (not reading any table), otherwise the last T it saw at a quiescent point (a moment when
 * it holds no entry index from any table: between batches; a worker's comes after the io call that
 * sent its last batch, since the shim reads route entries as it sends encapsulations). The writer
 * unlinks an entry, then `start()` bumps T to t and returns t; once every online reader shows a
 * value >= t (`check(t)`), each of them has passed a quiescent point after the unlink, so none can
 * still reach the entry.
 * The reader's `Atomics.store` comes after its last plain read of the batch in program order, and
 * the writer's `Atomics.load` that sees it comes before its overwrite: in the JS memory model that
 * makes the reader's reads happen-before the overwrite, so they cannot see it.
 *
 * A reader that goes online reads T first, so a reader that was offline during the unlink and
 * comes back cannot hold the entry and is not waited for longer than its next quiescent point.
 */

const W_TOKEN = 0;
const W_READERS = 1;
/**
 * Each reader's word has a cache line of its own (words 64 bytes apart), after the writer's line:
 * on one line, every reader's store took the line from the other cores (and from the writer).
 */
const LINE_WORDS = 16;
function readerWord(id: number): number {
  return (1 + id) * LINE_WORDS;
}

/** What a table's writer needs to defer reuse of unlinked entries. */
export interface GracePeriod {
  /** Starts a grace period after entries were unlinked; returns its token (never 0). */
  start(): number;
  /** Whether every online reader passed a quiescent point since `start()` returned `token`. */
  check(token: number): boolean;
}

export class Qsbr implements GracePeriod {
  readonly words: Int32Array;
  /** The newest token known to be complete: `check` answers from it without scanning readers. */
  private done = 0;

  static byteSize(maxReaders: number): number {
    return (1 + maxReaders) * LINE_WORDS * 4;
  }

  /** Wraps an existing buffer (workers); `create` makes a new one (supervisor). */
  constructor(readonly sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab);
  }

  static create(maxReaders: number): Qsbr {
    if (!Number.isInteger(maxReaders) || maxReaders < 1) throw new RangeError(`maxReaders ${maxReaders} must be a positive integer`);
    const q = new Qsbr(new SharedArrayBuffer(Qsbr.byteSize(maxReaders)));
    q.words[W_TOKEN] = 1;
    q.words[W_READERS] = maxReaders;
    return q;
  }

  get maxReaders(): number {
    return this.words[W_READERS]!;
  }

  // ---- readers (workers), once per batch ----

  /** Reader `id` starts reading tables. */
  online(id: number): void {
    Atomics.store(this.words, readerWord(id), Atomics.load(this.words, W_TOKEN));
  }

  /** Reader `id` holds no table entry now (between batches). */
  quiescent(id: number): void {
    Atomics.store(this.words, readerWord(id), Atomics.load(this.words, W_TOKEN));
  }

  /** Reader `id` stops reading tables (before idling in `Atomics.wait`, or exiting). */
  offline(id: number): void {
    Atomics.store(this.words, readerWord(id), 0);
  }

  // ---- the writer ----

  start(): number {
    // skip 0 on wrap-around: 0 means "offline" in a reader's word
    let t = Atomics.add(this.words, W_TOKEN, 1) + 1;
    if (t === 0) t = Atomics.add(this.words, W_TOKEN, 1) + 1;
    return t;
  }

  check(token: number): boolean {
    if (token === 0 || (this.done - token | 0) >= 0) return true;
    const n = this.words[W_READERS]!;
    for (let i = 0; i < n; i++) {
      const v = Atomics.load(this.words, readerWord(i));
      // signed difference: correct across the int32 wrap of the token
      if (v !== 0 && (v - token | 0) < 0) return false;
    }
    this.done = token;
    return true;
  }
}
