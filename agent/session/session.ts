// The agent side of the dispatcher protocol (proto/dispatcher.proto), shared by the real agent
// and hollow agents: one session stream at a time with some manager, carrying heartbeats on the
// server's period and task status reports — queued, coalesced and resent until a manager
// acknowledges them (it does so only once they are committed) — one way, and assignments (handed
// to an executor as domain Tasks) the other. When the stream breaks — error or end, a manager
// that is not the leader — it reconnects with jittered backoff: to the leader a manager named,
// else to the next manager of a list that the managers keep current.
import { status as grpcStatus, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { systemClock, type Clock } from '../../common/clock.js';
import type { NodeId, Task, TaskId, TaskState } from '../../common/model.js';
import type * as pb from '../../proto/gen/dispatcher.js';
import { backoffMs, defaultBackoff, nextManager, type BackoffOptions } from './backoff.js';
import type { DispatcherClientSource } from './clients.js';

/** Metadata key naming the leader on UNAVAILABLE not-leader answers (the managers' key). */
export const LEADER_ADDRESS_METADATA = 'x-tug-leader-address';

export interface AgentNodeDescription {
  readonly hostname: string;
  readonly os: string;
  readonly arch: string;
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Where other nodes reach this one (underlay address). */
  readonly addr: string;
}

/** One assignment message: `full` replaces everything told before; otherwise apply as changes. */
export interface Assignments {
  readonly full: boolean;
  readonly updated: readonly Task[];
  readonly removed: readonly TaskId[];
  /**
   * Full messages: this node's tasks not assigned but still in the managers' store (finished,
   * in the history). Whatever is kept of a task in neither `updated` nor here may go (its logs).
   */
  readonly retained: readonly TaskId[];
  /**
   * Full messages from managers that fill `retained` (older ones do not: then an empty
   * `retained` says nothing, and every log stays).
   */
  readonly tracksHistory: boolean;
  /** Changes: this node's tasks deleted from the store (history pruned): their logs may go. */
  readonly pruned: readonly TaskId[];
}

/** What runs the assigned tasks: a real worker, or a hollow agent's fake. */
export interface SessionExecutor {
  /** Called in order, once per message; report progress through `AgentSession.report`. */
  assignments(a: Assignments): void;
}

export interface ReportedStatus {
  readonly state: TaskState;
  readonly message: string;
  readonly exitCode?: number;
  /** The health check's status, on every report of a task that has one (a change alone is sent). */
  readonly health?: 'starting' | 'healthy' | 'unhealthy';
}

/** A session that cannot go on: reconnecting would not help. */
export class SessionError extends Error {
  /**
   * `unknown-node`: the managers do not know the persisted node id (removed: register anew).
   * `superseded`: another session for the same node replaced this one.
   * `refused`: the request was invalid. `stopped`: stop() was called before a session started.
   */
  readonly code: 'unknown-node' | 'superseded' | 'refused' | 'stopped';
  constructor(code: SessionError['code'], message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SessionError';
    this.code = code;
  }
}

export interface AgentSessionOptions {
  /** host:port of the managers to try; the managers send the current list once connected. */
  readonly managers: readonly string[];
  readonly clients: DispatcherClientSource;
  readonly description: AgentNodeDescription;
  /** The node id of an earlier session (persisted by the agent); '' or absent: register. */
  readonly nodeId?: string;
  /** Called when the managers give (or confirm) the node id, to persist it. */
  readonly onNodeId?: (id: NodeId) => void;
  /** Called once when the session ends for good (see SessionError). */
  readonly onFatal?: (e: SessionError) => void;
  readonly executor: SessionExecutor;
  readonly clock?: Clock;
  /** [0, 1), for backoff jitter. */
  readonly random?: () => number;
  readonly backoff?: BackoffOptions;
  /** Give up on a manager that has not started the session within this. Default 5000. */
  readonly connectTimeoutMs?: number;
  /** Status updates per report. Default 100. */
  readonly statusBatchItems?: number;
  readonly log?: (line: string) => void;
}

/** Domain form of one wire assignment message (the tested conversion point). */
export const fromWire = (a: pb.Assignments): Assignments => ({
  full: a.full,
  updated: a.updated.map((u) => JSON.parse(u.taskJson) as Task),
  removed: a.removed as TaskId[],
  retained: a.retained as TaskId[],
  pruned: a.pruned as TaskId[],
  tracksHistory: a.tracksHistory,
});

const leaderHint = (e: Partial<ServiceError>): string => {
  const v = e.metadata?.get(LEADER_ADDRESS_METADATA)[0];
  return typeof v === 'string' ? v : '';
};

/** Errors after which this session must end for good instead of reconnecting. */
const fatal = (e: Partial<ServiceError>): SessionError | null => {
  const msg = e.details ?? e.message ?? 'session refused';
  if (e.code === grpcStatus.NOT_FOUND) return new SessionError('unknown-node', msg, { cause: e });
  if (e.code === grpcStatus.ABORTED) return new SessionError('superseded', msg, { cause: e });
  if (e.code === grpcStatus.INVALID_ARGUMENT) return new SessionError('refused', msg, { cause: e });
  return null;
};

const statusDeadlineMs = 10_000;

/**
 * Heartbeat periods of silence (no message at all) after which the manager counts as failed and
 * the agent moves on: twice the manager's default grace, by when the manager, if it is alive,
 * has marked the node down anyway. Shorter would have a thousand agents leave a leader that is
 * only slow.
 */
const silentPeriods = 6;

interface Live {
  readonly address: string;
  readonly stream: ClientDuplexStream<pb.SessionRequest, pb.SessionResponse>;
  sessionId: string;
  periodMs: number;
  /** When the manager last sent anything (clock ms). */
  heardAt: number;
}

/** A report sent and not yet acknowledged. */
interface Inflight {
  readonly seq: number;
  readonly updates: pb.TaskStatusUpdate[];
  readonly cancelDeadline: () => void;
}

export class AgentSession {
  private readonly opts: AgentSessionOptions;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly log: (line: string) => void;
  private readonly batchItems: number;
  private live: Live | null = null;
  private running = false;
  private frozen = false;
  private attempt = 0;
  private hint = '';
  private last = '';
  private timers = new Set<() => void>();
  private cancelHeartbeat: (() => void) | null = null;
  private firstStart: { resolve: () => void; reject: (e: Error) => void } | null = null;
  /** Latest unacknowledged report per task (a later state subsumes an earlier one). */
  private readonly pending = new Map<string, pb.TaskStatusUpdate>();
  private inflight: Inflight | null = null;
  private statusSeq = 0;
  private statusAttempt = 0;
  private flushScheduled = false;
  /** The node id the managers gave (or accepted); kept across reconnects. */
  nodeId: string;
  /** Current manager addresses: the configured ones, then as the managers report them. */
  managers: readonly string[];
  /** Sessions started so far (reconnects included). */
  sessionsStarted = 0;
  lastError: Error | null = null;

  constructor(opts: AgentSessionOptions) {
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.log = opts.log ?? (() => undefined);
    this.batchItems = opts.statusBatchItems ?? 100;
    this.nodeId = opts.nodeId ?? '';
    this.managers = [...opts.managers];
  }

  /** The id of the open session, '' when not connected. */
  get sessionId(): string {
    return this.live?.sessionId ?? '';
  }

  /** The manager this session is connected to, '' when not connected. */
  get connectedTo(): string {
    return this.live !== null && this.live.sessionId !== '' ? this.live.address : '';
  }

  /** Reports not yet acknowledged by a manager. */
  get unacknowledged(): number {
    return this.pending.size + (this.inflight?.updates.length ?? 0);
  }

  /**
   * Starts (or restarts) the session; resolves once a manager has started one, rejects with a
   * SessionError if it cannot be (unknown node, stopped). Reconnects by itself afterwards.
   */
  start(): Promise<void> {
    this.stop();
    this.running = true;
    this.frozen = false;
    this.attempt = 0;
    return new Promise<void>((resolve, reject) => {
      this.firstStart = { resolve, reject };
      this.connect();
    });
  }

  /** Closes the session and every timer; `start()` reconnects with the same node id. */
  stop(): void {
    this.running = false;
    this.settleStart(new SessionError('stopped', 'session stopped'));
    this.clearTimers();
    this.dropLive();
    this.requeueInflight();
  }

  /**
   * For tests simulating a hung agent: keeps the stream open but sends nothing more (no
   * heartbeats, reports or reconnects), so the managers should declare the node down.
   */
  freeze(): void {
    this.frozen = true;
    this.clearTimers();
  }

  /** Queues a task's observed state; sent in batches and resent until acknowledged. */
  report(taskId: string, s: ReportedStatus): void {
    this.pending.set(taskId, {
      taskId,
      state: s.state,
      timestampMs: this.clock.now(),
      message: s.message,
      ...(s.exitCode === undefined ? {} : { exitCode: s.exitCode }),
      ...(s.health === undefined ? {} : { health: s.health }),
    });
    // Coalesce the reports of one burst (one assignment message) into one call.
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.after(0, () => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  // ---- connection ----------------------------------------------------------------------------

  private after(ms: number, fn: () => void): void {
    const cancel = this.clock.setTimer(ms, () => {
      this.timers.delete(cancel);
      fn();
    });
    this.timers.add(cancel);
  }

  private clearTimers(): void {
    for (const cancel of this.timers) cancel();
    this.timers.clear();
    this.flushScheduled = false;
    this.cancelHeartbeat?.();
    this.cancelHeartbeat = null;
  }

  private settleStart(err: Error | null): void {
    const f = this.firstStart;
    this.firstStart = null;
    if (f === null) return;
    if (err === null) f.resolve();
    else f.reject(err);
  }

  private dropLive(): void {
    const l = this.live;
    this.live = null;
    this.cancelHeartbeat?.();
    this.cancelHeartbeat = null;
    // Not acknowledged on this session: the next one sends it again.
    this.requeueInflight();
    // Cancel only: the stream is ours to end, and no write goes to a cancelled call.
    l?.stream.cancel();
  }

  private connect(): void {
    if (!this.running || this.frozen) return;
    const address = nextManager(this.managers, this.last, this.hint);
    this.hint = '';
    if (address === undefined) {
      this.fail(new SessionError('refused', 'no manager address to connect to'));
      return;
    }
    this.last = address;
    let client: pb.DispatcherServiceClient;
    try {
      client = this.opts.clients.get(address);
    } catch (e) {
      this.retry(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    const d = this.opts.description;
    const stream = client.session();
    stream.write({
      message: {
        $case: 'open',
        value: { nodeId: this.nodeId, description: { ...d, labels: { ...d.labels } } },
      },
    });
    const live: Live = { address, stream, sessionId: '', periodMs: 0, heardAt: this.clock.now() };
    this.live = live;
    const timeoutMs = this.opts.connectTimeoutMs ?? 5000;
    const cancelTimeout = this.clock.setTimer(timeoutMs, () => {
      if (this.live === live && live.sessionId === '') {
        this.lost(live, new Error(`${address} did not start a session within ${timeoutMs} ms`));
      }
    });
    stream.on('data', (m: pb.SessionResponse) => {
      if (this.live !== live) return;
      live.heardAt = this.clock.now();
      const msg = m.message;
      if (msg?.$case === 'started') {
        cancelTimeout();
        this.started(live, msg.value);
      } else if (live.sessionId === '') {
        return;
      } else if (msg?.$case === 'assignments') {
        this.opts.executor.assignments(fromWire(msg.value));
      } else if (msg?.$case === 'heartbeat') {
        live.periodMs = msg.value.periodMs;
        if (msg.value.managers.length > 0) this.managers = [...msg.value.managers];
      } else if (msg?.$case === 'status') {
        this.acknowledged(msg.value);
      }
    });
    stream.on('error', (e: ServiceError) => {
      cancelTimeout();
      if (this.live !== live) return;
      const f = fatal(e);
      if (f !== null) this.fail(f);
      else this.lost(live, e, leaderHint(e));
    });
    stream.on('end', () => {
      cancelTimeout();
      if (this.live === live) this.lost(live, new Error(`${address} ended the session`));
    });
  }

  private started(live: Live, s: pb.SessionStarted): void {
    live.sessionId = s.sessionId;
    live.periodMs = s.heartbeatPeriodMs;
    this.nodeId = s.nodeId;
    this.attempt = 0;
    this.sessionsStarted++;
    if (s.managers.length > 0) this.managers = [...s.managers];
    this.log(`${this.opts.description.hostname}: session ${s.sessionId} with ${live.address}`);
    this.opts.onNodeId?.(s.nodeId as NodeId);
    this.scheduleHeartbeat(live);
    this.settleStart(null);
    // Whatever was not acknowledged by the previous manager goes to this one.
    this.flush();
  }

  /** This session is gone; try again (the same node id) after a jittered wait. */
  private lost(live: Live, e: Error, hint = ''): void {
    if (this.live !== live) return;
    this.dropLive();
    this.retry(e, hint);
  }

  private retry(e: Error, hint = ''): void {
    this.lastError = e;
    if (!this.running || this.frozen) return;
    this.hint = hint;
    const wait = backoffMs(this.attempt++, this.random, this.opts.backoff ?? defaultBackoff);
    this.log(
      `${this.opts.description.hostname}: session lost (${e.message}); retrying${hint === '' ? '' : ` at ${hint}`} in ${Math.round(wait)} ms`,
    );
    this.after(wait, () => {
      this.connect();
    });
  }

  private fail(e: SessionError): void {
    this.lastError = e;
    this.log(`${this.opts.description.hostname}: session ended for good: ${e.message}`);
    const wasRunning = this.running;
    this.running = false;
    this.clearTimers();
    this.dropLive();
    this.settleStart(e);
    if (wasRunning) this.opts.onFatal?.(e);
  }

  private scheduleHeartbeat(live: Live): void {
    if (this.frozen) return;
    this.cancelHeartbeat?.();
    // Once per period, 0–20 % early: the jitter keeps a thousand agents that (re)connected
    // together from heartbeating in step, and the manager's grace (3 periods by default) absorbs
    // a slow round trip or a lost beat. Twice per period would double the leader's load. The
    // period is the latest the manager gave (its ack of the previous beat).
    const waitMs = Math.max(1, live.periodMs * (1 - 0.2 * this.random()));
    this.cancelHeartbeat = this.clock.setTimer(waitMs, () => {
      this.cancelHeartbeat = null;
      if (this.live !== live) return;
      const silentMs = this.clock.now() - live.heardAt;
      if (silentMs > silentPeriods * live.periodMs) {
        // Connected but not answering (stalled, or cut off without the connection breaking).
        this.lost(live, new Error(`no answer from ${live.address} for ${silentMs} ms`));
        return;
      }
      live.stream.write({ message: { $case: 'heartbeat', value: {} } });
      this.scheduleHeartbeat(live);
    });
  }

  // ---- task status ---------------------------------------------------------------------------

  /** Not recorded: back to pending unless a later report for the same task came meanwhile. */
  private requeueInflight(): void {
    const f = this.inflight;
    if (f === null) return;
    this.inflight = null;
    f.cancelDeadline();
    for (const u of f.updates) if (!this.pending.has(u.taskId)) this.pending.set(u.taskId, u);
  }

  private flush(): void {
    const live = this.live;
    if (this.frozen || live === null || live.sessionId === '' || this.inflight !== null) return;
    if (this.pending.size === 0) return;
    const updates: pb.TaskStatusUpdate[] = [];
    for (const [id, u] of this.pending) {
      if (updates.length >= this.batchItems) break;
      updates.push(u);
      this.pending.delete(id);
    }
    const seq = ++this.statusSeq;
    // Acknowledged after a commit; a manager that never answers must not hold the reports.
    const cancelDeadline = this.clock.setTimer(statusDeadlineMs, () => {
      if (this.inflight?.seq === seq) {
        this.notRecorded(`no acknowledgement within ${statusDeadlineMs} ms`);
      }
    });
    this.inflight = { seq, updates, cancelDeadline };
    live.stream.write({ message: { $case: 'status', value: { seq, updates } } });
  }

  private acknowledged(ack: pb.StatusAck): void {
    if (this.inflight?.seq !== ack.seq) return;
    if (ack.error !== '') {
      this.notRecorded(ack.error);
      return;
    }
    this.inflight.cancelDeadline();
    this.inflight = null;
    this.statusAttempt = 0;
    this.flush();
  }

  /** Requeued; retried on this session after a backoff (a new session flushes at once). */
  private notRecorded(why: string): void {
    this.requeueInflight();
    this.log(`${this.opts.description.hostname}: status not acknowledged: ${why}`);
    this.after(backoffMs(this.statusAttempt++, this.random, this.opts.backoff), () => {
      this.flush();
    });
  }
}
