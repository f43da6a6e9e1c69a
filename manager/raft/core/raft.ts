// The Raft consensus state machine, pure: messages and ticks go in; a Ready batch (entries to
// persist, messages to send, entries to apply) comes out, and advance() says it was handled.
// No I/O, no clock, no randomness of its own — the driver and the simulator own all of that.
//
// Shape and vocabulary follow etcd's raft (PreVote, CheckQuorum, ReadIndex, flow control by
// probe/replicate/snapshot), with single-server membership changes that take effect when the
// change entry is applied, one pending at a time.
import { decodeConfChange, encodeConfChange } from './confchange.js';
import { PeerProgress } from './progress.js';
import { RaftLog } from './raft-log.js';
import {
  EntryType,
  MessageType,
  NONE,
  Role,
  defaultRaftConfig,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type MemberId,
  type Message,
  type PersistedState,
  type ProposeOutcome,
  type Progress,
  type RaftConfig,
  type ReadState,
  type Ready,
  type Snapshot,
  type SoftState,
  type Status,
} from './types.js';

export interface RaftOptions {
  /** id is required; everything else defaults to defaultRaftConfig(). */
  readonly config: Partial<RaftConfig> & { readonly id: MemberId };
  /** Uniform in [0, 1): injected so simulations are deterministic. */
  readonly random: () => number;
  /** What this member persisted before (restart). Absent for a brand-new member. */
  readonly persisted?: PersistedState;
  /** Index already applied to the state machine (defaults to the snapshot's index). */
  readonly applied?: number;
  /** Optional sink for diagnostic lines. */
  readonly log?: (line: string) => void;
}

const EMPTY = new Uint8Array(0);
const TRANSFER = new TextEncoder().encode('transfer');
const isTransfer = (ctx: Uint8Array): boolean =>
  ctx.byteLength === TRANSFER.byteLength && ctx.every((b, i) => b === TRANSFER[i]);

const bytesKey = (b: Uint8Array): string => {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
};

interface PendingRead {
  readonly index: number;
  readonly context: Uint8Array;
  readonly from: MemberId;
  readonly acks: Set<MemberId>;
}

interface MutableConf {
  voters: Set<MemberId>;
  learners: Set<MemberId>;
  removed: Set<MemberId>;
}

const freezeConf = (c: MutableConf): ConfState => ({
  voters: [...c.voters].sort((a, b) => a - b),
  learners: [...c.learners].sort((a, b) => a - b),
  removed: [...c.removed].sort((a, b) => a - b),
});

export class Raft {
  readonly id: MemberId;
  private readonly cfg: RaftConfig;
  private readonly random: () => number;
  private readonly logLine: (line: string) => void;

  private term = 0;
  private vote: MemberId = NONE;
  private role: Role = Role.Follower;
  private leader: MemberId = NONE;
  private readonly raftLog: RaftLog;
  private conf: MutableConf;
  /** Highest log index whose conf change (if any) is reflected in `conf`. */
  private confIndex: number;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  private readonly progress = new Map<MemberId, PeerProgress>();
  private votes = new Map<MemberId, boolean>();
  private transferee: MemberId = NONE;
  private pendingConfIndex = 0;
  private uncommittedSize = 0;
  private pendingBroadcast = false;
  private pendingReadBroadcast = false;

  private readonly pendingReads: PendingRead[] = [];
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  private readonly deferredReads: { context: Uint8Array; from: MemberId }[] = [];
  private readStates: ReadState[] = [];

  private msgs: Message[] = [];
  /** A snapshot received from the leader, to persist and restore in the next Ready. */
  private pendingSnapshot: Snapshot | null = null;
  /** The newest snapshot, sent to followers that fell behind the compaction point. */
  private latestSnapshot: Snapshot | null;

  private prevHard: HardState;
  private prevSoft: SoftState;
  /** What the last ready() handed out, acknowledged by advance(). */
  private inFlightReady: { stabled: number; applied: number; snapshot: Snapshot | null } | null =
    null;

