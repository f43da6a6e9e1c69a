// The Raft driver: owns one core, its write-ahead log, the ticker and the transport, and runs the
// Ready loop in the order that makes acknowledgements safe — persist (fsync), then send, then
// apply, then advance. Proposals, reads and inbound messages queue while a Ready is being
// persisted and go into the core together on the next turn: that is the group commit.
import {
  MessageType,
  NONE,
  Raft,
  Role,
  decodeConfChange,
  sendableBeforePersist,
  type ConfChange,
  type Entry,
  type HardState,
  type MemberId,
  type Message,
  type PersistedState,
  type ProposeOutcome,
  type RaftConfig,
  type Snapshot,
  type Status,
} from './core/index.js';
import {
  CatchUpTimeoutError,
  NotLeaderError,
  ProposalDroppedError,
  ProposalRejectedError,
  RaftStoppedError,
} from './errors.js';

/** The replicated state machine: deterministic, applied in log order on every member. */
export interface StateMachine<R = unknown> {
  apply(entry: Entry): R;
  snapshot(): Uint8Array;
  /** Replace the whole state; empty data means the initial (empty) state. */
  restore(data: Uint8Array): void;
}

/** Durable storage of the log (the WAL); `save` resolves only once the data is fsynced when sync. */
export interface RaftStorage {
  save(hardState: HardState | null, entries: readonly Entry[], sync: boolean): Promise<void>;
  saveSnapshot(snapshot: Snapshot): Promise<void>;
  releaseTo(index: number): Promise<void>;
}

export interface RaftSender {
  send(messages: readonly Message[]): void;
}

export interface RaftNodeOptions<R> {
  readonly id: MemberId;
  readonly storage: RaftStorage;
  readonly persisted: PersistedState;
  readonly sender: RaftSender;
  readonly stateMachine: StateMachine<R>;
  /** Initial voters of a brand-new cluster; ignored when persisted state exists. */
  readonly bootstrap?: readonly MemberId[];
  readonly config?: Partial<RaftConfig>;
  readonly tickMs?: number;
  /** Take a snapshot after this many applied entries. Default 10,000. */
  readonly snapshotEntries?: number;
  /** Entries kept behind a snapshot so slow followers catch up without one. Default 1,000. */
  readonly keepEntries?: number;
  readonly random?: () => number;
  readonly log?: (line: string) => void;
  /** Called (in the loop) whenever leadership changes as seen by this member. */
  readonly onLeaderChange?: (leader: MemberId, term: number) => void;
  /** Called after a conf change entry is applied, with the change (e.g. to update peer addresses). */
  readonly onConfChange?: (cc: ConfChange) => void;
  /**
   * Called once if the loop stops on an error (a failed write or fsync): the node is stopped and
   * must not go on; a process should exit and be restarted to recover from its WAL.
   */
  readonly onFatal?: (err: Error) => void;
}

interface ProposalWaiter<R> {
  readonly term: number;
  readonly resolve: (r: { index: number; term: number; result: R }) => void;
  readonly reject: (e: Error) => void;
}

interface ReadWaiter {
  index: number;
  readonly resolve: (index: number) => void;
  readonly reject: (e: Error) => void;
}

type Queued<R> =
  | {
      readonly type: 'propose';
      readonly data: Uint8Array;
      readonly term: number | undefined;
      readonly waiter: ProposalWaiter<R> | null;
      readonly settle: (o: ProposeOutcome) => void;
    }
  | { readonly type: 'conf'; readonly cc: ConfChange; readonly settle: (o: ProposeOutcome) => void }
  | {
      readonly type: 'transfer';
      readonly to: MemberId;
      readonly settle: (o: ProposeOutcome) => void;
    }
  | { readonly type: 'read'; readonly waiter: ReadWaiter }
  | { readonly type: 'unreachable'; readonly to: MemberId }
  | { readonly type: 'snapshot-status'; readonly to: MemberId; readonly ok: boolean };

