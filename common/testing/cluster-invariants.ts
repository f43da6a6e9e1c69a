// Cluster invariants checked over a history of store events (as the control API's Watch delivers
// them), for process tests and benchmarks: no slot ever holds two live tasks the managers both want
// running (but for a start-first replacement: two of different spec versions), every pending task
// says why, no acknowledged write is missing from the history, and —
// when asked at a quiet point — each replicated service runs exactly its replica count.
// Pure: the checker only folds the events it is given; callers decide when to ask. A watch resumed
// (on another manager) from `resumeFrom` may replay the current version's events: they are skipped.

import {
  isTerminal,
  TaskState,
  taskStateRank,
  type ObjectId,
  type ObjectKind,
  type Service,
  type ServiceId,
  type StoredObject,
  type Task,
  type TaskId,
} from '../model.js';

/** One store event: the object as written (for a delete, as last stored) at `version`. */
export type HistoryEvent = StoredObject & {
  readonly type: 'create' | 'update' | 'delete';
  readonly version: number;
};

export const ViolationCode = {
  /**
   * Two live tasks of one slot (or one global service on one node) both desired running — except
   * a start-first service's old task beside its replacement: at most two, of different spec versions.
   */
  DuplicateSlot: 'duplicate-slot',
  PendingWithoutReason: 'pending-without-reason',
  /** An acknowledged write has no event at its version in the history. */
  LostWrite: 'lost-write',
  /** Events went back in version: the history is not the store's order. */
  VersionRegressed: 'version-regressed',
  /** At a quiet point, running tasks of a replicated service differ from its replica count. */
  NotConverged: 'not-converged',
} as const;
export type ViolationCode = (typeof ViolationCode)[keyof typeof ViolationCode];

export interface Violation {
  readonly code: ViolationCode;
  /** The store version at which it was seen. */
  readonly version: number;
  readonly message: string;
  readonly taskIds: readonly TaskId[];
}

/** A write the control API acknowledged: after `version` the object's event must be in the history. */
export interface AcknowledgedWrite {
  readonly kind: ObjectKind;
  readonly id: ObjectId;
  /** The version the API answered with (the object's meta.version, or the delete's index). */
  readonly version: number;
  readonly op: 'write' | 'delete';
}

/** Live (not terminal) and wanted running: it holds its slot. */
const holdsSlot = (t: Task): boolean =>
  !isTerminal(t.status.state) && taskStateRank(t.desiredState) <= taskStateRank(TaskState.Running);

const slotKey = (t: Task): string | undefined => {
  if (t.slot !== undefined) return `${t.serviceId}#${String(t.slot)}`;
  if (t.nodeId !== undefined) return `${t.serviceId}@${t.nodeId}`;
  // A global task not yet bound to a node has no slot to collide in.
  return undefined;
};

/**
 * Folds store events in order. Slot checks run at version boundaries (one transaction's events
 * share a version and may shut one task down and create its replacement in either order).
 */
export class ClusterHistory {
  readonly #tasks = new Map<TaskId, Task>();
  readonly #services = new Map<ServiceId, Service>();
  /** `${kind}/${id}` → versions at which the history has an event for it. */
  readonly #seen = new Map<string, Set<number>>();
  readonly #violations: Violation[] = [];
  /** Slot keys already reported, so one long-lived duplicate is one violation. */
  readonly #reportedSlots = new Set<string>();
  /** Slot key → live tasks desired running in it, kept as events arrive. */
  readonly #holders = new Map<string, Set<TaskId>>();
  /** Slots whose holders changed since the last version boundary. */
  readonly #touched = new Set<string>();
  /** `${type}/${kind}/${id}` of the events seen at the current version, to skip a replay. */
  readonly #atVersion = new Set<string>();
  #version = 0;
  #events = 0;
  #replayed = 0;

