import test from 'ava';

import { logLines, parseLogLine } from './log.js';

test('log: parses k8s-file records and joins partial lines', (t) => {
  t.deepEqual(parseLogLine('2026-01-01T00:00:00.000000001+00:00 stderr F oops'), {
    time: '2026-01-01T00:00:00.000000001+00:00',
    stream: 'stderr',
    full: true,
    text: 'oops',
  });
  t.is(parseLogLine('garbage'), undefined);
  const text = [
    '2026-01-01T00:00:00Z stdout P hel',
    '2026-01-01T00:00:00Z stdout F lo',
    '2026-01-01T00:00:01Z stdout F ',
    '',
  ].join('\n');
  t.deepEqual(logLines(text), [
    { stream: 'stdout', text: 'hello' },
    { stream: 'stdout', text: '' },
  ]);
});
