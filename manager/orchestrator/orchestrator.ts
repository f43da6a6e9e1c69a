// The orchestrator's shell: watches services, tasks and nodes in the store, runs the pure
// reconcilers (replicated.ts, global.ts) for the services an event touched, and commits their
// actions as store transactions with version checks. Owns the restart/update timers. Leader-only:
// whoever owns leadership calls run(signal) and aborts it on losing it.
import type { Clock } from '../../common/clock.js';
import type { NetworkId, NodeId, ServiceId, Task, TaskId } from '../../common/model.js';
import { NodeAvailability, TaskState } from '../../common/model.js';
import type {
  Change,
  MemoryStore,
  StoreEvent,
  StoreWriter,
  TaskPatch,
  Transaction,
} from '../store/index.js';
import { followStore, runLoops } from '../store/index.js';
import type { Action } from './actions.js';
import { reconcileGlobal } from './global.js';
import { reconcileReplicated } from './replicated.js';
import { isLive, neverAssigned, wantsRun } from './task-facts.js';

export interface OrchestratorDeps {
  readonly store: MemoryStore;
  readonly writer: StoreWriter;
  readonly clock: Clock;
  readonly newId: () => TaskId;
  readonly log?: (line: string) => void;
  /** Changes per transaction; a bigger reconcile commits this many and runs again. Default 100. */
  readonly maxChangesPerTx?: number;
  /** Wait before retrying a service whose write could not be replicated. Default 1000. */
  readonly retryMs?: number;
}

/** Lets a burst of events (one write delivers many) land before acting on them. */
const nextTurn = (): Promise<void> =>
  new Promise((resolve) => {
    setImmediate(resolve);
  });

export class Orchestrator {
  private readonly deps: OrchestratorDeps;
  private readonly maxChanges: number;
  private readonly retryMs: number;
  private readonly dirty = new Set<ServiceId>();
  /** One timer per service: the earliest `*-later` (or retry) it is waiting for. */
  private readonly timers = new Map<ServiceId, { at: number; cancel: () => void }>();
  private wake: (() => void) | null = null;
  private busy = false;
  private running = false;

  constructor(deps: OrchestratorDeps) {
    this.deps = deps;
    this.maxChanges = deps.maxChangesPerTx ?? 100;
    this.retryMs = deps.retryMs ?? 1000;
  }

  /** Nothing marked for reconcile and nothing being committed (for tests and metrics). */
  get idle(): boolean {
    return !this.busy && this.dirty.size === 0;
  }

