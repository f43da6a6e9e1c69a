// The scheduler shell alone (no orchestrator): tasks are written straight into the store, as the
// orchestrator would. Startup pass, bounded transactions, stale decisions, reasons, freed room.
import test from 'ava';
import type { Node, NodeId, Task } from '../../common/model.js';
import { TaskState } from '../../common/model.js';
import type { Transaction } from '../store/index.js';
import { changeId, decodeBatch, MemoryStore, StoreWriter } from '../store/index.js';
import { FakeProposer, makeNode, makeService, makeTask } from '../store/test-fixtures.js';
import { FakeClock, InterposingProposer, settle, turn } from '../orchestrator/shell-test-kit.js';
import { isSchedulable, Scheduler } from './scheduler.js';

const gi = 1024 ** 3;

const setup = (opts: { maxChangesPerTx?: number; maxTasksPerPass?: number } = {}) => {
  const store = new MemoryStore();
  const clock = new FakeClock();
  const proposer = new InterposingProposer(store);
  const writer = new StoreWriter({ proposer, now: () => clock.now() });
  const sched = new Scheduler({ store, writer, clock, ...opts });
  const ctl = new AbortController();
  let runs: Promise<void> | undefined;
  const write = async (tx: Transaction): Promise<void> => {
    const o = await writer.submit(tx);
    if (!o.ok) throw new Error(`${o.code}: ${o.message}`);
  };
  return {
    store,
    proposer,
    write,
    start: () => {
      runs = sched.run(ctl.signal);
    },
    settle: () =>
      settle(
        store,
        () => sched.idle,
        () => writer.drained(),
      ),
    task: (id: string): Task => store.get('task', id)!,
    stop: async () => {
      ctl.abort();
      await runs;
    },
  };
};

const withMemory = (t: Task, bytes: number): Task => ({
  ...t,
  resources: { limits: {}, reservations: { memoryBytes: bytes } },
});

const sized = (id: string, memoryBytes: number): Node => {
  const n = makeNode(id);
  return { ...n, description: { ...n.description, resources: { cpus: 4, memoryBytes } } };
};

test('scheduler: isSchedulable is new or pending and still desired running', (t) => {
  t.true(isSchedulable(makeTask('a', 's', { state: 'new' })));
  t.true(isSchedulable(makeTask('a', 's', { state: 'pending' })));
  t.false(isSchedulable(makeTask('a', 's', { state: 'assigned' })));
  t.false(isSchedulable(makeTask('a', 's', { state: 'new', desiredState: 'shutdown' })));
});

test('scheduler: the startup pass places existing tasks in bounded transactions', async (t) => {
  const h = setup({ maxChangesPerTx: 4 });
  await h.write([
    { op: 'create', kind: 'node', object: makeNode('n1') },
    { op: 'create', kind: 'node', object: makeNode('n2') },
    { op: 'create', kind: 'service', object: makeService('s', 's', 10) },
    ...Array.from({ length: 10 }, (_, i) => ({
      op: 'create' as const,
      kind: 'task' as const,
      object: makeTask(`t${i}`, 's', { slot: i + 1 }),
    })),
  ]);
  const before = h.proposer.inner.proposed.length;
  h.start();
  await h.settle();
  const tasks = h.store.find('task', { serviceId: 's' as Task['serviceId'] });
  t.true(tasks.every((x) => x.status.state === TaskState.Assigned));
  t.is(tasks.filter((x) => x.nodeId === 'n1').length, 5);
  const sizes = h.proposer.inner.proposed
    .slice(before)
    .flatMap((d) => decodeBatch(d)?.txs.map((tx) => tx.length) ?? []);
  t.deepEqual(
    sizes.sort((a, b) => a - b),
    [2, 4, 4],
  );
  await h.stop();
});

