// The leader's log broker and stats table (proto/logs.proto, docs/agent.md "Logs and stats"):
// which agents listen for subscriptions, which CLI subscriptions are open and which nodes each
// still waits for, routing published lines to their subscriber, and the latest resource figures
// per task (memory only: lost with leadership, refilled by the next reports within seconds).

import {
  Metadata,
  status as grpcStatus,
  type sendUnaryData,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
} from '@grpc/grpc-js';
import type { NodeId, Task, TaskId } from '../../common/model.js';
import type * as pb from '../../proto/gen/logs.js';
import type { MemoryStore } from '../store/index.js';

/** Marks an UNAVAILABLE that means "not the leader" (the control API's key). */
export const NOT_LEADER_METADATA = 'x-tug-not-leader';
/** Names the leader's host:port on a not-leader answer (the dispatcher's key). */
export const LEADER_ADDRESS_METADATA = 'x-tug-leader-address';

/** Set on every refusal of the broker (value: its code), so a client tells them from transport failures. */
export const LOGS_ERROR_METADATA = 'x-tug-logs-error';

/** A refusal with a stable code; `toGrpc` is the one mapping to gRPC statuses. */
export class LogBrokerError extends Error {
  readonly code: 'not-leader' | 'not-found' | 'invalid' | 'node-gone' | 'leadership-lost';
  readonly leaderAddress: string;
  constructor(code: LogBrokerError['code'], message: string, leaderAddress = '') {
    super(message);
    this.name = 'LogBrokerError';
    this.code = code;
    this.leaderAddress = leaderAddress;
  }
}

export interface GrpcError {
  readonly code: grpcStatus;
  readonly details: string;
  readonly metadata: Metadata;
}

export const toGrpc = (e: unknown): GrpcError => {
  const metadata = new Metadata();
  if (e instanceof LogBrokerError) metadata.set(LOGS_ERROR_METADATA, e.code);
  if (!(e instanceof LogBrokerError)) {
    return {
      code: grpcStatus.INTERNAL,
      details: e instanceof Error ? e.message : String(e),
      metadata,
    };
  }
  if (e.code === 'not-leader' || e.code === 'leadership-lost') {
    metadata.set(NOT_LEADER_METADATA, 'true');
    if (e.leaderAddress !== '') metadata.set(LEADER_ADDRESS_METADATA, e.leaderAddress);
  }
  const code = {
    'not-leader': grpcStatus.UNAVAILABLE,
    'leadership-lost': grpcStatus.UNAVAILABLE,
    'node-gone': grpcStatus.UNAVAILABLE,
    'not-found': grpcStatus.NOT_FOUND,
    invalid: grpcStatus.INVALID_ARGUMENT,
  }[e.code];
  return { code, details: e.message, metadata };
};

export interface LogBrokerDeps {
  readonly store: MemoryStore;
  /** The leader's host:port ('' when unknown), for not-leader answers. */
  readonly leaderAddress?: () => string;
  readonly newId?: () => string;
  /** Figures older than this are not returned (the task stopped, or its node went silent). */
  readonly statsTtlMs?: number;
  readonly now?: () => number;
  readonly log?: (line: string) => void;
}

interface Listener {
  readonly nodeId: NodeId;
  readonly call: ServerWritableStream<
    pb.ListenSubscriptionsRequest,
    pb.ListenSubscriptionsResponse
  >;
}

interface Subscription {
  readonly id: string;
  readonly call: ServerWritableStream<pb.SubscribeLogsRequest, pb.SubscribeLogsResponse>;
  /** Nodes that have not said `done` yet, with their tasks. */
  readonly pending: Map<NodeId, readonly TaskId[]>;
  ended: boolean;
}

interface HeldStat {
  readonly stat: pb.TaskStat;
  readonly receivedMs: number;
}

let counter = 0;

export class LogBroker {
  private readonly deps: LogBrokerDeps;
  private readonly now: () => number;
  private active = false;
  private readonly listeners = new Map<NodeId, Listener>();
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly stats = new Map<TaskId, HeldStat>();

  constructor(deps: LogBrokerDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
  }

