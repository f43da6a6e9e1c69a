// The safety properties of Raft (Ongaro & Ousterhout, Figure 3), plus a few of our own, as
// checkers fed after every step of a simulation. Each keeps just enough global history to judge the
// whole run, not only the present: a term→leader map for the run's lifetime, every (index, term)
// ever seen in any log, every committed and every applied entry.
import { Buffer } from 'node:buffer';
import { Role, type Entry, type MemberId, type Raft } from '../core/index.js';

export const Invariant = {
  /** At most one leader per term, ever. */
  ElectionSafety: 'election-safety',
  /** A leader never overwrites or deletes entries in its log during its term. */
  LeaderAppendOnly: 'leader-append-only',
  /** Two entries with the same index and term hold the same command and follow the same history. */
  LogMatching: 'log-matching',
  /** A committed entry is in the log of every leader of a later term. */
  LeaderCompleteness: 'leader-completeness',
  /** No two members commit or apply different entries at the same index. */
  StateMachineSafety: 'state-machine-safety',
  /** A member's commit index never goes back while it runs (it may after a crash). */
  CommitMonotonic: 'commit-monotonic',
  /** Members that applied the same index hold the same state. */
  StateEquality: 'state-equality',
  /** Entries are applied in index order, each once, with no gaps. */
  ApplyOrder: 'apply-order',
  /** A member that knows X was removed is not moved by any message from X. */
  RemovedMemberQuiet: 'removed-member-quiet',
  /** After the faults stop, a leader is elected and a new entry commits in bounded time. */
  Liveness: 'liveness',
  /** The client history is linearizable. */
  Linearizability: 'linearizability',
  /** The core threw: one of its own assertions failed or it broke its contract. */
  CoreAssertion: 'core-assertion',
} as const;
export type Invariant = (typeof Invariant)[keyof typeof Invariant];

export class InvariantViolation extends Error {
  readonly code = 'invariant-violation';
  readonly invariant: Invariant;
  constructor(invariant: Invariant, message: string) {
    super(`${invariant}: ${message}`);
    this.name = 'InvariantViolation';
    this.invariant = invariant;
  }
}

/** What the checkers read of a member: enough to be fed by a test with a made-up member. */
export interface MemberView {
  readonly id: MemberId;
  readonly term: number;
  readonly role: Role;
  readonly commit: number;
  /** The first index after the compaction point: entries[k] should have index firstIndex + k. */
  readonly firstIndex: number;
  readonly entries: readonly Entry[];
}

export const viewOf = (r: Raft): MemberView => {
  const s = r.status();
  return {
    id: r.id,
    term: s.term,
    role: s.role,
    commit: s.commit,
    firstIndex: s.firstIndex,
    entries: r.logEntries(),
  };
};

const dataKeys = new WeakMap<Entry, string>();
/** Identity of an entry's content: its type and bytes (cached: entries are immutable and shared). */
export const entryContent = (e: Entry): string => {
  let k = dataKeys.get(e);
  if (k === undefined) {
    k = `${e.type}:${Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).toString('latin1')}`;
    dataKeys.set(e, k);
  }
  return k;
};

const show = (e: Entry): string => {
  const c = entryContent(e);
  return `${e.index}/t${e.term} ${c.length > 60 ? `${c.slice(0, 57)}...` : c}`;
};

interface SeenEntry {
  readonly content: string;
  /** Term of the entry just before it where known (undefined at a log's compaction point). */
  prevTerm: number | undefined;
  readonly member: MemberId;
}

interface CommittedEntry {
  readonly term: number;
  readonly content: string;
  /** Term of the member that first saw it committed: leaders of later terms must hold it. */
  commitTerm: number;
  readonly member: MemberId;
}

interface Track {
  /** The entries as last observed (a copy of references), to find what changed since. */
  seen: Entry[];
  seenFirst: number;
  commit: number;
  /** Committed entries up to here were recorded. */
  commitRecorded: number;
  /** Term of the leadership being watched for append-only (0 when not a leader). */
  leaderTerm: number;
  lastApplied: number;
}

/** How much the checkers saw: lets a test prove its scenarios exercised a property at all. */
export interface CheckerStats {
  /** Terms that had a leader. */
  readonly leaders: number;
  /** Indexes at which logs held entries of more than one term (divergence that was repaired). */
  readonly divergentIndexes: number;
  /** Distinct committed entries. */
  readonly committed: number;
  /** Times a leader was checked to hold a committed entry of an earlier term. */
  readonly completenessChecks: number;
  /** Times a leader's log was compared with itself earlier in its term. */
  readonly appendOnlyChecks: number;
  /** Entry applications (every member, every time). */
  readonly applications: number;
  readonly snapshotRestores: number;
}

