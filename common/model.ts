// The orchestration model (DESIGN.md "The model"): Cluster, Node, Service, Task, Network, as the
// managers store them and every component reads them. Swarm's task model with Kubernetes-flavoured
// specs. Plain data only: no behaviour beyond small pure helpers, no wire or YAML types here.

// ---- ids -----------------------------------------------------------------------------------

export type NodeId = string & { readonly __brand: 'NodeId' };
export type ServiceId = string & { readonly __brand: 'ServiceId' };
export type TaskId = string & { readonly __brand: 'TaskId' };
export type NetworkId = string & { readonly __brand: 'NetworkId' };
export type ClusterId = string & { readonly __brand: 'ClusterId' };
export type ObjectId = NodeId | ServiceId | TaskId | NetworkId | ClusterId;

export const ObjectKind = {
  Cluster: 'cluster',
  Node: 'node',
  Service: 'service',
  Task: 'task',
  Network: 'network',
} as const;
export type ObjectKind = (typeof ObjectKind)[keyof typeof ObjectKind];

/** Every stored object has one. `version` is the Raft index of its last write (optimistic concurrency). */
export interface Meta<Id extends ObjectId = ObjectId> {
  readonly id: Id;
  /** Unique per kind (tasks: `<service>.<slot>.<id prefix>` or `<service>.<node>.<id prefix>`). */
  readonly name: string;
  readonly version: number;
  /** Milliseconds since the epoch, as the leader's clock said when it wrote. */
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly labels: Readonly<Record<string, string>>;
}

// ---- service -------------------------------------------------------------------------------

export interface PortSpec {
  readonly target: number;
  readonly published?: number;
  readonly protocol: 'tcp' | 'udp';
}

export interface Resources {
  /** CPUs as a decimal (0.5 = half a core). */
  readonly cpus?: number;
  readonly memoryBytes?: number;
  readonly pids?: number;
}

export const RestartCondition = { None: 'none', OnFailure: 'on-failure', Any: 'any' } as const;
export type RestartCondition = (typeof RestartCondition)[keyof typeof RestartCondition];

export interface RestartPolicy {
  readonly condition: RestartCondition;
  readonly delayMs: number;
  /** 0 = unlimited. */
  readonly maxAttempts: number;
  /** Attempts are counted within this window; 0 = forever. */
  readonly windowMs: number;
}

export interface BindMount {
  /** Absolute path on the node. */
  readonly source: string;
  /** Absolute path in the container. */
  readonly target: string;
  readonly readOnly: boolean;
}

