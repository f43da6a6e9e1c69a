// Reconciliation of a replicated service: exactly `replicas` slots (1..N), each with one
// desired-running task; tasks in slots above N (or with no slot) are shut down, and so are tasks
// on drained nodes (their slot gets a new task, placed elsewhere, once the old one stopped). Pure.
import type { NodeId, Service, Task } from '../../common/model.js';
import { TaskState } from '../../common/model.js';
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
const noNodes: ReadonlySet<NodeId> = new Set();

export const reconcileReplicated = (
  service: Service,
  tasks: readonly Task[],
  now: number,
  deps: ReconcileDeps,
  /** Nodes whose availability is drain: their tasks are moved off (Swarm's drain). */
  drained: ReadonlySet<NodeId> = noNodes,
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
    let seen = t;
    if (t.nodeId !== undefined && drained.has(t.nodeId) && isLive(t) && wantsRun(t)) {
      actions.push(shutdown(t, 'node drained'));
      // The slot rules see it as what it is about to be: stopping. Stop-first holds, so the
      // replacement is created once the agent reports it stopped (a drained node's agent is
      // alive; a down one's tasks are orphaned by the dispatcher after the grace period).
      seen = { ...t, desiredState: TaskState.Shutdown };
    }
    const list = bySlot.get(slot);
    if (list === undefined) bySlot.set(slot, [seen]);
    else list.push(seen);
  }
  const slots: SlotView[] = [];
  for (let slot = 1; slot <= mode.replicas; slot++) {
    slots.push({ ref: slot, tasks: bySlot.get(slot) ?? [], mayCreate: true });
  }
  return [...actions, ...reconcileSlots(service, slots, now, deps)];
};
