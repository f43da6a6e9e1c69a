// Test helpers for the event-driven shells (orchestrator, scheduler): a fake clock with timers, a
// proposer that can slip a concurrent write in just before the next proposal, and a settle loop.
import type { TaskId } from '../../common/model.js';
import type { MemoryStore, Proposer, Transaction } from '../store/index.js';
import { encodeBatch, encodeTransaction } from '../store/index.js';
import { FakeProposer } from '../store/test-fixtures.js';
import type { Clock } from '../../common/clock.js';

export class FakeClock implements Clock {
  t = 1_000_000;
  private readonly timers = new Set<{ at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimer(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + ms, fn };
    this.timers.add(timer);
    return () => {
      this.timers.delete(timer);
    };
  }
  /** Moves time on and fires every timer now due, earliest first. */
  advance(ms: number): void {
    this.t += ms;
    for (const timer of [...this.timers].sort((a, b) => a.at - b.at)) {
      if (timer.at > this.t) continue;
      this.timers.delete(timer);
      timer.fn();
    }
  }
  get pending(): number {
    return this.timers.size;
  }
}

/**
 * Applies every proposal at once, like FakeProposer; `interpose` commits another transaction just
 * before the next proposal, as a concurrent writer on another manager would. `fail` makes the
 * next proposals reject (lost leadership).
 */
export class InterposingProposer implements Proposer {
  readonly inner: FakeProposer;
  private next: (() => Transaction) | null = null;
  fail = 0;
  constructor(store: MemoryStore) {
    this.inner = new FakeProposer(store);
  }
  interpose(build: () => Transaction): void {
    this.next = build;
  }
  async propose(data: Uint8Array): Promise<{ index: number; result: unknown }> {
    if (this.fail > 0) {
      this.fail--;
      throw new Error('not leader');
    }
    const build = this.next;
    this.next = null;
    if (build !== null) await this.inner.propose(encodeBatch(0, [encodeTransaction(build())]));
    return this.inner.propose(data);
  }
}

export const turn = (): Promise<void> =>
  new Promise((resolve) => {
    setImmediate(resolve);
  });

/** Until every `idle()` holds and the store has not moved for a few turns of the event loop. */
export const settle = async (
  store: MemoryStore,
  idle: () => boolean,
  drained: () => Promise<void>,
): Promise<void> => {
  let quiet = 0;
  let last = -1;
  for (let i = 0; i < 1000 && quiet < 5; i++) {
    await turn();
    await drained();
    quiet = store.version === last && idle() ? quiet + 1 : 0;
    last = store.version;
  }
};

export const sequentialIds = (prefix = 'task'): (() => TaskId) => {
  let n = 0;
  return () => `${prefix}${String(++n).padStart(4, '0')}` as TaskId;
};
