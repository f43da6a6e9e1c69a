// The scheduler's decision core: which node each pending task goes to, or why none can take it.
// Pure: plain model objects in, assignments and reasons out; the shell that watches the store and
// commits the decisions lives elsewhere. Filters, ranking and batching: docs/scheduler.md.
import type { Node, NodeId, ServiceId, Task, TaskId } from '../../common/model.js';
import {
  isTerminal,
  NodeAvailability,
  NodeState,
  taskStateRank,
  TaskState,
} from '../../common/model.js';
import type { Constraint } from '../../common/constraints.js';
import { firstFailed, parseConstraints } from '../../common/constraints.js';
import { nano, NodeLoads, type NodeLoad } from './node-loads.js';

export interface ScheduleInput {
  /** Pending, unassigned tasks, in the order they should be considered (oldest first is fair). */
  readonly tasks: readonly Task[];
  readonly nodes: readonly Node[];
  /** Tasks already on nodes and not terminal: they hold resources and count for spreading. */
  readonly assigned: readonly Task[];
  /**
   * Per service, nodes that failed its tasks repeatedly of late (`node-failures.ts`): they still
   * pass the filters but rank after every other node (Swarm's potentially faulty nodes).
   */
  readonly faulty?: ReadonlyMap<ServiceId, ReadonlySet<NodeId>>;
}

export interface Assignment {
  readonly taskId: TaskId;
  readonly nodeId: NodeId;
}

export interface Unschedulable {
  readonly taskId: TaskId;
  /** Human-readable, never empty: names the filters that rejected nodes, with counts. */
  readonly reason: string;
}

export interface ScheduleResult {
  readonly assignments: Assignment[];
  readonly unschedulable: Unschedulable[];
}

const freeMemory = (l: NodeLoad): number =>
  l.node.description.resources.memoryBytes - l.memoryBytes;
const freeNanoCpus = (l: NodeLoad): number => nano(l.node.description.resources.cpus) - l.nanoCpus;

/** Why nodes were rejected for one task; each node is counted once, under the first filter it failed. */
interface Rejections {
  notReady: number;
  paused: number;
  drained: number;
  memory: number;
  largestFreeMemory: number;
  cpu: number;
  largestFreeNanoCpus: number;
  /** Keyed by the constraint's text, in first-seen order. */
  readonly constraints: Map<string, number>;
  maxReplicas: number;
}

const newRejections = (): Rejections => ({
  notReady: 0,
  paused: 0,
  drained: 0,
  memory: 0,
  largestFreeMemory: -Infinity,
  cpu: 0,
  largestFreeNanoCpus: -Infinity,
  constraints: new Map(),
  maxReplicas: 0,
});

