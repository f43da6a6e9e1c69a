// One task on this node, from assignment to removal: the shell around transition.ts. It asks
// the pure core for the next step, writes the intent, does the step (pull, overlay rootfs, OCI
// spec, create, start; stop; clean up) and reports every state change with a reason. Steps of one
// task run one at a time on the controller's own chain; the agent awaits every chain on stop.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, stat } from 'node:fs/promises';
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
import { isImageError, type ImageRecord, type ImageService } from '../image/index.js';
import {
  buildOciSpec,
  overlayOptions,
  resolveUser,
  type OverlayLayers,
} from '../runtime/oci-spec.js';
import { makeMountPoints } from '../runtime/rootfs-path.js';
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

/**
 * Where a task is on its way to running: `received` (the agent has its assignment), `dirs` (its
 * directories made, intent written), `pulled` (image present), `mounted` (overlay rootfs),
 * `specified` (OCI spec built), `created` (conmon + runtime create), `running` (started, reported
 * to the session).
 */
export type TimingMark =
  'received' | 'dirs' | 'pulled' | 'mounted' | 'specified' | 'created' | 'running';
export type OnTiming = (taskId: TaskId, mark: TimingMark, atMs: number) => void;

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
  /**
   * Users resolved against an image's /etc/passwd and /etc/group, by manifest digest + user as
   * named (the same layers give the same answer): the first task of an image that names a user
   * reads them from a host-mounted rootfs, the others skip that mount.
   */
  readonly resolvedUsers: Map<string, { readonly uid: number; readonly gid: number }>;
  /** Host ids that container root and the rest map to when a task asks for a user namespace. */
  readonly userNamespace: {
    readonly hostUid: number;
    readonly hostGid: number;
    readonly size: number;
  };
  readonly now: () => number;
  /** Drives health-check intervals. */
  readonly clock: Clock;
  readonly log: (line: string) => void;
  /** Aborted when the agent stops: ends pulls in progress. */
  readonly signal: AbortSignal;
  /** Benchmarks: marks of the way to running (performance.now() ms). */
  readonly timing?: OnTiming;
}