  /** Services waiting on a timer (for tests). */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Reconciles until `signal` aborts; resolves once every write it started has settled. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.running) throw new Error('orchestrator is already running');
    this.running = true;
    try {
      await runLoops(signal, () => {
        this.kick();
      }, [(stop) => this.watchLoop(stop), (stop) => this.workLoop(stop)]);
    } finally {
      for (const t of this.timers.values()) t.cancel();
      this.timers.clear();
      this.dirty.clear();
      this.running = false;
    }
  }

  // ---- events ---------------------------------------------------------------------------------

  /** Marks everything (startup, or after a watch reset) and returns the version it read at. */
  private markAll(): number {
    const { store } = this.deps;
    for (const s of store.list('service')) this.dirty.add(s.meta.id);
    // Tasks whose service is gone still need shutting down, then deleting.
    for (const t of store.list('task'))
      if (!this.dirty.has(t.serviceId) && store.get('service', t.serviceId) === undefined)
        this.dirty.add(t.serviceId);
    this.kick();
    return store.version;
  }

  private onEvent(e: StoreEvent): void {
    if (e.kind === 'service') this.dirty.add(e.object.meta.id);
    else if (e.kind === 'task') this.dirty.add(e.object.serviceId);
    else if (e.kind === 'node') {
      // Global services follow every node change. Replicated ones care only about a drained
      // node (node loss is the dispatcher's: it orphans the tasks): the services running there.
      const { store } = this.deps;
      for (const s of store.list('service'))
        if (s.spec.mode.type === 'global') this.dirty.add(s.meta.id);
      if (e.type !== 'delete' && e.object.spec.availability === NodeAvailability.Drain) {
        for (const t of store.find('task', { nodeId: e.object.meta.id }))
          if (isLive(t) && wantsRun(t)) this.dirty.add(t.serviceId);
      }
    } else return;
    this.kick();
  }

  private watchLoop(signal: AbortSignal): Promise<void> {
    return followStore({
      store: this.deps.store,
      kinds: ['service', 'task', 'node'],
      resync: () => this.markAll(),
      onEvent: (e) => {
        this.onEvent(e);
      },
      signal,
      name: 'orchestrator',
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
    while (!signal.aborted) {
      if (this.dirty.size === 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        continue;
      }
      this.busy = true;
      try {
        await nextTurn();
        if (signal.aborted) return;
        const ids = [...this.dirty].sort();
        this.dirty.clear();
        // Different services touch different tasks: their writes can go out together.
        await Promise.all(ids.map((id) => this.reconcile(id, signal)));
      } finally {
        this.busy = false;
      }
    }
  }

  private async reconcile(id: ServiceId, signal: AbortSignal): Promise<void> {
    const { store, writer, clock } = this.deps;
    let later: number | undefined;
    /** Changes beyond the first transaction, committed alongside it. */
    let rest: Change[] = [];
    const build = (s: MemoryStore): Transaction | null => {
      // Checked on every attempt: no write starts after the abort.
      if (signal.aborted) return null;
      later = undefined;
      rest = [];
      const now = clock.now();
      const actions = this.decide(s, id, now);
      const changes: Change[] = [];
      for (const a of actions) {
        if (a.type === 'restart-later' || a.type === 'update-later') {
          later = Math.min(later ?? Infinity, a.at);
        } else if (a.type === 'blocked') {
          this.deps.log?.(`orchestrator: service ${id} blocked: ${a.reason}`);
        } else if (a.type === 'update-status') {
          // Not counted against maxChangesPerTx: one small write, and the status must not lag
          // behind the task changes that caused it.
          const svc = s.get('service', id);
          if (svc !== undefined) {
            changes.push({
              op: 'update',
              kind: 'service',
              object: { ...svc, updateStatus: a.status },
            });
          }
        } else {
          const c =
            a.type === 'create-task'
              ? ({ op: 'create', kind: 'task', object: a.task } as const)
              : a.type === 'delete-task'
                ? deleteChange(s, a.taskId)
                : shutdownChange(s, a.taskId, a.reason, a.markShutdown, now);
          if (c === null) continue;
          if (changes.length < this.maxChanges) changes.push(c);
          else rest.push(c);
        }
      }
      return changes.length === 0 ? null : changes;
    };
    try {
      // A big reconcile (a service scaled to thousands) goes out as many bounded transactions
      // at once rather than one per round trip: the writer packs them into proposals with
      // several in flight. Each action stands on its own (a create, or a shutdown checked
      // against the task's version), so a partial commit is just an earlier state the next
      // reconcile continues from. A conflict is decided again on the new state (as update()
      // does) — at once for a single transaction, else once every chunk has settled, so the
      // new decision never races chunks still in flight.
      for (let attempt = 1; ; attempt++) {
        const tx = build(store);
        if (tx === null) break;
        const chunks: Transaction[] = [tx];
        for (let i = 0; i < rest.length; i += this.maxChanges)
          chunks.push(rest.slice(i, i + this.maxChanges));
        // Every chunk settles before anything is decided again, even after a failure.
        const settled = await Promise.allSettled(chunks.map((c) => writer.submit(c)));
        const outcomes = [];
        for (const r of settled) {
          if (r.status === 'rejected') throw r.reason;
          outcomes.push(r.value);
        }
        const refused = outcomes.filter((o) => !o.ok);
        if (refused.length === 0) break;
        const conflict = refused.some((o) => o.code === 'conflict');
        if (conflict && chunks.length === 1 && attempt < 5) continue;
        for (const o of refused) {
          this.deps.log?.(`orchestrator: service ${id}: ${o.code}: ${o.message}`);
        }
        // A conflict that outlived the retries means a busy service: go round again. Other
        // refusals (the service deleted under us) come back as events of their own.
        if (conflict) this.retry(id, signal);
        break;
      }
    } catch (e) {
      // Not replicated (lost leadership, stopped): its fate is unknown, so re-read and decide again.
      this.deps.log?.(`orchestrator: service ${id}: write failed: ${String(e)}`);
      this.retryLater(id, this.retryMs, signal);
      return;
    }
    if (later !== undefined) this.retryLater(id, Math.max(0, later - clock.now()), signal);
  }

  /** The actions for one service as the store stands; a deleted service's tasks are shut down. */
  private decide(s: MemoryStore, id: ServiceId, now: number): Action[] {
    const tasks = s.find('task', { serviceId: id });
    const service = s.get('service', id);
    if (service === undefined) {
      // Live ones are shut down; finished ones (their history) go: the store caps history per
      // slot only while the service exists. A task told to stop and still stopping waits.
      return tasks.flatMap((t): Action[] => {
        if (!isLive(t)) return [{ type: 'delete-task', taskId: t.meta.id }];
        if (!wantsRun(t)) return [];
        const markShutdown = neverAssigned(t);
        return [
          { type: 'shutdown-task', taskId: t.meta.id, reason: 'service removed', markShutdown },
        ];
      });
    }
    const networkIds: NetworkId[] = [];
    for (const name of service.spec.networks) {
      const n = s.find('network', { name })[0];
      if (n !== undefined) networkIds.push(n.meta.id);
    }
    const rdeps = { newId: this.deps.newId, networkIds };
    return service.spec.mode.type === 'global'
      ? reconcileGlobal(service, tasks, s.list('node'), now, rdeps)
      : reconcileReplicated(service, tasks, now, rdeps, drainedNodes(s));
  }

  private retry(id: ServiceId, signal: AbortSignal): void {
    if (signal.aborted) return;
    this.dirty.add(id);
    this.kick();
  }

  private retryLater(id: ServiceId, ms: number, signal: AbortSignal): void {
    if (signal.aborted) return;
    const at = this.deps.clock.now() + ms;
    const existing = this.timers.get(id);
    if (existing !== undefined) {
      if (existing.at <= at) return;
      existing.cancel();
    }
    const cancel = this.deps.clock.setTimer(ms, () => {
      this.timers.delete(id);
      this.retry(id, signal);
    });
    this.timers.set(id, { at, cancel });
  }
}

const drainedNodes = (s: MemoryStore): Set<NodeId> => {
  const out = new Set<NodeId>();
  for (const n of s.list('node'))
    if (n.spec.availability === NodeAvailability.Drain) out.add(n.meta.id);
  return out;
};

const deleteChange = (s: MemoryStore, taskId: TaskId): Change | null => {
  const t = s.get('task', taskId);
  return t === undefined
    ? null
    : { op: 'delete', kind: 'task', id: taskId, version: t.meta.version };
};

/** desiredState → shutdown; a task no agent ever saw is also marked shut down (actions.ts). */
const shutdownChange = (
  s: MemoryStore,
  taskId: TaskId,
  reason: string,
  markShutdown: boolean,
  now: number,
): Change | null => {
  const t: Task | undefined = s.get('task', taskId);
  if (t === undefined) return null;
  const set: TaskPatch = {
    desiredState: TaskState.Shutdown,
    ...(markShutdown && isLive(t)
      ? { status: { state: TaskState.Shutdown, timestamp: now, message: reason } }
      : {}),
  };
  return { op: 'patch', kind: 'task', id: taskId, version: t.meta.version, set };
};
