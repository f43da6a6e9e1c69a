// The slot rules both reconcilers share: one desired-running task per slot, restarts by policy,
// and the stop-first rolling update with parallelism and delay. The callers decide which slots
// exist and which may get new tasks (replicas 1..N, or eligible nodes); see docs/orchestrator.md.
import type { Service, Task } from '../../common/model.js';
import { taskStateRank, TaskState } from '../../common/model.js';
import type { Action, ReconcileDeps, SlotRef } from './actions.js';
import { CreateReason } from './actions.js';
import { newTask } from './new-task.js';
import { decideRestart } from './restart.js';
import { byAge, endedOnItsOwn, isLive, neverAssigned, wantsRun } from './task-facts.js';

export interface SlotView {
  readonly ref: SlotRef;
  /** Every task of the slot, any state. */
  readonly tasks: readonly Task[];
  /** False where existing tasks may stay but no new one may start (a paused or down node). */
  readonly mayCreate: boolean;
}

export const shutdown = (t: Task, reason: string): Action => ({
  type: 'shutdown-task',
  taskId: t.meta.id,
  reason,
  markShutdown: neverAssigned(t),
});

export const reconcileSlots = (
  service: Service,
  slots: readonly SlotView[],
  now: number,
  deps: ReconcileDeps,
): Action[] => {
  const actions: Action[] = [];
  const current = (t: Task): boolean => t.specVersion === service.specVersion;
  /** Slots whose replacement is under way: old task stopping, or new task not yet running. */
  let inFlight = 0;
  /** Slots whose one desired-running task has an older spec, in slot order. */
  const outdated: Task[] = [];
  /** When the last finished replacement reported running (the start of the update delay). */
  let lastReplacedAt: number | undefined;

  for (const slot of slots) {
    const history = [...slot.tasks].sort(byAge);
    const running = history.filter((t) => isLive(t) && wantsRun(t));
    const stopping = history.filter((t) => isLive(t) && !wantsRun(t));

    if (running.length > 0) {
      // More than one can only come from outside (an old bug, a manual write): keep the best.
      const keep = running.find(current) ?? running[running.length - 1]!;
      for (const t of running) if (t !== keep) actions.push(shutdown(t, 'duplicate task in slot'));
      if (!current(keep)) {
        outdated.push(keep);
        continue;
      }
      const before = history[history.indexOf(keep) - 1];
      const replacedOld = before !== undefined && !current(before) && !wantsRun(before);
      if (replacedOld) {
        if (taskStateRank(keep.status.state) < taskStateRank(TaskState.Running)) inFlight += 1;
        else lastReplacedAt = Math.max(lastReplacedAt ?? -Infinity, keep.status.timestamp);
      }
      continue;
    }

    // Stop-first: nothing new starts in a slot until its previous task is terminal.
    if (stopping.length > 0) {
      if (stopping.some((t) => !current(t))) inFlight += 1;
      continue;
    }
    if (!slot.mayCreate) continue;
    const last = history[history.length - 1];
    if (last === undefined) {
      actions.push(create(service, slot.ref, CreateReason.Fill, now, deps));
    } else if (endedOnItsOwn(last)) {
      const d = decideRestart(service.spec.restartPolicy, history, now);
      if (d.type === 'now')
        actions.push(create(service, slot.ref, CreateReason.Restart, now, deps));
      else if (d.type === 'later')
        actions.push({ type: 'restart-later', slot: slot.ref, at: d.at });
    } else if (current(last)) {
      actions.push(create(service, slot.ref, CreateReason.Fill, now, deps));
    } else {
      // The second half of a stop-first replacement: still in flight until the new task runs.
      inFlight += 1;
      actions.push(create(service, slot.ref, CreateReason.Update, now, deps));
    }
  }

  actions.push(...startReplacements(service, outdated, inFlight, lastReplacedAt, now));
  return actions;
};

const create = (
  service: Service,
  slot: SlotRef,
  reason: CreateReason,
  now: number,
  deps: ReconcileDeps,
): Action => ({ type: 'create-task', task: newTask(service, slot, reason, now, deps), reason });

/**
 * Picks the next outdated slots to replace. With a delay, updates go in batches: a batch starts
 * only when the previous one has finished and `delayMs` has passed since its last task ran; with
 * no delay, slots are replaced as soon as a place among `parallelism` frees up.
 */
const startReplacements = (
  service: Service,
  outdated: readonly Task[],
  inFlight: number,
  lastReplacedAt: number | undefined,
  now: number,
): Action[] => {
  if (outdated.length === 0) return [];
  const { parallelism, delayMs } = service.spec.update;
  const limit = parallelism === 0 ? Infinity : parallelism;
  let room = limit - inFlight;
  if (delayMs > 0) {
    if (inFlight > 0) return [];
    if (lastReplacedAt !== undefined && now < lastReplacedAt + delayMs) {
      return [{ type: 'update-later', at: lastReplacedAt + delayMs }];
    }
    room = limit;
  }
  return outdated
    .slice(0, Math.max(0, room))
    .map((t) => shutdown(t, `update to spec version ${service.specVersion}`));
};
