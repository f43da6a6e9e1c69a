import test from 'ava';
import fc from 'fast-check';
import { backoffMs, nextManager } from './backoff.js';

test('backoffMs: within the upper half of a capped exponential ceiling', (t) => {
  fc.assert(
    fc.property(
      fc.nat({ max: 100 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      fc.integer({ min: 1, max: 1000 }),
      fc.integer({ min: 1, max: 100_000 }),
      (attempt, r, baseMs, extra) => {
        const maxMs = baseMs + extra;
        const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
        const d = backoffMs(attempt, () => r, { baseMs, maxMs });
        return d >= ceiling / 2 && d <= ceiling && d <= maxMs;
      },
    ),
  );
  t.pass();
});

test('nextManager: a leader hint wins, else every manager is tried in turn', (t) => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 7 }),
      fc.string({ minLength: 1 }),
      (managers, hint) => {
        if (nextManager(managers, managers[0]!, hint) !== hint) return false;
        const seen = new Set<string>();
        let last = '';
        for (let i = 0; i < managers.length; i++) {
          last = nextManager(managers, last, '')!;
          seen.add(last);
        }
        return seen.size === managers.length;
      },
    ),
  );
  t.is(nextManager([], '', ''), undefined);
  t.is(nextManager([], 'a:1', ''), 'a:1');
});
