import test from 'ava';
import fc from 'fast-check';
import type { Node, NodeId, ServiceId, Task, TaskId } from '../../common/model.js';
import { isTerminal } from '../../common/model.js';
import { firstFailed, parseConstraints } from '../../common/constraints.js';
import { Mi, node, task } from '../../common/testing/model-fixtures.js';
import type { ScheduleInput } from './schedule.js';
import { formatBytes, schedule } from './schedule.js';

const placeOne = (t1: Task, nodes: Node[], assigned: Task[] = []) =>
  schedule({ tasks: [t1], nodes, assigned });

const placedOn = (t1: Task, nodes: Node[], assigned: Task[] = []): string | undefined =>
  placeOne(t1, nodes, assigned).assignments[0]?.nodeId;

test('schedule: filters reject not-ready, paused and drained nodes', (t) => {
  const nodes = [
    node('a', { state: 'down' }),
    node('b', { state: 'unknown' }),
    node('c', { availability: 'pause' }),
    node('d', { availability: 'drain' }),
  ];
  const r = placeOne(task('t'), nodes);
  t.deepEqual(r.assignments, []);
  t.is(
    r.unschedulable[0]!.reason,
    'no suitable node (2 nodes not ready, 1 node paused, 1 node drained)',
  );
  t.is(placedOn(task('t'), [...nodes, node('e')]), 'e');
});

test('schedule: memory and cpu reservations count tasks already on the node', (t) => {
  const nodes = [
    node('a', { memoryBytes: 1024 * Mi, cpus: 2 }),
    node('b', { memoryBytes: 512 * Mi }),
  ];
  const onA = task('x', { nodeId: 'a', state: 'running', reservations: { memoryBytes: 768 * Mi } });
  const want = task('t', { reservations: { memoryBytes: 512 * Mi } });
  t.is(placedOn(want, nodes, [onA]), 'b');
  const onB = task('y', { nodeId: 'b', state: 'running', reservations: { memoryBytes: 256 * Mi } });
  const r = placeOne(want, nodes, [onA, onB]);
  t.is(
    r.unschedulable[0]!.reason,
    'no suitable node (2 nodes with insufficient memory: need 512Mi, largest free 256Mi)',
  );
  const cpu = task('c', { reservations: { cpus: 1.5 } });
  const onA2 = task('z', { nodeId: 'a', state: 'running', reservations: { cpus: 1 } });
  t.is(
    placeOne(cpu, [nodes[0]!], [onA2]).unschedulable[0]!.reason,
    'no suitable node (1 node with insufficient cpu: need 1.5, largest free 1)',
  );
});

test('schedule: terminal tasks hold no resources', (t) => {
  const n = node('a', { memoryBytes: 512 * Mi });
  const dead = task('x', { nodeId: 'a', state: 'failed', reservations: { memoryBytes: 512 * Mi } });
  t.is(placedOn(task('t', { reservations: { memoryBytes: 512 * Mi } }), [n], [dead]), 'a');
});

test('schedule: cpu sums are exact (0.1 + 0.2 fits 0.3)', (t) => {
  const n = node('a', { cpus: 0.3 });
  const r = schedule({
    tasks: [
      task('t1', { reservations: { cpus: 0.1 } }),
      task('t2', { reservations: { cpus: 0.2 } }),
    ],
    nodes: [n],
    assigned: [],
  });
  t.is(r.assignments.length, 2);
});

test('schedule: constraints filter and are explained by their text', (t) => {
  const nodes = [
    node('a', { labels: { zone: 'b' } }),
    node('b'),
    node('c', { labels: { zone: 'a' } }),
  ];
  const want = task('t', { constraints: ['node.labels.zone==a'] });
  t.is(placedOn(want, nodes), 'c');
  t.is(
    placeOne(want, nodes.slice(0, 2)).unschedulable[0]!.reason,
    'no suitable node (2 nodes failed constraint node.labels.zone == a)',
  );
  const broken = placeOne(task('t', { constraints: ['zone=a'] }), nodes);
  t.regex(broken.unschedulable[0]!.reason, /^invalid constraint "zone=a"/);
});

