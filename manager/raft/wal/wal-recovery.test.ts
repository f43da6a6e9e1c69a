import { readFile, readdir, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { HardState, MemberId, Snapshot } from '../core/index.js';
import { SnapshotCorruptError, WalCorruptError } from './errors.js';
import { inspectSegment } from './inspect.js';
import type { RecordInfo } from './inspect.js';
import { entries, entry, tempDir } from './test-helpers.js';
import { Wal, listSegments } from './wal.js';

const hs = (term: number, commit: number): HardState => ({
  term,
  vote: 1 as MemberId,
  commit,
});

const snapshot = (index: number, term: number): Snapshot => ({
  metadata: { index, term, conf: { voters: [1 as MemberId], learners: [], removed: [] } },
  data: new TextEncoder().encode(`snapshot ${index}`),
});

/** Five synced writes of entries 1..10, then one more (entry 11 and a hard state). */
async function sixWrites(dir: string): Promise<void> {
  const { wal } = await Wal.open(dir);
  for (let i = 1; i <= 10; i += 2) await wal.save(hs(1, i - 1), entries(i, i + 1, 1), true);
  await wal.save(hs(1, 10), [entry(11, 1, 'normal', '-the-last-one')], true);
  await wal.close();
}

async function onlySegment(dir: string): Promise<string> {
  const segs = await listSegments(join(dir, 'wal'));
  if (segs.length !== 1) throw new Error(`expected one segment, found ${segs.length}`);
  return segs[0]!.file;
}

const batches = (records: readonly RecordInfo[]): RecordInfo[] =>
  records.filter((r) => r.type === 'Batch');

const openLogged = async (dir: string, segmentBytes?: number) => {
  const lines: string[] = [];
  const opened = await Wal.open(dir, {
    log: (l) => lines.push(l),
    ...(segmentBytes === undefined ? {} : { segmentBytes }),
  });
  await opened.wal.close();
  return { state: opened.state, lines };
};

const flipBit = async (file: string, offset: number, bit: number): Promise<void> => {
  const buf = await readFile(file);
  buf[offset]! ^= 1 << bit;
  await writeFile(file, buf);
};

test('wal recovery: a cut anywhere in the last write is trimmed to the write before and logged', async (t) => {
  const dir = await tempDir(t);
  await sixWrites(dir);
  const file = await onlySegment(dir);
  const original = await readFile(file);
  const { records } = await inspectSegment(file);
  const lastWrite = batches(records).at(-1)!.offset;
  const intact = { hardState: hs(1, 8), snapshot: null, entries: entries(1, 10, 1) };

  for (let cut = lastWrite; cut < original.length; cut++) {
    await writeFile(file, original.subarray(0, cut));
    const { state, lines } = await openLogged(dir);
    t.deepEqual(state, intact, `cut at ${cut}`);
    t.is((await stat(file)).size, lastWrite, `cut at ${cut}`);
    if (cut === lastWrite) {
      t.deepEqual(lines, [], 'a cut on a write boundary is not damage');
    } else {
      t.is(lines.length, 1);
      t.true(lines[0]!.includes(file) && lines[0]!.includes(`offset ${lastWrite}`), lines[0]);
    }
  }
});

test('wal recovery: a flipped bit in the last write is trimmed', async (t) => {
  const dir = await tempDir(t);
  await sixWrites(dir);
  const file = await onlySegment(dir);
  const original = await readFile(file);
  const lastWrite = batches((await inspectSegment(file)).records).at(-1)!.offset;

  for (let at = lastWrite; at < original.length; at++) {
    await writeFile(file, original);
    await flipBit(file, at, at % 8);
    const { state, lines } = await openLogged(dir);
    t.deepEqual(state.entries, entries(1, 10, 1), `flip at ${at}`);
    t.deepEqual(state.hardState, hs(1, 8));
    t.is(lines.length, 1, `flip at ${at}`);
    t.regex(lines[0]!, /torn write at offset \d+/);
  }
});

test('wal recovery: a flipped bit in an earlier record is WalCorruptError naming file and offset', async (t) => {
  const dir = await tempDir(t);
  await sixWrites(dir);
  const file = await onlySegment(dir);
  const original = await readFile(file);
  const { records } = await inspectSegment(file);
  // Every record of the third write: its batch header, both entries, the hard state.
  const third = batches(records)[2]!;
  const fourth = batches(records)[3]!;
  const targets = records.filter((r) => r.offset >= third.offset && r.offset < fourth.offset);
  t.is(targets.length, 4);

  for (const target of targets) {
    for (const at of [target.offset, target.offset + 5, target.offset + target.bytes - 1]) {
      await writeFile(file, original);
      await flipBit(file, at, 3);
      const err = await t.throwsAsync(Wal.open(dir), { instanceOf: WalCorruptError });
      t.is(err.code, 'wal-corrupt');
      t.is(err.file, file);
      t.is(err.offset, target.offset, `${target.type} flipped at ${at}`);
      t.true(err.message.includes(file) && err.message.includes(`offset ${target.offset}`));
    }
  }
  // Nothing was truncated by the refusals.
  t.is((await stat(file)).size, original.length);
});

test('wal recovery: damage in unsynced writes followed by more unsynced writes is a torn tail', async (t) => {
  // Power loss can persist later pages of unsynced writes without earlier ones. Batches record how
  // far the file was fsynced when they were written, which tells that apart from real damage.
  const dir = await tempDir(t);
  const { wal } = await Wal.open(dir);
  await wal.save(hs(1, 0), entries(1, 4, 1), true);
  for (let i = 5; i <= 10; i += 2) await wal.save(null, entries(i, i + 1, 1), false);
  await wal.close();
  const file = await onlySegment(dir);
  const unsynced = batches((await inspectSegment(file)).records)[1]!;
  await flipBit(file, unsynced.offset + 30, 0);
  const { state, lines } = await openLogged(dir);
  t.deepEqual(state.entries, entries(1, 4, 1));
  t.is(lines.length, 1);
  t.true(lines[0]!.includes(`offset ${unsynced.offset}`));
});

test('wal recovery: damage in the creation region of the last segment is not trimmed', async (t) => {
  const dir = await tempDir(t);
  await sixWrites(dir);
  const file = await onlySegment(dir);
  await flipBit(file, 12, 1);
  const err = await t.throwsAsync(Wal.open(dir), { instanceOf: WalCorruptError });
  t.is(err.file, file);
  t.is(err.offset, 0);
});

async function manySegments(dir: string): Promise<{ file: string; firstIndex: number }[]> {
  const { wal } = await Wal.open(dir, { segmentBytes: 1024 });
  await wal.save(hs(1, 0), [], true);
  for (let i = 1; i <= 120; i += 4) await wal.save(null, entries(i, i + 3, 1), true);
  await wal.close();
  const segs = await listSegments(join(dir, 'wal'));
  if (segs.length < 4) throw new Error(`only ${segs.length} segments`);
  return segs;
}

test('wal recovery: damage at the end of a segment that is not the last is WalCorruptError', async (t) => {
  const dir = await tempDir(t);
  const segs = await manySegments(dir);
  const victim = segs[1]!.file;
  const { records, size } = await inspectSegment(victim);
  const lastRecord = records.at(-1)!;

  await flipBit(victim, size - 1, 6);
  const flipped = await t.throwsAsync(Wal.open(dir, { segmentBytes: 1024 }), {
    instanceOf: WalCorruptError,
  });
  t.is(flipped.file, victim);
  t.is(flipped.offset, lastRecord.offset);
  await flipBit(victim, size - 1, 6);

  await truncate(victim, size - 3);
  const cut = await t.throwsAsync(Wal.open(dir, { segmentBytes: 1024 }), {
    instanceOf: WalCorruptError,
  });
  t.is(cut.file, victim);
});

test('wal recovery: a missing middle segment is WalCorruptError naming the one after the gap', async (t) => {
  const dir = await tempDir(t);
  const segs = await manySegments(dir);
  await unlink(segs[2]!.file);
  const err = await t.throwsAsync(Wal.open(dir, { segmentBytes: 1024 }), {
    instanceOf: WalCorruptError,
  });
  t.is(err.file, segs[3]!.file);
  t.regex(err.message, /seq 2 is missing/);
});

test('wal recovery: a missing first segment with no snapshot covering it is WalCorruptError', async (t) => {
  const dir = await tempDir(t);
  const segs = await manySegments(dir);
  await unlink(segs[0]!.file);
  const err = await t.throwsAsync(Wal.open(dir, { segmentBytes: 1024 }), {
    instanceOf: WalCorruptError,
  });
  t.is(err.file, segs[1]!.file);
  t.regex(err.message, new RegExp(`entries 1\\.\\.${segs[1]!.firstIndex - 1} are missing`));
});

test('wal recovery: a corrupt or missing snapshot is SnapshotCorruptError naming the file', async (t) => {
  const dir = await tempDir(t);
  const { wal } = await Wal.open(dir);
  await wal.save(hs(2, 5), entries(1, 10, 2), true);
  await wal.saveSnapshot(snapshot(5, 2));
  await wal.close();
  const [name] = await readdir(join(dir, 'snap'));
  const file = join(dir, 'snap', name!);
  const original = await readFile(file);

  await flipBit(file, original.length - 10, 2);
  const corrupt = await t.throwsAsync(Wal.open(dir), { instanceOf: SnapshotCorruptError });
  t.is(corrupt.code, 'snapshot-corrupt');
  t.is(corrupt.file, file);
  t.true(corrupt.message.includes(file));

  await rm(file);
  const missing = await t.throwsAsync(Wal.open(dir), { instanceOf: SnapshotCorruptError });
  t.is(missing.file, file);
  t.regex(missing.message, /missing/);

  await writeFile(file, original);
  const { state } = await openLogged(dir);
  t.deepEqual(state.snapshot, snapshot(5, 2));
  t.deepEqual(state.entries, entries(6, 10, 2));
});

test('wal recovery: a snapshot without segments means the log was lost', async (t) => {
  const dir = await tempDir(t);
  const { wal } = await Wal.open(dir);
  await wal.save(hs(1, 3), entries(1, 3, 1), true);
  await wal.saveSnapshot(snapshot(3, 1));
  await wal.close();
  await rm(join(dir, 'wal'), { recursive: true });
  await t.throwsAsync(Wal.open(dir), { instanceOf: WalCorruptError, message: /no WAL segments/ });
});

test('wal recovery: temp files left by a crash are removed', async (t) => {
  const dir = await tempDir(t);
  await sixWrites(dir);
  await writeFile(join(dir, 'wal', '0000000000000001-000000000000000c.wal.tmp'), 'partial');
  await writeFile(join(dir, 'snap', '0000000000000001-0000000000000005.snap.tmp'), 'partial');
  const { state } = await openLogged(dir);
  t.deepEqual(state.entries, [...entries(1, 10, 1), entry(11, 1, 'normal', '-the-last-one')]);
  t.deepEqual(await readdir(join(dir, 'wal')), ['0000000000000000-0000000000000001.wal']);
  t.deepEqual(await readdir(join(dir, 'snap')), []);
});
