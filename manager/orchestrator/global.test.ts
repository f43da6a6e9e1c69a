import test from 'ava';
import type { TaskId } from '../../common/model.js';
import { node, service, serviceSpec, task } from '../../common/testing/model-fixtures.js';
import type { Action, ReconcileDeps } from './actions.js';
import { OrchestratorMisuseError } from './actions.js';
import { reconcileGlobal } from './global.js';

const ids = (): ReconcileDeps => {
  let n = 0;
  return { newId: () => `task${String(++n).padStart(4, '0')}` as TaskId };
};

const global = (o: Parameters<typeof serviceSpec>[0] = {}, version = 1) =>
  service('agent', serviceSpec({ mode: { type: 'global' }, ...o }), version);

const summary = (actions: readonly Action[]): string[] =>
  actions.map((a) => {
    switch (a.type) {
      case 'create-task':
        return `create ${a.task.nodeId ?? '?'} ${a.reason}`;
      case 'shutdown-task':
        return `shutdown ${a.taskId}: ${a.reason}`;
      case 'delete-task':
        return `delete ${a.taskId}`;
      case 'restart-later':
        return `restart ${String(a.slot)} at ${a.at}`;
      case 'update-later':
        return `update at ${a.at}`;
      case 'blocked':
        return `blocked: ${a.reason}`;
      case 'update-status':
        return `status ${a.status.state} v${a.status.specVersion}: ${a.status.message}`;
    }
  });

const on = (nodeId: string, id: string, o: Parameters<typeof task>[1] = {}) =>
  task(id, { service: 'agent', nodeId, state: 'running', ...o });

test('global: one task per ready active node, pre-assigned to it', (t) => {
  const nodes = [
    node('a'),
    node('b'),
    node('c', { state: 'down' }),
    node('d', { availability: 'pause' }),
  ];
  const actions = reconcileGlobal(global(), [], nodes, 0, ids());
  t.deepEqual(summary(actions), ['create a fill', 'create b fill']);
  const first = actions[0]!;
  if (first.type !== 'create-task') return t.fail();
  t.is(first.task.meta.name, 'agent.a.task0001');
  t.false('slot' in first.task);
});

test('global: paused and down nodes keep their tasks; drained ones lose them', (t) => {
  const nodes = [
    node('p', { availability: 'pause' }),
    node('d', { state: 'down' }),
    node('x', { availability: 'drain' }),
  ];
  const tasks = [on('p', 'tp'), on('d', 'td'), on('x', 'tx')];
  t.deepEqual(summary(reconcileGlobal(global(), tasks, nodes, 0, ids())), [
    'shutdown tx: node drained',
  ]);
});

test('global: a paused node gets no restart', (t) => {
  const dead = on('p', 'tp', { state: 'failed' });
  t.deepEqual(
    reconcileGlobal(global(), [dead], [node('p', { availability: 'pause' })], 0, ids()),
    [],
  );
  t.deepEqual(summary(reconcileGlobal(global(), [dead], [node('p')], 0, ids())), [
    'create p restart',
  ]);
});

test('global: constraints pick the nodes; tasks on nodes that stop matching are shut down', (t) => {
  const s = global({
    placement: { constraints: ['node.labels.gpu == yes'], maxReplicasPerNode: 0 },
  });
  const nodes = [node('a', { labels: { gpu: 'yes' } }), node('b')];
  t.deepEqual(summary(reconcileGlobal(s, [on('b', 'tb')], nodes, 0, ids())), [
    'shutdown tb: node fails constraint node.labels.gpu == yes',
    'create a fill',
  ]);
});

test('global: tasks on removed nodes are shut down', (t) => {
  t.deepEqual(summary(reconcileGlobal(global(), [on('gone', 'tg')], [], 0, ids())), [
    'shutdown tg: node removed',
  ]);
});

test('global: an unparsable constraint blocks instead of shutting everything down', (t) => {
  const s = global({ placement: { constraints: ['gpu=yes'], maxReplicasPerNode: 0 } });
  const actions = reconcileGlobal(s, [on('a', 'ta')], [node('a')], 0, ids());
  t.is(actions.length, 1);
  t.is(actions[0]!.type, 'blocked');
});

test('global: rolling update across nodes, parallelism 1', (t) => {
  const s = global({}, 2);
  const nodes = [node('a'), node('b')];
  const tasks = [on('a', 'ta'), on('b', 'tb')];
  t.deepEqual(summary(reconcileGlobal(s, tasks, nodes, 0, ids())), [
    'shutdown ta: update to spec version 2',
    'status updating v2: update in progress',
  ]);
  const stopped = [
    {
      ...tasks[0]!,
      desiredState: 'shutdown' as const,
      status: { ...tasks[0]!.status, state: 'shutdown' as const },
    },
    tasks[1]!,
  ];
  t.deepEqual(summary(reconcileGlobal(s, stopped, nodes, 0, ids())), [
    'create a update',
    'status updating v2: update in progress',
  ]);
});

test('global: refuses a replicated service', (t) => {
  const r = service('r', serviceSpec());
  t.throws(() => reconcileGlobal(r, [], [], 0, ids()), { instanceOf: OrchestratorMisuseError });
});

test('global: start-first starts the new task on the node beside the old one; not on a paused node', (t) => {
  const s = global(
    { update: { parallelism: 0, delayMs: 0, order: 'start-first', failureAction: 'pause' } },
    2,
  );
  const nodes = [node('a'), node('p', { availability: 'pause' })];
  const tasks = [on('a', 'ta'), on('p', 'tp')];
  t.deepEqual(summary(reconcileGlobal(s, tasks, nodes, 0, ids())), [
    'create a update',
    'status updating v2: update in progress',
  ]);
  const replaced = [...tasks, on('a', 'na', { specVersion: 2, createdAt: 1 })];
  t.deepEqual(summary(reconcileGlobal(s, replaced, nodes, 5, ids())).slice(0, 1), [
    'shutdown ta: replaced by na',
  ]);
});
