import { readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { MemberId, Snapshot } from '../core/index.js';
import { SnapshotCorruptError } from './errors.js';
import { SnapshotStore, snapshotFileName } from './snapshot-store.js';
import { seededRandom, tempDir } from './test-helpers.js';

const ids = (...n: number[]): MemberId[] => n as MemberId[];

const snapshot = (index: number, term: number, bytes = 64): Snapshot => {
  const random = seededRandom(index);
  return {
    metadata: {
      index,
      term,
      conf: { voters: ids(1, 2, 2 ** 40), learners: ids(7), removed: ids(3, 4) },
    },
    data: Uint8Array.from({ length: bytes }, () => Math.floor(random() * 256)),
  };
};

const newStore = async (t: Parameters<typeof tempDir>[0]) => {
  const store = new SnapshotStore(join(await tempDir(t), 'snap'));
  await store.init();
  return store;
};

test('snapshot store: round trip of metadata, conf state and data', async (t) => {
  const store = await newStore(t);
  for (const s of [snapshot(1, 1, 0), snapshot(300, 7, 3 << 20), snapshot(2 ** 50, 2 ** 33)]) {
    const saved = await store.save(s);
    t.is(saved.file, join(store.dir, snapshotFileName(s.metadata.term, s.metadata.index)));
    const loaded = await store.load(s.metadata.term, s.metadata.index);
    // Byte comparison: ava's deep diff is very slow on megabytes.
    t.deepEqual(loaded.metadata, s.metadata);
    t.true(Buffer.from(loaded.data).equals(s.data));
  }
  t.is(snapshotFileName(3, 255), '0000000000000003-00000000000000ff.snap');
  t.deepEqual(
    (await store.list()).map((f) => f.index),
    [1, 300, 2 ** 50],
  );
  t.false((await readdir(store.dir)).some((n) => n.endsWith('.tmp')));
});

test('snapshot store: loadNewest picks the highest index', async (t) => {
  const store = await newStore(t);
  t.is(await store.loadNewest(), null);
  await store.save(snapshot(10, 2));
  await store.save(snapshot(9, 3));
  await store.save(snapshot(30, 2));
  t.deepEqual(await store.loadNewest(), snapshot(30, 2));
});

test('snapshot store: any flipped bit or cut is SnapshotCorruptError naming the file', async (t) => {
  const store = await newStore(t);
  const { file } = await store.save(snapshot(5, 1, 40));
  const original = await readFile(file);
  for (let at = 0; at < original.length; at++) {
    const damaged = Buffer.from(original);
    damaged[at]! ^= 1 << (at % 8);
    await writeFile(file, damaged);
    const err = await t.throwsAsync(store.load(1, 5), { instanceOf: SnapshotCorruptError });
    t.is(err.file, file);
  }
  for (const cut of [0, 3, 20, original.length - 1]) {
    await writeFile(file, original.subarray(0, cut));
    const err = await t.throwsAsync(store.load(1, 5), { instanceOf: SnapshotCorruptError });
    t.is(err.code, 'snapshot-corrupt');
    t.true(err.message.includes(file));
  }
});

test('snapshot store: a damaged newest snapshot is refused, not skipped', async (t) => {
  const store = await newStore(t);
  await store.save(snapshot(5, 1));
  const { file } = await store.save(snapshot(8, 1));
  await writeFile(file, 'garbage');
  const err = await t.throwsAsync(store.loadNewest(), { instanceOf: SnapshotCorruptError });
  t.is(err.file, file);
});

test('snapshot store: a file whose content disagrees with its name is refused', async (t) => {
  const store = await newStore(t);
  const { file } = await store.save(snapshot(5, 1));
  const renamed = store.pathOf(1, 6);
  await rename(file, renamed);
  const err = await t.throwsAsync(store.load(1, 6), { instanceOf: SnapshotCorruptError });
  t.is(err.file, renamed);
  t.regex(err.message, /name says/);
});

test('snapshot store: missing is SnapshotCorruptError, remove tolerates missing files', async (t) => {
  const store = await newStore(t);
  await t.throwsAsync(store.load(1, 1), { instanceOf: SnapshotCorruptError, message: /missing/ });
  const a = await store.save(snapshot(1, 1));
  const b = await store.save(snapshot(2, 1));
  await store.remove([a, a]);
  t.deepEqual(await store.list(), [b]);
});

test('snapshot store: init removes temp files from an interrupted save', async (t) => {
  const store = await newStore(t);
  await writeFile(join(store.dir, `${snapshotFileName(1, 1)}.tmp`), 'half');
  await writeFile(join(store.dir, 'README'), 'not ours');
  await store.init();
  t.deepEqual(await readdir(store.dir), ['README']);
  t.deepEqual(await store.list(), []);
});
