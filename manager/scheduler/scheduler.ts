// The scheduler's shell: tracks which tasks are waiting for a node, runs the pure `schedule()` over
// all of them in one batch whenever tasks or nodes change, and commits the outcome — assignments
// (status assigned, nodeId set) and pending reasons — in bounded transactions with version checks.
// Leader-only: whoever owns leadership calls run(signal) and aborts it on losing it.
import type { Clock } from '../../common/clock.js';
import type { NodeId, Task, TaskId } from '../../common/model.js';
import { isTerminal, taskStateRank, TaskState } from '../../common/model.js';
import type { Change, MemoryStore, StoreEvent, StoreWriter } from '../store/index.js';
import { followStore, runLoops, update } from '../store/index.js';
import { NodeLoads } from './node-loads.js';
import type { ScheduleResult } from './schedule.js';
import { scheduleOn } from './schedule.js';
import type { NodeFailuresConfig } from './node-failures.js';
import { NodeFailures } from './node-failures.js';

export interface SchedulerDeps {
  readonly store: MemoryStore;
  readonly writer: StoreWriter;
  readonly clock: Clock;
  readonly log?: (line: string) => void;
  /** Tasks per transaction. Default 100. */
  readonly maxChangesPerTx?: number;
  /**
   * Waiting tasks decided per pass (oldest first); more wait for the next pass, one event-loop
   * turn later. Default 500. One `schedule()` call is synchronous and costs tasks × nodes: a new
   * leader finding 10,000 waiting tasks on 1,000 nodes stalled for seconds, missed its Raft
   * heartbeats and lost leadership, and the next leader did the same.
   */
  readonly maxTasksPerPass?: number;
  /** Wait before retrying after a write could not be replicated. Default 1000. */
  readonly retryMs?: number;
  /** When a node counts as faulty for a service (default: 5 failed tasks in 5 minutes). */
  readonly nodeFailures?: NodeFailuresConfig;
}

/**
 * Waiting for a node: status new or pending, still desired running. A global task already carries
 * its node (the core checks it against that node only); the scheduler still assigns it.
 */
export const isSchedulable = (t: Task): boolean =>
  (t.status.state === TaskState.New || t.status.state === TaskState.Pending) &&
  taskStateRank(t.desiredState) <= taskStateRank(TaskState.Running);

/** Lets a burst of events (one write delivers many) land before acting on them. */
const nextTurn = (): Promise<void> =>
  new Promise((resolve) => {
    setImmediate(resolve);
  });

const oldestFirst = (a: Task, b: Task): number =>
  a.meta.createdAt - b.meta.createdAt ||
  a.meta.version - b.meta.version ||
  (a.meta.id < b.meta.id ? -1 : a.meta.id > b.meta.id ? 1 : 0);

export class Scheduler {
  private readonly deps: SchedulerDeps;
  private readonly maxChanges: number;
  private readonly retryMs: number;
  private readonly maxTasks: number;
  /** Ids of tasks that may be schedulable; the store is re-read for each before deciding. */
  private readonly pending = new Set<TaskId>();
  /**
   * Tasks whose write is being committed: the assigned copy (counted on its node by the next pass)
   * or null for a pending reason. Passes skip them, so a pass need not wait for the last one's
   * commits: decisions stream into the writer while earlier ones replicate.
   */
  private readonly inflight = new Map<TaskId, Task | null>();
  /**
   * What every node holds, from store events plus the inflight placements: a pass reads it
   * instead of re-counting every task on every node.
   */
  private loads = new NodeLoads();
  private readonly commits = new Set<Promise<void>>();
  private dirty = false;
  private busy = false;
  private running = false;
  private wake: (() => void) | null = null;
  private retryTimer: (() => void) | null = null;
  private readonly failures: NodeFailures;

  constructor(deps: SchedulerDeps) {
    this.deps = deps;
    this.maxChanges = deps.maxChangesPerTx ?? 100;
    this.retryMs = deps.retryMs ?? 1000;
    this.maxTasks = deps.maxTasksPerPass ?? 500;
    this.failures = new NodeFailures(deps.nodeFailures);
  }

