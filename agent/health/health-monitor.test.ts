import test from 'ava';

import type { Clock } from '../../common/clock.js';
import type { Healthcheck } from '../../common/model.js';
import { EXEC_GRACE_MS, HealthMonitor } from './health-monitor.js';
import type { Health } from './health-state.js';

/** A clock that moves only when told to; due timers fire in time order. */
class FakeClock implements Clock {
  time = 0;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.time;
  }
  setTimer(ms: number, fn: () => void): () => void {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.time + ms, fn });
    return () => this.#timers.delete(id);
  }
  get pending(): number {
    return this.#timers.size;
  }
  /** Advances to `time + ms`, firing due timers and letting the promises they start settle. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await settle();
      const due = [...this.#timers.entries()]
        .filter(([, t]) => t.at <= end)
        .sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.time = due[1].at;
      due[1].fn();
    }
    this.time = end;
    await settle();
  }
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

const check = (o: Partial<Healthcheck> = {}): Healthcheck => ({
  command: ['sh', '-c', 'check'],
  intervalMs: 1_000,
  timeoutMs: 300,
  retries: 2,
  startPeriodMs: 0,
  ...o,
});

type Answer = { exitCode: number; output: string } | 'hang' | Error;

function setup(c: Healthcheck, answers: Answer[]) {
  const clock = new FakeClock();
  const calls: { argv: string[]; timeoutMs: number; at: number }[] = [];
  const seen: [Health, string][] = [];
  const monitor = new HealthMonitor({
    check: c,
    clock,
    exec: (argv, timeoutMs) => {
      calls.push({ argv, timeoutMs, at: clock.now() });
      const a = answers.shift() ?? { exitCode: 0, output: '' };
      if (a === 'hang') return new Promise(() => undefined);
      if (a instanceof Error) return Promise.reject(a);
      return Promise.resolve(a);
    },
    onChange: (h, d) => {
      seen.push([h, d]);
    },
  });
  return { clock, calls, seen, monitor };
}

test('health monitor: starting, then healthy, then unhealthy after retries failures', async (t) => {
  const { clock, calls, seen, monitor } = setup(check(), [
    { exitCode: 0, output: 'ok\n' },
    { exitCode: 1, output: 'refused' },
    { exitCode: 1, output: 'refused again' },
  ]);
  monitor.start();
  t.deepEqual(seen, [['starting', '']]);
  await clock.advance(999);
  t.is(calls.length, 0, 'the first check waits one interval');
  await clock.advance(1);
  t.deepEqual(calls, [{ argv: ['sh', '-c', 'check'], timeoutMs: 300, at: 1_000 }]);
  t.deepEqual(seen.at(-1), ['healthy', 'ok']);
  await clock.advance(2_000);
  t.is(calls.length, 3);
  t.deepEqual(seen, [
    ['starting', ''],
    ['healthy', 'ok'],
    ['unhealthy', 'refused again'],
  ]);
  t.is(monitor.health, 'unhealthy');
  t.is(monitor.state.log.length, 3);
  monitor.stop();
  t.is(clock.pending, 0);
});

test('health monitor: start period failures do not count; a success recovers', async (t) => {
  const { clock, seen, monitor } = setup(check({ startPeriodMs: 2_500 }), [
    { exitCode: 1, output: 'a' },
    { exitCode: 1, output: 'b' },
    { exitCode: 0, output: 'up' },
    { exitCode: 1, output: 'c' },
    { exitCode: 1, output: 'd' },
    { exitCode: 0, output: 'back' },
  ]);
  monitor.start();
  await clock.advance(2_000);
  t.is(monitor.health, 'starting');
  await clock.advance(4_000);
  t.deepEqual(
    seen.map(([h]) => h),
    ['starting', 'healthy', 'unhealthy', 'healthy'],
  );
  t.deepEqual(seen.at(-1), ['healthy', 'back']);
  monitor.stop();
});

test('health monitor: an exec that rejects or never answers is a failure', async (t) => {
  const { clock, calls, seen, monitor } = setup(check(), [
    new Error('container c1: exec exceeded its timeout of 300 ms'),
    'hang',
  ]);
  monitor.start();
  await clock.advance(1_000);
  t.is(monitor.state.failingStreak, 1);
  t.is(monitor.state.log[0]?.exitCode, -1);
  // The second check hangs: the monitor gives up after timeout + grace and counts a failure.
  await clock.advance(1_000 + 300 + EXEC_GRACE_MS - 1);
  t.is(monitor.state.failingStreak, 1);
  await clock.advance(1);
  t.deepEqual(seen.at(-1), ['unhealthy', 'health check exceeded its timeout of 300 ms']);
  // And goes on checking: the next check one interval after that one ended.
  await clock.advance(1_000);
  t.is(calls.length, 3);
  monitor.stop();
});

test('health monitor: nothing is reported after stop, even from a check under way', async (t) => {
  let release: (v: { exitCode: number; output: string }) => void = () => undefined;
  const clock = new FakeClock();
  const seen: Health[] = [];
  const monitor = new HealthMonitor({
    check: check(),
    clock,
    exec: () =>
      new Promise((r) => {
        release = r;
      }),
    onChange: (h) => {
      seen.push(h);
    },
  });
  monitor.start();
  await clock.advance(1_000);
  monitor.stop();
  release({ exitCode: 0, output: 'late' });
  await monitor.whenIdle();
  await clock.advance(10_000);
  t.deepEqual(seen, ['starting']);
  t.is(clock.pending, 0);
});

test('health monitor: onChange may stop the monitor (the agent does on unhealthy)', async (t) => {
  const clock = new FakeClock();
  let execs = 0;
  const monitor: HealthMonitor = new HealthMonitor({
    check: check({ retries: 1 }),
    clock,
    exec: () => {
      execs++;
      return Promise.resolve({ exitCode: 1, output: 'down' });
    },
    onChange: (h) => {
      if (h === 'unhealthy') monitor.stop();
    },
  });
  monitor.start();
  await clock.advance(10_000);
  t.is(execs, 1);
  t.is(clock.pending, 0);
});
