import test from 'ava';
import fc from 'fast-check';
import { canonicalJson } from '../manager/store/codec.js';
import { jsonEqual } from './json-equal.js';

test('jsonEqual: agrees with comparing canonical JSON', (t) => {
  const value = fc.jsonValue({ maxDepth: 3 });
  fc.assert(
    fc.property(value, value, (a, b) => {
      t.is(jsonEqual(a, b), canonicalJson(a) === canonicalJson(b));
      // A value equals itself rebuilt with its keys in another order.
      const reordered: unknown = JSON.parse(
        JSON.stringify(a, (_k, v: unknown) =>
          v !== null && typeof v === 'object' && !Array.isArray(v)
            ? Object.fromEntries(Object.entries(v).reverse())
            : v,
        ),
      );
      t.true(jsonEqual(a, reordered));
    }),
    { numRuns: 500 },
  );
});

test('jsonEqual: an undefined key is no key; arrays are not objects', (t) => {
  t.true(jsonEqual({ a: 1, b: undefined }, { a: 1 }));
  t.false(jsonEqual({ a: 1 }, { a: 1, b: 2 }));
  t.false(jsonEqual({ a: 1, b: 2 }, { a: 1 }));
  t.false(jsonEqual([], {}));
  t.false(jsonEqual({ 0: 1 }, [1]));
  t.false(jsonEqual([1, 2], [2, 1]));
  t.false(jsonEqual(null, {}));
});