test('schedule: max replicas per node counts the service on the node, including the batch', (t) => {
  const nodes = [node('a'), node('b')];
  const mk = (id: string) => task(id, { maxReplicasPerNode: 1 });
  const r = schedule({ tasks: [mk('1'), mk('2'), mk('3')], nodes, assigned: [] });
  t.deepEqual(
    r.assignments.map((a) => a.nodeId),
    ['a', 'b'],
  );
  t.is(r.unschedulable[0]!.reason, 'no suitable node (2 nodes at max replicas per node (1))');
  const other = task('o', { service: 'other', nodeId: 'a', state: 'running' });
  t.is(placedOn(mk('4'), [node('a')], [other]), 'a');
});

test('schedule: reasons list every filter with counts, in filter order', (t) => {
  const nodes = [
    node('1', { state: 'down' }),
    node('2', { state: 'down' }),
    node('3', { availability: 'drain' }),
    node('4', { memoryBytes: 256 * Mi }),
    node('5', { memoryBytes: 128 * Mi }),
    node('6', { memoryBytes: 256 * Mi }),
    node('7', { labels: { zone: 'b' } }),
  ];
  const want = task('t', {
    reservations: { memoryBytes: 512 * Mi },
    constraints: ['node.labels.zone == a'],
  });
  t.is(
    placeOne(want, nodes).unschedulable[0]!.reason,
    'no suitable node (2 nodes not ready, 1 node drained, 3 nodes with insufficient memory: need 512Mi, largest free 256Mi, 1 node failed constraint node.labels.zone == a)',
  );
  t.is(placeOne(want, []).unschedulable[0]!.reason, 'no suitable node (no nodes in the cluster)');
  t.is(
    placeOne(task('g', { nodeId: 'gone' }), nodes).unschedulable[0]!.reason,
    'no suitable node (node gone not found)',
  );
});

test('schedule: ranking spreads the service first, then the least loaded, then node id', (t) => {
  const a = node('a');
  const b = node('b');
  const c = node('c', { memoryBytes: 8192 * Mi });
  const mine = task('m', { nodeId: 'a', state: 'running' });
  const others = [1, 2].map((i) =>
    task(`o${i}`, { service: 'other', nodeId: 'b', state: 'running' }),
  );
  // a has one of ours; b has two of another service's; c is empty and has the most memory.
  t.is(placedOn(task('t'), [a, b, c], [mine, ...others]), 'c');
  t.is(placedOn(task('t'), [a, b], [mine, ...others]), 'b', 'spread beats load');
  t.is(placedOn(task('t'), [b, node('d')], others), 'd', 'fewest tasks');
  const small = node('s', { memoryBytes: 1024 * Mi });
  t.is(placedOn(task('t'), [small, c]), 'c', 'most free memory');
  t.is(placedOn(task('t'), [node('z'), node('y')]), 'y', 'node id breaks ties whatever the order');
});

test('schedule: batches spread over nodes and honour decisions made earlier in the call', (t) => {
  const nodes = [node('a', { memoryBytes: 1024 * Mi }), node('b', { memoryBytes: 1024 * Mi })];
  const tasks = [1, 2, 3, 4, 5].map((i) =>
    task(`t${i}`, { reservations: { memoryBytes: 512 * Mi } }),
  );
  const r = schedule({ tasks, nodes, assigned: [] });
  t.deepEqual(
    r.assignments.map((x) => `${x.taskId}@${x.nodeId}`),
    ['t1@a', 't2@b', 't3@a', 't4@b'],
  );
  t.is(
    r.unschedulable[0]!.reason,
    'no suitable node (2 nodes with insufficient memory: need 512Mi, largest free 0B)',
  );
});

test('schedule: a pre-assigned task (global) is checked against its node only', (t) => {
  const nodes = [node('a', { availability: 'pause' }), node('b')];
  t.is(placedOn(task('t', { nodeId: 'b' }), nodes), 'b');
  t.is(
    placeOne(task('t', { nodeId: 'a' }), nodes).unschedulable[0]!.reason,
    'no suitable node (1 node paused)',
  );
});

test('schedule: tasks whose desired state is past running are not placed', (t) => {
  const r = placeOne(task('t', { desiredState: 'shutdown' }), [node('a')]);
  t.is(r.unschedulable[0]!.reason, 'desired state is shutdown');
});

