import test from 'ava';

import { UsageError } from './errors.js';
import {
  choiceListFlag,
  intFlag,
  intListFlag,
  nonNegativeNumberFlag,
  parseFlags,
  positiveNumberFlag,
} from './flags.js';

const spec = { n: { type: 'string' }, on: { type: 'boolean' } } as const;

test('flags: unknown flags and positionals are usage errors', (t) => {
  t.throws(() => parseFlags(['--nope'], spec), { instanceOf: UsageError, message: /nope/ });
  t.throws(() => parseFlags(['stray'], spec), { instanceOf: UsageError });
});

test('flags: numbers are parsed and bad ones rejected naming the flag', (t) => {
  t.is(positiveNumberFlag(parseFlags(['--n', '0.5'], spec), 'n', 3), 0.5);
  t.is(positiveNumberFlag(parseFlags([], spec), 'n', 3), 3);
  for (const bad of ['0', '-1', 'x', '', 'Infinity']) {
    t.throws(() => positiveNumberFlag(parseFlags([`--n=${bad}`], spec), 'n', 3), {
      instanceOf: UsageError,
      message: /^--n must be a number > 0/,
    });
  }
  t.is(nonNegativeNumberFlag(parseFlags(['--n', '0'], spec), 'n', 1), 0);
  t.throws(() => nonNegativeNumberFlag(parseFlags(['--n=-0.1'], spec), 'n', 1), {
    message: /--n must be a number >= 0/,
  });
});

test('flags: integers and integer lists reject fractions and values below the minimum', (t) => {
  t.is(intFlag(parseFlags(['--n', '7'], spec), 'n', 1), 7);
  t.is(intFlag(parseFlags(['--n', '0'], spec), 'n', 1, 0), 0);
  t.throws(() => intFlag(parseFlags(['--n', '1.5'], spec), 'n', 1), {
    message: /--n must be an integer >= 1, got '1.5'/,
  });
  t.throws(() => intFlag(parseFlags(['--n', '0'], spec), 'n', 1), { message: /integer >= 1/ });
  t.deepEqual(intListFlag(parseFlags(['--n', '1, 16,64'], spec), 'n', [2]), [1, 16, 64]);
  t.deepEqual(intListFlag(parseFlags([], spec), 'n', [2]), [2]);
  t.throws(() => intListFlag(parseFlags(['--n', '1,,3'], spec), 'n', [2]), {
    message: /comma-separated list/,
  });
});

test('flags: choice lists keep order, drop duplicates and name the bad choice', (t) => {
  const allowed = ['etcd', 'tug'] as const;
  t.deepEqual(choiceListFlag(parseFlags(['--n', 'tug,etcd,tug'], spec), 'n', allowed, allowed), [
    'tug',
    'etcd',
  ]);
  t.throws(() => choiceListFlag(parseFlags(['--n', 'zk'], spec), 'n', allowed, allowed), {
    message: /--n: 'zk' is not one of etcd, tug/,
  });
});
