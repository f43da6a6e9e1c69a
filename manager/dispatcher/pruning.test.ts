// Task history in the agent protocol: a full assignment set lists the node's finished tasks the
// store still keeps (`retained`), and a deletion of any of the node's tasks — by the history cap
// or directly — reaches its session as `pruned`. Real dispatcher and AgentSession on loopback.
import test from 'ava';
import { waitFor } from '../../bench/lib/wait.js';
import type { NodeId, Task, TaskState } from '../../common/model.js';
import { DispatcherClients } from '../../agent/session/clients.js';
import { AgentSession, type Assignments } from '../../agent/session/session.js';
import { makeCluster, makeTask } from '../store/test-fixtures.js';
import { setup, type Harness } from './test-harness.js';

class Recorder {
  readonly messages: Assignments[] = [];
  assignments(a: Assignments): void {
    this.messages.push(a);
  }
  get pruned(): string[] {
    return this.messages.flatMap((m) => m.pruned);
  }
  get removed(): string[] {
    return this.messages.flatMap((m) => m.removed);
  }
  get lastFull(): Assignments | undefined {
    return this.messages.filter((m) => m.full).at(-1);
  }
}

interface Opened {
  readonly session: AgentSession;
  readonly exec: Recorder;
}

const open = async (h: Harness, clients: DispatcherClients, nodeId = ''): Promise<Opened> => {
  const exec = new Recorder();
  const session = h.track(
    new AgentSession({
      managers: [h.address],
      clients,
      executor: exec,
      nodeId,
      description: {
        hostname: 'host-a',
        os: 'linux',
        arch: 'x86_64',
        cpus: 1,
        memoryBytes: 1024 ** 3,
        labels: {},
        addr: '',
      },
      backoff: { baseMs: 10, maxMs: 100 },
    }),
  );
  await session.start();
  await waitFor(() => exec.lastFull !== undefined, { what: 'a full set', timeoutMs: 10_000 });
  return { session, exec };
};

const create = async (
  h: Harness,
  id: string,
  nodeId: string,
  state: TaskState,
  fields: Partial<Pick<Task, 'slot' | 'desiredState'>> = {},
): Promise<void> => {
  const task = makeTask(id, 'svc', { slot: 1, nodeId: nodeId as NodeId, state, ...fields });
  const o = await h.writer.submit([{ op: 'create', kind: 'task', object: task }]);
  if (!o.ok) throw new Error(o.message);
};

const remove = async (h: Harness, id: string): Promise<void> => {
  const t = h.store.get('task', id);
  if (t === undefined) throw new Error(`no task ${id}`);
  const o = await h.writer.submit([{ op: 'delete', kind: 'task', id, version: t.meta.version }]);
  if (!o.ok) throw new Error(o.message);
};

test('dispatcher: a full set lists the node’s finished tasks still stored as retained', async (t) => {
  const h = await setup();
  const clients = new DispatcherClients();
  try {
    const first = await open(h, clients);
    const node = first.session.nodeId;
    t.true(first.exec.lastFull?.tracksHistory);
    t.deepEqual(first.exec.lastFull?.retained, []);
    first.session.stop();
    await create(h, 'run', node, 'assigned', { slot: 1 });
    await create(h, 'done', node, 'complete', { slot: 2 });
    await create(h, 'gone', node, 'failed', { slot: 3 });
    await create(h, 'elsewhere', 'other-node', 'complete', { slot: 4 });
    // Deleted while the node had no session: the next full set is how the agent learns it.
    await remove(h, 'gone');
    const again = await open(h, clients, node);
    const full = again.exec.lastFull!;
    t.true(full.tracksHistory);
    t.deepEqual(
      full.updated.map((x) => x.meta.id),
      ['run'],
    );
    t.deepEqual([...full.retained], ['done']);
    t.deepEqual([...full.pruned], []);
  } finally {
    await h.close();
    clients.close();
  }
});

test('dispatcher: a deleted task of the node is sent as pruned, an assigned one also as removed', async (t) => {
  const h = await setup();
  const clients = new DispatcherClients();
  try {
    const { session, exec } = await open(h, clients);
    const node = session.nodeId;
    await create(h, 'done', node, 'complete', { slot: 1 });
    await create(h, 'live', node, 'assigned', { slot: 2 });
    await create(h, 'theirs', 'other-node', 'complete', { slot: 3 });
    await waitFor(() => exec.messages.some((m) => m.updated.some((x) => x.meta.id === 'live')), {
      what: 'live assigned',
      timeoutMs: 10_000,
    });
    await remove(h, 'theirs');
    await remove(h, 'done');
    await remove(h, 'live');
    await waitFor(() => exec.pruned.includes('live'), { what: 'live pruned', timeoutMs: 10_000 });
    t.deepEqual(exec.pruned.sort(), ['done', 'live']);
    t.deepEqual(exec.removed, ['live']);
    for (const m of exec.messages.filter((x) => !x.full)) {
      t.false(m.tracksHistory);
      t.deepEqual(m.retained, []);
    }
  } finally {
    await h.close();
    clients.close();
  }
});

test('dispatcher: tasks the history cap deletes reach the node as pruned', async (t) => {
  const h = await setup();
  const clients = new DispatcherClients();
  try {
    const c = await h.writer.submit([
      { op: 'create', kind: 'cluster', object: makeCluster('c', 1) },
    ]);
    t.true(c.ok);
    const { session, exec } = await open(h, clients);
    const node = session.nodeId;
    // Finished (observed and desired state terminal) in one slot: the cap keeps the newest
    // (createdAt, then id: both may be created in the same millisecond, so ids in that order).
    await create(h, 't1-old', node, 'failed', { slot: 1, desiredState: 'shutdown' });
    t.truthy(h.store.get('task', 't1-old'));
    await create(h, 't2-new', node, 'failed', { slot: 1, desiredState: 'shutdown' });
    t.is(h.store.get('task', 't1-old'), undefined);
    await waitFor(() => exec.pruned.includes('t1-old'), { what: 'pruned', timeoutMs: 10_000 });
    t.deepEqual(exec.pruned, ['t1-old']);
    session.stop();
    const again = await open(h, clients, node);
    t.deepEqual([...again.exec.lastFull!.retained], ['t2-new']);
  } finally {
    await h.close();
    clients.close();
  }
});
