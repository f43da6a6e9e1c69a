// A simulated agent with no containers (kubemark's hollow node: the real session client over a
// fake executor): the shared AgentSession talks to the managers over real gRPC, and the executor
// walks each assigned task accepted → preparing → starting → running, or to shutdown when asked.
// Cheap enough to run a thousand per process: sessions share one gRPC client per manager and
// hold only a few timers and maps each.
import type { Clock } from '../../common/clock.js';
import { isTerminal, TaskState, taskStateRank, type Task } from '../../common/model.js';
import type * as pb from '../../proto/gen/dispatcher.js';
import type { BackoffOptions } from '../session/backoff.js';
import { singleClient, type DispatcherClientSource } from '../session/clients.js';
import { AgentSession, type Assignments, type SessionExecutor } from '../session/session.js';

export interface HollowAgentOptions {
  /** Clients per manager address, shared between agents (see DispatcherClients). */
  readonly clients?: DispatcherClientSource;
  /** host:port of the managers; needed with `clients`. */
  readonly managers?: readonly string[];
  /** One fixed client instead (no failover to other managers); its owner closes it. */
  readonly client?: pb.DispatcherServiceClient;
  readonly hostname: string;
  /** A node id from an earlier session, as a real agent persists it. */
  readonly nodeId?: string;
  readonly addr?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly backoff?: BackoffOptions;
  readonly log?: (line: string) => void;
}

const startSequence: readonly TaskState[] = [
  TaskState.Accepted,
  TaskState.Preparing,
  TaskState.Starting,
  TaskState.Running,
];

/** The fake executor: what a task would report next, given what was last reported. */
export const hollowReports = (
  t: Task,
  mine: TaskState | undefined,
): { state: TaskState; message: string }[] => {
  const from = mine ?? t.status.state;
  if (isTerminal(from)) return [];
  if (taskStateRank(t.desiredState) > taskStateRank(TaskState.Running)) {
    return [{ state: TaskState.Shutdown, message: 'shut down as desired' }];
  }
  return startSequence
    .filter((s) => taskStateRank(s) > taskStateRank(from))
    .map((state) => ({ state, message: '' }));
};

export class HollowAgent implements SessionExecutor {
  readonly session: AgentSession;
  /** Task id → the last state this agent reported for it. */
  private readonly reported = new Map<string, TaskState>();
  /** Assignment messages received (for tests). */
  assignmentMessages = 0;

  constructor(opts: HollowAgentOptions) {
    let clients = opts.clients;
    let managers = opts.managers ?? [];
    if (opts.client !== undefined) {
      clients = singleClient(opts.client);
      if (managers.length === 0) managers = ['(given client)'];
    }
    if (clients === undefined || managers.length === 0) {
      throw new Error('a hollow agent needs `client`, or `clients` and `managers`');
    }
    this.session = new AgentSession({
      managers,
      clients,
      executor: this,
      description: {
        hostname: opts.hostname,
        os: 'linux',
        arch: 'x86_64',
        cpus: 4,
        memoryBytes: 8 * 1024 ** 3,
        labels: { ...(opts.labels ?? {}) },
        addr: opts.addr ?? '127.0.0.1',
      },
      ...(opts.nodeId === undefined ? {} : { nodeId: opts.nodeId }),
      ...(opts.clock === undefined ? {} : { clock: opts.clock }),
      ...(opts.random === undefined ? {} : { random: opts.random }),
      ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }),
      ...(opts.log === undefined ? {} : { log: opts.log }),
    });
  }

  /** The node id the managers gave (or accepted); kept across reconnects. */
  get nodeId(): string {
    return this.session.nodeId;
  }

  /** The last session error, if any. */
  get lastError(): Error | null {
    return this.session.lastError;
  }

  /** Tasks this agent currently holds (reported and not yet finished). */
  get tasks(): ReadonlyMap<string, TaskState> {
    return this.reported;
  }

  /** Opens a session; resolves once a manager has accepted it (node id known). */
  start(): Promise<void> {
    return this.session.start();
  }

  /** Keeps the session open but goes silent (no heartbeats, reports or reconnects). */
  stopHeartbeats(): void {
    this.session.freeze();
  }

  /** Closes the session; `start()` reconnects with the same node id. */
  stop(): void {
    this.session.stop();
  }

  assignments(a: Assignments): void {
    this.assignmentMessages++;
    if (a.full) {
      const keep = new Set<string>(a.updated.map((t) => t.meta.id));
      for (const id of this.reported.keys()) if (!keep.has(id)) this.reported.delete(id);
    }
    for (const id of a.removed) this.reported.delete(id);
    for (const t of a.updated) {
      for (const r of hollowReports(t, this.reported.get(t.meta.id))) {
        this.reported.set(t.meta.id, r.state);
        this.session.report(t.meta.id, r);
      }
    }
  }
}
