import test from 'ava';
import fc from 'fast-check';
import type { NodeId, Service, Task, TaskId, TaskState, UpdateStatus } from '../../common/model.js';
import { service, serviceSpec, task } from '../../common/testing/model-fixtures.js';
import type { Action, ReconcileDeps } from './actions.js';
import { OrchestratorMisuseError } from './actions.js';
import { reconcileReplicated } from './replicated.js';

const ids = (): ReconcileDeps => {
  let n = 0;
  return { newId: () => `task${String(++n).padStart(4, '0')}` as TaskId };
};

const replicated = (replicas: number, o: Parameters<typeof serviceSpec>[0] = {}, version = 1) =>
  service('web', serviceSpec({ mode: { type: 'replicated', replicas }, ...o }), version);

const summary = (actions: readonly Action[]): string[] =>
  actions.map((a) => {
    switch (a.type) {
      case 'create-task':
        return `create ${String(a.task.slot)} ${a.reason} v${a.task.specVersion}`;
      case 'shutdown-task':
        return `shutdown ${a.taskId}${a.markShutdown ? ' (mark)' : ''}: ${a.reason}`;
      case 'delete-task':
        return `delete ${a.taskId}`;
      case 'restart-later':
        return `restart ${String(a.slot)} at ${a.at}`;
      case 'update-later':
        return `update at ${a.at}`;
      case 'blocked':
        return `blocked: ${a.reason}`;
      case 'update-status':
        return `status ${a.status.state} v${a.status.specVersion}: ${a.status.message}`;
    }
  });

/** The service with its update to the current spec version already under way (status stored). */
const updating = (s: Service, o: Partial<UpdateStatus> = {}): Service => ({
  ...s,
  updateStatus: {
    state: 'updating',
    specVersion: s.specVersion,
    startedAt: 0,
    total: 1,
    failures: 0,
    message: 'update in progress',
    ...o,
  },
});

const run = (slot: number, id: string, o: Parameters<typeof task>[1] = {}): Task =>
  task(id, { service: 'web', slot, state: 'running', nodeId: 'n1', ...o });

test('replicated: an empty service gets one new task per slot', (t) => {
  const s = replicated(3, { networks: ['front'] });
  const actions = reconcileReplicated(s, [], 1000, ids());
  t.deepEqual(summary(actions), ['create 1 fill v1', 'create 2 fill v1', 'create 3 fill v1']);
  const first = actions[0]!;
  if (first.type !== 'create-task') return t.fail();
  t.like(first.task, {
    serviceId: s.meta.id,
    slot: 1,
    desiredState: 'running',
    status: { state: 'new', timestamp: 1000 },
    meta: { id: 'task0001', name: 'web.1.task0001', createdAt: 1000, version: 0 },
    spec: s.spec.container,
    placement: s.spec.placement,
  });
  t.false('nodeId' in first.task);
});

test('replicated: a converged service needs nothing', (t) => {
  const tasks = [run(1, 'a'), run(2, 'b')];
  t.deepEqual(reconcileReplicated(replicated(2), tasks, 0, ids()), []);
});

test('replicated: scaling down shuts the highest slots down; unassigned ones are marked', (t) => {
  const tasks = [run(1, 'a'), run(2, 'b'), run(3, 'c'), task('d', { service: 'web', slot: 4 })];
  t.deepEqual(summary(reconcileReplicated(replicated(2), tasks, 0, ids())), [
    'shutdown c: scaled down',
    'shutdown d (mark): scaled down',
  ]);
});

test('replicated: tasks of other services are ignored', (t) => {
  const other = task('x', { service: 'other', slot: 1, state: 'running' });
  t.deepEqual(summary(reconcileReplicated(replicated(1), [other], 0, ids())), ['create 1 fill v1']);
});

const restartCases: [string, Parameters<typeof task>[1], 'none' | 'on-failure' | 'any', boolean][] =
  [
    ['failed, any', { state: 'failed', exitCode: 1 }, 'any', true],
    ['complete, any', { state: 'complete', exitCode: 0 }, 'any', true],
    ['failed, on-failure', { state: 'failed', exitCode: 1 }, 'on-failure', true],
    ['rejected, on-failure', { state: 'rejected' }, 'on-failure', true],
    ['orphaned, on-failure', { state: 'orphaned' }, 'on-failure', true],
    ['shut down by its agent, on-failure', { state: 'shutdown' }, 'on-failure', true],
    ['complete exit 0, on-failure', { state: 'complete', exitCode: 0 }, 'on-failure', false],
    ['complete exit 3, on-failure', { state: 'complete', exitCode: 3 }, 'on-failure', true],
    ['failed, none', { state: 'failed', exitCode: 1 }, 'none', false],
  ];