export interface Healthcheck {
  /** Command run inside the container, e.g. ['wget', '-q', '-O-', 'http://127.0.0.1/']. */
  readonly command: readonly string[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly startPeriodMs: number;
}

/** What a rolling update does once too many new tasks failed (Swarm's `failure_action`). */
export const UpdateFailureAction = { Pause: 'pause', Continue: 'continue' } as const;
export type UpdateFailureAction = (typeof UpdateFailureAction)[keyof typeof UpdateFailureAction];

export interface UpdateConfig {
  /** Tasks replaced at a time; 0 = all at once. */
  readonly parallelism: number;
  readonly delayMs: number;
  readonly order: 'stop-first' | 'start-first';
  // The three below are optional only so that services stored before they existed still read;
  // the manifest validator always fills them in. Absent means `updateConfigDefaults`.
  /** Once failures exceed `maxFailureRatio`: stop replacing further tasks, or keep going. */
  readonly failureAction?: UpdateFailureAction;
  /** How long a new task is watched for failure after it reports running. */
  readonly monitorMs?: number;
  /** Failed new tasks tolerated, as a fraction (0..1) of the tasks the update replaces. */
  readonly maxFailureRatio?: number;
}

/** Swarm's defaults (api/defaults/service.go) for the optional UpdateConfig fields. */
export const updateConfigDefaults = {
  failureAction: UpdateFailureAction.Pause,
  monitorMs: 5000,
  maxFailureRatio: 0,
} as const;

/** A placement preference level: spread tasks evenly over the values of a node label. */
export interface PlacementPreference {
  /** `node.labels.<name>` or `engine.labels.<name>`. */
  readonly spread: string;
}

export interface Placement {
  /** `node.labels.X == Y`, `node.labels.X != Y`, `node.hostname == h`, `node.role == manager`… */
  readonly constraints: readonly string[];
  /** 0 = unlimited. */
  readonly maxReplicasPerNode: number;
  /** Applied in order, each level splitting the nodes of the one before (Swarm's). Absent = none. */
  readonly preferences?: readonly PlacementPreference[];
}

/** What runs: the part of a service spec a task carries with it (immutable per task). */
export interface ContainerSpec {
  readonly image: string;
  /** Overrides the image's entrypoint when set. */
  readonly command?: readonly string[];
  /** Overrides the image's cmd when set. */
  readonly args?: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly workdir?: string;
  readonly user?: string;
  readonly readOnlyRootfs: boolean;
  /** Host paths bind-mounted into the container. */
  readonly mounts?: readonly BindMount[];
  /**
   * Run in a user namespace: container root is an unprivileged user on the host (the agent's
   * mapped range), not host root.
   */
  readonly userNamespace?: boolean;
  /** Grace period between SIGTERM and SIGKILL. */
  readonly stopGracePeriodMs: number;
  readonly healthcheck?: Healthcheck;
}

export type ServiceMode =
  { readonly type: 'replicated'; readonly replicas: number } | { readonly type: 'global' };

export interface ServiceSpec {
  readonly container: ContainerSpec;
  readonly mode: ServiceMode;
  readonly ports: readonly PortSpec[];
  readonly resources: { readonly limits: Resources; readonly reservations: Resources };
  /** Network names. */
  readonly networks: readonly string[];
  readonly placement: Placement;
  readonly restartPolicy: RestartPolicy;
  readonly update: UpdateConfig;
}

export interface Service {
  readonly meta: Meta<ServiceId>;
  readonly spec: ServiceSpec;
  /** Bumped whenever spec changes (not on scale alone): tasks of an older specVersion get replaced. */
  readonly specVersion: number;
  readonly previousSpec?: ServiceSpec;
  /** The last rolling update, written by the orchestrator; absent before the first one. */
  readonly updateStatus?: UpdateStatus;
}

export const UpdateState = {
  Updating: 'updating',
  Paused: 'paused',
  Completed: 'completed',
} as const;
export type UpdateState = (typeof UpdateState)[keyof typeof UpdateState];

export interface UpdateStatus {
  readonly state: UpdateState;
  /** The spec version being rolled out; a status for an older version is history. */
  readonly specVersion: number;
  readonly startedAt: number;
  /** Set when completed or paused. */
  readonly finishedAt?: number;
  /** Slots that were outdated when the update started (the failure ratio's denominator). */
  readonly total: number;
  /** New tasks of this update that ended on their own while it was in progress. */
  readonly failures: number;
  /** For people: progress, or why it paused (the failed task and its message). */
  readonly message: string;
}

// ---- task ----------------------------------------------------------------------------------

/** In order: a task's state only moves forward through this list (terminal states last). */
export const TaskState = {
  New: 'new',
  Pending: 'pending',
  Assigned: 'assigned',
  Accepted: 'accepted',
  Preparing: 'preparing',
  Starting: 'starting',
  Running: 'running',
  Complete: 'complete',
  Failed: 'failed',
  Shutdown: 'shutdown',
  Rejected: 'rejected',
  Orphaned: 'orphaned',
} as const;
export type TaskState = (typeof TaskState)[keyof typeof TaskState];

const taskStateOrder: readonly TaskState[] = Object.values(TaskState);
export const taskStateRank = (s: TaskState): number => taskStateOrder.indexOf(s);
/** Terminal states all rank above running; moving between two terminal states is not allowed. */
export const isTerminal = (s: TaskState): boolean =>
  taskStateRank(s) > taskStateRank(TaskState.Running);
export const canMoveTo = (from: TaskState, to: TaskState): boolean =>
  !isTerminal(from) && taskStateRank(to) > taskStateRank(from);

export interface TaskStatus {
  readonly state: TaskState;
  /** When the agent (or the manager, for pending/assigned) observed it. */
  readonly timestamp: number;
  /** Human-readable: why pending (which filters rejected which nodes), why failed, … */
  readonly message: string;
  readonly exitCode?: number;
  readonly oom?: boolean;
  readonly health?: 'starting' | 'healthy' | 'unhealthy';
}

export interface Task {
  readonly meta: Meta<TaskId>;
  readonly serviceId: ServiceId;
  /** Replicated services: 1..replicas. Global services: undefined (one per node). */
  readonly slot?: number;
  readonly nodeId?: NodeId;
  readonly spec: ContainerSpec;
  readonly specVersion: number;
  readonly resources: { readonly limits: Resources; readonly reservations: Resources };
  readonly placement: Placement;
  readonly networks: readonly NetworkId[];
  /** Written by managers only. */
  readonly desiredState: TaskState;
  /** Written from agent reports (and by the scheduler for pending → assigned). */
  readonly status: TaskStatus;
}

// ---- node ----------------------------------------------------------------------------------

export const NodeAvailability = { Active: 'active', Pause: 'pause', Drain: 'drain' } as const;
export type NodeAvailability = (typeof NodeAvailability)[keyof typeof NodeAvailability];

export const NodeRole = { Manager: 'manager', Worker: 'worker' } as const;
export type NodeRole = (typeof NodeRole)[keyof typeof NodeRole];

export const NodeState = { Unknown: 'unknown', Ready: 'ready', Down: 'down' } as const;
export type NodeState = (typeof NodeState)[keyof typeof NodeState];

export interface Node {
  readonly meta: Meta<NodeId>;
  /** Set by the operator. */
  readonly spec: {
    readonly role: NodeRole;
    readonly availability: NodeAvailability;
    readonly labels: Readonly<Record<string, string>>;
  };
  /** Reported by the agent at registration. */
  readonly description: {
    readonly hostname: string;
    readonly platform: { readonly os: string; readonly arch: string };
    readonly resources: { readonly cpus: number; readonly memoryBytes: number };
    /** Labels the agent reports about itself (engine labels in Swarm). */
    readonly labels: Readonly<Record<string, string>>;
  };
  readonly status: { readonly state: NodeState; readonly addr: string; readonly message: string };
}

// ---- network and cluster -------------------------------------------------------------------

export interface Network {
  readonly meta: Meta<NetworkId>;
  readonly spec: {
    readonly driver: 'overlay';
    readonly subnet?: string;
    readonly attachable: boolean;
  };
  /** Filled by the allocator. */
  readonly allocation?: { readonly vni: number; readonly subnet: string; readonly gateway: string };
}

export interface Cluster {
  readonly meta: Meta<ClusterId>;
  readonly spec: {
    readonly heartbeatPeriodMs: number;
    /** A node missing heartbeats for this long is marked down. */
    readonly heartbeatGraceMs: number;
    /** Finished tasks kept per slot (the running one not counted). */
    readonly taskHistoryPerSlot: number;
  };
}

export type StoredObject =
  | { readonly kind: 'cluster'; readonly object: Cluster }
  | { readonly kind: 'node'; readonly object: Node }
  | { readonly kind: 'service'; readonly object: Service }
  | { readonly kind: 'task'; readonly object: Task }
  | { readonly kind: 'network'; readonly object: Network };

export const defaultClusterSpec: Cluster['spec'] = {
  // Tighter than Swarm's 5 s / 15 s: a dead node's tasks move within seconds.
  heartbeatPeriodMs: 1000,
  heartbeatGraceMs: 3000,
  taskHistoryPerSlot: 5,
};
