// The seed sweep as ava tests, sharded over several test files so ava runs them in parallel
// processes (the simulator is CPU-bound and synchronous). Seeds come in chunks of 100, one ava
// test each, so every test stays short whatever TUG_SIM_SEEDS says.
//
//   TUG_SIM_SEEDS=N         sweep seeds 1..N (default 2000)
//   TUG_SIM_FIRST_SEED=K    start at K instead of 1 (explore fresh seeds)
//   TUG_SIM_SEED=S          run only seed S, printing its event log (see sim.test.ts)
import type { ExecutionContext, TestFn } from 'ava';
import {
  SimFailure,
  runSimulation,
  type Coverage,
  type SimOptions,
  type SimResult,
} from './simulator.js';

const CHUNK = 100;

const envInt = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return n;
};

/** The seed given by TUG_SIM_SEED, if any: then only that seed runs, verbosely. */
export const replaySeed = (): number | undefined => {
  const raw = process.env.TUG_SIM_SEED;
  return raw === undefined || raw === '' ? undefined : envInt('TUG_SIM_SEED', 0);
};

/**
 * Runs one seed; on failure re-runs it with the event log on (the run is deterministic) and fails
 * the test with the violation, the tail of the log and the command that replays it.
 */
export const runSeed = (
  t: ExecutionContext,
  opts: SimOptions,
  logTail = 80,
): SimResult | undefined => {
  try {
    return runSimulation(opts);
  } catch (e) {
    if (!(e instanceof SimFailure)) throw e;
    const lines: string[] = [];
    try {
      runSimulation({
        ...opts,
        log: (l) => {
          lines.push(l);
          if (lines.length > 4 * logTail) lines.splice(0, lines.length - logTail);
        },
      });
    } catch {
      // The same failure again, as expected: the log is what we wanted.
    }
    t.fail(`${e.message}\n--- last ${logTail} events ---\n${lines.slice(-logTail).join('\n')}`);
    return undefined;
  }
};

const addCoverage = (into: Coverage, r: SimResult): void => {
  for (const k of Object.keys(into) as (keyof Coverage)[]) into[k] += r.coverage[k];
};

/** Registers this shard's chunks of the sweep. */
export const registerSweep = (test: TestFn, shard: number, shards: number): void => {
  const first = envInt('TUG_SIM_FIRST_SEED', 1);
  const count = envInt('TUG_SIM_SEEDS', 2000);
  for (let c = 0, lo = first; lo < first + count; c++, lo += CHUNK) {
    if (c % shards !== shard) continue;
    const hi = Math.min(lo + CHUNK, first + count) - 1;
    // Serial: the work is synchronous anyway, and between serial tests the worker gets to report
    // progress — a few hundred synchronous tests started together starve it and ava times out.
    test.serial(
      `raft sim: seeds ${lo}..${hi} keep every invariant, stay linearizable and recover`,
      (t) => {
        let total: Coverage | undefined;
        let failures = 0;
        for (let seed = lo; seed <= hi; seed++) {
          const r = runSeed(t, { seed });
          if (r === undefined) {
            if (++failures >= 3) return; // enough to go on; the rest would only repeat it
            continue;
          }
          if (total === undefined) total = { ...r.coverage };
          else addCoverage(total, r);
        }
        // A full chunk must have exercised every fault and feature at least once; if not, the
        // simulator has quietly stopped testing something.
        if (hi - lo + 1 === CHUNK && total !== undefined) {
          const missing = Object.entries(total)
            .filter(([, v]) => v === 0)
            .map(([k]) => k);
          t.deepEqual(missing, [], `never exercised in seeds ${lo}..${hi}`);
        }
        t.pass();
      },
    );
  }
};
