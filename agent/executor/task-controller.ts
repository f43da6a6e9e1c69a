// One task on this node, from assignment to removal: the shell around transition.ts. It asks
// the pure core for the next step, writes the intent, does the step (pull, overlay rootfs, OCI
// spec, create, start; stop; clean up) and reports every state change with a reason. Steps of one
// task run one at a time on the controller's own chain; the agent awaits every chain on stop.

import { execFile } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

import {
  isTerminal,
  TaskState,
  taskStateRank,
  type Task,
  type TaskId,
} from '../../common/model.js';
import type { Clock } from '../../common/clock.js';
import { HealthMonitor, type Health } from '../health/index.js';
import { isImageError, type ImageService } from '../image/index.js';
import { buildOciSpec, resolveUser } from '../runtime/oci-spec.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import type { ReportedStatus } from '../session/session.js';
import { writeIntent } from '../state/intent.js';
import { isMounted, unmount } from '../state/sweep.js';
import { exitReport, nextStep, Phase, Step } from './transition.js';

const run = promisify(execFile);

/** Bounds how many tasks prepare and start at once (runc and conmon are CPU-bound forks). */
export class Gate {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(slots: number) {
    this.#free = slots;
  }
  async run<T>(f: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((r) => this.#waiting.push(r));
    try {
      return await f();
    } finally {
      const next = this.#waiting.shift();
      if (next === undefined) this.#free++;
      else next();
    }
  }
}

/** What every controller shares: the agent's services and where things go. */
export interface TaskContext {
  readonly stateDir: string;
  readonly nodeId: () => string;
  readonly images: ImageService;
  readonly runtime: ContainerRuntime;
  readonly report: (id: TaskId, status: ReportedStatus) => void;
  readonly gate: Gate;
  /** Host path of tini-static, the containers' init. */
  readonly initPath: string;
  readonly now: () => number;
  /** Drives health-check intervals. */
  readonly clock: Clock;
  readonly log: (line: string) => void;
  /** Aborted when the agent stops: ends pulls in progress. */
  readonly signal: AbortSignal;
}

export class TaskController {
  readonly id: TaskId;
  readonly #ctx: TaskContext;
  #task: Task;
  #phase: Phase;
  #reported: TaskState;
  #removed = false;
  #chain: Promise<void> = Promise.resolve();
  /** Runs the task's health check while its container runs (only if the spec has one). */
  #monitor: HealthMonitor | undefined;
  /** The last health reported; every later report carries it (a report is the whole status). */
  #health: Health | undefined;

  constructor(task: Task, ctx: TaskContext, phase: Phase = Phase.New) {
    this.id = task.meta.id;
    this.#task = task;
    this.#ctx = ctx;
    this.#phase = phase;
    // What the managers already know counts as reported: never report backwards.
    this.#reported = task.status.state;
    // A re-adopted running container is checked again from the start (start period included).
    if (phase === Phase.Running) this.#startHealth();
  }

  get task(): Task {
    return this.#task;
  }
  get phase(): Phase {
    return this.#phase;
  }
  /** The last state this agent reported (or the managers knew when it was assigned). */
  get reported(): TaskState {
    return this.#reported;
  }

  get #dir(): string {
    return path.join(this.#ctx.stateDir, 'tasks', this.id);
  }
  get #rootfs(): string {
    return path.join(this.#dir, 'rootfs');
  }

  /** A new version of the task (e.g. desired state shutdown): act on it. */
  update(task: Task): void {
    this.#task = task;
    this.#enqueue(() => this.#drive());
  }

  /** Reports a terminal state without running anything (e.g. its container vanished). */
  finish(state: TaskState, message: string): void {
    this.#phase = Phase.Finished;
    this.#report(state, message);
  }

