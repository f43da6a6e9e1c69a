import test from 'ava';
import fc from 'fast-check';

import type { Healthcheck } from '../../common/model.js';
import {
  applyProbe,
  describeProbe,
  effectiveCheck,
  HealthStatus,
  initialHealth,
  MAX_LOG_ENTRIES,
  MAX_OUTPUT_CHARS,
} from './health-state.js';
import type { Health, HealthState, ProbeResult } from './health-state.js';

const check = (o: Partial<Healthcheck> = {}): Healthcheck => ({
  command: ['true'],
  intervalMs: 1_000,
  timeoutMs: 500,
  retries: 3,
  startPeriodMs: 0,
  ...o,
});

const probe = (start: number, exitCode: number, output = ''): ProbeResult => ({
  start,
  end: start + 1,
  exitCode,
  output,
});

const run = (c: Healthcheck, results: readonly ProbeResult[]): HealthState =>
  results.reduce((s, r) => applyProbe(c, 0, s, r).state, initialHealth);

/**
 * The status stated declaratively (not step by step), for results in start order: a failure
 * counts unless no success came before it and it started within the start period; unhealthy
 * once the counted failures since the last success reach `retries`; else healthy if any check
 * ever succeeded; else starting.
 */
const expectedStatus = (c: Healthcheck, results: readonly ProbeResult[]): Health => {
  const e = effectiveCheck(c);
  const lastOk = results.findLastIndex((r) => r.exitCode === 0);
  const counted = results.filter(
    (r, i) => i > lastOk && r.exitCode !== 0 && (lastOk >= 0 || r.start >= e.startPeriodMs),
  ).length;
  if (counted >= e.retries) return HealthStatus.Unhealthy;
  return lastOk >= 0 ? HealthStatus.Healthy : HealthStatus.Starting;
};

const arbCheck = fc.record({
  command: fc.constant(['check']),
  intervalMs: fc.integer({ min: 0, max: 100 }),
  timeoutMs: fc.integer({ min: 0, max: 100 }),
  retries: fc.integer({ min: 0, max: 5 }),
  // Multiples of 10, as the start times below: boundaries get hit.
  startPeriodMs: fc.integer({ min: 0, max: 20 }).map((n) => n * 10),
});

/** Results at increasing start times, mostly 0/1 exit codes, some errors (-1). */
const arbResults = fc
  .array(
    fc.record({
      gap: fc.constantFrom(0, 10, 20, 30),
      exitCode: fc.constantFrom(0, 0, 1, 1, 2, -1),
      output: fc.string({ maxLength: 20 }),
    }),
    { maxLength: 30 },
  )
  .map((xs) => {
    let t = 0;
    return xs.map((x) => {
      t += x.gap;
      return probe(t, x.exitCode, x.output);
    });
  });

test('health state: the status matches its declarative definition', (t) => {
  fc.assert(
    fc.property(arbCheck, arbResults, (c, results) => {
      t.is(run(c, results).status, expectedStatus(c, results));
    }),
  );
});

test('health state: changed is exactly a status change; the streak resets on success', (t) => {
  fc.assert(
    fc.property(arbCheck, arbResults, (c, results) => {
      let s = initialHealth;
      for (const r of results) {
        const o = applyProbe(c, 0, s, r);
        t.is(o.changed, o.state.status !== s.status);
        if (r.exitCode === 0) {
          t.is(o.state.status, HealthStatus.Healthy);
          t.is(o.state.failingStreak, 0);
        } else {
          // A failure keeps the status or makes it unhealthy, nothing else.
          t.true(o.state.status === s.status || o.state.status === HealthStatus.Unhealthy);
          t.true(o.state.failingStreak >= s.failingStreak);
        }
        s = o.state;
      }
    }),
  );
});

test('health state: the log keeps the last results, output truncated', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ maxLength: 5000, unit: 'grapheme-ascii' }), { maxLength: 12 }),
      (outputs) => {
        const results = outputs.map((o, i) => probe(i, i % 2, o));
        const s = run(check(), results);
        t.is(s.log.length, Math.min(results.length, MAX_LOG_ENTRIES));
        t.deepEqual(
          s.log.map((r) => r.output),
          results.slice(-MAX_LOG_ENTRIES).map((r) => r.output.slice(0, MAX_OUTPUT_CHARS)),
        );
      },
    ),
  );
});

test('health state: failures in the start period do not count before the first success', (t) => {
  const c = check({ retries: 2, startPeriodMs: 100 });
  // Many failures inside the period: still starting.
  const early = [probe(0, 1), probe(30, 1), probe(60, 1), probe(99, 1)];
  t.is(run(c, early).status, HealthStatus.Starting);
  t.is(run(c, early).failingStreak, 0);
  // Past the period they count: two more make it unhealthy.
  t.is(run(c, [...early, probe(100, 1)]).status, HealthStatus.Starting);
  t.is(run(c, [...early, probe(100, 1), probe(130, 1)]).status, HealthStatus.Unhealthy);
  // After a success within the period, failures count at once.
  const afterOk = [probe(10, 0), probe(20, 1), probe(30, 1)];
  t.is(run(c, afterOk.slice(0, 2)).status, HealthStatus.Healthy);
  t.is(run(c, afterOk).status, HealthStatus.Unhealthy);
});

test('health state: retries consecutive failures → unhealthy; a success recovers', (t) => {
  const c = check({ retries: 3 });
  const fails = [probe(0, 0), probe(1, 1), probe(2, 1)];
  t.is(run(c, fails).status, HealthStatus.Healthy);
  const bad = [...fails, probe(3, -1, 'timed out')];
  const s = run(c, bad);
  t.is(s.status, HealthStatus.Unhealthy);
  t.is(s.failingStreak, 3);
  const ok = applyProbe(c, 0, s, probe(4, 0, 'fine'));
  t.deepEqual([ok.state.status, ok.state.failingStreak, ok.changed], ['healthy', 0, true]);
  // An interrupted streak starts again.
  t.is(run(c, [probe(0, 1), probe(1, 1), probe(2, 0), probe(3, 1), probe(4, 1)]).status, 'healthy');
});

test('health state: Docker defaults for zero figures', (t) => {
  t.deepEqual(effectiveCheck(check({ intervalMs: 0, timeoutMs: 0, retries: 0 })), {
    command: ['true'],
    intervalMs: 30_000,
    timeoutMs: 30_000,
    retries: 3,
    startPeriodMs: 0,
  });
});

test('health state: describeProbe says the output, or the exit code', (t) => {
  t.is(describeProbe(probe(0, 1, '  connection refused\n')), 'connection refused');
  t.is(describeProbe(probe(0, 7)), 'exit code 7');
  t.is(describeProbe(probe(0, 0)), '');
  t.is(describeProbe(undefined), '');
});