  constructor(opts: RaftOptions) {
    this.cfg = { ...defaultRaftConfig(opts.config.id), ...opts.config };
    this.id = this.cfg.id;
    this.random = opts.random;
    this.logLine = opts.log ?? (() => undefined);
    if (this.cfg.heartbeatTick < 1 || this.cfg.electionTick <= this.cfg.heartbeatTick) {
      throw new RangeError('raft config: need 1 ≤ heartbeatTick < electionTick');
    }
    if (this.cfg.maxInflightMsgs < 1)
      throw new RangeError('raft config: maxInflightMsgs must be ≥ 1');

    const p = opts.persisted;
    const snap = p?.snapshot ?? null;
    const snapIndex = snap?.metadata.index ?? 0;
    const snapTerm = snap?.metadata.term ?? 0;
    const hs = p?.hardState ?? { term: 0, vote: NONE, commit: 0 };
    const commit = Math.max(hs.commit, snapIndex);
    this.raftLog = new RaftLog(
      snapIndex,
      snapTerm,
      p?.entries ?? [],
      commit,
      opts.applied ?? snapIndex,
    );
    this.term = hs.term;
    this.vote = hs.vote;
    this.latestSnapshot = snap;
    const c = snap?.metadata.conf;
    this.conf = {
      voters: new Set(c?.voters ?? []),
      learners: new Set(c?.learners ?? []),
      removed: new Set(c?.removed ?? []),
    };
    this.confIndex = snapIndex;
    // Committed conf changes are part of the configuration now, even before they are re-applied.
    this.catchUpConf(commit);
    this.prevHard = { term: this.term, vote: this.vote, commit: this.raftLog.committed };
    this.prevSoft = { leader: NONE, role: Role.Follower };
    this.resetRandomizedElectionTimeout();
  }

  // ---- local inputs ----------------------------------------------------------------------

  /** New cluster: every initial member calls this with the same voters before anything else. */
  bootstrap(voters: readonly MemberId[]): void {
    if (this.raftLog.lastIndex() !== 0 || this.term !== 0) {
      throw new Error('raft: bootstrap of a member that already has state');
    }
    if (voters.length === 0) throw new Error('raft: bootstrap needs at least one voter');
    const entries: Entry[] = voters.map((member, i) => ({
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange({ type: 'add-voter', member, context: '' }),
    }));
    this.raftLog.append(entries);
    this.term = 1;
    this.raftLog.commitTo(entries.length);
    this.catchUpConf(entries.length);
  }

  tick(): void {
    this.assertNotInReady('tick');
    if (this.role === Role.Leader) this.tickLeader();
    else this.tickElection();
  }

  /** Starts an election now (a test or operator action; PreVote still applies). */
  campaign(): void {
    this.assertNotInReady('campaign');
    this.hup(false);
  }

  /**
   * Appends data on the leader. With `term`, only if this member still leads in that term: how
   * leader-only components are fenced — what one started in term T writes is refused once T is
   * over, even if this member leads again later.
   */
  propose(data: Uint8Array, term?: number): ProposeOutcome {
    this.assertNotInReady('propose');
    if (term !== undefined && term !== this.term) {
      return {
        ok: false,
        reason: 'not-leader',
        leader: this.leader,
        detail: `term ${term} is over (now ${this.term})`,
      };
    }
    return this.appendProposal(EntryType.Normal, data);
  }

  proposeConfChange(cc: ConfChange): ProposeOutcome {
    this.assertNotInReady('proposeConfChange');
    if (this.role !== Role.Leader) return this.notLeader();
    if (this.pendingConfIndex > this.raftLog.applied) {
      return { ok: false, reason: 'conf-change-pending', leader: this.leader };
    }
    const invalid = this.validateConfChange(cc);
    if (invalid !== undefined)
      return { ok: false, reason: 'invalid', leader: this.leader, detail: invalid };
    const out = this.appendProposal(EntryType.ConfChange, encodeConfChange(cc));
    if (out.ok) this.pendingConfIndex = out.index;
    return out;
  }

