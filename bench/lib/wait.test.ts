import test from 'ava';
import { BenchTimeoutError } from './errors.js';
import { waitFor } from './wait.js';

test('wait: waitFor keeps polling through undefined, false and errors, then returns the value', async (t) => {
  const answers: unknown[] = [undefined, false, new Error('not yet'), 0];
  const v = await waitFor(
    () => {
      const a = answers.shift();
      if (a instanceof Error) throw a;
      return a as number | undefined | false;
    },
    { what: 'zero', timeoutMs: 5000, intervalMs: 1 },
  );
  t.is(v, 0);
});

test('wait: waitFor times out naming what it waited for', async (t) => {
  await t.throwsAsync(
    waitFor(() => false, { what: 'the impossible', timeoutMs: 30, intervalMs: 5 }),
    {
      instanceOf: BenchTimeoutError,
      message: /the impossible/,
    },
  );
});
