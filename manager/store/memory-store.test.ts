import test from 'ava';
import { TaskState, type Task } from '../../common/model.js';
import { MemoryStore } from './memory-store.js';
import { makeCluster, makeNetwork, makeNode, makeService, makeTask } from './test-fixtures.js';
import type { Transaction, TransactionOutcome } from './types.js';

const setup = (): { store: MemoryStore; apply: (tx: Transaction) => TransactionOutcome } => {
  const store = new MemoryStore();
  let index = 10;
  return { store, apply: (tx) => store.applyTransaction(tx, ++index, index * 1000) };
};

const refused = (o: TransactionOutcome): string => (o.ok ? 'ok' : o.code);

test('memory store: create sets version and timestamps from the entry, get and find by name see it', (t) => {
  const { store, apply } = setup();
  const o = apply([{ op: 'create', kind: 'service', object: makeService('s1', 'web') }]);
  t.true(o.ok);
  const s = store.get('service', 's1')!;
  t.is(s.meta.version, 11);
  t.is(s.meta.createdAt, 11_000);
  t.is(s.meta.updatedAt, 11_000);
  t.is(store.version, 11);
  t.deepEqual(store.find('service', { name: 'web' }), [s]);
  t.deepEqual(store.find('service', { name: 'nope' }), []);
  t.is(store.list('service').length, 1);
});

test('memory store: update needs the stored version, keeps createdAt and replaces the object', (t) => {
  const { store, apply } = setup();
  apply([{ op: 'create', kind: 'node', object: makeNode('n1') }]);
  const before = store.get('node', 'n1')!;
  const stale = { ...before, meta: { ...before.meta, version: 3 } };
  t.is(refused(apply([{ op: 'update', kind: 'node', object: stale }])), 'conflict');
  const next = { ...before, spec: { ...before.spec, availability: 'drain' as const } };
  const o = apply([{ op: 'update', kind: 'node', object: next }]);
  t.true(o.ok);
  const after = store.get('node', 'n1')!;
  t.not(after, before);
  t.is(before.spec.availability, 'active', 'the old object was not mutated');
  t.is(after.spec.availability, 'drain');
  t.is(after.meta.createdAt, 11_000);
  t.is(after.meta.updatedAt, 13_000, 'the refused write used index 12');
  t.is(after.meta.version, 13);
});

test('memory store: ids and names are unique per kind, not across kinds', (t) => {
  const { apply } = setup();
  t.true(apply([{ op: 'create', kind: 'service', object: makeService('a', 'x') }]).ok);
  t.is(
    refused(apply([{ op: 'create', kind: 'service', object: makeService('a', 'y') }])),
    'exists',
  );
  t.is(
    refused(apply([{ op: 'create', kind: 'service', object: makeService('b', 'x') }])),
    'exists',
  );
  t.true(apply([{ op: 'create', kind: 'network', object: makeNetwork('a', 'x') }]).ok);
});

test('memory store: renaming frees the old name; a name freed earlier in the same transaction is usable', (t) => {
  const { store, apply } = setup();
  apply([{ op: 'create', kind: 'service', object: makeService('a', 'x') }]);
  const a = store.get('service', 'a')!;
  t.true(
    apply([{ op: 'update', kind: 'service', object: { ...a, meta: { ...a.meta, name: 'y' } } }]).ok,
  );
  t.true(apply([{ op: 'create', kind: 'service', object: makeService('b', 'x') }]).ok);
  const b = store.get('service', 'b')!;
  const o = apply([
    { op: 'delete', kind: 'service', id: 'b', version: b.meta.version },
    { op: 'create', kind: 'service', object: makeService('c', 'x') },
  ]);
  t.true(o.ok);
  t.is(store.find('service', { name: 'x' })[0]?.meta.id, makeService('c').meta.id);
});

test('memory store: delete needs an existing object at the given version', (t) => {
  const { store, apply } = setup();
  t.is(refused(apply([{ op: 'delete', kind: 'network', id: 'n', version: 1 }])), 'not-found');
  apply([{ op: 'create', kind: 'network', object: makeNetwork('n') }]);
  t.is(refused(apply([{ op: 'delete', kind: 'network', id: 'n', version: 1 }])), 'conflict');
  const o = apply([{ op: 'delete', kind: 'network', id: 'n', version: 12 }]);
  t.true(o.ok);
  t.is(store.get('network', 'n'), undefined);
  t.deepEqual(store.find('network', { name: 'n' }), []);
});

