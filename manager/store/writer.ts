// Submits transactions through Raft. Concurrent submissions queue and go out together as one
// proposal (bounded by bytes and changes, as swarmkit bounds its batches), with a few proposals in
// flight; each caller gets the outcome of its own transaction. Refusals (conflict, exists, …) are
// outcomes; only failures to replicate (not leader, stopped, dropped) reject.
import { batchOverheadBytes, encodeBatch, encodeTransaction } from './codec.js';
import type { MemoryStore } from './memory-store.js';
import { StoreApplyError, type Transaction, type TransactionOutcome } from './types.js';

/** What the store needs from Raft. `RaftNode` satisfies it. */
export interface Proposer {
  propose(data: Uint8Array): Promise<{ index: number; result: unknown }>;
}

export interface StoreWriterDeps {
  readonly proposer: Proposer;
  /** The leader's clock: stamped into each proposal as createdAt/updatedAt. */
  readonly now: () => number;
  /** Default 1.5 MiB. */
  readonly maxProposalBytes?: number;
  /** Default 200. */
  readonly maxProposalChanges?: number;
  /**
   * Proposals outstanding at once; further submissions wait and batch. Default 4: Raft sends
   * proposals made while others are in flight in the same appends, so more in flight costs no
   * extra round trips, and with 2 the orchestrator and scheduler took turns (docs/store.md).
   */
  readonly maxInFlight?: number;
}

interface Pending {
  readonly json: string;
  readonly bytes: number;
  readonly changes: number;
  readonly resolve: (o: TransactionOutcome) => void;
  readonly reject: (e: unknown) => void;
}

export const defaultMaxProposalBytes = 1.5 * 1024 * 1024;
export const defaultMaxProposalChanges = 200;

export class StoreWriter {
  private readonly deps: StoreWriterDeps;
  private readonly maxBytes: number;
  private readonly maxChanges: number;
  private readonly maxInFlight: number;
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private idle: Promise<void> = Promise.resolve();
  private settleIdle: (() => void) | null = null;
  /** Proposals made so far (for tests and metrics). */
  proposals = 0;

  constructor(deps: StoreWriterDeps) {
    this.deps = deps;
    this.maxBytes = deps.maxProposalBytes ?? defaultMaxProposalBytes;
    this.maxChanges = deps.maxProposalChanges ?? defaultMaxProposalChanges;
    this.maxInFlight = deps.maxInFlight ?? 4;
  }

  /**
   * Resolves with the transaction's outcome once applied on this manager; rejects only when it
   * could not be replicated (its fate is then unknown: re-read before retrying).
   */
  submit(tx: Transaction): Promise<TransactionOutcome> {
    const json = encodeTransaction(tx);
    const bytes = Buffer.byteLength(json) + 1;
    if (tx.length > this.maxChanges || bytes + batchOverheadBytes > this.maxBytes) {
      return Promise.resolve({
        ok: false,
        code: 'invalid',
        message: `transaction of ${tx.length} changes and ${bytes} bytes exceeds one proposal (${this.maxChanges} changes, ${this.maxBytes} bytes)`,
        change: 0,
      });
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ json, bytes, changes: tx.length, resolve, reject });
      this.pump();
    });
  }

  /** Resolves once nothing is queued or in flight. */
  drained(): Promise<void> {
    return this.inFlight === 0 && this.queue.length === 0 ? Promise.resolve() : this.idle;
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      let bytes = batchOverheadBytes;
      let changes = 0;
      let n = 0;
      for (const p of this.queue) {
        if (n > 0 && (bytes + p.bytes > this.maxBytes || changes + p.changes > this.maxChanges))
          break;
        bytes += p.bytes;
        changes += p.changes;
        n++;
      }
      const batch = this.queue.splice(0, n);
      if (this.inFlight === 0 && this.settleIdle === null) {
        this.idle = new Promise((resolve) => {
          this.settleIdle = resolve;
        });
      }
      this.inFlight++;
      this.proposals++;
      void this.propose(batch).finally(() => {
        this.inFlight--;
        this.pump();
        if (this.inFlight === 0 && this.queue.length === 0) {
          const s = this.settleIdle;
          this.settleIdle = null;
          s?.();
        }
      });
    }
  }

  /** Never rejects: every waiter of the batch is settled here. */
  private async propose(batch: readonly Pending[]): Promise<void> {
    try {
      const data = encodeBatch(
        this.deps.now(),
        batch.map((p) => p.json),
      );
      const { result } = await this.deps.proposer.propose(data);
      if (!Array.isArray(result) || result.length !== batch.length) {
        throw new StoreApplyError(
          `store apply returned ${Array.isArray(result) ? result.length : typeof result} outcomes for ${batch.length} transactions`,
        );
      }
      batch.forEach((p, i) => {
        p.resolve(result[i] as TransactionOutcome);
      });
    } catch (e) {
      for (const p of batch) p.reject(e);
    }
  }
}

/**
 * Read-modify-write, like swarmkit's store.Update: `build` reads the local store and returns the
 * transaction (or null for nothing to do); on a version conflict it runs again on the newer state,
 * up to `attempts` times. Every other outcome is returned as it is.
 */
export const update = async (
  store: MemoryStore,
  writer: StoreWriter,
  build: (store: MemoryStore) => Transaction | null,
  opts: { attempts?: number } = {},
): Promise<TransactionOutcome | null> => {
  const attempts = opts.attempts ?? 3;
  for (let i = 1; ; i++) {
    const tx = build(store);
    if (tx === null) return null;
    const o = await writer.submit(tx);
    if (o.ok || o.code !== 'conflict' || i >= attempts) return o;
  }
};
