// Follower → leader relay of the CLI-facing logs service: a follower serves `SubscribeLogs` (a
// server stream) and `TaskStats` by calling the leader and passing its answer back unchanged —
// lines as they come, then the leader's status — so `tug logs` works against any manager. Like
// the control API's forwarder: one hop at most (`x-tug-forwarded`), and a call waits a bounded
// time for an election when no leader is known.

import {
  Client,
  credentials,
  Metadata,
  status as grpcStatus,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
  type StatusObject,
} from '@grpc/grpc-js';
import * as pb from '../../proto/gen/logs.js';
import { LOGS_ERROR_METADATA, NOT_LEADER_METADATA } from './broker.js';

export const FORWARDED_METADATA = 'x-tug-forwarded';

export interface RelayDeps {
  readonly self: number;
  readonly status: () => { readonly leader: number; readonly isLeader: boolean };
  /** Where a member serves ('' when unknown). */
  readonly addressOf: (id: number) => string;
  readonly electionWaitMs: number;
  readonly pollMs: number;
  readonly now?: () => number;
}

const hopHeaders = new Set(['user-agent', 'content-type', 'te', 'host', 'accept-encoding']);

const withoutHop = (from: Metadata): Metadata => {
  const md = new Metadata();
  for (const [k, values] of Object.entries(from.toJSON())) {
    if (k.startsWith('grpc-') || k.startsWith(':') || hopHeaders.has(k)) continue;
    for (const v of values) md.add(k, v);
  }
  return md;
};

const unavailable = (details: string): Partial<ServiceError> => {
  const metadata = new Metadata();
  metadata.set(NOT_LEADER_METADATA, 'true');
  return { code: grpcStatus.UNAVAILABLE, details, metadata };
};

interface MethodDef {
  path: string;
  requestSerialize: (v: unknown) => Buffer;
  responseDeserialize: (b: Buffer) => unknown;
}

export class LogsRelay {
  private readonly deps: RelayDeps;
  private readonly now: () => number;
  private readonly clients = new Map<string, Client>();
  private closed = false;

  constructor(deps: RelayDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
  }

  close(): void {
    this.closed = true;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /** `local` answers on the leader; elsewhere calls go to the leader. */
  wrap(local: pb.LogsServiceServer): pb.LogsServiceServer {
    return {
      subscribeLogs: (call) => {
        this.leaderAddress(call.metadata).then(
          (address) => {
            if (address === null) local.subscribeLogs(call);
            else if (address === undefined) call.emit('error', this.noLeader());
            else this.relayStream(address, call);
          },
          (e: unknown) => {
            call.emit('error', e);
          },
        );
      },
      taskStats: (call, cb) => {
        this.leaderAddress(call.metadata).then(
          (address) => {
            if (address === null) local.taskStats(call, cb);
            else if (address === undefined) cb(this.noLeader());
            else this.relayUnary(address, call, cb);
          },
          (e: unknown) => {
            cb(e as Partial<ServiceError>);
          },
        );
      },
    };
  }

  /**
   * null: serve here (leading, or a forwarded call: the local handler refuses if not leading);
   * undefined: no leader elected within the wait.
   */
  private async leaderAddress(md: Metadata): Promise<string | null | undefined> {
    if (md.get(FORWARDED_METADATA).length > 0) return null;
    const until = this.now() + this.deps.electionWaitMs;
    for (;;) {
      const s = this.deps.status();
      if (s.isLeader) return null;
      const address = s.leader === 0 ? '' : this.deps.addressOf(s.leader);
      if (address !== '') return address;
      if (this.now() >= until || this.closed) return undefined;
      await new Promise((r) => setTimeout(r, this.deps.pollMs));
    }
  }

  private noLeader(): Partial<ServiceError> {
    return unavailable(
      `no leader elected within ${this.deps.electionWaitMs} ms (member ${this.deps.self} asked); retry later`,
    );
  }

  private clientFor(address: string): Client {
    let c = this.clients.get(address);
    if (c === undefined) {
      c = new Client(address, credentials.createInsecure());
      this.clients.set(address, c);
    }
    return c;
  }

  private md(call: { metadata: Metadata }): Metadata {
    const md = withoutHop(call.metadata);
    md.set(FORWARDED_METADATA, String(this.deps.self));
    return md;
  }

  private relayStream(
    address: string,
    call: ServerWritableStream<pb.SubscribeLogsRequest, pb.SubscribeLogsResponse>,
  ): void {
    const def = pb.LogsServiceService.subscribeLogs as unknown as MethodDef;
    const deadline = call.getDeadline();
    const up = this.clientFor(address).makeServerStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      call.request,
      this.md(call),
      Number.isFinite(deadline instanceof Date ? deadline.getTime() : deadline) ? { deadline } : {},
    );
    call.on('cancelled', () => {
      up.cancel();
    });
    up.on('metadata', (headers: Metadata) => {
      call.sendMetadata(withoutHop(headers));
    });
    up.on('data', (r: pb.SubscribeLogsResponse) => {
      call.write(r);
    });
    // The stream's status is its end: OK ends ours, anything else is passed on as it is.
    up.on('error', () => undefined);
    up.on('status', (s: StatusObject) => {
      if (call.cancelled) return;
      if (s.code === grpcStatus.OK) call.end();
      else
        call.emit('error', {
          code: s.code,
          details:
            s.code === grpcStatus.UNAVAILABLE &&
            s.metadata.get(NOT_LEADER_METADATA).length === 0 &&
            s.metadata.get(LOGS_ERROR_METADATA).length === 0
              ? `leader at ${address} unreachable from member ${this.deps.self}: ${s.details}`
              : s.details,
          metadata: s.metadata,
        });
    });
  }

  private relayUnary(
    address: string,
    call: ServerUnaryCall<pb.TaskStatsRequest, pb.TaskStatsResponse>,
    cb: (err: Partial<ServiceError> | null, value?: pb.TaskStatsResponse) => void,
  ): void {
    const def = pb.LogsServiceService.taskStats as unknown as MethodDef;
    const deadline = call.getDeadline();
    this.clientFor(address).makeUnaryRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      call.request,
      this.md(call),
      Number.isFinite(deadline instanceof Date ? deadline.getTime() : deadline)
        ? { deadline }
        : { deadline: this.now() + 10_000 },
      (err, value) => {
        if (err !== null) cb(err);
        else cb(null, value as pb.TaskStatsResponse);
      },
    );
  }
}