export class InvariantChecker {
  #completenessChecks = 0;
  #appendOnlyChecks = 0;
  #applications = 0;
  #snapshotRestores = 0;

  readonly #leaderOfTerm = new Map<number, MemberId>();
  /** index → term → what was seen at (index, term) in any log, ever. */
  readonly #seen = new Map<number, Map<number, SeenEntry>>();
  readonly #committed = new Map<number, CommittedEntry>();
  readonly #applied = new Map<number, { term: number; content: string; member: MemberId }>();
  readonly #stateAt = new Map<number, { digest: string; member: MemberId }>();
  readonly #tracks = new Map<MemberId, Track>();
  /** Members currently leading, with their term: later commits are checked against their logs. */
  readonly #leaders = new Map<MemberId, number>();

  stats(): CheckerStats {
    let divergent = 0;
    for (const byTerm of this.#seen.values()) if (byTerm.size > 1) divergent++;
    return {
      leaders: this.#leaderOfTerm.size,
      divergentIndexes: divergent,
      committed: this.#committed.size,
      completenessChecks: this.#completenessChecks,
      appendOnlyChecks: this.#appendOnlyChecks,
      applications: this.#applications,
      snapshotRestores: this.#snapshotRestores,
    };
  }

  /** Terms that had a leader, and who (for reports). */
  get leaderOfTerm(): ReadonlyMap<number, MemberId> {
    return this.#leaderOfTerm;
  }

  #track(id: MemberId): Track {
    let t = this.#tracks.get(id);
    if (t === undefined) {
      t = { seen: [], seenFirst: 1, commit: 0, commitRecorded: 0, leaderTerm: 0, lastApplied: 0 };
      this.#tracks.set(id, t);
    }
    return t;
  }

  /** Call after every step, tick and Ready cycle of member v.id with its current state. */
  observe(v: MemberView): void {
    const t = this.#track(v.id);
    this.#checkLogMatching(v, t);
    this.#checkElection(v, t);
    this.#checkCommit(v, t);
    t.seen = v.entries.slice();
    t.seenFirst = v.firstIndex;
  }

  /** The member crashed: it is no longer leading; its commit may go back when it restarts. */
  crashed(id: MemberId): void {
    this.#leaders.delete(id);
    const t = this.#track(id);
    t.leaderTerm = 0;
  }

