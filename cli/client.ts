// The control API as promises: one method per RPC the CLI uses, each with a deadline, payload JSON
// parsed into the model's types, and gRPC errors turned into UnreachableError (no manager answered)
// or ServerError (a manager answered no). The only place the CLI touches grpc-js.

import { credentials, Metadata, status as grpcStatus } from '@grpc/grpc-js';
import type { CallOptions, ClientUnaryCall, ServiceError } from '@grpc/grpc-js';
import type { Network, Node, Service, Task } from '../common/model.js';
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

  private call<Req, Res>(fn: Unary<Req, Res>, req: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      fn(req, new Metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err === null) {
          resolve(res);
          return;
        }
        // UNAVAILABLE with a leader hint is a manager saying "not me", not a missing manager.
        const leaderHint = err.metadata?.get('x-tug-leader')[0];
        if (
          (err.code === grpcStatus.UNAVAILABLE && leaderHint === undefined) ||
          err.code === grpcStatus.DEADLINE_EXCEEDED
        ) {
          reject(new UnreachableError(this.address, { cause: err }));
          return;
        }
        const hint = leaderHint === undefined ? '' : ` (leader: ${String(leaderHint)})`;
        reject(new ServerError(statusName(err.code), `${err.details}${hint}`, { cause: err }));
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