test('schedule: formatBytes', (t) => {
  t.is(formatBytes(0), '0B');
  t.is(formatBytes(512 * Mi), '512Mi');
  t.is(formatBytes(1536 * Mi), '1.5Gi');
  t.is(formatBytes(1000), '1000B');
  t.is(formatBytes(-5), '0B');
});

// ---- properties ------------------------------------------------------------------------------

const constraintPool = [
  'node.labels.zone == a',
  'node.labels.zone != a',
  'node.role == manager',
  'engine.labels.ssd == true',
];

const arbNode = (id: string) =>
  fc
    .record({
      state: fc.constantFrom('ready', 'ready', 'ready', 'down', 'unknown'),
      availability: fc.constantFrom('active', 'active', 'active', 'pause', 'drain'),
      role: fc.constantFrom('manager', 'worker'),
      zone: fc.option(fc.constantFrom('a', 'b')),
      ssd: fc.boolean(),
      cpus: fc.integer({ min: 1, max: 8 }),
      memoryMi: fc.integer({ min: 256, max: 4096 }),
    })
    .map((o) =>
      node(id, {
        state: o.state,
        availability: o.availability,
        role: o.role,
        labels: o.zone === null ? {} : { zone: o.zone },
        engineLabels: o.ssd ? { ssd: 'true' } : {},
        cpus: o.cpus,
        memoryBytes: o.memoryMi * Mi,
      }),
    );

const arbTaskOpts = fc.record({
  service: fc.constantFrom('s1', 's2', 's3'),
  cpus: fc.option(fc.constantFrom(0.25, 0.5, 1, 2)),
  memoryMi: fc.option(fc.constantFrom(64, 256, 512, 1024)),
  constraints: fc.subarray(constraintPool, { maxLength: 2 }),
  max: fc.constantFrom(0, 0, 1, 2),
});

type ArbTaskOpts = typeof arbTaskOpts extends fc.Arbitrary<infer T> ? T : never;

const arbInput: fc.Arbitrary<ScheduleInput> = fc
  .record({
    nodeCount: fc.integer({ min: 0, max: 8 }),
    pending: fc.array(arbTaskOpts, { maxLength: 25 }),
    running: fc.array(fc.tuple(arbTaskOpts, fc.nat(), fc.boolean()), { maxLength: 15 }),
  })
  .chain(({ nodeCount, pending, running }) =>
    fc.tuple(...Array.from({ length: nodeCount }, (_, i) => arbNode(`n${i}`))).map((nodes) => {
      const mk = (id: string, o: ArbTaskOpts, extra: object = {}) =>
        task(id, {
          service: o.service,
          reservations: {
            ...(o.cpus === null ? {} : { cpus: o.cpus }),
            ...(o.memoryMi === null ? {} : { memoryBytes: o.memoryMi * Mi }),
          },
          constraints: o.constraints,
          maxReplicasPerNode: o.max,
          ...extra,
        });
      return {
        nodes,
        tasks: pending.map((o, i) => mk(`p${i}`, o)),
        assigned:
          nodes.length === 0
            ? []
            : running.map(([o, k, dead], i) =>
                mk(`r${i}`, o, {
                  nodeId: `n${k % nodes.length}`,
                  state: dead ? 'failed' : 'running',
                }),
              ),
      };
    }),
  );

