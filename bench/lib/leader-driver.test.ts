import test from 'ava';

import {
  LeaderFollowingDriver,
  NoLeaderError,
  type MemberClient,
  type MemberStatus,
} from './leader-driver.js';

class Unavailable extends Error {}

/** Three members sharing one truth: who is alive and who leads. */
class World {
  readonly alive = new Set(['1', '2', '3']);
  leader: string | null = '1';
  term = 1;
  readonly data = new Map<string, Uint8Array>();
  readonly writesBy: string[] = [];
  statusCalls = 0;
}

class FakeMember implements MemberClient {
  readonly name: string;
  readonly id: string;
  readonly world: World;
  /** Thrown by put and get (not status) when set. */
  fatal: Error | undefined;
  constructor(id: string, world: World) {
    this.id = id;
    this.world = world;
    this.name = `m${id}`;
  }

  #check(): void {
    if (!this.world.alive.has(this.id)) throw new Unavailable(`${this.name} is down`);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    await Promise.resolve();
    this.#check();
    if (this.fatal !== undefined) throw this.fatal;
    if (this.world.leader !== this.id) throw new Unavailable(`${this.name} is not leader`);
    this.world.data.set(key, value);
    this.world.writesBy.push(this.id);
  }

  async get(key: string): Promise<Uint8Array | null> {
    await Promise.resolve();
    this.#check();
    if (this.fatal !== undefined) throw this.fatal;
    return this.world.data.get(key) ?? null;
  }

  async status(): Promise<MemberStatus> {
    await Promise.resolve();
    this.world.statusCalls++;
    this.#check();
    return {
      id: this.id,
      leader: this.world.leader,
      term: this.world.term,
      commitIndex: 0,
      appliedIndex: 0,
    };
  }

  isRetryable(err: unknown): boolean {
    return err instanceof Unavailable;
  }

  close(): void {}
}

const setup = (): { world: World; members: FakeMember[] } => {
  const world = new World();
  return { world, members: ['1', '2', '3'].map((id) => new FakeMember(id, world)) };
};

test('leader-driver: finds the leader by status and sends every request to it', async (t) => {
  const { world, members } = setup();
  world.leader = '2';
  const driver = new LeaderFollowingDriver(members);
  await driver.put('a', new Uint8Array([1]));
  await driver.put('b', new Uint8Array([2]));
  t.deepEqual(await driver.get('a'), new Uint8Array([1]));
  t.is(await driver.get('zzz'), null);
  t.deepEqual(world.writesBy, ['2', '2']);
  t.is(driver.leaderName, 'm2');
  t.is(driver.failedAttempts, 0);
});

test('leader-driver: after the leader dies it waits for a new one and retries the same put', async (t) => {
  const { world, members } = setup();
  const driver = new LeaderFollowingDriver(members, { pollIntervalMs: 5 });
  await driver.put('a', new Uint8Array([1]));
  world.alive.delete('1');
  // Followers still name the dead leader until an election; a later poll finds the new leader.
  const elected = new Promise<void>((resolve) => {
    setTimeout(() => {
      world.leader = '3';
      world.term = 2;
      resolve();
    }, 50);
  });
  await driver.put('b', new Uint8Array([2]));
  await elected;
  t.deepEqual(world.writesBy, ['1', '3']);
  t.is(driver.leaderName, 'm3');
  t.true(driver.failedAttempts >= 1);
});

test('leader-driver: a non-retryable error is thrown at once, without retries', async (t) => {
  const { members } = setup();
  members[0]!.fatal = new Error('permission denied');
  const driver = new LeaderFollowingDriver(members);
  await t.throwsAsync(driver.put('a', new Uint8Array()), { message: 'permission denied' });
  t.is(driver.failedAttempts, 0);
});

test('leader-driver: no leader within the op timeout is a NoLeaderError naming the members', async (t) => {
  const { world, members } = setup();
  world.leader = null;
  const driver = new LeaderFollowingDriver(members, { opTimeoutMs: 100, pollIntervalMs: 10 });
  const err = await t.throwsAsync(driver.put('a', new Uint8Array()), { instanceOf: NoLeaderError });
  t.regex(err.message, /claiming leadership among m1, m2, m3/);
});

test('leader-driver: concurrent requests share one discovery', async (t) => {
  const { world, members } = setup();
  const driver = new LeaderFollowingDriver(members);
  await Promise.all(Array.from({ length: 20 }, (_, i) => driver.put(`k${i}`, new Uint8Array())));
  t.is(world.statusCalls, 3);
  t.is(world.writesBy.length, 20);
});

test('leader-driver: of two members claiming leadership, the higher term wins', async (t) => {
  const { world, members } = setup();
  const stale = members[0]!;
  stale.status = () =>
    Promise.resolve({ id: '1', leader: '1', term: 1, commitIndex: 0, appliedIndex: 0 });
  world.leader = '2';
  world.term = 5;
  const driver = new LeaderFollowingDriver(members);
  t.is(await driver.findLeader(), 1);
});

test('leader-driver: needs at least one member', (t) => {
  t.throws(() => new LeaderFollowingDriver([]), { message: /at least one member/ });
});

test('leader-driver: rediscover forgets a cached leader that has stepped down', async (t) => {
  const { world, members } = setup();
  const driver = new LeaderFollowingDriver(members);
  t.is(await driver.findLeader(), 0);
  world.leader = '3';
  world.term = 2;
  t.is(await driver.findLeader(), 0, 'cached');
  t.is(await driver.rediscover(), 2);
  t.is(driver.leaderName, 'm3');
});
