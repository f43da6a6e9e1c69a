// Reconciliation of a global service: one desired-running task per eligible node, the node's id
// as the slot. Eligibility (docs/orchestrator.md): a node gets a new task when it is ready, active
// and passes the constraints; its task may stay while it is paused or down; it is shut down when
// the node is drained, fails the constraints, or is gone. Pure.
import type { Node, NodeId, Service, Task } from '../../common/model.js';
import { NodeAvailability, NodeState } from '../../common/model.js';
import { firstFailed, parseConstraints } from '../../common/constraints.js';
import type { Action, ReconcileDeps } from './actions.js';
import { OrchestratorMisuseError } from './actions.js';
import type { SlotView } from './slots.js';
import { reconcileSlots, shutdown } from './slots.js';
import { isLive, wantsRun } from './task-facts.js';

export const reconcileGlobal = (
  service: Service,
  tasks: readonly Task[],
  nodes: readonly Node[],
  now: number,
  deps: ReconcileDeps,
): Action[] => {
  if (service.spec.mode.type !== 'global') {
    throw new OrchestratorMisuseError(
      `service ${service.meta.id} is ${service.spec.mode.type}, not global`,
    );
  }
  const parsed = parseConstraints(service.spec.placement.constraints);
  // Acting on a spec we can't read would shut every task down; refuse and say why instead.
  if (!parsed.ok) return [{ type: 'blocked', reason: parsed.error.message }];

  const byNode = new Map<NodeId, Task[]>();
  const actions: Action[] = [];
  for (const t of tasks) {
    if (t.serviceId !== service.meta.id) continue;
    if (t.nodeId === undefined) {
      if (isLive(t) && wantsRun(t)) actions.push(shutdown(t, 'global task without a node'));
      continue;
    }
    const list = byNode.get(t.nodeId);
    if (list === undefined) byNode.set(t.nodeId, [t]);
    else list.push(t);
  }

  const slots: SlotView[] = [];
  const seen = new Set<NodeId>();
  const sorted = [...nodes].sort((a, b) =>
    a.meta.id < b.meta.id ? -1 : a.meta.id > b.meta.id ? 1 : 0,
  );
  for (const node of sorted) {
    const id = node.meta.id;
    seen.add(id);
    const own = byNode.get(id) ?? [];
    const failed = firstFailed(parsed.value, node);
    const drained = node.spec.availability === NodeAvailability.Drain;
    if (failed !== undefined || drained) {
      const reason = drained ? 'node drained' : `node fails constraint ${failed!.text}`;
      for (const t of own) if (isLive(t) && wantsRun(t)) actions.push(shutdown(t, reason));
      continue;
    }
    const mayCreate =
      node.status.state === NodeState.Ready && node.spec.availability === NodeAvailability.Active;
    slots.push({ ref: id, tasks: own, mayCreate });
  }
  for (const [id, own] of byNode) {
    if (seen.has(id)) continue;
    for (const t of own) if (isLive(t) && wantsRun(t)) actions.push(shutdown(t, 'node removed'));
  }
  return [...actions, ...reconcileSlots(service, slots, now, deps)];
};
