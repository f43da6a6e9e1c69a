// One test per safety property of the Raft paper (Figure 3): election safety, leader append-only,
// log matching, leader completeness, state machine safety. Each property gets a property test over
// schedules fast-check generates (any delivery order, duplicates, drops, crashes that lose unsynced
// writes, restarts, snapshots) weighted toward what stresses that property, a focused scenario,
// and a made-up violation proving its checker can fail.
import test, { type ExecutionContext } from 'ava';
import { EntryType, MessageType, Role, memberId, type Entry, type Message } from '../core/index.js';
import { Invariant, InvariantChecker, InvariantViolation, type MemberView } from './invariants.js';
import { baseWeights, checkSchedules, viewOfNode } from './schedules.js';
import { ScriptedCluster } from './scripted-cluster.js';

// ---- made-up members for the checkers' negative tests --------------------------------------------

const enc = new TextEncoder();
const entry = (index: number, term: number, data = `e${index}.${term}`): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: enc.encode(data),
});
const view = (
  id: number,
  term: number,
  role: Role,
  commit: number,
  entries: Entry[],
): MemberView => ({
  id: memberId(id),
  term,
  role,
  commit,
  firstIndex: entries[0]?.index ?? 1,
  entries,
});

const violation = (t: ExecutionContext, invariant: Invariant, fn: () => void): void => {
  const e = t.throws(fn, { instanceOf: InvariantViolation });
  t.is(e?.invariant, invariant, e?.message);
};

const between = (a: number, b: number) => (m: Message) =>
  (m.from === a && m.to === b) || (m.from === b && m.to === a);

// ---- election safety -----------------------------------------------------------------------------

test('raft safety: election safety — at most one leader per term under any schedule', (t) => {
  const seen = checkSchedules(
    { ...baseWeights, campaign: 8, duplicate: 8, crash: 4, restart: 5, tick: 10 },
    300,
  );
  t.true(seen.leaders > 300, `schedules elected leaders in only ${seen.leaders} terms`);
});

test('raft safety: election safety — split votes, duplicated grants and a voter that restarts', (t) => {
  const c = new ScriptedCluster(3);
  // Both 1 and 2 campaign in term 2; 3 hears 1 first.
  c.campaign(1);
  c.campaign(2);
  const voteFrom1To3 = c.pending.findIndex(
    (m) => m.type === MessageType.Vote && m.from === 1 && m.to === 3,
  );
  c.deliverAt(voteFrom1To3);
  // 3's grant to 1 arrives twice; 2's request to 3 arrives after 3 crashed and restarted.
  const grant = c.pending.findIndex((m) => m.type === MessageType.VoteResp && m.from === 3);
  t.false(c.pending[grant]!.reject);
  c.deliverAt(grant, true);
  c.deliverAt(grant);
  c.crash(3);
  c.restart(3);
  c.deliverWhere((m) => m.to === 3 && m.type === MessageType.Vote);
  c.deliverWhere();
  t.is(c.checker.leaderOfTerm.get(2), memberId(1));
  t.is(c.node(2).status().role, Role.Follower);
  t.is(c.checker.leaderOfTerm.size, 1);
});

test('raft safety: election safety — a vote survives a crash even when it is the only change', (t) => {
  // A vote cast in a term the voter already knew changes nothing but the vote: the Ready must
  // still be synced, or a crash lets the voter vote again in that term.
  const c = new ScriptedCluster(3);
  c.campaign(1);
  c.stabilize();
  // 1 (term 2) gets an entry to 3 only, then crashes: 3's log is longer than 2's.
  c.propose(1);
  c.deliverWhere(between(1, 3));
  c.dropWhere(() => true);
  c.crash(1);
  // 2 campaigns in term 3; 3 learns the term but refuses (2's log is behind).
  c.campaign(2);
  c.deliverWhere((m) => m.type === MessageType.Vote && m.to === 3);
  t.deepEqual([c.node(3).status().term, c.node(3).status().vote], [3, 0]);
  c.stabilize();
  c.dropWhere(() => true);
  // 1 returns and campaigns in term 3 as well: 3's vote for it is its only change.
  c.restart(1);
  c.campaign(1);
  const voteFor1 = c.pending.findIndex((m) => m.type === MessageType.Vote && m.to === 3);
  c.deliverAt(voteFor1);
  t.deepEqual([c.node(3).status().term, c.node(3).status().vote], [3, 1]);
  c.crash(3, 0);
  c.restart(3);
  t.deepEqual(
    [c.node(3).status().term, c.node(3).status().vote],
    [3, 1],
    'the vote is durable once its answer could have been sent',
  );
  c.stabilize();
  t.is(c.checker.leaderOfTerm.get(3), memberId(1));
});

