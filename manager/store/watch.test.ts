import test from 'ava';
import { MemoryStore } from './memory-store.js';
import { makeCluster, makeNetwork, makeNode, makeService, makeTask } from './test-fixtures.js';
import { WatchResetError, type StoreEvent, type Transaction } from './types.js';

const setup = (opts: ConstructorParameters<typeof MemoryStore>[0] = {}) => {
  const store = new MemoryStore(opts);
  let index = 0;
  return { store, apply: (tx: Transaction) => store.applyTransaction(tx, ++index, index) };
};

/** Takes `n` events from a watch, then stops it. */
const take = async (it: AsyncIterable<StoreEvent>, n: number): Promise<StoreEvent[]> => {
  const out: StoreEvent[] = [];
  if (n === 0) return out;
  for await (const e of it) {
    out.push(e);
    if (out.length === n) break;
  }
  return out;
};

const summary = (es: readonly StoreEvent[]) =>
  es.map((e) => `${e.type} ${e.kind} ${e.object.meta.id}@${e.version}`);

test('store watch: sees writes after it started, typed and in order, filtered by kind', async (t) => {
  const { store, apply } = setup();
  apply([{ op: 'create', kind: 'node', object: makeNode('before') }]);
  const ac = new AbortController();
  const all = take(store.watch({ signal: ac.signal }), 3);
  const nodes = take(store.watch({ signal: ac.signal, kinds: ['node'] }), 2);
  apply([{ op: 'create', kind: 'service', object: makeService('s') }]);
  apply([{ op: 'create', kind: 'node', object: makeNode('n') }]);
  const n = store.get('node', 'n')!;
  apply([{ op: 'delete', kind: 'node', id: 'n', version: n.meta.version }]);
  t.deepEqual(summary(await all), ['create service s@2', 'create node n@3', 'delete node n@4']);
  t.deepEqual(summary(await nodes), ['create node n@3', 'delete node n@4']);
  t.is(store.watcherCount, 0, 'breaking out of the loop unregisters the watcher');
});

test('store watch: resumes from a version with no gap and no duplicate', async (t) => {
  const { store, apply } = setup();
  for (let i = 0; i < 5; i++)
    apply([{ op: 'create', kind: 'network', object: makeNetwork(`n${i}`) }]);
  const ac = new AbortController();
  const events = await take(store.watch({ fromVersion: 2, signal: ac.signal }), 3);
  t.deepEqual(summary(events), [
    'create network n2@3',
    'create network n3@4',
    'create network n4@5',
  ]);
});

test('store watch: batches hand over every event queued by then, in order, none twice', async (t) => {
  const { store, apply } = setup();
  const ac = new AbortController();
  const it = store.watchBatches({ signal: ac.signal, kinds: ['network'] })[Symbol.asyncIterator]();
  const next = async (): Promise<readonly StoreEvent[]> => {
    const r = await it.next();
    if (r.done === true) throw new Error('watch ended');
    return r.value;
  };
  // Three writes before the watcher runs again: one batch; a later write: the next one.
  for (let i = 0; i < 3; i++)
    apply([{ op: 'create', kind: 'network', object: makeNetwork(`n${i}`) }]);
  apply([{ op: 'create', kind: 'service', object: makeService('skipped') }]);
  t.deepEqual(summary(await next()), [
    'create network n0@1',
    'create network n1@2',
    'create network n2@3',
  ]);
  const second = next();
  apply([{ op: 'create', kind: 'network', object: makeNetwork('n3') }]);
  t.deepEqual(summary(await second), ['create network n3@5']);
  await it.return?.();
  t.is(store.watcherCount, 0);
});

test('store watch: a version older than the event log is a typed error telling the caller to re-list', (t) => {
  const { store, apply } = setup({ maxEventLog: 3 });
  for (let i = 0; i < 6; i++)
    apply([{ op: 'create', kind: 'network', object: makeNetwork(`n${i}`) }]);
  const ac = new AbortController();
  const err = t.throws(() => store.watch({ fromVersion: 1, signal: ac.signal }), {
    instanceOf: WatchResetError,
  });
  t.is(err?.code, 'watch-compacted');
  t.notThrows(() => store.watch({ fromVersion: 3, signal: ac.signal }));
});

test('store watch: task history reaping shows as delete events in the same version', async (t) => {
  const { store, apply } = setup();
  apply([
    { op: 'create', kind: 'cluster', object: makeCluster('c', 0) },
    { op: 'create', kind: 'service', object: makeService('s') },
  ]);
  const ac = new AbortController();
  const events = take(store.watch({ signal: ac.signal, kinds: ['task'] }), 2);
  apply([
    {
      op: 'create',
      kind: 'task',
      object: makeTask('t', 's', { slot: 1, desiredState: 'shutdown', state: 'complete' }),
    },
  ]);
  t.deepEqual(summary(await events), ['create task t@2', 'delete task t@2']);
});

test('store watch: a refused transaction emits nothing', async (t) => {
  const { store, apply } = setup();
  const ac = new AbortController();
  const events = take(store.watch({ signal: ac.signal }), 1);
  apply([{ op: 'delete', kind: 'node', id: 'x', version: 1 }]);
  apply([{ op: 'create', kind: 'node', object: makeNode('y') }]);
  t.deepEqual(summary(await events), ['create node y@2']);
});

test('store watch: ends when its signal aborts', async (t) => {
  const { store } = setup();
  const ac = new AbortController();
  const it = store.watch({ signal: ac.signal });
  const got = take(it, 1);
  ac.abort();
  t.deepEqual(await got, []);
  t.is(store.watcherCount, 0);
});

test('store watch: a restore ends watchers with watch-restored', async (t) => {
  const { store } = setup();
  const other = setup();
  other.apply([{ op: 'create', kind: 'node', object: makeNode('n') }]);
  const ac = new AbortController();
  const got = take(store.watch({ signal: ac.signal }), 1);
  store.restore(other.store.snapshot());
  const err = await t.throwsAsync(got, { instanceOf: WatchResetError });
  t.is(err?.code, 'watch-restored');
  t.is(err?.version, 1);
  t.throws(() => store.watch({ fromVersion: 0, signal: ac.signal }), {
    instanceOf: WatchResetError,
  });
});

test('store watch: a watcher that falls too far behind is cut off with watch-overflow', async (t) => {
  const { store, apply } = setup({ maxWatchQueue: 2 });
  const ac = new AbortController();
  const it = store.watch({ signal: ac.signal });
  for (let i = 0; i < 4; i++) apply([{ op: 'create', kind: 'node', object: makeNode(`n${i}`) }]);
  const err = await t.throwsAsync(take(it, 4), { instanceOf: WatchResetError });
  t.is(err?.code, 'watch-overflow');
  t.is(store.watcherCount, 0);
});
