// Builders of valid objects and a fake proposer, for the store's tests and its users' tests.
import {
  TaskState,
  type Cluster,
  type ClusterId,
  type Network,
  type NetworkId,
  type Node,
  type NodeId,
  type Service,
  type ServiceId,
  type Task,
  type TaskId,
} from '../../common/model.js';
import type { MemoryStore } from './memory-store.js';
import type { Proposer } from './writer.js';
import { decodeBatch } from './codec.js';

const meta = <Id extends string>(id: Id, name: string) => ({
  id,
  name,
  version: 0,
  createdAt: 0,
  updatedAt: 0,
  labels: {},
});

export const makeService = (id: string, name = id, replicas = 1): Service => ({
  meta: meta(id as ServiceId, name),
  spec: {
    container: { image: 'busybox', env: {}, readOnlyRootfs: false, stopGracePeriodMs: 10_000 },
    mode: { type: 'replicated', replicas },
    ports: [],
    resources: { limits: {}, reservations: {} },
    networks: [],
    placement: { constraints: [], maxReplicasPerNode: 0 },
    restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 },
    update: { parallelism: 1, delayMs: 0, order: 'stop-first' },
  },
  specVersion: 1,
});

export const makeTask = (
  id: string,
  serviceId: string,
  fields: Partial<Pick<Task, 'slot' | 'nodeId' | 'desiredState'>> & { state?: TaskState } = {},
): Task => {
  const { state, ...rest } = fields;
  return {
    meta: meta(id as TaskId, `${serviceId}.${fields.slot ?? fields.nodeId ?? ''}.${id}`),
    serviceId: serviceId as ServiceId,
    spec: { image: 'busybox', env: {}, readOnlyRootfs: false, stopGracePeriodMs: 10_000 },
    specVersion: 1,
    resources: { limits: {}, reservations: {} },
    placement: { constraints: [], maxReplicasPerNode: 0 },
    networks: [],
    desiredState: TaskState.Running,
    status: { state: state ?? TaskState.New, timestamp: 0, message: '' },
    ...rest,
  };
};

export const makeNode = (id: string, name = id): Node => ({
  meta: meta(id as NodeId, name),
  spec: { role: 'worker', availability: 'active', labels: {} },
  description: {
    hostname: name,
    platform: { os: 'linux', arch: 'x86_64' },
    resources: { cpus: 4, memoryBytes: 8 << 30 },
    labels: {},
  },
  status: { state: 'ready', addr: '10.0.0.1', message: '' },
});

export const makeNetwork = (id: string, name = id): Network => ({
  meta: meta(id as NetworkId, name),
  spec: { driver: 'overlay', attachable: false },
});

export const makeCluster = (id: string, taskHistoryPerSlot: number): Cluster => ({
  meta: meta(id as ClusterId, id),
  spec: { heartbeatPeriodMs: 1000, heartbeatGraceMs: 3000, taskHistoryPerSlot },
});

/** Applies every proposal at once to `store`, at the next index. */
export class FakeProposer implements Proposer {
  index = 0;
  readonly proposed: Uint8Array[] = [];
  private readonly store: MemoryStore;
  constructor(store: MemoryStore) {
    this.store = store;
  }
  propose(data: Uint8Array): Promise<{ index: number; result: unknown }> {
    this.proposed.push(data);
    const index = ++this.index;
    const result = this.store.apply({ term: 1, index, type: 'normal', data });
    return Promise.resolve({ index, result });
  }
  /** Transactions per proposal so far. */
  batchSizes(): number[] {
    return this.proposed.map((d) => decodeBatch(d)?.txs.length ?? -1);
  }
}
