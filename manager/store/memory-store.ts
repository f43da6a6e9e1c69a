// The managers' replicated object store: every Cluster, Node, Service, Task and Network in memory
// with its indexes, changed only by applying committed Raft entries (it is the Raft state
// machine). Every check (versions, unique names, existence, forward-only task state, references)
// runs at apply time, so every manager reaches the same decision; the task history cap is applied
// in the same step for the same reason. Reads are synchronous: everything read in one turn of the
// event loop sees one applied version, and stored objects are replaced, never mutated.
import {
  canMoveTo,
  defaultClusterSpec,
  isTerminal,
  taskStateRank,
  type ObjectKind,
  type StoredObject,
  type Task,
  type TaskId,
} from '../../common/model.js';
import { jsonEqual } from '../../common/json-equal.js';
import type { Entry } from '../raft/core/index.js';
import type { StateMachine } from '../raft/node.js';
import {
  SNAPSHOT_FORMAT,
  canonicalJson,
  decodeBatch,
  decodeText,
  encodeText,
  type Batch,
} from './codec.js';
import {
  objectKinds,
  type AnyObject,
  type Change,
  type FindBy,
  type ObjectsByKind,
  type RefusalCode,
  type StoreEvent,
  type TaskPatch,
  type Transaction,
  type TransactionOutcome,
} from './types.js';
import { EventHub, type WatchOptions } from './watch.js';

export interface MemoryStoreOptions {
  /** Events kept for watchers resuming from a version. Default 10,000. */
  readonly maxEventLog?: number;
  /** Events queued for one watcher before it is cut off. Default 100,000. */
  readonly maxWatchQueue?: number;
}

