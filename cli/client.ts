// The control API as promises: one method per RPC the CLI uses, each with a deadline, payload JSON
// parsed into the model's types, and gRPC errors turned into UnreachableError (no manager answered)
// or ServerError (a manager answered no). The only place the CLI touches grpc-js.

import { credentials, Metadata, status as grpcStatus } from '@grpc/grpc-js';
import type { CallOptions, ClientUnaryCall, ServiceError } from '@grpc/grpc-js';
import type { Network, Node, ObjectKind, Service, Task } from '../common/model.js';
import * as pb from '../proto/gen/control.js';
import { ServerError, UnreachableError } from './errors.js';

type Unary<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: Partial<CallOptions>,
  cb: (err: ServiceError | null, res: Res) => void,
) => ClientUnaryCall;

const statusName = (code: number): string =>
  Object.entries(grpcStatus).find(([, v]) => (v as number) === code)?.[0] ?? String(code);

export interface Listed<T> {
  readonly items: readonly T[];
  readonly version: number;
}

/** One store event from the Watch stream, with its object parsed. */
export type WatchEvent = {
  readonly type: 'create' | 'update' | 'delete';
  readonly version: number;
} & (
  | { readonly kind: 'service'; readonly object: Service }
  | { readonly kind: 'task'; readonly object: Task }
  | { readonly kind: 'node'; readonly object: Node }
  | { readonly kind: 'network'; readonly object: Network }
  | { readonly kind: 'cluster'; readonly object: { readonly meta: Service['meta'] } }
);

export interface WatchOptions {
  /** Events with a version above this; absent: from now on. */
  readonly fromVersion?: number;
  /** Empty or absent: every kind. */
  readonly kinds?: readonly ObjectKind[];
  /** Ends the stream (the iterator then finishes without an error). */
  readonly signal: AbortSignal;
}

export class ControlClient {
  readonly address: string;
  private readonly raw: pb.ControlServiceClient;
  private readonly timeoutMs: number;

  constructor(address: string, timeoutMs: number) {
    this.address = address;
    this.timeoutMs = timeoutMs;
    this.raw = new pb.ControlServiceClient(address, credentials.createInsecure());
  }

  close(): void {
    this.raw.close();
  }