/** `512Mi`, `1.5Gi`, `300B`: binary units as Kubernetes writes them. */
export const formatBytes = (bytes: number): string => {
  const units = ['B', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi'];
  let v = Math.max(0, bytes);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  const shown = Number.isInteger(v) ? String(v) : v.toFixed(1).replace(/\.0$/, '');
  return `${shown}${units[i]!}`;
};

const formatCpus = (nanoCpus: number): string => String(Math.max(0, nanoCpus) / 1e9);

const nodes = (n: number): string => (n === 1 ? '1 node' : `${n} nodes`);

const explain = (r: Rejections, task: Task, considered: number): string => {
  if (considered === 0) {
    return task.nodeId === undefined
      ? 'no suitable node (no nodes in the cluster)'
      : `no suitable node (node ${task.nodeId} not found)`;
  }
  const parts: string[] = [];
  if (r.notReady > 0) parts.push(`${nodes(r.notReady)} not ready`);
  if (r.paused > 0) parts.push(`${nodes(r.paused)} paused`);
  if (r.drained > 0) parts.push(`${nodes(r.drained)} drained`);
  if (r.memory > 0) {
    const need = formatBytes(task.resources.reservations.memoryBytes ?? 0);
    parts.push(
      `${nodes(r.memory)} with insufficient memory: need ${need}, largest free ${formatBytes(r.largestFreeMemory)}`,
    );
  }
  if (r.cpu > 0) {
    const need = formatCpus(nano(task.resources.reservations.cpus));
    parts.push(
      `${nodes(r.cpu)} with insufficient cpu: need ${need}, largest free ${formatCpus(r.largestFreeNanoCpus)}`,
    );
  }
  for (const [text, n] of r.constraints) parts.push(`${nodes(n)} failed constraint ${text}`);
  if (r.maxReplicas > 0) {
    parts.push(
      `${nodes(r.maxReplicas)} at max replicas per node (${task.placement.maxReplicasPerNode})`,
    );
  }
  return `no suitable node (${parts.join(', ')})`;
};

/** Runs the filters in order; returns true if the node can take the task, else records why not. */
const passes = (
  load: NodeLoad,
  task: Task,
  constraints: readonly Constraint[],
  r: Rejections,
): boolean => {
  const node = load.node;
  if (node.status.state !== NodeState.Ready) {
    r.notReady += 1;
    return false;
  }
  if (node.spec.availability !== NodeAvailability.Active) {
    if (node.spec.availability === NodeAvailability.Pause) r.paused += 1;
    else r.drained += 1;
    return false;
  }
  const needMemory = task.resources.reservations.memoryBytes ?? 0;
  const needCpu = nano(task.resources.reservations.cpus);
  // Only a positive reservation can be refused: a task reserving nothing fits an overcommitted node.
  if (needMemory > 0 && freeMemory(load) < needMemory) {
    r.memory += 1;
    r.largestFreeMemory = Math.max(r.largestFreeMemory, freeMemory(load));
    return false;
  }
  if (needCpu > 0 && freeNanoCpus(load) < needCpu) {
    r.cpu += 1;
    r.largestFreeNanoCpus = Math.max(r.largestFreeNanoCpus, freeNanoCpus(load));
    return false;
  }
  const failed = firstFailed(constraints, node);
  if (failed !== undefined) {
    r.constraints.set(failed.text, (r.constraints.get(failed.text) ?? 0) + 1);
    return false;
  }
  const max = task.placement.maxReplicasPerNode;
  if (max > 0 && (load.perService.get(task.serviceId) ?? 0) >= max) {
    r.maxReplicas += 1;
    return false;
  }
  return true;
};

/** Negative when `a` is the better node for a task of `service`. */
const rank = (
  a: NodeLoad,
  b: NodeLoad,
  service: ServiceId,
  faulty: ReadonlySet<NodeId> | undefined,
): number =>
  Number(faulty?.has(a.node.meta.id) ?? false) - Number(faulty?.has(b.node.meta.id) ?? false) ||
  (a.perService.get(service) ?? 0) - (b.perService.get(service) ?? 0) ||
  a.tasks - b.tasks ||
  freeMemory(b) - freeMemory(a) ||
  (a.node.meta.id < b.node.meta.id ? -1 : a.node.meta.id > b.node.meta.id ? 1 : 0);

/** The value a node has for a preference's `node.labels.X` / `engine.labels.X`; '' when unset. */
export const spreadValue = (node: Node, spread: string): string => {
  const operator = 'node.labels.';
  const engine = 'engine.labels.';
  if (spread.startsWith(operator)) return node.spec.labels[spread.slice(operator.length)] ?? '';
  if (spread.startsWith(engine)) return node.description.labels[spread.slice(engine.length)] ?? '';
  return '';
};

/**
 * Placement preferences as Swarm applies them: each level splits the nodes that passed the
 * filters into groups by the label's value (nodes without it form one group of their own) and
 * keeps the group holding the fewest tasks of the service, ties to the smallest value; the next
 * level splits that group. What is left is ranked as usual.
 */
const preferred = (passing: readonly NodeLoad[], task: Task): readonly NodeLoad[] => {
  let pool = passing;
  for (const pref of task.placement.preferences ?? []) {
    const groups = new Map<string, { loads: NodeLoad[]; tasks: number }>();
    for (const l of pool) {
      const v = spreadValue(l.node, pref.spread);
      const g = groups.get(v) ?? { loads: [], tasks: 0 };
      g.loads.push(l);
      g.tasks += l.perService.get(task.serviceId) ?? 0;
      groups.set(v, g);
    }
    let best: [string, { loads: NodeLoad[]; tasks: number }] | undefined;
    for (const entry of groups) {
      if (
        best === undefined ||
        entry[1].tasks < best[1].tasks ||
        (entry[1].tasks === best[1].tasks && entry[0] < best[0])
      )
        best = entry;
    }
    if (best === undefined) return pool;
    pool = best[1].loads;
  }
  return pool;
};

interface Group {
  readonly key: string;
  readonly heap: NodeHeap;
  readonly constraints: readonly Constraint[];
}

/** What decides a task's filters and ranking besides the nodes: equal keys, equal decisions. */
const groupKey = (t: Task): string =>
  JSON.stringify([t.serviceId, t.placement, t.resources.reservations]);

/** A binary min-heap of node loads under `before` (negative: a first). */
class NodeHeap {
  private readonly items: NodeLoad[];
  private readonly before: (a: NodeLoad, b: NodeLoad) => number;
  /** A heap of `items` (taken over, not copied), built bottom-up: O(n), not n pushes. */
  constructor(before: (a: NodeLoad, b: NodeLoad) => number, items: NodeLoad[] = []) {
    this.before = before;
    this.items = items;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }
  push(x: NodeLoad): void {
    const a = this.items;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.before(a[i]!, a[p]!) >= 0) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): NodeLoad | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    a[0] = last;
    this.siftDown(0);
    return top;
  }
  private siftDown(from: number): void {
    const a = this.items;
    let i = from;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && this.before(a[l]!, a[m]!) < 0) m = l;
      if (r < a.length && this.before(a[r]!, a[m]!) < 0) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }
}