  /** The member restarted from its durable state with its state machine at `applied`. */
  restarted(v: MemberView, applied: number): void {
    this.#leaders.delete(v.id);
    this.#tracks.set(v.id, {
      seen: [],
      seenFirst: 1,
      commit: v.commit,
      commitRecorded: Math.min(v.commit, this.#track(v.id).commitRecorded),
      leaderTerm: 0,
      lastApplied: applied,
    });
    this.observe(v);
  }

  /** The member restored its state machine from a snapshot at `index`. */
  snapshotRestored(id: MemberId, index: number, digest: string): void {
    const t = this.#track(id);
    if (index < t.lastApplied) {
      throw new InvariantViolation(
        Invariant.ApplyOrder,
        `member ${id} restored a snapshot at ${index} after applying up to ${t.lastApplied}`,
      );
    }
    t.lastApplied = index;
    this.#snapshotRestores++;
    this.stateAt(id, index, digest);
  }

  /** The member applied `e` to its state machine. */
  applied(id: MemberId, e: Entry): void {
    const t = this.#track(id);
    if (e.index !== t.lastApplied + 1) {
      throw new InvariantViolation(
        Invariant.ApplyOrder,
        `member ${id} applied entry ${e.index} after ${t.lastApplied}`,
      );
    }
    t.lastApplied = e.index;
    this.#applications++;
    const content = entryContent(e);
    const prior = this.#applied.get(e.index);
    if (prior === undefined) {
      this.#applied.set(e.index, { term: e.term, content, member: id });
    } else if (prior.term !== e.term || prior.content !== content) {
      throw new InvariantViolation(
        Invariant.StateMachineSafety,
        `member ${id} applied ${show(e)} but member ${prior.member} applied term ${prior.term} ${prior.content.slice(0, 60)} at that index`,
      );
    }
  }

  /** The member's state machine, having applied exactly `index`, has this digest. */
  stateAt(id: MemberId, index: number, digest: string): void {
    const prior = this.#stateAt.get(index);
    if (prior === undefined) this.#stateAt.set(index, { digest, member: id });
    else if (prior.digest !== digest) {
      throw new InvariantViolation(
        Invariant.StateEquality,
        `at applied index ${index} member ${id} has ${digest.slice(0, 120)} but member ${prior.member} had ${prior.digest.slice(0, 120)}`,
      );
    }
  }

  /**
   * Pairwise Log Matching over the retained ranges of `views`, as the paper states it: where two
   * logs hold an entry with the same index and term, they are identical up to it. (observe()
   * checks a stronger, history-wide form incrementally; this is the end-of-run cross-check.)
   */
  checkLogsPairwise(views: readonly MemberView[]): void {
    for (let a = 0; a < views.length; a++) {
      for (let b = a + 1; b < views.length; b++) {
        const x = views[a]!;
        const y = views[b]!;
        const xFirst = x.firstIndex;
        const yFirst = y.firstIndex;
        const lo = Math.max(xFirst, yFirst);
        const hi = Math.min(xFirst + x.entries.length - 1, yFirst + y.entries.length - 1);
        let matched = false;
        for (let i = hi; i >= lo; i--) {
          const ex = x.entries[i - xFirst]!;
          const ey = y.entries[i - yFirst]!;
          if (ex.term === ey.term) {
            matched = true;
            if (entryContent(ex) !== entryContent(ey)) {
              throw new InvariantViolation(
                Invariant.LogMatching,
                `members ${x.id} and ${y.id} hold different entries with index ${i} term ${ex.term}`,
              );
            }
          } else if (matched) {
            throw new InvariantViolation(
              Invariant.LogMatching,
              `members ${x.id} and ${y.id} agree on a later entry but differ at index ${i} (terms ${ex.term} and ${ey.term})`,
            );
          }
        }
      }
    }
  }

  // Log Matching, history-wide: (index, term) names one entry forever, with one predecessor term.
  // By induction that is the paper's pairwise property for every pair of logs at every moment.
  #checkLogMatching(v: MemberView, t: Track): void {
    const entries = v.entries;
    const first = v.firstIndex;
    const seenFirst = t.seenFirst;
    // Skip the unchanged prefix (entries are immutable objects, so identity means unchanged).
    let k = 0;
    for (; k < entries.length; k++) {
      const old = t.seen[first + k - seenFirst];
      if (old !== entries[k] || (k > 0 && t.seen[first + k - 1 - seenFirst] !== entries[k - 1])) {
        break;
      }
    }
    for (; k < entries.length; k++) {
      const e = entries[k]!;
      if (e.index !== first + k) {
        throw new InvariantViolation(
          Invariant.LogMatching,
          `member ${v.id} has entry ${e.index} at position ${first + k}: the log is not contiguous`,
        );
      }
      const prevTerm = k > 0 ? entries[k - 1]!.term : undefined;
      if (prevTerm !== undefined && prevTerm > e.term) {
        throw new InvariantViolation(
          Invariant.LogMatching,
          `member ${v.id}: entry ${e.index} has term ${e.term} after an entry of term ${prevTerm}`,
        );
      }
      let byTerm = this.#seen.get(e.index);
      if (byTerm === undefined) {
        byTerm = new Map();
        this.#seen.set(e.index, byTerm);
      }
      const content = entryContent(e);
      const prior = byTerm.get(e.term);
      if (prior === undefined) {
        byTerm.set(e.term, { content, prevTerm, member: v.id });
        continue;
      }
      if (prior.content !== content) {
        throw new InvariantViolation(
          Invariant.LogMatching,
          `member ${v.id} holds ${show(e)} but member ${prior.member} held ${prior.content.slice(0, 60)} at that index and term`,
        );
      }
      if (prevTerm !== undefined && prior.prevTerm !== undefined && prior.prevTerm !== prevTerm) {
        throw new InvariantViolation(
          Invariant.LogMatching,
          `member ${v.id} holds ${show(e)} after an entry of term ${prevTerm}, but member ${prior.member} held it after term ${prior.prevTerm}: the logs differ before a matching entry`,
        );
      }
      prior.prevTerm ??= prevTerm;
    }
  }

  #checkElection(v: MemberView, t: Track): void {
    if (v.role !== Role.Leader) {
      t.leaderTerm = 0;
      this.#leaders.delete(v.id);
      return;
    }
    const other = this.#leaderOfTerm.get(v.term);
    if (other !== undefined && other !== v.id) {
      throw new InvariantViolation(
        Invariant.ElectionSafety,
        `members ${other} and ${v.id} were both leader in term ${v.term}`,
      );
    }
    if (t.leaderTerm === v.term) {
      this.#checkAppendOnly(v, t);
      return;
    }
    // A new leadership: it must hold every entry committed in an earlier term.
    this.#leaderOfTerm.set(v.term, v.id);
    this.#leaders.set(v.id, v.term);
    t.leaderTerm = v.term;
    for (const [index, c] of this.#committed) {
      if (c.commitTerm < v.term) this.#checkHolds(v, index, c);
    }
  }

  #checkAppendOnly(v: MemberView, t: Track): void {
    this.#appendOnlyChecks++;
    const old = t.seen;
    const oldFirst = t.seenFirst;
    const oldLast = oldFirst + old.length - 1;
    const first = v.firstIndex;
    const last = first + v.entries.length - 1;
    if (last < oldLast) {
      throw new InvariantViolation(
        Invariant.LeaderAppendOnly,
        `leader ${v.id} of term ${v.term}: its last index went from ${oldLast} to ${last}`,
      );
    }
    for (let i = Math.max(first, oldFirst); i <= oldLast; i++) {
      const was = old[i - oldFirst]!;
      const now = v.entries[i - first]!;
      if (was !== now && (was.term !== now.term || entryContent(was) !== entryContent(now))) {
        throw new InvariantViolation(
          Invariant.LeaderAppendOnly,
          `leader ${v.id} of term ${v.term} replaced ${show(was)} with ${show(now)}`,
        );
      }
    }
  }

  #checkCommit(v: MemberView, t: Track): void {
    if (v.commit < t.commit) {
      throw new InvariantViolation(
        Invariant.CommitMonotonic,
        `member ${v.id}'s commit index went from ${t.commit} to ${v.commit} without a crash`,
      );
    }
    t.commit = v.commit;
    if (v.commit <= t.commitRecorded) return;
    const first = v.firstIndex;
    for (let i = Math.max(t.commitRecorded + 1, first); i <= v.commit; i++) {
      const e = v.entries[i - first];
      if (e === undefined) break;
      this.#recordCommitted(v, e);
    }
    t.commitRecorded = v.commit;
  }

  #recordCommitted(v: MemberView, e: Entry): void {
    const content = entryContent(e);
    const prior = this.#committed.get(e.index);
    if (prior !== undefined) {
      if (prior.term !== e.term || prior.content !== content) {
        throw new InvariantViolation(
          Invariant.StateMachineSafety,
          `member ${v.id} committed ${show(e)} but member ${prior.member} committed term ${prior.term} ${prior.content.slice(0, 60)} at that index`,
        );
      }
      prior.commitTerm = Math.min(prior.commitTerm, v.term);
      return;
    }
    const c: CommittedEntry = { term: e.term, content, commitTerm: v.term, member: v.id };
    this.#committed.set(e.index, c);
    for (const [leader, term] of this.#leaders) {
      if (term <= c.commitTerm || leader === v.id) continue;
      const lt = this.#tracks.get(leader);
      if (lt === undefined) continue;
      this.#checkHolds(
        {
          id: leader,
          term,
          role: Role.Leader,
          commit: lt.commit,
          firstIndex: lt.seenFirst,
          entries: lt.seen,
        },
        e.index,
        c,
      );
    }
  }

  #checkHolds(leader: MemberView, index: number, c: CommittedEntry): void {
    this.#completenessChecks++;
    const first = leader.firstIndex;
    // Below the compaction point it is covered by the leader's snapshot (state equality checks that).
    if (index < first) return;
    const e = leader.entries[index - first];
    if (e === undefined || e.term !== c.term || entryContent(e) !== c.content) {
      throw new InvariantViolation(
        Invariant.LeaderCompleteness,
        `leader ${leader.id} of term ${leader.term} lacks entry ${index}/t${c.term}, committed by member ${c.member} in term ${c.commitTerm}; it has ${e === undefined ? 'nothing' : show(e)} there`,
      );
    }
  }
}
