import test from 'ava';
import type { NodeId, Task } from '../../common/model.js';
import { MemoryStore, StoreWriter } from '../store/index.js';
import { FakeProposer, makeNode, makeService, makeTask } from '../store/test-fixtures.js';
import { Dispatcher, LEADER_ADDRESS_METADATA } from './dispatcher.js';
import { HollowAgent } from '../../agent/hollow/hollow-agent.js';
import { waitFor as poll } from '../../bench/lib/wait.js';
import type * as pb from '../../proto/gen/dispatcher.js';
import { setup, taskState, waitFor, type Harness } from './test-harness.js';

const agent = (h: Harness, hostname: string, nodeId?: string): HollowAgent =>
  h.track(
    new HollowAgent({ client: h.client, hostname, ...(nodeId === undefined ? {} : { nodeId }) }),
  );

const assignTask = async (h: Harness, id: string, nodeId: string): Promise<void> => {
  const task: Task = makeTask(id, 'svc', { slot: 1, nodeId: nodeId as NodeId, state: 'assigned' });
  const o = await h.writer.submit([{ op: 'create', kind: 'task', object: task }]);
  if (!o.ok) throw new Error(o.message);
};

test('dispatcher: an agent registers and its node is ready in the store', async (t) => {
  const h = await setup();
  try {
    const a = agent(h, 'host-a');
    await a.start();
    t.not(a.nodeId, '');
    const n = h.store.get('node', a.nodeId);
    t.is(n?.status.state, 'ready');
    t.is(n?.description.hostname, 'host-a');
    t.is(n?.meta.name, 'host-a');
  } finally {
    await h.close();
  }
});

test('dispatcher: an assigned task reaches running, then shutdown when desired', async (t) => {
  const h = await setup();
  try {
    const a = agent(h, 'host-a');
    await a.start();
    await assignTask(h, 't1', a.nodeId);
    await waitFor(h.store, () => taskState(h.store, 't1') === 'running');
    t.is(taskState(h.store, 't1'), 'running');
    // Two event-loop turns: whatever the dispatcher sends for that write has gone out. Then t2,
    // which the agent must see after anything sent for t1.
    for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
    await assignTask(h, 't2', a.nodeId);
    await poll(() => a.tasks.has('t2'), { what: 't2 received', timeoutMs: 10_000 });
    t.is(a.assignmentMessages, 3, 'the full set, t1, t2: t1 reported running was not echoed');
    const task = h.store.get('task', 't1')!;
    const o = await h.writer.submit([
      { op: 'update', kind: 'task', object: { ...task, desiredState: 'shutdown' } },
    ]);
    t.true(o.ok);
    await waitFor(h.store, () => taskState(h.store, 't1') === 'shutdown');
    t.is(taskState(h.store, 't1'), 'shutdown');
    // A desired state does travel (the agent shut t1 down), then its removal.
    await poll(() => !a.tasks.has('t1'), { what: 't1 removed', timeoutMs: 10_000 });
  } finally {
    await h.close();
  }
});

test('dispatcher: tasks assigned before the session opens come in the full set', async (t) => {
  const h = await setup();
  try {
    const first = agent(h, 'host-a');
    await first.start();
    const nodeId = first.nodeId;
    first.stop();
    await assignTask(h, 't1', nodeId);
    await assignTask(h, 't2', nodeId);
    const again = agent(h, 'host-a', nodeId);
    await again.start();
    await waitFor(
      h.store,
      () => taskState(h.store, 't1') === 'running' && taskState(h.store, 't2') === 'running',
    );
    t.is(again.nodeId, nodeId);
    t.pass();
  } finally {
    await h.close();
  }
});