test('raft safety: election safety checker — two leaders in one term is caught', (t) => {
  const k = new InvariantChecker();
  k.observe(view(1, 5, Role.Leader, 0, [entry(1, 5)]));
  k.observe(view(2, 5, Role.Follower, 0, [entry(1, 5)]));
  violation(t, Invariant.ElectionSafety, () => {
    k.observe(view(2, 5, Role.Leader, 0, [entry(1, 5)]));
  });
});

// ---- leader append-only --------------------------------------------------------------------------

test('raft safety: leader append-only — a leader only appends, whatever it receives', (t) => {
  const seen = checkSchedules({ ...baseWeights, propose: 12, duplicate: 8, drop: 6 }, 300);
  t.true(
    seen.appendOnlyChecks > 2000,
    `leaders were re-checked only ${seen.appendOnlyChecks} times`,
  );
});

test('raft safety: leader append-only — stale and duplicated replies do not make a leader rewrite', (t) => {
  const c = new ScriptedCluster(3);
  c.campaign(1);
  c.stabilize();
  // 1 appends while 3 is away, then 3 answers a backlog of old, duplicated and rejected appends.
  for (let i = 0; i < 3; i++) c.propose(1);
  c.deliverWhere(between(1, 2));
  const toThree = c.pending.filter((m) => m.to === 3);
  t.true(toThree.length > 0);
  for (let i = 0; i < 3; i++) c.propose(1);
  for (let i = 0; i < c.pending.length; i++) if (c.pending[i]!.to === 3) c.deliverAt(i, true);
  c.deliverWhere();
  c.tick(1, 3);
  c.stabilize();
  t.is(c.node(1).status().role, Role.Leader);
  t.true(c.checker.stats().appendOnlyChecks > 10);
  t.is(c.node(1).status().lastIndex, 10);
  t.deepEqual(
    c.logOf(3).map((e) => e.term),
    c.logOf(1).map((e) => e.term),
  );
});

test('raft safety: leader append-only checker — a leader rewriting an entry is caught', (t) => {
  // Overwriting an earlier term's entry with one of its own term (what a leader must never do).
  const k = new InvariantChecker();
  k.observe(view(1, 3, Role.Leader, 0, [entry(1, 1), entry(2, 2)]));
  violation(t, Invariant.LeaderAppendOnly, () => {
    k.observe(view(1, 3, Role.Leader, 0, [entry(1, 1), entry(2, 3)]));
  });
  // Truncating its own tail.
  const k2 = new InvariantChecker();
  k2.observe(view(1, 3, Role.Leader, 0, [entry(1, 2), entry(2, 3), entry(3, 3)]));
  violation(t, Invariant.LeaderAppendOnly, () => {
    k2.observe(view(1, 3, Role.Leader, 0, [entry(1, 2), entry(2, 3)]));
  });
});

// ---- log matching --------------------------------------------------------------------------------

test('raft safety: log matching — divergent logs are repaired to identical prefixes', (t) => {
  const seen = checkSchedules(
    { ...baseWeights, propose: 12, drop: 12, campaign: 10, tick: 3 },
    300,
  );
  t.true(seen.divergentIndexes > 60, `logs diverged at only ${seen.divergentIndexes} indexes`);
});

test('raft safety: log matching — deposed leaders’ tails are overwritten, not merged', (t) => {
  const c = new ScriptedCluster(5);
  c.campaign(1);
  c.stabilize();
  // Leader 1 of term 2 appends three entries nobody else receives.
  for (let i = 0; i < 3; i++) c.propose(1);
  c.dropWhere(() => true);
  c.crash(1);
  // Leader 2 of term 3 appends two entries nobody else receives.
  c.campaign(2);
  c.deliverWhere((m) => m.type === MessageType.Vote || m.type === MessageType.VoteResp);
  t.is(c.leader(), memberId(2));
  for (let i = 0; i < 2; i++) c.propose(2);
  c.dropWhere(() => true);
  c.crash(2);
  // Member 3 leads term 4 with 4 and 5, appends its own, and both stale tails must give way.
  c.campaign(3);
  c.deliverWhere((m) => m.type === MessageType.Vote || m.type === MessageType.VoteResp);
  t.is(c.leader(), memberId(3));
  for (let i = 0; i < 3; i++) c.propose(3);
  c.restart(1);
  c.restart(2);
  c.stabilize();
  c.tick(3, 2);
  c.stabilize();
  const logs = c.ids.map((id) =>
    c
      .logOf(id)
      .map((e) => `${e.index}/${e.term}`)
      .join(' '),
  );
  t.true(
    logs.every((l) => l === logs[0]),
    logs.join('\n'),
  );
  t.true(logs[0]!.endsWith('7/4 8/4 9/4 10/4'), logs[0]);
  t.true(c.checker.stats().divergentIndexes >= 3);
  c.checker.checkLogsPairwise(c.ids.map((id) => viewOfNode(c, id)));
});

