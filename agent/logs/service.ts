// The agent's side of the log broker (proto/logs.proto): keeps a ListenSubscriptions stream open
// to the manager its session is connected to (re-opened when the session moves), answers each
// subscription with a PublishLogs stream read from the task's log files, and reports the
// figures of its tasks every few seconds.

import { credentials, Metadata, type ClientWritableStream } from '@grpc/grpc-js';
import * as pb from '../../proto/gen/logs.js';
import { followLog, readLog, type LogLine } from './reader.js';

/** One task's figures, as agent/runtime's `stats()` reads them (absent: not available). */
export interface TaskFigures {
  readonly taskId: string;
  readonly cpuSeconds?: number;
  readonly memoryBytes?: number;
  readonly memoryLimitBytes?: number;
  readonly pids?: number;
  readonly oomKills?: number;
}

export interface AgentLogServiceDeps {
  /** host:port of the manager the session is connected to ('' while it has none). */
  readonly manager: () => string;
  /** The node id ('' until the first session started). */
  readonly nodeId: () => string;
  /** The live log file of a task on this node, or undefined when the agent does not know it. */
  readonly logPathFor: (taskId: string) => string | undefined;
  /** Figures of the tasks running now. */
  readonly statsFor: () => Promise<readonly TaskFigures[]>;
  readonly statsIntervalMs?: number;
  /** How often the manager address is looked at (and a failed stream retried). */
  readonly retryMs?: number;
  /** Lines per published message. */
  readonly batchLines?: number;
  /** Follow: how often files are looked at without a change notice. */
  readonly pollMs?: number;
  readonly now?: () => number;
  readonly log?: (line: string) => void;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

export class AgentLogService {
  private readonly deps: AgentLogServiceDeps;
  private readonly clients = new Map<string, pb.LogBrokerServiceClient>();
  private readonly stopping = new AbortController();
  private readonly running: Promise<void>[] = [];
  /** Subscriptions being served, by id: aborting one ends its publisher. */
  private readonly subs = new Map<string, AbortController>();
  private readonly publishers = new Set<Promise<void>>();
  /** How many subscriptions were received (for tests and logs). */
  subscriptionsServed = 0;
  statsReports = 0;

  constructor(deps: AgentLogServiceDeps) {
    this.deps = deps;
  }

  start(): void {
    this.running.push(this.listenLoop(this.stopping.signal), this.statsLoop(this.stopping.signal));
  }

