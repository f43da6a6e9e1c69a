// The logs service (proto/logs.proto) as the CLI uses it: log lines as an async iterator and the
// latest task figures, with gRPC errors turned into UnreachableError or ServerError as in
// client.ts (the broker marks its own refusals, so "a node disconnected" is never mistaken for
// "cannot reach a manager").

import { credentials, Metadata, status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import * as pb from '../proto/gen/logs.js';
import { parseDurationFlag, stringFlag } from './args.js';
import { ServerError, UnreachableError } from './errors.js';
import type { VerbContext } from './verb.js';

const statusName = (code: number): string =>
  Object.entries(grpcStatus).find(([, v]) => (v as number) === code)?.[0] ?? String(code);

/** One task's latest figures, as the leader holds them. */
export type TaskStat = pb.TaskStat;

export interface LogsRequest {
  /** A service name or id, or a task id or name. */
  readonly target: string;
  readonly follow: boolean;
  readonly tail?: number;
  readonly sinceMs?: number;
  /** Ends the stream (the iterator then finishes without an error). */
  readonly signal: AbortSignal;
}

export type LogsEvent =
  | { readonly type: 'line'; readonly message: pb.LogMessage }
  | { readonly type: 'notice'; readonly text: string };

export class LogsClient {
  readonly address: string;
  private readonly raw: pb.LogsServiceClient;
  private readonly timeoutMs: number;

  constructor(address: string, timeoutMs: number) {
    this.address = address;
    this.timeoutMs = timeoutMs;
    this.raw = new pb.LogsServiceClient(address, credentials.createInsecure());
  }

  close(): void {
    this.raw.close();
  }

  private toError(err: ServiceError): Error {
    const fromManager =
      (err.metadata?.get('x-tug-not-leader').length ?? 0) > 0 ||
      (err.metadata?.get('x-tug-logs-error').length ?? 0) > 0;
    if (
      (err.code === grpcStatus.UNAVAILABLE && !fromManager) ||
      err.code === grpcStatus.DEADLINE_EXCEEDED
    ) {
      return new UnreachableError(this.address, { cause: err });
    }
    return new ServerError(statusName(err.code), err.details, { cause: err });
  }

  /** Lines (and notices) in the order the manager sends them. */
  logs(req: LogsRequest): AsyncIterable<LogsEvent> {
    if (req.signal.aborted) return (async function* () {})();
    const call = this.raw.subscribeLogs(
      {
        service: req.target,
        taskIds: [],
        options: {
          follow: req.follow,
          tail: req.tail ?? 0,
          hasTail: req.tail !== undefined,
          sinceMs: req.sinceMs ?? 0,
        },
      },
      new Metadata(),
      // A non-follow read has a deadline; a follow runs until interrupted.
      req.follow ? {} : { deadline: Date.now() + this.timeoutMs },
    );
    const cancel = (): void => {
      call.cancel();
    };
    req.signal.addEventListener('abort', cancel, { once: true });
    const toError = (err: ServiceError): Error => this.toError(err);
    return (async function* () {
      try {
        for await (const r of call as AsyncIterable<pb.SubscribeLogsResponse>) {
          if (r.notice !== '') yield { type: 'notice', text: r.notice };
          for (const m of r.messages) yield { type: 'line', message: m };
        }
      } catch (err) {
        const e = err as ServiceError;
        if (e.code === grpcStatus.CANCELLED && req.signal.aborted) return;
        throw toError(e);
      } finally {
        req.signal.removeEventListener('abort', cancel);
        call.cancel();
      }
    })();
  }

  /** The latest figures the leader holds (all tasks when `taskIds` is empty). */
  taskStats(taskIds: readonly string[] = []): Promise<pb.TaskStat[]> {
    return new Promise((resolve, reject) => {
      this.raw.taskStats(
        { taskIds: [...taskIds] },
        new Metadata(),
        { deadline: Date.now() + this.timeoutMs },
        (err, res) => {
          if (err === null) resolve(res.stats);
          else reject(this.toError(err));
        },
      );
    });
  }
}

/** A logs client for the manager `ctx.client()` connected to, with the --timeout in force. */
export const logsClientFor = async (ctx: VerbContext): Promise<LogsClient> => {
  const control = await ctx.client();
  const timeout = stringFlag(ctx.args, 'timeout');
  return new LogsClient(
    control.address,
    timeout === undefined ? 10_000 : parseDurationFlag(timeout, '--timeout'),
  );
};
