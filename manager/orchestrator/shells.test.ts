// The orchestrator and scheduler shells together on a real MemoryStore + StoreWriter with a fake
// proposer and a fake clock: the end-to-end paths from a service write to placed tasks.
import test from 'ava';
import fc from 'fast-check';
import type { Node, Service, Task } from '../../common/model.js';
import { isTerminal, TaskState } from '../../common/model.js';
import type { Change } from '../store/index.js';
import { MemoryStore, StoreWriter } from '../store/index.js';
import { FakeProposer, makeNode, makeService } from '../store/test-fixtures.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { Orchestrator } from './orchestrator.js';
import { FakeClock, sequentialIds, settle } from './shell-test-kit.js';

const setup = async (nodes: Node[]) => {
  const store = new MemoryStore();
  const clock = new FakeClock();
  const writer = new StoreWriter({ proposer: new FakeProposer(store), now: () => clock.now() });
  const orch = new Orchestrator({ store, writer, clock, newId: sequentialIds() });
  const sched = new Scheduler({ store, writer, clock });
  for (const node of nodes) await writer.submit([{ op: 'create', kind: 'node', object: node }]);
  const ctl = new AbortController();
  const runs = Promise.all([orch.run(ctl.signal), sched.run(ctl.signal)]);
  const settleAll = (): Promise<void> =>
    settle(
      store,
      () => orch.idle && sched.idle,
      () => writer.drained(),
    );
  const write = async (tx: Parameters<StoreWriter['submit']>[0]): Promise<void> => {
    const o = await writer.submit(tx);
    if (!o.ok) throw new Error(`${o.code}: ${o.message}`);
  };
  const tasksOf = (serviceId: string): Task[] =>
    store.find('task', { serviceId: serviceId as Service['meta']['id'] });
  const live = (serviceId: string): Task[] =>
    tasksOf(serviceId).filter((t) => t.desiredState === TaskState.Running);
  const stop = async (): Promise<void> => {
    ctl.abort();
    await runs;
  };
  return { store, clock, writer, orch, sched, settle: settleAll, write, tasksOf, live, stop };
};

const nodes3 = (): Node[] => [makeNode('n1'), makeNode('n2'), makeNode('n3')];

const perNode = (tasks: readonly Task[]): number[] => {
  const m = new Map<string, number>();
  for (const t of tasks) m.set(t.nodeId ?? '-', (m.get(t.nodeId ?? '-') ?? 0) + 1);
  return [...m.values()].sort();
};

test('shells: 5 replicas on 3 ready nodes are created, assigned and spread', async (t) => {
  const h = await setup(nodes3());
  await h.write([{ op: 'create', kind: 'service', object: makeService('s1', 'web', 5) }]);
  await h.settle();
  const tasks = h.live('s1');
  t.is(tasks.length, 5);
  t.deepEqual(tasks.map((x) => x.slot).sort(), [1, 2, 3, 4, 5]);
  t.true(tasks.every((x) => x.status.state === TaskState.Assigned && x.nodeId !== undefined));
  t.deepEqual(perNode(tasks), [1, 2, 2]);
  await h.stop();
});