test('memory store: update of a missing object is not-found', (t) => {
  const { apply } = setup();
  t.is(refused(apply([{ op: 'update', kind: 'node', object: makeNode('zz') }])), 'not-found');
});

test('memory store: a transaction is all-or-nothing and a refusal names the change', (t) => {
  const { store, apply } = setup();
  apply([{ op: 'create', kind: 'service', object: makeService('s', 'web') }]);
  const o = apply([
    { op: 'create', kind: 'service', object: makeService('t', 'api') },
    { op: 'create', kind: 'task', object: makeTask('t1', 's', { slot: 1 }) },
    { op: 'create', kind: 'service', object: makeService('u', 'web') },
  ]);
  t.deepEqual(o.ok ? null : [o.code, o.change], ['exists', 2]);
  t.is(store.get('service', 't'), undefined);
  t.is(store.get('task', 't1'), undefined);
  t.deepEqual(store.find('task', { serviceId: makeService('s').meta.id }), []);
  t.deepEqual(store.find('service', { name: 'api' }), []);
  t.is(store.version, 11, 'a refused transaction does not move the version');
});

test('memory store: malformed changes are invalid, not thrown', (t) => {
  const { apply } = setup();
  t.is(refused(apply([{ op: 'delete', kind: 'node', id: '', version: 0 }])), 'invalid');
  const bad = { op: 'delete', kind: 'pony', id: 'x', version: 0 } as unknown as Transaction[number];
  t.is(refused(apply([bad])), 'invalid');
  t.is(refused(apply([{ op: 'create', kind: 'node', object: makeNode('n', '') }])), 'invalid');
  const noStatus = { ...makeTask('t', 's'), status: undefined } as unknown as Task;
  apply([{ op: 'create', kind: 'service', object: makeService('s') }]);
  const created = apply([{ op: 'create', kind: 'task', object: makeTask('t', 's') }]);
  t.true(created.ok);
  const t0 = created.ok ? (created.objects[0]!.object as Task) : noStatus;
  t.is(
    refused(apply([{ op: 'update', kind: 'task', object: { ...noStatus, meta: t0.meta } }])),
    'invalid',
    'a change that breaks the code is refused, not thrown (a poison entry would stop every manager)',
  );
  t.true(Object.isFrozen(t0) && Object.isFrozen(t0.meta), 'stored objects are frozen');
  t.is(
    refused(
      apply([
        { op: 'create', kind: 'node', object: makeNode('n') },
        { op: 'delete', kind: 'node', id: 'n', version: 0 },
      ]),
    ),
    'invalid',
    'one object changed twice in one transaction',
  );
});

test('memory store: a task needs its service to exist', (t) => {
  const { apply } = setup();
  t.is(
    refused(apply([{ op: 'create', kind: 'task', object: makeTask('t', 'ghost') }])),
    'not-found',
  );
});

const withTask = (fields: Parameters<typeof makeTask>[2] = {}) => {
  const s = setup();
  s.apply([
    { op: 'create', kind: 'service', object: makeService('s') },
    { op: 'create', kind: 'task', object: makeTask('t', 's', fields) },
  ]);
  const update = (f: (t: Task) => Task): TransactionOutcome =>
    s.apply([{ op: 'update', kind: 'task', object: f(s.store.get('task', 't')!) }]);
  return { ...s, update };
};

test('memory store: task state only moves forward', (t) => {
  const { update, store } = withTask({ slot: 1 });
  const to = (state: TaskState) => (x: Task) => ({ ...x, status: { ...x.status, state } });
  t.true(update(to(TaskState.Pending)).ok);
  t.true(update(to(TaskState.Running)).ok, 'skipping states forward is allowed');
  t.is(refused(update(to(TaskState.Assigned))), 'invalid');
  t.true(update(to(TaskState.Failed)).ok);
  t.is(refused(update(to(TaskState.Shutdown))), 'invalid', 'no move between terminal states');
  t.is(store.get('task', 't')!.status.state, TaskState.Failed);
  t.true(update((x) => ({ ...x, status: { ...x.status, message: 'exit 1' } })).ok, 'same state');
});