class Refusal extends Error {
  readonly code: RefusalCode;
  constructor(code: RefusalCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** One step of a transaction, undone in reverse order when a later change is refused. */
type Undo = { readonly kind: ObjectKind; readonly prev: AnyObject | null; readonly id: string };

const slotKey = (t: Task): string | null => {
  if (t.slot !== undefined) return `${t.serviceId}\u0000s${t.slot}`;
  if (t.nodeId !== undefined) return `${t.serviceId}\u0000n${t.nodeId}`;
  return null;
};

const addTo = <K, V>(m: Map<K, Set<V>>, k: K, v: V): void => {
  let s = m.get(k);
  if (s === undefined) m.set(k, (s = new Set()));
  s.add(v);
};
const removeFrom = <K, V>(m: Map<K, Set<V>>, k: K, v: V): void => {
  const s = m.get(k);
  if (s === undefined) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
};

export class MemoryStore implements StateMachine<readonly TransactionOutcome[]> {
  private readonly byId = new Map<ObjectKind, Map<string, AnyObject>>();
  private readonly byName = new Map<ObjectKind, Map<string, string>>();
  private readonly tasksByService = new Map<string, Set<TaskId>>();
  private readonly tasksByNode = new Map<string, Set<TaskId>>();
  /** (service, slot) for replicated tasks, (service, node) for global ones. */
  private readonly tasksBySlot = new Map<string, Set<TaskId>>();
  private readonly tasksByDesired = new Map<string, Set<TaskId>>();
  private readonly hub: EventHub;
  private currentVersion = 0;

  constructor(opts: MemoryStoreOptions = {}) {
    for (const k of objectKinds) {
      this.byId.set(k, new Map());
      this.byName.set(k, new Map());
    }
    this.hub = new EventHub({
      ...(opts.maxEventLog !== undefined ? { maxLog: opts.maxEventLog } : {}),
      ...(opts.maxWatchQueue !== undefined ? { maxQueue: opts.maxWatchQueue } : {}),
    });
  }

  // ---- reads ----------------------------------------------------------------------------------

  /** The Raft index of the last entry that wrote to the store (0 when empty). */
  get version(): number {
    return this.currentVersion;
  }

  get<K extends ObjectKind>(kind: K, id: string): ObjectsByKind[K] | undefined {
    return this.table(kind).get(id) as ObjectsByKind[K] | undefined;
  }

  list<K extends ObjectKind>(kind: K): ObjectsByKind[K][] {
    return [...this.table(kind).values()] as ObjectsByKind[K][];
  }

  count(kind: ObjectKind): number {
    return this.table(kind).size;
  }

  /** Objects matching every given field, through the most selective index. Order unspecified. */
  find<K extends ObjectKind>(kind: K, by: FindBy): ObjectsByKind[K][] {
    const table = this.table(kind);
    if (by.name !== undefined) {
      const id = this.byName.get(kind)!.get(by.name);
      const o = id === undefined ? undefined : table.get(id);
      return o !== undefined && this.matches(kind, o, by) ? [o as ObjectsByKind[K]] : [];
    }
    const taskFields =
      by.serviceId !== undefined ||
      by.nodeId !== undefined ||
      by.slot !== undefined ||
      by.desiredState !== undefined;
    if (!taskFields) return this.list(kind);
    if (kind !== 'task') return [];
    let ids: ReadonlySet<TaskId> | undefined;
    if (by.serviceId !== undefined && by.slot !== undefined) {
      ids = this.tasksBySlot.get(`${by.serviceId}\u0000s${by.slot}`);
    } else if (by.nodeId !== undefined) ids = this.tasksByNode.get(by.nodeId);
    else if (by.serviceId !== undefined) ids = this.tasksByService.get(by.serviceId);
    else if (by.desiredState !== undefined) ids = this.tasksByDesired.get(by.desiredState);
    else return this.list(kind).filter((o) => this.matches(kind, o, by));
    const out: ObjectsByKind[K][] = [];
    for (const id of ids ?? []) {
      const o = table.get(id)!;
      if (this.matches(kind, o, by)) out.push(o as ObjectsByKind[K]);
    }
    return out;
  }

  /**
   * Events after `fromVersion` (default: now). Read the store and take `version` in the same
   * synchronous turn to watch from exactly what was read. Throws WatchResetError when the version
   * is older than the event log; the iterator throws it when the watcher falls too far behind or
   * the store is restored from a snapshot; it ends when the signal aborts.
   */
  watch(opts: WatchOptions): AsyncIterable<StoreEvent> {
    return this.hub.watch(opts);
  }

  /** watch(), a burst of events at a time (EventHub.watchBatches). */
  watchBatches(opts: WatchOptions): AsyncIterable<readonly StoreEvent[]> {
    return this.hub.watchBatches(opts);
  }

  get watcherCount(): number {
    return this.hub.watcherCount;
  }

  // ---- writes ---------------------------------------------------------------------------------

  /** The Raft state machine's apply: one outcome per transaction of the entry's batch. */
  apply(entry: Entry): readonly TransactionOutcome[] {
    const batch = decodeBatch(entry.data);
    // Not a store entry: every manager ignores it alike (the proposer gets no outcomes).
    if (batch === null) return [];
    return this.applyBatch(batch, entry.index);
  }

  applyBatch(batch: Batch, index: number): readonly TransactionOutcome[] {
    return batch.txs.map((tx) => this.applyTransaction(tx, index, batch.now));
  }

  /** All-or-nothing. Written objects get `meta.version = index` and timestamps from `now`. */
  applyTransaction(tx: Transaction, index: number, now: number): TransactionOutcome {
    if (index < this.currentVersion) {
      throw new Error(`store apply out of order: index ${index} after ${this.currentVersion}`);
    }
    const undo: Undo[] = [];
    const events: StoreEvent[] = [];
    const objects: StoredObject[] = [];
    const seen = new Set<string>();
    let at = 0;
    try {
      for (; at < tx.length; at++) {
        const c = tx[at]!;
        const id = changeId(c);
        if (typeof id !== 'string' || id === '') throw new Refusal('invalid', 'missing object id');
        if (!objectKinds.includes(c.kind)) throw new Refusal('invalid', `unknown kind ${c.kind}`);
        const key = `${c.kind}\u0000${id}`;
        if (seen.has(key)) throw new Refusal('invalid', `${c.kind} ${id} changed twice`);
        seen.add(key);
        const ev = this.applyChange(c, id, index, now, undo);
        events.push(ev);
        objects.push({ kind: ev.kind, object: ev.object } as StoredObject);
      }
      at = -1;
      this.capTaskHistory(events, index, undo);
    } catch (e) {
      for (let i = undo.length - 1; i >= 0; i--)
        this.put(undo[i]!.kind, undo[i]!.id, undo[i]!.prev);
      // Anything else is a malformed change (a TypeError on a missing field): refusing it is as
      // deterministic as a Refusal, while throwing would stop every manager on the same entry,
      // again on every replay.
      const code = e instanceof Refusal ? e.code : 'invalid';
      const message = e instanceof Error ? e.message : String(e);
      return { ok: false, code, message, change: Math.max(at, 0) };
    }
    this.currentVersion = index;
    this.hub.publish(events, index);
    return { ok: true, version: index, objects };
  }

  private applyChange(c: Change, id: string, index: number, now: number, undo: Undo[]): StoreEvent {
    const table = this.table(c.kind);
    const prev = table.get(id) ?? null;
    if (c.op === 'patch') {
      // Typed as a task, but the log is input: refuse anything else the same way everywhere.
      if ((c.kind as string) !== 'task') throw new Refusal('invalid', 'only tasks are patched');
      if (prev === null) throw new Refusal('not-found', `task ${id} not found`);
      if (prev.meta.version !== c.version) {
        throw new Refusal(
          'conflict',
          `task ${id} is at version ${prev.meta.version}, not ${c.version}`,
        );
      }
      const object = patched(prev as Task, c.set);
      return this.applyChange({ op: 'update', kind: 'task', object }, id, index, now, undo);
    }
    if (c.op === 'delete') {
      if (prev === null) throw new Refusal('not-found', `${c.kind} ${id} not found`);
      if (prev.meta.version !== c.version) {
        throw new Refusal(
          'conflict',
          `${c.kind} ${id} is at version ${prev.meta.version}, not ${c.version}`,
        );
      }
      undo.push({ kind: c.kind, id, prev });
      this.put(c.kind, id, null);
      return { type: 'delete', kind: c.kind, object: prev, version: index } as StoreEvent;
    }
    const o = c.object;
    if (typeof o.meta.name !== 'string' || o.meta.name === '') {
      throw new Refusal('invalid', `${c.kind} ${id} has no name`);
    }
    const holder = this.byName.get(c.kind)!.get(o.meta.name);
    if (holder !== undefined && holder !== id) {
      throw new Refusal('exists', `${c.kind} name ${o.meta.name} is taken by ${holder}`);
    }
    if (c.op === 'create') {
      if (prev !== null) throw new Refusal('exists', `${c.kind} ${id} exists`);
      if (c.kind === 'task' && this.table('service').get(c.object.serviceId) === undefined) {
        throw new Refusal('not-found', `task ${id}: service ${c.object.serviceId} not found`);
      }
    } else {
      if (prev === null) throw new Refusal('not-found', `${c.kind} ${id} not found`);
      if (prev.meta.version !== o.meta.version) {
        throw new Refusal(
          'conflict',
          `${c.kind} ${id} is at version ${prev.meta.version}, not ${o.meta.version}`,
        );
      }
      if (c.kind === 'task') checkTaskUpdate(prev as Task, c.object);
    }
    // Frozen (shallowly; the types make the rest readonly) so a reader can never change what
    // every other reader sees.
    const stored = Object.freeze({
      ...o,
      meta: Object.freeze({
        ...o.meta,
        version: index,
        createdAt: prev === null ? now : prev.meta.createdAt,
        updatedAt: now,
      }),
    }) as AnyObject;
    undo.push({ kind: c.kind, id, prev });
    this.put(c.kind, id, stored);
    return {
      type: c.op,
      kind: c.kind,
      object: stored,
      version: index,
    } as StoreEvent;
  }

  /**
   * Keeps at most `taskHistoryPerSlot` finished tasks (observed and desired state both terminal)
   * in every slot this write touched, deleting the oldest (createdAt, then id) in the same write.
   */
  private capTaskHistory(events: StoreEvent[], index: number, undo: Undo[]): void {
    const slots = new Set<string>();
    for (const e of events) {
      if (e.kind !== 'task' || e.type === 'delete') continue;
      const k = slotKey(e.object);
      if (k !== null) slots.add(k);
    }
    if (slots.size === 0) return;
    const keep = this.clusterSpec().taskHistoryPerSlot;
    const tasks = this.table('task') as Map<string, Task>;
    for (const k of [...slots].sort()) {
      const finished: Task[] = [];
      for (const id of this.tasksBySlot.get(k) ?? []) {
        const t = tasks.get(id)!;
        if (isTerminal(t.status.state) && isTerminal(t.desiredState)) finished.push(t);
      }
      if (finished.length <= keep) continue;
      finished.sort(
        (a, b) =>
          a.meta.createdAt - b.meta.createdAt ||
          (a.meta.id < b.meta.id ? -1 : a.meta.id > b.meta.id ? 1 : 0),
      );
      for (const t of finished.slice(0, finished.length - keep)) {
        undo.push({ kind: 'task', id: t.meta.id, prev: t });
        this.put('task', t.meta.id, null);
        events.push({ type: 'delete', kind: 'task', object: t, version: index });
      }
    }
  }

  private clusterSpec(): typeof defaultClusterSpec {
    let best: AnyObject | undefined;
    for (const c of this.table('cluster').values())
      if (best === undefined || c.meta.id < best.meta.id) best = c;
    return best === undefined ? defaultClusterSpec : (best as ObjectsByKind['cluster']).spec;
  }

  // ---- snapshot -------------------------------------------------------------------------------

  /** Canonical JSON of every object, sorted by kind and id: equal states give equal bytes. */
  snapshot(): Uint8Array {
    const objects: Record<string, AnyObject[]> = {};
    for (const k of objectKinds) {
      objects[k] = [...this.table(k).values()].sort((a, b) =>
        a.meta.id < b.meta.id ? -1 : a.meta.id > b.meta.id ? 1 : 0,
      );
    }
    return encodeText(
      canonicalJson({ format: SNAPSHOT_FORMAT, version: this.currentVersion, objects }),
    );
  }

  /** Replaces the whole state; watchers get WatchResetError('watch-restored'). */
  restore(data: Uint8Array): void {
    for (const k of objectKinds) {
      this.byId.get(k)!.clear();
      this.byName.get(k)!.clear();
    }
    this.tasksByService.clear();
    this.tasksByNode.clear();
    this.tasksBySlot.clear();
    this.tasksByDesired.clear();
    this.currentVersion = 0;
    if (data.byteLength > 0) {
      const snap = JSON.parse(decodeText(data)) as {
        format: number;
        version: number;
        objects: Record<string, AnyObject[] | undefined>;
      };
      if (snap.format !== SNAPSHOT_FORMAT) {
        throw new Error(`store snapshot format ${snap.format} is not ${SNAPSHOT_FORMAT}`);
      }
      for (const k of objectKinds)
        for (const o of snap.objects[k] ?? []) {
          Object.freeze(o.meta);
          this.put(k, o.meta.id, Object.freeze(o));
        }
      this.currentVersion = snap.version;
    }
    this.hub.reset(this.currentVersion);
  }

  // ---- tables and indexes -----------------------------------------------------------------------

  private table(kind: ObjectKind): Map<string, AnyObject> {
    const t = this.byId.get(kind);
    if (t === undefined) throw new Refusal('invalid', `unknown kind ${kind}`);
    return t;
  }

  /** Sets (or with null removes) one object, keeping every index in step. */
  private put(kind: ObjectKind, id: string, next: AnyObject | null): void {
    const table = this.table(kind);
    const names = this.byName.get(kind)!;
    const prev = table.get(id);
    if (prev !== undefined) {
      names.delete(prev.meta.name);
      if (kind === 'task') this.unindexTask(prev as Task);
    }
    if (next === null) {
      table.delete(id);
      return;
    }
    table.set(id, next);
    names.set(next.meta.name, id);
    if (kind === 'task') this.indexTask(next as Task);
  }

  private indexTask(t: Task): void {
    addTo(this.tasksByService, t.serviceId, t.meta.id);
    if (t.nodeId !== undefined) addTo(this.tasksByNode, t.nodeId, t.meta.id);
    const k = slotKey(t);
    if (k !== null) addTo(this.tasksBySlot, k, t.meta.id);
    addTo(this.tasksByDesired, t.desiredState, t.meta.id);
  }

  private unindexTask(t: Task): void {
    removeFrom(this.tasksByService, t.serviceId, t.meta.id);
    if (t.nodeId !== undefined) removeFrom(this.tasksByNode, t.nodeId, t.meta.id);
    const k = slotKey(t);
    if (k !== null) removeFrom(this.tasksBySlot, k, t.meta.id);
    removeFrom(this.tasksByDesired, t.desiredState, t.meta.id);
  }

  private matches(kind: ObjectKind, o: AnyObject, by: FindBy): boolean {
    if (by.name !== undefined && o.meta.name !== by.name) return false;
    if (kind !== 'task') {
      return (
        by.serviceId === undefined &&
        by.nodeId === undefined &&
        by.slot === undefined &&
        by.desiredState === undefined
      );
    }
    const t = o as Task;
    return (
      (by.serviceId === undefined || t.serviceId === by.serviceId) &&
      (by.nodeId === undefined || t.nodeId === by.nodeId) &&
      (by.slot === undefined || t.slot === by.slot) &&
      (by.desiredState === undefined || t.desiredState === by.desiredState)
    );
  }
}

/** A task's identity and spec are immutable; its states only move forward. */
/** The id of the object a change writes (undefined when a malformed change has none). */
export const changeId = (c: Change): string | undefined =>
  c.op === 'delete' || c.op === 'patch' ? c.id : c.object?.meta?.id;

const patchFields: ReadonlySet<string> = new Set(
  Object.keys({ status: true, nodeId: true, desiredState: true } satisfies Record<
    keyof TaskPatch,
    true
  >),
);

/** The task as a patch leaves it; a field outside TaskPatch is refused (the log is input too). */
const patched = (prev: Task, set: TaskPatch): Task => {
  if (typeof set !== 'object' || set === null) throw new Refusal('invalid', 'patch without fields');
  for (const k of Object.keys(set)) {
    if (!patchFields.has(k))
      throw new Refusal('invalid', `task ${prev.meta.id}: cannot patch ${k}`);
  }
  return { ...prev, ...set };
};

const checkTaskUpdate = (prev: Task, next: Task): void => {
  const id = prev.meta.id;
  if (
    next.serviceId !== prev.serviceId ||
    next.slot !== prev.slot ||
    next.specVersion !== prev.specVersion ||
    !jsonEqual(next.spec, prev.spec)
  ) {
    throw new Refusal('invalid', `task ${id}: service, slot and spec are immutable`);
  }
  if (prev.nodeId !== undefined && next.nodeId !== prev.nodeId) {
    throw new Refusal('invalid', `task ${id}: already assigned to node ${prev.nodeId}`);
  }
  if (next.status.state !== prev.status.state && !canMoveTo(prev.status.state, next.status.state)) {
    throw new Refusal(
      'invalid',
      `task ${id}: state cannot move from ${prev.status.state} to ${next.status.state}`,
    );
  }
  if (taskStateRank(next.desiredState) < taskStateRank(prev.desiredState)) {
    throw new Refusal(
      'invalid',
      `task ${id}: desired state cannot move back from ${prev.desiredState} to ${next.desiredState}`,
    );
  }
};