export class TaskController {
  readonly id: TaskId;
  readonly #ctx: TaskContext;
  #task: Task;
  #phase: Phase;
  #reported: TaskState;
  #removed = false;
  /** The agent is stopping: no health checks start any more (a step under way may end later). */
  #detached = false;
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
    this.#detached = true;
    await this.#stopHealth();
    await this.settled();
  }

  /** Resolves once every step queued so far has finished. */
  settled(): Promise<void> {
    return this.#chain;
  }

  #mark(mark: TimingMark): void {
    this.#ctx.timing?.(this.id, mark, performance.now());
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
    // A start that ends after detach() or remove() must not leave checks running (they would
    // exec into, and stop, a container the agent no longer tracks).
    if (check === undefined || this.#monitor !== undefined || this.#detached || this.#removed)
      return;
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

  /**
   * Recorded before the step. The steps of a start (prepare, create, start) skip the fsync
   * (≈ 2 ms each here, on the start's critical path): their record survives the agent being
   * killed, which is what restart recovery is for; stop and remove are durable.
   */
  async #intent(step: string, opts: { readonly durable?: boolean } = {}): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    await writeIntent(this.#dir, { taskId: this.id, step, atMs: this.#ctx.now() }, opts);
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
    // A new task's directory does not exist yet; only an existing one can hold leftovers of a
    // prepare a crash interrupted, which start again from nothing.
    const fresh = await mkdir(this.#dir).then(
      () => true,
      (err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw err;
      },
    );
    await this.#intent('prepare', { durable: false });
    if (!fresh) {
      if (await isMounted(this.#rootfs)) await unmount(this.#rootfs);
      await Promise.all(
        ['upper', 'work'].map((d) => rm(path.join(this.#dir, d), { recursive: true, force: true })),
      );
    }
    await Promise.all(
      ['upper', 'work', 'rootfs'].map((d) => mkdir(path.join(this.#dir, d), { recursive: true })),
    );
    if (t.spec.userNamespace === true) {
      const refused = await this.#openToMappedRoot();
      if (refused !== undefined) {
        this.finish(TaskState.Rejected, refused);
        return;
      }
    }
    this.#report(TaskState.Preparing, `pulling ${t.spec.image}`);
    this.#mark('dirs');
    // The image is usually here already, but a tag is resolved at the registry on every pull (a
    // network round trip). Meanwhile the rootfs is mounted and the container created (not
    // started) from the local copy; if the registry names another manifest or other layers, that
    // container and mount go and are made again. Nothing runs before the pull has answered.
    const local = await this.#ctx.images.get(t.spec.image).catch(() => undefined);
    const pulling = this.#ctx.images.pull(t.spec.image, this.#ctx.signal);
    // Marked when the pull answers, not when it is awaited (after the early create).
    pulling.then(
      () => {
        this.#mark('pulled');
      },
      () => undefined,
    );
    let early: { rec: ImageRecord; made: Made } | undefined;
    if (local !== undefined) {
      // Handled below; until then a rejection must not count as unhandled.
      pulling.catch(() => undefined);
      early = {
        rec: local,
        made: await this.#make(local).catch((error: unknown) => ({ ok: false as const, error })),
      };
    }
    let rec: ImageRecord;
    try {
      rec = await pulling;
    } catch (err) {
      if (!isImageError(err) || err.code === 'aborted') throw err;
      // A container or mount made early goes with the task's removal.
      this.finish(TaskState.Rejected, err.message);
      return;
    }
    let made: Made;
    if (
      early !== undefined &&
      // An early attempt that failed (say, GC took the layers meanwhile) is made again.
      !('error' in early.made) &&
      early.rec.manifestDigest === rec.manifestDigest &&
      early.rec.lowerDirs.join(':') === rec.lowerDirs.join(':')
    ) {
      made = early.made;
    } else {
      if (early !== undefined) await this.#unmake();
      made = await this.#make(rec);
    }
    if (!made.ok) {
      if ('error' in made) throw made.error;
      this.finish(TaskState.Rejected, made.reason);
      return;
    }
    this.#phase = Phase.Created;
    this.#mark('created');
  }

  /**
   * Builds the spec and creates the container over `rec`'s layers. With runc the overlay rootfs
   * is mounted by runc inside the container's mount namespace (one `mount` process less per
   * start, and no host mount); it is mounted on the host instead when the container gets a user
   * namespace, runs under another runtime, or names a user this image has not resolved yet (its
   * /etc/passwd is read from the mounted rootfs once; the answer is kept per image).
   */
  async #make(rec: ImageRecord): Promise<Made> {
    const t = this.#task;
    const logDir = path.join(this.#ctx.stateDir, 'logs', this.id);
    const wanted = t.spec.user ?? rec.config.user;
    const users = this.#ctx.resolvedUsers;
    const userKey = `${rec.manifestDigest}\n${wanted ?? ''}`;
    // No user named: root, nothing to look up in the image.
    let user = wanted === undefined || wanted === '' ? { uid: 0, gid: 0 } : users.get(userKey);
    const onHost =
      t.spec.userNamespace === true || this.#ctx.runtime.kind !== 'runc' || user === undefined;
    // The log directory needs no rootfs: made while it mounts.
    await Promise.all([
      onHost
        ? this.#mountRootfs(rec.lowerDirs).then(() => {
            this.#mark('mounted');
          })
        : Promise.resolve().then(() => {
            this.#mark('mounted');
          }),
      mkdir(logDir, { recursive: true }),
    ]);
    if (user === undefined) {
      const etc = (f: string): Promise<string> =>
        readFile(path.join(this.#rootfs, 'etc', f), 'utf8').catch(() => '');
      const [passwd, group] = await Promise.all([etc('passwd'), etc('group')]);
      user = resolveUser(wanted, passwd, group);
      if (user === undefined)
        return { ok: false, reason: `unknown user "${wanted ?? ''}" in image ${t.spec.image}` };
      users.set(userKey, user);
    }
    // runc would fail the create with a less helpful message; say which path is missing.
    for (const m of t.spec.mounts ?? [])
      if (!existsSync(m.source))
        return { ok: false, reason: `mount source ${m.source} does not exist on this node` };
    const out = buildOciSpec({
      container: t.spec,
      resources: t.resources,
      image: rec.config,
      rootfs: this.#rootfs,
      ...(onHost
        ? {}
        : {
            overlay: this.#layers(rec.lowerDirs),
          }),
      hostname: this.id.slice(0, 12),
      cgroupsPath: `/tug/${this.#ctx.nodeId()}/${this.id}`,
      initPath: this.#ctx.initPath,
      user,
      ...(t.spec.mounts === undefined
        ? {}
        : {
            binds: t.spec.mounts.map((m) => ({
              source: m.source,
              destination: m.target,
              readOnly: m.readOnly,
            })),
          }),
      ...(t.spec.userNamespace === true ? { userNamespace: this.#ctx.userNamespace } : {}),
    });
    if (!out.ok) return { ok: false, reason: `${out.reason}: ${out.detail}` };
    // Container root cannot create mount points in the image's (host-owned) directories.
    if (t.spec.userNamespace === true)
      await makeMountPoints(
        this.#rootfs,
        out.spec.mounts.map((m) =>
          m.options.includes('bind') || m.options.includes('rbind')
            ? { destination: m.destination, bindSource: m.source }
            : { destination: m.destination },
        ),
      );
    this.#mark('specified');
    await this.#intent('create', { durable: false });
    await this.#ctx.runtime.create(this.id, out.spec, {
      logPath: path.join(logDir, 'container.log'),
    });
    return { ok: true };
  }

  /** Undoes an early #make: the container (never started), the mount, the upper layer. */
  async #unmake(): Promise<void> {
    await this.#ctx.runtime.remove(this.id);
    if (await isMounted(this.#rootfs)) await unmount(this.#rootfs);
    for (const d of ['upper', 'work']) {
      await rm(path.join(this.#dir, d), { recursive: true, force: true });
      await mkdir(path.join(this.#dir, d), { recursive: true });
    }
  }

  /**
   * A user-namespaced container's init is the mapped root (an unprivileged host uid) when runc
   * bind-mounts the rootfs and pivots into it, so it must be able to reach the rootfs: every
   * directory above it needs search permission for others. The agent gives that (search only,
   * no listing: o+x) to the directories it owns — the state dir, `tasks/`, the task's dir — and
   * refuses the task, naming the directory, when one above the state dir lacks it (that is the
   * operator's to change). The upper layer (the merged root directory's owner) goes to the mapped
   * root so that container root owns `/`; image files stay the host's (`nobody` inside), as
   * documented. Without idmapped mounts (runc 1.1 cannot make them) this is what Podman does too.
   */
  async #openToMappedRoot(): Promise<string | undefined> {
    const { hostUid, hostGid } = this.#ctx.userNamespace;
    const stateDir = path.resolve(this.#ctx.stateDir);
    for (let d = path.dirname(stateDir); ; d = path.dirname(d)) {
      if (((await stat(d)).mode & 0o001) === 0)
        return `user namespace: ${d} is not searchable by others (o+x), so the mapped root cannot reach the container's rootfs under ${stateDir}`;
      if (d === path.dirname(d)) break;
    }
    for (const d of [stateDir, path.join(stateDir, 'tasks'), this.#dir]) {
      const mode = (await stat(d)).mode & 0o7777;
      if ((mode & 0o001) === 0) await chmod(d, mode | 0o001);
    }
    await chown(path.join(this.#dir, 'upper'), hostUid, hostGid);
    return undefined;
  }

  /** Mounts the overlay rootfs over `lowerDirs` (top first); returns them as mounted. */
  async #mountRootfs(lowerDirs: readonly string[]): Promise<void> {
    await run('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      overlayOptions(this.#layers(lowerDirs)),
      this.#rootfs,
    ]);
  }

  #layers(lowerDirs: readonly string[]): OverlayLayers {
    return {
      lowerDirs,
      upperDir: path.join(this.#dir, 'upper'),
      workDir: path.join(this.#dir, 'work'),
    };
  }

  async #start(): Promise<void> {
    this.#report(TaskState.Starting, '');
    await this.#intent('start', { durable: false });
    await this.#ctx.runtime.start(this.id);
    this.#phase = Phase.Running;
    this.#report(TaskState.Running, 'started');
    this.#mark('running');
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

/** What #make came to: created, refused (a reason to reject the task), or an error. */
type Made =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: string }
  | { readonly ok: false; readonly error: unknown };

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
