// The slot rules both reconcilers share: one desired-running task per slot, restarts by policy,
// and the rolling update (stop-first or start-first, parallelism, delay, failure action, monitor)
// with the update status it reports. The callers decide which slots exist and which may get new
// tasks (replicas 1..N, or eligible nodes); see docs/orchestrator.md.
import type { Service, Task, UpdateStatus } from '../../common/model.js';
import {
  TaskState,
  updateConfigDefaults,
  UpdateFailureAction,
  UpdateState,
} from '../../common/model.js';
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

const isRunning = (t: Task): boolean => t.status.state === TaskState.Running;

/** The update config with Swarm's defaults for fields a service stored before them lacks. */
export const effectiveUpdate = (service: Service) => {
  const u = service.spec.update;
  return {
    parallelism: u.parallelism,
    delayMs: u.delayMs,
    order: u.order,
    failureAction: u.failureAction ?? updateConfigDefaults.failureAction,
    monitorMs: u.monitorMs ?? updateConfigDefaults.monitorMs,
    maxFailureRatio: u.maxFailureRatio ?? updateConfigDefaults.maxFailureRatio,
  };
};

interface Outdated {
  readonly slot: SlotView;
  /** The slot's one desired-running task, of an older spec. */
  readonly task: Task;
}

export const reconcileSlots = (
  service: Service,
  slots: readonly SlotView[],
  now: number,
  deps: ReconcileDeps,
): Action[] => {
  const actions: Action[] = [];
  const version = service.specVersion;
  const current = (t: Task): boolean => t.specVersion === version;
  const cfg = effectiveUpdate(service);
  const startFirst = cfg.order === 'start-first';
  /** The stored status of this spec version's update, if one was started. */
  const ours = service.updateStatus?.specVersion === version ? service.updateStatus : undefined;

  // Failures of this update: its new tasks that ended on their own while it was in progress.
  let failures = ours?.failures ?? 0;
  let lastFailure: Task | undefined;
  if (ours?.state === UpdateState.Updating) {
    failures = 0;
    for (const slot of slots) {
      for (const t of slot.tasks) {
        if (!current(t) || !endedOnItsOwn(t) || t.meta.createdAt < ours.startedAt) continue;
        failures += 1;
        if (lastFailure === undefined || byAge(lastFailure, t) < 0) lastFailure = t;
      }
    }
  }
  const tooMany = ours !== undefined && failures > cfg.maxFailureRatio * Math.max(1, ours.total);
  const paused =
    ours?.state === UpdateState.Paused ||
    (ours?.state === UpdateState.Updating && tooMany && cfg.failureAction === 'pause');

  /** Slots whose replacement is under way: old task stopping, or new task not yet running. */
  let inFlight = 0;
  /** Slots whose one desired-running task has an older spec, in slot order. */
  const outdated: Outdated[] = [];
  /** Start-first slots whose replacement failed and may be tried again now. */
  const retries: Outdated[] = [];
  /** When the last finished replacement reported running (the start of the update delay). */
  let lastReplacedAt: number | undefined;
  /** Every slot has a current-spec task running (what completing an update waits for). */
  let allRunning = true;
  /** The latest time a current task of this update reported running (monitor runs from it). */
  let lastRunningAt: number | undefined;

  for (const slot of slots) {
    const history = [...slot.tasks].sort(byAge);
    const running = history.filter((t) => isLive(t) && wantsRun(t));
    const stopping = history.filter((t) => isLive(t) && !wantsRun(t));

    if (running.length > 0) {
      // Prefer a task that serves: of the current spec, else any; running, else the newest.
      const currents = running.filter(current);
      const keep = currents.find(isRunning) ?? currents[0];
      if (keep === undefined) {
        // More than one old task: an in-flight start-first replacement whose spec changed again,
        // or a write from outside. Keep the one serving.
        const old = running.findLast(isRunning) ?? running[running.length - 1]!;
        for (const t of running) if (t !== old) actions.push(shutdown(t, 'duplicate task in slot'));
        allRunning = false;
        const last = history[history.length - 1]!;
        if (startFirst && current(last) && endedOnItsOwn(last)) {
          // A start-first replacement failed while the old task kept serving: the slot may try
          // again when the restart policy allows, after the slots not tried yet (so `continue`
          // moves on), and never once paused.
          if (paused || !slot.mayCreate) continue;
          const d = decideRestart(service.spec.restartPolicy, history, now);
          if (d.type === 'now') retries.push({ slot, task: old });
          else if (d.type === 'later')
            actions.push({ type: 'restart-later', slot: slot.ref, at: d.at });
          continue;
        }
        outdated.push({ slot, task: old });
        continue;
      }
      const olds = running.filter((t) => t !== keep && !current(t));
      for (const t of running) {
        if (t === keep) continue;
        if (current(t)) actions.push(shutdown(t, 'duplicate task in slot'));
        else if (!startFirst) actions.push(shutdown(t, 'duplicate task in slot'));
        // Start-first: the old task goes only once its replacement runs.
        else if (isRunning(keep)) actions.push(shutdown(t, `replaced by ${keep.meta.id}`));
      }
      if (!isRunning(keep)) allRunning = false;
      else if (ours !== undefined && keep.meta.createdAt >= ours.startedAt) {
        lastRunningAt = Math.max(lastRunningAt ?? -Infinity, keep.status.timestamp);
      }
      if (startFirst && olds.length > 0 && !isRunning(keep)) {
        inFlight += 1;
        continue;
      }
      const before = history[history.indexOf(keep) - 1];
      // Stopped by us (stop-first), or still live beside it (start-first, stopping now).
      const replacedOld =
        before !== undefined && !current(before) && (!wantsRun(before) || isLive(before));
      if (replacedOld) {
        if (!isRunning(keep)) inFlight += 1;
        else lastReplacedAt = Math.max(lastReplacedAt ?? -Infinity, keep.status.timestamp);
      }
      continue;
    }

    if (slot.mayCreate) allRunning = false;
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

  if (!paused) {
    actions.push(
      ...startReplacements(service, [...outdated, ...retries], inFlight, lastReplacedAt, now, deps),
    );
  }

  // ---- the update status -------------------------------------------------------------------
  const status = nextStatus({
    ours,
    version,
    now,
    busy: outdated.length + retries.length + inFlight,
    failures,
    tooMany,
    failureAction: cfg.failureAction,
    maxFailureRatio: cfg.maxFailureRatio,
    lastFailure,
    done: allRunning && outdated.length === 0 && retries.length === 0 && inFlight === 0,
    monitorEnd: lastRunningAt === undefined ? undefined : lastRunningAt + cfg.monitorMs,
  });
  if (status.type === 'write') actions.push({ type: 'update-status', status: status.status });
  else if (status.type === 'later') actions.push({ type: 'update-later', at: status.at });
  return actions;
};

type StatusStep =
  | { readonly type: 'none' }
  | { readonly type: 'write'; readonly status: UpdateStatus }
  | { readonly type: 'later'; readonly at: number };

/**
 * updating → paused (too many failures, action pause) or completed (every slot runs the new spec
 * and the last new task has run for `monitorMs`). A status is started only when there is update
 * work: a service created at this version never gets one.
 */
const nextStatus = (o: {
  readonly ours: UpdateStatus | undefined;
  readonly version: number;
  readonly now: number;
  /** Outdated slots plus slots in flight. */
  readonly busy: number;
  readonly failures: number;
  readonly tooMany: boolean;
  readonly failureAction: UpdateFailureAction;
  readonly maxFailureRatio: number;
  readonly lastFailure: Task | undefined;
  readonly done: boolean;
  readonly monitorEnd: number | undefined;
}): StatusStep => {
  const { ours, now } = o;
  if (ours === undefined) {
    if (o.busy === 0) return { type: 'none' };
    const status: UpdateStatus = {
      state: UpdateState.Updating,
      specVersion: o.version,
      startedAt: now,
      total: o.busy,
      failures: 0,
      message: 'update in progress',
    };
    return { type: 'write', status };
  }
  if (ours.state !== UpdateState.Updating) return { type: 'none' };
  const failed =
    o.lastFailure === undefined
      ? ''
      : ` (last: task ${o.lastFailure.meta.id} ${o.lastFailure.status.state}` +
        `${o.lastFailure.status.message === '' ? '' : `: ${o.lastFailure.status.message}`})`;
  if (o.tooMany && o.failureAction === UpdateFailureAction.Pause) {
    const message =
      `update paused: ${o.failures} of ${ours.total} new tasks failed, more than ` +
      `maxFailureRatio ${o.maxFailureRatio}${failed}`;
    return {
      type: 'write',
      status: {
        ...ours,
        state: UpdateState.Paused,
        finishedAt: now,
        failures: o.failures,
        message,
      },
    };
  }
  if (o.done && (o.monitorEnd === undefined || now >= o.monitorEnd)) {
    const message =
      o.failures === 0
        ? 'update completed'
        : `update completed, ${o.failures} new tasks failed on the way${failed}`;
    return {
      type: 'write',
      status: {
        ...ours,
        state: UpdateState.Completed,
        finishedAt: now,
        failures: o.failures,
        message,
      },
    };
  }
  if (o.failures !== ours.failures) {
    const message = `update in progress, ${o.failures} new tasks failed${failed}`;
    return { type: 'write', status: { ...ours, failures: o.failures, message } };
  }
  if (o.done && o.monitorEnd !== undefined) return { type: 'later', at: o.monitorEnd };
  return { type: 'none' };
};

const create = (
  service: Service,
  slot: SlotRef,
  reason: CreateReason,
  now: number,
  deps: ReconcileDeps,
): Action => ({ type: 'create-task', task: newTask(service, slot, reason, now, deps), reason });

/**
 * Picks the next outdated slots to replace: stop-first shuts their old task down (the new one is
 * created once it is gone), start-first creates the new task beside it. With a delay, updates go
 * in batches: a batch starts only when the previous one has finished and `delayMs` has passed
 * since its last task ran; with no delay, slots are replaced as soon as a place among
 * `parallelism` frees up.
 */
const startReplacements = (
  service: Service,
  outdated: readonly Outdated[],
  inFlight: number,
  lastReplacedAt: number | undefined,
  now: number,
  deps: ReconcileDeps,
): Action[] => {
  // Start-first needs a new task in the slot: a slot that may not get one (its node paused or
  // down) keeps its old task for now.
  const candidates =
    service.spec.update.order === 'start-first'
      ? outdated.filter((o) => o.slot.mayCreate)
      : outdated;
  if (candidates.length === 0) return [];
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
  return candidates
    .slice(0, Math.max(0, room))
    .map((o) =>
      service.spec.update.order === 'start-first'
        ? create(service, o.slot.ref, CreateReason.Update, now, deps)
        : shutdown(o.task, `update to spec version ${service.specVersion}`),
    );
};
