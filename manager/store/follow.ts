// How a component follows the store: a full read, then events from the version that read saw,
// and a full read again whenever the watch says it fell behind. Plus the loop runner the
// event-driven components share. Both exist so each component writes only its own decisions.
import type { ObjectKind } from '../../common/model.js';
import type { MemoryStore } from './memory-store.js';
import { WatchResetError, type StoreEvent } from './types.js';

export interface FollowOptions {
  readonly store: MemoryStore;
  readonly kinds: readonly ObjectKind[];
  /** Reads whatever the component needs, in one turn; returns the version it read at. */
  readonly resync: () => number;
  readonly onEvent: (e: StoreEvent) => void;
  readonly signal: AbortSignal;
  readonly log?: (line: string) => void;
  /** For log lines ("orchestrator"). */
  readonly name: string;
}

/** Follows the store until `signal` aborts. Errors other than a watch reset end it. */
export const followStore = async (o: FollowOptions): Promise<void> => {
  while (!o.signal.aborted) {
    const from = o.resync();
    try {
      const events = o.store.watch({ fromVersion: from, kinds: o.kinds, signal: o.signal });
      for await (const e of events) o.onEvent(e);
    } catch (e) {
      if (!(e instanceof WatchResetError)) throw e;
      o.log?.(`${o.name}: watch reset (${e.code}); re-reading the store`);
    }
  }
};

/**
 * Runs `loops` until `signal` aborts or one of them fails; each loop gets a signal that ends them
 * all, and `wake` is called on abort so a loop parked on its own wait-for-work notices.
 */
export const runLoops = async (
  signal: AbortSignal,
  wake: () => void,
  loops: readonly ((stop: AbortSignal) => Promise<void>)[],
): Promise<void> => {
  const stop = new AbortController();
  const onAbort = (): void => {
    stop.abort();
    wake();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  try {
    const results = await Promise.allSettled(
      loops.map((loop) =>
        loop(stop.signal).catch((e: unknown) => {
          onAbort();
          throw e;
        }),
      ),
    );
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
};
