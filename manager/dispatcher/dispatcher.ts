// The dispatcher: the manager side of the agent protocol (proto/dispatcher.proto). Owns agent
// sessions (one bidirectional stream per node: registration, heartbeats and status reports in,
// assignments and acknowledgements out), the in-memory heartbeat deadlines (never replicated),
// marking silent nodes down and their tasks orphaned, streaming each node its assignments from
// store events (and which of its finished tasks the store still keeps, so agents drop the logs
// of pruned ones), and batching agents' task status reports into store transactions (acknowledged
// once committed). Leader-only: a session opened elsewhere ends UNAVAILABLE — naming the leader
// when known — unless run(signal) is running; aborting the signal ends every session.
import { systemClock, type Clock } from '../../common/clock.js';
import { randomUUID } from 'node:crypto';
import { Metadata, status as grpcStatus, type ServerDuplexStream } from '@grpc/grpc-js';
import {
  canMoveTo,
  defaultClusterSpec,
  isTerminal,
  NodeState,
  TaskState,
  taskStateRank,
  type Node,
  type NodeId,
  type Task,
  type TaskStatus,
} from '../../common/model.js';
import type { Change, MemoryStore, StoreEvent, StoreWriter } from '../store/index.js';
import { update, WatchResetError } from '../store/index.js';
import type * as pb from '../../proto/gen/dispatcher.js';

export interface DispatcherDeps {
  readonly store: MemoryStore;
  readonly writer: StoreWriter;
  readonly clock?: Clock;
  readonly newNodeId?: () => NodeId;
  readonly newSessionId?: () => string;
  /** Overrides the cluster object's heartbeat period and grace (default: cluster spec). */
  readonly heartbeat?: { readonly periodMs: number; readonly graceMs: number };
  /**
   * Heartbeats per second the leader is willing to answer: with more nodes than period allows,
   * the period announced to agents (and the grace, in proportion) grows. Default 500.
   */
  readonly maxHeartbeatsPerSecond?: number;
  /** Status updates written per transaction; a full batch is written at once. Default 100. */
  readonly statusBatchItems?: number;
  /** A partial batch of status updates waits at most this long. Default 100. */
  readonly statusBatchMs?: number;
  readonly log?: (line: string) => void;
  /**
   * Where the managers are, for agents: every manager's host:port (sent so an agent can fail
   * over) and the leader's ('' when unknown; sent with not-leader answers). Default: none.
   */
  readonly addresses?: () => ManagerAddresses;
}

export interface ManagerAddresses {
  readonly leader: string;
  readonly managers: readonly string[];
}

/** Metadata key naming the leader's address on UNAVAILABLE not-leader answers (as membership). */
export const LEADER_ADDRESS_METADATA = 'x-tug-leader-address';

/** An RPC refused with a gRPC status: `code` is the stable name, `grpcCode` the wire code. */
export class DispatcherError extends Error {
  readonly code: 'not-leader' | 'invalid' | 'unknown-node' | 'unknown-session' | 'not-recorded';
  readonly grpcCode: grpcStatus;
  /** For not-leader: the leader's host:port when known, else ''. */
  readonly leaderAddress: string;
  constructor(code: DispatcherError['code'], message: string, leaderAddress = '') {
    super(message);
    this.name = 'DispatcherError';
    this.code = code;
    this.leaderAddress = leaderAddress;
    this.grpcCode = {
      'not-leader': grpcStatus.UNAVAILABLE,
      invalid: grpcStatus.INVALID_ARGUMENT,
      'unknown-node': grpcStatus.NOT_FOUND,
      'unknown-session': grpcStatus.NOT_FOUND,
      // The agent resends: a report that may or may not have been written is idempotent.
      'not-recorded': grpcStatus.UNAVAILABLE,
    }[code];
  }
}

interface GrpcStatus {
  readonly code: grpcStatus;
  readonly details: string;
  readonly metadata?: Metadata;
}

const withLeader = (code: grpcStatus, details: string, leaderAddress: string): GrpcStatus => {
  if (leaderAddress === '') return { code, details };
  const metadata = new Metadata();
  metadata.set(LEADER_ADDRESS_METADATA, leaderAddress);
  return { code, details, metadata };
};