for (const [name, state, condition, restarts] of restartCases) {
  test(`replicated: restart policy, ${name} → ${restarts ? 'restart' : 'no restart'}`, (t) => {
    const s = replicated(1, {
      restartPolicy: { condition, delayMs: 0, maxAttempts: 0, windowMs: 0 },
    });
    const actions = reconcileReplicated(s, [run(1, 'a', state)], 10, ids());
    t.deepEqual(summary(actions), restarts ? ['create 1 restart v1'] : []);
  });
}

test('replicated: a restart waits delayMs after the task ended', (t) => {
  const s = replicated(1, {
    restartPolicy: { condition: 'any', delayMs: 500, maxAttempts: 0, windowMs: 0 },
  });
  const dead = run(1, 'a', { state: 'failed', timestamp: 1000 });
  t.deepEqual(summary(reconcileReplicated(s, [dead], 1200, ids())), ['restart 1 at 1500']);
  t.deepEqual(summary(reconcileReplicated(s, [dead], 1500, ids())), ['create 1 restart v1']);
});

test('replicated: maxAttempts counts restarts in the window from the slot history', (t) => {
  const policy = { condition: 'any', delayMs: 0, maxAttempts: 2, windowMs: 10_000 } as const;
  const s = replicated(1, { restartPolicy: policy });
  const history = [
    run(1, 'a', { state: 'failed', createdAt: 0, timestamp: 100 }),
    run(1, 'b', { state: 'failed', createdAt: 200, timestamp: 300 }),
    run(1, 'c', { state: 'failed', createdAt: 400, timestamp: 500 }),
  ];
  // Restarts b (at 200) and c (at 400) fill the budget; one more is allowed once b leaves.
  t.deepEqual(summary(reconcileReplicated(s, history, 600, ids())), ['restart 1 at 10200']);
  t.deepEqual(summary(reconcileReplicated(s, history, 10_200, ids())), ['create 1 restart v1']);
  const forever = replicated(1, { restartPolicy: { ...policy, windowMs: 0 } });
  t.deepEqual(summary(reconcileReplicated(forever, history, 99_999, ids())), []);
  // Tasks we stopped ourselves (an update, a scale-down) are not restarts.
  const stopped = [
    run(1, 'a', { state: 'shutdown', desiredState: 'shutdown', createdAt: 0, timestamp: 100 }),
    run(1, 'b', { state: 'shutdown', desiredState: 'shutdown', createdAt: 200, timestamp: 300 }),
    run(1, 'c', { state: 'failed', createdAt: 400, timestamp: 500 }),
  ];
  t.deepEqual(summary(reconcileReplicated(s, stopped, 600, ids())), ['create 1 restart v1']);
});

test('replicated: a slot whose task we stopped is refilled at once, without the restart delay', (t) => {
  const s = replicated(1, {
    restartPolicy: { condition: 'none', delayMs: 5000, maxAttempts: 0, windowMs: 0 },
  });
  const stopped = run(1, 'a', { state: 'shutdown', desiredState: 'shutdown', timestamp: 100 });
  t.deepEqual(summary(reconcileReplicated(s, [stopped], 101, ids())), ['create 1 fill v1']);
});

test('replicated: stop-first, nothing starts in a slot while its old task is stopping', (t) => {
  const stopping = run(1, 'a', { desiredState: 'shutdown', specVersion: 1 });
  t.deepEqual(summary(reconcileReplicated(replicated(1, {}, 2), [stopping], 0, ids())), [
    'status updating v2: update in progress',
  ]);
});

