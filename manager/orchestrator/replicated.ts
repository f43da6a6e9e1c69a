// Reconciliation of a replicated service: exactly `replicas` slots (1..N), each with one
// desired-running task; tasks in slots above N (or with no slot) are shut down. Pure.
import type { Service, Task } from '../../common/model.js';
import type { Action, ReconcileDeps } from './actions.js';
import { OrchestratorMisuseError } from './actions.js';
import type { SlotView } from './slots.js';
import { reconcileSlots, shutdown } from './slots.js';
import { isLive, wantsRun } from './task-facts.js';

/**
 * `tasks`: every task of the service, terminal history included (the restart policy counts from
 * it). Returns the actions that move the service one step towards its spec; run it again after
 * they are committed, on any task or service event, and at the `at` of any `*-later` action.
 */
export const reconcileReplicated = (
  service: Service,
  tasks: readonly Task[],
  now: number,
  deps: ReconcileDeps,
): Action[] => {
  const mode = service.spec.mode;
  if (mode.type !== 'replicated') {
    throw new OrchestratorMisuseError(`service ${service.meta.id} is ${mode.type}, not replicated`);
  }
  const bySlot = new Map<number, Task[]>();
  const actions: Action[] = [];
  for (const t of tasks) {
    if (t.serviceId !== service.meta.id) continue;
    const slot = t.slot;
    if (slot === undefined || !Number.isInteger(slot) || slot < 1 || slot > mode.replicas) {
      if (isLive(t) && wantsRun(t)) actions.push(shutdown(t, 'scaled down'));
      continue;
    }
    const list = bySlot.get(slot);
    if (list === undefined) bySlot.set(slot, [t]);
    else list.push(t);
  }
  const slots: SlotView[] = [];
  for (let slot = 1; slot <= mode.replicas; slot++) {
    slots.push({ ref: slot, tasks: bySlot.get(slot) ?? [], mayCreate: true });
  }
  return [...actions, ...reconcileSlots(service, slots, now, deps)];
};