test('memory store: desired state never moves back; spec, service and slot are immutable; node is set once', (t) => {
  const { update } = withTask({ slot: 1 });
  t.true(update((x) => ({ ...x, desiredState: TaskState.Shutdown })).ok);
  t.is(refused(update((x) => ({ ...x, desiredState: TaskState.Running }))), 'invalid');
  t.is(refused(update((x) => ({ ...x, slot: 2 }))), 'invalid');
  t.is(refused(update((x) => ({ ...x, spec: { ...x.spec, image: 'nginx' } }))), 'invalid');
  t.true(update((x) => ({ ...x, nodeId: makeNode('n1').meta.id })).ok);
  t.is(refused(update((x) => ({ ...x, nodeId: makeNode('n2').meta.id }))), 'invalid');
});

test('memory store: a patch is the same update without the rest of the task', (t) => {
  const a = withTask({ slot: 1 });
  const b = withTask({ slot: 1 });
  const nodeId = makeNode('n1').meta.id;
  const status = { state: TaskState.Assigned, timestamp: 5, message: 'scheduled' };
  const version = a.store.get('task', 't')!.meta.version;
  const patched = a.apply([
    { op: 'patch', kind: 'task', id: 't', version, set: { nodeId, status } },
  ]);
  const updated = b.update((x) => ({ ...x, nodeId, status }));
  t.true(patched.ok && updated.ok);
  t.deepEqual(a.store.get('task', 't'), b.store.get('task', 't'));
  t.deepEqual(patched, updated, 'same outcome, same stored object');
  // Checked like an update: stale version, a field a patch may not carry, backwards, unknown id.
  const set = { status: { ...status, state: TaskState.Running } };
  t.is(refused(a.apply([{ op: 'patch', kind: 'task', id: 't', version, set }])), 'conflict');
  const now = a.store.get('task', 't')!.meta.version;
  const slot = { slot: 3 } as unknown as typeof set;
  t.is(
    refused(a.apply([{ op: 'patch', kind: 'task', id: 't', version: now, set: slot }])),
    'invalid',
  );
  const back = { status: { ...status, state: TaskState.Pending } };
  t.is(
    refused(a.apply([{ op: 'patch', kind: 'task', id: 't', version: now, set: back }])),
    'invalid',
  );
  t.is(refused(a.apply([{ op: 'patch', kind: 'task', id: 'x', version: now, set }])), 'not-found');
  t.true(a.apply([{ op: 'patch', kind: 'task', id: 't', version: now, set }]).ok);
});

test('memory store: task indexes by service, node, slot and desired state follow updates and deletes', (t) => {
  const { store, apply } = setup();
  const s1 = makeService('s1');
  const s2 = makeService('s2');
  const n1 = makeNode('n1').meta.id;
  apply([
    { op: 'create', kind: 'service', object: s1 },
    { op: 'create', kind: 'service', object: s2 },
    { op: 'create', kind: 'task', object: makeTask('a', 's1', { slot: 1, nodeId: n1 }) },
    { op: 'create', kind: 'task', object: makeTask('b', 's1', { slot: 1 }) },
    { op: 'create', kind: 'task', object: makeTask('c', 's1', { slot: 2 }) },
    { op: 'create', kind: 'task', object: makeTask('d', 's2', { nodeId: n1 }) },
  ]);
  const ids = (ts: readonly Task[]) => ts.map((x) => x.meta.id).sort();
  t.deepEqual(ids(store.find('task', { serviceId: s1.meta.id })), ['a', 'b', 'c']);
  t.deepEqual(ids(store.find('task', { nodeId: n1 })), ['a', 'd']);
  t.deepEqual(ids(store.find('task', { serviceId: s1.meta.id, slot: 1 })), ['a', 'b']);
  t.deepEqual(ids(store.find('task', { serviceId: s1.meta.id, nodeId: n1 })), ['a']);
  t.deepEqual(ids(store.find('task', { slot: 2 })), ['c']);
  t.deepEqual(ids(store.find('task', { desiredState: TaskState.Running })), ['a', 'b', 'c', 'd']);
  t.deepEqual(
    store.find('service', { serviceId: s1.meta.id }),
    [],
    'task fields match no other kind',
  );

  const b = store.get('task', 'b')!;
  apply([
    { op: 'update', kind: 'task', object: { ...b, desiredState: TaskState.Shutdown, nodeId: n1 } },
  ]);
  t.deepEqual(ids(store.find('task', { desiredState: TaskState.Running })), ['a', 'c', 'd']);
  t.deepEqual(ids(store.find('task', { desiredState: TaskState.Shutdown })), ['b']);
  t.deepEqual(ids(store.find('task', { nodeId: n1 })), ['a', 'b', 'd']);
  const a = store.get('task', 'a')!;
  apply([{ op: 'delete', kind: 'task', id: 'a', version: a.meta.version }]);
  t.deepEqual(ids(store.find('task', { nodeId: n1 })), ['b', 'd']);
  t.deepEqual(ids(store.find('task', { serviceId: s1.meta.id, slot: 1 })), ['b']);
  t.deepEqual(ids(store.find('task', { name: b.meta.name })), ['b']);
});