test('replicated: rolling update goes parallelism slots at a time, stop-first', (t) => {
  const s = updating(
    replicated(4, { update: { parallelism: 2, delayMs: 0, order: 'stop-first' } }, 2),
  );
  const old = [1, 2, 3, 4].map((i) => run(i, `old${i}`, { createdAt: 0 }));
  t.deepEqual(summary(reconcileReplicated(s, old, 10, ids())), [
    'shutdown old1: update to spec version 2',
    'shutdown old2: update to spec version 2',
  ]);
  const stopping = old.map((x, i) => (i < 2 ? { ...x, desiredState: 'shutdown' as const } : x));
  t.deepEqual(summary(reconcileReplicated(s, stopping, 20, ids())), []);
  const stopped = stopping.map((x, i) =>
    i < 2 ? { ...x, status: { ...x.status, state: 'shutdown' as const } } : x,
  );
  t.deepEqual(summary(reconcileReplicated(s, stopped, 30, ids())), [
    'create 1 update v2',
    'create 2 update v2',
  ]);
  const starting = [
    ...stopped,
    run(1, 'new1', { state: 'starting', specVersion: 2, createdAt: 30 }),
    run(2, 'new2', { state: 'running', specVersion: 2, createdAt: 30 }),
  ];
  // new1 is not running yet: one place is busy, so only one more slot may start.
  t.deepEqual(summary(reconcileReplicated(s, starting, 40, ids())), [
    'shutdown old3: update to spec version 2',
  ]);
});

test('replicated: with an update delay, the next batch waits for the last one to run plus delayMs', (t) => {
  const s = updating(
    replicated(2, { update: { parallelism: 1, delayMs: 1000, order: 'stop-first' } }, 2),
  );
  const tasks = [
    run(1, 'old1', { state: 'shutdown', desiredState: 'shutdown', createdAt: 0 }),
    run(1, 'new1', { state: 'running', specVersion: 2, createdAt: 10, timestamp: 500 }),
    run(2, 'old2', { createdAt: 0 }),
  ];
  t.deepEqual(summary(reconcileReplicated(s, tasks, 600, ids())), ['update at 1500']);
  t.deepEqual(summary(reconcileReplicated(s, tasks, 1500, ids())), [
    'shutdown old2: update to spec version 2',
  ]);
  const pending = [
    ...tasks.slice(0, 1),
    { ...tasks[1]!, status: { ...tasks[1]!.status, state: 'starting' as const } },
    tasks[2]!,
  ];
  t.deepEqual(summary(reconcileReplicated(s, pending, 5000, ids())), [], 'batch still in flight');
});

test('replicated: an outdated task that ended on its own is restarted with the new spec', (t) => {
  const dead = run(1, 'a', { state: 'failed', specVersion: 1 });
  t.deepEqual(summary(reconcileReplicated(replicated(1, {}, 2), [dead], 0, ids())), [
    'create 1 restart v2',
  ]);
});

test('replicated: two desired-running tasks in a slot (from outside) are cut to one', (t) => {
  const tasks = [
    run(1, 'a', { createdAt: 0, specVersion: 1 }),
    run(1, 'b', { createdAt: 5, specVersion: 2 }),
  ];
  t.deepEqual(summary(reconcileReplicated(replicated(1, {}, 2), tasks, 0, ids())), [
    'shutdown a: duplicate task in slot',
  ]);
});

test('replicated: refuses a global service', (t) => {
  const g = service('g', serviceSpec({ mode: { type: 'global' } }));
  t.throws(() => reconcileReplicated(g, [], 0, ids()), { instanceOf: OrchestratorMisuseError });
});

const startFirst = (replicas: number, parallelism: number, version = 2) =>
  updating(
    replicated(replicas, { update: { parallelism, delayMs: 0, order: 'start-first' } }, version),
  );

test('replicated: start-first starts the new task beside the old one, which stops once it runs', (t) => {
  const s = startFirst(3, 2);
  const old = [1, 2, 3].map((i) => run(i, `old${i}`, { createdAt: 0 }));
  t.deepEqual(summary(reconcileReplicated(s, old, 10, ids())), [
    'create 1 update v2',
    'create 2 update v2',
  ]);
  const starting = [
    ...old,
    run(1, 'new1', { state: 'starting', specVersion: 2, createdAt: 10 }),
    run(2, 'new2', { state: 'running', specVersion: 2, createdAt: 10, timestamp: 20 }),
  ];
  // new2 runs: old2 goes and its place is free; new1 does not yet, so old1 stays and holds one.
  t.deepEqual(summary(reconcileReplicated(s, starting, 30, ids())), [
    'shutdown old2: replaced by new2',
    'create 3 update v2',
  ]);
});

