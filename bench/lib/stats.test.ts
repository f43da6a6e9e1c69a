import test from 'ava';
import fc from 'fast-check';

import { median, percentile, percentileOfSorted, ratio, summarize } from './stats.js';

test('stats: nearest-rank percentiles pick observed samples', (t) => {
  const v = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
  t.is(percentile(v, 50), 5);
  t.is(percentile(v, 90), 9);
  t.is(percentile(v, 99), 10);
  t.is(percentile(v, 100), 10);
  t.is(percentile(v, 0), 1);
  t.is(percentile([42], 99), 42);
});

test('stats: a percentile is an element of the input and grows with p', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), {
        minLength: 1,
        maxLength: 200,
      }),
      fc.double({ min: 0, max: 100, noNaN: true }),
      fc.double({ min: 0, max: 100, noNaN: true }),
      (values, p, q) => {
        const lo = Math.min(p, q);
        const hi = Math.max(p, q);
        const a = percentile(values, lo);
        const b = percentile(values, hi);
        return values.includes(a) && values.includes(b) && a <= b;
      },
    ),
  );
  t.pass();
});

test('stats: median averages the middle pair for even counts', (t) => {
  t.is(median([3, 1, 2]), 2);
  t.is(median([4, 1, 3, 2]), 2.5);
  t.is(median([7]), 7);
});

test('stats: summarize reports count, extremes, mean and percentiles', (t) => {
  const s = summarize(Array.from({ length: 100 }, (_, i) => i + 1));
  t.deepEqual(s, { count: 100, min: 1, mean: 50.5, p50: 50, p90: 90, p99: 99, max: 100 });
});

test('stats: empty, non-finite and out-of-range input are rejected by name', (t) => {
  t.throws(() => summarize([]), { message: /no samples/ });
  t.throws(() => median([]), { message: /no samples/ });
  t.throws(() => percentile([1, Number.NaN], 50), { message: /not finite/ });
  t.throws(() => percentileOfSorted([1], 101), { message: /outside \[0, 100\]/ });
});

test('stats: ratio is null when a side is missing or the divisor is zero', (t) => {
  t.is(ratio(3, 2), 1.5);
  t.is(ratio(null, 2), null);
  t.is(ratio(3, undefined), null);
  t.is(ratio(3, 0), null);
  t.is(ratio(Number.NaN, 1), null);
});
