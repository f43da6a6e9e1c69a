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
