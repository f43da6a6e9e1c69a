// Random sequences of appends, overwrites, snapshots (matching and not), releases and reopens
// against a plain in-memory model of what Raft expects back. Small segments so that rolls,
// carried-over state and released prefixes are exercised constantly.
import test from 'ava';
import type { Entry, HardState, MemberId, PersistedState, Snapshot } from '../core/index.js';
import { NONE } from '../core/index.js';
import { entry, seededRandom, tempDir } from './test-helpers.js';
import { Wal } from './wal.js';

class Model {
  snapshot: Snapshot | null = null;
  log: Entry[] = [];
  hard: HardState = { term: 0, vote: NONE, commit: 0 };

  get snapIndex(): number {
    return this.snapshot?.metadata.index ?? 0;
  }
  get lastIndex(): number {
    return this.snapIndex + this.log.length;
  }
  termAt(i: number): number | undefined {
    if (i === this.snapIndex) return this.snapshot?.metadata.term ?? 0;
    return this.log[i - this.snapIndex - 1]?.term;
  }
  expected(): PersistedState {
    const commit = Math.max(this.hard.commit, this.snapIndex);
    return { hardState: { ...this.hard, commit }, snapshot: this.snapshot, entries: this.log };
  }
}

const snapshotAt = (index: number, term: number): Snapshot => ({
  metadata: { index, term, conf: { voters: [1 as MemberId], learners: [], removed: [] } },
  data: new TextEncoder().encode(`state at ${index}/${term}`),
});

for (const seed of [1, 2, 3, 4, 5, 6]) {
  test(`wal model: random operations and reopens replay exactly (seed ${seed})`, async (t) => {
    const dir = await tempDir(t);
    const random = seededRandom(seed);
    const pick = (n: number): number => Math.floor(random() * n);
    const segmentBytes = 1024 + pick(2048);
    const model = new Model();
    let term = 1;
    let { wal, state } = await Wal.open(dir, { segmentBytes });
    t.deepEqual(state, model.expected());
    let reopens = 0;
    let pending: Promise<void>[] = [];

    for (let step = 0; step < 400; step++) {
      const r = random();
      // Sometimes let operations pile up unawaited: they must still land in call order.
      const burst = random() < 0.3;
      if (r < 0.5) {
        const from = model.lastIndex + 1;
        const batch = Array.from({ length: 1 + pick(6) }, (_, k) => entry(from + k, term));
        model.log.push(...batch);
        const hs = random() < 0.5 ? null : { term, vote: 1 as MemberId, commit: pick(from) };
        if (hs) model.hard = hs;
        pending.push(wal.save(hs, batch, random() < 0.8));
      } else if (r < 0.62) {
        term++;
        const span = model.lastIndex - model.snapIndex;
        const from = model.snapIndex + 1 + pick(span + 1);
        const batch = Array.from({ length: 1 + pick(4) }, (_, k) =>
          entry(from + k, term, 'normal', 'x'),
        );
        model.log.length = from - model.snapIndex - 1;
        model.log.push(...batch);
        model.hard = { term, vote: 2 as MemberId, commit: Math.min(model.hard.commit, from - 1) };
        pending.push(wal.save(model.hard, batch, true));
      } else if (r < 0.72 && model.lastIndex > model.snapIndex) {
        // A compaction point of this log: what follows it stays.
        const at = model.snapIndex + 1 + pick(model.lastIndex - model.snapIndex);
        const snap = snapshotAt(at, model.termAt(at)!);
        model.log = model.log.slice(at - model.snapIndex);
        model.snapshot = snap;
        pending.push(wal.saveSnapshot(snap));
      } else if (r < 0.76) {
        // The leader's snapshot, from a newer term: replaces the whole log.
        term++;
        const at = model.snapIndex + 1 + pick(model.lastIndex - model.snapIndex + 5);
        const snap = snapshotAt(at, term);
        model.log = [];
        model.snapshot = snap;
        pending.push(wal.saveSnapshot(snap));
      } else if (r < 0.88) {
        await Promise.all(pending);
        pending = [];
        await wal.releaseTo(pick(model.lastIndex + 1));
      } else if (r < 0.94) {
        await Promise.all(pending);
        pending = [];
        await wal.close();
        ({ wal, state } = await Wal.open(dir, { segmentBytes }));
        reopens++;
        t.deepEqual(state, model.expected(), `seed ${seed} step ${step}`);
      }
      if (!burst) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
    await wal.close();
    ({ wal, state } = await Wal.open(dir, { segmentBytes }));
    await wal.close();
    t.deepEqual(state, model.expected());
    t.log(
      `seed ${seed}: ${reopens} reopens, snapshot ${model.snapIndex}, last index ${model.lastIndex}`,
    );
  });
}
