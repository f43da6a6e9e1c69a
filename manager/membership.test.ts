import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import test from 'ava';
import fc from 'fast-check';
import { waitFor } from '../bench/lib/wait.js';
import * as controlPb from '../proto/gen/control.js';
import * as membershipPb from '../proto/gen/membership.js';
import type { Manager } from './manager.js';
import { startInProcessManagers } from './testing/in-process.js';
import { memberId, Role, type MemberId, type Status } from './raft/core/index.js';
import { Membership, MembershipError, nextMemberId, removalRefusal } from './membership.js';

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
      transferLeadership: () => Promise.resolve(),
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

const statusWith = (voters: readonly number[], active: readonly number[]) => ({
  conf: { voters: ids(voters), learners: [], removed: [] },
  progress: new Map(
    voters.map((v) => [memberId(v), { recentActive: active.includes(v) }] as const),
  ) as unknown as Status['progress'],
});

test('membership: a removal must leave a reachable quorum, and never removes the last voter', (t) => {
  const self = memberId(1);
  // 3 → 2 with everyone reachable: fine.
  t.is(removalRefusal(statusWith([1, 2, 3], [1, 2, 3]), self, memberId(3), false), null);
  // Member 2 is down: removing 3 leaves {1, 2} with only 1 reachable.
  t.regex(
    removalRefusal(statusWith([1, 2, 3], [1, 3]), self, memberId(3), false) ?? '',
    /only 1 is reachable, fewer than the 2/,
  );
  // Removing the down one instead is what restores health.
  t.is(removalRefusal(statusWith([1, 2, 3], [1, 3]), self, memberId(2), false), null);
  t.is(removalRefusal(statusWith([1, 2, 3], [1, 3]), self, memberId(3), true), null);
  t.regex(removalRefusal(statusWith([1], [1]), self, memberId(1), true) ?? '', /last voter/);
  // The rule against brute force: refused exactly when the remaining reachable voters are no majority.
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 7 }),
      fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
      fc.integer({ min: 1, max: 7 }),
      (n, up, victim) => {
        const voters = Array.from({ length: n }, (_, i) => i + 1);
        const active = voters.filter((v) => v === 1 || up[v - 1] === true);
        const r = removalRefusal(statusWith(voters, active), self, memberId(victim), false);
        if (victim > n) return r === null;
        const left = voters.filter((v) => v !== victim);
        const alive = left.filter((v) => active.includes(v)).length;
        const ok = left.length > 0 && alive > left.length / 2;
        return ok === (r === null);
      },
    ),
  );
});

// ---- a real cluster: three in-process managers over gRPC ------------------------------------

const rpc = <Res>(f: (cb: (err: ServiceError | null, res: Res) => void) => unknown): Promise<Res> =>
  new Promise((resolve, reject) => {
    f((err, res) => {
      if (err !== null) reject(err);
      else resolve(res);
    });
  });

test('membership: remove and leave shrink 3 managers to 1, refusing to break quorum', async (t) => {
  const left = new Set<MemberId>();
  const cluster = await startInProcessManagers({
    prefix: 'tug-membership-',
    options: (id) => ({ onLeft: () => left.add(id) }),
  });
  const { managers } = cluster;
  const clients: { close(): void }[] = [];
  t.teardown(async () => {
    for (const c of clients) c.close();
    await cluster.close();
  });
  const membershipOf = (m: Manager): membershipPb.MembershipServiceClient => {
    const c = new membershipPb.MembershipServiceClient(m.address, credentials.createInsecure());
    clients.push(c);
    return c;
  };
  const controlOf = (m: Manager): controlPb.ControlServiceClient => {
    const c = new controlPb.ControlServiceClient(m.address, credentials.createInsecure());
    clients.push(c);
    return c;
  };
  const deadline = (): { deadline: number } => ({ deadline: Date.now() + 15_000 });
  const leader = await cluster.waitLeader();
  const [b, c] = managers.filter((m) => m !== leader) as [Manager, Manager];
  const voters = (m: Manager): MemberId[] => [...m.raft.status().conf.voters].sort();

  // c goes down; removing b (reachable) would leave {leader, c} with one reachable: refused,
  // whichever member is asked.
  await c.stop();
  managers.splice(managers.indexOf(c), 1);
  await waitFor(() => leader.membership.members().find((x) => x.id === c.id)?.reachable === false, {
    what: 'c seen unreachable',
    timeoutMs: 10_000,
  });
  const refused = await t.throwsAsync<ServiceError>(
    rpc((cb) => membershipOf(b).remove({ id: b.id, force: false }, new Metadata(), deadline(), cb)),
  );
  t.is(refused.code, status.FAILED_PRECONDITION);
  t.regex(refused.details, /quorum/);
  t.deepEqual(voters(leader), ids([1, 2, 3]));

  // Removing the member that is down, asked of a follower, goes through the leader.
  await rpc((cb) =>
    membershipOf(b).remove({ id: c.id, force: false }, new Metadata(), deadline(), cb),
  );
  await waitFor(() => voters(b).length === 2, { what: 'b applies the removal', timeoutMs: 10_000 });
  t.deepEqual(voters(leader), [leader.id, b.id].sort());

  // The leader leaves: leadership moves to b, b removes it, it is told.
  const res = await rpc<membershipPb.LeaveResponse>((cb) =>
    membershipOf(leader).leave({ force: false }, new Metadata(), deadline(), cb),
  );
  t.is(res.id, leader.id);
  await waitFor(() => left.has(leader.id), { what: 'the old leader told', timeoutMs: 10_000 });
  t.deepEqual(voters(b), [b.id]);
  t.is(b.raft.status().role, 'leader');

  // The cluster of one still writes.
  await rpc((cb) => controlOf(b).createNetwork({ name: 'still', labels: {}, specJson: '{}' }, cb));
  t.is(b.store.find('network', { name: 'still' }).length, 1);

  // The last voter cannot leave, even with force.
  const last = await t.throwsAsync<ServiceError>(
    rpc((cb) => membershipOf(b).leave({ force: true }, new Metadata(), deadline(), cb)),
  );
  t.is(last.code, status.FAILED_PRECONDITION);
  t.regex(last.details, /last voter/);
  t.false(left.has(b.id));
});
