// Small facts about tasks that every reconciler rule is phrased in: live, wants to run, ended on
// its own, ordering within a slot. Kept in one place so the rules and the tests agree on them.
import type { Task } from '../../common/model.js';
import { isTerminal, taskStateRank, TaskState } from '../../common/model.js';

/** Not terminal: may still be (or become) a running container. */
export const isLive = (t: Task): boolean => !isTerminal(t.status.state);

/** The managers want it running (desired state not yet moved to shutdown). */
export const wantsRun = (t: Task): boolean =>
  taskStateRank(t.desiredState) <= taskStateRank(TaskState.Running);

/**
 * Ended while the managers still wanted it running: it failed, completed, was rejected or
 * orphaned, or its agent shut it down. The orchestrator never rewrites the desired state of a
 * terminal task, so this stays readable in the slot's history and restarts can be counted from it.
 */
export const endedOnItsOwn = (t: Task): boolean => !isLive(t) && wantsRun(t);

/** Never reached an agent, so no agent will report its shutdown. */
export const neverAssigned = (t: Task): boolean =>
  taskStateRank(t.status.state) < taskStateRank(TaskState.Assigned);

/** Oldest first: creation time, then Raft index, then id (only to be total). */
export const byAge = (a: Task, b: Task): number =>
  a.meta.createdAt - b.meta.createdAt ||
  a.meta.version - b.meta.version ||
  (a.meta.id < b.meta.id ? -1 : a.meta.id > b.meta.id ? 1 : 0);
