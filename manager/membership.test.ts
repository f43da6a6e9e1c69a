import test from 'ava';
import fc from 'fast-check';
import { memberId, Role, type MemberId, type Status } from './raft/core/index.js';
import { Membership, MembershipError, nextMemberId } from './membership.js';

const ids = (xs: readonly number[]): MemberId[] => xs.map(memberId);

test('membership: the next id is past every id ever used, removed ones included', (t) => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 20 }),
      fc.nat(),
      fc.nat(),
      (all, cut1, cut2) => {
        const a = Math.min(cut1 % (all.length + 1), cut2 % (all.length + 1));
        const b = Math.max(cut1 % (all.length + 1), cut2 % (all.length + 1));
        const conf = {
          voters: ids(all.slice(0, a)),
          learners: ids(all.slice(a, b)),
          removed: ids(all.slice(b)),
        };
        const next = nextMemberId(conf, memberId(all[0]!));
        return all.every((x) => x < next);
      },
    ),
  );
  t.pass();
});

const fakeNode = (role: Status['role'], conf: Status['conf']) => {
  const proposed: { type: string; member: MemberId; context: string }[] = [];
  let current = conf;
  return {
    proposed,
    node: {
      status: (): Status =>
        ({
          role,
          leader: role === Role.Leader ? memberId(1) : memberId(2),
          conf: current,
          commit: 10,
          progress: new Map(),
        }) as unknown as Status,
      proposeConfChange: (cc: {
        type: 'add-learner' | 'promote' | 'remove';
        member: MemberId;
        context: string;
      }) => {
        proposed.push(cc);
        if (cc.type === 'add-learner')
          current = { ...current, learners: [...current.learners, cc.member] };
        return Promise.resolve(proposed.length);
      },
    },
  };
};

test('membership: concurrent joins on the leader get distinct fresh ids', async (t) => {
  const f = fakeNode(Role.Leader, { voters: ids([1]), learners: [], removed: ids([2]) });
  const m = new Membership({
    self: memberId(1),
    clusterId: 'c',
    node: f.node,
    address: () => 'h:1',
    peers: () => new Map(),
  });
  const [a, b] = await Promise.all([m.join('h:2'), m.join('h:3')]);
  t.deepEqual([a.id, b.id], ids([3, 4]));
  t.deepEqual(
    f.proposed.map((c) => [c.type, c.member, c.context]),
    [
      ['add-learner', 3, 'h:2'],
      ['add-learner', 4, 'h:3'],
    ],
  );
  await t.throwsAsync(m.join('h:1'), { instanceOf: MembershipError, message: /already member 1/ });
});

test('membership: a follower refuses a join and names the leader', async (t) => {
  const f = fakeNode(Role.Follower, { voters: ids([1, 2]), learners: [], removed: [] });
  const m = new Membership({
    self: memberId(1),
    clusterId: 'c',
    node: f.node,
    address: () => 'h:1',
    peers: () => new Map([[memberId(2), 'h:2']]),
  });
  const err = await t.throwsAsync(m.join('h:9'), { instanceOf: MembershipError });
  t.is(err.code, 'not-leader');
  t.is(err.leaderAddress, 'h:2');
  t.is(f.proposed.length, 0);
});

test('membership: remove takes a member out, but not the leader itself or a stranger', async (t) => {
  const f = fakeNode(Role.Leader, { voters: ids([1, 2]), learners: ids([3]), removed: [] });
  const m = new Membership({
    self: memberId(1),
    clusterId: 'c',
    node: f.node,
    address: () => 'h:1',
    peers: () => new Map([[memberId(3), 'h:3']]),
  });
  await m.remove(memberId(3));
  t.deepEqual(f.proposed, [{ type: 'remove', member: 3, context: 'h:3' }]);
  await t.throwsAsync(m.remove(memberId(1)), { message: /is the leader/ });
  await t.throwsAsync(m.remove(memberId(9)), { message: /no member 9/ });
  t.is(f.proposed.length, 1);
});