test('dispatcher: a node that stops heartbeating goes down and its tasks are orphaned', async (t) => {
  const h = await setup();
  try {
    const a = agent(h, 'host-a');
    const b = agent(h, 'host-b');
    await a.start();
    await b.start();
    await assignTask(h, 't1', a.nodeId);
    await assignTask(h, 't2', b.nodeId);
    await waitFor(h.store, () => taskState(h.store, 't1') === 'running');
    await waitFor(h.store, () => taskState(h.store, 't2') === 'running');
    a.stopHeartbeats();
    await waitFor(h.store, () => h.store.get('node', a.nodeId)?.status.state === 'down');
    await waitFor(h.store, () => taskState(h.store, 't1') === 'orphaned');
    t.is(taskState(h.store, 't1'), 'orphaned');
    // The other node kept heartbeating throughout.
    t.is(h.store.get('node', b.nodeId)?.status.state, 'ready');
    t.is(taskState(h.store, 't2'), 'running');
  } finally {
    await h.close();
  }
});

test('dispatcher: reconnecting with the same node id makes the same node ready again', async (t) => {
  const h = await setup();
  try {
    const a = agent(h, 'host-a');
    await a.start();
    const nodeId = a.nodeId;
    a.stop();
    await waitFor(h.store, () => h.store.get('node', nodeId)?.status.state === 'down');
    await a.start();
    t.is(a.nodeId, nodeId);
    t.is(h.store.get('node', nodeId)?.status.state, 'ready');
    t.is(h.store.count('node'), 1);
  } finally {
    await h.close();
  }
});

test('dispatcher: an unknown node id is refused', async (t) => {
  const h = await setup();
  try {
    const a = agent(h, 'host-a', 'no-such-node');
    const err = await t.throwsAsync(a.start());
    t.regex(err.message, /not known/);
    t.is(h.store.count('node'), 0);
  } finally {
    await h.close();
  }
});

/** Reports through the agent's own session, one after another, each until acknowledged. */
const report = async (
  a: HollowAgent,
  updates: readonly { taskId: string; state: Task['status']['state'] }[],
): Promise<void> => {
  for (const u of updates) {
    a.session.report(u.taskId, { state: u.state, message: 'test' });
    await poll(() => a.session.unacknowledged === 0, {
      what: 'the report acknowledged',
      timeoutMs: 10_000,
    });
  }
};

test('dispatcher: updates for another node’s task are ignored', async (t) => {
  const h = await setup();
  try {
    const a = agent(h, 'host-a');
    const b = agent(h, 'host-b');
    await a.start();
    await b.start();
    await assignTask(h, 't1', a.nodeId);
    await waitFor(h.store, () => taskState(h.store, 't1') === 'running');
    await assignTask(h, 't2', a.nodeId);
    await waitFor(h.store, () => taskState(h.store, 't2') === 'running');
    // b claims a's task failed; then a marker update from b on nothing at all.
    const writes = h.dispatcher.statusWrites;
    await report(b, [{ taskId: 't1', state: 'failed' }]);
    await report(a, [{ taskId: 't2', state: 'complete' }]);
    await waitFor(h.store, () => taskState(h.store, 't2') === 'complete');
    t.true(h.dispatcher.statusWrites > writes);
    t.is(taskState(h.store, 't1'), 'running');
  } finally {
    await h.close();
  }
});

test('dispatcher: a task state never moves backwards', async (t) => {
  const h = await setup();
  try {
    const a = agent(h, 'host-a');
    await a.start();
    await assignTask(h, 't1', a.nodeId);
    await waitFor(h.store, () => taskState(h.store, 't1') === 'running');
    // Backwards (ignored), then forward to a terminal state, then back again.
    await report(a, [
      { taskId: 't1', state: 'starting' },
      { taskId: 't1', state: 'failed' },
      { taskId: 't1', state: 'running' },
    ]);
    await waitFor(h.store, () => taskState(h.store, 't1') === 'failed');
    await report(a, [{ taskId: 't1', state: 'accepted' }]);
    await report(a, [{ taskId: 't1', state: 'complete' }]);
    await assignTask(h, 't2', a.nodeId);
    await waitFor(h.store, () => taskState(h.store, 't2') === 'running');
    t.is(taskState(h.store, 't1'), 'failed');
  } finally {
    await h.close();
  }
});

