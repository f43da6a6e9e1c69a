// Second shard of the simulator's seed sweep (see sweep.ts); a separate file so ava runs it in
// its own process, in parallel with sim.test.ts.
import test from 'ava';
import { registerSweep, replaySeed, runSeed } from './sweep.js';

if (replaySeed() !== undefined) {
  test.skip('raft sim: second shard (skipped: TUG_SIM_SEED replays one seed in sim.test.js)', () =>
    undefined);
} else {
  registerSweep(test, 1, 2);

  test('raft sim: long runs with 5 members keep every invariant', (t) => {
    for (const seed of [1_000_003, 1_000_004]) {
      const r = runSeed(t, {
        seed,
        members: 5,
        faultMs: 60_000,
        opsPerClient: 100,
        profile: { nemesisGapMs: 500 },
      });
      if (r === undefined) return;
      t.true(r.leaders > 2, `seed ${seed}: only ${r.leaders} leaders`);
      // A floor for progress under a minute of faults every 500 ms (runs vary from ~50 to ~190
      // acknowledged puts with the schedule); liveness once faults stop is checked by runSeed.
      t.true(
        r.coverage.putsAcknowledged >= 25,
        `seed ${seed}: ${r.coverage.putsAcknowledged} puts`,
      );
    }
  });
}
