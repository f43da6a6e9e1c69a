// Proof that the simulator's checkers can fail: runs with a deliberately broken ingredient — a
// network that lies, a disk that skips fsync, reads that skip ReadIndex — must be caught, and by
// the checker that guards what was broken. (A sweep that never fails proves nothing on its own.)
import test, { type ExecutionContext } from 'ava';
import { MessageType, type Message } from '../core/index.js';
import { Invariant } from './invariants.js';
import { SimFailure, runSimulation, type SimOptions } from './simulator.js';

/** Runs seeds until `wanted` failures; returns how often each invariant caught the mutation. */
const hunt = (
  t: ExecutionContext,
  opts: Omit<SimOptions, 'seed'>,
  seeds: number,
  wanted = 3,
): Map<Invariant, number> => {
  const caught = new Map<Invariant, number>();
  let failures = 0;
  for (let seed = 1; seed <= seeds && failures < wanted; seed++) {
    try {
      runSimulation({ ...opts, seed });
    } catch (e) {
      if (!(e instanceof SimFailure)) throw e;
      failures++;
      caught.set(e.invariant, (caught.get(e.invariant) ?? 0) + 1);
      t.log(e.message.split('\n')[0]);
    }
  }
  t.true(failures > 0, `the mutation survived ${seeds} seeds`);
  return caught;
};

const onlyBy = (
  t: ExecutionContext,
  caught: Map<Invariant, number>,
  allowed: Invariant[],
): void => {
  for (const inv of caught.keys()) t.true(allowed.includes(inv), `caught by ${inv}`);
};

const safety: Invariant[] = [
  Invariant.ElectionSafety,
  Invariant.LeaderAppendOnly,
  Invariant.LogMatching,
  Invariant.LeaderCompleteness,
  Invariant.StateMachineSafety,
  Invariant.StateEquality,
  Invariant.CommitMonotonic,
];

test('raft sim mutation: a network that makes stale candidates look up to date is caught', (t) => {
  // Vote requests claim an enormous last log term, so voters' up-to-date check always passes and
  // members missing committed entries win elections.
  const tamper = (m: Message): Message =>
    m.type === MessageType.Vote || m.type === MessageType.PreVote
      ? { ...m, logTerm: m.logTerm + 1_000_000, index: m.index + 1_000_000 }
      : m;
  const caught = hunt(t, { tamper }, 100);
  onlyBy(t, caught, safety);
  t.true(caught.has(Invariant.LeaderCompleteness));
});

test('raft sim mutation: a network that inflates commit indexes is caught', (t) => {
  // Appends tell followers that everything they carry is already committed.
  const tamper = (m: Message): Message =>
    m.type === MessageType.App ? { ...m, commit: m.index + m.entries.length } : m;
  onlyBy(t, hunt(t, { tamper }, 200, 2), safety);
});

test('raft sim mutation: a disk that acknowledges fsync without syncing is caught', (t) => {
  // Votes and entries a member acknowledged vanish in its crashes. Stuck followers (the leader
  // trusts acknowledgements that no longer hold) show up as liveness failures; keep those short.
  const caught = hunt(t, { lyingDisk: true, livenessBoundMs: 5000 }, 100, 4);
  onlyBy(t, caught, [...safety, Invariant.Liveness]);
  t.true(
    [...caught.keys()].some((i) => safety.includes(i)),
    `only ${[...caught.keys()].join(', ')}`,
  );
});

test('raft sim mutation: reads served without ReadIndex fail the linearizability check', (t) => {
  onlyBy(t, hunt(t, { staleReads: true }, 50), [Invariant.Linearizability]);
});