  /** `initial`: objects already in the store when the history starts (e.g. from a List at `version`). */
  constructor(
    initial: { readonly version: number; readonly objects: readonly StoredObject[] } = {
      version: 0,
      objects: [],
    },
  ) {
    this.#version = initial.version;
    for (const o of initial.objects) this.#put(o);
  }

  get version(): number {
    return this.#version;
  }

  /** Events folded in (replayed ones not counted). */
  get eventCount(): number {
    return this.#events;
  }

  /** Events skipped as replays of ones already seen at the current version. */
  get replayedCount(): number {
    return this.#replayed;
  }

  /**
   * Where a resumed watch must start (its events are those *after* this version): just before the
   * current version, whose events a killed stream may have delivered only in part. One store write's
   * events share a version and name each object at most once per event type, so the replayed ones
   * are recognised and skipped.
   */
  get resumeFrom(): number {
    return Math.max(0, this.#version - 1);
  }

  get tasks(): ReadonlyMap<TaskId, Task> {
    return this.#tasks;
  }

  get services(): ReadonlyMap<ServiceId, Service> {
    return this.#services;
  }

  observe(event: HistoryEvent): void {
    const eventKey = `${event.type}/${event.kind}/${event.object.meta.id}`;
    if (event.version === this.#version && this.#atVersion.has(eventKey)) {
      this.#replayed++;
      return;
    }
    this.#events++;
    if (event.version < this.#version) {
      this.#violations.push({
        code: ViolationCode.VersionRegressed,
        version: event.version,
        message: `event at version ${event.version} after version ${this.#version}`,
        taskIds: event.kind === 'task' ? [event.object.meta.id] : [],
      });
    } else if (event.version > this.#version) {
      this.#checkSlots();
      this.#version = event.version;
      this.#atVersion.clear();
    }
    if (event.version === this.#version) this.#atVersion.add(eventKey);
    const key = `${event.kind}/${event.object.meta.id}`;
    let versions = this.#seen.get(key);
    if (versions === undefined) this.#seen.set(key, (versions = new Set()));
    versions.add(event.version);
    if (event.type === 'delete') {
      if (event.kind === 'task') this.#removeTask(event.object.meta.id);
      if (event.kind === 'service') this.#services.delete(event.object.meta.id);
    } else {
      this.#put(event);
    }
    if (event.kind === 'task') {
      const t = event.object;
      if (event.type !== 'delete' && t.status.state === TaskState.Pending) {
        if (t.status.message.trim() === '') {
          this.#violations.push({
            code: ViolationCode.PendingWithoutReason,
            version: event.version,
            message: `task ${t.meta.name} is pending with no reason`,
            taskIds: [t.meta.id],
          });
        }
      }
    }
  }

  /** Checks the last version's slots too (call at the end of a history). */
  flush(): void {
    this.#checkSlots();
  }

  /** Every violation so far (flushes first). */
  violations(): readonly Violation[] {
    this.flush();
    return [...this.#violations];
  }

  /** LostWrite violations for acknowledged writes the history lacks. */
  checkAcknowledged(writes: readonly AcknowledgedWrite[]): Violation[] {
    const out: Violation[] = [];
    for (const w of writes) {
      if (w.version > this.#version) continue; // the history has not reached it yet
      if (this.#seen.get(`${w.kind}/${w.id}`)?.has(w.version) === true) continue;
      out.push({
        code: ViolationCode.LostWrite,
        version: w.version,
        message: `acknowledged ${w.op} of ${w.kind} ${w.id} at version ${w.version} is not in the history (history at ${this.#version})`,
        taskIds: w.kind === 'task' ? [w.id as TaskId] : [],
      });
    }
    return out;
  }

  /**
   * NotConverged violations: for each replicated service, the tasks desired running and reported
   * running must number exactly its replicas. Meant for a quiet point, not mid-change.
   */
  checkConverged(): Violation[] {
    const running = new Map<ServiceId, TaskId[]>();
    for (const t of this.#tasks.values()) {
      if (t.desiredState !== TaskState.Running || t.status.state !== TaskState.Running) continue;
      const ids = running.get(t.serviceId) ?? [];
      ids.push(t.meta.id);
      running.set(t.serviceId, ids);
    }
    const out: Violation[] = [];
    for (const s of this.#services.values()) {
      if (s.spec.mode.type !== 'replicated') continue;
      const ids = running.get(s.meta.id) ?? [];
      if (ids.length === s.spec.mode.replicas) continue;
      out.push({
        code: ViolationCode.NotConverged,
        version: this.#version,
        message: `service ${s.meta.name}: ${ids.length} running, ${s.spec.mode.replicas} desired`,
        taskIds: ids,
      });
    }
    return out;
  }

  /** Running (and desired running) tasks per replicated service name, for progress and tests. */
  runningCount(serviceId: ServiceId): number {
    let n = 0;
    for (const t of this.#tasks.values()) {
      if (
        t.serviceId === serviceId &&
        t.desiredState === TaskState.Running &&
        t.status.state === TaskState.Running
      ) {
        n++;
      }
    }
    return n;
  }

  #put(o: StoredObject): void {
    if (o.kind === 'service') this.#services.set(o.object.meta.id, o.object);
    if (o.kind !== 'task') return;
    const t = o.object;
    this.#removeTask(t.meta.id);
    this.#tasks.set(t.meta.id, t);
    const key = slotKey(t);
    if (key === undefined || !holdsSlot(t)) return;
    let ids = this.#holders.get(key);
    if (ids === undefined) this.#holders.set(key, (ids = new Set()));
    ids.add(t.meta.id);
    this.#touched.add(key);
  }

  #removeTask(id: TaskId): void {
    const prev = this.#tasks.get(id);
    if (prev === undefined) return;
    this.#tasks.delete(id);
    const key = slotKey(prev);
    if (key === undefined) return;
    const ids = this.#holders.get(key);
    if (ids?.delete(id) !== true) return;
    if (ids.size === 0) this.#holders.delete(key);
    this.#touched.add(key);
  }

  #checkSlots(): void {
    for (const key of this.#touched) {
      const ids = this.#holders.get(key);
      if (ids === undefined || ids.size < 2 || this.#startFirstPair(ids)) {
        this.#reportedSlots.delete(key);
        continue;
      }
      if (this.#reportedSlots.has(key)) continue;
      this.#reportedSlots.add(key);
      this.#violations.push({
        code: ViolationCode.DuplicateSlot,
        version: this.#version,
        message: `slot ${key} has ${ids.size} live tasks desired running`,
        taskIds: [...ids].sort(),
      });
    }
    this.#touched.clear();
  }

  /**
   * A start-first replacement in flight: two holders of different spec versions of a service
   * updated start-first (docs/orchestrator.md: the old task goes once its replacement runs).
   */
  #startFirstPair(ids: ReadonlySet<TaskId>): boolean {
    if (ids.size !== 2) return false;
    const [a, b] = [...ids].map((id) => this.#tasks.get(id)!);
    if (a === undefined || b === undefined || a.specVersion === b.specVersion) return false;
    return this.#services.get(a.serviceId)?.spec.update.order === 'start-first';
  }
}

/** The whole check over a finished history: every violation, lost writes included. */
export function checkHistory(
  events: readonly HistoryEvent[],
  options: {
    readonly initial?: { readonly version: number; readonly objects: readonly StoredObject[] };
    readonly acknowledged?: readonly AcknowledgedWrite[];
    /** The history ends at a quiet point: also check that replicated services converged. */
    readonly converged?: boolean;
  } = {},
): Violation[] {
  const h = new ClusterHistory(options.initial);
  for (const e of events) h.observe(e);
  return [
    ...h.violations(),
    ...h.checkAcknowledged(options.acknowledged ?? []),
    ...(options.converged === true ? h.checkConverged() : []),
  ];
}