test('replicated: start-first retries a failed replacement by the restart policy, the old task serving', (t) => {
  const s = updating(
    replicated(
      1,
      {
        update: { parallelism: 1, delayMs: 0, order: 'start-first', failureAction: 'continue' },
        restartPolicy: { condition: 'any', delayMs: 500, maxAttempts: 0, windowMs: 0 },
      },
      2,
    ),
  );
  const tasks = [
    run(1, 'old1', { createdAt: 0 }),
    run(1, 'new1', { state: 'failed', specVersion: 2, createdAt: 10, timestamp: 100 }),
  ];
  t.deepEqual(summary(reconcileReplicated(s, tasks, 200, ids())), [
    'restart 1 at 600',
    'status updating v2: update in progress, 1 new tasks failed (last: task new1 failed)',
  ]);
  const counted = { ...s, updateStatus: { ...s.updateStatus!, failures: 1 } };
  t.deepEqual(summary(reconcileReplicated(counted, tasks, 600, ids())), ['create 1 update v2']);
});

test('replicated: failure action pause stops replacing once failures exceed maxFailureRatio', (t) => {
  const cfg = { parallelism: 1, delayMs: 0, order: 'stop-first', maxFailureRatio: 0.25 } as const;
  const s = updating(replicated(4, { update: { ...cfg, failureAction: 'pause' } }, 2), {
    total: 4,
  });
  const oneFailed = [
    run(1, 'old1', { state: 'shutdown', desiredState: 'shutdown', createdAt: 0 }),
    run(1, 'new1', { state: 'failed', specVersion: 2, createdAt: 10, timestamp: 50 }),
    ...[2, 3, 4].map((i) => run(i, `old${i}`, { createdAt: 0 })),
  ];
  // 1 of 4 is not more than 0.25: the failed slot restarts and the update goes on.
  t.deepEqual(summary(reconcileReplicated(s, oneFailed, 60, ids())), [
    'create 1 restart v2',
    'shutdown old2: update to spec version 2',
    'status updating v2: update in progress, 1 new tasks failed (last: task new1 failed)',
  ]);
  const twoFailed = [
    ...oneFailed,
    run(1, 'new1b', { state: 'failed', specVersion: 2, createdAt: 60, timestamp: 70 }),
  ];
  const actions = summary(reconcileReplicated(s, twoFailed, 80, ids()));
  t.deepEqual(actions, [
    'create 1 restart v2',
    'status paused v2: update paused: 2 of 4 new tasks failed, more than maxFailureRatio 0.25 ' +
      '(last: task new1b failed)',
  ]);
  // Paused stays paused: no further slot is taken.
  const paused = { ...s, updateStatus: { ...s.updateStatus!, state: 'paused' as const } };
  t.deepEqual(
    summary(reconcileReplicated(paused, [oneFailed[0]!, ...oneFailed.slice(2)], 90, ids())),
    ['create 1 update v2'],
  );
  // Continue keeps going whatever fails.
  const cont = updating(replicated(4, { update: { ...cfg, failureAction: 'continue' } }, 2), {
    total: 4,
    failures: 2,
  });
  t.deepEqual(summary(reconcileReplicated(cont, twoFailed, 80, ids())), [
    'create 1 restart v2',
    'shutdown old2: update to spec version 2',
  ]);
});

test('replicated: an update completes once every slot runs the new spec for monitorMs', (t) => {
  const s = updating(
    replicated(
      1,
      { update: { parallelism: 1, delayMs: 0, order: 'stop-first', monitorMs: 5000 } },
      2,
    ),
  );
  const tasks = [
    run(1, 'old1', { state: 'shutdown', desiredState: 'shutdown', createdAt: 0 }),
    run(1, 'new1', { state: 'running', specVersion: 2, createdAt: 10, timestamp: 100 }),
  ];
  t.deepEqual(summary(reconcileReplicated(s, tasks, 200, ids())), ['update at 5100']);
  t.deepEqual(summary(reconcileReplicated(s, tasks, 5100, ids())), [
    'status completed v2: update completed',
  ]);
  const done = { ...s, updateStatus: { ...s.updateStatus!, state: 'completed' as const } };
  t.deepEqual(summary(reconcileReplicated(done, tasks, 5200, ids())), []);
});

test('replicated: a new spec version starts an update status counting the outdated slots', (t) => {
  const s = replicated(3, {}, 2);
  const actions = reconcileReplicated(
    s,
    [1, 2, 3].map((i) => run(i, `o${i}`)),
    7,
    ids(),
  );
  const st = actions.find((a) => a.type === 'update-status');
  if (st?.type !== 'update-status') return t.fail();
  t.deepEqual(st.status, {
    state: 'updating',
    specVersion: 2,
    startedAt: 7,
    total: 3,
    failures: 0,
    message: 'update in progress',
  });
  // A service created at its version has nothing to update and gets no status.
  t.false(reconcileReplicated(replicated(3), [], 0, ids()).some((a) => a.type === 'update-status'));
});

