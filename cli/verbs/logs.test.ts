// The pure parts of `tug logs` and the wide task columns: --since forms and the figures' cells.
import test from 'ava';
import { UsageError } from '../errors.js';
import { statsCells } from './get.js';
import { parseSince } from './logs.js';

test('parseSince: a duration back from now, an RFC 3339 time, or a usage error', (t) => {
  const now = Date.parse('2026-11-22T10:00:00Z');
  t.is(parseSince('10m', now), now - 600_000);
  t.is(parseSince('30s', now), now - 30_000);
  t.is(parseSince('2026-11-22T09:00:00Z', now), now - 3_600_000);
  t.throws(() => parseSince('yesterday', now), { instanceOf: UsageError });
});

test('statsCells: CPU seconds, memory used/limit, pids, OOM kills; dashes when none', (t) => {
  t.deepEqual(statsCells(undefined), ['-', '-', '-', '-']);
  const s = {
    taskId: 't',
    nodeId: 'n',
    cpuSeconds: 12.345,
    memoryBytes: 3 * 1024 * 1024,
    memoryLimitBytes: 0,
    pids: 4,
    oomKills: 1,
    timestampMs: 0,
  };
  t.deepEqual(statsCells(s), ['12.3s', '3Mi', '4', '1']);
  t.deepEqual(statsCells({ ...s, memoryLimitBytes: 64 * 1024 * 1024 })[1], '3Mi/64Mi');
});