test('dispatcher: a newer session for the same node ends the older one', async (t) => {
  const h = await setup();
  try {
    const a = agent(h, 'host-a');
    await a.start();
    const twin = agent(h, 'host-a', a.nodeId);
    await twin.start();
    t.is(h.dispatcher.sessionCount, 1);
    await assignTask(h, 't1', a.nodeId);
    await waitFor(h.store, () => taskState(h.store, 't1') === 'running');
    t.is(twin.tasks.get('t1'), 'running');
    t.false(a.tasks.has('t1'));
  } finally {
    await h.close();
  }
});

test('dispatcher: a session must open before it heartbeats or reports', async (t) => {
  const h = await setup();
  try {
    const call = h.client.session();
    const err = await new Promise<Error & { code?: number }>((resolve) => {
      call.on('error', resolve);
      call.on('data', () => undefined);
      call.write({ message: { $case: 'heartbeat', value: {} } } satisfies pb.SessionRequest);
    });
    t.is(err.code, 3);
    t.regex(err.message, /must be open/);
  } finally {
    await h.close();
  }
});

test('dispatcher: a new leader gives known nodes a full grace period, then marks them down', async (t) => {
  const store = new MemoryStore();
  const writer = new StoreWriter({ proposer: new FakeProposer(store), now: () => 0 });
  await writer.submit([{ op: 'create', kind: 'service', object: makeService('svc') }]);
  const timers: { ms: number; fn: () => void }[] = [];
  const d = new Dispatcher({
    store,
    writer,
    heartbeat: { periodMs: 1000, graceMs: 3000 },
    clock: {
      now: () => 0,
      setTimer: (ms, fn) => {
        const timer = { ms, fn };
        timers.push(timer);
        return () => {
          timers.splice(timers.indexOf(timer), 1);
        };
      },
    },
  });
  await writer.submit([{ op: 'create', kind: 'node', object: makeNode('n1') }]);
  await writer.submit([
    {
      op: 'create',
      kind: 'task',
      object: makeTask('t1', 'svc', { slot: 1, nodeId: 'n1' as NodeId, state: 'running' }),
    },
  ]);
  const controller = new AbortController();
  const running = d.run(controller.signal);
  t.deepEqual(
    timers.map((x) => x.ms),
    [3000],
  );
  t.is(store.get('node', 'n1')?.status.state, 'ready');
  timers[0]!.fn();
  await waitFor(store, () => taskState(store, 't1') === 'orphaned');
  t.is(store.get('node', 'n1')?.status.state, 'down');
  controller.abort();
  await running;
});

test('dispatcher: a status report is answered only once written, and a failed write is an error', async (t) => {
  let failing = false;
  const h = await setup(undefined, {
    proposer: (store) => {
      const inner = new FakeProposer(store);
      return {
        propose: (data) =>
          failing ? Promise.reject(new Error('proposal dropped')) : inner.propose(data),
      };
    },
  });
  try {
    const lines: string[] = [];
    const a = h.track(
      new HollowAgent({
        client: h.client,
        hostname: 'host-a',
        backoff: { baseMs: 10, maxMs: 50 },
        log: (line) => lines.push(line),
      }),
    );
    await a.start();
    await assignTask(h, 't1', a.nodeId);
    await waitFor(h.store, () => taskState(h.store, 't1') === 'running');
    failing = true;
    a.session.report('t1', { state: 'complete', message: 'test' });
    await poll(() => lines.some((l) => /status not acknowledged: .*proposal dropped/.test(l)), {
      what: 'the failed write refused',
      timeoutMs: 10_000,
    });
    t.true(a.session.unacknowledged > 0, 'kept to resend');
    t.is(taskState(h.store, 't1'), 'running');
    failing = false;
    await poll(() => a.session.unacknowledged === 0, {
      what: 'the report resent and recorded',
      timeoutMs: 10_000,
    });
    // Answered after the commit: the state is already in the store.
    t.is(taskState(h.store, 't1'), 'complete');
  } finally {
    failing = false;
    await h.close();
  }
});