test('raft safety: log matching checker — same index and term with different histories is caught', (t) => {
  const k = new InvariantChecker();
  k.observe(view(1, 3, Role.Follower, 0, [entry(1, 1), entry(2, 3, 'x')]));
  violation(t, Invariant.LogMatching, () => {
    k.observe(view(2, 3, Role.Follower, 0, [entry(1, 1), entry(2, 3, 'y')]));
  });
  const k2 = new InvariantChecker();
  k2.observe(view(1, 3, Role.Follower, 0, [entry(1, 1), entry(2, 2), entry(3, 3)]));
  violation(t, Invariant.LogMatching, () => {
    k2.observe(view(2, 3, Role.Follower, 0, [entry(1, 1), entry(2, 1), entry(3, 3)]));
  });
  violation(t, Invariant.LogMatching, () => {
    new InvariantChecker().checkLogsPairwise([
      view(1, 3, Role.Follower, 0, [entry(1, 1), entry(2, 2), entry(3, 3)]),
      view(2, 3, Role.Follower, 0, [entry(1, 1), entry(2, 1), entry(3, 3)]),
    ]);
  });
});

// ---- leader completeness -------------------------------------------------------------------------

test('raft safety: leader completeness — every later leader holds every committed entry', (t) => {
  const seen = checkSchedules(
    { ...baseWeights, campaign: 6, crash: 4, restart: 5, propose: 8 },
    300,
  );
  t.true(seen.completenessChecks > 1000, `only ${seen.completenessChecks} completeness checks`);
});

test('raft safety: leader completeness — Figure 8: an old-term entry on a majority is not committed', (t) => {
  // The Raft paper's Figure 8, with one entry per App so replication can be cut between entries.
  const c = new ScriptedCluster(5, { config: { maxSizePerMsg: 1 } });
  c.campaign(1);
  c.stabilize();
  c.tick(1);
  c.stabilize();
  // (a) Leader 1 of term 2 replicates entry 7 to member 2 only.
  const seven = c.propose(1, 'k', 'term-2 value');
  t.is(seven, 7);
  c.deliverWhere(between(1, 2));
  c.dropWhere(() => true);
  c.crash(1);
  // (b) Member 5 leads term 3 with votes of 3 and 4 and appends its own entry 7, then crashes.
  c.campaign(5);
  c.deliverWhere((m) => m.type === MessageType.Vote || m.type === MessageType.VoteResp);
  t.is(c.leader(), memberId(5));
  c.dropWhere(() => true);
  c.crash(5);
  // (c) Member 1 returns and leads term 4 (term 3 is spent: 3 and 4 voted for 5). It copies its
  // term-2 entry 7 to members 3 and 4 but crashes before its term-4 entry reaches anyone, so the
  // leader knows a majority (1, 3, 4; 2 has it too) holds entry 7 of term 2.
  c.restart(1);
  c.campaign(1);
  c.deliverWhere((m) => m.type === MessageType.Vote || m.type === MessageType.VoteResp);
  if (c.leader() !== memberId(1)) {
    c.campaign(1);
    c.deliverWhere((m) => m.type === MessageType.Vote || m.type === MessageType.VoteResp);
  }
  t.is(c.leader(), memberId(1));
  t.is(c.node(1).status().term, 4);
  const withThreeOrFour = (m: Message): boolean => between(1, 3)(m) || between(1, 4)(m);
  for (;;) {
    const i = c.pending.findIndex(withThreeOrFour);
    if (i < 0) break;
    const m = c.pending[i]!;
    // An App carrying the term-4 entry only goes to a member that will reject it (it lacks 7).
    const carriesTerm4 = m.type === MessageType.App && m.entries.some((e) => e.term === 4);
    if (carriesTerm4 && c.logOf(m.to)[6]?.term === 2) c.dropAt(i);
    else c.deliverAt(i);
  }
  const up = [1, 2, 3, 4];
  const holders = up.filter((id) => c.logOf(id)[6]?.term === 2);
  t.deepEqual(holders, up, 'entry 7 of term 2 is on a majority');
  t.deepEqual(
    up.map((id) => c.logOf(id).length),
    [8, 7, 7, 7],
    'and the term-4 entry only on the leader',
  );
  t.is(
    c.node(1).status().commit,
    6,
    'but a leader of term 4 must not count replicas of a term-2 entry',
  );
  c.dropWhere(() => true);
  c.crash(1);
  // (d) Member 5 returns and wins term 5 with votes of 2, 3 and 4 — legitimately, since entry 7 of
  // term 2 was never committed — and overwrites it everywhere. Had leader 1 counted replicas of
  // the term-2 entry, it would have committed it, and leader 5 would now lack a committed entry.
  c.restart(5);
  for (let i = 0; i < 3 && c.leader() !== memberId(5); i++) {
    c.campaign(5);
    c.deliverWhere((m) => m.type === MessageType.Vote || m.type === MessageType.VoteResp);
  }
  t.is(c.leader(), memberId(5));
  c.restart(1);
  c.stabilize();
  c.tick(5, 2);
  c.stabilize();
  for (const id of c.ids) t.is(c.logOf(id)[6]?.term, 3, `member ${id}'s entry 7`);
  t.true(c.checker.stats().completenessChecks > 0);
});

