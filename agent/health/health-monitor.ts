// Runs one container's health check on its interval and reports status changes: the shell around
// the pure health state (health-state.ts). It owns the timing (first check one interval after
// start, the next one interval after the previous one ended, as Docker does) and the guard on a
// check that never answers; the check itself runs through the injected `exec` (the agent passes
// ContainerRuntime.exec, which time-boxes it).

import type { Clock } from '../../common/clock.js';
import type { Healthcheck } from '../../common/model.js';
import {
  applyProbe,
  describeProbe,
  effectiveCheck,
  HealthStatus,
  initialHealth,
  PROBE_ERROR_EXIT_CODE,
} from './health-state.js';
import type { Health, HealthState, ProbeResult } from './health-state.js';

export type HealthExec = (
  argv: string[],
  timeoutMs: number,
) => Promise<{ exitCode: number; output: string }>;

export interface HealthMonitorOptions {
  readonly check: Healthcheck;
  /** Runs the check in the container; should give up after `timeoutMs` (a rejection = failure). */
  readonly exec: HealthExec;
  readonly clock: Clock;
  /**
   * Called with `starting` on start(), then on every status change, with the last result's
   * output (trimmed, or `exit code N`) as `detail`. Not called after stop().
   */
  readonly onChange: (health: Health, detail: string) => void;
}

/**
 * Extra time given to `exec` past the check's timeout before the monitor stops waiting for it
 * and counts a failure on its own: exec is expected to time itself out, this only keeps a
 * runtime that hangs from freezing the container's health forever.
 */
export const EXEC_GRACE_MS = 2_000;

export class HealthMonitor {
  readonly #opts: HealthMonitorOptions;
  #state: HealthState = initialHealth;
  #startedAt = 0;
  #running = false;
  /** Bumped by start() and stop(), so a check begun before them is ignored when it ends. */
  #generation = 0;
  #cancelTimer: (() => void) | undefined;
  #inFlight: Promise<void> | undefined;

  constructor(options: HealthMonitorOptions) {
    this.#opts = options;
  }

  /** The status so far; `starting` before the first result. */
  get health(): Health {
    return this.#state.status;
  }

  /** Status, failing streak and the last results (oldest first). */
  get state(): HealthState {
    return this.#state;
  }

  /** Call when the container has started: the start period counts from now. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#generation++;
    this.#startedAt = this.#opts.clock.now();
    this.#state = initialHealth;
    this.#emit(HealthStatus.Starting, '');
    this.#schedule();
  }

  /** No further checks and no further onChange calls. A check under way is left to finish. */
  stop(): void {
    this.#running = false;
    this.#generation++;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
  }

  /** Resolves once no check is under way (after stop(): once the last one has ended). */
  async whenIdle(): Promise<void> {
    while (this.#inFlight !== undefined) await this.#inFlight;
  }

  #schedule(): void {
    const { intervalMs } = effectiveCheck(this.#opts.check);
    this.#cancelTimer = this.#opts.clock.setTimer(intervalMs, () => {
      this.#cancelTimer = undefined;
      if (!this.#running) return;
      const run = this.#probe().finally(() => {
        if (this.#inFlight === run) this.#inFlight = undefined;
      });
      this.#inFlight = run;
    });
  }

  /** Never rejects: every way a check can go wrong is a failed result. */
  async #probe(): Promise<void> {
    const c = effectiveCheck(this.#opts.check);
    const generation = this.#generation;
    const start = this.#opts.clock.now();
    let cancelGuard: (() => void) | undefined;
    const guard = new Promise<{ exitCode: number; output: string }>((resolve) => {
      cancelGuard = this.#opts.clock.setTimer(c.timeoutMs + EXEC_GRACE_MS, () => {
        resolve({
          exitCode: PROBE_ERROR_EXIT_CODE,
          output: `health check exceeded its timeout of ${c.timeoutMs} ms`,
        });
      });
    });
    let got: { exitCode: number; output: string };
    try {
      got = await Promise.race([this.#opts.exec([...c.command], c.timeoutMs), guard]);
    } catch (err) {
      got = {
        exitCode: PROBE_ERROR_EXIT_CODE,
        output: err instanceof Error ? err.message : String(err),
      };
    } finally {
      cancelGuard?.();
    }
    if (generation !== this.#generation) return;
    const result: ProbeResult = {
      start,
      end: this.#opts.clock.now(),
      exitCode: got.exitCode,
      output: got.output,
    };
    const o = applyProbe(this.#opts.check, this.#startedAt, this.#state, result);
    this.#state = o.state;
    if (o.changed) this.#emit(o.state.status, describeProbe(result));
    // onChange may have called stop().
    if (generation === this.#generation) this.#schedule();
  }

  #emit(health: Health, detail: string): void {
    try {
      this.#opts.onChange(health, detail);
    } catch (err) {
      // A throwing listener must not stop the checks; surface it as an uncaught error instead.
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}