const finishedTask = (id: string, fields: Parameters<typeof makeTask>[2]) =>
  makeTask(id, 's', { ...fields, desiredState: TaskState.Shutdown, state: TaskState.Failed });

test('memory store: task history is capped per slot by the cluster setting, oldest first', (t) => {
  const { store, apply } = setup();
  apply([
    { op: 'create', kind: 'cluster', object: makeCluster('c', 2) },
    { op: 'create', kind: 'service', object: makeService('s') },
  ]);
  for (const id of ['t1', 't2', 't3', 't4']) {
    t.true(apply([{ op: 'create', kind: 'task', object: finishedTask(id, { slot: 1 }) }]).ok);
  }
  apply([{ op: 'create', kind: 'task', object: makeTask('live', 's', { slot: 1 }) }]);
  apply([{ op: 'create', kind: 'task', object: finishedTask('other', { slot: 2 }) }]);
  const inSlot = store
    .find('task', { serviceId: makeService('s').meta.id, slot: 1 })
    .map((x) => x.meta.id)
    .sort();
  t.deepEqual(inSlot, ['live', 't3', 't4']);
  t.truthy(store.get('task', 'other'));
});

test('memory store: task history is capped per (service, node) for global tasks, default from the model', (t) => {
  const { store, apply } = setup();
  apply([{ op: 'create', kind: 'service', object: makeService('s') }]);
  const n = makeNode('n').meta.id;
  for (let i = 0; i < 8; i++) {
    apply([{ op: 'create', kind: 'task', object: finishedTask(`g${i}`, { nodeId: n }) }]);
  }
  t.deepEqual(
    store
      .find('task', { nodeId: n })
      .map((x) => x.meta.id)
      .sort(),
    ['g3', 'g4', 'g5', 'g6', 'g7'],
  );
});

test('memory store: a task whose desired state is terminal but which still runs is not history', (t) => {
  const { store, apply } = setup();
  apply([
    { op: 'create', kind: 'cluster', object: makeCluster('c', 0) },
    { op: 'create', kind: 'service', object: makeService('s') },
    {
      op: 'create',
      kind: 'task',
      object: makeTask('t', 's', {
        slot: 1,
        desiredState: TaskState.Shutdown,
        state: TaskState.Running,
      }),
    },
  ]);
  t.truthy(store.get('task', 't'));
  const x = store.get('task', 't')!;
  apply([
    { op: 'update', kind: 'task', object: { ...x, status: { ...x.status, state: 'complete' } } },
  ]);
  t.is(store.get('task', 't'), undefined, 'reaped once it stopped');
});

test('memory store: snapshot and restore give back the same state and indexes', (t) => {
  const { store, apply } = setup();
  apply([
    { op: 'create', kind: 'service', object: makeService('s', 'web') },
    { op: 'create', kind: 'task', object: makeTask('t', 's', { slot: 3 }) },
    { op: 'create', kind: 'node', object: makeNode('n') },
  ]);
  const copy = new MemoryStore();
  copy.restore(store.snapshot());
  t.deepEqual(copy.snapshot(), store.snapshot());
  t.is(copy.version, store.version);
  t.deepEqual(copy.get('task', 't'), store.get('task', 't'));
  t.is(copy.find('task', { serviceId: makeService('s').meta.id, slot: 3 }).length, 1);
  t.is(copy.find('service', { name: 'web' }).length, 1);
  copy.restore(new Uint8Array(0));
  t.is(copy.count('task'), 0);
  t.is(copy.version, 0);
});

test('memory store: apply ignores an entry that is not a store batch', (t) => {
  const store = new MemoryStore();
  const out = store.apply({ term: 1, index: 1, type: 'normal', data: new Uint8Array([1, 2, 3]) });
  t.deepEqual(out, []);
  t.is(store.version, 0);
});
