import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { Entry, HardState, MemberId, Snapshot } from '../core/index.js';
import { EntryType, NONE } from '../core/index.js';
import { WalClosedError, WalFailedError } from './errors.js';
import { entries, entry, seededRandom, tempDir } from './test-helpers.js';
import { Wal, listSegments } from './wal.js';

const hs = (term: number, vote: number, commit: number): HardState => ({
  term,
  vote: vote as MemberId,
  commit,
});

const snapshot = (index: number, term: number, data = `snap@${index}`): Snapshot => ({
  metadata: {
    index,
    term,
    conf: { voters: [1, 2, 3] as MemberId[], learners: [4] as MemberId[], removed: [] },
  },
  data: new TextEncoder().encode(data),
});

const reopen = async (dir: string, segmentBytes?: number) => {
  const opened = await Wal.open(dir, segmentBytes === undefined ? {} : { segmentBytes });
  await opened.wal.close();
  return opened.state;
};

test('wal: a new directory opens empty', async (t) => {
  const dir = join(await tempDir(t), 'member');
  const { wal, state } = await Wal.open(dir);
  await wal.close();
  t.deepEqual(state, {
    hardState: { term: 0, vote: NONE, commit: 0 },
    snapshot: null,
    entries: [],
  });
  t.deepEqual((await readdir(dir)).sort(), ['snap', 'wal']);
  t.deepEqual(await reopen(dir), state);
});

test('wal: entries and hard states saved in many batches come back exactly', async (t) => {
  const dir = await tempDir(t);
  const random = seededRandom(7);
  const { wal } = await Wal.open(dir);
  const want: Entry[] = [];
  let hard = hs(0, 0, 0);
  let term = 1;
  for (let batch = 0; batch < 300; batch++) {
    const n = Math.floor(random() * 6);
    const batchEntries: Entry[] = [];
    for (let k = 0; k < n; k++) {
      const index = want.length + 1;
      const size = Math.floor(random() * 200);
      const data = Uint8Array.from({ length: size }, () => Math.floor(random() * 256));
      const type = random() < 0.1 ? EntryType.ConfChange : EntryType.Normal;
      const e: Entry = { index, term, type, data };
      want.push(e);
      batchEntries.push(e);
    }
    if (random() < 0.05) term++;
    const withState = random() < 0.5;
    if (withState) hard = hs(term, 1 + Math.floor(random() * 3), Math.max(0, want.length - 2));
    await wal.save(withState ? hard : null, batchEntries, random() < 0.7);
  }
  await wal.close();
  t.true(want.length > 500);
  t.deepEqual(await reopen(dir), { hardState: hard, snapshot: null, entries: want });
});

test('wal: a later entry for an index replaces it and everything after', async (t) => {
  const dir = await tempDir(t);
  const { wal } = await Wal.open(dir);
  await wal.save(hs(1, 1, 0), entries(1, 10, 1), true);
  await wal.save(hs(2, 2, 0), entries(6, 8, 2), true);
  await wal.close();
  const state = await reopen(dir);
  t.deepEqual(state.entries, [...entries(1, 5, 1), ...entries(6, 8, 2)]);
  t.deepEqual(state.hardState, hs(2, 2, 0));

  // Appending after the truncation continues from 9, and another overwrite in a later session.
  const again = await Wal.open(dir);
  t.deepEqual(again.state, state);
  await again.wal.save(null, entries(9, 12, 2), true);
  await again.wal.save(null, entries(3, 4, 3), true);
  await again.wal.close();
  t.deepEqual((await reopen(dir)).entries, [...entries(1, 2, 1), ...entries(3, 4, 3)]);
});

test('wal: rolls segments at segmentBytes and replays across them', async (t) => {
  const dir = await tempDir(t);
  const segmentBytes = 4096;
  const { wal } = await Wal.open(dir, { segmentBytes });
  const want: Entry[] = [];
  for (let i = 1; i <= 400; i += 4) {
    const batch = [entry(i, 1), entry(i + 1, 1), entry(i + 2, 1), entry(i + 3, 1)];
    want.push(...batch);
    await wal.save(hs(1, 1, i), batch, true);
  }
  // An overwrite reaching back into an earlier segment.
  await wal.save(hs(2, 2, 300), entries(350, 360, 2), true);
  want.length = 349;
  want.push(...entries(350, 360, 2));
  t.true(wal.stats.segmentsCreated > 3);
  await wal.close();

  const segs = await listSegments(join(dir, 'wal'));
  t.true(segs.length > 3);
  t.deepEqual(
    segs.map((s) => s.seq),
    segs.map((_, i) => i),
  );
  t.is(segs[0]!.firstIndex, 1);
  for (let i = 1; i < segs.length; i++) t.true(segs[i]!.firstIndex > segs[i - 1]!.firstIndex);
  const state = await reopen(dir, segmentBytes);
  t.deepEqual(state.entries, want);
  t.deepEqual(state.hardState, hs(2, 2, 300));
});