export class RaftNode<R = unknown> {
  readonly id: MemberId;
  private readonly raft: Raft;
  private readonly opts: RaftNodeOptions<R>;
  private readonly inbox: Message[] = [];
  private readonly queue: Queued<R>[] = [];
  private ticks = 0;
  private wake: (() => void) | null = null;
  private stopped = false;
  private loopDone: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly proposals = new Map<number, ProposalWaiter<R>>();
  private readonly readsByCtx = new Map<string, ReadWaiter>();
  private readonly readsWaitingApply: ReadWaiter[] = [];
  private readSeq = 0;
  private snapshotIndex: number;
  private cachedStatus: Status | null = null;
  private failure: Error | null = null;

  constructor(opts: RaftNodeOptions<R>) {
    this.opts = opts;
    this.id = opts.id;
    const p = opts.persisted;
    const fresh = p.snapshot === null && p.entries.length === 0 && p.hardState.term === 0;
    this.raft = new Raft({
      config: { ...opts.config, id: opts.id },
      random: opts.random ?? Math.random,
      persisted: p,
      ...(opts.log !== undefined ? { log: opts.log } : {}),
    });
    if (p.snapshot !== null) opts.stateMachine.restore(p.snapshot.data);
    this.snapshotIndex = p.snapshot?.metadata.index ?? 0;
    if (fresh && opts.bootstrap !== undefined && opts.bootstrap.length > 0)
      this.raft.bootstrap(opts.bootstrap);
  }

  /** Starts the ticker and the Ready loop. */
  start(): void {
    const tickMs = this.opts.tickMs ?? 100;
    this.timer = setInterval(() => {
      this.ticks++;
      this.kick();
    }, tickMs);
    this.loopDone = this.loop().catch((e: unknown) => {
      // A storage failure leaves nothing safe to do but stop: never acknowledge unsynced data.
      this.failure = e instanceof Error ? e : new Error(String(e));
      this.opts.log?.(`raft node ${this.id} stopped on error: ${this.failure.message}`);
      this.shutdown(this.failure);
      this.opts.onFatal?.(this.failure);
    });
  }

  async stop(): Promise<void> {
    this.shutdown(new RaftStoppedError());
    await this.loopDone;
  }

  /** Inbound message from the transport. */
  step(m: Message): void {
    if (this.stopped) return;
    this.inbox.push(m);
    this.kick();
  }

  reportUnreachable(to: MemberId): void {
    this.enqueue({ type: 'unreachable', to });
  }

  reportSnapshot(to: MemberId, ok: boolean): void {
    this.enqueue({ type: 'snapshot-status', to, ok });
  }

  /**
   * Replicates data; resolves with the state machine's result once applied on this member. With
   * `term`, refused unless this member leads in exactly that term (fencing, see Raft#propose).
   */
  propose(data: Uint8Array, term?: number): Promise<{ index: number; term: number; result: R }> {
    return new Promise((resolve, reject) => {
      const waiter = { term: 0, resolve, reject };
      this.enqueue({
        type: 'propose',
        data,
        term,
        waiter,
        settle: (o) => {
          if (!o.ok) reject(this.outcomeError(o));
          else this.proposals.set(o.index, { ...waiter, term: o.term });
        },
      });
    });
  }

