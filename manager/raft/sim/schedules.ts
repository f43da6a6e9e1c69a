// Random schedules for the scripted cluster, for property tests: fast-check picks which pending
// message is delivered, duplicated or dropped next, who ticks, campaigns, proposes, crashes (losing
// some unsynced writes), restarts or snapshots — and shrinks a failing schedule to a short one.
import fc from 'fast-check';
import { memberId } from '../core/index.js';
import type { CheckerStats, MemberView } from './invariants.js';
import { ScriptedCluster } from './scripted-cluster.js';

export type Action =
  | { readonly k: 'deliver'; readonly at: number }
  | { readonly k: 'duplicate'; readonly at: number }
  | { readonly k: 'drop'; readonly at: number }
  | { readonly k: 'tick'; readonly id: number; readonly n: number }
  | { readonly k: 'campaign'; readonly id: number }
  | { readonly k: 'propose'; readonly id: number }
  | { readonly k: 'crash'; readonly id: number; readonly keep: number }
  | { readonly k: 'restart'; readonly id: number }
  | { readonly k: 'snapshot'; readonly id: number; readonly keep: number };

export type Weights = Readonly<Record<Action['k'], number>>;

export const baseWeights: Weights = {
  deliver: 30,
  duplicate: 3,
  drop: 4,
  tick: 6,
  campaign: 3,
  propose: 6,
  crash: 2,
  restart: 3,
  snapshot: 2,
};

export const actionArb = (members: number, w: Weights): fc.Arbitrary<Action> => {
  const id = fc.integer({ min: 1, max: members });
  const at = fc.nat({ max: 1000 });
  const options: { weight: number; arbitrary: fc.Arbitrary<Action> }[] = [
    { weight: w.deliver, arbitrary: at.map((a) => ({ k: 'deliver' as const, at: a })) },
    { weight: w.duplicate, arbitrary: at.map((a) => ({ k: 'duplicate' as const, at: a })) },
    { weight: w.drop, arbitrary: at.map((a) => ({ k: 'drop' as const, at: a })) },
    {
      weight: w.tick,
      arbitrary: fc.record({
        k: fc.constant('tick' as const),
        id,
        n: fc.integer({ min: 1, max: 12 }),
      }),
    },
    { weight: w.campaign, arbitrary: id.map((i) => ({ k: 'campaign' as const, id: i })) },
    { weight: w.propose, arbitrary: id.map((i) => ({ k: 'propose' as const, id: i })) },
    {
      weight: w.crash,
      arbitrary: fc.record({ k: fc.constant('crash' as const), id, keep: fc.nat({ max: 3 }) }),
    },
    { weight: w.restart, arbitrary: id.map((i) => ({ k: 'restart' as const, id: i })) },
    {
      weight: w.snapshot,
      arbitrary: fc.record({ k: fc.constant('snapshot' as const), id, keep: fc.nat({ max: 3 }) }),
    },
  ];
  return fc.oneof(...options.filter((o) => o.weight > 0));
};

export const scheduleArb = (w: Weights) =>
  fc
    .record({
      members: fc.constantFrom(3, 5),
      preVote: fc.boolean(),
      checkQuorum: fc.boolean(),
      seed: fc.nat(),
    })
    .chain((shape) =>
      fc.record({
        shape: fc.constant(shape),
        actions: fc.array(actionArb(shape.members, w), {
          minLength: 50,
          maxLength: 400,
          size: 'max',
        }),
      }),
    );

const apply = (c: ScriptedCluster, a: Action): void => {
  const n = c.pending.length;
  switch (a.k) {
    case 'deliver':
      if (n > 0) c.deliverAt(a.at % n);
      return;
    case 'duplicate':
      if (n > 0) c.deliverAt(a.at % n, true);
      return;
    case 'drop':
      if (n > 0) c.dropAt(a.at % n);
      return;
    case 'tick':
      c.tick(a.id, a.n);
      return;
    case 'campaign':
      if (c.isUp(a.id)) c.campaign(a.id);
      return;
    case 'propose':
      c.propose(a.id);
      return;
    case 'crash':
      c.crash(a.id, a.keep);
      return;
    case 'restart':
      c.restart(a.id);
      return;
    case 'snapshot':
      if (c.isUp(a.id)) c.snapshot(a.id, Math.max(0, c.applied(a.id) - a.keep));
      return;
  }
};

/**
 * Runs generated schedules; a violated invariant fails the property (fast-check then shrinks the
 * schedule and prints it with its seed). Returns the checkers' statistics summed over all runs, so
 * the caller can assert the schedules exercised the property at all.
 */
export const checkSchedules = (
  w: Weights,
  numRuns: number,
): Readonly<Record<keyof CheckerStats, number>> => {
  const total: Record<keyof CheckerStats, number> = {
    leaders: 0,
    divergentIndexes: 0,
    committed: 0,
    completenessChecks: 0,
    appendOnlyChecks: 0,
    applications: 0,
    snapshotRestores: 0,
  };
  fc.assert(
    fc.property(scheduleArb(w), ({ shape, actions }) => {
      const c = new ScriptedCluster(shape.members, {
        seed: shape.seed,
        config: { preVote: shape.preVote, checkQuorum: shape.checkQuorum },
      });
      for (const a of actions) apply(c, a);
      // Then heal: everyone up, every message through, a few election timeouts of ticks.
      for (const id of c.ids) c.restart(id);
      for (let round = 0; round < 40 && c.leader() === undefined; round++) {
        for (const id of c.ids) c.tick(id);
        c.stabilize();
      }
      c.stabilize();
      c.checker.checkLogsPairwise(c.ids.map((id) => viewOfNode(c, id)));
      const stats = c.checker.stats();
      for (const k of Object.keys(total) as (keyof CheckerStats)[]) total[k] += stats[k];
    }),
    { numRuns },
  );
  return total;
};

export const viewOfNode = (c: ScriptedCluster, id: number): MemberView => {
  const s = c.node(id).status();
  return {
    id: memberId(id),
    term: s.term,
    role: s.role,
    commit: s.commit,
    firstIndex: s.firstIndex,
    entries: c.logOf(id),
  };
};