test('wal: snapshot and releaseTo keep only what recovery needs', async (t) => {
  const dir = await tempDir(t);
  const segmentBytes = 2048;
  const { wal } = await Wal.open(dir, { segmentBytes });
  // The hard state is written once: later segments must carry it over.
  await wal.save(hs(3, 2, 0), [], true);
  for (let i = 1; i <= 300; i += 10) await wal.save(null, entries(i, i + 9, 3), true);
  const before = await listSegments(join(dir, 'wal'));
  t.true(before.length > 5);

  await wal.saveSnapshot(snapshot(200, 3));
  await wal.releaseTo(200);
  const after = await listSegments(join(dir, 'wal'));
  t.true(after.length < before.length);
  t.true(after[0]!.firstIndex <= 201, 'the segment holding entry 201 stays');
  await wal.close();

  const state = await reopen(dir, segmentBytes);
  t.deepEqual(state.snapshot, snapshot(200, 3));
  t.deepEqual(state.entries, entries(201, 300, 3));
  t.deepEqual(state.hardState, hs(3, 2, 200), 'commit raised to the snapshot index');

  // Newer snapshots: only the newest and the one before it stay on disk.
  const next = await Wal.open(dir, { segmentBytes });
  await next.wal.save(hs(3, 2, 300), entries(301, 320, 3), true);
  await next.wal.saveSnapshot(snapshot(250, 3));
  await next.wal.saveSnapshot(snapshot(310, 3));
  await next.wal.releaseTo(310);
  t.deepEqual(await readdir(join(dir, 'snap')), [
    '0000000000000003-00000000000000fa.snap',
    '0000000000000003-0000000000000136.snap',
  ]);
  await next.wal.close();
  const last = await reopen(dir, segmentBytes);
  t.deepEqual(last.snapshot, snapshot(310, 3));
  t.deepEqual(last.entries, entries(311, 320, 3));
  t.deepEqual(last.hardState, hs(3, 2, 310));
});

test('wal: releaseTo never removes entries the newest snapshot does not cover', async (t) => {
  const dir = await tempDir(t);
  const { wal } = await Wal.open(dir, { segmentBytes: 1024 });
  for (let i = 1; i <= 100; i += 5) await wal.save(null, entries(i, i + 4, 1), true);
  await wal.releaseTo(100); // no snapshot yet: nothing may go
  t.is((await listSegments(join(dir, 'wal')))[0]!.seq, 0);
  await wal.saveSnapshot(snapshot(40, 1));
  await wal.releaseTo(100); // bounded by the snapshot, not by the argument
  await wal.close();
  const state = await reopen(dir, 1024);
  t.is(state.snapshot?.metadata.index, 40);
  t.deepEqual(state.entries, entries(41, 100, 1));
});

test('wal: a snapshot that does not match the log replaces the log', async (t) => {
  const dir = await tempDir(t);
  const { wal } = await Wal.open(dir);
  await wal.save(hs(1, 1, 3), entries(1, 10, 1), true);
  // A follower receives the leader's snapshot at 7 of term 2: its entries 7..10 were never
  // committed and the log after the snapshot is gone.
  await wal.saveSnapshot(snapshot(7, 2));
  await wal.save(hs(2, 0, 7), [], true);
  await wal.close();
  let state = await reopen(dir);
  t.is(state.snapshot?.metadata.index, 7);
  t.deepEqual(state.entries, []);

  // Beyond the end of the log too, then appending after it.
  const again = await Wal.open(dir);
  await again.wal.saveSnapshot(snapshot(50, 4));
  await again.wal.save(hs(4, 0, 50), entries(51, 52, 4), true);
  await again.wal.close();
  state = await reopen(dir);
  t.is(state.snapshot?.metadata.index, 50);
  t.deepEqual(state.entries, entries(51, 52, 4));
  t.deepEqual(state.hardState, hs(4, 0, 50));
});

test('wal: saves issued while a snapshot is written land after its marker', async (t) => {
  const dir = await tempDir(t);
  const { wal } = await Wal.open(dir);
  await wal.save(null, entries(1, 5, 1), true);
  const snap = wal.saveSnapshot(snapshot(20, 2));
  const follow = wal.save(hs(2, 0, 20), entries(21, 22, 2), true);
  await Promise.all([snap, follow]);
  await wal.close();
  const state = await reopen(dir);
  t.is(state.snapshot?.metadata.index, 20);
  t.deepEqual(state.entries, entries(21, 22, 2));
});

