// The orchestrator shell alone (no scheduler): startup pass, removed services, version conflicts,
// bounded transactions, global services following node events, retry after a failed proposal.
import test from 'ava';
import type { Node, Service, Task } from '../../common/model.js';
import { TaskState } from '../../common/model.js';
import type { Transaction } from '../store/index.js';
import { decodeBatch, MemoryStore, StoreWriter } from '../store/index.js';
import { makeNode, makeService, makeTask } from '../store/test-fixtures.js';
import { Orchestrator } from './orchestrator.js';
import { FakeClock, InterposingProposer, sequentialIds, settle } from './shell-test-kit.js';

const setup = (opts: { maxChangesPerTx?: number } = {}) => {
  const store = new MemoryStore();
  const clock = new FakeClock();
  const proposer = new InterposingProposer(store);
  const writer = new StoreWriter({ proposer, now: () => clock.now() });
  const orch = new Orchestrator({
    store,
    writer,
    clock,
    newId: sequentialIds(),
    retryMs: 1000,
    ...opts,
  });
  const ctl = new AbortController();
  let runs: Promise<void> | undefined;
  const write = async (tx: Transaction): Promise<void> => {
    const o = await writer.submit(tx);
    if (!o.ok) throw new Error(`${o.code}: ${o.message}`);
  };
  return {
    store,
    clock,
    proposer,
    orch,
    write,
    start: () => {
      runs = orch.run(ctl.signal);
    },
    settle: () =>
      settle(
        store,
        () => orch.idle,
        () => writer.drained(),
      ),
    tasksOf: (id: string): Task[] => store.find('task', { serviceId: id as Service['meta']['id'] }),
    stop: async () => {
      ctl.abort();
      await runs;
    },
  };
};

const wanted = (tasks: readonly Task[]): Task[] =>
  tasks.filter((t) => t.desiredState === TaskState.Running);

const scaled = (s: Service, replicas: number): Service => ({
  ...s,
  spec: { ...s.spec, mode: { type: 'replicated', replicas } },
});

test('orchestrator: the startup pass fills services and shuts down tasks of removed ones', async (t) => {
  const h = setup();
  await h.write([
    { op: 'create', kind: 'service', object: makeService('s1', 'web', 3) },
    { op: 'create', kind: 'service', object: makeService('s2', 'gone', 2) },
    { op: 'create', kind: 'task', object: makeTask('a', 's1', { slot: 1 }) },
    { op: 'create', kind: 'task', object: makeTask('b', 's2', { slot: 1 }) },
    {
      op: 'create',
      kind: 'task',
      object: makeTask('c', 's2', {
        slot: 2,
        nodeId: 'n1' as Node['meta']['id'],
        state: 'running',
      }),
    },
  ]);
  const s2 = h.store.get('service', 's2')!;
  await h.write([{ op: 'delete', kind: 'service', id: 's2', version: s2.meta.version }]);
  h.start();
  await h.settle();
  const s1 = wanted(h.tasksOf('s1'));
  t.deepEqual(s1.map((x) => x.slot).sort(), [1, 2, 3]);
  t.true(s1.some((x) => x.meta.id === 'a'));
  // Never assigned: nobody else will ever report it, so it is marked shut down too, and then,
  // finished and of a removed service, deleted.
  t.is(h.store.get('task', 'b'), undefined);
  // On a node: the agent reports the shutdown; the orchestrator only sets the desired state.
  const c = h.store.get('task', 'c')!;
  t.is(c.desiredState, TaskState.Shutdown);
  t.is(c.status.state, TaskState.Running);
  // Once it has stopped, it goes too.
  await h.write([
    { op: 'update', kind: 'task', object: { ...c, status: { ...c.status, state: 'shutdown' } } },
  ]);
  await h.settle();
  t.is(h.store.get('task', 'c'), undefined);
  await h.stop();
});

