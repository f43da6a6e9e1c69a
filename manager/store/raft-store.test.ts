import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { waitFor } from '../../bench/lib/wait.js';
import { memberId, type MemberId } from '../raft/core/index.js';
import { openRaftMember, type RaftMember } from '../raft/member.js';
import { MemoryStore } from './memory-store.js';
import { makeNode, makeService, makeTask } from './test-fixtures.js';
import type { TransactionOutcome } from './types.js';
import { StoreWriter } from './writer.js';

interface Manager {
  readonly id: MemberId;
  readonly store: MemoryStore;
  readonly member: RaftMember<readonly TransactionOutcome[]>;
  readonly address: string;
}

const ids = [1, 2, 3].map(memberId);

test('raft store: writes through the leader appear in all three stores at identical versions', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tug-store-raft-'));
  const managers: Manager[] = [];
  try {
    for (const id of ids) {
      const store = new MemoryStore();
      const member = await openRaftMember<readonly TransactionOutcome[]>({
        id,
        dataDir: join(dir, String(id)),
        clusterId: 'store-test',
        stateMachine: store,
        bootstrap: ids,
        tickMs: 10,
        snapshotEntries: 20,
        keepEntries: 5,
        transport: { backoffInitialMs: 10, backoffMaxMs: 100 },
      });
      const address = await member.transport.listen('127.0.0.1:0');
      for (const other of managers) {
        other.member.transport.addPeer(id, address);
        member.transport.addPeer(other.id, other.address);
      }
      managers.push({ id, store, member, address });
    }
    for (const m of managers) m.member.node.start();
    const leader = await waitFor(
      () => managers.find((m) => m.member.node.status().role === 'leader'),
      { what: 'a leader', timeoutMs: 10_000 },
    );
    let clock = 1_000;
    const writer = new StoreWriter({ proposer: leader.member.node, now: () => ++clock });

    t.true(
      (await writer.submit([{ op: 'create', kind: 'service', object: makeService('s', 'web') }]))
        .ok,
    );
    const outcomes = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        writer.submit([
          { op: 'create', kind: 'node', object: makeNode(`n${i}`) },
          { op: 'create', kind: 'task', object: makeTask(`t${i}`, 's', { slot: i + 1 }) },
        ]),
      ),
    );
    t.true(outcomes.every((o) => o.ok));
    const dup = await writer.submit([
      { op: 'create', kind: 'service', object: makeService('s2', 'web') },
    ]);
    t.deepEqual(dup.ok ? null : dup.code, 'exists', 'a refusal reaches the caller as an outcome');
    t.true(writer.proposals < 62, 'concurrent submissions were batched');

    const target = leader.store.version;
    await waitFor(() => managers.every((m) => m.store.version === target), {
      what: 'all stores at the leader version',
      timeoutMs: 10_000,
    });
    const snap = new TextDecoder().decode(leader.store.snapshot());
    for (const m of managers) {
      t.is(new TextDecoder().decode(m.store.snapshot()), snap, `store of ${m.id} is identical`);
      t.is(m.store.count('task'), 60);
      t.is(m.store.get('task', 't7')?.meta.version, leader.store.get('task', 't7')?.meta.version);
    }
  } finally {
    for (const m of managers) await m.member.close();
    await rm(dir, { recursive: true, force: true });
  }
});