  /** Leader-only: serves while `signal` lasts, then ends every stream and forgets the figures. */
  async run(signal: AbortSignal): Promise<void> {
    this.active = true;
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else
        signal.addEventListener(
          'abort',
          () => {
            resolve();
          },
          { once: true },
        );
    });
    this.active = false;
    const lost = new LogBrokerError(
      'leadership-lost',
      'this manager stopped leading; run the command again',
      this.deps.leaderAddress?.() ?? '',
    );
    for (const s of [...this.subscriptions.values()]) this.finish(s, lost);
    for (const l of [...this.listeners.values()]) {
      this.listeners.delete(l.nodeId);
      if (!l.call.cancelled) l.call.emit('error', toGrpc(lost));
    }
    this.stats.clear();
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  private notLeader(): LogBrokerError {
    return new LogBrokerError(
      'not-leader',
      'this manager is not the leader',
      this.deps.leaderAddress?.() ?? '',
    );
  }

  private nodeName(id: NodeId): string {
    const n = this.deps.store.get('node', id);
    return n === undefined ? id : `${n.meta.name} (${id})`;
  }

  /** The agent-facing service. */
  agentService(): pb.LogBrokerServiceServer {
    return {
      listenSubscriptions: (call) => {
        this.listen(call);
      },
      publishLogs: (call, cb) => {
        this.publish(call, cb);
      },
      reportStats: (call, cb) => {
        if (!this.active) {
          cb(toGrpc(this.notLeader()));
          return;
        }
        const at = this.now();
        for (const s of call.request.stats) {
          this.stats.set(s.taskId as TaskId, {
            stat: { ...s, nodeId: call.request.nodeId },
            receivedMs: at,
          });
        }
        cb(null, {});
      },
    };
  }

  /** The CLI-facing service as served on the leader (followers relay to it: relay.ts). */
  logsService(): pb.LogsServiceServer {
    return {
      subscribeLogs: (call) => {
        this.subscribe(call);
      },
      taskStats: (call: ServerUnaryCall<pb.TaskStatsRequest, pb.TaskStatsResponse>, cb) => {
        if (!this.active) {
          cb(toGrpc(this.notLeader()));
          return;
        }
        cb(null, { stats: this.taskStats(call.request.taskIds) });
      },
    };
  }

  /** The latest figures of the given tasks (all when empty), fresh ones only. */
  taskStats(taskIds: readonly string[]): pb.TaskStat[] {
    const ttl = this.deps.statsTtlMs ?? 60_000;
    const at = this.now();
    for (const [id, h] of this.stats) if (at - h.receivedMs > ttl) this.stats.delete(id);
    const held =
      taskIds.length === 0
        ? [...this.stats.values()]
        : taskIds.flatMap((id) => {
            const h = this.stats.get(id as TaskId);
            return h === undefined ? [] : [h];
          });
    return held.map((h) => h.stat);
  }

  private listen(
    call: ServerWritableStream<pb.ListenSubscriptionsRequest, pb.ListenSubscriptionsResponse>,
  ): void {
    if (!this.active) {
      call.emit('error', toGrpc(this.notLeader()));
      return;
    }
    const nodeId = call.request.nodeId as NodeId;
    if (nodeId === '') {
      call.emit('error', toGrpc(new LogBrokerError('invalid', 'node_id is required')));
      return;
    }
    const previous = this.listeners.get(nodeId);
    const me: Listener = { nodeId, call };
    this.listeners.set(nodeId, me);
    // A reconnecting agent replaces its old stream; subscriptions sent on it may never have
    // arrived, so they end with an error rather than wait for lines that will not come.
    if (previous !== undefined) {
      this.nodeGone(nodeId);
      if (!previous.call.cancelled) previous.call.end();
    }
    call.sendMetadata(new Metadata());
    const gone = (): void => {
      if (this.listeners.get(nodeId) !== me) return;
      this.listeners.delete(nodeId);
      this.nodeGone(nodeId);
    };
    call.on('cancelled', gone);
    call.on('error', gone);
  }

  private nodeGone(nodeId: NodeId): void {
    for (const s of [...this.subscriptions.values()]) {
      const tasks = s.pending.get(nodeId);
      if (tasks === undefined) continue;
      this.finish(
        s,
        new LogBrokerError(
          'node-gone',
          `node ${this.nodeName(nodeId)} disconnected while sending logs of task ${tasks.join(', ')}; run the command again once it is back`,
        ),
      );
    }
  }

  private subscribe(
    call: ServerWritableStream<pb.SubscribeLogsRequest, pb.SubscribeLogsResponse>,
  ): void {
    if (!this.active) {
      call.emit('error', toGrpc(this.notLeader()));
      return;
    }
    let tasks: Task[];
    try {
      tasks = this.resolve(call.request);
    } catch (e) {
      call.emit('error', toGrpc(e));
      return;
    }
    const byNode = new Map<NodeId, TaskId[]>();
    for (const t of tasks) {
      if (t.nodeId === undefined) continue;
      const list = byNode.get(t.nodeId) ?? [];
      list.push(t.meta.id);
      byNode.set(t.nodeId, list);
    }
    const id = this.deps.newId?.() ?? `sub-${this.now()}-${++counter}`;
    const sub: Subscription = { id, call, pending: new Map(), ended: false };
    const options: pb.LogOptions = call.request.options ?? {
      follow: false,
      tail: 0,
      hasTail: false,
      sinceMs: 0,
    };
    call.sendMetadata(new Metadata());
    const notices: string[] = [];
    for (const [nodeId, ids] of byNode) {
      if (this.listeners.has(nodeId)) sub.pending.set(nodeId, ids);
      else
        notices.push(
          `node ${this.nodeName(nodeId)} is not connected: no logs of task ${ids.join(', ')}`,
        );
    }
    if (byNode.size === 0) notices.push('no task has been placed on a node yet');
    for (const n of notices) call.write({ messages: [], notice: n });
    if (sub.pending.size === 0) {
      call.end();
      return;
    }
    this.subscriptions.set(id, sub);
    call.on('cancelled', () => {
      this.finish(sub, undefined);
    });
    for (const [nodeId, ids] of sub.pending) {
      this.listeners.get(nodeId)!.call.write({ id, taskIds: [...ids], options, close: false });
    }
  }

  private resolve(r: pb.SubscribeLogsRequest): Task[] {
    const store = this.deps.store;
    if (r.service !== '') {
      const s = store.get('service', r.service) ?? store.find('service', { name: r.service })[0];
      if (s !== undefined) return store.find('task', { serviceId: s.meta.id });
      const t = store.get('task', r.service) ?? store.find('task', { name: r.service })[0];
      if (t !== undefined) return [t];
      throw new LogBrokerError('not-found', `no service or task "${r.service}"`);
    }
    if (r.taskIds.length === 0) {
      throw new LogBrokerError('invalid', 'name a service or at least one task');
    }
    return r.taskIds.map((id) => {
      const t = store.get('task', id);
      if (t === undefined) throw new LogBrokerError('not-found', `no task "${id}"`);
      return t;
    });
  }

  /** Ends a subscription: OK when `error` is undefined; tells agents still sending to stop. */
  private finish(s: Subscription, error: LogBrokerError | undefined): void {
    if (s.ended) return;
    s.ended = true;
    this.subscriptions.delete(s.id);
    for (const nodeId of s.pending.keys()) {
      const l = this.listeners.get(nodeId);
      if (l !== undefined && !l.call.cancelled) {
        l.call.write({ id: s.id, taskIds: [], options: undefined, close: true });
      }
    }
    s.pending.clear();
    if (s.call.cancelled) return;
    if (error === undefined) s.call.end();
    else s.call.emit('error', toGrpc(error));
  }

  private publish(
    call: ServerReadableStream<pb.PublishLogsRequest, pb.PublishLogsResponse>,
    cb: sendUnaryData<pb.PublishLogsResponse>,
  ): void {
    if (!this.active) {
      cb(toGrpc(this.notLeader()));
      return;
    }
    let subId = '';
    let nodeId = '' as NodeId;
    let done = false;
    call.on('data', (r: pb.PublishLogsRequest) => {
      subId = r.subscriptionId;
      nodeId = r.nodeId as NodeId;
      const s = this.subscriptions.get(subId);
      if (s === undefined || !s.pending.has(nodeId)) return; // closed: the agent stops on `close`
      if (r.messages.length > 0 && !s.call.cancelled) {
        s.call.write({ messages: r.messages, notice: '' });
      }
      if (r.error !== '' && !s.call.cancelled) {
        s.call.write({ messages: [], notice: `node ${this.nodeName(nodeId)}: ${r.error}` });
      }
      if (r.done) {
        done = true;
        s.pending.delete(nodeId);
        if (s.pending.size === 0) this.finish(s, undefined);
      }
    });
    const broken = (): void => {
      if (done) return;
      const s = this.subscriptions.get(subId);
      if (s === undefined || !s.pending.has(nodeId)) return;
      this.finish(
        s,
        new LogBrokerError(
          'node-gone',
          `node ${this.nodeName(nodeId)} stopped sending logs of task ${(s.pending.get(nodeId) ?? []).join(', ')}; run the command again`,
        ),
      );
    };
    call.on('end', () => {
      broken();
      cb(null, {});
    });
    call.on('error', broken);
    call.on('cancelled', broken);
  }
}