/** The one place dispatcher errors become gRPC statuses. */
const toGrpc = (e: unknown): GrpcStatus => {
  if (!(e instanceof DispatcherError)) {
    return { code: grpcStatus.UNAVAILABLE, details: e instanceof Error ? e.message : String(e) };
  }
  return withLeader(e.grpcCode, e.message, e.leaderAddress);
};

/**
 * The not-leader answer without an Error: a deposed leader gets every agent's reconnection until
 * they move, and capturing a stack trace for each was measurable (docs/dispatcher.md).
 */
const notLeaderStatus = (leader: string): GrpcStatus =>
  withLeader(
    grpcStatus.UNAVAILABLE,
    `this manager is not running the dispatcher${leader === '' ? '' : `; the leader is ${leader}`}`,
    leader,
  );

/** Whether a task belongs in its node's assignment set: placed there and not yet finished. */
export const isAssignment = (t: Task): boolean =>
  t.nodeId !== undefined &&
  taskStateRank(t.status.state) >= taskStateRank(TaskState.Assigned) &&
  !isTerminal(t.status.state);

const taskStates: ReadonlySet<string> = new Set(Object.values(TaskState));
const healthValues: ReadonlySet<string> = new Set(['starting', 'healthy', 'unhealthy']);

/**
 * A report that keeps the state but changes the health check's status: written too, or a task
 * would stay `starting` forever. Never for a finished task, and never an older observation.
 */
const isHealthChange = (from: TaskStatus, to: TaskStatus): boolean =>
  to.state === from.state &&
  !isTerminal(from.state) &&
  to.health !== undefined &&
  to.health !== from.health &&
  to.timestamp >= from.timestamp;

/** A status report waiting for the transactions that hold its updates. */
interface StatusWaiter {
  remaining: number;
  settled: boolean;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

type SessionCall = ServerDuplexStream<pb.SessionRequest, pb.SessionResponse>;

interface Session {
  readonly id: string;
  readonly nodeId: NodeId;
  readonly call: SessionCall;
  /**
   * Task id → the store version the agent's copy is at, so a replayed event is not sent twice,
   * and the desired state it was sent with (see route).
   */
  readonly sent: Map<string, { version: number; desired: TaskState }>;
  readonly pendingUpdated: Map<string, Task>;
  readonly pendingRemoved: Set<string>;
  /** This node's tasks deleted from the store since the last message (any state). */
  readonly pendingPruned: Set<string>;
  flushScheduled: boolean;
  closed: boolean;
}

export interface QueuedStatus {
  readonly nodeId: NodeId;
  readonly taskId: string;
  readonly status: TaskStatus;
}

interface Running {
  readonly signal: AbortSignal;
  /** Node id → cancel of its heartbeat deadline timer. */
  readonly deadlines: Map<NodeId, () => void>;
  readonly sessions: Map<NodeId, Session>;
  readonly writes: Set<Promise<void>>;
  /** Nodes not down when this term began: they will heartbeat here (sizes the period). */
  readonly expectedNodes: number;
}

/**
 * The tasks a batch of agent reports changes, applied in order: a report counts only from the node
 * the task is assigned to and only when it moves the task's state forward (`canMoveTo`) or, in
 * the same state, changes its health.
 */
export const statusChanges = (
  get: (taskId: string) => Task | undefined,
  batch: readonly QueuedStatus[],
): Task[] => {
  const next = new Map<string, Task>();
  for (const q of batch) {
    const t = next.get(q.taskId) ?? get(q.taskId);
    if (t?.nodeId !== q.nodeId) continue;
    if (!canMoveTo(t.status.state, q.status.state) && !isHealthChange(t.status, q.status)) {
      continue;
    }
    next.set(q.taskId, { ...t, status: q.status });
  }
  return [...next.values()];
};

export class Dispatcher {
  private readonly deps: DispatcherDeps;
  private readonly clock: Clock;
  private readonly batchItems: number;
  private readonly batchMs: number;
  private readonly log: (line: string) => void;
  private readonly maxHeartbeatsPerSecond: number;
  private running: Running | null = null;
  private queue: { readonly q: QueuedStatus; readonly waiter: StatusWaiter }[] = [];
  private cancelFlush: (() => void) | null = null;
  /** Status transactions committed so far (for tests and metrics). */
  statusWrites = 0;