  /** Asks whether the container exited (the exit watcher calls this). */
  poll(): void {
    if (this.#phase === Phase.Running) this.#enqueue(() => this.#checkExit());
  }

  /** Gone from the assignments: stop what runs and remove everything but the logs. */
  remove(): Promise<void> {
    this.#removed = true;
    this.#enqueue(() => this.#cleanUp());
    return this.settled();
  }

  /** The agent is stopping (its containers keep running): no more checks, steps finished. */
  async detach(): Promise<void> {
    await this.#stopHealth();
    await this.settled();
  }

  /** Resolves once every step queued so far has finished. */
  settled(): Promise<void> {
    return this.#chain;
  }

  #enqueue(f: () => Promise<void>): void {
    this.#chain = this.#chain.then(f).catch((err: unknown) => {
      this.#ctx.log(`task ${this.id}: ${errText(err)}`);
    });
  }

  #report(state: TaskState, message: string, exitCode?: number): void {
    if (isTerminal(this.#reported) || taskStateRank(state) <= taskStateRank(this.#reported)) return;
    this.#reported = state;
    this.#send(state, message, exitCode);
    this.#ctx.log(`task ${this.id}: ${state}${message === '' ? '' : ` (${message})`}`);
  }

  #send(state: TaskState, message: string, exitCode?: number): void {
    this.#ctx.report(this.id, {
      state,
      message,
      ...(exitCode === undefined ? {} : { exitCode }),
      ...(this.#health === undefined ? {} : { health: this.#health }),
    });
  }

  #startHealth(): void {
    const check = this.#task.spec.healthcheck;
    if (check === undefined || this.#monitor !== undefined) return;
    this.#monitor = new HealthMonitor({
      check,
      exec: (argv, timeoutMs) => this.#ctx.runtime.exec(this.id, argv, { timeoutMs }),
      clock: this.#ctx.clock,
      onChange: (health, detail) => {
        this.#health = health;
        if (health === 'unhealthy') {
          this.#enqueue(() => this.#stopUnhealthy(detail));
          return;
        }
        // Same state, new health: sent as is (the dispatcher writes health changes).
        if (this.#reported === TaskState.Running)
          this.#send(TaskState.Running, health === 'healthy' ? 'healthy' : 'started');
        this.#ctx.log(`task ${this.id}: health ${health}${detail === '' ? '' : ` (${detail})`}`);
      },
    });
    this.#monitor.start();
  }

  /** Stops the checks and waits for one under way (it writes into the container's state dir). */
  async #stopHealth(): Promise<void> {
    const m = this.#monitor;
    if (m === undefined) return;
    this.#monitor = undefined;
    m.stop();
    await m.whenIdle();
  }

  /**
   * Docker's and Swarm's rule: an unhealthy container is stopped and its task fails, so the
   * orchestrator replaces it by the restart policy.
   */
  async #stopUnhealthy(detail: string): Promise<void> {
    await this.#stopHealth();
    if (this.#phase !== Phase.Running) return;
    await this.#intent('stop');
    await this.#checkExit();
    if (this.#phase !== Phase.Running) return;
    const exit = await this.#ctx.runtime.stop(this.id, this.#task.spec.stopGracePeriodMs);
    this.#phase = Phase.Finished;
    this.#report(
      TaskState.Failed,
      `unhealthy: ${detail === '' ? 'check failed' : detail}`,
      exit.exitCode,
    );
  }

  async #intent(step: string): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    await writeIntent(this.#dir, { taskId: this.id, step, atMs: this.#ctx.now() });
  }

  async #drive(): Promise<void> {
    for (;;) {
      if (this.#removed || this.#ctx.signal.aborted) return;
      const step = nextStep(this.#task.desiredState, this.#phase);
      try {
        switch (step) {
          case Step.Prepare:
            await this.#ctx.gate.run(async () => {
              await this.#prepare();
              if (nextStep(this.#task.desiredState, this.#phase) === Step.Start)
                await this.#start();
            });
            continue;
          case Step.Start:
            await this.#ctx.gate.run(() => this.#start());
            continue;
          case Step.Wait:
            await this.#checkExit();
            return;
          case Step.Stop:
            await this.#stop();
            return;
          case Step.Skip:
            this.finish(TaskState.Shutdown, 'shut down before it started');
            return;
          case Step.Idle:
            return;
        }
      } catch (err) {
        if (this.#ctx.signal.aborted) return;
        this.finish(TaskState.Failed, `${step} failed: ${errText(err)}`);
        return;
      }
    }
  }

  async #prepare(): Promise<void> {
    const t = this.#task;
    this.#report(TaskState.Accepted, '');
    await this.#intent('prepare');
    // Leftovers of a prepare a crash interrupted: start again from nothing.
    if (await isMounted(this.#rootfs)) await unmount(this.#rootfs);
    for (const d of ['upper', 'work'])
      await rm(path.join(this.#dir, d), { recursive: true, force: true });
    for (const d of ['upper', 'work', 'rootfs'])
      await mkdir(path.join(this.#dir, d), { recursive: true });
    this.#report(TaskState.Preparing, `pulling ${t.spec.image}`);
    let rec;
    try {
      rec = await this.#ctx.images.pull(t.spec.image, this.#ctx.signal);
    } catch (err) {
      if (!isImageError(err) || err.code === 'aborted') throw err;
      this.finish(TaskState.Rejected, err.message);
      return;
    }
    await run('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${rec.lowerDirs.join(':')},upperdir=${path.join(this.#dir, 'upper')},workdir=${path.join(this.#dir, 'work')}`,
      this.#rootfs,
    ]);
    const etc = (f: string): Promise<string> =>
      readFile(path.join(this.#rootfs, 'etc', f), 'utf8').catch(() => '');
    const wanted = t.spec.user ?? rec.config.user;
    const user = resolveUser(wanted, await etc('passwd'), await etc('group'));
    if (user === undefined) {
      this.finish(TaskState.Rejected, `unknown user "${wanted}" in image ${t.spec.image}`);
      return;
    }
    const out = buildOciSpec({
      container: t.spec,
      resources: t.resources,
      image: rec.config,
      rootfs: this.#rootfs,
      hostname: this.id.slice(0, 12),
      cgroupsPath: `/tug/${this.#ctx.nodeId()}/${this.id}`,
      initPath: this.#ctx.initPath,
      user,
    });
    if (!out.ok) {
      this.finish(TaskState.Rejected, `${out.reason}: ${out.detail}`);
      return;
    }
    const logDir = path.join(this.#ctx.stateDir, 'logs', this.id);
    await mkdir(logDir, { recursive: true });
    await this.#intent('create');
    await this.#ctx.runtime.create(this.id, out.spec, {
      logPath: path.join(logDir, 'container.log'),
    });
    this.#phase = Phase.Created;
  }

  async #start(): Promise<void> {
    this.#report(TaskState.Starting, '');
    await this.#intent('start');
    await this.#ctx.runtime.start(this.id);
    this.#phase = Phase.Running;
    this.#report(TaskState.Running, 'started');
    this.#startHealth();
  }

  async #checkExit(): Promise<void> {
    if (this.#phase !== Phase.Running) return;
    const exit = await this.#ctx.runtime.exitStatus(this.id);
    if (exit === undefined) return;
    await this.#stopHealth();
    const r = exitReport(exit);
    this.#phase = Phase.Finished;
    this.#report(r.state, r.message, r.exitCode);
  }

  async #stop(): Promise<void> {
    await this.#intent('stop');
    if (this.#phase === Phase.Running) {
      // It may have exited on its own first: that is its outcome, not a shutdown.
      await this.#checkExit();
      if (this.#phase !== Phase.Running) return;
      await this.#stopHealth();
      const exit = await this.#ctx.runtime.stop(this.id, this.#task.spec.stopGracePeriodMs);
      this.#phase = Phase.Finished;
      this.#report(TaskState.Shutdown, 'shut down as desired', exit.exitCode);
      return;
    }
    this.finish(TaskState.Shutdown, 'shut down before it started');
  }

  async #cleanUp(): Promise<void> {
    await this.#intent('remove');
    await this.#stopHealth();
    const rt = this.#ctx.runtime;
    if (this.#phase === Phase.Running && (await rt.exitStatus(this.id)) === undefined)
      await rt.stop(this.id, this.#task.spec.stopGracePeriodMs);
    this.#phase = Phase.Finished;
    await rt.remove(this.id);
    if (await isMounted(this.#rootfs)) await unmount(this.#rootfs);
    // logs/<task> stays: logs are kept until the task's history is pruned.
    await rm(this.#dir, { recursive: true, force: true });
  }
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
