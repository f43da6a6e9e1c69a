// A KvDriver over the members of a leader-based replicated store (etcd, tug's Raft KV, …): it
// sends every request straight to the member that says it is the leader, and when an attempt fails
// with a retryable error it rediscovers the leader by polling every member's status. The same policy
// drives every system in a comparison, so failover time measures the servers, not the clients.

import { BenchTimeoutError } from './errors.js';
import type { KvDriver } from './load.js';
import { sleep } from './wait.js';

export interface MemberStatus {
  /** The answering member's own id. */
  readonly id: string;
  /** Whom the member believes to be leader; null when it knows of none. */
  readonly leader: string | null;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
}

/** One member's client. Each call is bounded by its own timeout. */
export interface MemberClient {
  /** For messages ("etcd-2", "tug-3"). */
  readonly name: string;
  put(key: string, value: Uint8Array, timeoutMs: number): Promise<void>;
  get(key: string, timeoutMs: number): Promise<Uint8Array | null>;
  status(timeoutMs: number): Promise<MemberStatus>;
  /** True when `err`, thrown by this client, means "this member cannot serve now": try elsewhere. */
  isRetryable(err: unknown): boolean;
  close(): void;
}

export interface LeaderDriverOptions {
  /** Bound on one attempt against one member. */
  readonly attemptTimeoutMs?: number;
  /** Bound on one put or get, all retries and leader discovery included. */
  readonly opTimeoutMs?: number;
  /** Bound on one status call during discovery. */
  readonly statusTimeoutMs?: number;
  /** Pause between discovery rounds that found no leader: the resolution of failover times. */
  readonly pollIntervalMs?: number;
  readonly signal?: AbortSignal;
}

/** Thrown when one operation could not be served within its whole time budget. */
export class NoLeaderError extends BenchTimeoutError {
  override readonly name = 'NoLeaderError';
}

export class LeaderFollowingDriver implements KvDriver {
  readonly #members: readonly MemberClient[];
  readonly #attemptTimeoutMs: number;
  readonly #opTimeoutMs: number;
  readonly #statusTimeoutMs: number;
  readonly #pollIntervalMs: number;
  readonly #signal: AbortSignal | undefined;
  #leader: number | undefined;
  #discovery: Promise<number> | undefined;
  #failedAttempts = 0;

  constructor(members: readonly MemberClient[], options: LeaderDriverOptions = {}) {
    if (members.length === 0)
      throw new RangeError('LeaderFollowingDriver needs at least one member');
    this.#members = members;
    this.#attemptTimeoutMs = options.attemptTimeoutMs ?? 5000;
    this.#opTimeoutMs = options.opTimeoutMs ?? 30_000;
    this.#statusTimeoutMs = options.statusTimeoutMs ?? 500;
    this.#pollIntervalMs = options.pollIntervalMs ?? 20;
    this.#signal = options.signal;
  }

  /** Attempts that failed with a retryable error and were retried, since construction. */
  get failedAttempts(): number {
    return this.#failedAttempts;
  }

  /** The member currently believed to be leader, if any. */
  get leaderName(): string | undefined {
    return this.#leader === undefined ? undefined : this.#members[this.#leader]!.name;
  }

  put(key: string, value: Uint8Array): Promise<void> {
    return this.#withLeader(`put ${key}`, (m, t) => m.put(key, value, t));
  }

  get(key: string): Promise<Uint8Array | null> {
    return this.#withLeader(`get ${key}`, (m, t) => m.get(key, t));
  }

  close(): Promise<void> {
    for (const m of this.#members) m.close();
    return Promise.resolve();
  }

  /** Finds the leader now (or reuses a discovery in progress) and returns its index. */
  findLeader(timeoutMs = this.#opTimeoutMs): Promise<number> {
    if (this.#leader !== undefined) return Promise.resolve(this.#leader);
    this.#discovery ??= this.#discover(timeoutMs).finally(() => {
      this.#discovery = undefined;
    });
    return this.#discovery;
  }

  /** Forgets the believed leader and asks every member again (e.g. right before killing it). */
  rediscover(timeoutMs = this.#opTimeoutMs): Promise<number> {
    this.#leader = undefined;
    return this.findLeader(timeoutMs);
  }

  async #withLeader<T>(
    what: string,
    call: (member: MemberClient, timeoutMs: number) => Promise<T>,
  ): Promise<T> {
    const deadline = performance.now() + this.#opTimeoutMs;
    let lastError: unknown;
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) throw new NoLeaderError(what, this.#opTimeoutMs, { cause: lastError });
      const index = await this.findLeader(left);
      const member = this.#members[index]!;
      try {
        return await call(member, Math.min(this.#attemptTimeoutMs, Math.max(1, left)));
      } catch (err) {
        if (!member.isRetryable(err)) throw err;
        lastError = err;
        this.#failedAttempts++;
        if (this.#leader === index) this.#leader = undefined;
      }
    }
  }

  async #discover(timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    let lastError: unknown;
    for (;;) {
      const statuses = await Promise.allSettled(
        this.#members.map((m) => m.status(this.#statusTimeoutMs)),
      );
      let best: { index: number; term: number } | undefined;
      for (const [index, s] of statuses.entries()) {
        if (s.status === 'rejected') {
          lastError = s.reason;
          continue;
        }
        const claims = s.value.leader !== null && s.value.leader === s.value.id;
        if (claims && (best === undefined || s.value.term > best.term)) {
          best = { index, term: s.value.term };
        }
      }
      if (best !== undefined) {
        this.#leader = best.index;
        return best.index;
      }
      if (performance.now() + this.#pollIntervalMs > deadline) {
        throw new NoLeaderError(
          `a member claiming leadership among ${this.#members.map((m) => m.name).join(', ')}`,
          Math.round(timeoutMs),
          lastError === undefined ? undefined : { cause: lastError },
        );
      }
      await sleep(this.#pollIntervalMs, this.#signal);
    }
  }
}
