import test from 'ava';

import { UsageError } from '../lib/errors.js';
import { defaultMaxMinutes, DEFAULT_OUT_DIR, parseOptions, resultBaseName } from './options.js';
import { FAKE_SERVER, TUG_SERVER } from './tug.js';

test('options: defaults are the documented benchmark', (t) => {
  const o = parseOptions([]);
  t.is(o.putSeconds, 10);
  t.is(o.getSeconds, 5);
  t.is(o.warmupSeconds, 1);
  t.deepEqual(o.putConcurrency, [1, 16, 64]);
  t.is(o.getConcurrency, 16);
  t.is(o.valueBytes, 256);
  t.is(o.keys, 10_000);
  t.is(o.trials, 5);
  t.deepEqual(o.systems, ['etcd', 'tug']);
  t.is(o.etcdBinary, '/usr/bin/etcd');
  t.is(o.server, TUG_SERVER);
  t.false(o.fake);
  t.is(o.outDir, DEFAULT_OUT_DIR);
  t.regex(TUG_SERVER, /build\/manager\/raft\/kv\/server-main\.js$/);
  t.regex(DEFAULT_OUT_DIR, /bench\/results$/);
  t.is(o.maxMinutes, defaultMaxMinutes(o));
});

test('options: the smoke-test flags shorten every phase', (t) => {
  const o = parseOptions(['--seconds', '1', '--trials', '1', '--out', '/tmp/x']);
  t.is(o.putSeconds, 1);
  t.is(o.getSeconds, 0.5);
  t.is(o.warmupSeconds, 0.2);
  t.is(o.trials, 1);
  t.is(o.outDir, '/tmp/x');
  t.true(o.maxMinutes < parseOptions([]).maxMinutes);
});

test('options: --fake selects the fake server and its own result name', (t) => {
  const o = parseOptions(['--fake']);
  t.true(o.fake);
  t.is(o.server, FAKE_SERVER);
  t.is(resultBaseName(o.fake), 'raft-fake');
  t.is(resultBaseName(false), 'raft');
  t.throws(() => parseOptions(['--fake', '--server', 'x.js']), {
    instanceOf: UsageError,
    message: /exclusive/,
  });
});

test('options: bad values are usage errors naming the flag', (t) => {
  const bad: [string[], RegExp][] = [
    [['--seconds', '0'], /--seconds must be a number > 0/],
    [['--trials=-1'], /--trials must be an integer >= 0/],
    [['--concurrency', '1,x'], /--concurrency must be a comma-separated list/],
    [['--systems', 'etcd,zookeeper'], /'zookeeper' is not one of etcd, tug/],
    [['--value-bytes', '1.5'], /--value-bytes must be an integer >= 0/],
    [['--bogus'], /bogus/],
    [['--out', ''], /--out must not be empty/],
  ];
  for (const [argv, message] of bad) {
    t.throws(() => parseOptions(argv), { instanceOf: UsageError, message }, argv.join(' '));
  }
});

test('options: trials 0 and a single system are allowed', (t) => {
  const o = parseOptions(['--trials', '0', '--systems', 'etcd', '--warmup-seconds', '0']);
  t.is(o.trials, 0);
  t.deepEqual(o.systems, ['etcd']);
  t.is(o.warmupSeconds, 0);
});
