import test from 'ava';
import fc from 'fast-check';
import { canMoveTo, TaskState, taskStateRank, type NodeId, type Task } from '../../common/model.js';
import { makeTask } from '../store/test-fixtures.js';
import { statusChanges, type QueuedStatus } from './dispatcher.js';

const states = Object.values(TaskState);

test('statusChanges: states only move forward and only from the assigned node', (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom(...states),
      fc.array(fc.record({ node: fc.constantFrom('a', 'b'), state: fc.constantFrom(...states) }), {
        maxLength: 20,
      }),
      (initial, reports) => {
        const task: Task = makeTask('t1', 'svc', { nodeId: 'a' as NodeId, state: initial });
        const batch: QueuedStatus[] = reports.map((r, i) => ({
          nodeId: r.node as NodeId,
          taskId: 't1',
          status: { state: r.state, timestamp: i, message: '' },
        }));
        const out = statusChanges((id) => (id === 't1' ? task : undefined), batch);
        // The model: walk the reports from node a, keeping each forward move.
        let expected = initial;
        for (const r of reports) {
          if (r.node === 'a' && canMoveTo(expected, r.state)) expected = r.state;
        }
        if (expected === initial) return out.length === 0;
        return (
          out.length === 1 &&
          out[0]!.status.state === expected &&
          taskStateRank(expected) > taskStateRank(initial)
        );
      },
    ),
  );
  t.pass();
});

test('statusChanges: reports for unknown tasks are dropped', (t) => {
  const out = statusChanges(
    () => undefined,
    [
      {
        nodeId: 'a' as NodeId,
        taskId: 'x',
        status: { state: 'running', timestamp: 0, message: '' },
      },
    ],
  );
  t.deepEqual(out, []);
});

test('statusChanges: a health change in the same state is written; repeats and stale ones are not', (t) => {
  const running = makeTask('t1', 'svc', { nodeId: 'a' as NodeId, state: TaskState.Running });
  const task: Task = { ...running, status: { ...running.status, timestamp: 10 } };
  const report = (
    health: 'starting' | 'healthy' | 'unhealthy' | undefined,
    timestamp: number,
    state: TaskState = TaskState.Running,
  ): QueuedStatus => ({
    nodeId: 'a' as NodeId,
    taskId: 't1',
    status: { state, timestamp, message: '', ...(health === undefined ? {} : { health }) },
  });
  const apply = (batch: QueuedStatus[], from: Task = task) =>
    statusChanges((id) => (id === 't1' ? from : undefined), batch).map((x) => x.status);

  t.deepEqual(apply([report('starting', 11), report('healthy', 12)]), [
    { state: 'running', timestamp: 12, message: '', health: 'healthy' },
  ]);
  // The same health again, a report without health, or an older observation: nothing to write.
  const healthy: Task = { ...task, status: { ...task.status, health: 'healthy' } };
  t.deepEqual(apply([report('healthy', 13)], healthy), []);
  t.deepEqual(apply([report(undefined, 13)], healthy), []);
  t.deepEqual(apply([report('unhealthy', 9)], healthy), []);
  // A finished task keeps its last status.
  const failed: Task = { ...task, status: { ...task.status, state: TaskState.Failed } };
  t.deepEqual(apply([report('healthy', 13, TaskState.Failed)], failed), []);
  // And a forward move still wins, with whatever health it carries.
  t.deepEqual(apply([report('unhealthy', 14), report(undefined, 15, TaskState.Failed)], healthy), [
    { state: 'failed', timestamp: 15, message: '' },
  ]);
});
