// The simulator's seed sweep (first shard; the others are sim-shard-*.test.ts), its determinism,
// long runs, and single-seed replay: TUG_SIM_SEED=<seed> prints that seed's whole event log.
import test from 'ava';
import { registerSweep, replaySeed, runSeed } from './sweep.js';
import { SimFailure, replayCommand, runSimulation } from './simulator.js';

const replay = replaySeed();

if (replay !== undefined) {
  test(`raft sim: replay of seed ${replay}`, (t) => {
    try {
      const r = runSimulation({
        seed: replay,
        log: (line) => {
          console.log(line);
        },
      });
      console.log(JSON.stringify(r, null, 2));
      t.pass();
    } catch (e) {
      if (!(e instanceof SimFailure)) throw e;
      t.fail(e.message);
    }
  });
} else {
  registerSweep(test, 0, 2);

  test('raft sim: the same seed gives the identical run', (t) => {
    for (let seed = 1; seed <= 20; seed++) {
      const a = runSimulation({ seed });
      const b = runSimulation({ seed });
      t.is(a.hash, b.hash, `seed ${seed}`);
      t.deepEqual(a, b, `seed ${seed}`);
    }
    // Turning the event log on must not change the run it describes.
    const lines: string[] = [];
    const logged = runSimulation({ seed: 7, log: (l) => lines.push(l) });
    t.is(logged.hash, runSimulation({ seed: 7 }).hash);
    t.true(lines.length > 100, `only ${lines.length} log lines`);
  });

  test('raft sim: different seeds give different runs', (t) => {
    const hashes = new Set<string>();
    for (let seed = 1; seed <= 50; seed++) hashes.add(runSimulation({ seed }).hash);
    t.is(hashes.size, 50);
  });

  test('raft sim: long runs (60 s of faults, ~400 client operations) keep every invariant', (t) => {
    for (const seed of [1_000_001, 1_000_002]) {
      const r = runSeed(t, {
        seed,
        faultMs: 60_000,
        opsPerClient: 100,
        profile: { nemesisGapMs: 500 },
      });
      if (r === undefined) return;
      t.true(r.leaders > 2, `seed ${seed}: only ${r.leaders} leaders`);
      t.true(r.coverage.putsAcknowledged > 50, `seed ${seed}: ${r.coverage.putsAcknowledged} puts`);
    }
  });

  test('raft sim: a failure names its seed and the command that replays it', (t) => {
    const e = new SimFailure(1234, 'election-safety', 'two leaders', 10, 20);
    t.true(e.message.includes('seed 1234'));
    t.true(e.message.includes(replayCommand(1234)));
    t.is(replayCommand(1234), 'TUG_SIM_SEED=1234 npx ava build/manager/raft/sim/sim.test.js');
  });
}