  /** Nothing to decide and nothing being committed (for tests and metrics). */
  get idle(): boolean {
    return !this.busy && !this.dirty && this.commits.size === 0;
  }

  get pendingTimers(): number {
    return this.retryTimer === null ? 0 : 1;
  }

  /** Schedules until `signal` aborts; resolves once every write it started has settled. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.running) throw new Error('scheduler is already running');
    this.running = true;
    try {
      await runLoops(signal, () => {
        this.kick();
      }, [(stop) => this.watchLoop(stop), (stop) => this.workLoop(stop)]);
    } finally {
      this.retryTimer?.();
      this.retryTimer = null;
      this.pending.clear();
      this.dirty = false;
      this.running = false;
    }
  }

  // ---- events ---------------------------------------------------------------------------------

  private markAll(): number {
    const { store } = this.deps;
    this.pending.clear();
    const tasks = store.list('task');
    for (const t of tasks) if (isSchedulable(t)) this.pending.add(t.meta.id);
    this.loads = NodeLoads.of(store.list('node'), tasks);
    // Placed by a pass, not committed yet: they hold their room already.
    for (const t of this.inflight.values()) if (t !== null) this.loads.place(t, t.nodeId!);
    this.dirty = true;
    this.kick();
    return store.version;
  }

  private onEvent(e: StoreEvent): void {
    if (e.kind === 'task') {
      const t = e.object;
      // A placement being committed keeps its room until its commit settles (then the store says).
      if (e.type === 'delete') this.loads.deleteTask(t.meta.id);
      else if (!isSchedulable(t) || (this.inflight.get(t.meta.id) ?? null) === null)
        this.loads.setTask(t);
      if (e.type !== 'delete') this.failures.observe(t, this.deps.clock.now());
      if (e.type !== 'delete' && isSchedulable(t)) {
        this.pending.add(t.meta.id);
        // Updates of a waiting task are the scheduler's own reasons: nothing new to decide.
        if (e.type === 'update') return;
      } else {
        this.pending.delete(t.meta.id);
        // A task leaving a node frees room for the waiting ones; anything else changes nothing.
        const freesRoom =
          t.nodeId !== undefined && (e.type === 'delete' || isTerminal(t.status.state));
        if (!freesRoom) return;
      }
    } else if (e.kind === 'node') {
      if (e.type === 'delete') this.loads.deleteNode(e.object.meta.id);
      else this.loads.setNode(e.object);
    } else return;
    if (this.pending.size === 0) return;
    this.dirty = true;
    this.kick();
  }

  private watchLoop(signal: AbortSignal): Promise<void> {
    return followStore({
      store: this.deps.store,
      kinds: ['task', 'node'],
      resync: () => this.markAll(),
      onEvent: (e) => {
        this.onEvent(e);
      },
      signal,
      name: 'scheduler',
      ...(this.deps.log === undefined ? {} : { log: this.deps.log }),
    });
  }

  // ---- work -----------------------------------------------------------------------------------

  private kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async workLoop(signal: AbortSignal): Promise<void> {
    try {
      while (!signal.aborted) {
        if (!this.dirty) {
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
          continue;
        }
        this.busy = true;
        try {
          await nextTurn();
          if (signal.aborted) return;
          this.dirty = false;
          this.pass(signal);
        } finally {
          this.busy = false;
        }
      }
    } finally {
      await Promise.allSettled([...this.commits]);
      this.inflight.clear();
    }
  }

  /** One batch: every waiting task against every node, committed in bounded transactions. */
  private pass(signal: AbortSignal): void {
    const { store, clock } = this.deps;
    const tasks: Task[] = [];
    for (const id of this.pending) {
      if (this.inflight.has(id)) continue;
      const t = store.get('task', id);
      if (t !== undefined && isSchedulable(t)) tasks.push(t);
      else this.pending.delete(id);
    }
    if (tasks.length === 0) return;
    tasks.sort(oldestFirst);
    if (tasks.length > this.maxTasks) {
      tasks.length = this.maxTasks;
      // The rest go in the next pass, after other work (Raft, heartbeats) had a turn.
      this.dirty = true;
      this.kick();
    }
    const faulty = this.failures.faulty(clock.now());
    const result = scheduleOn(this.loads, tasks, faulty);
    const writes = this.writesFor(result, tasks);
    const now = clock.now();
    const byId = new Map(tasks.map((t) => [t.meta.id, t]));
    for (let i = 0; i < writes.length; i += this.maxChanges) {
      const chunk = writes.slice(i, i + this.maxChanges);
      for (const w of chunk) {
        const t = byId.get(w.taskId)!;
        this.inflight.set(w.taskId, w.type === 'assign' ? { ...t, nodeId: w.nodeId } : null);
      }
      const c = this.commit(chunk, now, signal).finally(() => {
        for (const w of chunk) {
          this.inflight.delete(w.taskId);
          // Committed, dropped as stale or failed: the store says what the task holds now.
          const t = store.get('task', w.taskId);
          if (t === undefined) this.loads.deleteTask(w.taskId);
          else this.loads.setTask(t);
        }
        this.commits.delete(c);
      });
      this.commits.add(c);
    }
  }

