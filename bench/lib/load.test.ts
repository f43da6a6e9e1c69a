import test from 'ava';

import {
  benchKey,
  LoadFailedError,
  LoadOp,
  runLoad,
  type KvDriver,
  type LoadSpec,
} from './load.js';
import { seededRandom } from './random.js';

/** An in-memory store where every request takes exactly 1 ms of a fake clock. */
class ClockedMap implements KvDriver {
  readonly data = new Map<string, Uint8Array>();
  now = 0;
  failAfter = Infinity;
  calls = 0;

  async put(key: string, value: Uint8Array): Promise<void> {
    await this.#tick();
    this.data.set(key, value);
  }

  async get(key: string): Promise<Uint8Array | null> {
    await this.#tick();
    return this.data.get(key) ?? null;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async #tick(): Promise<void> {
    await Promise.resolve();
    if (++this.calls > this.failAfter) throw new Error('disk on fire');
    this.now += 1;
  }
}

const spec = (store: ClockedMap, over: Partial<LoadSpec> = {}): LoadSpec => ({
  op: LoadOp.Put,
  concurrency: 1,
  durationMs: 100,
  warmupMs: 10,
  keyCount: 50,
  valueBytes: 8,
  random: seededRandom(7),
  now: () => store.now,
  ...over,
});

test('load: counts exactly the requests completed inside the window', async (t) => {
  const store = new ClockedMap();
  const r = await runLoad(store, spec(store));
  // Requests complete at t = 1, 2, …; the window is [10, 110].
  t.is(r.ops, 101);
  t.is(r.windowMs, 100);
  t.is(r.opsPerSec, 1010);
  t.is(r.latencyMs.p50, 1);
  t.is(r.latencyMs.p99, 1);
  t.is(r.found, 0);
  t.true(store.data.size > 0 && store.data.size <= 50);
  for (const [key, value] of store.data) {
    t.regex(key, /^bench\/\d{2}$/);
    t.is(value.length, 8);
  }
});

test('load: gets report how many found their key', async (t) => {
  const store = new ClockedMap();
  await runLoad(store, spec(store, { keyCount: 5, durationMs: 200 }));
  const r = await runLoad(store, spec(store, { op: LoadOp.Get, keyCount: 5, concurrency: 4 }));
  t.true(r.ops > 0);
  t.is(r.found, r.ops);
  const misses = await runLoad(
    store,
    spec(store, { op: LoadOp.Get, keyCount: 5, keyPrefix: 'other/' }),
  );
  t.is(misses.found, 0);
});

test('load: a failing request fails the phase, naming it and the cause', async (t) => {
  const store = new ClockedMap();
  store.failAfter = 30;
  const err = await t.throwsAsync(runLoad(store, spec(store, { concurrency: 4 })), {
    instanceOf: LoadFailedError,
  });
  t.is(err.message, 'put at 4 in flight failed: disk on fire');
});

test('load: an aborted phase stops promptly with an abort error', async (t) => {
  const store = new ClockedMap();
  const controller = new AbortController();
  controller.abort(new Error('SIGINT'));
  await t.throwsAsync(runLoad(store, spec(store, { signal: controller.signal })), {
    message: /aborted while put/,
  });
});

test('load: bad specs are rejected by name', async (t) => {
  const store = new ClockedMap();
  await t.throwsAsync(runLoad(store, spec(store, { concurrency: 0 })), {
    message: /concurrency must be a positive integer/,
  });
  await t.throwsAsync(runLoad(store, spec(store, { durationMs: 0 })), {
    message: /durationMs must be > 0/,
  });
  await t.throwsAsync(runLoad(store, spec(store, { valueBytes: 1.5 })), { message: /valueBytes/ });
});

test('load: keys are zero-padded to the width of the key space', (t) => {
  t.is(benchKey(42, 10_000), 'bench/0042');
  t.is(benchKey(9999, 10_000, 'x/'), 'x/9999');
  t.is(benchKey(0, 1), 'bench/0');
});
