import test from 'ava';
import fc from 'fast-check';
import { TaskState, taskStateRank, type Task } from '../../common/model.js';
import { canonicalJson } from './codec.js';
import { MemoryStore } from './memory-store.js';
import { makeCluster, makeNode, makeService, makeTask } from './test-fixtures.js';
import type { Change, Transaction } from './types.js';

const states = Object.values(TaskState);

/** A change described by small numbers, turned into a real one against the current state. */
const intent = fc.oneof(
  fc.record({ t: fc.constant('svc' as const), id: fc.nat(3), name: fc.nat(3) }),
  fc.record({ t: fc.constant('node' as const), id: fc.nat(3), name: fc.nat(3) }),
  fc.record({
    t: fc.constant('task' as const),
    id: fc.nat(15),
    svc: fc.nat(3),
    slot: fc.option(fc.nat(2), { nil: undefined }),
    node: fc.nat(2),
    done: fc.boolean(),
  }),
  fc.record({
    t: fc.constant('move' as const),
    id: fc.nat(15),
    state: fc.nat(states.length - 1),
    desired: fc.nat(states.length - 1),
    stale: fc.boolean(),
  }),
  fc.record({
    t: fc.constant('del' as const),
    kind: fc.constantFrom('service', 'node', 'task'),
    id: fc.nat(15),
    stale: fc.boolean(),
  }),
  fc.record({ t: fc.constant('cap' as const), keep: fc.nat(3) }),
);
type Intent = typeof intent extends fc.Arbitrary<infer I> ? I : never;

const toChange = (store: MemoryStore, i: Intent): Change => {
  switch (i.t) {
    case 'svc':
      return { op: 'create', kind: 'service', object: makeService(`s${i.id}`, `svc${i.name}`) };
    case 'node': {
      const n = store.get('node', `n${i.id}`);
      if (n === undefined)
        return { op: 'create', kind: 'node', object: makeNode(`n${i.id}`, `node${i.name}`) };
      return {
        op: 'update',
        kind: 'node',
        object: { ...n, meta: { ...n.meta, name: `node${i.name}` } },
      };
    }
    case 'task':
      return {
        op: 'create',
        kind: 'task',
        object: makeTask(`t${i.id}`, `s${i.svc}`, {
          ...(i.slot === undefined ? { nodeId: makeNode(`n${i.node}`).meta.id } : { slot: i.slot }),
          ...(i.done ? { state: TaskState.Complete, desiredState: TaskState.Shutdown } : {}),
        }),
      };
    case 'move': {
      const t: Task = store.get('task', `t${i.id}`) ?? makeTask(`t${i.id}`, 's0');
      return {
        op: 'update',
        kind: 'task',
        object: {
          ...t,
          meta: { ...t.meta, version: t.meta.version - (i.stale ? 1 : 0) },
          desiredState: states[i.desired]!,
          status: { ...t.status, state: states[i.state]! },
        },
      };
    }
    case 'del': {
      const prefix = { service: 's', node: 'n', task: 't' }[i.kind];
      const id = `${prefix}${i.kind === 'task' ? i.id : i.id % 4}`;
      const o = store.get(i.kind, id);
      return {
        op: 'delete',
        kind: i.kind,
        id,
        version: (o?.meta.version ?? 0) - (i.stale ? 1 : 0),
      };
    }
    case 'cap': {
      const c = store.get('cluster', 'c');
      const object = makeCluster('c', i.keep);
      return c === undefined
        ? { op: 'create', kind: 'cluster', object }
        : { op: 'update', kind: 'cluster', object: { ...object, meta: c.meta } };
    }
  }
};

const indexView = (s: MemoryStore): string[] => {
  const out: string[] = [];
  for (const t of s.list('task')) {
    const bySlot =
      t.slot === undefined ? [] : s.find('task', { serviceId: t.serviceId, slot: t.slot });
    const byNode = t.nodeId === undefined ? [] : s.find('task', { nodeId: t.nodeId });
    out.push(
      [
        t.meta.id,
        s.find('task', { serviceId: t.serviceId }).length,
        s.find('task', { desiredState: t.desiredState }).length,
        s.find('task', { name: t.meta.name }).length,
        bySlot.length,
        byNode.length,
      ].join(' '),
    );
  }
  return out.sort();
};

test('store property: the same transactions give the same state and outcomes, across a snapshot and restore', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.array(intent, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 60 }),
      fc.nat(60),
      (txIntents, restoreAt) => {
        const a = new MemoryStore();
        let b = new MemoryStore();
        txIntents.forEach((intents, n) => {
          if (n === restoreAt) {
            const restored = new MemoryStore();
            restored.restore(b.snapshot());
            b = restored;
          }
          const tx: Transaction = intents.map((i) => toChange(a, i));
          const index = n + 1;
          const oa = a.applyTransaction(tx, index, index * 10);
          const ob = b.applyTransaction(tx, index, index * 10);
          if (canonicalJson(oa) !== canonicalJson(ob)) throw new Error(`outcomes differ at ${n}`);
        });
        const snapA = new TextDecoder().decode(a.snapshot());
        if (snapA !== new TextDecoder().decode(b.snapshot())) return false;
        const c = new MemoryStore();
        c.restore(a.snapshot());
        const view = JSON.stringify(indexView(a));
        return view === JSON.stringify(indexView(b)) && view === JSON.stringify(indexView(c));
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

test('store property: task state never moves backwards and history stays within the cap', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.array(intent, { minLength: 1, maxLength: 4 }), { maxLength: 80 }),
      (txIntents) => {
        const s = new MemoryStore();
        txIntents.forEach((intents, n) => {
          const before = new Map(s.list('task').map((x) => [x.meta.id, x]));
          const o = s.applyTransaction(
            intents.map((i) => toChange(s, i)),
            n + 1,
            n,
          );
          if (!o.ok) return;
          for (const x of s.list('task')) {
            const p = before.get(x.meta.id);
            if (p === undefined) continue;
            if (taskStateRank(x.status.state) < taskStateRank(p.status.state))
              throw new Error(`task ${x.meta.id} state moved back`);
            if (taskStateRank(x.desiredState) < taskStateRank(p.desiredState))
              throw new Error(`task ${x.meta.id} desired state moved back`);
            if (x !== p && x.meta.version !== n + 1)
              throw new Error('changed without a new version');
          }
          const keep = s.get('cluster', 'c')?.spec.taskHistoryPerSlot ?? 5;
          const slots = new Map<string, number>();
          for (const x of s.list('task')) {
            if (x.meta.version !== n + 1) continue;
            const k = `${x.serviceId}/${x.slot ?? x.nodeId}`;
            slots.set(k, 0);
          }
          for (const x of s.list('task')) {
            const k = `${x.serviceId}/${x.slot ?? x.nodeId}`;
            const finished = [
              TaskState.Complete,
              TaskState.Failed,
              TaskState.Shutdown,
              TaskState.Rejected,
              TaskState.Orphaned,
            ];
            if (
              slots.has(k) &&
              finished.includes(x.status.state as never) &&
              finished.includes(x.desiredState as never)
            )
              slots.set(k, slots.get(k)! + 1);
          }
          for (const [k, v] of slots)
            if (v > keep) throw new Error(`slot ${k} holds ${v} > ${keep}`);
        });
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});