test('raft safety: leader completeness checker — a later leader missing a committed entry is caught', (t) => {
  const k = new InvariantChecker();
  k.observe(view(1, 2, Role.Leader, 2, [entry(1, 1), entry(2, 2)]));
  violation(t, Invariant.LeaderCompleteness, () => {
    k.observe(view(3, 3, Role.Leader, 1, [entry(1, 1), entry(2, 3)]));
  });
  // And the other way round: a leader already in office when an older term's entry commits.
  const k2 = new InvariantChecker();
  k2.observe(view(3, 4, Role.Leader, 1, [entry(1, 1)]));
  violation(t, Invariant.LeaderCompleteness, () => {
    k2.observe(view(1, 2, Role.Follower, 2, [entry(1, 1), entry(2, 2)]));
  });
});

// ---- state machine safety ------------------------------------------------------------------------

test('raft safety: state machine safety — no two members apply different entries at an index', (t) => {
  const seen = checkSchedules(
    { ...baseWeights, crash: 5, restart: 6, snapshot: 6, propose: 8 },
    300,
  );
  t.true(seen.applications > 3000, `only ${seen.applications} applications`);
  t.true(seen.snapshotRestores > 10, `only ${seen.snapshotRestores} snapshot restores`);
});

test('raft safety: state machine safety — members catching up by snapshot and by log agree', (t) => {
  const c = new ScriptedCluster(3);
  c.campaign(1);
  c.stabilize();
  c.crash(3);
  for (let i = 0; i < 5; i++) c.propose(1, `k${i % 2}`, `v${i}`);
  c.stabilize();
  c.tick(1);
  c.stabilize();
  // 1 compacts past what 3 has, so 3 must install a snapshot; 2 keeps its log.
  c.snapshot(1);
  c.restart(3);
  for (let i = 0; i < 3; i++) {
    c.tick(1);
    c.stabilize();
  }
  t.true(c.checker.stats().snapshotRestores >= 1);
  t.is(c.applied(3), c.applied(1));
  t.is(c.applied(2), c.applied(1));
  // And a restart re-applies from its own snapshot and log.
  c.crash(2);
  c.restart(2);
  c.tick(1);
  c.stabilize();
  t.is(c.applied(2), c.applied(1));
});

test('raft safety: state machine safety checker — different entries applied at one index are caught', (t) => {
  const k = new InvariantChecker();
  k.applied(memberId(1), entry(1, 2, 'a'));
  violation(t, Invariant.StateMachineSafety, () => {
    k.applied(memberId(2), entry(1, 3, 'b'));
  });
  const k2 = new InvariantChecker();
  k2.stateAt(memberId(1), 4, '[["x","1"]]');
  violation(t, Invariant.StateEquality, () => {
    k2.stateAt(memberId(2), 4, '[["x","2"]]');
  });
  const k3 = new InvariantChecker();
  k3.applied(memberId(1), entry(1, 2));
  violation(t, Invariant.ApplyOrder, () => {
    k3.applied(memberId(1), entry(3, 2));
  });
  const k4 = new InvariantChecker();
  k4.observe(view(1, 2, Role.Follower, 5, [entry(1, 1), entry(2, 2)]));
  violation(t, Invariant.CommitMonotonic, () => {
    k4.observe(view(1, 2, Role.Follower, 4, [entry(1, 1), entry(2, 2)]));
  });
});
