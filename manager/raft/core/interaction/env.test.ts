import test from 'ava';
import { ScriptError, parseCommandLine } from './datadriven.js';
import { InteractionEnv, formatMessage } from './env.js';
import { MessageType, memberId, type Message } from '../types.js';

const run = (env: InteractionEnv, line: string): string =>
  env.handle(parseCommandLine(line, 'test.txt', 1));

test('interaction env: bad commands fail with the reason, never into a transcript', (t) => {
  const env = new InteractionEnv();
  t.throws(() => run(env, 'campaign 1'), {
    instanceOf: ScriptError,
    message: /test\.txt:1: campaign: no cluster yet: start with add-nodes/,
  });
  run(env, 'add-nodes 3');
  const cases: [string, RegExp][] = [
    ['frobnicate 1', /unknown command/],
    ['add-nodes 3', /already created/],
    ['campaign 9', /no member 9 \(members: \(1,2,3\)\)/],
    ['campaign x', /member id must be an integer, got "x"/],
    ['propose 1', /usage: propose <id> <data>/],
    ['propose 1 a,b', /may not contain ","/],
    ['propose-conf-change 1 add-boss 4', /change type must be one of add-voter, add-learner/],
    ['deliver-msgs 1 type=nope', /type must be one of app, app-resp/],
    ['deliver-msgs 1 drop=yes', /drop must be true or false/],
    ['stabilize colour=red', /unknown argument colour \(known: quiet\)/],
    ['add-node 2', /member 2 already exists/],
    ['tick 1', /usage: tick <id> <n>/],
  ];
  for (const [line, re] of cases) {
    t.throws(() => run(env, line), { instanceOf: ScriptError, message: re }, line);
  }
});

test('interaction env: add-nodes checks its member lists', (t) => {
  t.throws(() => run(new InteractionEnv(), 'add-nodes 3 voters=(1,2)'), {
    message: /3 nodes but 2 voters and learners were listed/,
  });
  t.throws(() => run(new InteractionEnv(), 'add-nodes 2 voters=(1,1)'), {
    message: /listed twice/,
  });
  t.throws(() => run(new InteractionEnv(), 'add-nodes 1 voters=() learners=(1)'), {
    message: /at least one voter/,
  });
});

test('interaction env: errors raised by the core are part of the transcript', (t) => {
  const env = new InteractionEnv();
  run(env, 'add-nodes 1');
  t.is(run(env, 'compact 1 5'), 'error: raft: compact to 5 beyond the latest snapshot 0');
  // The env keeps working afterwards.
  run(env, 'campaign 1');
  t.regex(run(env, 'stabilize quiet=true'), /^1: leader term=2/);
});

test('interaction env: commands that print nothing answer ok', (t) => {
  const env = new InteractionEnv();
  run(env, 'add-nodes 2');
  t.is(run(env, 'isolate 2'), 'ok');
  t.is(run(env, 'heal'), 'ok');
  t.is(run(env, 'tick 1 3'), 'ok');
});

test('interaction env: messages print only the fields their type uses', (t) => {
  const base: Message = {
    type: MessageType.AppResp,
    from: memberId(2),
    to: memberId(1),
    term: 3,
    logTerm: 0,
    index: 7,
    entries: [],
    commit: 0,
    reject: true,
    rejectHint: 5,
    logTermHint: 2,
    snapshot: null,
    context: new Uint8Array(0),
  };
  t.is(formatMessage(base), '2->1 app-resp term=3 rejected index=7 hint=2/5');
  t.is(
    formatMessage({
      ...base,
      type: MessageType.Heartbeat,
      commit: 4,
      context: new TextEncoder().encode('r1'),
    }),
    '2->1 heartbeat term=3 commit=4 ctx="r1"',
  );
});
