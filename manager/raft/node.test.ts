import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { waitFor } from '../../bench/lib/wait.js';
import { NONE, memberId, type MemberId } from './core/index.js';
import { KvStateMachine, encodeKvCommand } from './kv/kv-state.js';
import { openRaftMember } from './member.js';
import { RaftNode } from './node.js';
import type { RaftTransport } from './transport/transport.js';

interface Member {
  id: MemberId;
  node: RaftNode<void>;
  kv: KvStateMachine;
  transport: RaftTransport;
  close: () => Promise<void>;
  address: string;
}

const put = (key: string, value: string): Uint8Array =>
  encodeKvCommand({ op: 'put', key, value: new TextEncoder().encode(value) });

/** An in-process cluster with real WALs and real gRPC transports on loopback. */
class LocalCluster {
  readonly members = new Map<MemberId, Member>();
  readonly addresses = new Map<MemberId, string>();
  readonly dir: string;
  readonly opts: { snapshotEntries?: number; keepEntries?: number };
  constructor(dir: string, opts: { snapshotEntries?: number; keepEntries?: number } = {}) {
    this.dir = dir;
    this.opts = opts;
  }

  async start(id: MemberId, bootstrap: readonly MemberId[]): Promise<Member> {
    const kv = new KvStateMachine();
    const member = await openRaftMember({
      id,
      dataDir: join(this.dir, String(id)),
      clusterId: 'test',
      stateMachine: kv,
      bootstrap,
      tickMs: 10,
      // 300–600 ms: at 10 ticks (100 ms) a loaded 2-core box let leadership move mid-test.
      config: { electionTick: 30 },
      ...debugLog(String(id)),
      ...this.opts,
      transport: { backoffInitialMs: 10, backoffMaxMs: 100 },
    });
    const { node, transport } = member;
    const address = await transport.listen(this.addresses.get(id) ?? '127.0.0.1:0');
    this.addresses.set(id, address);
    const m = { id, node, kv, transport, close: member.close, address };
    this.members.set(id, m);
    for (const other of this.members.values()) {
      if (other.id === id) continue;
      other.transport.addPeer(id, address);
      transport.addPeer(other.id, other.address);
    }
    node.start();
    return m;
  }

  async stop(id: MemberId): Promise<void> {
    const m = this.members.get(id)!;
    this.members.delete(id);
    await m.close();
    for (const other of this.members.values()) other.transport.removePeer(id);
  }

  leader(): Member | undefined {
    return [...this.members.values()].find((m) => m.node.status().role === 'leader');
  }

  async stopAll(): Promise<void> {
    for (const id of [...this.members.keys()]) await this.stop(id);
  }
}

const ids = [1, 2, 3].map(memberId);

/** TUG_DEBUG=1 prints what the members log. */
function debugLog(who: string): { log?: (line: string) => void } {
  if (process.env['TUG_DEBUG'] === undefined) return {};
  return {
    log: (line) => {
      console.error(`[${who}] ${line}`);
    },
  };
}

const withCluster = async (
  opts: ConstructorParameters<typeof LocalCluster>[1],
  fn: (c: LocalCluster) => Promise<void>,
): Promise<void> => {
  const dir = await mkdtemp(join(tmpdir(), 'tug-raft-node-'));
  const c = new LocalCluster(dir, opts);
  try {
    await fn(c);
  } finally {
    await c.stopAll();
    await rm(dir, { recursive: true, force: true });
  }
};