  /** The gRPC handlers; register with `server.addService(DispatcherServiceService, d.service)`. */
  readonly service: pb.DispatcherServiceServer;

  constructor(deps: DispatcherDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? systemClock;
    this.batchItems = deps.statusBatchItems ?? 100;
    this.batchMs = deps.statusBatchMs ?? 100;
    this.log = deps.log ?? (() => undefined);
    this.maxHeartbeatsPerSecond = deps.maxHeartbeatsPerSecond ?? 500;
    this.service = {
      session: (call) => {
        if (!this.isActive()) {
          call.emit('error', notLeaderStatus(this.addresses().leader));
          return;
        }
        this.serve(call);
      },
    };
  }

  /** Nodes with an open session (for tests and metrics). */
  get sessionCount(): number {
    return this.running?.sessions.size ?? 0;
  }

  private addresses(): ManagerAddresses {
    return this.deps.addresses?.() ?? { leader: '', managers: [] };
  }

  /**
   * The configured period and grace, both stretched in proportion when the nodes expected to
   * heartbeat (open sessions, or at a new leader the nodes not down) would send more than
   * `maxHeartbeatsPerSecond`: at 1,000 nodes a 1 s period is 1,000 calls/s on the leader before
   * any other work, and a starved leader misses heartbeats and Raft ticks alike.
   */
  private heartbeatTimes(): { periodMs: number; graceMs: number } {
    let base = this.deps.heartbeat;
    if (base === undefined) {
      const spec = this.deps.store.list('cluster')[0]?.spec ?? defaultClusterSpec;
      base = { periodMs: spec.heartbeatPeriodMs, graceMs: spec.heartbeatGraceMs };
    }
    const r = this.running;
    const nodes = r === null ? 0 : Math.max(r.sessions.size, r.expectedNodes);
    const minPeriodMs = Math.ceil((nodes * 1000) / this.maxHeartbeatsPerSecond);
    if (minPeriodMs <= base.periodMs) return base;
    return {
      periodMs: minPeriodMs,
      graceMs: Math.ceil((base.graceMs * minPeriodMs) / base.periodMs),
    };
  }

  private isActive(): boolean {
    return this.running !== null && !this.running.signal.aborted;
  }