  /** Resolves with a read index once this member has applied it: a linearizable read point. */
  readIndex(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.enqueue({ type: 'read', waiter: { index: 0, resolve, reject } });
    });
  }

  proposeConfChange(cc: ConfChange): Promise<number> {
    return new Promise((resolve, reject) => {
      this.enqueue({
        type: 'conf',
        cc,
        settle: (o) => {
          if (!o.ok) reject(this.outcomeError(o));
          else
            this.proposals.set(o.index, {
              term: o.term,
              resolve: (r) => {
                resolve(r.index);
              },
              reject,
            });
        },
      });
    });
  }

  /**
   * Adds a member the safe way: as a learner first, so it copies the log without counting towards
   * any quorum; promoted to voter only once it has every entry committed when it was added and
   * lags the commit index by at most `maxLagEntries`. Must be called on the leader.
   */
  async addMember(
    member: MemberId,
    context: string,
    opts: { timeoutMs?: number; maxLagEntries?: number } = {},
  ): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const maxLag = opts.maxLagEntries ?? 1_000;
    await this.proposeConfChange({ type: 'add-learner', member, context });
    const needed = this.status().commit;
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = this.status();
      if (s.role !== Role.Leader)
        throw new NotLeaderError(s.leader, 'lost leadership while adding a member');
      const match = s.progress.get(member)?.match ?? 0;
      if (match >= needed && s.commit - match <= maxLag) break;
      if (Date.now() >= until) throw new CatchUpTimeoutError(member, timeoutMs, match, s.commit);
      if (this.stopped) throw this.failure ?? new RaftStoppedError();
      await new Promise((resolve) => setTimeout(resolve, this.opts.tickMs ?? 100));
    }
    await this.proposeConfChange({ type: 'promote', member, context });
  }

  transferLeadership(to: MemberId): Promise<void> {
    return new Promise((resolve, reject) => {
      this.enqueue({
        type: 'transfer',
        to,
        settle: (o) => {
          if (o.ok) resolve();
          else reject(this.outcomeError(o));
        },
      });
    });
  }

  /** The core's status, computed at most once per loop turn (callers may ask per request). */
  status(): Status {
    return (this.cachedStatus ??= this.raft.status());
  }

  get leader(): MemberId {
    return this.status().leader;
  }

  // ---- the loop -----------------------------------------------------------------------------

  private enqueue(q: Queued<R>): void {
    if (this.stopped) {
      const err = this.failure ?? new RaftStoppedError();
      if (q.type === 'read') q.waiter.reject(err);
      else if (q.type === 'propose' || q.type === 'conf' || q.type === 'transfer') {
        q.settle({ ok: false, reason: 'not-leader', leader: NONE, detail: err.message });
      }
      return;
    }
    this.queue.push(q);
    this.kick();
  }

  private kick(): void {
    const w = this.wake;
    if (w !== null) {
      this.wake = null;
      w();
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.feed();
      this.cachedStatus = null;
      if (!this.raft.hasReady()) {
        if (this.inbox.length > 0 || this.queue.length > 0 || this.ticks > 0) continue;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        continue;
      }
      await this.handleReady();
      await this.maybeSnapshot();
    }
  }

  /** Hands everything that queued up since the last turn to the core. */
  private feed(): void {
    for (; this.ticks > 0; this.ticks--) this.raft.tick();
    for (const m of this.inbox.splice(0)) this.raft.step(m);
    for (const q of this.queue.splice(0)) {
      switch (q.type) {
        case 'propose':
          q.settle(this.raft.propose(q.data, q.term));
          break;
        case 'conf':
          q.settle(this.raft.proposeConfChange(q.cc));
          break;
        case 'transfer':
          q.settle(this.raft.transferLeadership(q.to));
          break;
        case 'read': {
          const ctx = `${this.id}:${++this.readSeq}`;
          const out = this.raft.readIndex(new TextEncoder().encode(ctx));
          if (out.ok) this.readsByCtx.set(ctx, q.waiter);
          else q.waiter.reject(this.outcomeError(out));
          break;
        }
        case 'unreachable':
          this.raft.reportUnreachable(q.to);
          break;
        case 'snapshot-status':
          this.raft.reportSnapshot(q.to, q.ok);
          break;
      }
    }
  }

  private async handleReady(): Promise<void> {
    const rd = this.raft.ready();
    const storage = this.opts.storage;
    // The leader's appends and heartbeats go out first, so followers write while the leader does.
    const early = rd.messages.filter(sendableBeforePersist);
    if (early.length > 0) this.opts.sender.send(early);
    // 1. persist: nothing that acknowledges state leaves this member before that state is durable.
    if (rd.snapshot !== null) await storage.saveSnapshot(rd.snapshot);
    if (rd.hardState !== null || rd.entries.length > 0) {
      await storage.save(rd.hardState, rd.entries, rd.mustSync);
    }
    // 2. send the rest
    const late =
      early.length === 0 ? rd.messages : rd.messages.filter((m) => !sendableBeforePersist(m));
    if (late.length > 0) this.opts.sender.send(late);
    // 3. apply
    if (rd.snapshot !== null) {
      this.opts.stateMachine.restore(rd.snapshot.data);
      this.snapshotIndex = rd.snapshot.metadata.index;
      this.failProposalsUpTo(rd.snapshot.metadata.index);
    }
    for (const e of rd.committedEntries) this.applyEntry(e);
    for (const rs of rd.readStates) {
      const ctx = new TextDecoder().decode(rs.context);
      const w = this.readsByCtx.get(ctx);
      if (w === undefined) continue;
      this.readsByCtx.delete(ctx);
      w.index = rs.index;
      this.readsWaitingApply.push(w);
    }
    if (rd.softState !== null) this.onSoftState(rd.softState.leader, rd.softState.role);
    this.raft.advance();
    this.cachedStatus = null;
    this.releaseReads();
  }

  private applyEntry(e: Entry): void {
    // Conf changes are the core's business (it applied them already); the no-op is nobody's.
    const result =
      e.type === 'normal' && e.data.byteLength > 0 ? this.opts.stateMachine.apply(e) : undefined;
    const w = this.proposals.get(e.index);
    if (w !== undefined) {
      this.proposals.delete(e.index);
      if (w.term === e.term) w.resolve({ index: e.index, term: e.term, result: result as R });
      else w.reject(new ProposalDroppedError(e.index));
    }
    if (e.type === 'conf-change') this.opts.onConfChange?.(decodeConfChange(e.data));
  }

  private releaseReads(): void {
    const applied = this.status().applied;
    for (let i = this.readsWaitingApply.length - 1; i >= 0; i--) {
      const w = this.readsWaitingApply[i]!;
      if (w.index <= applied) {
        this.readsWaitingApply.splice(i, 1);
        w.resolve(w.index);
      }
    }
  }

  private onSoftState(leader: MemberId, role: Role): void {
    this.opts.onLeaderChange?.(leader, this.status().term);
    if (role !== Role.Leader) {
      // Reads in flight to (or on) an old leader may never be answered: let callers retry.
      for (const w of this.readsByCtx.values())
        w.reject(new NotLeaderError(leader, 'leadership changed during read'));
      this.readsByCtx.clear();
    }
  }

  private failProposalsUpTo(index: number): void {
    for (const [i, w] of this.proposals) {
      if (i <= index) {
        this.proposals.delete(i);
        // Covered by a snapshot from the leader: we cannot tell whether it was ours.
        w.reject(new ProposalDroppedError(i));
      }
    }
  }

  private async maybeSnapshot(): Promise<void> {
    const every = this.opts.snapshotEntries ?? 10_000;
    const applied = this.status().applied;
    if (applied - this.snapshotIndex < every) return;
    const snap = this.raft.createSnapshot(applied, this.opts.stateMachine.snapshot());
    await this.opts.storage.saveSnapshot(snap);
    this.snapshotIndex = applied;
    const keep = this.opts.keepEntries ?? 1_000;
    const compactTo = Math.max(0, applied - keep);
    if (compactTo > this.status().firstIndex - 1) {
      this.raft.compact(compactTo);
      this.cachedStatus = null;
      await this.opts.storage.releaseTo(compactTo);
    }
  }

  private shutdown(err: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.kick();
    for (const w of this.proposals.values()) w.reject(err);
    this.proposals.clear();
    for (const w of this.readsByCtx.values()) w.reject(err);
    this.readsByCtx.clear();
    for (const w of this.readsWaitingApply.splice(0)) w.reject(err);
    for (const q of this.queue.splice(0)) {
      if (q.type === 'read') q.waiter.reject(err);
      else if (q.type === 'propose' || q.type === 'conf' || q.type === 'transfer') {
        q.settle({ ok: false, reason: 'not-leader', leader: NONE, detail: err.message });
      }
    }
  }

  private outcomeError(o: Extract<ProposeOutcome, { ok: false }>): Error {
    if (this.stopped) return this.failure ?? new RaftStoppedError();
    if (o.reason === 'not-leader') {
      return new NotLeaderError(
        o.leader,
        o.detail === undefined ? undefined : `not the leader: ${o.detail}`,
      );
    }
    return new ProposalRejectedError(o.reason, o.detail);
  }
}

/** True for messages the transport must send through the chunked snapshot stream. */
export const isSnapshotMessage = (m: Message): boolean => m.type === MessageType.Snap;
