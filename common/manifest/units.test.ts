import test from 'ava';
import fc from 'fast-check';

import {
  checkName,
  formatBytes,
  formatDurationMs,
  parseBytes,
  parseDurationMs,
  suggest,
} from './units.js';

const value = <T>(r: { ok: true; value: T } | { ok: false; reason: string }): T | string =>
  r.ok ? r.value : `error: ${r.reason}`;

test('parseDurationMs: reads Go-style durations in milliseconds', (t) => {
  t.is(value(parseDurationMs('500ms')), 500);
  t.is(value(parseDurationMs('5s')), 5000);
  t.is(value(parseDurationMs('1m')), 60_000);
  t.is(value(parseDurationMs('1h')), 3_600_000);
  t.is(value(parseDurationMs('1m30s')), 90_000);
  t.is(value(parseDurationMs('1.5s')), 1500);
  t.is(value(parseDurationMs('0')), 0);
  t.is(value(parseDurationMs('0s')), 0);
});

test('parseDurationMs: refuses bare numbers, unknown units and sub-millisecond values', (t) => {
  t.regex(String(value(parseDurationMs('10'))), /needs a unit/);
  t.regex(String(value(parseDurationMs('5 s'))), /not a duration/);
  t.regex(String(value(parseDurationMs('5d'))), /not a duration/);
  t.regex(String(value(parseDurationMs('1us'))), /not a duration/);
  t.regex(String(value(parseDurationMs('0.5ms'))), /finer than a millisecond/);
  t.regex(String(value(parseDurationMs(''))), /empty/);
  t.regex(String(value(parseDurationMs('-1s'))), /not a duration/);
});

test('parseDurationMs: reads back what formatDurationMs writes', (t) => {
  fc.assert(
    fc.property(fc.nat({ max: 10 * 24 * 3_600_000 }), (ms) => {
      t.is(value(parseDurationMs(formatDurationMs(ms))), ms);
    }),
  );
  t.is(formatDurationMs(90_500), '1m30s500ms');
});

test('parseBytes: reads Kubernetes quantities and plain bytes', (t) => {
  t.is(value(parseBytes('64Mi')), 64 * 2 ** 20);
  t.is(value(parseBytes('1Gi')), 2 ** 30);
  t.is(value(parseBytes('1.5Gi')), 1.5 * 2 ** 30);
  t.is(value(parseBytes('100M')), 100e6);
  t.is(value(parseBytes('2k')), 2000);
  t.is(value(parseBytes('4096')), 4096);
});

test('parseBytes: refuses Docker-style lowercase units with a hint, and fractions of a byte', (t) => {
  t.regex(String(value(parseBytes('64m'))), /did you mean "64Mi"/);
  t.regex(String(value(parseBytes('1gb'))), /did you mean "1Gi"/);
  t.regex(String(value(parseBytes('1.5'))), /whole number of bytes/);
  t.regex(String(value(parseBytes('lots'))), /not a quantity/);
  t.regex(String(value(parseBytes('-1Mi'))), /not a quantity/);
});

test('parseBytes: reads back what formatBytes writes', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 50 }), (n) => {
      t.is(value(parseBytes(formatBytes(n))), n);
    }),
  );
  t.is(formatBytes(64 * 2 ** 20), '64Mi');
  t.is(formatBytes(1000), '1000');
});

test('checkName: accepts DNS labels only', (t) => {
  for (const good of ['web', 'a', 'web-1', '0x', 'a'.repeat(63)]) t.true(checkName(good).ok, good);
  for (const bad of ['', 'Web', 'web_1', '-web', 'web-', 'a.b', 'a'.repeat(64)]) {
    t.false(checkName(bad).ok, bad);
  }
});

test('suggest: offers near misses and case differences, nothing for distant words', (t) => {
  const fields = ['image', 'replicas', 'restartPolicy', 'readOnlyRootfs'];
  t.is(suggest('imgae', fields), 'image');
  t.is(suggest('replica', fields), 'replicas');
  t.is(suggest('restartpolicy', fields), 'restartPolicy');
  t.is(suggest('volumes', fields), undefined);
});