  /**
   * Serves agents until `signal` aborts, then ends every session and resolves once the writes it
   * started have settled. Every node not already down gets a full grace period from now: a new
   * leader does not know when they last heartbeated.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.running !== null) throw new Error('dispatcher is already running');
    const alive = this.deps.store.list('node').filter((n) => n.status.state !== NodeState.Down);
    const r: Running = {
      signal,
      deadlines: new Map(),
      sessions: new Map(),
      writes: new Set(),
      expectedNodes: alive.length,
    };
    this.running = r;
    try {
      for (const n of alive) this.armDeadline(r, n.meta.id);
      await this.watchTasks(r);
    } finally {
      for (const cancel of r.deadlines.values()) cancel();
      r.deadlines.clear();
      for (const s of r.sessions.values()) this.endSession(s, 'leadership lost');
      r.sessions.clear();
      this.cancelFlush?.();
      this.cancelFlush = null;
      // Not written: the agents resend them to whichever manager leads next.
      for (const { waiter } of this.queue) {
        this.settle(waiter, new DispatcherError('not-recorded', 'leadership lost before writing'));
      }
      this.queue = [];
      this.running = null;
      await Promise.allSettled([...r.writes]);
    }
  }

  private active(): Running {
    const r = this.running;
    if (r === null || r.signal.aborted) {
      const leader = this.addresses().leader;
      throw new DispatcherError(
        'not-leader',
        `this manager is not running the dispatcher${leader === '' ? '' : `; the leader is ${leader}`}`,
        leader,
      );
    }
    return r;
  }

  private track(r: Running, p: Promise<unknown>, what: string): void {
    const w = p.then(
      () => undefined,
      (e: unknown) => {
        this.log(`${what} failed: ${e instanceof Error ? e.message : String(e)}`);
      },
    );
    r.writes.add(w);
    void w.finally(() => r.writes.delete(w));
  }

  // ---- heartbeats ---------------------------------------------------------------------------

  private armDeadline(r: Running, nodeId: NodeId, ms = this.heartbeatTimes().graceMs): void {
    r.deadlines.get(nodeId)?.();
    const at = this.clock.now() + ms;
    const cancel = this.clock.setTimer(ms, () => {
      r.deadlines.delete(nodeId);
      if (r.signal.aborted) return;
      const { periodMs } = this.heartbeatTimes();
      if (this.clock.now() - at > periodMs) {
        // Fired more than a period late: this manager itself was not running (a stalled event
        // loop runs every due timer before it reads the heartbeats waiting in its sockets), so
        // the silence may be ours. One more period to hear from the node; measured under load,
        // a 3 s stall otherwise marked a third of the nodes down at once.
        this.armDeadline(r, nodeId, periodMs);
        return;
      }
      const s = r.sessions.get(nodeId);
      if (s !== undefined) {
        r.sessions.delete(nodeId);
        this.endSession(s, 'heartbeat grace period expired');
      }
      this.track(r, this.markDown(r, nodeId), `marking node ${nodeId} down`);
    });
    r.deadlines.set(nodeId, cancel);
  }

  private heartbeat(s: Session): void {
    const r = this.running;
    // A session replaced or ended meanwhile: its node's deadline belongs to the newer one.
    if (r === null || r.signal.aborted || r.sessions.get(s.nodeId) !== s) return;
    this.armDeadline(r, s.nodeId);
    this.send(s, {
      $case: 'heartbeat',
      value: { periodMs: this.heartbeatTimes().periodMs, managers: [...this.addresses().managers] },
    });
  }

  /** Node → down and its unfinished tasks → orphaned (the orchestrator replaces them). */
  private async markDown(r: Running, nodeId: NodeId): Promise<void> {
    const { store, writer } = this.deps;
    const now = this.clock.now();
    const message = 'heartbeat failure';
    const o = await update(store, writer, (s) => {
      const n = s.get('node', nodeId);
      if (n === undefined || n.status.state === NodeState.Down) return null;
      // The agent came back (a new session) before this write: writing down now would leave a
      // live node down, as only registering marks it ready again.
      if (r.sessions.has(nodeId)) return null;
      return [
        {
          op: 'update',
          kind: 'node',
          object: { ...n, status: { ...n.status, state: NodeState.Down, message } },
        },
      ];
    });
    if (o === null) return;
    if (!o.ok) throw new Error(`node ${nodeId}: ${o.message}`);
    this.log(`node ${nodeId} down: ${message}`);
    // Chunked: one node can hold more tasks than one transaction may change.
    for (;;) {
      const oo = await update(store, writer, (s) => {
        const changes: Change[] = [];
        for (const t of s.find('task', { nodeId })) {
          if (changes.length >= this.batchItems) break;
          if (!canMoveTo(t.status.state, TaskState.Orphaned)) continue;
          changes.push({
            op: 'update',
            kind: 'task',
            object: {
              ...t,
              status: {
                state: TaskState.Orphaned,
                timestamp: now,
                message: `node down: ${message}`,
              },
            },
          });
        }
        return changes.length === 0 ? null : changes;
      });
      if (oo === null) return;
      if (!oo.ok) throw new Error(`orphaning tasks of ${nodeId}: ${oo.message}`);
    }
  }

  // ---- sessions -----------------------------------------------------------------------------

