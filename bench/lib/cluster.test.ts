import test from 'ava';

import { healthyLeader } from './cluster.js';
import type { MemberStatus } from './leader-driver.js';

const ok = (
  id: string,
  leader: string | null,
  commitIndex = 10,
  appliedIndex = 10,
): PromiseSettledResult<MemberStatus> => ({
  status: 'fulfilled',
  value: { id, leader, term: 2, commitIndex, appliedIndex },
});
const down: PromiseSettledResult<MemberStatus> = {
  status: 'rejected',
  reason: new Error('refused'),
};

test('cluster: healthy when all answer, agree on a leader that claims itself, and have caught up', (t) => {
  t.is(healthyLeader([ok('a', 'b'), ok('b', 'b'), ok('c', 'b')]), 1);
});

test('cluster: not healthy while a member is down, disagrees, or lags the leader', (t) => {
  t.is(healthyLeader([ok('a', 'b'), ok('b', 'b'), down]), undefined);
  t.is(healthyLeader([ok('a', 'a'), ok('b', 'b'), ok('c', 'b')]), undefined);
  t.is(healthyLeader([ok('a', null), ok('b', null), ok('c', null)]), undefined);
  // All name a leader that is not among them (the killed one, before the election).
  t.is(healthyLeader([ok('a', 'z'), ok('b', 'z')]), undefined);
  // The restarted member has not applied what the leader committed.
  t.is(healthyLeader([ok('a', 'b', 10, 10), ok('b', 'b', 12, 12), ok('c', 'b', 12, 3)]), undefined);
  t.is(healthyLeader([]), undefined);
});