test('wal: 100 concurrent synced saves share a handful of fsyncs', async (t) => {
  const dir = await tempDir(t);
  const { wal } = await Wal.open(dir);
  const before = wal.stats.fsyncs;
  await Promise.all(
    Array.from({ length: 100 }, (_, i) => wal.save(hs(1, 1, i), [entry(i + 1, 1)], true)),
  );
  const fsyncs = wal.stats.fsyncs - before;
  t.log(`100 concurrent save(sync=true) → ${fsyncs} fsync(s), ${wal.stats.writes} write(s)`);
  t.true(fsyncs >= 1);
  t.true(fsyncs <= 5, `${fsyncs} fsyncs`);

  // Saves trickling in while an fsync is in flight coalesce too.
  const trickle: Promise<void>[] = [];
  const base = wal.stats.fsyncs;
  for (let i = 101; i <= 200; i++) {
    trickle.push(wal.save(null, [entry(i, 1)], true));
    if (i % 10 === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(trickle);
  t.true(wal.stats.fsyncs - base < 100);
  await wal.close();
  const state = await reopen(dir);
  t.deepEqual(state.entries, entries(1, 200, 1));
  t.deepEqual(state.hardState, hs(1, 1, 99));
});

test('wal: unsynced saves resolve and are durable after close', async (t) => {
  const dir = await tempDir(t);
  const { wal } = await Wal.open(dir);
  const before = wal.stats.fsyncs;
  await wal.save(hs(1, 1, 0), entries(1, 3, 1), false);
  t.is(wal.stats.fsyncs, before);
  await wal.save(null, [], true); // an empty synced save flushes what came before
  t.is(wal.stats.fsyncs, before + 1);
  await wal.save(null, entries(4, 6, 1), false);
  await wal.close();
  t.deepEqual((await reopen(dir)).entries, entries(1, 6, 1));
});

test('wal: refuses gaps, entries under the snapshot and malformed input, and stays usable', async (t) => {
  const dir = await tempDir(t);
  const { wal } = await Wal.open(dir);
  await wal.save(null, entries(1, 3, 1), true);
  await t.throwsAsync(wal.save(null, entries(5, 6, 1), true), {
    instanceOf: RangeError,
    message: /gap/,
  });
  await t.throwsAsync(wal.save(null, [entry(4, 1), entry(6, 1)], true), {
    message: /not contiguous/,
  });
  await t.throwsAsync(wal.save(null, [entry(0, 1)], true), { instanceOf: RangeError });
  await t.throwsAsync(wal.save(hs(-1, 0, 0), [], true), { instanceOf: TypeError });
  await t.throwsAsync(wal.save(null, [{ ...entry(4, 1), type: 'bogus' as EntryType }], true), {
    instanceOf: TypeError,
  });
  await wal.saveSnapshot(snapshot(3, 1));
  await t.throwsAsync(wal.save(null, entries(3, 4, 1), true), { message: /snapshot index/ });
  await t.throwsAsync(wal.saveSnapshot(snapshot(2, 1)), { message: /not newer/ });
  await wal.save(null, entries(4, 5, 1), true);
  await wal.close();
  await t.throwsAsync(wal.save(null, entries(6, 6, 1), true), { instanceOf: WalClosedError });
  const state = await reopen(dir);
  t.is(state.snapshot?.metadata.index, 3);
  t.deepEqual(state.entries, entries(4, 5, 1));
});

test('wal: refuses a segment size too small to hold anything', async (t) => {
  const dir = await tempDir(t);
  await t.throwsAsync(Wal.open(dir, { segmentBytes: 10 }), { instanceOf: RangeError });
});

test('wal: a failed write rejects the waiting saves and every later call', async (t) => {
  const dir = await tempDir(t);
  const { wal } = await Wal.open(dir);
  await wal.save(null, entries(1, 2, 1), true);
  // Pull the file out from under the writer: the next write fails as a broken disk would.
  const internals = wal as unknown as { fh: { close(): Promise<void> } };
  await internals.fh.close();
  const results = await Promise.allSettled([
    wal.save(null, entries(3, 3, 1), true),
    wal.save(null, entries(4, 4, 1), true),
  ]);
  for (const r of results) {
    t.is(r.status, 'rejected');
    t.true(r.status === 'rejected' && r.reason instanceof WalFailedError);
  }
  const later = await t.throwsAsync(wal.save(null, entries(5, 5, 1), true), {
    instanceOf: WalFailedError,
  });
  t.is(later.code, 'wal-failed');
  await wal.close(); // releases the handle; the failure was already reported
  t.deepEqual((await reopen(dir)).entries, entries(1, 2, 1));
});
