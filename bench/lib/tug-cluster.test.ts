import test from 'ava';

import { jsonReadyLine, peakRssMiB } from './tug-cluster.js';

test('tug-cluster: a ready line counts only with ready true and the wanted key', (t) => {
  const parse = jsonReadyLine('address');
  t.deepEqual(parse('{"ready":true,"address":"a:1"}'), { ready: true, address: 'a:1' });
  t.is(parse('{"ready":true,"nodes":[]}'), undefined);
  t.is(parse('{"ready":false,"address":"a:1"}'), undefined);
  t.is(parse('2026-11-22 log line'), undefined);
  t.throws(() => parse('{not json'));
});

test('tug-cluster: peak RSS is read from /proc in MiB', async (t) => {
  const mib = await peakRssMiB(process.pid);
  t.true(mib > 1 && mib < 100_000, `${mib}`);
  await t.throwsAsync(peakRssMiB(2 ** 30));
});