test('shells: scaling to 8 and back to 2 shuts down the slots above 2', async (t) => {
  const h = await setup(nodes3());
  const svc = makeService('s1', 'web', 5);
  await h.write([{ op: 'create', kind: 'service', object: svc }]);
  await h.settle();
  const scale = async (replicas: number): Promise<void> => {
    const cur = h.store.get('service', 's1')!;
    await h.write([
      {
        op: 'update',
        kind: 'service',
        object: { ...cur, spec: { ...cur.spec, mode: { type: 'replicated', replicas } } },
      },
    ]);
    await h.settle();
  };
  await scale(8);
  t.deepEqual(
    h
      .live('s1')
      .map((x) => x.slot)
      .sort(),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  t.deepEqual(perNode(h.live('s1')), [2, 3, 3]);
  const before = new Map(h.live('s1').map((x) => [x.slot, x.meta.id]));
  await scale(2);
  const kept = h.live('s1');
  t.deepEqual(kept.map((x) => x.slot).sort(), [1, 2]);
  // The slots 1 and 2 keep their tasks; 3..8 are desired shutdown (already assigned, so their
  // status waits for the agent).
  t.deepEqual(kept.map((x) => x.meta.id).sort(), [before.get(1), before.get(2)].sort());
  const down = h.tasksOf('s1').filter((x) => x.desiredState === TaskState.Shutdown);
  t.deepEqual(down.map((x) => x.slot).sort(), [3, 4, 5, 6, 7, 8]);
  t.true(down.every((x) => x.status.state === TaskState.Assigned));
  await h.stop();
});

test('shells: a down node leaves replicated tasks alone until they end; then they move', async (t) => {
  const h = await setup(nodes3());
  await h.write([{ op: 'create', kind: 'service', object: makeService('s1', 'web', 3) }]);
  await h.settle();
  const n1 = h.store.get('node', 'n1')!;
  await h.write([
    { op: 'update', kind: 'node', object: { ...n1, status: { ...n1.status, state: 'down' } } },
  ]);
  await h.settle();
  // The replicated core does not look at nodes: the task on n1 stays desired running.
  const onN1 = h.live('s1').filter((x) => x.nodeId === 'n1');
  t.is(onN1.length, 1);
  t.is(h.live('s1').length, 3);
  // The dispatcher (later) marks it orphaned; the restart policy (any, no delay) replaces it on a
  // ready node, in the same slot.
  const orphan = onN1[0]!;
  await h.write([
    {
      op: 'update',
      kind: 'task',
      object: {
        ...orphan,
        status: { state: TaskState.Orphaned, timestamp: h.clock.now(), message: 'node down' },
      },
    },
  ]);
  await h.settle();
  const again = h.live('s1').filter((x) => x.status.state === TaskState.Assigned);
  t.is(again.length, 3);
  const replacement = again.find((x) => x.slot === orphan.slot && x.meta.id !== orphan.meta.id);
  t.truthy(replacement);
  t.not(replacement!.nodeId, 'n1');
  await h.stop();
});

test('shells: draining a node shuts its replicated tasks down and refills their slots elsewhere', async (t) => {
  const h = await setup(nodes3());
  await h.write([{ op: 'create', kind: 'service', object: makeService('s1', 'web', 6) }]);
  await h.settle();
  const onN1 = h.live('s1').filter((x) => x.nodeId === 'n1');
  t.is(onN1.length, 2);
  const n1 = h.store.get('node', 'n1')!;
  await h.write([
    { op: 'update', kind: 'node', object: { ...n1, spec: { ...n1.spec, availability: 'drain' } } },
  ]);
  await h.settle();
  // Desired shutdown at once; the slots wait for the agent to stop them (stop-first).
  for (const x of onN1) t.is(h.store.get('task', x.meta.id)!.desiredState, TaskState.Shutdown);
  t.is(h.live('s1').length, 4);
  // The agent on n1 reports them stopped: each slot gets a new task, placed on another node.
  await h.write(
    onN1.map((x): Change => ({
      op: 'update',
      kind: 'task',
      object: {
        ...h.store.get('task', x.meta.id)!,
        status: { state: TaskState.Shutdown, timestamp: h.clock.now(), message: 'stopped' },
      },
    })),
  );
  await h.settle();
  const live = h.live('s1');
  t.is(live.length, 6);
  t.deepEqual(live.map((x) => x.slot).sort(), [1, 2, 3, 4, 5, 6]);
  t.true(live.every((x) => x.nodeId !== 'n1' && x.status.state === TaskState.Assigned));
  t.deepEqual(perNode(live), [3, 3]);
  await h.stop();
});

test('shells: an on-failure restart with a delay waits for the fake clock', async (t) => {
  const h = await setup(nodes3());
  const base = makeService('s1', 'web', 1);
  const svc: Service = {
    ...base,
    spec: {
      ...base.spec,
      restartPolicy: { condition: 'on-failure', delayMs: 5000, maxAttempts: 0, windowMs: 0 },
    },
  };
  await h.write([{ op: 'create', kind: 'service', object: svc }]);
  await h.settle();
  const first = h.live('s1')[0]!;
  await h.write([
    {
      op: 'update',
      kind: 'task',
      object: {
        ...first,
        status: { state: TaskState.Failed, timestamp: h.clock.now(), message: 'exit 1' },
      },
    },
  ]);
  await h.settle();
  t.is(h.tasksOf('s1').length, 1);
  t.is(h.orch.pendingTimers, 1);
  h.clock.advance(4999);
  await h.settle();
  t.is(h.tasksOf('s1').length, 1);
  h.clock.advance(1);
  await h.settle();
  const tasks = h.tasksOf('s1');
  t.is(tasks.length, 2);
  const next = tasks.find((x) => x.meta.id !== first.meta.id)!;
  t.is(next.slot, 1);
  t.is(next.status.state, TaskState.Assigned);
  await h.stop();
});

test('shells: an unschedulable task names the filter, then lands on a big node', async (t) => {
  const h = await setup(nodes3());
  const base = makeService('s1', 'big', 1);
  const svc: Service = {
    ...base,
    spec: {
      ...base.spec,
      resources: { limits: {}, reservations: { memoryBytes: 16 * 1024 ** 3 } },
    },
  };
  await h.write([{ op: 'create', kind: 'service', object: svc }]);
  await h.settle();
  const waiting = h.live('s1');
  t.is(waiting.length, 1);
  t.is(waiting[0]!.status.state, TaskState.Pending);
  t.regex(waiting[0]!.status.message, /3 nodes with insufficient memory: need 16Gi/);
  // A reason that did not change is not written again on the next pass.
  const version = waiting[0]!.meta.version;
  const n2 = h.store.get('node', 'n2')!;
  await h.write([{ op: 'update', kind: 'node', object: { ...n2, spec: { ...n2.spec } } }]);
  await h.settle();
  t.is(h.live('s1')[0]!.meta.version, version);

  const big = makeNode('n4');
  await h.write([
    {
      op: 'create',
      kind: 'node',
      object: {
        ...big,
        description: { ...big.description, resources: { cpus: 8, memoryBytes: 32 * 1024 ** 3 } },
      },
    },
  ]);
  await h.settle();
  const placed = h.live('s1')[0]!;
  t.is(placed.status.state, TaskState.Assigned);
  t.true(placed.nodeId === 'n4');
  await h.stop();
});

test('shells: a removed service has its tasks shut down, then deleted', async (t) => {
  const h = await setup([]);
  await h.write([{ op: 'create', kind: 'service', object: makeService('s1', 'web', 2) }]);
  await h.settle();
  // No nodes: the tasks wait as pending, never assigned.
  t.true(h.live('s1').every((x) => x.status.state === TaskState.Pending));
  const svc = h.store.get('service', 's1')!;
  const shutDown = new Set<string>();
  const ac = new AbortController();
  const seen = (async () => {
    for await (const e of h.store.watch({ kinds: ['task'], signal: ac.signal })) {
      if (e.kind !== 'task') continue;
      const x = e.object;
      if (e.type === 'update' && x.status.state === TaskState.Shutdown) shutDown.add(x.meta.id);
      if (e.type === 'delete' && !shutDown.has(x.meta.id)) t.fail(`${x.meta.id} deleted live`);
    }
  })();
  await h.write([{ op: 'delete', kind: 'service', id: 's1', version: svc.meta.version }]);
  await h.settle();
  // Never assigned, so marked shut down; then finished tasks of no service: deleted.
  t.is(shutDown.size, 2);
  t.deepEqual(h.tasksOf('s1'), []);
  ac.abort();
  await seen;
  await h.stop();
});

test('shells: abort resolves run, cancels timers and stops writing', async (t) => {
  const h = await setup(nodes3());
  const base = makeService('s1', 'web', 1);
  const svc: Service = {
    ...base,
    spec: {
      ...base.spec,
      restartPolicy: { condition: 'any', delayMs: 60_000, maxAttempts: 0, windowMs: 0 },
    },
  };
  await h.write([{ op: 'create', kind: 'service', object: svc }]);
  await h.settle();
  const first = h.live('s1')[0]!;
  await h.write([
    {
      op: 'update',
      kind: 'task',
      object: {
        ...first,
        status: { state: TaskState.Failed, timestamp: h.clock.now(), message: 'exit 1' },
      },
    },
  ]);
  await h.settle();
  t.is(h.clock.pending, 1);
  await h.stop();
  t.is(h.clock.pending, 0);
  t.is(h.store.watcherCount, 0);
  const version = h.store.version;
  // Events after the abort wake nothing.
  await h.write([{ op: 'create', kind: 'service', object: makeService('s2', 'other', 3) }]);
  h.clock.advance(120_000);
  await h.settle();
  t.is(h.store.version, version + 1);
  t.is(h.tasksOf('s2').length, 0);
});

test('shells: after any run of scales, node flaps and failures, each slot 1..N has one placed task', async (t) => {
  const op = fc.oneof(
    fc.record({ type: fc.constant('scale' as const), replicas: fc.integer({ min: 0, max: 7 }) }),
    fc.record({
      type: fc.constant('node' as const),
      node: fc.integer({ min: 1, max: 3 }),
      up: fc.boolean(),
    }),
    fc.record({ type: fc.constant('fail' as const), pick: fc.nat() }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 8 }), async (ops) => {
      const h = await setup(nodes3());
      try {
        await h.write([{ op: 'create', kind: 'service', object: makeService('s1', 'web', 3) }]);
        await h.settle();
        let replicas = 3;
        for (const o of ops) {
          if (o.type === 'scale') {
            replicas = o.replicas;
            const cur = h.store.get('service', 's1')!;
            const mode = { type: 'replicated' as const, replicas };
            await h.write([
              { op: 'update', kind: 'service', object: { ...cur, spec: { ...cur.spec, mode } } },
            ]);
          } else if (o.type === 'node') {
            const n = h.store.get('node', `n${o.node}`)!;
            const state = o.up ? ('ready' as const) : ('down' as const);
            await h.write([
              { op: 'update', kind: 'node', object: { ...n, status: { ...n.status, state } } },
            ]);
          } else {
            const live = h.live('s1').filter((x) => x.status.state === TaskState.Assigned);
            const victim = live[o.pick % Math.max(1, live.length)];
            if (victim !== undefined) {
              const status = {
                state: TaskState.Failed,
                timestamp: h.clock.now(),
                message: 'exit 1',
              };
              await h.write([{ op: 'update', kind: 'task', object: { ...victim, status } }]);
            }
          }
          await h.settle();
          // Agents report the shutdowns asked of them; the dispatcher orphans tasks on down nodes.
          for (;;) {
            const tx: Change[] = [];
            for (const x of h.tasksOf('s1')) {
              if (isTerminal(x.status.state) || x.nodeId === undefined) continue;
              const down = h.store.get('node', x.nodeId)?.status.state !== 'ready';
              if (!down && x.desiredState === TaskState.Running) continue;
              const state = down ? TaskState.Orphaned : TaskState.Shutdown;
              const status = { state, timestamp: h.clock.now(), message: '' };
              tx.push({ op: 'update', kind: 'task', object: { ...x, status } });
            }
            if (tx.length === 0) break;
            await h.write(tx);
            await h.settle();
          }
          // A failed task stays desired running (history): only live ones count.
          const wanted = h.live('s1').filter((x) => !isTerminal(x.status.state));
          // Restart policy any, no delay: every slot 1..N is filled at once, exactly once.
          if (wanted.length !== replicas) return false;
          const slots = wanted.map((x) => x.slot).sort((a, b) => (a ?? 0) - (b ?? 0));
          if (slots.some((s, i) => s !== i + 1)) return false;
          const ready = h.store.list('node').filter((n) => n.status.state === 'ready');
          for (const x of wanted) {
            if (x.status.state === TaskState.Pending && ready.length > 0) return false;
            if (x.status.state === TaskState.Assigned && !ready.some((n) => n.meta.id === x.nodeId))
              return false;
            if (x.status.state === TaskState.Pending && x.status.message === '') return false;
          }
        }
        return true;
      } finally {
        await h.stop();
      }
    }),
    { numRuns: 100 },
  );
  t.pass();
});

