// A simulated agent with no containers, speaking the dispatcher protocol over real gRPC: opens a
// session, heartbeats on the server's period, and walks each assigned task accepted → preparing
// → starting → running (or to shutdown when asked). Cheap enough to run a thousand per process:
// agents share one gRPC client and hold only a few timers and maps each.
import type { ClientReadableStream } from '@grpc/grpc-js';
import { isTerminal, TaskState, taskStateRank, type Task } from '../../common/model.js';
import type * as pb from '../../proto/gen/dispatcher.js';
import { systemClock, type Clock } from '../../common/clock.js';

export interface HollowAgentOptions {
  /** Shared between agents: grpc-js multiplexes their calls over one connection. */
  readonly client: pb.DispatcherServiceClient;
  readonly hostname: string;
  /** A node id from an earlier session, as a real agent persists it. */
  readonly nodeId?: string;
  readonly addr?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly clock?: Clock;
  readonly log?: (line: string) => void;
}

const startSequence: readonly TaskState[] = [
  TaskState.Accepted,
  TaskState.Preparing,
  TaskState.Starting,
  TaskState.Running,
];

export class HollowAgent {
  private readonly opts: HollowAgentOptions;
  private readonly clock: Clock;
  private readonly log: (line: string) => void;
  private stream: ClientReadableStream<pb.SessionResponse> | null = null;
  private sessionId = '';
  private periodMs = 0;
  private cancelHeartbeat: (() => void) | null = null;
  private heartbeating = true;
  /** Task id → the last state this agent reported for it. */
  private readonly reported = new Map<string, TaskState>();
  private pending: pb.TaskStatusUpdate[] = [];
  private flushScheduled = false;
  /** The node id the dispatcher gave (or accepted); kept across reconnects. */
  nodeId: string;
  /** Assignment messages received (for tests). */
  assignmentMessages = 0;
  /** The last session error, if the stream ended with one. */
  lastError: Error | null = null;

  constructor(opts: HollowAgentOptions) {
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? (() => undefined);
    this.nodeId = opts.nodeId ?? '';
  }

  /** Tasks this agent currently holds (reported and not yet finished). */
  get tasks(): ReadonlyMap<string, TaskState> {
    return this.reported;
  }

  /** Opens a session; resolves once the dispatcher has accepted it (node id known). */
  start(): Promise<void> {
    this.stop();
    this.heartbeating = true;
    return new Promise((resolve, reject) => {
      const stream = this.opts.client.session({
        nodeId: this.nodeId,
        description: {
          hostname: this.opts.hostname,
          os: 'linux',
          arch: 'x86_64',
          cpus: 4,
          memoryBytes: 8 * 1024 ** 3,
          labels: { ...(this.opts.labels ?? {}) },
          addr: this.opts.addr ?? '127.0.0.1',
        },
      });
      this.stream = stream;
      let started = false;
      stream.on('data', (m: pb.SessionResponse) => {
        if (m.message?.$case === 'started') {
          started = true;
          this.nodeId = m.message.value.nodeId;
          this.sessionId = m.message.value.sessionId;
          this.periodMs = m.message.value.heartbeatPeriodMs;
          this.scheduleHeartbeat();
          resolve();
        } else if (m.message?.$case === 'assignments') {
          this.assignmentMessages++;
          this.onAssignments(m.message.value);
        }
      });
      stream.on('error', (e: Error) => {
        this.lastError = e;
        if (this.stream === stream) this.stopTimers();
        if (!started) reject(e);
      });
      stream.on('end', () => {
        if (!started) reject(new Error('session ended before it started'));
      });
    });
  }

  /** Keeps the session open but sends no more heartbeats: the node should go down. */
  stopHeartbeats(): void {
    this.heartbeating = false;
    this.cancelHeartbeat?.();
    this.cancelHeartbeat = null;
  }

  /** Closes the session and stops every timer; `start()` reconnects with the same node id. */
  stop(): void {
    this.stopTimers();
    const s = this.stream;
    this.stream = null;
    s?.cancel();
  }

  private stopTimers(): void {
    this.cancelHeartbeat?.();
    this.cancelHeartbeat = null;
  }

  private scheduleHeartbeat(): void {
    if (!this.heartbeating) return;
    this.cancelHeartbeat?.();
    // Well inside the period, so one slow round trip does not cost the node.
    this.cancelHeartbeat = this.clock.setTimer(Math.max(1, this.periodMs / 2), () => {
      this.cancelHeartbeat = null;
      this.opts.client.heartbeat({ nodeId: this.nodeId, sessionId: this.sessionId }, (err, res) => {
        if (err !== null) this.log(`${this.opts.hostname}: heartbeat: ${err.message}`);
        else this.periodMs = res.periodMs;
        if (this.stream !== null) this.scheduleHeartbeat();
      });
    });
  }

  private onAssignments(a: pb.Assignments): void {
    if (a.full) {
      const keep = new Set(a.updated.map((u) => u.taskId));
      for (const id of this.reported.keys()) if (!keep.has(id)) this.reported.delete(id);
    }
    for (const id of a.removed) this.reported.delete(id);
    for (const u of a.updated) this.onTask(JSON.parse(u.taskJson) as Task);
    this.scheduleFlush();
  }

  private onTask(t: Task): void {
    const id = t.meta.id;
    const mine = this.reported.get(id) ?? t.status.state;
    if (isTerminal(mine)) return;
    if (taskStateRank(t.desiredState) > taskStateRank(TaskState.Running)) {
      this.report(id, TaskState.Shutdown, 'shut down as desired');
      return;
    }
    for (const s of startSequence) {
      if (taskStateRank(s) > taskStateRank(mine)) this.report(id, s, '');
    }
  }

  private report(taskId: string, state: TaskState, message: string): void {
    this.reported.set(taskId, state);
    this.pending.push({ taskId, state, timestampMs: this.clock.now(), message });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.pending.length === 0) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const updates = this.pending;
      this.pending = [];
      if (updates.length === 0 || this.stream === null) return;
      this.opts.client.updateTaskStatus(
        { nodeId: this.nodeId, sessionId: this.sessionId, updates },
        (err) => {
          if (err !== null) this.log(`${this.opts.hostname}: status: ${err.message}`);
        },
      );
    });
  }
}
