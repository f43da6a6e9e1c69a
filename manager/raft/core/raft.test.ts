import test from 'ava';
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
