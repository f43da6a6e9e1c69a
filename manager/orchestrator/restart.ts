// The restart policy: given a slot's history whose last task ended on its own, restart now, at a
// later time, or never. Pure; attempts are counted from the history, not from memory, so a new
// leader decides exactly as the old one would have.
import type { RestartPolicy, Task } from '../../common/model.js';
import { RestartCondition, TaskState } from '../../common/model.js';
import { endedOnItsOwn } from './task-facts.js';

export type RestartDecision =
  | { readonly type: 'now' }
  | { readonly type: 'later'; readonly at: number }
  | { readonly type: 'never'; readonly reason: string };

const succeeded = (t: Task): boolean =>
  t.status.state === TaskState.Complete && (t.status.exitCode ?? 0) === 0;

/**
 * Creation times of the slot's restarts that count against `maxAttempts`: tasks created to
 * replace a predecessor that ended on its own, within the window (all of them if windowMs is 0).
 * Bounded by the task history the store keeps per slot.
 */
export const countedRestarts = (
  policy: RestartPolicy,
  history: readonly Task[],
  now: number,
): number[] => {
  const out: number[] = [];
  for (let i = 1; i < history.length; i++) {
    if (!endedOnItsOwn(history[i - 1]!)) continue;
    const created = history[i]!.meta.createdAt;
    if (policy.windowMs === 0 || created > now - policy.windowMs) out.push(created);
  }
  return out;
};

/** `history` is the slot's tasks oldest first; its last one ended on its own. */
export const decideRestart = (
  policy: RestartPolicy,
  history: readonly Task[],
  now: number,
): RestartDecision => {
  const last = history[history.length - 1];
  if (last === undefined) return { type: 'now' };
  if (policy.condition === RestartCondition.None) {
    return { type: 'never', reason: 'restart condition is none' };
  }
  if (policy.condition === RestartCondition.OnFailure && succeeded(last)) {
    return { type: 'never', reason: 'completed successfully (restart on failure only)' };
  }
  let at = last.status.timestamp + policy.delayMs;
  if (policy.maxAttempts > 0) {
    const restarts = countedRestarts(policy, history, now);
    if (restarts.length >= policy.maxAttempts) {
      if (policy.windowMs === 0) {
        return { type: 'never', reason: `gave up after ${policy.maxAttempts} restarts` };
      }
      // Allowed again once enough of the counted restarts have left the window.
      restarts.sort((a, b) => a - b);
      const freesUp = restarts[restarts.length - policy.maxAttempts]! + policy.windowMs;
      at = Math.max(at, freesUp);
    }
  }
  return now >= at ? { type: 'now' } : { type: 'later', at };
};
