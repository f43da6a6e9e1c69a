// What the orchestrator's decision cores return: actions for the shell to commit through the
// store, plus the typed error for misuse. Shared by the replicated and global reconcilers.
import type { NetworkId, NodeId, Task, TaskId, UpdateStatus } from '../../common/model.js';

/**
 * A slot: a replica number (1..replicas) for replicated services, the node's id for global ones
 * (Swarm keys global slots by node the same way).
 */
export type SlotRef = number | NodeId;

export const CreateReason = {
  /** The slot never had a task, or its last task was shut down by us (scale up, node back). */
  Fill: 'fill',
  /** The slot's last task ended on its own and the restart policy says run it again. */
  Restart: 'restart',
  /** Rolling update: the outdated task was stopped; this one carries the new spec. */
  Update: 'update',
} as const;
export type CreateReason = (typeof CreateReason)[keyof typeof CreateReason];

export type Action =
  /** Store this new task (desired running, status new); the scheduler takes it from there. */
  | { readonly type: 'create-task'; readonly task: Task; readonly reason: CreateReason }
  /**
   * Set the task's desired state to shutdown. `markShutdown`: the task never reached a node
   * (status before assigned), so no agent will ever report it; the shell also moves its status to
   * shutdown in the same transaction, with a version check against the scheduler assigning it.
   */
  | {
      readonly type: 'shutdown-task';
      readonly taskId: TaskId;
      readonly reason: string;
      readonly markShutdown: boolean;
    }
  /** Delete the finished task of a removed service: nothing keeps its history any more. */
  | { readonly type: 'delete-task'; readonly taskId: TaskId }
  /** The slot's task ended and will be restarted, but not before `at`: reconcile again then. */
  | { readonly type: 'restart-later'; readonly slot: SlotRef; readonly at: number }
  /** A rolling update waits for `update.delayMs` between batches: reconcile again at `at`. */
  | { readonly type: 'update-later'; readonly at: number }
  /** The service can't be reconciled as specified (e.g. an unparsable constraint); nothing changed. */
  | { readonly type: 'blocked'; readonly reason: string }
  /** Write this as the service's `updateStatus` (only returned when it differs from the stored one). */
  | { readonly type: 'update-status'; readonly status: UpdateStatus };

export interface ReconcileDeps {
  /** Fresh task ids: injected so tests (and the simulator) are deterministic. */
  readonly newId: () => TaskId;
  /** The service's networks resolved to ids by the shell (the spec names them); default none. */
  readonly networkIds?: readonly NetworkId[];
}

/** The caller passed the wrong kind of service: a bug in the shell, not a runtime condition. */
export class OrchestratorMisuseError extends Error {
  readonly code = 'orchestrator-misuse';
  readonly temporary = false;
  constructor(message: string) {
    super(message);
    this.name = 'OrchestratorMisuseError';
  }
}