test('orchestrator: a concurrent assignment makes the shutdown re-read, not overwrite', async (t) => {
  const h = setup();
  h.start();
  await h.write([{ op: 'create', kind: 'service', object: makeService('s1', 'web', 2) }]);
  await h.settle();
  const slot2 = wanted(h.tasksOf('s1')).find((x) => x.slot === 2)!;
  t.is(slot2.status.state, TaskState.New);
  await h.write([
    { op: 'update', kind: 'service', object: scaled(h.store.get('service', 's1')!, 1) },
  ]);
  // The orchestrator acts on the next turn; the scheduler assigns slot 2 just before its
  // markShutdown write lands.
  h.proposer.interpose(() => {
    const cur = h.store.get('task', slot2.meta.id)!;
    return [
      {
        op: 'update',
        kind: 'task',
        object: {
          ...cur,
          nodeId: 'n1' as Node['meta']['id'],
          status: { state: TaskState.Assigned, timestamp: 0, message: 'scheduled' },
        },
      },
    ];
  });
  await h.settle();
  const after = h.store.get('task', slot2.meta.id)!;
  t.is(after.desiredState, TaskState.Shutdown);
  // The assignment survived: the retry saw it and left the status for the agent.
  t.is(after.status.state, TaskState.Assigned);
  t.true(after.nodeId === 'n1');
  await h.stop();
});

test('orchestrator: a big reconcile goes out in bounded transactions', async (t) => {
  const h = setup({ maxChangesPerTx: 10 });
  h.start();
  await h.write([{ op: 'create', kind: 'service', object: makeService('s1', 'web', 25) }]);
  await h.settle();
  t.is(wanted(h.tasksOf('s1')).length, 25);
  const sizes = h.proposer.inner.proposed.flatMap(
    (d) => decodeBatch(d)?.txs.map((tx) => tx.length) ?? [],
  );
  t.true(sizes.every((n) => n <= 10));
  t.true(sizes.filter((n) => n === 10).length >= 2);
  await h.stop();
});

test('orchestrator: a global service follows node events', async (t) => {
  const h = setup();
  await h.write([
    { op: 'create', kind: 'node', object: makeNode('n1') },
    { op: 'create', kind: 'node', object: makeNode('n2') },
  ]);
  const base = makeService('g', 'agent');
  h.start();
  await h.write([
    {
      op: 'create',
      kind: 'service',
      object: { ...base, spec: { ...base.spec, mode: { type: 'global' } } },
    },
  ]);
  await h.settle();
  t.deepEqual(
    wanted(h.tasksOf('g'))
      .map((x) => x.nodeId)
      .sort(),
    ['n1', 'n2'],
  );
  await h.write([{ op: 'create', kind: 'node', object: makeNode('n3') }]);
  await h.settle();
  t.deepEqual(
    wanted(h.tasksOf('g'))
      .map((x) => x.nodeId)
      .sort(),
    ['n1', 'n2', 'n3'],
  );
  const n1 = h.store.get('node', 'n1')!;
  await h.write([
    { op: 'update', kind: 'node', object: { ...n1, spec: { ...n1.spec, availability: 'drain' } } },
  ]);
  await h.settle();
  t.deepEqual(
    wanted(h.tasksOf('g'))
      .map((x) => x.nodeId)
      .sort(),
    ['n2', 'n3'],
  );
  await h.stop();
});

test('orchestrator: a write that could not be replicated is retried after retryMs', async (t) => {
  const h = setup();
  h.start();
  await h.settle();
  await h.write([{ op: 'create', kind: 'service', object: makeService('s1', 'web', 2) }]);
  // The orchestrator acts on the next turn: its proposal is the one that fails.
  h.proposer.fail = 1;
  await h.settle();
  t.is(h.tasksOf('s1').length, 0);
  t.is(h.orch.pendingTimers, 1);
  h.clock.advance(999);
  await h.settle();
  t.is(h.tasksOf('s1').length, 0);
  h.clock.advance(1);
  await h.settle();
  t.is(wanted(h.tasksOf('s1')).length, 2);
  await h.stop();
});
