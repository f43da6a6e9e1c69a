// Which nodes keep failing a service's tasks: the scheduler's memory of recent task failures per
// (service, node), so that a node that failed a service's tasks repeatedly is tried last for it
// (Swarm: 5 failures within 5 minutes). In memory only, as in Swarm: a new leader starts afresh.
import type { NodeId, ServiceId, Task, TaskId } from '../../common/model.js';
import { TaskState } from '../../common/model.js';

export interface NodeFailuresConfig {
  /** Failures within the window that make a node faulty for a service. Default 5. */
  readonly threshold?: number;
  /** Default 5 minutes. */
  readonly windowMs?: number;
}

interface Failure {
  readonly serviceId: ServiceId;
  readonly nodeId: NodeId;
  readonly at: number;
}

/** A task that ended badly on a node: failed, or rejected by its agent. */
export const failedOnNode = (t: Task): boolean =>
  t.nodeId !== undefined &&
  (t.status.state === TaskState.Failed || t.status.state === TaskState.Rejected);

export class NodeFailures {
  private readonly threshold: number;
  private readonly windowMs: number;
  /** Keyed by task, so a task seen failed in many events counts once. */
  private readonly failures = new Map<TaskId, Failure>();

  constructor(config: NodeFailuresConfig = {}) {
    this.threshold = config.threshold ?? 5;
    this.windowMs = config.windowMs ?? 5 * 60_000;
  }

  /** Call with every task the scheduler sees change; `now` is when it was seen. */
  observe(t: Task, now: number): void {
    if (!failedOnNode(t) || this.failures.has(t.meta.id)) return;
    this.failures.set(t.meta.id, { serviceId: t.serviceId, nodeId: t.nodeId!, at: now });
  }

  /** Per service, the nodes with at least `threshold` failures in the window ending at `now`. */
  faulty(now: number): Map<ServiceId, Set<NodeId>> {
    const counts = new Map<string, number>();
    const out = new Map<ServiceId, Set<NodeId>>();
    for (const [id, f] of this.failures) {
      // Forgetting old failures here keeps the memory bounded by the window.
      if (f.at <= now - this.windowMs) {
        this.failures.delete(id);
        continue;
      }
      const key = `${f.serviceId}\u0000${f.nodeId}`;
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      if (n === this.threshold) {
        const set = out.get(f.serviceId) ?? new Set<NodeId>();
        set.add(f.nodeId);
        out.set(f.serviceId, set);
      }
    }
    return out;
  }
}
