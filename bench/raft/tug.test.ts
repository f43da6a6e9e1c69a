import test from 'ava';

import { parseReadyLine } from './tug.js';

test('tug: the ready line of the expected member is parsed', (t) => {
  t.deepEqual(parseReadyLine('{"ready":true,"id":2,"raft":"127.0.0.1:1","kv":"127.0.0.1:2"}', 2), {
    id: 2,
    raft: '127.0.0.1:1',
    kv: '127.0.0.1:2',
    fake: false,
  });
  t.is(parseReadyLine('{"ready":true,"id":2,"raft":"a:1","kv":"a:2","fake":true}', 2)?.fake, true);
});

test('tug: other output is not a ready line', (t) => {
  t.is(parseReadyLine('starting raft', 1), undefined);
  t.is(parseReadyLine('{"level":"info","msg":"hi"}', 1), undefined);
  t.is(parseReadyLine('{not json', 1), undefined);
  t.is(parseReadyLine('{"ready":false,"id":1}', 1), undefined);
});

test('tug: a ready line with the wrong id or missing addresses is an error quoting it', (t) => {
  t.throws(() => parseReadyLine('{"ready":true,"id":3,"raft":"a:1","kv":"a:2"}', 1), {
    message: /malformed ready line from member 1: .*"id":3/,
  });
  t.throws(() => parseReadyLine('{"ready":true,"id":1,"raft":"a:1"}', 1), {
    message: /malformed ready line/,
  });
});
