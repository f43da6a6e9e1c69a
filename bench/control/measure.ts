// What the control benchmark measures, folded from the Watch stream: how many tasks have been
// assigned and reported running, when (on the observer's clock) the last of them was, and each
// task's creation → assignment and creation → running from the store's own timestamps. Pure apart
// from the injected clock, so the test feeds it events by hand.

import {
  TaskState,
  taskStateRank,
  type StoredObject,
  type Task,
  type TaskId,
} from '../../common/model.js';
import { summarize, type Summary } from '../lib/stats.js';

type Event = StoredObject & {
  readonly type: 'create' | 'update' | 'delete';
  readonly version: number;
};

interface TaskTimes {
  readonly createdAt: number;
  /** status.timestamp of the event that showed it assigned (the scheduler's clock). */
  assignedAt: number | undefined;
  /** status.timestamp of the event that showed it running (the agent's clock). */
  runningAt: number | undefined;
}

export interface ControlMeasurementResult {
  readonly tasks: number;
  readonly assigned: number;
  readonly running: number;
  /** Observer ms from the start to the event that made the `target`-th task assigned / running. */
  readonly allAssignedMs: number | undefined;
  readonly allRunningMs: number | undefined;
  /** Store timestamps: meta.createdAt → the assigned status's timestamp, per task (ms). */
  readonly createToAssign: Summary | undefined;
  readonly createToRunning: Summary | undefined;
  /** Store timestamps (ms since the epoch): first and last task created, last assigned, last running. */
  readonly firstCreatedAt: number | undefined;
  readonly lastCreatedAt: number | undefined;
  readonly lastAssignedAt: number | undefined;
  readonly lastRunningAt: number | undefined;
  /** Tasks an event showed past assigned without ever showing them assigned (no timestamp). */
  readonly assignedUnseen: number;
}

export class ControlMeasurement {
  readonly #target: number;
  readonly #now: () => number;
  readonly #start: number;
  readonly #times = new Map<TaskId, TaskTimes>();
  #assigned = 0;
  #running = 0;
  #assignedUnseen = 0;
  #allAssignedMs: number | undefined;
  #allRunningMs: number | undefined;

  /** `target`: tasks that must be assigned and running; `now`: the observer's clock (ms). */
  constructor(target: number, now: () => number) {
    this.#target = target;
    this.#now = now;
    this.#start = now();
  }

  get assigned(): number {
    return this.#assigned;
  }

  get running(): number {
    return this.#running;
  }

  get done(): boolean {
    return this.#allRunningMs !== undefined && this.#allAssignedMs !== undefined;
  }

  observe(e: Event): void {
    if (e.kind !== 'task' || e.type === 'delete') return;
    const t: Task = e.object;
    let times = this.#times.get(t.meta.id);
    if (times === undefined) {
      // Only tasks the managers want running are the benchmark's (none are shut down here).
      if (t.desiredState !== TaskState.Running) return;
      times = { createdAt: t.meta.createdAt, assignedAt: undefined, runningAt: undefined };
      this.#times.set(t.meta.id, times);
    }
    const rank = taskStateRank(t.status.state);
    if (times.assignedAt === undefined && rank >= taskStateRank(TaskState.Assigned)) {
      if (t.status.state === TaskState.Assigned) times.assignedAt = t.status.timestamp;
      else {
        // Seen only later in its life: count it, but it has no assignment timestamp.
        times.assignedAt = Number.NaN;
        this.#assignedUnseen++;
      }
      this.#assigned++;
      if (this.#assigned === this.#target) this.#allAssignedMs = this.#now() - this.#start;
    }
    if (times.runningAt === undefined && t.status.state === TaskState.Running) {
      times.runningAt = t.status.timestamp;
      this.#running++;
      if (this.#running === this.#target) this.#allRunningMs = this.#now() - this.#start;
    }
  }

  result(): ControlMeasurementResult {
    const toAssign: number[] = [];
    const toRunning: number[] = [];
    const created: number[] = [];
    const assigned: number[] = [];
    const running: number[] = [];
    for (const t of this.#times.values()) {
      created.push(t.createdAt);
      if (t.assignedAt !== undefined && !Number.isNaN(t.assignedAt)) {
        toAssign.push(t.assignedAt - t.createdAt);
        assigned.push(t.assignedAt);
      }
      if (t.runningAt !== undefined) {
        toRunning.push(t.runningAt - t.createdAt);
        running.push(t.runningAt);
      }
    }
    const min = (xs: number[]): number | undefined =>
      xs.length === 0 ? undefined : Math.min(...xs);
    const max = (xs: number[]): number | undefined =>
      xs.length === 0 ? undefined : Math.max(...xs);
    return {
      tasks: this.#times.size,
      assigned: this.#assigned,
      running: this.#running,
      allAssignedMs: this.#allAssignedMs,
      allRunningMs: this.#allRunningMs,
      createToAssign: toAssign.length === 0 ? undefined : summarize(toAssign),
      createToRunning: toRunning.length === 0 ? undefined : summarize(toRunning),
      assignedUnseen: this.#assignedUnseen,
      firstCreatedAt: min(created),
      lastCreatedAt: max(created),
      lastAssignedAt: max(assigned),
      lastRunningAt: max(running),
    };
  }
}
