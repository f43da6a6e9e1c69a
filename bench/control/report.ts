// The control benchmark's record (bench/results/control.json) and its one-screen summary. Pure:
// every number comes in measured; this module only names, rounds and compares with the targets.

import type { MachineInfo } from '../lib/machine.js';
import type { Summary } from '../lib/stats.js';
import type { ControlMeasurementResult } from './measure.js';
import type { ControlBenchOptions } from './options.js';

/** The targets: at least 1,000 tasks/s (aim 3,000), manager RSS at most 512 MiB. */
export const TARGETS = {
  tasksPerSecond: 1000,
  tasksPerSecondAim: 3000,
  managerRssMiB: 512,
} as const;

export interface ControlRunFacts {
  readonly options: ControlBenchOptions;
  readonly machine: MachineInfo;
  readonly measurement: ControlMeasurementResult;
  /** Peak RSS (VmHWM) of each manager, MiB, in member order. */
  readonly managerRssMiB: readonly number[];
  readonly setup: {
    readonly managersReadyMs: number;
    readonly agentsReadyMs: number;
    readonly agentProcesses: number;
  };
  /** Date.now() just before the Apply call, to place the store's timestamps on the same axis. */
  readonly applyStartEpochMs: number;
  /** How long the Apply call itself took (services written; tasks come after). */
  readonly applyCallMs: number;
  /** False when the run timed out before every task ran: the numbers are partial. */
  readonly completed: boolean;
  readonly violations: readonly { readonly code: string; readonly message: string }[];
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;
const perSecond = (n: number, ms: number | undefined): number | null =>
  ms === undefined || ms <= 0 ? null : round(n / (ms / 1000));
const summaryMs = (s: Summary | undefined): Record<string, number> | null =>
  s === undefined
    ? null
    : {
        count: s.count,
        p50: round(s.p50),
        p90: round(s.p90),
        p99: round(s.p99),
        mean: round(s.mean),
        max: round(s.max),
      };

const rel = (at: number | undefined, from: number): number | null =>
  at === undefined ? null : round(at - from);

export function controlRecord(f: ControlRunFacts): Record<string, unknown> {
  const m = f.measurement;
  const replicas = f.options.replicas;
  const tasksPerSecond = perSecond(replicas, m.allAssignedMs);
  const storeLastAssigned =
    m.lastAssignedAt === undefined || m.assigned < replicas
      ? undefined
      : m.lastAssignedAt - f.applyStartEpochMs;
  const rss = f.managerRssMiB.length === 0 ? null : round(Math.max(...f.managerRssMiB));
  return {
    benchmark: 'control',
    completed: f.completed,
    command: `node build/bench/control/main.js --nodes ${f.options.nodes} --replicas ${replicas} --services ${f.options.services}`,
    nodes: f.options.nodes,
    replicas,
    services: f.options.services,
    managers: f.options.managers,
    agent_processes: f.setup.agentProcesses,
    // tasks/s counts the replicas over the time from the Apply call to the last one assigned.
    tasks_per_second: tasksPerSecond,
    tasks_per_second_to_running: perSecond(replicas, m.allRunningMs),
    // The same from the store's timestamps (scheduler's clock at its decision, agent's at running):
    // the Watch adds its own lag to the observed times above.
    tasks_per_second_store_timestamps: perSecond(replicas, storeLastAssigned),
    time_to_all_assigned_ms: m.allAssignedMs === undefined ? null : round(m.allAssignedMs),
    time_to_all_running_ms: m.allRunningMs === undefined ? null : round(m.allRunningMs),
    apply_call_ms: round(f.applyCallMs),
    // From the store's timestamps, relative to the Apply call: where the time goes.
    store_timeline_ms: {
      first_task_created: rel(m.firstCreatedAt, f.applyStartEpochMs),
      last_task_created: rel(m.lastCreatedAt, f.applyStartEpochMs),
      last_task_assigned: rel(m.lastAssignedAt, f.applyStartEpochMs),
      last_task_running: rel(m.lastRunningAt, f.applyStartEpochMs),
    },
    p99_create_to_assign_ms: m.createToAssign === undefined ? null : round(m.createToAssign.p99),
    create_to_assign_ms: summaryMs(m.createToAssign),
    create_to_running_ms: summaryMs(m.createToRunning),
    tasks_seen: m.tasks,
    tasks_assigned: m.assigned,
    tasks_running: m.running,
    assigned_state_unseen: m.assignedUnseen,
    manager_rss_mib: rss,
    manager_rss_mib_each: f.managerRssMiB.map((x) => round(x)),
    targets: {
      tasks_per_second: TARGETS.tasksPerSecond,
      tasks_per_second_aim: TARGETS.tasksPerSecondAim,
      manager_rss_mib: TARGETS.managerRssMiB,
    },
    meets_targets: {
      tasks_per_second: tasksPerSecond !== null && tasksPerSecond >= TARGETS.tasksPerSecond,
      manager_rss_mib: rss !== null && rss <= TARGETS.managerRssMiB,
    },
    invariant_violations: f.violations.map((v) => ({ code: v.code, message: v.message })),
    setup: {
      managers_ready_ms: round(f.setup.managersReadyMs),
      agents_ready_ms: round(f.setup.agentsReadyMs),
    },
    reference:
      'Docker Swarm was not run side by side (no Docker engine on this machine); published figures are quoted, labelled, in docs/benchmarks.md.',
    machine: f.machine,
  };
}

export function summaryText(record: Record<string, unknown>): string {
  const get = (k: string): string => {
    const v = record[k];
    return v === null || v === undefined
      ? 'n/a'
      : typeof v === 'number'
        ? v.toLocaleString('en-US')
        : JSON.stringify(v);
  };
  const violations = record['invariant_violations'];
  return [
    `nodes ${get('nodes')}, replicas ${get('replicas')} in ${get('services')} services, ${get('managers')} managers`,
    `time to all assigned:        ${get('time_to_all_assigned_ms')} ms`,
    `time to all running:         ${get('time_to_all_running_ms')} ms`,
    `tasks/s (to all assigned):   ${get('tasks_per_second')}   (target ≥ ${TARGETS.tasksPerSecond}, aim ${TARGETS.tasksPerSecondAim})`,
    `tasks/s (to all running):    ${get('tasks_per_second_to_running')}`,
    `p99 creation → assignment:   ${get('p99_create_to_assign_ms')} ms`,
    `manager peak RSS (max):      ${get('manager_rss_mib')} MiB (each: ${get('manager_rss_mib_each')}; target ≤ ${TARGETS.managerRssMiB})`,
    `invariant violations:        ${Array.isArray(violations) ? violations.length : 'n/a'}`,
  ].join('\n');
}