test('schedule: never assigns to a node failing a filter, never over capacity counting the batch', (t) => {
  fc.assert(
    fc.property(arbInput, (input) => {
      const { assignments } = schedule(input);
      const byId = new Map(input.tasks.map((x) => [x.meta.id, x]));
      const nodes = new Map(input.nodes.map((n) => [n.meta.id, n]));
      const live = input.assigned.filter((x) => !isTerminal(x.status.state));
      const onNode: Task[] = [...live];
      for (const a of assignments) {
        const tk = byId.get(a.taskId)!;
        const n = nodes.get(a.nodeId)!;
        if (n.status.state !== 'ready' || n.spec.availability !== 'active') return false;
        const cs = parseConstraints(tk.placement.constraints);
        if (!cs.ok || firstFailed(cs.value, n) !== undefined) return false;
        onNode.push({ ...tk, nodeId: a.nodeId });
        const here = onNode.filter((x) => x.nodeId === a.nodeId);
        const mem = here.reduce((s, x) => s + (x.resources.reservations.memoryBytes ?? 0), 0);
        const cpu = here.reduce(
          (s, x) => s + Math.round((x.resources.reservations.cpus ?? 0) * 1e9),
          0,
        );
        const needMem = tk.resources.reservations.memoryBytes ?? 0;
        const needCpu = tk.resources.reservations.cpus ?? 0;
        // Only tasks that reserve something can be refused (and so can overflow a node).
        if (needMem > 0 && mem > n.description.resources.memoryBytes) return false;
        if (needCpu > 0 && cpu > Math.round(n.description.resources.cpus * 1e9)) return false;
        const max = tk.placement.maxReplicasPerNode;
        if (max > 0 && here.filter((x) => x.serviceId === tk.serviceId).length > max) return false;
      }
      return true;
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

test('schedule: every task is decided exactly once; every unschedulable one has a reason', (t) => {
  fc.assert(
    fc.property(arbInput, (input) => {
      const r = schedule(input);
      const decided = [
        ...r.assignments.map((a) => a.taskId),
        ...r.unschedulable.map((u) => u.taskId),
      ];
      return (
        decided.length === input.tasks.length &&
        new Set(decided).size === decided.length &&
        r.unschedulable.every((u) => u.reason.length > 0 && !u.reason.endsWith('()'))
      );
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

test('schedule: a lone task is unschedulable only if no node passes every filter', (t) => {
  fc.assert(
    fc.property(arbInput, (input) => {
      for (const tk of input.tasks.slice(0, 1)) {
        const r = schedule({ ...input, tasks: [tk], assigned: [] });
        const cs = parseConstraints(tk.placement.constraints);
        const fits = input.nodes.some(
          (n) =>
            n.status.state === 'ready' &&
            n.spec.availability === 'active' &&
            (tk.resources.reservations.memoryBytes ?? 0) <= n.description.resources.memoryBytes &&
            (tk.resources.reservations.cpus ?? 0) <= n.description.resources.cpus &&
            cs.ok &&
            firstFailed(cs.value, n) === undefined,
        );
        if (fits !== (r.assignments.length === 1)) return false;
      }
      return true;
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

test('schedule: the decision does not depend on the order nodes are given in', (t) => {
  fc.assert(
    fc.property(arbInput, (input) => {
      const a = schedule(input);
      const b = schedule({ ...input, nodes: [...input.nodes].reverse() });
      return JSON.stringify(a) === JSON.stringify(b);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

const withPrefs = (t1: Task, ...spread: string[]): Task => ({
  ...t1,
  placement: { ...t1.placement, preferences: spread.map((s) => ({ spread: s })) },
});

const zoneCounts = (
  nodes: readonly Node[],
  assignments: readonly { nodeId: string }[],
  key = 'zone',
): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const a of assignments) {
    const z = nodes.find((n) => n.meta.id === a.nodeId)!.spec.labels[key] ?? '';
    out[z] = (out[z] ?? 0) + 1;
  }
  return out;
};

test('schedule: spread preference, 6 replicas over zones of 2 and 4 nodes land 3 in each', (t) => {
  const nodes = [
    ...['a1', 'a2'].map((id) => node(id, { labels: { zone: 'a' } })),
    ...['b1', 'b2', 'b3', 'b4'].map((id) => node(id, { labels: { zone: 'b' } })),
  ];
  const tasks = [1, 2, 3, 4, 5, 6].map((i) => withPrefs(task(`t${i}`), 'node.labels.zone'));
  const r = schedule({ tasks, nodes, assigned: [] });
  t.deepEqual(zoneCounts(nodes, r.assignments), { a: 3, b: 3 });
  // Without the preference, spreading over nodes puts 4 in the bigger zone.
  const plain = schedule({ tasks: tasks.map((x) => task(x.meta.id)), nodes, assigned: [] });
  t.deepEqual(zoneCounts(nodes, plain.assignments), { a: 2, b: 4 });
});

test('schedule: spread preferences apply in order, nodes without the label form their own group', (t) => {
  const nodes = [
    node('a1', { labels: { zone: 'a', rack: '1' } }),
    node('a2', { labels: { zone: 'a', rack: '1' } }),
    node('a3', { labels: { zone: 'a', rack: '2' } }),
    node('b1', { labels: { zone: 'b', rack: '1' } }),
    node('x', {}),
  ];
  const tasks = [1, 2, 3, 4, 5, 6].map((i) =>
    withPrefs(task(`t${i}`), 'node.labels.zone', 'node.labels.rack'),
  );
  const r = schedule({ tasks, nodes, assigned: [] });
  t.deepEqual(zoneCounts(nodes, r.assignments), { '': 2, a: 2, b: 2 });
  const inA = r.assignments.filter((a) => a.nodeId.startsWith('a'));
  // Within zone a, racks 1 and 2 get one each.
  t.deepEqual(zoneCounts(nodes, inA, 'rack'), { '1': 1, '2': 1 });
  // Engine labels work the same way; existing tasks count.
  const engine = [
    node('e1', { engineLabels: { dc: 'x' } }),
    node('e2', { engineLabels: { dc: 'y' } }),
  ];
  const onX = task('old', { nodeId: 'e1', state: 'running' });
  t.is(placedOn(withPrefs(task('n'), 'engine.labels.dc'), engine, [onX]), 'e2');
});

test('schedule: a node faulty for the service ranks after every other, but still takes work', (t) => {
  const nodes = [node('a'), node('b')];
  const faulty = new Map([['svc' as ServiceId, new Set(['a' as NodeId])]]);
  const r = schedule({ tasks: [task('t1'), task('t2')], nodes, assigned: [], faulty });
  t.deepEqual(
    r.assignments.map((a) => a.nodeId),
    ['b', 'b'],
  );
  const other = task('o', { service: 'other' });
  const onA = (r2: ReturnType<typeof schedule>): boolean => r2.assignments[0]?.nodeId === 'a';
  t.true(onA(schedule({ tasks: [other], nodes, assigned: [], faulty })));
  t.true(onA(schedule({ tasks: [task('t')], nodes: [node('a')], assigned: [], faulty })));
});

test('schedule: with one spread level, a batch on idle nodes that all pass differs by at most 1 per value', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom('a', 'b', 'c', undefined), { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 1, max: 30 }),
      (zones, n) => {
        const nodes = zones.map((z, i) =>
          node(`n${String(i).padStart(2, '0')}`, { labels: z === undefined ? {} : { zone: z } }),
        );
        const tasks = Array.from({ length: n }, (_, i) =>
          withPrefs(task(`t${i}`), 'node.labels.zone'),
        );
        const r = schedule({ tasks, nodes, assigned: [] });
        if (r.assignments.length !== n) return false;
        const counts = zoneCounts(nodes, r.assignments);
        const groups = new Set(zones.map((z) => z ?? ''));
        const values = [...groups].map((g) => counts[g] ?? 0);
        return Math.max(...values) - Math.min(...values) <= 1;
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});

test('schedule: a batch decides exactly as one task at a time (runs of identical tasks share a heap)', (t) => {
  fc.assert(
    fc.property(arbInput, fc.integer({ min: 1, max: 6 }), (input, copies) => {
      // Runs of identical tasks, as a service's replicas arrive.
      const tasks = input.tasks.flatMap((x) =>
        Array.from({ length: copies }, (_, i) => ({
          ...x,
          meta: { ...x.meta, id: `${x.meta.id}.${i}` as TaskId },
        })),
      );
      const batch = schedule({ ...input, tasks });
      const assigned = [...input.assigned];
      const one: { taskId: TaskId; nodeId: NodeId }[] = [];
      for (const x of tasks) {
        const r = schedule({ ...input, tasks: [x], assigned });
        for (const a of r.assignments) {
          one.push(a);
          assigned.push({ ...x, nodeId: a.nodeId, status: { ...x.status, state: 'assigned' } });
        }
      }
      t.deepEqual(batch.assignments, one);
    }),
    { numRuns: 500 },
  );
});