  /** Ends every stream and waits for the loops; then closes the clients. */
  async stop(): Promise<void> {
    this.stopping.abort();
    for (const s of this.subs.values()) s.abort();
    await Promise.all(this.running);
    await Promise.all([...this.publishers]);
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private client(address: string): pb.LogBrokerServiceClient {
    let c = this.clients.get(address);
    if (c === undefined) {
      c = new pb.LogBrokerServiceClient(address, credentials.createInsecure());
      this.clients.set(address, c);
    }
    return c;
  }

  private async listenLoop(signal: AbortSignal): Promise<void> {
    const retryMs = this.deps.retryMs ?? 500;
    while (!signal.aborted) {
      const address = this.deps.manager();
      const nodeId = this.deps.nodeId();
      if (address === '' || nodeId === '') {
        await sleep(retryMs, signal);
        continue;
      }
      await this.listenOnce(address, nodeId, signal, retryMs);
      await sleep(retryMs, signal);
    }
  }

  /** One ListenSubscriptions stream, until it ends, the session moves, or the service stops. */
  private async listenOnce(
    address: string,
    nodeId: string,
    signal: AbortSignal,
    retryMs: number,
  ): Promise<void> {
    const streamEnded = new AbortController();
    const call = this.client(address).listenSubscriptions({ nodeId }, new Metadata());
    const mine = new Set<string>();
    call.on('data', (m: pb.ListenSubscriptionsResponse) => {
      if (m.close) {
        this.subs.get(m.id)?.abort();
        return;
      }
      mine.add(m.id);
      this.serve(address, nodeId, m, streamEnded.signal);
    });
    const ended = new Promise<void>((resolve) => {
      call.on('error', (e) => {
        if (!signal.aborted)
          this.deps.log?.(`logs: subscription stream to ${address} ended: ${e.message}`);
        resolve();
      });
      call.on('end', () => {
        resolve();
      });
    });
    // Watch for the session moving to another manager (failover) while the stream is open.
    const moved = (async (): Promise<void> => {
      while (!signal.aborted && !streamEnded.signal.aborted) {
        await sleep(retryMs, AbortSignal.any([signal, streamEnded.signal]));
        if (this.deps.manager() !== address) return;
      }
    })();
    await Promise.race([
      ended,
      moved,
      new Promise((r) => {
        signal.addEventListener('abort', r, { once: true });
      }),
    ]);
    streamEnded.abort();
    call.cancel();
    await moved;
    // Publishers of this stream end with it (the broker ended their subscriptions already).
    for (const id of mine) this.subs.get(id)?.abort();
  }

  private serve(
    address: string,
    nodeId: string,
    m: pb.ListenSubscriptionsResponse,
    streamEnded: AbortSignal,
  ): void {
    if (this.subs.has(m.id)) return;
    this.subscriptionsServed++;
    const ac = new AbortController();
    this.subs.set(m.id, ac);
    const signal = AbortSignal.any([ac.signal, streamEnded, this.stopping.signal]);
    const abrupt = AbortSignal.any([streamEnded, this.stopping.signal]);
    const p = this.publish(address, nodeId, m, signal, abrupt)
      .catch((e: unknown) => {
        this.deps.log?.(`logs: publishing subscription ${m.id} failed: ${String(e)}`);
      })
      .finally(() => {
        this.subs.delete(m.id);
        this.publishers.delete(p);
      });
    this.publishers.add(p);
  }

  private async publish(
    address: string,
    nodeId: string,
    m: pb.ListenSubscriptionsResponse,
    signal: AbortSignal,
    /** Aborted when the agent stops or loses its manager: the stream is cut, never `done`. */
    abrupt: AbortSignal,
  ): Promise<void> {
    const opts = m.options ?? { follow: false, tail: 0, hasTail: false, sinceMs: 0 };
    const read = {
      ...(opts.hasTail ? { tail: opts.tail } : {}),
      ...(opts.sinceMs > 0 ? { sinceMs: opts.sinceMs } : {}),
    };
    const batch = this.deps.batchLines ?? 100;
    let call: ClientWritableStream<pb.PublishLogsRequest> | undefined;
    const finished = new Promise<void>((resolve) => {
      call = this.client(address).publishLogs(new Metadata(), () => {
        resolve();
      });
    });
    const stream = call!;
    const send = (taskId: string, lines: readonly LogLine[]): void => {
      for (let i = 0; i < lines.length; i += batch) {
        stream.write({
          subscriptionId: m.id,
          nodeId,
          messages: lines.slice(i, i + batch).map((l) => ({
            taskId,
            nodeId,
            stream: l.stream,
            timestamp: l.time,
            data: Buffer.from(l.text, 'utf8'),
          })),
          done: false,
          error: '',
        });
      }
    };
    const missing = m.taskIds.filter((id) => this.deps.logPathFor(id) === undefined);
    const known = m.taskIds.flatMap((id) => {
      const path = this.deps.logPathFor(id);
      return path === undefined ? [] : [{ id, path }];
    });
    try {
      if (!opts.follow) {
        for (const t of known) {
          if (signal.aborted) break;
          send(t.id, await readLog(t.path, read));
        }
      } else {
        await Promise.all(
          known.map(async (t) => {
            for await (const lines of followLog(t.path, {
              ...read,
              signal,
              ...(this.deps.pollMs === undefined ? {} : { pollMs: this.deps.pollMs }),
            })) {
              send(t.id, lines);
            }
          }),
        );
      }
    } finally {
      if (abrupt.aborted) stream.cancel();
      else {
        stream.write({
          subscriptionId: m.id,
          nodeId,
          messages: [],
          done: true,
          error: missing.length === 0 ? '' : `no logs of task ${missing.join(', ')} on this node`,
        });
        stream.end();
      }
      await finished;
    }
  }

  private async statsLoop(signal: AbortSignal): Promise<void> {
    const every = this.deps.statsIntervalMs ?? 5_000;
    const now = this.deps.now ?? Date.now;
    while (!signal.aborted) {
      await sleep(every, signal);
      const address = this.deps.manager();
      const nodeId = this.deps.nodeId();
      if (signal.aborted || address === '' || nodeId === '') continue;
      try {
        const figures = await this.deps.statsFor();
        const at = now();
        const stats: pb.TaskStat[] = figures.map((f) => ({
          taskId: f.taskId,
          nodeId,
          cpuSeconds: f.cpuSeconds ?? 0,
          memoryBytes: f.memoryBytes ?? 0,
          memoryLimitBytes: f.memoryLimitBytes ?? 0,
          pids: f.pids ?? 0,
          oomKills: f.oomKills ?? 0,
          timestampMs: at,
        }));
        await new Promise<void>((resolve, reject) => {
          this.client(address).reportStats(
            { nodeId, stats },
            new Metadata(),
            { deadline: Date.now() + Math.max(every, 5_000) },
            (err) => {
              if (err === null) resolve();
              else reject(err);
            },
          );
        });
        this.statsReports++;
      } catch (e) {
        this.deps.log?.(`logs: reporting stats to ${address} failed: ${String(e)}`);
      }
    }
  }
}