test('shells: a start-first update writes its status, pauses on a failure and completes after monitor', async (t) => {
  const h = await setup(nodes3());
  const base = makeService('s1', 'web', 2);
  const svc: Service = {
    ...base,
    spec: {
      ...base.spec,
      update: {
        parallelism: 1,
        delayMs: 0,
        order: 'start-first',
        failureAction: 'pause',
        monitorMs: 1000,
        maxFailureRatio: 0,
      },
    },
  };
  await h.write([{ op: 'create', kind: 'service', object: svc }]);
  await h.settle();
  // The agents (faked): every assigned task runs; every one of `failing` spec version fails.
  const agents = async (failing?: number): Promise<void> => {
    const now = h.clock.now();
    const tx: Change[] = h
      .tasksOf('s1')
      .filter((x) => x.status.state === TaskState.Assigned)
      .map((x) => ({
        op: 'update',
        kind: 'task',
        object: {
          ...x,
          status: {
            state: x.specVersion === failing ? TaskState.Failed : TaskState.Running,
            timestamp: now,
            message: x.specVersion === failing ? 'exit 1' : '',
          },
        },
      }));
    if (tx.length > 0) await h.write(tx);
    await h.settle();
  };
  await agents();
  const bump = async (image: string): Promise<void> => {
    const cur = h.store.get('service', 's1')!;
    const spec = { ...cur.spec, container: { ...cur.spec.container, image } };
    await h.write([
      { op: 'update', kind: 'service', object: { ...cur, spec, specVersion: cur.specVersion + 1 } },
    ]);
    await h.settle();
  };
  await bump('busybox:2');
  t.like(h.store.get('service', 's1')!.updateStatus, {
    state: 'updating',
    specVersion: 2,
    total: 2,
  });
  // Start-first: both old tasks still desired running beside one new task.
  t.is(h.live('s1').length, 3);
  await agents(2);
  const paused = h.store.get('service', 's1')!.updateStatus!;
  t.like(paused, { state: 'paused', failures: 1 });
  t.regex(paused.message, /update paused: 1 of 2 new tasks failed.*exit 1/);
  // The old tasks keep serving; the failed one is not tried again.
  t.deepEqual(
    h
      .live('s1')
      .filter((x) => !isTerminal(x.status.state))
      .map((x) => [x.slot, x.specVersion, x.status.state])
      .sort(),
    [
      [1, 1, 'running'],
      [2, 1, 'running'],
    ],
  );
  // A new spec version resumes with a new update, which completes once monitor has passed.
  await bump('busybox:3');
  for (let i = 0; i < 6; i++) await agents();
  t.like(h.store.get('service', 's1')!.updateStatus, { state: 'updating', specVersion: 3 });
  h.clock.advance(1000);
  await h.settle();
  t.like(h.store.get('service', 's1')!.updateStatus, { state: 'completed', specVersion: 3 });
  t.deepEqual(
    h
      .live('s1')
      .filter((x) => !isTerminal(x.status.state))
      .map((x) => [x.slot, x.specVersion])
      .sort(),
    [
      [1, 3],
      [2, 3],
    ],
  );
  await h.stop();
});