test('dispatcher: a manager not running the dispatcher names the leader', async (t) => {
  const store = new MemoryStore();
  const d = new Dispatcher({
    store,
    writer: new StoreWriter({ proposer: new FakeProposer(store), now: () => 0 }),
    addresses: () => ({ leader: '10.0.0.9:4242', managers: [] }),
  });
  const err = await new Promise<{ code?: number; metadata?: { get(k: string): unknown[] } }>(
    (resolve) => {
      d.service.session({
        emit: (_event: string, e: never) => {
          resolve(e);
          return true;
        },
      } as never);
    },
  );
  t.is(err.code, 14);
  t.deepEqual(err.metadata?.get(LEADER_ADDRESS_METADATA), ['10.0.0.9:4242']);
});

test('dispatcher: more nodes than maxHeartbeatsPerSecond allows stretch the period and grace', async (t) => {
  const store = new MemoryStore();
  const writer = new StoreWriter({ proposer: new FakeProposer(store), now: () => 0 });
  const timers: number[] = [];
  const d = new Dispatcher({
    store,
    writer,
    heartbeat: { periodMs: 1000, graceMs: 3000 },
    maxHeartbeatsPerSecond: 2,
    clock: {
      now: () => 0,
      setTimer: (ms) => {
        timers.push(ms);
        return () => undefined;
      },
    },
  });
  for (const id of ['n1', 'n2', 'n3', 'n4']) {
    await writer.submit([{ op: 'create', kind: 'node', object: makeNode(id) }]);
  }
  const controller = new AbortController();
  const running = d.run(controller.signal);
  // 4 nodes at 2 heartbeats/s: a 2 s period, and the grace stretched alike (3 periods).
  t.deepEqual(timers, [6000, 6000, 6000, 6000]);
  controller.abort();
  await running;
  // With no more nodes than the rate allows, the configured times hold.
  const store2 = new MemoryStore();
  const w2 = new StoreWriter({ proposer: new FakeProposer(store2), now: () => 0 });
  await w2.submit([{ op: 'create', kind: 'node', object: makeNode('n1') }]);
  const timers2: number[] = [];
  const d2 = new Dispatcher({
    store: store2,
    writer: w2,
    heartbeat: { periodMs: 1000, graceMs: 3000 },
    maxHeartbeatsPerSecond: 2,
    clock: {
      now: () => 0,
      setTimer: (ms) => {
        timers2.push(ms);
        return () => undefined;
      },
    },
  });
  const c2 = new AbortController();
  const r2 = d2.run(c2.signal);
  t.deepEqual(timers2, [3000]);
  c2.abort();
  await r2;
});

test('dispatcher: a deadline that fires late (the manager stalled) gives the node one more period', async (t) => {
  const store = new MemoryStore();
  const writer = new StoreWriter({ proposer: new FakeProposer(store), now: () => 0 });
  let now = 0;
  const timers: { ms: number; fn: () => void }[] = [];
  const d = new Dispatcher({
    store,
    writer,
    heartbeat: { periodMs: 1000, graceMs: 3000 },
    clock: {
      now: () => now,
      setTimer: (ms, fn) => {
        const timer = { ms, fn };
        timers.push(timer);
        return () => {
          timers.splice(timers.indexOf(timer), 1);
        };
      },
    },
  });
  await writer.submit([{ op: 'create', kind: 'node', object: makeNode('n1') }]);
  const controller = new AbortController();
  const running = d.run(controller.signal);
  t.deepEqual(
    timers.map((x) => x.ms),
    [3000],
  );
  // The event loop was away for 10 s: the timer fires 7 s late.
  now = 10_000;
  timers.shift()!.fn();
  t.deepEqual(
    timers.map((x) => x.ms),
    [1000],
  );
  t.is(store.get('node', 'n1')?.status.state, 'ready');
  // On time now, and still silent: down.
  now = 11_000;
  timers.shift()!.fn();
  await waitFor(store, () => store.get('node', 'n1')?.status.state === 'down');
  t.pass();
  controller.abort();
  await running;
});