  /** One agent's stream: `open` first, then heartbeats and status reports in any order. */
  private serve(call: SessionCall): void {
    let session: Session | null = null;
    let opening = false;
    const refuse = (e: unknown): void => {
      if (session !== null) session.closed = true;
      if (!call.cancelled) call.emit('error', toGrpc(e));
    };
    call.on('data', (m: pb.SessionRequest) => {
      const msg = m.message;
      if (msg?.$case === 'open') {
        if (opening) {
          refuse(new DispatcherError('invalid', 'a session is opened once'));
          return;
        }
        opening = true;
        this.openSession(call, msg.value).then((s) => {
          session = s;
        }, refuse);
      } else if (session === null) {
        refuse(new DispatcherError('invalid', 'the first request of a session must be open'));
      } else if (msg?.$case === 'heartbeat') {
        this.heartbeat(session);
      } else if (msg?.$case === 'status') {
        this.report(session, msg.value);
      }
    });
    // The agent closed its side: the session is over (it reconnects if it wants one).
    call.on('end', () => {
      if (session !== null) this.dropSession(session);
      if (!call.cancelled) call.end();
    });
  }

  private async openSession(call: SessionCall, req: pb.SessionOpen): Promise<Session | null> {
    const r = this.active();
    const d = req.description;
    if (d === undefined || d.hostname === '') {
      throw new DispatcherError('invalid', 'a session needs a node description with a hostname');
    }
    const nodeId = await this.register(req.nodeId as NodeId, d);
    if (r.signal.aborted || call.cancelled) return null;
    const previous = r.sessions.get(nodeId);
    if (previous !== undefined) {
      // ABORTED, not UNAVAILABLE: two agents claiming one node would otherwise take turns.
      this.endSession(previous, 'replaced by a newer session', grpcStatus.ABORTED);
    }
    const s: Session = {
      id: (this.deps.newSessionId ?? randomUUID)(),
      nodeId,
      call,
      sent: new Map(),
      pendingUpdated: new Map(),
      pendingRemoved: new Set(),
      pendingPruned: new Set(),
      flushScheduled: false,
      closed: false,
    };
    r.sessions.set(nodeId, s);
    call.on('cancelled', () => {
      this.dropSession(s);
    });
    this.armDeadline(r, nodeId);
    this.send(s, {
      $case: 'started',
      value: {
        sessionId: s.id,
        nodeId,
        heartbeatPeriodMs: this.heartbeatTimes().periodMs,
        managers: [...this.addresses().managers],
      },
    });
    this.sendFull(s);
    return s;
  }

  private dropSession(s: Session): void {
    s.closed = true;
    const r = this.running;
    if (r !== null && r.sessions.get(s.nodeId) === s) r.sessions.delete(s.nodeId);
  }

  /** Writes to a session still open (a stream the agent cancelled must not be written to). */
  private send(s: Session, message: pb.SessionResponse['message']): void {
    if (s.closed || s.call.cancelled) return;
    s.call.write({ message });
  }

  /** Creates the node on first contact, else refreshes its description and marks it ready. */
  private async register(requested: NodeId, d: pb.NodeDescription): Promise<NodeId> {
    const { store, writer } = this.deps;
    const description: Node['description'] = {
      hostname: d.hostname,
      platform: { os: d.os, arch: d.arch },
      resources: { cpus: d.cpus, memoryBytes: d.memoryBytes },
      labels: { ...d.labels },
    };
    const nodeStatus: Node['status'] = { state: NodeState.Ready, addr: d.addr, message: '' };
    if (requested === '' || store.get('node', requested) === undefined) {
      if (requested !== '') {
        // A node removed by the operator must join again, not come back under its old id.
        throw new DispatcherError('unknown-node', `node ${requested} is not known; register anew`);
      }
      const id = (this.deps.newNodeId ?? (() => randomUUID() as NodeId))();
      const taken = store.find('node', { name: d.hostname }).length > 0;
      const node: Node = {
        meta: {
          id,
          name: taken ? `${d.hostname}.${id.slice(0, 8)}` : d.hostname,
          version: 0,
          createdAt: 0,
          updatedAt: 0,
          labels: {},
        },
        spec: { role: 'worker', availability: 'active', labels: {} },
        description,
        status: nodeStatus,
      };
      const o = await writer.submit([{ op: 'create', kind: 'node', object: node }]);
      if (!o.ok) throw new DispatcherError('invalid', `registering ${d.hostname}: ${o.message}`);
      this.log(`node ${id} (${d.hostname}) registered`);
      return id;
    }
    const o = await update(store, writer, (s) => {
      const n = s.get('node', requested);
      if (n === undefined) throw new DispatcherError('unknown-node', `node ${requested} removed`);
      return [{ op: 'update', kind: 'node', object: { ...n, description, status: nodeStatus } }];
    });
    if (o !== null && !o.ok)
      throw new DispatcherError('invalid', `node ${requested}: ${o.message}`);
    return requested;
  }