test('scheduler: a task shut down before the commit drops out; the rest are placed', async (t) => {
  const h = setup();
  await h.write([
    { op: 'create', kind: 'node', object: makeNode('n1') },
    { op: 'create', kind: 'service', object: makeService('s', 's', 2) },
  ]);
  h.start();
  await h.settle();
  await h.write([
    { op: 'create', kind: 'task', object: makeTask('a', 's', { slot: 1 }) },
    { op: 'create', kind: 'task', object: makeTask('b', 's', { slot: 2 }) },
  ]);
  // The orchestrator shuts `b` down just before the scheduler's write lands.
  h.proposer.interpose(() => {
    const b = h.task('b');
    return [
      {
        op: 'update',
        kind: 'task',
        object: {
          ...b,
          desiredState: 'shutdown',
          status: { state: 'shutdown', timestamp: 0, message: 'scaled down' },
        },
      },
    ];
  });
  await h.settle();
  t.is(h.task('a').status.state, TaskState.Assigned);
  t.is(h.task('b').status.state, TaskState.Shutdown);
  t.is(h.task('b').nodeId, undefined);
  await h.stop();
});

test('scheduler: the pending reason is rewritten only when it changes', async (t) => {
  const h = setup();
  await h.write([{ op: 'create', kind: 'service', object: makeService('s', 's', 1) }]);
  h.start();
  await h.write([
    { op: 'create', kind: 'task', object: withMemory(makeTask('a', 's', { slot: 1 }), 6 * gi) },
  ]);
  await h.settle();
  t.is(h.task('a').status.state, TaskState.Pending);
  t.is(h.task('a').status.message, 'no suitable node (no nodes in the cluster)');
  await h.write([{ op: 'create', kind: 'node', object: sized('n1', 4 * gi) }]);
  await h.settle();
  t.regex(h.task('a').status.message, /1 node with insufficient memory: need 6Gi/);
  const version = h.task('a').meta.version;
  await h.write([{ op: 'create', kind: 'node', object: sized('n2', 2 * gi) }]);
  await h.settle();
  t.regex(h.task('a').status.message, /2 nodes with insufficient memory/);
  t.not(h.task('a').meta.version, version);
  const again = h.task('a').meta.version;
  const n1 = h.store.get('node', 'n1')!;
  await h.write([{ op: 'update', kind: 'node', object: { ...n1, spec: { ...n1.spec } } }]);
  await h.settle();
  t.is(h.task('a').meta.version, again);
  await h.stop();
});

test('scheduler: a task ending on a node makes room for a waiting one', async (t) => {
  const h = setup();
  await h.write([
    { op: 'create', kind: 'node', object: sized('n1', 8 * gi) },
    { op: 'create', kind: 'service', object: makeService('s', 's', 2) },
  ]);
  h.start();
  await h.write([
    { op: 'create', kind: 'task', object: withMemory(makeTask('a', 's', { slot: 1 }), 6 * gi) },
  ]);
  await h.settle();
  await h.write([
    { op: 'create', kind: 'task', object: withMemory(makeTask('b', 's', { slot: 2 }), 6 * gi) },
  ]);
  await h.settle();
  t.is(h.task('a').status.state, TaskState.Assigned);
  t.is(h.task('b').status.state, TaskState.Pending);
  const a = h.task('a');
  await h.write([
    {
      op: 'update',
      kind: 'task',
      object: { ...a, status: { state: TaskState.Failed, timestamp: 0, message: 'exit 1' } },
    },
  ]);
  await h.settle();
  t.is(h.task('b').status.state, TaskState.Assigned);
  t.true(h.task('b').nodeId === 'n1');
  await h.stop();
});

test('scheduler: a global task is placed only on its own node', async (t) => {
  const h = setup();
  const n2 = makeNode('n2');
  await h.write([
    { op: 'create', kind: 'node', object: makeNode('n1') },
    { op: 'create', kind: 'node', object: { ...n2, status: { ...n2.status, state: 'down' } } },
    { op: 'create', kind: 'service', object: makeService('g', 'g') },
    { op: 'create', kind: 'task', object: makeTask('a', 'g', { nodeId: 'n2' as NodeId }) },
  ]);
  h.start();
  await h.settle();
  t.is(h.task('a').status.state, TaskState.Pending);
  t.is(h.task('a').status.message, 'no suitable node (1 node not ready)');
  const down = h.store.get('node', 'n2')!;
  await h.write([
    { op: 'update', kind: 'node', object: { ...down, status: { ...down.status, state: 'ready' } } },
  ]);
  await h.settle();
  t.is(h.task('a').status.state, TaskState.Assigned);
  t.true(h.task('a').nodeId === 'n2');
  await h.stop();
});

