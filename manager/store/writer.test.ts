import test from 'ava';
import { MemoryStore } from './memory-store.js';
import { FakeProposer, makeNetwork, makeNode, makeService } from './test-fixtures.js';
import type { Transaction } from './types.js';
import { StoreWriter, update, type Proposer } from './writer.js';

/** Holds every proposal until released, then applies it through a FakeProposer. */
class GatedProposer implements Proposer {
  readonly inner: FakeProposer;
  private readonly held: (() => void)[] = [];
  constructor(store: MemoryStore) {
    this.inner = new FakeProposer(store);
  }
  propose(data: Uint8Array): Promise<{ index: number; result: unknown }> {
    return new Promise((resolve) => {
      this.held.push(() => {
        resolve(this.inner.propose(data));
      });
    });
  }
  get waiting(): number {
    return this.held.length;
  }
  releaseAll(): void {
    for (const r of this.held.splice(0)) r();
  }
}

const createNode = (id: string): Transaction => [
  { op: 'create', kind: 'node', object: makeNode(id) },
];

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('store writer: each caller gets its own outcome; the proposal is applied with the writer clock', async (t) => {
  const store = new MemoryStore();
  const proposer = new FakeProposer(store);
  const w = new StoreWriter({ proposer, now: () => 42_000 });
  const [a, b] = await Promise.all([w.submit(createNode('a')), w.submit(createNode('a'))]);
  t.true(a.ok);
  t.deepEqual(b.ok ? null : b.code, 'exists');
  t.is(store.get('node', 'a')!.meta.createdAt, 42_000);
  const ok = await w.submit([{ op: 'create', kind: 'network', object: makeNetwork('n') }]);
  t.true(ok.ok && ok.objects[0]?.kind === 'network' && ok.version === proposer.index);
});

test('store writer: submissions made while proposals are in flight go out together', async (t) => {
  const store = new MemoryStore();
  const proposer = new GatedProposer(store);
  const w = new StoreWriter({ proposer, now: () => 1, maxInFlight: 1 });
  const first = w.submit(createNode('n0'));
  const rest = Array.from({ length: 9 }, (_, i) => w.submit(createNode(`n${i + 1}`)));
  t.is(proposer.waiting, 1);
  proposer.releaseAll();
  await first;
  await tick();
  t.is(proposer.waiting, 1);
  proposer.releaseAll();
  const outcomes = await Promise.all(rest);
  t.true(outcomes.every((o) => o.ok));
  t.deepEqual(proposer.inner.batchSizes(), [1, 9]);
  t.is(store.count('node'), 10);
  await w.drained();
});

test('store writer: a batch stays within the change and byte bounds', async (t) => {
  const store = new MemoryStore();
  const proposer = new GatedProposer(store);
  const w = new StoreWriter({ proposer, now: () => 1, maxInFlight: 1, maxProposalChanges: 4 });
  const all = [w.submit(createNode('x'))];
  for (let i = 0; i < 10; i++) all.push(w.submit(createNode(`n${i}`)));
  while (proposer.inner.proposed.length < 4) {
    proposer.releaseAll();
    await tick();
  }
  await Promise.all(all);
  t.deepEqual(proposer.inner.batchSizes(), [1, 4, 4, 2]);

  const store2 = new MemoryStore();
  const p2 = new GatedProposer(store2);
  const size = JSON.stringify(createNode('n00')).length;
  const w2 = new StoreWriter({
    proposer: p2,
    now: () => 1,
    maxInFlight: 1,
    maxProposalBytes: 64 + 3 * (size + 1),
  });
  const all2 = [w2.submit(createNode('x00'))];
  for (let i = 0; i < 7; i++) all2.push(w2.submit(createNode(`n0${i}`)));
  while (p2.inner.proposed.length < 4) {
    p2.releaseAll();
    await tick();
  }
  await Promise.all(all2);
  t.deepEqual(p2.inner.batchSizes(), [1, 3, 3, 1]);
  t.true(p2.inner.proposed.every((d) => d.byteLength <= 64 + 3 * (size + 1)));
});

test('store writer: a transaction larger than one proposal is refused as invalid', async (t) => {
  const store = new MemoryStore();
  const proposer = new FakeProposer(store);
  const w = new StoreWriter({ proposer, now: () => 1, maxProposalChanges: 2 });
  const o = await w.submit([...createNode('a'), ...createNode('b'), ...createNode('c')]);
  t.deepEqual(o.ok ? null : o.code, 'invalid');
  t.is(proposer.proposed.length, 0);
});

test('store writer: a failed proposal rejects every caller of its batch and no one else', async (t) => {
  let calls = 0;
  const store = new MemoryStore();
  const fake = new FakeProposer(store);
  const proposer: Proposer = {
    propose: (data) =>
      ++calls === 1 ? Promise.reject(new Error('not leader')) : fake.propose(data),
  };
  const w = new StoreWriter({ proposer, now: () => 1, maxInFlight: 1 });
  const a = w.submit(createNode('a'));
  const b = w.submit([{ op: 'create', kind: 'service', object: makeService('s') }]);
  await t.throwsAsync(a, { message: 'not leader' });
  t.true((await b).ok);
});

test('store writer: a proposer whose result is not the store outcome list is a StoreApplyError', async (t) => {
  const w = new StoreWriter({
    proposer: { propose: () => Promise.resolve({ index: 1, result: undefined }) },
    now: () => 1,
  });
  await t.throwsAsync(w.submit(createNode('a')), { name: 'StoreApplyError' });
});

test('store writer: update re-reads and retries on a conflict, and stops after its attempts', async (t) => {
  const store = new MemoryStore();
  const proposer = new FakeProposer(store);
  const w = new StoreWriter({ proposer, now: () => 1 });
  await w.submit(createNode('n'));
  let builds = 0;
  const o = await update(store, w, (s) => {
    const n = s.get('node', 'n')!;
    // The first build races a concurrent writer that bumps the version under it.
    if (++builds === 1) {
      store.applyTransaction([{ op: 'update', kind: 'node', object: n }], ++proposer.index, 1);
    }
    return [
      { op: 'update', kind: 'node', object: { ...n, status: { ...n.status, message: 'x' } } },
    ];
  });
  t.is(builds, 2);
  t.true(o?.ok);
  t.is(store.get('node', 'n')!.status.message, 'x');

  const stale = await update(
    store,
    w,
    (s) => [{ op: 'delete', kind: 'node', id: 'n', version: s.get('node', 'n')!.meta.version - 1 }],
    { attempts: 2 },
  );
  t.deepEqual(stale?.ok === false ? stale.code : null, 'conflict');
  t.is(await update(store, w, () => null), null);
});
