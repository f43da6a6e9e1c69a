import test from 'ava';
import fc from 'fast-check';
import { TaskState, taskStateRank } from '../../common/model.js';
import { exitReport, nextStep, Phase, Step } from './transition.js';

const states = Object.values(TaskState);
const phases = Object.values(Phase);

test('transition: a task that should run is prepared, started, then waited on', (t) => {
  t.is(nextStep(TaskState.Running, Phase.New), Step.Prepare);
  t.is(nextStep(TaskState.Running, Phase.Created), Step.Start);
  t.is(nextStep(TaskState.Running, Phase.Running), Step.Wait);
  t.is(nextStep(TaskState.Running, Phase.Finished), Step.Idle);
});

test('transition: nothing is started once the desired state is past running', (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...states), fc.constantFrom(...phases), (desired, phase) => {
      const step = nextStep(desired, phase);
      const down = taskStateRank(desired) > taskStateRank(TaskState.Running);
      if (down) t.true(step !== Step.Prepare && step !== Step.Start && step !== Step.Wait);
      else t.true(step !== Step.Stop && step !== Step.Skip);
      // A finished task never does anything again, whatever is desired.
      if (phase === Phase.Finished) t.is(step, Step.Idle);
      // Something that exists is stopped, never skipped.
      if (down && phase !== Phase.New && phase !== Phase.Finished) t.is(step, Step.Stop);
    }),
  );
});

test('transition: exits are reported with their code, OOM kills as OOM', (t) => {
  t.like(exitReport({ exitCode: 0, oomKilled: false }), { state: 'complete', exitCode: 0 });
  t.like(exitReport({ exitCode: 3, oomKilled: false }), {
    state: 'failed',
    exitCode: 3,
    message: 'exited with code 3',
  });
  const oom = exitReport({ exitCode: 137, oomKilled: true });
  t.is(oom.state, 'failed');
  t.regex(oom.message, /OOM/);
});
