// The store's event log and its watchers: a bounded in-memory log of recent events (so a watcher
// can resume from a version it saw) and, per watcher, a bounded queue drained by an async iterator,
// one event at a time or everything queued at once (a burst of writes as one batch).
// A watcher that cannot be served (resumed from before the log, too slow, or the store replaced by
// a snapshot) gets a WatchResetError and must re-list.
import type { ObjectKind } from '../../common/model.js';
import { WatchResetError, type StoreEvent } from './types.js';

export interface WatchOptions {
  /** Deliver events with a version above this one; default: only events after now. */
  readonly fromVersion?: number;
  /** Only these kinds; default all. */
  readonly kinds?: readonly ObjectKind[];
  readonly signal: AbortSignal;
}

interface Watcher {
  readonly kinds: ReadonlySet<ObjectKind> | null;
  queue: StoreEvent[];
  error: WatchResetError | null;
  done: boolean;
  wake: (() => void) | null;
}

export class EventHub {
  private readonly log: StoreEvent[] = [];
  private logHead = 0;
  /** Every event with a version above this one is in the log. */
  private logFrom = 0;
  private version = 0;
  private readonly watchers = new Set<Watcher>();
  private readonly maxLog: number;
  private readonly maxQueue: number;

  constructor(opts: { maxLog?: number; maxQueue?: number } = {}) {
    this.maxLog = opts.maxLog ?? 10_000;
    this.maxQueue = opts.maxQueue ?? 100_000;
  }

  /** Events of one applied write, all at `version`. */
  publish(events: readonly StoreEvent[], version: number): void {
    this.version = version;
    if (events.length === 0) return;
    for (const e of events) this.log.push(e);
    this.trim();
    for (const w of this.watchers) {
      for (const e of events) if (w.kinds === null || w.kinds.has(e.kind)) w.queue.push(e);
      if (w.queue.length > this.maxQueue) {
        this.fail(
          w,
          new WatchResetError('watch-overflow', version, 'watcher fell too far behind; re-list'),
        );
      } else this.wakeUp(w);
    }
  }

  /** The state was replaced wholesale (snapshot restore): history before `version` is gone. */
  reset(version: number): void {
    this.version = version;
    this.log.length = 0;
    this.logHead = 0;
    this.logFrom = version;
    for (const w of this.watchers) {
      this.fail(w, new WatchResetError('watch-restored', version, 'store restored; re-list'));
    }
  }

  /** Throws WatchResetError('watch-compacted') at once when fromVersion is older than the log. */
  watch(opts: WatchOptions): AsyncIterable<StoreEvent> {
    const batches = this.watchBatches(opts);
    return (async function* () {
      for await (const batch of batches) yield* batch;
    })();
  }

  /**
   * Like watch(), but each step yields every event queued by then, in order (never empty): a
   * consumer that pays per step (a gRPC message) pays once per burst instead of once per event.
   */
  watchBatches(opts: WatchOptions): AsyncIterable<readonly StoreEvent[]> {
    const from = opts.fromVersion ?? this.version;
    if (from < this.logFrom) {
      throw new WatchResetError(
        'watch-compacted',
        this.version,
        `version ${from} is older than the event log (from ${this.logFrom}); re-list`,
      );
    }
    const w: Watcher = {
      kinds: opts.kinds === undefined ? null : new Set(opts.kinds),
      queue: [],
      error: null,
      done: false,
      wake: null,
    };
    for (let i = this.logHead; i < this.log.length; i++) {
      const e = this.log[i]!;
      if (e.version > from && (w.kinds === null || w.kinds.has(e.kind))) w.queue.push(e);
    }
    this.watchers.add(w);
    const signal = opts.signal;
    const onAbort = (): void => {
      w.done = true;
      this.wakeUp(w);
    };
    if (signal.aborted) w.done = true;
    else signal.addEventListener('abort', onAbort, { once: true });
    return this.iterate(w, () => {
      signal.removeEventListener('abort', onAbort);
    });
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  private async *iterate(w: Watcher, cleanup: () => void): AsyncGenerator<StoreEvent[]> {
    try {
      for (;;) {
        if (w.done) return;
        if (w.queue.length > 0) {
          const batch = w.queue;
          w.queue = [];
          yield batch;
          continue;
        }
        if (w.error !== null) throw w.error;
        await new Promise<void>((resolve) => {
          w.wake = resolve;
        });
      }
    } finally {
      this.watchers.delete(w);
      cleanup();
    }
  }

  private fail(w: Watcher, err: WatchResetError): void {
    // Undelivered events are dropped: the watcher re-lists anyway.
    w.queue = [];
    w.error = err;
    this.watchers.delete(w);
    this.wakeUp(w);
  }

  private wakeUp(w: Watcher): void {
    const wake = w.wake;
    if (wake !== null) {
      w.wake = null;
      wake();
    }
  }

  private trim(): void {
    // Drop whole versions, so "everything above logFrom is here" stays true.
    while (this.log.length - this.logHead > this.maxLog) {
      const v = this.log[this.logHead]!.version;
      while (this.logHead < this.log.length && this.log[this.logHead]!.version === v)
        this.logHead++;
      this.logFrom = v;
    }
    if (this.logHead > 1024 && this.logHead * 2 > this.log.length) {
      this.log.splice(0, this.logHead);
      this.logHead = 0;
    }
  }
}
