// The health of one container as Docker defines it, as a pure function of the check results so
// far: `starting` until the first success, `healthy` after a success, `unhealthy` after `retries`
// consecutive failures. Failures while still starting and within the start period do not count.
// A success always resets the failing streak, so an unhealthy container can recover. The last
// results are kept (output truncated) to explain the status. No timers, no I/O: HealthMonitor runs
// the checks.

import type { Healthcheck, TaskStatus } from '../../common/model.js';

export const HealthStatus = {
  Starting: 'starting',
  Healthy: 'healthy',
  Unhealthy: 'unhealthy',
} as const;
export type Health = NonNullable<TaskStatus['health']>;

/** Results kept in the log, as Docker keeps them. */
export const MAX_LOG_ENTRIES = 5;
/** Characters of a check's output kept (Docker keeps 4096 bytes). */
export const MAX_OUTPUT_CHARS = 4096;
/** Exit code recorded for a check that timed out or could not run. */
export const PROBE_ERROR_EXIT_CODE = -1;

/** Docker's defaults where a field is 0 (or missing from an older stored spec). */
export const healthcheckDefaults = {
  intervalMs: 30_000,
  timeoutMs: 30_000,
  retries: 3,
  startPeriodMs: 0,
} as const;

export interface ProbeResult {
  /** When the check started and ended, on the monitor's clock (ms). */
  readonly start: number;
  readonly end: number;
  /** 0 = healthy; anything else is a failure; PROBE_ERROR_EXIT_CODE: timed out or did not run. */
  readonly exitCode: number;
  readonly output: string;
}

export interface HealthState {
  readonly status: Health;
  /** Consecutive counted failures since the last success. */
  readonly failingStreak: number;
  /** The last MAX_LOG_ENTRIES results, oldest first. */
  readonly log: readonly ProbeResult[];
}

export const initialHealth: HealthState = {
  status: HealthStatus.Starting,
  failingStreak: 0,
  log: [],
};

export interface EffectiveHealthcheck {
  readonly command: readonly string[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly startPeriodMs: number;
}

/** The check with Docker's defaults for non-positive figures. */
export const effectiveCheck = (c: Healthcheck): EffectiveHealthcheck => ({
  command: c.command,
  intervalMs: c.intervalMs > 0 ? c.intervalMs : healthcheckDefaults.intervalMs,
  timeoutMs: c.timeoutMs > 0 ? c.timeoutMs : healthcheckDefaults.timeoutMs,
  retries: c.retries > 0 ? Math.floor(c.retries) : healthcheckDefaults.retries,
  startPeriodMs: c.startPeriodMs > 0 ? c.startPeriodMs : healthcheckDefaults.startPeriodMs,
});

export interface ProbeOutcome {
  readonly state: HealthState;
  /** The status differs from the one before this result. */
  readonly changed: boolean;
}

const truncate = (s: string): string =>
  s.length <= MAX_OUTPUT_CHARS ? s : s.slice(0, MAX_OUTPUT_CHARS);

/**
 * The state after one more result. `startedAt`: when the container started (the start period
 * counts from there, and is judged by when the check started, as Docker does).
 */
export const applyProbe = (
  check: Healthcheck,
  startedAt: number,
  state: HealthState,
  result: ProbeResult,
): ProbeOutcome => {
  const c = effectiveCheck(check);
  const kept: ProbeResult = { ...result, output: truncate(result.output) };
  const log = [...state.log, kept].slice(-MAX_LOG_ENTRIES);
  let status: Health = state.status;
  let failingStreak = state.failingStreak;
  if (result.exitCode === 0) {
    status = HealthStatus.Healthy;
    failingStreak = 0;
  } else {
    const inStartPeriod =
      state.status === HealthStatus.Starting && result.start - startedAt < c.startPeriodMs;
    if (!inStartPeriod) {
      failingStreak++;
      if (failingStreak >= c.retries) status = HealthStatus.Unhealthy;
    }
  }
  return { state: { status, failingStreak, log }, changed: status !== state.status };
};

/**
 * One line explaining a result, for a task's status message (`unhealthy: <detail>`): the output
 * trimmed, or the exit code when the check printed nothing.
 */
export const describeProbe = (r: ProbeResult | undefined): string => {
  if (r === undefined) return '';
  const out = r.output.trim();
  if (out !== '') return out;
  return r.exitCode === 0 ? '' : `exit code ${r.exitCode}`;
};
