import test from 'ava';
import fc from 'fast-check';
import { TaskState, taskStateRank, type NodeId } from '../../common/model.js';
import { makeTask } from '../../manager/store/test-fixtures.js';
import { hollowReports } from './hollow-agent.js';

const states = Object.values(TaskState);

test('hollowReports: only forward moves, ending at running or shutdown as desired', (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom(...states),
      fc.option(fc.constantFrom(...states), { nil: undefined }),
      fc.constantFrom(TaskState.Running, TaskState.Shutdown),
      (observed, mine, desired) => {
        const task = {
          ...makeTask('t1', 'svc', { nodeId: 'n' as NodeId, state: observed }),
          desiredState: desired,
        };
        const reports = hollowReports(task, mine);
        let rank = taskStateRank(mine ?? observed);
        for (const r of reports) {
          if (taskStateRank(r.state) <= rank) return false;
          rank = taskStateRank(r.state);
        }
        const last = reports.at(-1)?.state;
        return (
          last === undefined ||
          last === (desired === TaskState.Running ? TaskState.Running : TaskState.Shutdown)
        );
      },
    ),
  );
  t.pass();
});
