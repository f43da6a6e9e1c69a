import test from 'ava';
import fc from 'fast-check';
import { TestCluster } from './testing/network.js';
import { memberId } from './types.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

test('raft: a 3-member cluster elects a leader and replicates a proposal', (t) => {
  const c = new TestCluster(3);
  c.node(1).campaign();
  c.stabilize();
  const leader = c.leader();
  t.is(leader?.id, memberId(1));
  const out = c.node(1).propose(enc('hello'));
  t.true(out.ok);
  c.stabilize();
  for (const id of [1, 2, 3]) {
    const data = c.applied
      .get(memberId(id))!
      .filter((e) => e.type === 'normal' && e.data.byteLength > 0)
      .map((e) => dec(e.data));
    t.deepEqual(data, ['hello'], `member ${id}`);
  }
});

test('raft: election by timeout with ticks', (t) => {
  const c = new TestCluster(3, {}, 7);
  c.tickAll(25);
  t.truthy(c.leader());
  const leaders = [...c.nodes.values()].filter((r) => r.status().role === 'leader');
  t.is(leaders.length, 1);
});

test('raft: after losing the leader, followers with a long election timeout campaign within 5 ticks', (t) => {
  // A long timeout rides out a busy leader; it must not slow failover after a crash. (In this
  // lock-step cluster both may campaign in the same tick and split the vote; between processes
  // that needs both within a round trip of each other.)
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), (seed) => {
      const c = new TestCluster(3, { electionTick: 30 }, seed);
      c.node(1).campaign();
      c.stabilize();
      const term = c.node(2).status().term;
      c.drop = (m) => m.from === memberId(1) || m.to === memberId(1);
      for (const id of [2, 3]) c.node(id).reportUnreachable(memberId(1));
      for (let tick = 1; tick <= 5; tick++) {
        for (const id of [2, 3]) c.node(id).tick();
        c.stabilize();
        if ([2, 3].some((id) => c.node(id).status().term > term)) return true;
      }
      return false;
    }),
    { numRuns: 50 },
  );
  t.pass();
});