test('scheduler: a pass while an assignment is still committing counts its room and leaves it alone', async (t) => {
  const store = new MemoryStore();
  const clock = new FakeClock();
  const inner = new FakeProposer(store);
  /** Holds back proposals that assign (status message "scheduled") until released. */
  const held: (() => void)[] = [];
  const proposer = {
    propose: (data: Uint8Array): Promise<{ index: number; result: unknown }> => {
      const assigns = decodeBatch(data)?.txs.some((tx) =>
        tx.some((c) => c.op === 'patch' && c.set.status?.message === 'scheduled'),
      );
      if (assigns !== true) return inner.propose(data);
      return new Promise((resolve) => {
        held.push(() => {
          resolve(inner.propose(data));
        });
      });
    },
  };
  const writer = new StoreWriter({ proposer, now: () => clock.now() });
  const sched = new Scheduler({ store, writer, clock });
  const write = async (tx: Transaction): Promise<void> => {
    const o = await writer.submit(tx);
    if (!o.ok) throw new Error(`${o.code}: ${o.message}`);
  };
  await write([{ op: 'create', kind: 'service', object: makeService('s') }]);
  await write([{ op: 'create', kind: 'node', object: sized('n1', 8 * gi) }]);
  await write([{ op: 'create', kind: 'node', object: sized('n2', 8 * gi) }]);
  const ctl = new AbortController();
  const runs = sched.run(ctl.signal);
  await write([
    { op: 'create', kind: 'task', object: withMemory(makeTask('a', 's', { slot: 1 }), 6 * gi) },
  ]);
  while (held.length === 0) await turn();
  // a's assignment is in flight; b arrives and is decided without waiting for it.
  await write([
    { op: 'create', kind: 'task', object: withMemory(makeTask('b', 's', { slot: 2 }), 6 * gi) },
  ]);
  while (held.length < 2) await turn();
  for (const release of held.splice(0)) release();
  await settle(
    store,
    () => sched.idle,
    () => writer.drained(),
  );
  const a = store.get('task', 'a')!;
  const b = store.get('task', 'b')!;
  t.is(a.status.state, TaskState.Assigned);
  t.is(b.status.state, TaskState.Assigned);
  // Both fit only on different nodes: b's pass counted a's place before it was committed.
  t.not(a.nodeId, b.nodeId);
  t.is(inner.proposed.length, 7);
  ctl.abort();
  await runs;
});

test('scheduler: a big backlog is decided a bounded number of tasks per pass, oldest first', async (t) => {
  const h = setup({ maxChangesPerTx: 100, maxTasksPerPass: 3 });
  await h.write([
    { op: 'create', kind: 'node', object: makeNode('n1') },
    { op: 'create', kind: 'node', object: makeNode('n2') },
    { op: 'create', kind: 'service', object: makeService('s', 's', 10) },
    ...Array.from({ length: 10 }, (_, i) => ({
      op: 'create' as const,
      kind: 'task' as const,
      object: makeTask(`t${i}`, 's', { slot: i + 1 }),
    })),
  ]);
  const before = h.proposer.inner.proposed.length;
  h.start();
  await h.settle();
  const tasks = h.store.find('task', { serviceId: 's' as Task['serviceId'] });
  t.true(tasks.every((x) => x.status.state === TaskState.Assigned));
  t.is(tasks.filter((x) => x.nodeId === 'n1').length, 5);
  // Every transaction holds one pass's decisions: at most 3.
  const sizes = h.proposer.inner.proposed
    .slice(before)
    .flatMap((d) => decodeBatch(d)?.txs.map((tx) => tx.length) ?? []);
  t.true(sizes.every((n) => n <= 3));
  t.is(
    sizes.reduce((a, b) => a + b, 0),
    10,
  );
  // Oldest first (all created together: by id): the first pass took t0..t2.
  const first = decodeBatch(h.proposer.inner.proposed[before]!)!.txs[0]!;
  t.deepEqual(
    first.map((c) => changeId(c)),
    ['t0', 't1', 't2'],
  );
  await h.stop();
});
