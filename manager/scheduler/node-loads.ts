// What every node holds: reservations, task count and tasks per service, kept up to date one task
// at a time. The scheduler's shell feeds it store events and its own uncommitted placements, so
// a pass costs what it decides, not a re-count of every task in the cluster (at 10,000 tasks on
// 1,000 nodes the re-count was a third of each pass).
import type { Node, NodeId, ServiceId, Task, TaskId } from '../../common/model.js';
import { isTerminal, taskStateRank, TaskState } from '../../common/model.js';

// CPUs are decimals; summing 0.1 + 0.2 in floating point would let rounding decide capacity, so
// they are counted in integer nano-CPUs (Swarm's NanoCPUs).
export const nano = (cpus: number | undefined): number => Math.round((cpus ?? 0) * 1e9);

/** One node's running totals; `node` is null while tasks still count on a node the store lost. */
export interface Load {
  node: Node | null;
  nanoCpus: number;
  memoryBytes: number;
  tasks: number;
  readonly perService: Map<ServiceId, number>;
}

/** The load of a node in the store: the ones the scheduler may offer tasks to. */
export type NodeLoad = Load & { node: Node };

/** What one task adds to its node, remembered so it can be taken back exactly. */
interface Held {
  readonly nodeId: NodeId;
  readonly serviceId: ServiceId;
  readonly nanoCpus: number;
  readonly memoryBytes: number;
}

/**
 * Whether a task holds room on its node: placed (assigned or later) and not yet terminal. A task
 * told to shut down holds its reservations until it has stopped.
 */
export const holdsRoom = (t: Task): boolean =>
  t.nodeId !== undefined &&
  taskStateRank(t.status.state) > taskStateRank(TaskState.Pending) &&
  !isTerminal(t.status.state);

export class NodeLoads {
  private readonly loads = new Map<NodeId, Load>();
  /** Nodes in the store; a load without a node only keeps counting tasks until they go. */
  private readonly present = new Set<NodeId>();
  private readonly held = new Map<TaskId, Held>();
  private sorted: NodeLoad[] | null = null;

  /** Loads of `nodes` with every task of `tasks` that holds room counted. */
  static of(nodes: readonly Node[], tasks: readonly Task[]): NodeLoads {
    const l = new NodeLoads();
    for (const n of nodes) l.setNode(n);
    for (const t of tasks) l.setTask(t);
    return l;
  }

  /** The loads of the nodes in the store, by node id (every scan, so every tie, in that order). */
  all(): readonly NodeLoad[] {
    if (this.sorted === null) {
      this.sorted = [...this.present]
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
        .map((id) => this.loads.get(id) as NodeLoad);
    }
    return this.sorted;
  }

  setNode(node: Node): void {
    const id = node.meta.id;
    const load = this.loads.get(id);
    if (load === undefined) this.loads.set(id, emptyLoad(node));
    else load.node = node;
    if (!this.present.has(id)) {
      this.present.add(id);
      this.sorted = null;
    }
  }

  deleteNode(id: NodeId): void {
    if (!this.present.delete(id)) return;
    this.sorted = null;
    const load = this.loads.get(id)!;
    if (load.tasks === 0) this.loads.delete(id);
    else load.node = null;
  }

  /** A task as the store has it now: counted on its node while it holds room there. */
  setTask(t: Task): void {
    if (holdsRoom(t)) this.hold(t, t.nodeId!);
    else this.deleteTask(t.meta.id);
  }

  /**
   * A placement decided but not committed: counted on `nodeId` until setTask or deleteTask says
   * how the task really stands.
   */
  place(t: Task, nodeId: NodeId): void {
    this.hold(t, nodeId);
  }

  deleteTask(id: TaskId): void {
    const h = this.held.get(id);
    if (h === undefined) return;
    this.held.delete(id);
    const load = this.loads.get(h.nodeId)!;
    load.nanoCpus -= h.nanoCpus;
    load.memoryBytes -= h.memoryBytes;
    load.tasks -= 1;
    const n = (load.perService.get(h.serviceId) ?? 0) - 1;
    if (n > 0) load.perService.set(h.serviceId, n);
    else load.perService.delete(h.serviceId);
    if (load.tasks === 0 && !this.present.has(h.nodeId)) this.loads.delete(h.nodeId);
  }

  private hold(t: Task, nodeId: NodeId): void {
    const prev = this.held.get(t.meta.id);
    const r = t.resources.reservations;
    const h: Held = {
      nodeId,
      serviceId: t.serviceId,
      nanoCpus: nano(r.cpus),
      memoryBytes: r.memoryBytes ?? 0,
    };
    if (
      prev !== undefined &&
      prev.nodeId === h.nodeId &&
      prev.nanoCpus === h.nanoCpus &&
      prev.memoryBytes === h.memoryBytes &&
      prev.serviceId === h.serviceId
    )
      return;
    if (prev !== undefined) this.deleteTask(t.meta.id);
    let load = this.loads.get(nodeId);
    if (load === undefined) {
      // A task on a node the store does not have (any more): counted, never offered.
      load = emptyLoad(null);
      this.loads.set(nodeId, load);
    }
    this.held.set(t.meta.id, h);
    load.nanoCpus += h.nanoCpus;
    load.memoryBytes += h.memoryBytes;
    load.tasks += 1;
    load.perService.set(h.serviceId, (load.perService.get(h.serviceId) ?? 0) + 1);
  }
}

const emptyLoad = (node: Node | null): Load => ({
  node,
  nanoCpus: 0,
  memoryBytes: 0,
  tasks: 0,
  perService: new Map(),
});
