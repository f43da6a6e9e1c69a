import test from 'ava';
import fc from 'fast-check';
import type { Node, Task } from '../../common/model.js';
import { TaskState } from '../../common/model.js';
import { Mi, node, task } from '../../common/testing/model-fixtures.js';
import { holdsRoom, nano, NodeLoads } from './node-loads.js';

/** The totals counted from scratch, as the scheduler did on every pass before NodeLoads. */
const recount = (nodes: ReadonlyMap<string, Node>, tasks: ReadonlyMap<string, Task>) =>
  [...nodes.keys()].sort().map((id) => {
    const on = [...tasks.values()].filter((t) => t.nodeId === id && holdsRoom(t));
    const perService: Record<string, number> = {};
    for (const t of on) perService[t.serviceId] = (perService[t.serviceId] ?? 0) + 1;
    return {
      id,
      nanoCpus: on.reduce((n, t) => n + nano(t.resources.reservations.cpus), 0),
      memoryBytes: on.reduce((n, t) => n + (t.resources.reservations.memoryBytes ?? 0), 0),
      tasks: on.length,
      perService,
    };
  });

const view = (l: NodeLoads) =>
  l.all().map((x) => ({
    id: x.node.meta.id,
    nanoCpus: x.nanoCpus,
    memoryBytes: x.memoryBytes,
    tasks: x.tasks,
    perService: Object.fromEntries([...x.perService].sort()),
  }));

const op = fc.oneof(
  fc.record({ type: fc.constant('node' as const), id: fc.constantFrom('a', 'b', 'c') }),
  fc.record({ type: fc.constant('node-delete' as const), id: fc.constantFrom('a', 'b', 'c') }),
  fc.record({
    type: fc.constant('task' as const),
    id: fc.constantFrom('t1', 't2', 't3', 't4'),
    service: fc.constantFrom('s1', 's2'),
    nodeId: fc.option(fc.constantFrom('a', 'b', 'c', 'gone'), { nil: undefined }),
    state: fc.constantFrom(...Object.values(TaskState)),
    cpus: fc.constantFrom(0, 0.1, 0.2, 1),
    memoryBytes: fc.constantFrom(0, 64 * Mi, 128 * Mi),
  }),
  fc.record({ type: fc.constant('task-delete' as const), id: fc.constantFrom('t1', 't2', 't3') }),
);

test('NodeLoads: kept one event at a time, the totals equal a recount of the store', (t) => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const nodes = new Map<string, Node>();
      const tasks = new Map<string, Task>();
      const loads = new NodeLoads();
      for (const o of ops) {
        if (o.type === 'node') {
          const n = node(o.id);
          nodes.set(o.id, n);
          loads.setNode(n);
        } else if (o.type === 'node-delete') {
          nodes.delete(o.id);
          loads.deleteNode(n(o.id));
        } else if (o.type === 'task') {
          const x = task(o.id, {
            service: o.service,
            ...(o.nodeId === undefined ? {} : { nodeId: o.nodeId }),
            state: o.state,
            reservations: { cpus: o.cpus, memoryBytes: o.memoryBytes },
          });
          tasks.set(o.id, x);
          loads.setTask(x);
        } else {
          tasks.delete(o.id);
          loads.deleteTask(o.id as Task['meta']['id']);
        }
      }
      t.deepEqual(view(loads), recount(nodes, tasks));
      t.deepEqual(view(NodeLoads.of([...nodes.values()], [...tasks.values()])), view(loads));
    }),
  );
});

const n = (id: string): Node['meta']['id'] => id as Node['meta']['id'];

test('NodeLoads: a placement holds its room until the store says how the task stands', (t) => {
  const loads = NodeLoads.of([node('a')], []);
  const pending = task('t', { reservations: { memoryBytes: 64 * Mi } });
  loads.place(pending, n('a'));
  t.is(loads.all()[0]!.memoryBytes, 64 * Mi);
  // Committed: the same room, counted once.
  loads.setTask({ ...pending, nodeId: n('a'), status: { ...pending.status, state: 'assigned' } });
  t.is(loads.all()[0]!.tasks, 1);
  // Dropped as stale (still pending in the store): the room is free again.
  loads.setTask(pending);
  t.is(loads.all()[0]!.tasks, 0);
  t.is(loads.all()[0]!.memoryBytes, 0);
});

test('NodeLoads: tasks on a node that left still count when it comes back', (t) => {
  const loads = NodeLoads.of([node('a')], [task('t', { nodeId: 'a', state: 'running' })]);
  loads.deleteNode(n('a'));
  t.deepEqual(loads.all(), []);
  loads.setNode(node('a'));
  t.is(loads.all()[0]!.tasks, 1);
});
