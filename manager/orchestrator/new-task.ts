// Building a complete new Task for a slot from the service's current spec.
import type { Service, Task } from '../../common/model.js';
import { TaskState } from '../../common/model.js';
import type { CreateReason, ReconcileDeps, SlotRef } from './actions.js';

const idPrefixLength = 12;

export const newTask = (
  service: Service,
  slot: SlotRef,
  reason: CreateReason,
  now: number,
  deps: ReconcileDeps,
): Task => {
  const id = deps.newId();
  const where = typeof slot === 'number' ? { slot } : { nodeId: slot };
  return {
    meta: {
      id,
      name: `${service.meta.name}.${String(slot)}.${id.slice(0, idPrefixLength)}`,
      version: 0,
      createdAt: now,
      updatedAt: now,
      labels: {},
    },
    serviceId: service.meta.id,
    ...where,
    spec: service.spec.container,
    specVersion: service.specVersion,
    resources: service.spec.resources,
    placement: service.spec.placement,
    networks: deps.networkIds ?? [],
    desiredState: TaskState.Running,
    status: { state: TaskState.New, timestamp: now, message: `created (${reason})` },
  };
};