  /** What to write: every assignment, and each pending reason only when it changed. */
  private writesFor(result: ScheduleResult, tasks: readonly Task[]): Write[] {
    const byId = new Map(tasks.map((t) => [t.meta.id, t]));
    const out: Write[] = result.assignments.map((a) => ({ ...a, type: 'assign' }));
    for (const u of result.unschedulable) {
      const t = byId.get(u.taskId)!;
      if (t.status.state === TaskState.Pending && t.status.message === u.reason) continue;
      out.push({ type: 'pending', taskId: u.taskId, reason: u.reason });
    }
    return out;
  }

  private async commit(writes: readonly Write[], now: number, signal: AbortSignal): Promise<void> {
    const build = (s: MemoryStore): Change[] | null => {
      if (signal.aborted) return null;
      const changes: Change[] = [];
      // Re-read on every attempt: a task shut down or assigned meanwhile drops out of the batch
      // (the decision about it is stale); the rest still stand.
      for (const w of writes) {
        const t = s.get('task', w.taskId);
        if (t === undefined || !isSchedulable(t)) continue;
        const { id, version } = t.meta;
        if (w.type === 'assign') {
          if (t.nodeId !== undefined && t.nodeId !== w.nodeId) continue;
          const status = { state: TaskState.Assigned, timestamp: now, message: 'scheduled' };
          changes.push({
            op: 'patch',
            kind: 'task',
            id,
            version,
            set: { nodeId: w.nodeId, status },
          });
        } else {
          if (t.status.state === TaskState.Pending && t.status.message === w.reason) continue;
          const status = { state: TaskState.Pending, timestamp: now, message: w.reason };
          changes.push({ op: 'patch', kind: 'task', id, version, set: { status } });
        }
      }
      return changes.length === 0 ? null : changes;
    };
    try {
      const outcome = await update(this.deps.store, this.deps.writer, build, { attempts: 5 });
      if (outcome !== null && !outcome.ok) {
        this.deps.log?.(`scheduler: ${outcome.code}: ${outcome.message}`);
        if (outcome.code === 'conflict' && !signal.aborted) {
          this.dirty = true;
          this.kick();
        }
      }
    } catch (e) {
      // Not replicated: its fate is unknown, so decide again from the store after a pause.
      this.deps.log?.(`scheduler: write failed: ${String(e)}`);
      if (signal.aborted || this.retryTimer !== null) return;
      this.retryTimer = this.deps.clock.setTimer(this.retryMs, () => {
        this.retryTimer = null;
        if (signal.aborted) return;
        this.dirty = true;
        this.kick();
      });
    }
  }
}

type Write =
  | { readonly type: 'assign'; readonly taskId: TaskId; readonly nodeId: NodeId }
  | { readonly type: 'pending'; readonly taskId: TaskId; readonly reason: string };