  transferLeadership(to: MemberId): ProposeOutcome {
    this.assertNotInReady('transferLeadership');
    if (this.role !== Role.Leader) return this.notLeader();
    if (to === this.id) return { ok: true, index: this.raftLog.lastIndex(), term: this.term };
    if (!this.conf.voters.has(to)) {
      return {
        ok: false,
        reason: 'invalid',
        leader: this.leader,
        detail: `member ${to} is not a voter`,
      };
    }
    this.transferee = to;
    // The transfer must finish within one election timeout or it is abandoned.
    this.electionElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.raftLog.lastIndex()) this.send({ type: MessageType.TimeoutNow, to });
    else this.sendAppend(to, true);
    return { ok: true, index: this.raftLog.lastIndex(), term: this.term };
  }

  /**
   * Asks for a linearizable read point; the answer arrives as a ReadState with this context in a
   * later Ready. Contexts must be unique per request.
   */
  readIndex(context: Uint8Array): ProposeOutcome {
    this.assertNotInReady('readIndex');
    if (this.role === Role.Leader) {
      this.leaderReadIndex(context, this.id);
      return { ok: true, index: this.raftLog.committed, term: this.term };
    }
    if (this.leader === NONE) return this.notLeader();
    this.send({ type: MessageType.ReadIndex, to: this.leader, context });
    return { ok: true, index: 0, term: this.term };
  }

  /**
   * The transport could not deliver to `id`. On the leader: probe that follower again. On a
   * follower, about its leader: the connection broke (a killed process closes its sockets at
   * once), so stop honouring the leader's lease and campaign within a few ticks instead of a
   * whole election timeout. This is only a hint: PreVote still needs a quorum that has lost the
   * leader too, so a leader that is alive and heard by the others is not disturbed.
   */
  reportUnreachable(id: MemberId): void {
    this.assertNotInReady('reportUnreachable');
    if (this.role === Role.Leader) {
      const pr = this.progress.get(id);
      if (pr?.state === 'replicate') pr.becomeProbe();
      return;
    }
    if (this.role === Role.Follower && id === this.leader && id !== NONE) {
      this.logLine(`${this.id} lost its connection to leader ${id}; campaigning soon`);
      this.leader = NONE;
      // At most 5 ticks, so that a long election timeout (chosen to ride out a busy leader's
      // stalls) does not slow failover after a crash, which this report is about.
      const soonTicks = Math.min(5, Math.max(1, Math.floor(this.cfg.electionTick / 2)));
      const soon = 1 + Math.floor(this.random() * soonTicks);
      this.electionElapsed = Math.max(this.electionElapsed, this.randomizedElectionTimeout - soon);
    }
  }

  reportSnapshot(id: MemberId, ok: boolean): void {
    this.assertNotInReady('reportSnapshot');
    const pr = this.role === Role.Leader ? this.progress.get(id) : undefined;
    if (pr?.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the follower's answer (or a heartbeat response) before probing again.
    pr.probeSent = true;
  }

  // ---- the Ready cycle ----------------------------------------------------------------------

  hasReady(): boolean {
    if (this.inFlightReady !== null) return false;
    this.flushBroadcast();
    const soft = this.softState();
    const hard = this.hardState();
    return (
      soft.leader !== this.prevSoft.leader ||
      soft.role !== this.prevSoft.role ||
      !hardStateEqual(hard, this.prevHard) ||
      this.raftLog.stabled < this.raftLog.lastIndex() ||
      this.pendingSnapshot !== null ||
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.raftLog.committed > this.raftLog.applied
    );
  }

  ready(): Ready {
    if (this.inFlightReady !== null)
      throw new Error('raft: ready() called twice without advance()');
    this.flushBroadcast();
    const soft = this.softState();
    const hard = this.hardState();
    const softChanged = soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role;
    const hardChanged = !hardStateEqual(hard, this.prevHard);
    const entries = this.raftLog.unstable();
    const committedEntries = this.raftLog.nextCommitted(this.cfg.maxCommittedSizePerReady);
    for (const e of committedEntries) this.applyCommitted(e);
    const rd: Ready = {
      softState: softChanged ? soft : null,
      hardState: hardChanged ? hard : null,
      entries,
      snapshot: this.pendingSnapshot,
      messages: this.msgs,
      committedEntries,
      readStates: this.readStates,
      // A restored snapshot is acknowledged in this Ready's messages, so it must be durable
      // first: a follower that loses it in a crash leaves the leader believing it matches up to
      // the snapshot (found by the simulator, seed 442: the leader then ignores the follower's
      // rejections as stale and tells it to commit entries it may not have).
      mustSync:
        entries.length > 0 ||
        this.pendingSnapshot !== null ||
        hard.term !== this.prevHard.term ||
        hard.vote !== this.prevHard.vote,
    };
    this.msgs = [];
    this.readStates = [];
    this.prevSoft = soft;
    this.prevHard = hard;
    this.inFlightReady = {
      stabled: this.raftLog.lastIndex(),
      applied:
        committedEntries.at(-1)?.index ??
        this.pendingSnapshot?.metadata.index ??
        this.raftLog.applied,
      snapshot: this.pendingSnapshot,
    };
    return rd;
  }

  advance(): void {
    const r = this.inFlightReady;
    if (r === null) throw new Error('raft: advance() without ready()');
    this.inFlightReady = null;
    if (r.snapshot !== null) {
      this.latestSnapshot = r.snapshot;
      this.pendingSnapshot = null;
    }
    this.raftLog.stabled = Math.max(
      this.raftLog.stabled,
      Math.min(r.stabled, this.raftLog.lastIndex()),
    );
    this.raftLog.applied = Math.max(this.raftLog.applied, r.applied);
    if (this.role === Role.Leader) {
      // The leader's entries are durable now: they count towards the quorum from here on.
      const self = this.progress.get(this.id);
      if (self?.maybeUpdate(this.raftLog.stabled) === true && this.maybeCommit()) {
        this.pendingBroadcast = true;
      }
    }
    // Reads that arrived before the leader committed in its term can proceed once it has.
    if (this.role === Role.Leader && this.deferredReads.length > 0 && this.committedInTerm()) {
      for (const d of this.deferredReads.splice(0)) this.leaderReadIndex(d.context, d.from);
    }
  }

  /** Snapshot of the state machine at exactly the applied index (the caller's state). */
  createSnapshot(index: number, data: Uint8Array): Snapshot {
    if (index !== this.raftLog.applied) {
      throw new Error(`raft: snapshot at ${index} but applied is ${this.raftLog.applied}`);
    }
    const term = this.raftLog.term(index);
    if (term === undefined) throw new Error(`raft: snapshot at compacted index ${index}`);
    const snap: Snapshot = { metadata: { index, term, conf: freezeConf(this.conf) }, data };
    this.latestSnapshot = snap;
    return snap;
  }

  /** Drops log entries ≤ index; index must be covered by a snapshot. */
  compact(index: number): void {
    const s = this.latestSnapshot?.metadata.index ?? 0;
    if (index > s) throw new Error(`raft: compact to ${index} beyond the latest snapshot ${s}`);
    this.raftLog.compact(index);
  }

  confState(): ConfState {
    return freezeConf(this.conf);
  }

  /** The in-memory log after the compaction point (for invariant checkers and the driver). */
  logEntries(): readonly Entry[] {
    return this.raftLog.entries;
  }

  status(): Status {
    const progress = new Map<MemberId, Progress>();
    if (this.role === Role.Leader) {
      for (const [id, pr] of this.progress) {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          learner: pr.learner,
          recentActive: pr.recentActive,
        });
      }
    }
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      commit: this.raftLog.committed,
      applied: this.raftLog.applied,
      leader: this.leader,
      role: this.role,
      lastIndex: this.raftLog.lastIndex(),
      firstIndex: this.raftLog.firstIndex(),
      conf: freezeConf(this.conf),
      transferee: this.transferee,
      progress,
    };
  }

  // ---- messages in ----------------------------------------------------------------------------

  step(m: Message): void {
    this.assertNotInReady('step');
    if (m.to !== this.id) return;
    if (this.conf.removed.has(m.from)) return;
    if (m.term > this.term) {
      if (
        (m.type === MessageType.Vote || m.type === MessageType.PreVote) &&
        !isTransfer(m.context)
      ) {
        // Within a leader's lease a vote request is disruptive noise (CheckQuorum's promise).
        const inLease =
          this.cfg.checkQuorum &&
          this.leader !== NONE &&
          this.electionElapsed < this.cfg.electionTick;
        if (inLease) return;
      }
      if (m.type === MessageType.PreVote || (m.type === MessageType.PreVoteResp && !m.reject)) {
        // A pre-vote never changes terms: granting one commits to nothing.
      } else if (
        m.type === MessageType.App ||
        m.type === MessageType.Heartbeat ||
        m.type === MessageType.Snap
      ) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if (
        (this.cfg.checkQuorum || this.cfg.preVote) &&
        (m.type === MessageType.App || m.type === MessageType.Heartbeat)
      ) {
        // Tell a stale leader (e.g. one just healed from a partition) about the newer term.
        this.send({ type: MessageType.AppResp, to: m.from });
      } else if (m.type === MessageType.PreVote) {
        this.send({ type: MessageType.PreVoteResp, to: m.from, reject: true });
      }
      return;
    }

    switch (m.type) {
      case MessageType.Vote:
      case MessageType.PreVote:
        this.handleVoteRequest(m);
        return;
    }
    switch (this.role) {
      case Role.Leader:
        this.stepLeader(m);
        return;
      case Role.Candidate:
      case Role.PreCandidate:
        this.stepCandidate(m);
        return;
      case Role.Follower:
        this.stepFollower(m);
        return;
    }
  }

  private handleVoteRequest(m: Message): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.leader === NONE) ||
      (m.type === MessageType.PreVote && m.term > this.term);
    const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
    if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
      // The response carries the request's term so the candidate counts it (a pre-vote's term is
      // one ahead of ours).
      this.send({ type: respType, to: m.from, term: m.term });
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true });
    }
  }

  private stepLeader(m: Message): void {
    if (m.type === MessageType.ReadIndex) {
      this.leaderReadIndex(m.context, m.from);
      return;
    }
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case MessageType.AppResp:
        pr.recentActive = true;
        this.handleAppendResponse(m, pr);
        return;
      case MessageType.HeartbeatResp:
        pr.recentActive = true;
        pr.probeSent = false;
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
        // Send even with nothing new: if the App carrying the tail was lost (or rejected by a
        // reply that arrived after an acceptance and so looked stale), `next` is already past the
        // tail and only an empty App makes the follower reject and the leader back up. Without it
        // a lagging follower stays one entry behind forever (found by the simulator, seed 230).
        if (pr.match < this.raftLog.lastIndex()) this.sendAppend(m.from, true);
        if (m.context.byteLength > 0) this.ackRead(m.context, m.from);
        return;
      default:
        return;
    }
  }

  private handleAppendResponse(m: Message, pr: PeerProgress): void {
    if (m.reject) {
      let hint = m.rejectHint;
      if (m.logTermHint > 0) hint = this.raftLog.findConflictByTerm(m.rejectHint, m.logTermHint);
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from, false);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) {
      if (wasPaused && !pr.isPaused()) this.sendAppend(m.from, false);
      return;
    }
    switch (pr.state) {
      case 'probe':
        pr.becomeReplicate();
        break;
      case 'snapshot':
        if (pr.match + 1 >= this.raftLog.firstIndex()) {
          pr.becomeProbe();
          pr.becomeReplicate();
        }
        break;
      case 'replicate':
        pr.inflights.freeLE(m.index);
        break;
    }
    if (this.maybeCommit()) {
      this.pendingBroadcast = true;
    } else {
      while (this.sendAppend(m.from, false)) {
        // keep the pipeline full up to the in-flight bound
      }
    }
    if (m.from === this.transferee && pr.match === this.raftLog.lastIndex()) {
      this.send({ type: MessageType.TimeoutNow, to: m.from });
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case MessageType.App:
      case MessageType.Heartbeat:
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case MessageType.VoteResp:
      case MessageType.PreVoteResp: {
        const expected =
          this.role === Role.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
        if (m.type !== expected) return;
        if (!this.conf.voters.has(m.from)) return;
        this.votes.set(m.from, !m.reject);
        const granted = [...this.votes.values()].filter(Boolean).length;
        const rejected = this.votes.size - granted;
        const q = this.quorum();
        if (granted >= q) {
          if (this.role === Role.PreCandidate) this.becomeCandidateAndCampaign(false);
          else this.becomeLeader();
        } else if (rejected >= q) {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.App:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.raftLog.commitTo(Math.min(m.commit, this.raftLog.lastIndex()));
        this.send({ type: MessageType.HeartbeatResp, to: m.from, context: m.context });
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.TimeoutNow:
        if (!this.promotable()) return;
        this.logLine(`${this.id} campaigning for a leadership transfer at term ${this.term}`);
        this.becomeCandidateAndCampaign(true);
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        return;
    }
  }

  private handleAppend(m: Message): void {
    if (m.index < this.raftLog.committed) {
      this.send({ type: MessageType.AppResp, to: m.from, index: this.raftLog.committed });
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send({ type: MessageType.AppResp, to: m.from, index: lastNew });
      return;
    }
    // Point the leader at the last index that could match, skipping whole terms at once.
    const hintIndex = this.raftLog.findConflictByTerm(
      Math.min(m.index, this.raftLog.lastIndex()),
      m.logTerm,
    );
    this.send({
      type: MessageType.AppResp,
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hintIndex,
      logTermHint: this.raftLog.term(hintIndex) ?? 0,
    });
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (s === null) return;
    const { index, term } = s.metadata;
    if (index <= this.raftLog.committed) {
      this.send({ type: MessageType.AppResp, to: m.from, index: this.raftLog.committed });
      return;
    }
    if (this.raftLog.matchTerm(index, term)) {
      // We already have the entries: just learn they are committed. Answer with the commit
      // index, not the last index: entries past it may be stale and must not count as matched.
      this.raftLog.commitTo(index);
      this.send({ type: MessageType.AppResp, to: m.from, index: this.raftLog.committed });
      return;
    }
    this.logLine(`${this.id} restoring snapshot at index ${index} term ${term}`);
    this.raftLog.restore(index, term);
    this.raftLog.applied = Math.min(this.raftLog.applied, index);
    this.conf = {
      voters: new Set(s.metadata.conf.voters),
      learners: new Set(s.metadata.conf.learners),
      removed: new Set(s.metadata.conf.removed),
    };
    this.confIndex = index;
    this.pendingSnapshot = s;
    this.send({ type: MessageType.AppResp, to: m.from, index });
  }

  // ---- time ---------------------------------------------------------------------------------

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        let active = 0;
        for (const [id, pr] of this.progress) {
          if (!this.conf.voters.has(id)) continue;
          if (id === this.id || pr.recentActive) active++;
          if (id !== this.id) pr.recentActive = false;
        }
        if (active < this.quorum()) {
          this.logLine(
            `${this.id} stepping down at term ${this.term}: no quorum heard within an election timeout`,
          );
          this.becomeFollower(this.term, NONE);
          return;
        }
      }
      if (this.transferee !== NONE) {
        this.logLine(`${this.id} abandoning transfer to ${this.transferee}`);
        this.transferee = NONE;
      }
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat(this.pendingReads.at(-1)?.context ?? EMPTY);
    }
  }

  private hup(transfer: boolean): void {
    if (this.role === Role.Leader || !this.promotable()) return;
    // A member that has not yet applied a committed conf change could be campaigning with the
    // wrong configuration: wait until it has.
    if (
      this.confIndex < this.raftLog.committed &&
      this.hasConfChangeIn(this.confIndex + 1, this.raftLog.committed)
    ) {
      return;
    }
    if (this.cfg.preVote && !transfer) this.becomePreCandidateAndCampaign();
    else this.becomeCandidateAndCampaign(transfer);
  }

  // ---- roles --------------------------------------------------------------------------------

  private becomeFollower(term: number, leader: MemberId): void {
    if (term > this.term) {
      this.term = term;
      this.vote = NONE;
    }
    this.role = Role.Follower;
    this.leader = leader;
    this.resetTimers();
  }

  private becomePreCandidateAndCampaign(): void {
    this.role = Role.PreCandidate;
    this.leader = NONE;
    this.votes = new Map();
    this.resetTimersKeepElection();
    this.campaignRound(MessageType.PreVote, this.term + 1, false);
  }

  private becomeCandidateAndCampaign(transfer: boolean): void {
    this.term++;
    this.vote = this.id;
    this.role = Role.Candidate;
    this.leader = NONE;
    this.votes = new Map();
    this.resetTimers();
    this.campaignRound(MessageType.Vote, this.term, transfer);
  }

  private campaignRound(type: 'vote' | 'pre-vote', term: number, transfer: boolean): void {
    this.votes.set(this.id, true);
    if (this.votes.size >= this.quorum()) {
      if (type === MessageType.PreVote) this.becomeCandidateAndCampaign(false);
      else this.becomeLeader();
      return;
    }
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      this.send({
        type,
        to: id,
        term,
        index: this.raftLog.lastIndex(),
        logTerm: this.raftLog.lastTerm(),
        context: transfer ? TRANSFER : EMPTY,
      });
    }
  }

  private becomeLeader(): void {
    this.role = Role.Leader;
    this.leader = this.id;
    this.resetTimers();
    this.progress.clear();
    const last = this.raftLog.lastIndex();
    for (const id of this.members()) {
      const pr = new PeerProgress(last + 1, this.cfg.maxInflightMsgs, this.conf.learners.has(id));
      if (id === this.id) {
        // Only what is on disk counts: a new leader may still hold entries it has not persisted.
        pr.match = this.raftLog.stabled;
        pr.becomeReplicate();
      }
      this.progress.set(id, pr);
    }
    // Conf changes in the uncommitted tail may be pending: allow no new one until they apply.
    this.pendingConfIndex = last;
    this.uncommittedSize = 0;
    this.logLine(`${this.id} became leader at term ${this.term}`);
    // The no-op entry of the new term: commits everything before it (Raft §5.4.2).
    this.appendEntries([{ term: this.term, index: last + 1, type: EntryType.Normal, data: EMPTY }]);
    this.pendingBroadcast = true;
  }

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.resetTimersKeepElection();
  }

  private resetTimersKeepElection(): void {
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.transferee = NONE;
    this.pendingReads.length = 0;
    this.deferredReads.length = 0;
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout =
      this.cfg.electionTick + Math.floor(this.random() * this.cfg.electionTick);
  }

  // ---- replication --------------------------------------------------------------------------

  private appendProposal(type: EntryType, data: Uint8Array): ProposeOutcome {
    if (this.role !== Role.Leader) return this.notLeader();
    if (this.transferee !== NONE) return { ok: false, reason: 'transferring', leader: this.leader };
    const size = data.byteLength;
    if (size > 0 && this.uncommittedSize + size > this.cfg.maxUncommittedSize) {
      return {
        ok: false,
        reason: 'too-large',
        leader: this.leader,
        detail: 'too many uncommitted bytes',
      };
    }
    const index = this.raftLog.lastIndex() + 1;
    this.appendEntries([{ term: this.term, index, type, data }]);
    this.uncommittedSize += size;
    this.pendingBroadcast = true;
    return { ok: true, index, term: this.term };
  }

  private appendEntries(entries: Entry[]): void {
    // The leader's own copy counts towards a quorum only once it is on disk (advance()), so the
    // driver may send these entries to followers while it is still writing them.
    this.raftLog.append(entries);
  }

  /** Appends are sent lazily, once per Ready, so proposals that arrive together go out together. */
  private flushBroadcast(): void {
    if (this.pendingReadBroadcast) {
      this.pendingReadBroadcast = false;
      const last = this.pendingReads.at(-1);
      if (this.role === Role.Leader && last !== undefined) this.broadcastHeartbeat(last.context);
    }
    if (!this.pendingBroadcast) return;
    this.pendingBroadcast = false;
    if (this.role !== Role.Leader) return;
    for (const id of this.progress.keys()) {
      if (id !== this.id) this.sendAppend(id, true);
    }
  }

  /** Sends entries (or a snapshot) to a follower; returns whether something was sent. */
  private sendAppend(to: MemberId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.raftLog.term(prevIndex);
    const entries = this.raftLog.slice(
      pr.next,
      this.raftLog.lastIndex() + 1,
      this.cfg.maxSizePerMsg,
    );
    if (prevTerm === undefined || entries === undefined) return this.sendSnapshot(to, pr);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({
      type: MessageType.App,
      to,
      index: prevIndex,
      logTerm: prevTerm,
      entries,
      commit: this.raftLog.committed,
    });
    const last = entries.at(-1)?.index;
    if (last !== undefined) {
      if (pr.state === 'replicate') {
        pr.next = last + 1;
        pr.inflights.add(last);
      } else {
        pr.probeSent = true;
      }
    } else if (pr.state === 'probe') {
      pr.probeSent = true;
    }
    return true;
  }

  private sendSnapshot(to: MemberId, pr: PeerProgress): boolean {
    const snap = this.latestSnapshot;
    if (snap === null || !pr.recentActive) return false;
    this.logLine(`${this.id} sending snapshot ${snap.metadata.index} to ${to}`);
    pr.becomeSnapshot(snap.metadata.index);
    this.send({ type: MessageType.Snap, to, snapshot: snap });
    return true;
  }

  private broadcastHeartbeat(context: Uint8Array): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      this.send({
        type: MessageType.Heartbeat,
        to: id,
        commit: Math.min(pr.match, this.raftLog.committed),
        context,
      });
    }
  }

  /** Moves commit to the highest index replicated on a quorum, if it is of the current term. */
  private maybeCommit(): boolean {
    const matches: number[] = [];
    for (const [id, pr] of this.progress) if (this.conf.voters.has(id)) matches.push(pr.match);
    if (matches.length === 0) return false;
    matches.sort((a, b) => b - a);
    const q = matches[this.quorum() - 1]!;
    if (q > this.raftLog.committed && this.raftLog.term(q) === this.term) {
      this.raftLog.commitTo(q);
      return true;
    }
    return false;
  }

  private committedInTerm(): boolean {
    return this.raftLog.term(this.raftLog.committed) === this.term;
  }

  // ---- linearizable reads -------------------------------------------------------------------

  private leaderReadIndex(context: Uint8Array, from: MemberId): void {
    if (!this.committedInTerm()) {
      // Until this leader commits in its own term it does not know the true commit index.
      this.deferredReads.push({ context, from });
      return;
    }
    const index = this.raftLog.committed;
    if (this.quorum() <= 1) {
      this.releaseRead({ index, context, from, acks: new Set() });
      return;
    }
    this.pendingReads.push({ index, context, from, acks: new Set([this.id]) });
    // One heartbeat round per Ready confirms every read queued so far.
    this.pendingReadBroadcast = true;
  }

  private ackRead(context: Uint8Array, from: MemberId): void {
    const key = bytesKey(context);
    const at = this.pendingReads.findIndex((r) => bytesKey(r.context) === key);
    if (at < 0) return;
    const req = this.pendingReads[at]!;
    if (this.conf.voters.has(from)) req.acks.add(from);
    if (req.acks.size < this.quorum()) return;
    // A quorum confirming this request confirms every earlier one too.
    for (const r of this.pendingReads.splice(0, at + 1)) this.releaseRead(r);
  }

  private releaseRead(r: PendingRead): void {
    if (r.from === this.id) this.readStates.push({ index: r.index, context: r.context });
    else
      this.send({
        type: MessageType.ReadIndexResp,
        to: r.from,
        index: r.index,
        context: r.context,
      });
  }

  // ---- membership ---------------------------------------------------------------------------

  private validateConfChange(cc: ConfChange): string | undefined {
    const { voters, learners, removed } = this.conf;
    if (removed.has(cc.member)) return `member ${cc.member} was removed and can never rejoin`;
    switch (cc.type) {
      case 'add-voter':
      case 'add-learner':
        if (voters.has(cc.member) || learners.has(cc.member))
          return `member ${cc.member} is already in the cluster`;
        return undefined;
      case 'promote':
        if (!learners.has(cc.member)) return `member ${cc.member} is not a learner`;
        return undefined;
      case 'remove':
        if (!voters.has(cc.member) && !learners.has(cc.member))
          return `member ${cc.member} is not in the cluster`;
        if (voters.has(cc.member) && voters.size === 1) return 'cannot remove the last voter';
        return undefined;
    }
  }

  private applyCommitted(e: Entry): void {
    if (e.type === EntryType.ConfChange && e.index > this.confIndex) {
      this.applyConfChange(decodeConfChange(e.data));
      this.confIndex = e.index;
    }
    if (this.role === Role.Leader && e.term === this.term) {
      this.uncommittedSize = Math.max(0, this.uncommittedSize - e.data.byteLength);
    }
  }

  private catchUpConf(upTo: number): void {
    for (let i = this.confIndex + 1; i <= upTo; i++) {
      const e = this.raftLog.entries[i - this.raftLog.offset - 1];
      if (e?.type === EntryType.ConfChange) this.applyConfChange(decodeConfChange(e.data));
    }
    this.confIndex = Math.max(this.confIndex, upTo);
  }

  private hasConfChangeIn(lo: number, hi: number): boolean {
    for (let i = Math.max(lo, this.raftLog.firstIndex()); i <= hi; i++) {
      if (this.raftLog.entries[i - this.raftLog.offset - 1]?.type === EntryType.ConfChange)
        return true;
    }
    return false;
  }

  private applyConfChange(cc: ConfChange): void {
    const { voters, learners, removed } = this.conf;
    if (removed.has(cc.member)) return;
    switch (cc.type) {
      case 'add-voter':
      case 'promote':
        learners.delete(cc.member);
        voters.add(cc.member);
        break;
      case 'add-learner':
        if (!voters.has(cc.member)) learners.add(cc.member);
        break;
      case 'remove':
        voters.delete(cc.member);
        learners.delete(cc.member);
        removed.add(cc.member);
        break;
    }
    this.logLine(`${this.id} applied conf change ${cc.type} ${cc.member}`);
    if (this.role !== Role.Leader) return;
    if (cc.type === 'remove') {
      this.progress.delete(cc.member);
      if (this.transferee === cc.member) this.transferee = NONE;
      if (cc.member === this.id) {
        this.becomeFollower(this.term, NONE);
        return;
      }
    } else {
      const existing = this.progress.get(cc.member);
      if (existing === undefined) {
        this.progress.set(
          cc.member,
          new PeerProgress(
            this.raftLog.lastIndex() + 1,
            this.cfg.maxInflightMsgs,
            cc.type === 'add-learner',
          ),
        );
      } else {
        existing.learner = learners.has(cc.member);
      }
    }
    // A smaller quorum may commit more; a new member needs entries.
    if (this.maybeCommit()) this.pendingBroadcast = true;
    this.pendingBroadcast = true;
  }

  // ---- helpers ------------------------------------------------------------------------------

  private members(): MemberId[] {
    return [...this.conf.voters, ...this.conf.learners];
  }

  private promotable(): boolean {
    return this.conf.voters.has(this.id);
  }

  private quorum(): number {
    return Math.floor(this.conf.voters.size / 2) + 1;
  }

  private notLeader(): ProposeOutcome {
    return { ok: false, reason: 'not-leader', leader: this.leader };
  }

  private softState(): SoftState {
    return { leader: this.leader, role: this.role };
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  private assertNotInReady(what: string): void {
    if (this.inFlightReady !== null)
      throw new Error(`raft: ${what}() between ready() and advance()`);
  }

  private send(m: Partial<Message> & { type: Message['type']; to: MemberId }): void {
    this.msgs.push({
      from: this.id,
      term: this.term,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      logTermHint: 0,
      snapshot: null,
      context: EMPTY,
      ...m,
    });
  }
}

const hardStateEqual = (a: HardState, b: HardState): boolean =>
  a.term === b.term && a.vote === b.vote && a.commit === b.commit;