test('raft node: three members elect a leader, replicate puts, and survive the leader stopping', async (t) => {
  await withCluster({}, async (c) => {
    for (const id of ids) await c.start(id, ids);
    const leader = await waitFor(() => c.leader(), { what: 'a leader', timeoutMs: 10_000 });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => leader.node.propose(put(`k${i}`, `v${i}`))),
    );
    t.is(new Set(results.map((r) => r.index)).size, 200);
    await waitFor(() => [...c.members.values()].every((m) => m.kv.size === 200), {
      what: 'all members applied',
      timeoutMs: 10_000,
    });

    const old = leader.id;
    const oldTerm = leader.node.status().term;
    await c.stop(old);
    // A new leader is one that commits a write in its own term (a status can be a turn old).
    const { next, after } = await waitFor(
      async () => {
        const m = c.leader();
        if (m === undefined) return undefined;
        return { next: m, after: await m.node.propose(put('after', 'failover')) };
      },
      { what: 'a new leader that commits', timeoutMs: 10_000 },
    );
    t.not(next.id, old);
    // Fencing: the new leader (it just committed in its own term) refuses a write made for the old
    // leader's term.
    t.true(after.term > oldTerm);
    await t.throwsAsync(next.node.propose(put('fenced', 'x'), oldTerm), { message: /is over/ });
    t.is(next.kv.get('fenced'), undefined);
    const at = await next.node.readIndex();
    t.true(at >= 201);
    t.is(new TextDecoder().decode(next.kv.get('k199')), 'v199');

    // The stopped member comes back from its WAL and catches up.
    const back = await c.start(old, ids);
    await waitFor(() => back.kv.get('after') !== undefined, {
      what: 'restarted member caught up',
      timeoutMs: 10_000,
    });
    t.is(back.kv.size, 201);
  });
});

test('raft node: a follower far behind catches up through a snapshot and membership changes work', async (t) => {
  await withCluster({ snapshotEntries: 50, keepEntries: 10 }, async (c) => {
    await c.start(ids[0]!, ids);
    await c.start(ids[1]!, ids);
    const leader = await waitFor(() => c.leader(), { what: 'a leader of two', timeoutMs: 10_000 });
    for (let i = 0; i < 300; i++) await leader.node.propose(put(`k${i % 40}`, `v${i}`));
    t.true(leader.node.status().firstIndex > 100, 'log was compacted');

    // Member 3 was never started: it must be sent a snapshot.
    const third = await c.start(ids[2]!, ids);
    await waitFor(() => third.kv.size === 40, {
      what: 'third member restored from a snapshot',
      timeoutMs: 10_000,
    });

    // Add a brand-new, empty member: a learner until it has caught up, then a voter.
    const four = memberId(4);
    const l = c.leader()!;
    const added = c.start(four, []);
    const joined = l.node.addMember(four, '', { timeoutMs: 20_000 });
    const m4 = await added;
    await joined;
    t.is(m4.kv.size, 40, 'the new member holds the whole state when it becomes a voter');
    await waitFor(
      () => [...c.members.values()].every((m) => m.node.status().conf.voters.includes(four)),
      { what: 'four is a voter everywhere', timeoutMs: 10_000 },
    );
    const l2 = await waitFor(() => c.leader(), { what: 'a leader', timeoutMs: 10_000 });
    await l2.node.proposeConfChange({ type: 'remove', member: ids[2]!, context: '' });
    await waitFor(() => c.leader()?.node.status().conf.removed.includes(ids[2]!), {
      what: 'three removed',
      timeoutMs: 10_000,
    });
    const l3 = await waitFor(() => c.leader(), { what: 'a leader', timeoutMs: 10_000 });
    const r = await l3.node.propose(put('after-remove', 'x'));
    t.true(r.index > 0);
    await t.throwsAsync(
      l3.node.proposeConfChange({ type: 'add-voter', member: ids[2]!, context: '' }),
      {
        message: /removed and can never rejoin/,
      },
    );
  });
});

test('raft node: a failed write stops the node, fails callers and reports it as fatal', async (t) => {
  const kv = new KvStateMachine();
  let fatal: Error | undefined;
  const node = new RaftNode<void>({
    id: ids[0]!,
    storage: {
      save: () => Promise.reject(new Error('disk on fire')),
      saveSnapshot: () => Promise.resolve(),
      releaseTo: () => Promise.resolve(),
    },
    persisted: { hardState: { term: 0, vote: NONE, commit: 0 }, snapshot: null, entries: [] },
    sender: { send: () => undefined },
    stateMachine: kv,
    bootstrap: [ids[0]!],
    tickMs: 5,
    onFatal: (e) => {
      fatal = e;
    },
  });
  node.start();
  await waitFor(() => fatal, { what: 'the fatal report', timeoutMs: 5000 });
  t.regex(fatal!.message, /disk on fire/);
  await t.throwsAsync(node.propose(put('k', 'v')), { message: /disk on fire/ });
  await node.stop();
});