  /** Resolves once connected; UnreachableError if not within the deadline. */
  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.raw.waitForReady(Date.now() + this.timeoutMs, (err) => {
        if (err === undefined) resolve();
        else reject(new UnreachableError(this.address, { cause: err }));
      });
    });
  }

  private toError(err: ServiceError): Error {
    // UNAVAILABLE marked by a manager ("not the leader", "no leader elected yet") is a manager
    // answering, not a missing one: show its message rather than "cannot reach".
    const leaderHint = err.metadata?.get('x-tug-leader')[0];
    const fromManager = ['x-tug-not-leader', 'x-tug-relay-failed'].some(
      (k) => (err.metadata?.get(k).length ?? 0) > 0,
    );
    if (
      (err.code === grpcStatus.UNAVAILABLE && !fromManager && leaderHint === undefined) ||
      err.code === grpcStatus.DEADLINE_EXCEEDED
    ) {
      return new UnreachableError(this.address, { cause: err });
    }
    const hint = leaderHint === undefined ? '' : ` (leader: ${String(leaderHint)})`;
    return new ServerError(statusName(err.code), `${err.details}${hint}`, { cause: err });
  }

  /**
   * Store events in order, as an async iterator. Resolves once the server has registered the
   * watch (its response headers), so a write made after this resolves is seen. A watch older than
   * the server's event log fails with ServerError status OUT_OF_RANGE: list again and re-watch.
   */
  async watch(opts: WatchOptions): Promise<AsyncIterable<WatchEvent>> {
    // An abort listener added to an aborted signal never fires: the stream would never end.
    if (opts.signal.aborted) return (async function* () {})();
    const call = this.raw.watch(
      {
        ...(opts.fromVersion === undefined ? {} : { fromVersion: opts.fromVersion }),
        kinds: [...(opts.kinds ?? [])],
      },
      new Metadata(),
    );
    const cancel = (): void => {
      call.cancel();
    };
    opts.signal.addEventListener('abort', cancel, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new UnreachableError(this.address));
        }, this.timeoutMs);
        call.once('metadata', () => {
          clearTimeout(timer);
          resolve();
        });
        call.once('error', (err: ServiceError) => {
          clearTimeout(timer);
          reject(
            err.code === grpcStatus.CANCELLED ? new Error('watch cancelled') : this.toError(err),
          );
        });
      });
    } catch (err) {
      opts.signal.removeEventListener('abort', cancel);
      call.cancel();
      if (opts.signal.aborted) return (async function* () {})();
      throw err;
    }
    const toError = (err: ServiceError): Error => this.toError(err);
    return (async function* () {
      try {
        for await (const r of call as AsyncIterable<pb.WatchResponse>) {
          for (const e of r.events) {
            yield {
              type: e.type,
              kind: e.kind,
              version: e.version,
              object: JSON.parse(e.objectJson) as unknown,
            } as WatchEvent;
          }
        }
      } catch (err) {
        const e = err as ServiceError;
        if (e.code === grpcStatus.CANCELLED && opts.signal.aborted) return;
        throw toError(e);
      } finally {
        opts.signal.removeEventListener('abort', cancel);
        call.cancel();
      }
    })();
  }

  private call<Req, Res>(fn: Unary<Req, Res>, req: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      fn(req, new Metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err === null) resolve(res);
        else reject(this.toError(err));
      });
    });
  }

  async apply(req: pb.ApplyRequest): Promise<pb.ApplyResponse> {
    return this.call(this.raw.apply.bind(this.raw), req);
  }

  async scale(replicas: Readonly<Record<string, number>>): Promise<Service[]> {
    const res = await this.call(this.raw.scale.bind(this.raw), {
      replicas: { ...replicas },
    });
    return res.servicesJson.map((j) => JSON.parse(j) as Service);
  }

  async getService(service: string): Promise<Service> {
    const res = await this.call(this.raw.getService.bind(this.raw), { service });
    return JSON.parse(res.serviceJson) as Service;
  }

  async listServices(): Promise<Listed<Service>> {
    const res = await this.call(this.raw.listServices.bind(this.raw), {});
    return { items: res.servicesJson.map((j) => JSON.parse(j) as Service), version: res.version };
  }

  async removeService(service: string): Promise<void> {
    await this.call(this.raw.removeService.bind(this.raw), { service, version: 0 });
  }

  async listNetworks(): Promise<Listed<Network>> {
    const res = await this.call(this.raw.listNetworks.bind(this.raw), {});
    return { items: res.networksJson.map((j) => JSON.parse(j) as Network), version: res.version };
  }

  async removeNetwork(network: string): Promise<void> {
    await this.call(this.raw.removeNetwork.bind(this.raw), { network, version: 0 });
  }

  async listTasks(filter: Partial<pb.ListTasksRequest> = {}): Promise<Listed<Task>> {
    const req: pb.ListTasksRequest = { service: '', node: '', desiredState: '', ...filter };
    const res = await this.call(this.raw.listTasks.bind(this.raw), req);
    return { items: res.tasksJson.map((j) => JSON.parse(j) as Task), version: res.version };
  }

  async getTask(task: string): Promise<Task> {
    const res = await this.call(this.raw.getTask.bind(this.raw), { task });
    return JSON.parse(res.taskJson) as Task;
  }

  async listNodes(): Promise<Listed<Node>> {
    const res = await this.call(this.raw.listNodes.bind(this.raw), {});
    return { items: res.nodesJson.map((j) => JSON.parse(j) as Node), version: res.version };
  }

  async getNode(node: string): Promise<Node> {
    const res = await this.call(this.raw.getNode.bind(this.raw), { node });
    return JSON.parse(res.nodeJson) as Node;
  }

  async updateNode(req: pb.UpdateNodeRequest): Promise<Node> {
    const res = await this.call(this.raw.updateNode.bind(this.raw), req);
    return JSON.parse(res.nodeJson) as Node;
  }
}
