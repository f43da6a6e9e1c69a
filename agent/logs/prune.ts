// Which task log directories (`<stateDir>/logs/<task>`) the agent may delete, and deleting them.
// Logs outlive their task's container and go with the task's history: when the managers prune
// the task from their store (docs/agent.md, "Logs and stats"; docs/dispatcher.md).

import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';

/** What a full assignment message says is still wanted, and what the agent itself still holds. */
export interface LogKeep {
  /** Tasks assigned to this node (in the message's `updated`). */
  readonly assigned: Iterable<string>;
  /** Finished tasks still in the managers' store (the message's `retained`). */
  readonly retained: Iterable<string>;
  /** Tasks whose controller still holds them (running, stopping, being removed). */
  readonly held: Iterable<string>;
}

/**
 * The log directories in `present` that no task wants any more: neither assigned, retained nor
 * held. Pure; sorted, for stable logs and tests.
 */
export const unkeptLogs = (present: Iterable<string>, keep: LogKeep): string[] => {
  const kept = new Set<string>([...keep.assigned, ...keep.retained, ...keep.held]);
  return [...new Set(present)].filter((id) => !kept.has(id)).sort();
};

/** Whether `id` names a directory right under the logs directory (never `..`, never nested). */
export const isTaskLogName = (id: string): boolean =>
  id !== '' && id !== '.' && id !== '..' && !id.includes('/') && !id.includes('\0');

/** The task ids that have a log directory under `logsDir` ([] when it does not exist). */
export async function taskLogDirs(logsDir: string): Promise<string[]> {
  try {
    return (await readdir(logsDir, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

/** A task id that does not name a plain directory under `logs/` (never deleted). */
export class InvalidTaskLogNameError extends Error {
  readonly code = 'invalid-task-log-name';
  constructor(taskId: string) {
    super(`not a task id: ${JSON.stringify(taskId)}`);
    this.name = 'InvalidTaskLogNameError';
  }
}

/** Deletes one task's log directory: the live file and every rotated generation. */
export async function removeTaskLogs(logsDir: string, taskId: string): Promise<void> {
  // An id from the managers names a directory under logsDir and nothing else.
  if (!isTaskLogName(taskId)) throw new InvalidTaskLogNameError(taskId);
  await rm(path.join(logsDir, taskId), { recursive: true, force: true });
}
