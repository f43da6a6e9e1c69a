import test from 'ava';
import { LogShape } from './log-shape.js';
import { entries } from './test-helpers.js';

const terms = (s: LogShape, from: number, to: number): (number | undefined)[] =>
  Array.from({ length: to - from + 1 }, (_, i) => s.termAt(from + i));

test('log shape: terms follow appends and suffix replacement', (t) => {
  const s = new LogShape();
  s.append(entries(1, 4, 1));
  s.append(entries(5, 6, 2));
  t.deepEqual(terms(s, 0, 7), [0, 1, 1, 1, 1, 2, 2, undefined]);
  s.append(entries(3, 3, 3));
  t.is(s.lastIndex, 3);
  t.deepEqual(terms(s, 1, 4), [1, 1, 3, undefined]);
});

test('log shape: a matching snapshot keeps what follows it', (t) => {
  const s = LogShape.from(0, 0, [...entries(1, 4, 1), ...entries(5, 8, 2)]);
  s.snapshotAt(5, 2, true);
  t.is(s.lastIndex, 8);
  t.deepEqual(terms(s, 4, 9), [undefined, 2, 2, 2, 2, undefined]);
  s.snapshotAt(8, 2, true);
  t.is(s.lastIndex, 8);
  t.deepEqual(terms(s, 7, 9), [undefined, 2, undefined]);
});

test('log shape: a snapshot that does not match replaces the log', (t) => {
  const s = LogShape.from(0, 0, entries(1, 8, 1));
  s.snapshotAt(5, 3, false);
  t.is(s.lastIndex, 5);
  t.deepEqual(terms(s, 4, 6), [undefined, 3, undefined]);
  s.snapshotAt(20, 4, false);
  t.is(s.lastIndex, 20);
  s.append(entries(21, 22, 4));
  t.deepEqual(terms(s, 20, 23), [4, 4, 4, undefined]);
});