const nodeSet = (...ids: string[]): ReadonlySet<NodeId> => new Set(ids.map((i) => i as NodeId));

test('replicated: a task on a drained node is shut down; its slot waits for it to stop', (t) => {
  const drained = nodeSet('n2');
  const tasks = [run(1, 'a'), run(2, 'b', { nodeId: 'n2' }), run(3, 'c')];
  t.deepEqual(summary(reconcileReplicated(replicated(3), tasks, 0, ids(), drained)), [
    'shutdown b: node drained',
  ]);
  // Committed, not yet stopped by its agent: nothing new starts in the slot (stop-first).
  const stopping = [run(1, 'a'), run(2, 'b', { nodeId: 'n2', desiredState: 'shutdown' })];
  t.deepEqual(summary(reconcileReplicated(replicated(2), stopping, 0, ids(), drained)), []);
  // Stopped: the slot is refilled at once (stopped by us, current spec: no restart delay).
  const stopped = [
    run(1, 'a'),
    run(2, 'b', { nodeId: 'n2', desiredState: 'shutdown', state: 'shutdown' }),
  ];
  t.deepEqual(
    summary(
      reconcileReplicated(
        replicated(2, {
          restartPolicy: { condition: 'any', delayMs: 60_000, maxAttempts: 0, windowMs: 0 },
        }),
        stopped,
        0,
        ids(),
        drained,
      ),
    ),
    ['create 2 fill v1'],
  );
});

test('replicated: drain moves outdated tasks as part of the update, in flight', (t) => {
  const drained = nodeSet('n2');
  const s = updating(
    replicated(2, { update: { parallelism: 1, delayMs: 0, order: 'stop-first' } }, 2),
  );
  const tasks = [run(1, 'a', { specVersion: 1 }), run(2, 'b', { nodeId: 'n2', specVersion: 1 })];
  // Slot 2 is stopping because of the drain: it takes the one place parallelism allows.
  t.deepEqual(summary(reconcileReplicated(s, tasks, 0, ids(), drained)), [
    'shutdown b: node drained',
  ]);
});

test('replicated: with any set of drained nodes, no desired-running task is left on one and no slot has two live tasks', (t) => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          slot: fc.integer({ min: 1, max: 4 }),
          node: fc.constantFrom('n1', 'n2', 'n3'),
          state: fc.constantFrom<TaskState>('assigned', 'running', 'shutdown', 'failed'),
          stop: fc.boolean(),
        }),
        { maxLength: 8 },
      ),
      fc.subarray(['n1', 'n2', 'n3']),
      (specs, drainedList) => {
        // At most one live task per slot going in (the invariant the core keeps).
        const liveSlots = new Set<number>();
        const tasks: Task[] = [];
        specs.forEach((x, i) => {
          const live = x.state === 'assigned' || x.state === 'running';
          if (live && liveSlots.has(x.slot)) return;
          if (live) liveSlots.add(x.slot);
          tasks.push(
            run(x.slot, `t${i}`, {
              nodeId: x.node,
              state: x.state,
              createdAt: i,
              desiredState: x.stop ? 'shutdown' : 'running',
            }),
          );
        });
        const drained = nodeSet(...drainedList);
        const actions = reconcileReplicated(replicated(4), tasks, 100, ids(), drained);
        const shut = new Set(
          actions.flatMap((a) => (a.type === 'shutdown-task' ? [a.taskId] : [])),
        );
        for (const x of tasks) {
          const onDrained = x.nodeId !== undefined && drained.has(x.nodeId);
          const liveRunning = x.status.state === 'assigned' || x.status.state === 'running';
          if (onDrained && liveRunning && x.desiredState === 'running') t.true(shut.has(x.meta.id));
        }
        // A new task only goes into a slot with no live task.
        for (const a of actions) {
          if (a.type !== 'create-task') continue;
          t.false(
            tasks.some(
              (x) =>
                x.slot === a.task.slot &&
                (x.status.state === 'assigned' || x.status.state === 'running'),
            ),
          );
        }
      },
    ),
  );
});