export const schedule = (input: ScheduleInput): ScheduleResult => {
  const loads = new NodeLoads();
  for (const node of input.nodes) loads.setNode(node);
  for (const task of input.assigned) {
    if (task.nodeId !== undefined && !isTerminal(task.status.state)) loads.place(task, task.nodeId);
  }
  return scheduleOn(loads, input.tasks, input.faulty);
};

/**
 * schedule() against loads kept elsewhere (the shell's, up to date from store events): each
 * placement is recorded in `loads` as it is made.
 */
export const scheduleOn = (
  loads: NodeLoads,
  tasks: readonly Task[],
  faultyNodes?: ReadonlyMap<ServiceId, ReadonlySet<NodeId>>,
): ScheduleResult => {
  const all = loads.all();

  const assignments: Assignment[] = [];
  const unschedulable: Unschedulable[] = [];
  /**
   * Consecutive tasks that ask for the same thing (a service's replicas, usually thousands) share
   * their filtering and ranking: placing one changes only the chosen node, so the nodes that
   * passed stay in a heap ordered by `rank`, and only the chosen node is checked and re-ranked.
   * Same decisions as filtering and scanning every node per task (the ranking is a total
   * order), in O(log nodes) per task instead of O(nodes): at 1,000 nodes and 10,000 tasks the
   * scan was most of the leader's CPU. Spread preferences re-group per task: those take the scan.
   */
  let group = null as Group | null;
  for (const task of tasks) {
    const id = task.meta.id;
    if (taskStateRank(task.desiredState) > taskStateRank(TaskState.Running)) {
      unschedulable.push({ taskId: id, reason: `desired state is ${task.desiredState}` });
      continue;
    }
    const parsed = parseConstraints(task.placement.constraints);
    if (!parsed.ok) {
      unschedulable.push({ taskId: id, reason: parsed.error.message });
      continue;
    }
    const faulty = faultyNodes?.get(task.serviceId);
    const groupable = task.nodeId === undefined && (task.placement.preferences ?? []).length === 0;
    if (groupable) {
      const key = groupKey(task);
      if (group?.key !== key) {
        const rejections = newRejections();
        const heap = new NodeHeap(
          (a, b) => rank(a, b, task.serviceId, faulty),
          all.filter((load) => passes(load, task, parsed.value, rejections)),
        );
        group = { key, heap, constraints: parsed.value };
      }
      const best = group.heap.pop();
      if (best !== undefined) {
        loads.place(task, best.node.meta.id);
        assignments.push({ taskId: id, nodeId: best.node.meta.id });
        // Only its load changed: back in if it still takes a task like this one.
        if (passes(best, task, group.constraints, newRejections())) group.heap.push(best);
        continue;
      }
      // Nothing passes: the full scan below counts the reasons.
    } else {
      group = null;
    }
    // A task created for one node (global services) is only checked against that node.
    const candidates =
      task.nodeId === undefined ? all : all.filter((l) => l.node.meta.id === task.nodeId);
    const rejections = newRejections();
    const passing = candidates.filter((load) => passes(load, task, parsed.value, rejections));
    let best: NodeLoad | undefined;
    for (const load of preferred(passing, task)) {
      if (best === undefined || rank(load, best, task.serviceId, faulty) < 0) best = load;
    }
    if (best === undefined) {
      unschedulable.push({ taskId: id, reason: explain(rejections, task, candidates.length) });
      continue;
    }
    // A placement outside the group's heap changes a node the heap may hold: start afresh.
    group = null;
    loads.place(task, best.node.meta.id);
    assignments.push({ taskId: id, nodeId: best.node.meta.id });
  }
  return { assignments, unschedulable };
};
