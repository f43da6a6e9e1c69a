// Builders of model objects for tests (constraints, scheduler, orchestrator): valid defaults,
// overridable in the fields a test is about.
import type {
  Node,
  NodeId,
  Resources,
  Service,
  ServiceId,
  ServiceSpec,
  Task,
  TaskId,
  TaskState,
} from '../model.js';

export const Mi = 1024 * 1024;

export interface NodeOpts {
  readonly state?: Node['status']['state'];
  readonly availability?: Node['spec']['availability'];
  readonly role?: Node['spec']['role'];
  readonly labels?: Record<string, string>;
  readonly engineLabels?: Record<string, string>;
  readonly hostname?: string;
  readonly os?: string;
  readonly arch?: string;
  readonly cpus?: number;
  readonly memoryBytes?: number;
}

export const node = (id: string, o: NodeOpts = {}): Node => ({
  meta: { id: id as NodeId, name: id, version: 1, createdAt: 0, updatedAt: 0, labels: {} },
  spec: {
    role: o.role ?? 'worker',
    availability: o.availability ?? 'active',
    labels: o.labels ?? {},
  },
  description: {
    hostname: o.hostname ?? `host-${id}`,
    platform: { os: o.os ?? 'linux', arch: o.arch ?? 'amd64' },
    resources: { cpus: o.cpus ?? 4, memoryBytes: o.memoryBytes ?? 4096 * Mi },
    labels: o.engineLabels ?? {},
  },
  status: { state: o.state ?? 'ready', addr: '10.0.0.1', message: '' },
});

export const serviceSpec = (o: Partial<ServiceSpec> = {}): ServiceSpec => ({
  container: { image: 'busybox', env: {}, readOnlyRootfs: false, stopGracePeriodMs: 10_000 },
  mode: { type: 'replicated', replicas: 1 },
  ports: [],
  resources: { limits: {}, reservations: {} },
  networks: [],
  placement: { constraints: [], maxReplicasPerNode: 0 },
  restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 },
  update: { parallelism: 1, delayMs: 0, order: 'stop-first' },
  ...o,
});

export const service = (id: string, spec: ServiceSpec, specVersion = 1): Service => ({
  meta: { id: id as ServiceId, name: id, version: 1, createdAt: 0, updatedAt: 0, labels: {} },
  spec,
  specVersion,
});

export interface TaskOpts {
  readonly service?: string;
  readonly slot?: number;
  readonly nodeId?: string;
  readonly reservations?: Resources;
  readonly constraints?: readonly string[];
  readonly maxReplicasPerNode?: number;
  readonly desiredState?: TaskState;
  readonly state?: TaskState;
  readonly timestamp?: number;
  readonly exitCode?: number;
  readonly createdAt?: number;
  readonly specVersion?: number;
}

export const task = (id: string, o: TaskOpts = {}): Task => ({
  meta: {
    id: id as TaskId,
    name: id,
    version: 1,
    createdAt: o.createdAt ?? 0,
    updatedAt: 0,
    labels: {},
  },
  serviceId: (o.service ?? 'svc') as ServiceId,
  ...(o.slot === undefined ? {} : { slot: o.slot }),
  ...(o.nodeId === undefined ? {} : { nodeId: o.nodeId as NodeId }),
  spec: { image: 'busybox', env: {}, readOnlyRootfs: false, stopGracePeriodMs: 10_000 },
  specVersion: o.specVersion ?? 1,
  resources: { limits: {}, reservations: o.reservations ?? {} },
  placement: {
    constraints: o.constraints ?? [],
    maxReplicasPerNode: o.maxReplicasPerNode ?? 0,
  },
  networks: [],
  desiredState: o.desiredState ?? 'running',
  status: {
    state: o.state ?? 'pending',
    timestamp: o.timestamp ?? 0,
    message: '',
    ...(o.exitCode === undefined ? {} : { exitCode: o.exitCode }),
  },
});
