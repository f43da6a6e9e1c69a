// The task controller's pure core: given what the managers want for a task (its desired state)
// and what the agent has observed of it (its phase), the one step to take next. The shell in
// task-controller.ts does the step, observes again and asks again, so every decision about a
// task's lifecycle is made here and tested without containers.

import { TaskState, taskStateRank } from '../../common/model.js';

/** What the agent knows of a task's container. */
export const Phase = {
  /** Nothing made yet (or only leftovers of an interrupted prepare). */
  New: 'new',
  /** Image pulled, rootfs mounted, container created (not started). */
  Created: 'created',
  /** Started; its exit has not been seen yet. */
  Running: 'running',
  /** A terminal state was reported (exited, stopped, rejected, failed to start). */
  Finished: 'finished',
} as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

export const Step = {
  /** Pull, mount the rootfs, build the spec, create the container. */
  Prepare: 'prepare',
  Start: 'start',
  /** Nothing to do until the container exits (the exit watcher asks again). */
  Wait: 'wait',
  /** Stop the container (TERM, grace, KILL) and report shutdown. */
  Stop: 'stop',
  /** Desired past running before anything started: report shutdown, run nothing. */
  Skip: 'skip',
  /** Nothing more will happen until the task is removed from the assignments. */
  Idle: 'idle',
} as const;
export type Step = (typeof Step)[keyof typeof Step];

const wantsDown = (desired: TaskState): boolean =>
  taskStateRank(desired) > taskStateRank(TaskState.Running);

export function nextStep(desired: TaskState, phase: Phase): Step {
  if (phase === Phase.Finished) return Step.Idle;
  if (wantsDown(desired)) return phase === Phase.New ? Step.Skip : Step.Stop;
  if (phase === Phase.New) return Step.Prepare;
  if (phase === Phase.Created) return Step.Start;
  return Step.Wait;
}

/** The terminal state and reason for a container that exited on its own. */
export function exitReport(exit: { exitCode: number; oomKilled: boolean }): {
  state: TaskState;
  message: string;
  exitCode: number;
} {
  if (exit.oomKilled)
    return {
      state: TaskState.Failed,
      message: `OOM killed (exit code ${exit.exitCode})`,
      exitCode: exit.exitCode,
    };
  return exit.exitCode === 0
    ? { state: TaskState.Complete, message: 'exited with code 0', exitCode: 0 }
    : {
        state: TaskState.Failed,
        message: `exited with code ${exit.exitCode}`,
        exitCode: exit.exitCode,
      };
}