  private endSession(s: Session, why: string, code = grpcStatus.UNAVAILABLE): void {
    // A stream the agent already cancelled must not be written to.
    if (s.closed || s.call.cancelled) return;
    s.closed = true;
    s.call.emit('error', { code, details: `session ended: ${why}` });
  }

  private sendFull(s: Session): void {
    s.sent.clear();
    s.pendingUpdated.clear();
    s.pendingRemoved.clear();
    s.pendingPruned.clear();
    const updated: pb.AssignedTask[] = [];
    const retained: string[] = [];
    for (const t of this.deps.store.find('task', { nodeId: s.nodeId })) {
      if (!isAssignment(t)) {
        retained.push(t.meta.id);
        continue;
      }
      s.sent.set(t.meta.id, { version: t.meta.version, desired: t.desiredState });
      updated.push({ taskId: t.meta.id, taskJson: JSON.stringify(t) });
    }
    this.send(s, {
      $case: 'assignments',
      value: { full: true, updated, removed: [], retained, pruned: [], tracksHistory: true },
    });
  }

  /** One watcher for all sessions: a per-session watcher would cost every event N times. */
  private async watchTasks(r: Running): Promise<void> {
    for (;;) {
      if (r.signal.aborted) return;
      try {
        for await (const e of this.deps.store.watch({ kinds: ['task'], signal: r.signal })) {
          this.route(r, e);
        }
        return;
      } catch (err) {
        if (!(err instanceof WatchResetError)) throw err;
        // Missed events: every session gets a fresh full set from the store as it is now.
        for (const s of r.sessions.values()) if (!s.closed) this.sendFull(s);
      }
    }
  }

  private route(r: Running, e: StoreEvent): void {
    if (e.kind !== 'task') return;
    const t = e.object;
    if (t.nodeId === undefined) return;
    const s = r.sessions.get(t.nodeId);
    if (s === undefined || s.closed) return;
    const id = t.meta.id;
    const sent = s.sent.get(id);
    // Events already covered by the full set the session started with.
    if (sent !== undefined && sent.version >= e.version) return;
    const deleted = e.type === 'delete';
    // Any deleted task of this node, assigned or not: its history is gone, and so may its logs.
    if (deleted) s.pendingPruned.add(id);
    if (!deleted && isAssignment(t)) {
      s.sent.set(id, { version: e.version, desired: t.desiredState });
      s.pendingRemoved.delete(id);
      // The agent has this task and what it acts on (spec, node and networks never change once
      // assigned; the desired state may): a status change is mostly its own report coming back,
      // and echoing every one doubled the assignment traffic (10,000 tasks reported running meant
      // 10,000 more task JSONs written and parsed). A status that ends the task still arrives
      // as `removed`.
      if (sent !== undefined && sent.desired === t.desiredState && !s.pendingUpdated.has(id))
        return;
      s.pendingUpdated.set(id, t);
    } else if (sent !== undefined) {
      s.sent.delete(id);
      s.pendingUpdated.delete(id);
      s.pendingRemoved.add(id);
    } else if (!deleted) return; // a change to a task the agent no longer holds: nothing to send
    if (!s.flushScheduled) {
      s.flushScheduled = true;
      // One write delivers many events: send them as one message.
      setImmediate(() => {
        s.flushScheduled = false;
        this.flushSession(s);
      });
    }
  }

