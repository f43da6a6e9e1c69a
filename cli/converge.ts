// The judgement behind `tug apply --wait`: has a service converged on its current spec, is it
// still getting there, or has it failed? Pure: the service, its tasks and the nodes in, a verdict
// and a progress line out; the watching and printing live in wait.ts. Definitions in docs/cli.md.

import { parseConstraints, firstFailed } from '../common/constraints.js';
import {
  isTerminal,
  TaskState,
  taskStateRank,
  type Node,
  type Service,
  type Task,
} from '../common/model.js';

export const Verdict = {
  Converged: 'converged',
  Progressing: 'progressing',
  Failed: 'failed',
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

export interface Progress {
  readonly name: string;
  readonly verdict: Verdict;
  /** Replicas, or for a global service the nodes it should run on. */
  readonly desired: number;
  /** Current-spec tasks desired running and running. */
  readonly running: number;
  /** Current-spec tasks desired running, not yet running, not ended. */
  readonly pending: number;
  /** Other live tasks: older spec, or being shut down (scale down, drain). */
  readonly stopping: number;
  /** Why it waits (a pending task's scheduler message) or why it failed; '' if nothing to say. */
  readonly reason: string;
}

/**
 * Failures of current-spec tasks in one slot that make the service failed: the restart policy
 * gave up (condition none: the first failure; maxAttempts: attempts + 1), or else a crash loop of
 * `crashLoopFailures` (default 3).
 */
export const failureLimit = (s: Service, crashLoopFailures = 3): number => {
  const rp = s.spec.restartPolicy;
  if (rp.condition === 'none') return 1;
  if (rp.maxAttempts > 0) return Math.min(crashLoopFailures, rp.maxAttempts + 1);
  return crashLoopFailures;
};

const wantsToRun = (t: Task): boolean =>
  taskStateRank(t.desiredState) <= taskStateRank(TaskState.Running);

/** Ended on its own in a way the restart policy counts as a failure (not orphaned: node lost). */
export const isFailure = (t: Task): boolean =>
  wantsToRun(t) &&
  (t.status.state === TaskState.Failed ||
    t.status.state === TaskState.Rejected ||
    (t.status.state === TaskState.Complete &&
      t.status.exitCode !== undefined &&
      t.status.exitCode !== 0));

/** Nodes a global service should run on: ready, active and passing its constraints. */
const eligibleNodes = (s: Service, nodes: readonly Node[]): Set<string> => {
  const parsed = parseConstraints(s.spec.placement.constraints);
  const cs = parsed.ok ? parsed.value : [];
  return new Set(
    nodes
      .filter(
        (n) =>
          n.status.state === 'ready' &&
          n.spec.availability === 'active' &&
          parsed.ok &&
          firstFailed(cs, n) === undefined,
      )
      .map((n) => n.meta.id),
  );
};

const slotOf = (t: Task): string => (t.slot === undefined ? `node:${t.nodeId ?? ''}` : `${t.slot}`);

const describeFailure = (t: Task): string => {
  const code = t.status.exitCode === undefined ? '' : ` (exit code ${t.status.exitCode})`;
  const msg = t.status.message === '' ? '' : `: ${t.status.message}`;
  return `${t.status.state}${code}${msg}`;
};

/**
 * `service` undefined: it was removed while being waited on. `tasks` are the service's tasks
 * (others are ignored), history included.
 */
export const judge = (
  name: string,
  service: Service | undefined,
  tasks: readonly Task[],
  nodes: readonly Node[],
  crashLoopFailures = 3,
): Progress => {
  const base = { name, desired: 0, running: 0, pending: 0, stopping: 0 };
  if (service === undefined) {
    return { ...base, verdict: Verdict.Failed, reason: 'the service was removed' };
  }
  const mine = tasks.filter((t) => t.serviceId === service.meta.id);
  const current = (t: Task): boolean => t.specVersion === service.specVersion;
  const live = mine.filter((t) => !isTerminal(t.status.state));
  const wanted = live.filter((t) => current(t) && wantsToRun(t));
  const runningTasks = wanted.filter((t) => t.status.state === TaskState.Running);
  const waiting = wanted.filter((t) => t.status.state !== TaskState.Running);
  const stopping = live.length - wanted.length;

  let desired: number;
  if (service.spec.mode.type === 'replicated') {
    desired = service.spec.mode.replicas;
  } else {
    // Nodes it should start on, plus nodes (paused, not ready) that keep a task they already have.
    const on = eligibleNodes(service, nodes);
    for (const t of wanted) if (t.nodeId !== undefined) on.add(t.nodeId);
    desired = on.size;
  }
  const counts = {
    ...base,
    desired,
    running: runningTasks.length,
    pending: waiting.length,
    stopping,
  };

  // The orchestrator gave up on the rollout of this spec (update.failureAction: pause).
  const us = service.updateStatus;
  if (us?.specVersion === service.specVersion && us.state === 'paused') {
    return { ...counts, verdict: Verdict.Failed, reason: `update paused: ${us.message}` };
  }

  // Failures per slot, of the current spec only: an old spec's failures are why it was replaced.
  const limit = failureLimit(service, crashLoopFailures);
  const failures = new Map<string, Task[]>();
  for (const t of mine) {
    if (!current(t) || !isFailure(t)) continue;
    const list = failures.get(slotOf(t)) ?? [];
    list.push(t);
    failures.set(slotOf(t), list);
  }
  const slots = [...failures.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [, list] of slots) {
    if (list.length < limit) continue;
    const last = list.reduce((a, b) => (b.status.timestamp > a.status.timestamp ? b : a));
    const times = list.length === 1 ? 'once' : `${list.length} times`;
    return {
      ...counts,
      verdict: Verdict.Failed,
      reason: `task ${last.meta.name} failed ${times}, last ${describeFailure(last)}`,
    };
  }

  const converged =
    runningTasks.length === desired && waiting.length === 0 && stopping === 0 && desired >= 0;
  if (converged) return { ...counts, verdict: Verdict.Converged, reason: '' };
  const why =
    [...waiting]
      .sort((a, b) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0))
      .find((t) => t.status.message !== '')?.status.message ?? '';
  return { ...counts, verdict: Verdict.Progressing, reason: why };
};

/** `web 3/5 running, 2 pending: no node has 2 CPUs free`. */
export const progressLine = (p: Progress): string => {
  if (p.verdict === Verdict.Failed) return `${p.name} failed: ${p.reason}`;
  const parts = [`${p.name} ${p.running}/${p.desired} running`];
  if (p.pending > 0) parts.push(`${p.pending} pending`);
  if (p.stopping > 0) parts.push(`${p.stopping} stopping`);
  const head = parts.join(', ');
  if (p.verdict === Verdict.Converged) return `${head}: converged`;
  return p.reason === '' || p.pending === 0 ? head : `${head}: ${p.reason}`;
};
