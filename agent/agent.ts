// The real agent: one AgentSession with the managers, an ImageService and a ContainerRuntime
// under one state directory, and a TaskController per assigned task. It registers the node
// (hostname, platform, CPUs, memory, labels), turns assignments into containers, watches them
// exit (conmon's exit files: fs.watch plus a periodic check) and reports every state change.
// After a restart it re-adopts the containers of assigned tasks and, once the first full
// assignment set arrived, removes everything of its own that no task wants. Task logs stay
// after the task until the managers prune it from their history (`pruned`, or absent from a
// full message's `assigned` + `retained`).

import { existsSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { systemClock } from '../common/clock.js';
import { isTerminal, TaskState, type NodeId, type TaskId } from '../common/model.js';
import {
  ImageService,
  isLoopbackRegistry,
  parseReference,
  formatReference,
} from './image/index.js';
import { detectCgroups, type CgroupLayout } from './linux/cgroups.js';
import {
  AgentLogService,
  LogRotator,
  removeTaskLogs,
  taskLogDirs,
  unkeptLogs,
  type TaskFigures,
} from './logs/index.js';
import {
  ContainerRuntime,
  ContainerStatus,
  RuntimeKind,
  type ContainerInfo,
} from './runtime/runtime.js';
import type { BackoffOptions } from './session/backoff.js';
import { DispatcherClients } from './session/clients.js';
import {
  AgentSession,
  type Assignments,
  type SessionError,
  type SessionExecutor,
} from './session/session.js';
import {
  Gate,
  TaskController,
  type OnTiming,
  type TaskContext,
} from './executor/task-controller.js';
import { Phase } from './executor/transition.js';
import { writeAtomic } from './state/intent.js';
import { sweep } from './state/sweep.js';

export interface AgentOptions {
  /** host:port of one or more managers. */
  readonly managers: readonly string[];
  readonly stateDir: string;
  /** Default: os.hostname(). */
  readonly hostname?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Where other nodes reach this one; default ''. */
  readonly addr?: string;
  readonly runtime?: RuntimeKind;
  /** Registries (host:port) spoken to over plain HTTP besides loopback ones. */
  readonly insecureRegistries?: readonly string[];
  /**
   * Registry mirrors: registry host:port as written in image references → host:port pulled from
   * instead (plain HTTP when loopback or listed in insecureRegistries). References stay as written.
   */
  readonly registryMirrors?: ReadonlyMap<string, string>;
  /** Default /usr/bin/tini-static. */
  readonly initPath?: string;
  /**
   * Host ids for tasks that ask for a user namespace (Docker's userns-remap idea, one range for
   * every such container); default 100000, 65536 of them.
   */
  readonly userNamespaceRange?: {
    readonly hostUid: number;
    readonly hostGid: number;
    readonly size: number;
  };
  /** Periodic exit check besides fs.watch; default 1000. */
  readonly exitPollMs?: number;
  /** Tasks preparing or starting at once; default 4. */
  readonly parallelStarts?: number;
  /** Delay of image GC after a task is removed; default 2000. */
  readonly imageGcDelayMs?: number;
  /** A container's log file is rotated past this size; default 10 MiB. */
  readonly logSizeMaxBytes?: number;
  /** Rotated generations kept per container log; default 3. */
  readonly logGenerations?: number;
  /** How often per-task resource figures go to the managers; default 5000. */
  readonly statsIntervalMs?: number;
  readonly backoff?: BackoffOptions;
  readonly log?: (line: string) => void;
  /** Called once if the session ends for good (node removed, superseded). */
  readonly onFatal?: (e: SessionError) => void;
  /**
   * Marks of each task's way to running, `performance.now()` ms: `received` when its assignment
   * reaches the agent, then the steps' ends (see TimingMark). For benchmarks; default none.
   */
  readonly onTiming?: OnTiming;
}

export interface AgentStopOptions {
  /** Also remove every container, mount, task directory and cgroup of this agent (tests, demo). */
  readonly removeContainers?: boolean;
}

const archName = (a: string): string => (a === 'x64' ? 'x86_64' : a === 'arm64' ? 'aarch64' : a);

export class Agent implements SessionExecutor {
  readonly session: AgentSession;
  readonly runtime: ContainerRuntime;
  readonly images: ImageService;
  readonly stateDir: string;
  readonly #cgroups: CgroupLayout;
  readonly #clients: DispatcherClients;
  readonly #controllers = new Map<TaskId, TaskController>();
  /** Controllers being removed, by task: a task's logs go only after its removal ends. */
  readonly #removing = new Map<TaskId, Promise<void>>();
  /** Log directories being deleted, by task. */
  readonly #dropping = new Map<TaskId, Promise<void>>();
  readonly #ctx: TaskContext;
  readonly #abort = new AbortController();
  readonly #log: (line: string) => void;
  readonly #gcDelayMs: number;
  readonly #logs: AgentLogService;
  readonly #rotator: LogRotator;
  #rotating: Promise<void> = Promise.resolve();
  #assigning: Promise<void> = Promise.resolve();
  /** Containers found on start, not yet claimed by an assigned task (null: not scanned yet). */
  #found: Map<string, ContainerInfo> | null = null;
  #swept = false;
  #watcher: FSWatcher | undefined;
  #poller: ReturnType<typeof setInterval> | undefined;
  #gcTimer: ReturnType<typeof setTimeout> | undefined;
  #gcRun: Promise<void> = Promise.resolve();
  #persist: Promise<void> = Promise.resolve();
  #stopped = false;

  private constructor(opts: AgentOptions, cgroups: CgroupLayout, nodeId: string) {
    this.stateDir = path.resolve(opts.stateDir);
    this.#cgroups = cgroups;
    this.#log = opts.log ?? (() => undefined);
    this.#gcDelayMs = opts.imageGcDelayMs ?? 2000;
    const insecure = new Set(opts.insecureRegistries ?? []);
    this.images = new ImageService({
      root: path.join(this.stateDir, 'images'),
      plainHttp: (r) => isLoopbackRegistry(r) || insecure.has(r),
      ...(opts.registryMirrors === undefined ? {} : { mirrors: opts.registryMirrors }),
      signal: this.#abort.signal,
    });
    this.runtime = new ContainerRuntime({
      stateDir: path.join(this.stateDir, 'runtime'),
      cgroups,
      kind: opts.runtime ?? RuntimeKind.Runc,
      logSizeMaxBytes: opts.logSizeMaxBytes ?? 10 * 1024 * 1024,
    });
    this.#clients = new DispatcherClients();
    this.session = new AgentSession({
      managers: opts.managers,
      clients: this.#clients,
      executor: this,
      description: {
        hostname: opts.hostname ?? os.hostname(),
        os: process.platform,
        arch: archName(os.arch()),
        cpus: os.availableParallelism(),
        memoryBytes: os.totalmem(),
        labels: { ...(opts.labels ?? {}) },
        addr: opts.addr ?? '',
      },
      ...(nodeId === '' ? {} : { nodeId }),
      onNodeId: (id) => {
        this.#persistNodeId(id);
      },
      ...(opts.onFatal === undefined ? {} : { onFatal: opts.onFatal }),
      ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }),
      log: this.#log,
    });
    this.#ctx = {
      stateDir: this.stateDir,
      nodeId: () => this.session.nodeId,
      images: this.images,
      runtime: this.runtime,
      report: (id, s) => {
        this.session.report(id, s);
      },
      gate: new Gate(opts.parallelStarts ?? 4),
      initPath: opts.initPath ?? '/usr/bin/tini-static',
      resolvedUsers: new Map(),
      userNamespace: opts.userNamespaceRange ?? {
        hostUid: 100_000,
        hostGid: 100_000,
        size: 65_536,
      },
      now: () => Date.now(),
      clock: systemClock,
      log: this.#log,
      signal: this.#abort.signal,
      ...(opts.onTiming === undefined ? {} : { timing: opts.onTiming }),
    };
    this.#logs = new AgentLogService({
      manager: () => this.session.connectedTo,
      nodeId: () => this.session.nodeId,
      // Logs outlive their task's container (kept until history pruning): any task with a file.
      logPathFor: (taskId) => {
        const p = this.#logPath(taskId);
        return existsSync(p) ? p : undefined;
      },
      statsFor: () => this.#figures(),
      ...(opts.statsIntervalMs === undefined ? {} : { statsIntervalMs: opts.statsIntervalMs }),
      log: this.#log,
    });
    // conmon replaces a full log file; the rotator keeps the replaced ones as generations.
    this.#rotator = new LogRotator({
      keep: opts.logGenerations ?? 3,
      everyMs: 500,
      logs: () => [...this.#controllers.keys()].map((id) => this.#logPath(id)),
      log: this.#log,
    });
  }

  #logPath(taskId: string): string {
    return path.join(this.#logsDir, taskId, 'container.log');
  }

  get #logsDir(): string {
    return path.join(this.stateDir, 'logs');
  }

  /** Resource figures of the tasks whose containers run now, read from their cgroups. */
  async #figures(): Promise<TaskFigures[]> {
    const out: TaskFigures[] = [];
    for (const [id, c] of this.#controllers) {
      if (c.phase !== Phase.Running) continue;
      try {
        const s = await this.runtime.stats(id);
        out.push({ taskId: id, ...s });
      } catch {
        // Exited and removed between the listing and the read: nothing to report.
      }
    }
    return out;
  }

  /** Prepares the state directory and opens a session; resolves once a manager accepted it. */
  static async start(opts: AgentOptions): Promise<Agent> {
    const dir = path.resolve(opts.stateDir);
    for (const d of ['tasks', 'logs', 'images', path.join('runtime', 'exits')])
      await mkdir(path.join(dir, d), { recursive: true });
    const nodeId = (await readFile(path.join(dir, 'node-id'), 'utf8').catch(() => '')).trim();
    const agent = new Agent(opts, await detectCgroups(), nodeId);
    agent.#watchExits(opts.exitPollMs ?? 1000);
    try {
      await agent.session.start();
    } catch (err) {
      await agent.stop();
      throw err;
    }
    agent.#logs.start();
    agent.#rotating = agent.#rotator.run(agent.#abort.signal).catch((err: unknown) => {
      agent.#log(`agent: log rotation: ${err instanceof Error ? err.message : String(err)}`);
    });
    return agent;
  }

  get nodeId(): NodeId {
    return this.session.nodeId as NodeId;
  }

  /** The tasks this agent holds, with their phase and last reported state. */
  get tasks(): ReadonlyMap<TaskId, { readonly phase: Phase; readonly reported: TaskState }> {
    return new Map(
      [...this.#controllers].map(([id, c]) => [id, { phase: c.phase, reported: c.reported }]),
    );
  }

  assignments(a: Assignments): void {
    const timing = this.#ctx.timing;
    if (timing !== undefined) {
      const at = performance.now();
      for (const t of a.updated)
        if (!this.#controllers.has(t.meta.id)) timing(t.meta.id, 'received', at);
    }
    this.#assigning = this.#assigning
      .then(() => this.#apply(a))
      .catch((err: unknown) => {
        this.#log(`agent: assignments: ${err instanceof Error ? err.message : String(err)}`);
      });
  }

  /**
   * Stops the session and waits for the steps under way. Containers keep running (conmon owns
   * them) unless `removeContainers`, which removes everything this agent made but logs and images.
   */
  async stop(options: AgentStopOptions = {}): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.session.stop();
      this.#abort.abort();
      this.#watcher?.close();
      clearInterval(this.#poller);
      clearTimeout(this.#gcTimer);
      await this.#assigning;
      await Promise.all([...this.#controllers.values()].map((c) => c.detach()));
      await Promise.all([...this.#removing.values()]);
      await Promise.all([...this.#dropping.values()]);
      await this.#gcRun;
      await this.#persist;
      await this.#logs.stop();
      await this.#rotating;
      this.#clients.close();
    }
    if (options.removeContainers === true) {
      await sweep({
        stateDir: this.stateDir,
        runtime: this.runtime,
        cgroups: this.#cgroups,
        nodeId: this.session.nodeId,
        keep: new Set(),
        log: this.#log,
      });
    }
  }

  #persistNodeId(id: NodeId): void {
    this.#persist = this.#persist
      .then(() => writeAtomic(path.join(this.stateDir, 'node-id'), `${id}\n`))
      .catch((err: unknown) => {
        this.#log(`agent: persisting node id: ${String(err)}`);
      });
  }

  #watchExits(pollMs: number): void {
    // conmon writes exits/<container id> when a container exits.
    try {
      this.#watcher = watch(path.join(this.stateDir, 'runtime', 'exits'), (_event, name) => {
        if (name !== null) this.#controllers.get(name as TaskId)?.poll();
      });
      this.#watcher.on('error', () => undefined);
    } catch (err) {
      this.#log(`agent: watching exits: ${String(err)}; polling only`);
    }
    this.#poller = setInterval(() => {
      for (const c of this.#controllers.values()) c.poll();
    }, pollMs);
  }

  async #apply(a: Assignments): Promise<void> {
    if (this.#stopped) return;
    this.#found ??= new Map((await this.runtime.list()).map((c) => [c.id, c]));
    const wanted = new Set<string>(a.updated.map((t) => t.meta.id));
    if (a.full) for (const id of this.#controllers.keys()) if (!wanted.has(id)) this.#remove(id);
    for (const id of a.removed) this.#remove(id);
    // Only full messages come first (and they prune nothing): should a change come before the
    // first one, the next full set decides.
    if (this.#swept) for (const id of a.pruned) this.#dropLogs(id);
    for (const t of a.updated) {
      const c = this.#controllers.get(t.meta.id);
      if (c !== undefined) {
        c.update(t);
        continue;
      }
      const found = this.#found.get(t.meta.id);
      this.#found.delete(t.meta.id);
      const phase =
        found === undefined
          ? Phase.New
          : found.status === ContainerStatus.Created
            ? Phase.Created
            : Phase.Running; // running, paused, or exited meanwhile: the exit check tells
      const nc = new TaskController(t, this.#ctx, phase);
      this.#controllers.set(t.meta.id, nc);
      if (found !== undefined)
        this.#log(`agent: re-adopted container ${t.meta.id} (${found.status})`);
      if (
        found === undefined &&
        !isTerminal(t.status.state) &&
        t.status.state === TaskState.Running
      ) {
        // The managers saw it run here, but its container is gone (removed while we were down).
        nc.finish(TaskState.Failed, 'container lost while the agent was down');
        continue;
      }
      nc.update(t);
      if (phase === Phase.Running) nc.poll();
    }
    if (a.full && !this.#swept) {
      // Only now is it known what no task wants: before, a restarted agent keeps everything.
      this.#swept = true;
      this.#found.clear();
      await sweep({
        stateDir: this.stateDir,
        runtime: this.runtime,
        cgroups: this.#cgroups,
        nodeId: this.session.nodeId,
        keep: new Set(this.#controllers.keys()),
        log: this.#log,
      });
    }
    if (a.full && a.tracksHistory) {
      // Tasks deleted while no session was up (or events the managers' watch missed) are
      // absent from both lists: this is where their logs go.
      const unkept = unkeptLogs(await taskLogDirs(this.#logsDir), {
        assigned: wanted,
        retained: a.retained,
        held: this.#controllers.keys(),
      });
      for (const id of unkept) this.#dropLogs(id as TaskId);
    }
  }

  /**
   * Deletes a task's logs once no controller holds it: after the removal under way, if any; a
   * task held again (cannot happen for a pruned id, but cheap to check) keeps them.
   */
  #dropLogs(id: TaskId): void {
    if (this.#stopped || this.#controllers.has(id) || this.#dropping.has(id)) return;
    const removal = this.#removing.get(id) ?? Promise.resolve();
    const p = removal
      .then(async () => {
        if (this.#controllers.has(id)) return;
        await removeTaskLogs(this.#logsDir, id);
        this.#log(`agent: removed the logs of pruned task ${id}`);
      })
      .catch((err: unknown) => {
        this.#log(
          `agent: removing logs of ${id}: ${err instanceof Error ? err.message : String(err)}`,
        );
      })
      .finally(() => this.#dropping.delete(id));
    this.#dropping.set(id, p);
  }

  #remove(id: TaskId): void {
    const c = this.#controllers.get(id);
    if (c === undefined) return;
    this.#controllers.delete(id);
    // A task held again while its previous removal still runs: wait for both.
    const previous = this.#removing.get(id);
    const p = Promise.all([previous, c.remove()])
      .then(() => {
        this.#gcSoon();
      })
      .finally(() => {
        if (this.#removing.get(id) === p) this.#removing.delete(id);
      });
    this.#removing.set(id, p);
  }

  #gcSoon(): void {
    if (this.#gcTimer !== undefined || this.#stopped) return;
    this.#gcTimer = setTimeout(() => {
      this.#gcTimer = undefined;
      this.#gcRun = this.#gcRun.then(async () => {
        if (this.#stopped) return;
        const inUse: string[] = [];
        for (const c of this.#controllers.values()) {
          const r = parseReference(c.task.spec.image);
          if (r.ok) inUse.push(formatReference(r.ref));
        }
        try {
          const out = await this.images.gc(inUse);
          if (out.removedImages.length > 0)
            this.#log(`agent: image gc removed ${out.removedImages.join(', ')}`);
        } catch (err) {
          this.#log(`agent: image gc: ${String(err)}`);
        }
      });
    }, this.#gcDelayMs);
  }
}
