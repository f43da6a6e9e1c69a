import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import { Cleanup } from './cleanup.js';
import { BenchTimeoutError, ProcessExitedError, ProcessStartError } from './errors.js';
import { ManagedProcess } from './process.js';

const node = process.execPath;

function scratch(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-process-test-'));
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

const readyJson = (line: string): { port: number } | undefined => {
  if (!line.startsWith('{')) return undefined;
  const o = JSON.parse(line) as { ready?: boolean; port?: number };
  return o.ready === true && typeof o.port === 'number' ? { port: o.port } : undefined;
};

test('process: start waits for the ready line and logs both streams', async (t) => {
  const dir = scratch(t);
  const { process: p, ready } = await ManagedProcess.start({
    name: 'child',
    command: node,
    args: [
      '-e',
      `console.error('to stderr'); console.log('noise'); setTimeout(() => console.log(JSON.stringify({ready: true, port: 7})), 20); setInterval(() => {}, 1000);`,
    ],
    logFile: join(dir, 'child.log'),
    ready: { parse: readyJson, timeoutMs: 10_000 },
  });
  t.deepEqual(ready, { port: 7 });
  t.true(p.running);
  const exit = await p.stop(5000);
  t.is(exit.signal, 'SIGTERM');
  t.false(p.running);
  const log = readFileSync(join(dir, 'child.log'), 'utf8');
  t.regex(log, /to stderr/);
  t.regex(log, /noise/);
  t.regex(log, /"ready":true/);
});

test('process: exiting before the ready line is an error carrying the log tail', async (t) => {
  const dir = scratch(t);
  const err = await t.throwsAsync(
    ManagedProcess.start({
      name: 'dies',
      command: node,
      args: ['-e', `console.error('bad flag --frob'); process.exit(3);`],
      logFile: join(dir, 'dies.log'),
      ready: { parse: readyJson, timeoutMs: 10_000 },
    }),
    { instanceOf: ProcessExitedError },
  );
  t.is(err.exitCode, 3);
  t.regex(err.message, /dies exited \(code 3.*bad flag --frob/s);
});

test('process: a ready line that never comes times out and the process is killed', async (t) => {
  const dir = scratch(t);
  let pid: number | undefined;
  const err = await t.throwsAsync(
    ManagedProcess.start({
      name: 'silent',
      command: node,
      args: ['-e', 'setInterval(() => {}, 1000);'],
      logFile: join(dir, 'silent.log'),
      ready: { parse: readyJson, timeoutMs: 300 },
      onSpawn: (p) => {
        pid = p;
      },
    }),
    { instanceOf: BenchTimeoutError },
  );
  t.regex(err.message, /silent ready line/);
  t.not(pid, undefined);
  t.throws(() => process.kill(pid!, 0), { code: 'ESRCH' });
});

test('process: a ready parser that throws fails the start with its error', async (t) => {
  const dir = scratch(t);
  await t.throwsAsync(
    ManagedProcess.start({
      name: 'garbled',
      command: node,
      args: ['-e', `console.log('{"ready":true}'); setInterval(() => {}, 1000);`],
      logFile: join(dir, 'garbled.log'),
      ready: {
        parse: (line) => {
          if (line.startsWith('{')) throw new Error(`malformed ready line: ${line}`);
          return undefined;
        },
        timeoutMs: 10_000,
      },
    }),
    { message: /malformed ready line/ },
  );
});

test('process: a missing binary is a start error naming the process', async (t) => {
  const dir = scratch(t);
  await t.throwsAsync(
    ManagedProcess.start({
      name: 'ghost',
      command: join(dir, 'no-such-binary'),
      args: [],
      logFile: join(dir, 'g.log'),
    }),
    { instanceOf: ProcessStartError, message: /could not start ghost.*ENOENT/ },
  );
});

test('process: stop escalates to SIGKILL when SIGTERM is ignored', async (t) => {
  const dir = scratch(t);
  const { process: p } = await ManagedProcess.start({
    name: 'stubborn',
    command: node,
    args: [
      '-e',
      `process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000);`,
    ],
    logFile: join(dir, 'stubborn.log'),
    ready: { parse: (line) => (line === 'up' ? true : undefined), timeoutMs: 10_000 },
  });
  const exit = await p.stop(200);
  t.is(exit.signal, 'SIGKILL');
});

test('cleanup: stops tracked processes and removes temp dirs, newest first', async (t) => {
  const cleanup = new Cleanup();
  const dir = cleanup.tempDir('bench-cleanup-test-');
  const order: string[] = [];
  cleanup.add(
    'first',
    () => {
      order.push('first');
      return Promise.resolve();
    },
    () => undefined,
  );
  const { process: p } = await ManagedProcess.start({
    name: 'sleeper',
    command: node,
    args: ['-e', `console.log('up'); setInterval(() => {}, 1000);`],
    logFile: join(dir, 'sleeper.log'),
    ready: { parse: (line) => (line === 'up' ? true : undefined), timeoutMs: 10_000 },
  });
  cleanup.trackProcess(p, 2000);
  cleanup.add(
    'last',
    () => {
      order.push('last');
      return Promise.reject(new Error('boom'));
    },
    () => undefined,
  );
  const errors = await cleanup.run();
  t.is(errors.length, 1);
  t.regex(errors[0]!.message, /cleanup of last failed/);
  t.deepEqual(order, ['last', 'first']);
  t.false(p.running);
  t.false(existsSync(dir));
  t.true(cleanup.done);
});

test('cleanup: the synchronous fallback kills by pid and removes directories', async (t) => {
  const cleanup = new Cleanup();
  const dir = cleanup.tempDir('bench-cleanup-sync-test-');
  const { process: p } = await ManagedProcess.start({
    name: 'sleeper',
    command: node,
    args: ['-e', `console.log('up'); setInterval(() => {}, 1000);`],
    logFile: join(dir, 'sleeper.log'),
    ready: { parse: (line) => (line === 'up' ? true : undefined), timeoutMs: 10_000 },
  });
  cleanup.trackProcess(p);
  cleanup.runSync();
  t.false(existsSync(dir));
  const exit = await p.exited;
  t.is(exit.signal, 'SIGKILL');
});
