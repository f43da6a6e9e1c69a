// The store's vocabulary: which object each kind holds, the changes a transaction is made of, the
// outcome of applying one, the events watchers see, and the typed errors. No behaviour here.
import type {
  Cluster,
  Network,
  Node,
  NodeId,
  ObjectKind,
  Service,
  ServiceId,
  StoredObject,
  Task,
  TaskState,
  TaskStatus,
} from '../../common/model.js';

export interface ObjectsByKind {
  readonly cluster: Cluster;
  readonly node: Node;
  readonly service: Service;
  readonly task: Task;
  readonly network: Network;
}
export type AnyObject = ObjectsByKind[ObjectKind];

export const objectKinds: readonly ObjectKind[] = ['cluster', 'node', 'service', 'task', 'network'];

/**
 * The fields of a task that change as it moves through its life (the scheduler places it, its
 * agent reports on it, the orchestrator shuts it down): a `patch` carries only these.
 */
export interface TaskPatch {
  readonly status?: TaskStatus;
  readonly nodeId?: NodeId;
  readonly desiredState?: TaskState;
}

/**
 * One write. `update` carries the version it read (`object.meta.version`); `delete` and `patch`
 * carry it explicitly. A create's `meta.version`, `createdAt` and `updatedAt` are ignored: the
 * store sets them. A `patch` is an update of a task's TaskPatch fields that does not carry the
 * rest of the task: a status report is ~200 bytes in the log instead of ~650; every manager
 * applies it to the same previous task, and watchers see an ordinary update.
 */
export type Change =
  | {
      [K in ObjectKind]: {
        readonly op: 'create';
        readonly kind: K;
        readonly object: ObjectsByKind[K];
      };
    }[ObjectKind]
  | {
      [K in ObjectKind]: {
        readonly op: 'update';
        readonly kind: K;
        readonly object: ObjectsByKind[K];
      };
    }[ObjectKind]
  | {
      readonly op: 'delete';
      readonly kind: ObjectKind;
      readonly id: string;
      readonly version: number;
    }
  | {
      readonly op: 'patch';
      readonly kind: 'task';
      readonly id: string;
      readonly version: number;
      readonly set: TaskPatch;
    };

/** All-or-nothing: every change applies, or none does. */
export type Transaction = readonly Change[];

export const RefusalCode = {
  Conflict: 'conflict',
  Exists: 'exists',
  NotFound: 'not-found',
  Invalid: 'invalid',
} as const;
export type RefusalCode = (typeof RefusalCode)[keyof typeof RefusalCode];

export type TransactionOutcome =
  | {
      readonly ok: true;
      /** The version the objects were written at (the Raft index of the entry). */
      readonly version: number;
      /** One per change, in order: the object as stored (for a delete, as it was last stored). */
      readonly objects: readonly StoredObject[];
    }
  | {
      readonly ok: false;
      readonly code: RefusalCode;
      readonly message: string;
      /** Index of the change that was refused. */
      readonly change: number;
    };

export type StoreEvent = StoredObject & {
  readonly type: 'create' | 'update' | 'delete';
  /** The version of the write (for a delete, the index of the entry that deleted it). */
  readonly version: number;
};

/** Lookups; all given fields must match. Only `name` applies to every kind, the rest to tasks. */
export interface FindBy {
  readonly name?: string;
  readonly serviceId?: ServiceId;
  readonly nodeId?: NodeId;
  readonly slot?: number;
  readonly desiredState?: TaskState;
}

/** The watcher must re-read the store (`list`) and watch again from its `version`. */
export class WatchResetError extends Error {
  readonly code: 'watch-compacted' | 'watch-overflow' | 'watch-restored';
  /** The store's version when the error was raised. */
  readonly version: number;
  constructor(code: WatchResetError['code'], version: number, message: string) {
    super(message);
    this.name = 'WatchResetError';
    this.code = code;
    this.version = version;
  }
}

/** The proposer's apply result was not the store's: a broken invariant, not a refusal. */
export class StoreApplyError extends Error {
  readonly code = 'store-apply';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StoreApplyError';
  }
}
