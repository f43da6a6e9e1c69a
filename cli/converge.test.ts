import test from 'ava';
import fc from 'fast-check';
import { TaskState, type Node, type Service, type Task } from '../common/model.js';
import { makeNode, makeService, makeTask } from '../manager/store/test-fixtures.js';
import { failureLimit, judge, progressLine, Verdict } from './converge.js';

const svc = (replicas: number, specVersion = 1, over: Partial<Service['spec']> = {}): Service => {
  const s = makeService('s1', 'web', replicas);
  return { ...s, specVersion, spec: { ...s.spec, ...over } };
};

const task = (
  id: string,
  slot: number,
  state: TaskState,
  extra: Partial<Task> & { message?: string; exitCode?: number; at?: number } = {},
): Task => {
  const { message, exitCode, at, ...rest } = extra;
  const t = makeTask(id, 's1', { slot, state });
  return {
    ...t,
    ...rest,
    status: {
      ...t.status,
      message: message ?? '',
      timestamp: at ?? 0,
      ...(exitCode === undefined ? {} : { exitCode }),
    },
  };
};

test('converge: every replica of the current spec running is converged', (t) => {
  const p = judge('web', svc(2), [task('a', 1, 'running'), task('b', 2, 'running')], []);
  t.is(p.verdict, Verdict.Converged);
  t.is(progressLine(p), 'web 2/2 running: converged');
});

test('converge: pending tasks say why they wait', (t) => {
  const p = judge(
    'web',
    svc(3),
    [
      task('a', 1, 'running'),
      task('b', 2, 'pending', { message: 'no node has 2 CPUs free' }),
      task('c', 3, 'pending', { message: 'no node has 2 CPUs free' }),
    ],
    [],
  );
  t.is(p.verdict, Verdict.Progressing);
  t.is(progressLine(p), 'web 1/3 running, 2 pending: no node has 2 CPUs free');
});

test('converge: an old-spec task still live holds convergence back', (t) => {
  const old = { ...task('o', 1, 'running'), desiredState: TaskState.Shutdown };
  const p = judge('web', svc(1, 2), [old, task('n', 1, 'running', { specVersion: 2 })], []);
  t.is(p.verdict, Verdict.Progressing);
  t.is(p.stopping, 1);
  t.is(progressLine(p), 'web 1/1 running, 1 stopping');
  // Running tasks of the old spec do not count as running the current one.
  t.is(judge('web', svc(1, 2), [task('o', 1, 'running')], []).running, 0);
});

test('converge: three failures in a slot, or as many as the restart policy allows, is failed', (t) => {
  const fails = [1, 2, 3].map((i) =>
    task(`f${i}`, 1, 'failed', { exitCode: 1, message: 'boom', at: i }),
  );
  t.is(judge('web', svc(1), fails.slice(0, 2), []).verdict, Verdict.Progressing);
  const p = judge('web', svc(1), fails, []);
  t.is(p.verdict, Verdict.Failed);
  t.is(progressLine(p), 'web failed: task s1.1.f3 failed 3 times, last failed (exit code 1): boom');
  const none = svc(1, 1, {
    restartPolicy: { condition: 'none', delayMs: 0, maxAttempts: 0, windowMs: 0 },
  });
  t.is(failureLimit(none), 1);
  t.is(judge('web', none, fails.slice(0, 1), []).verdict, Verdict.Failed);
  const once = svc(1, 1, {
    restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 1, windowMs: 0 },
  });
  t.is(judge('web', once, fails.slice(0, 2), []).verdict, Verdict.Failed);
  // Failures of an older spec are why it was replaced, not a failure of this one.
  t.is(judge('web', svc(1, 2), fails, []).verdict, Verdict.Progressing);
  // A clean exit is not a failure.
  const done = [1, 2, 3].map((i) => task(`d${i}`, 1, 'complete', { exitCode: 0 }));
  t.not(judge('web', svc(1), done, []).verdict, Verdict.Failed);
});

test('converge: a global service wants one task per ready, active, matching node', (t) => {
  const g = svc(0, 1, {
    mode: { type: 'global' },
    placement: { constraints: ['node.labels.zone == a'], maxReplicasPerNode: 0 },
  });
  const node = (id: string, zone: string, over: Partial<Node['spec']> = {}): Node => {
    const n = makeNode(id);
    return { ...n, spec: { ...n.spec, labels: { zone }, ...over } };
  };
  const nodes = [
    node('n1', 'a'),
    node('n2', 'a'),
    node('n3', 'b'),
    node('n4', 'a', { availability: 'drain' }),
  ];
  const on = (id: string, n: string, state: TaskState): Task => ({
    ...makeTask(id, 's1', { nodeId: n as Task['nodeId'] & string, state }),
  });
  t.is(judge('web', g, [on('a', 'n1', 'running')], nodes).verdict, Verdict.Progressing);
  const p = judge('web', g, [on('a', 'n1', 'running'), on('b', 'n2', 'running')], nodes);
  t.is(p.verdict, Verdict.Converged);
  t.is(p.desired, 2);
});

test('converge: a paused rolling update of the current spec is failed', (t) => {
  const paused = (specVersion: number): Service => ({
    ...svc(1, 2),
    updateStatus: {
      state: 'paused',
      specVersion,
      startedAt: 0,
      total: 1,
      failures: 1,
      message: 'task web.1 failed: exit 1',
    },
  });
  const p = judge('web', paused(2), [task('a', 1, 'running')], []);
  t.is(p.verdict, Verdict.Failed);
  t.is(progressLine(p), 'web failed: update paused: task web.1 failed: exit 1');
  // A pause of an older spec's rollout is history.
  t.is(
    judge('web', paused(1), [task('a', 1, 'running', { specVersion: 2 })], []).verdict,
    Verdict.Converged,
  );
});

test('converge: a removed service is failed', (t) => {
  t.is(judge('web', undefined, [], []).verdict, Verdict.Failed);
});

const stateArb = fc.constantFrom(...Object.values(TaskState));

test('converge: converged exactly when running == desired and nothing else is live (property)', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 5 }),
      fc.array(
        fc.record({
          slot: fc.integer({ min: 1, max: 6 }),
          state: stateArb,
          desired: fc.constantFrom<TaskState>('running', 'shutdown'),
          specVersion: fc.constantFrom(1, 2),
          exitCode: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
        }),
        { maxLength: 12 },
      ),
      (replicas, specs) => {
        const s = svc(replicas, 2);
        const tasks = specs.map((x, i) => ({
          ...task(
            `t${i}`,
            x.slot,
            x.state,
            x.exitCode === undefined ? {} : { exitCode: x.exitCode },
          ),
          desiredState: x.desired,
          specVersion: x.specVersion,
        }));
        const p = judge('web', s, tasks, []);
        const terminal = ['complete', 'failed', 'shutdown', 'rejected', 'orphaned'];
        const live = tasks.filter((x) => !terminal.includes(x.status.state));
        const good = live.filter(
          (x) =>
            x.specVersion === 2 && x.desiredState === 'running' && x.status.state === 'running',
        );
        if (p.verdict === Verdict.Converged) {
          t.true(good.length === replicas && live.length === good.length);
        }
        if (p.verdict === Verdict.Progressing) {
          t.false(good.length === replicas && live.length === good.length);
        }
        // Counts never exceed the tasks given, and the line always names the service.
        t.true(p.running + p.pending + p.stopping === live.length);
        t.true(progressLine(p).startsWith('web '));
      },
    ),
  );
});