  private flushSession(s: Session): void {
    if (
      s.closed ||
      (s.pendingUpdated.size === 0 && s.pendingRemoved.size === 0 && s.pendingPruned.size === 0)
    )
      return;
    const updated = [...s.pendingUpdated.values()].map((t) => ({
      taskId: t.meta.id,
      taskJson: JSON.stringify(t),
    }));
    const removed = [...s.pendingRemoved];
    const pruned = [...s.pendingPruned];
    s.pendingUpdated.clear();
    s.pendingRemoved.clear();
    s.pendingPruned.clear();
    this.send(s, {
      $case: 'assignments',
      value: { full: false, updated, removed, retained: [], pruned, tracksHistory: false },
    });
  }

  // ---- task status --------------------------------------------------------------------------

  /**
   * Queues a report's updates and acknowledges it once every transaction holding them has
   * committed: acknowledging at queue time would lose reports whenever a write fails to replicate
   * or leadership moves before the batch is written, since the agent would not resend them.
   */
  private report(s: Session, report: pb.StatusReport): void {
    const ack = (error: string): void => {
      this.send(s, { $case: 'status', value: { seq: report.seq, error } });
    };
    Promise.resolve()
      .then(() => this.queueStatus(s.nodeId, report.updates))
      .then(
        () => {
          ack('');
        },
        (e: unknown) => {
          ack(e instanceof Error ? e.message : String(e));
        },
      );
  }

  private queueStatus(nodeId: NodeId, updates: readonly pb.TaskStatusUpdate[]): Promise<void> {
    const r = this.active();
    for (const u of updates) {
      if (!taskStates.has(u.state)) {
        throw new DispatcherError('invalid', `task ${u.taskId}: unknown state ${u.state}`);
      }
      if (u.health !== undefined && !healthValues.has(u.health)) {
        throw new DispatcherError('invalid', `task ${u.taskId}: unknown health ${u.health}`);
      }
    }
    if (updates.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: StatusWaiter = { remaining: updates.length, settled: false, resolve, reject };
      for (const u of updates) {
        const status: TaskStatus = {
          state: u.state as TaskState,
          timestamp: u.timestampMs,
          message: u.message,
          ...(u.exitCode === undefined ? {} : { exitCode: u.exitCode }),
          ...(u.health === undefined
            ? {}
            : { health: u.health as NonNullable<TaskStatus['health']> }),
        };
        this.queue.push({ q: { nodeId, taskId: u.taskId, status }, waiter });
      }
      if (this.queue.length >= this.batchItems) this.flushStatus(r);
      else if (this.cancelFlush === null) {
        this.cancelFlush = this.clock.setTimer(this.batchMs, () => {
          this.cancelFlush = null;
          this.flushStatus(r);
        });
      }
    });
  }

  private settle(w: StatusWaiter, err: Error | null, count = w.remaining): void {
    if (w.settled) return;
    if (err !== null) {
      w.settled = true;
      w.reject(err);
      return;
    }
    w.remaining -= count;
    if (w.remaining <= 0) {
      w.settled = true;
      w.resolve();
    }
  }

  private flushStatus(r: Running): void {
    this.cancelFlush?.();
    this.cancelFlush = null;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchItems);
      const done = this.writeStatus(batch.map((b) => b.q)).then(
        () => {
          for (const { waiter } of batch) this.settle(waiter, null, 1);
        },
        (e: unknown) => {
          const why = e instanceof Error ? e.message : String(e);
          for (const { waiter } of batch) {
            this.settle(waiter, new DispatcherError('not-recorded', `status not written: ${why}`));
          }
          throw e;
        },
      );
      this.track(r, done, 'writing task status');
    }
  }

  /** Applies a batch in order, keeping only forward moves of tasks on the reporting node. */
  private async writeStatus(batch: readonly QueuedStatus[]): Promise<void> {
    const o = await update(this.deps.store, this.deps.writer, (s) => {
      const next = statusChanges((id) => s.get('task', id), batch);
      return next.length === 0
        ? null
        : next.map((t): Change => ({
            op: 'patch',
            kind: 'task',
            id: t.meta.id,
            version: t.meta.version,
            set: { status: t.status },
          }));
    });
    if (o === null) return;
    if (!o.ok) throw new Error(o.message);
    this.statusWrites++;
  }
}
