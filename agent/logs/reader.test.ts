// The log reader and rotation on files written here in conmon's k8s-file format: tail and since
// across generations, partial records, following new lines across a conmon-style rotation (the
// writer keeps its descriptor until told to reopen) and a truncation, and rotation keeping N.
import {
  appendFile,
  mkdtemp,
  open,
  rm,
  truncate,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { waitFor } from '../../bench/lib/wait.js';
import { LineDecoder, followLog, generations, readLog, type LogLine } from './reader.js';
import { rename } from 'node:fs/promises';
import { LogRotator, pinGeneration, removeLog } from './rotate.js';

const t0 = Date.parse('2026-11-22T10:00:00Z');
const stamp = (i: number): string => new Date(t0 + i * 1000).toISOString().replace('Z', '123456Z'); // nanosecond-ish, as conmon
const rec = (i: number, text: string, stream = 'stdout', flag = 'F'): string =>
  `${stamp(i)} ${stream} ${flag} ${text}\n`;

const texts = (lines: readonly LogLine[]): string[] => lines.map((l) => l.text);

const tempDir = async (t: { teardown(fn: () => Promise<void>): void }): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'tug-logs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
};

test('readLog: every generation oldest first, partial records joined, tail and since', async (t) => {
  const dir = await tempDir(t);
  const log = join(dir, 'ctr.log');
  await writeFile(`${log}.2`, rec(0, 'a') + rec(1, 'b'));
  await writeFile(`${log}.1`, rec(2, 'c', 'stderr') + rec(3, 'd-', 'stdout', 'P'));
  await writeFile(log, rec(3, 'cont') + 'garbage line\n' + rec(4, 'e') + rec(5, 'f'));
  t.deepEqual(await generations(log), [`${log}.2`, `${log}.1`, log]);
  const all = await readLog(log);
  t.deepEqual(texts(all), ['a', 'b', 'c', 'd-cont', 'e', 'f']);
  t.is(all[2]!.stream, 'stderr');
  t.is(all[0]!.timeMs, t0);
  t.deepEqual(texts(await readLog(log, { tail: 2 })), ['e', 'f']);
  t.deepEqual(texts(await readLog(log, { tail: 0 })), []);
  t.deepEqual(texts(await readLog(log, { sinceMs: t0 + 3000 })), ['d-cont', 'e', 'f']);
  t.deepEqual(texts(await readLog(log, { sinceMs: t0 + 1000, tail: 1 })), ['f']);
  t.deepEqual(await readLog(join(dir, 'missing.log')), []);
});

test('LineDecoder: the lines do not depend on how the bytes are cut', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.string({ unit: 'grapheme' }), fc.boolean()), { maxLength: 12 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (records, cuts) => {
        const text = records
          .map(([s, full], i) => rec(i, s.replace(/\n/g, ' '), 'stdout', full ? 'F' : 'P'))
          .join('');
        const bytes = Buffer.from(text, 'utf8');
        const whole = new LineDecoder().push(bytes);
        const d = new LineDecoder();
        const pieces: LogLine[] = [];
        let at = 0;
        for (const c of [...cuts.map((c) => c % (bytes.length + 1))].sort((a, b) => a - b)) {
          pieces.push(...d.push(bytes.subarray(at, Math.max(at, c))));
          at = Math.max(at, c);
        }
        pieces.push(...d.push(bytes.subarray(at)));
        t.deepEqual(pieces, whole);
      },
    ),
  );
});

/** Collects what followLog yields until aborted. */
const follow = (
  path: string,
  opts: { tail?: number; sinceMs?: number } = {},
): { lines: string[]; stop: () => Promise<void> } => {
  const ac = new AbortController();
  const lines: string[] = [];
  const done = (async () => {
    for await (const batch of followLog(path, { ...opts, signal: ac.signal, pollMs: 50 })) {
      lines.push(...texts(batch));
    }
  })();
  return {
    lines,
    stop: async () => {
      ac.abort();
      await done;
    },
  };
};

test('followLog: tail, then new lines, across a rotation and a truncation', async (t) => {
  const dir = await tempDir(t);
  const log = join(dir, 'ctr.log');
  // The writer holds its descriptor as conmon does; rotation renames under it.
  let w: FileHandle = await open(log, 'a');
  t.teardown(() => w.close());
  await w.write(rec(0, 'one') + rec(1, 'two') + rec(2, 'three'));
  const f = follow(log, { tail: 2 });
  t.teardown(f.stop);
  await waitFor(() => f.lines.length >= 2, { what: 'the tail', timeoutMs: 5000 });
  t.deepEqual(f.lines, ['two', 'three']);
  await w.write(rec(3, 'four') + rec(4, 'fi', 'stdout', 'P'));
  await w.write(rec(4, 've'));
  await waitFor(() => f.lines.length >= 3, { what: 'an appended line', timeoutMs: 5000 });
  // conmon's rotation: the agent pinned the live file; conmon fills it, then renames a new empty
  // file over it and writes there.
  t.true(await pinGeneration(log, 2));
  await w.write(rec(5, 'in flight'));
  await writeFile(`${log}.tmp`, '');
  await rename(`${log}.tmp`, log);
  await w.close();
  w = await open(log, 'a');
  await w.write(rec(6, 'six'));
  await waitFor(() => f.lines.includes('six'), { what: 'a line after rotation', timeoutMs: 5000 });
  // A truncation (what conmon's own size limit does) starts over from the top.
  await truncate(log, 0);
  await appendFile(log, rec(7, 'seven'));
  await waitFor(() => f.lines.includes('seven'), {
    what: 'a line after truncation',
    timeoutMs: 5000,
  });
  await f.stop();
  t.deepEqual(f.lines, ['two', 'three', 'four', 'five', 'in flight', 'six', 'seven']);
  // The rotated generation kept what the writer put in it; the truncated live file lost 'six'.
  t.deepEqual(texts(await readLog(log, { tail: 2 })), ['in flight', 'seven']);
});

test('followLog: a file that does not exist yet is followed once it appears, since applies', async (t) => {
  const dir = await tempDir(t);
  const log = join(dir, 'later.log');
  const f = follow(log, { sinceMs: t0 + 1000 });
  t.teardown(f.stop);
  await appendFile(log, rec(0, 'old') + rec(1, 'new'));
  await waitFor(() => f.lines.length >= 1, { what: 'the new file', timeoutMs: 5000 });
  await f.stop();
  t.deepEqual(f.lines, ['new']);
});

test('LogRotator: pins each new live file, keeps N generations, readers skip the pin', async (t) => {
  const dir = await tempDir(t);
  const log = join(dir, 'ctr.log');
  const rotator = new LogRotator({ keep: 2, everyMs: 1000, logs: () => [log] });
  t.is(await rotator.pass(), 0); // no file yet
  await writeFile(log, rec(0, 'gen 0'));
  t.is(await rotator.pass(), 1);
  t.is(await rotator.pass(), 0); // already pinned
  t.deepEqual(texts(await readLog(log)), ['gen 0']); // the pin is not read twice
  for (let gen = 1; gen <= 3; gen++) {
    // conmon replaces the full file with a new one.
    await writeFile(`${log}.tmp`, rec(gen, `gen ${gen}`));
    await rename(`${log}.tmp`, log);
    t.is(await rotator.pass(), 1);
  }
  t.deepEqual(await generations(log), [`${log}.2`, `${log}.1`, log]);
  t.deepEqual(texts(await readLog(log)), ['gen 2', 'gen 3']);
  await removeLog(log);
  t.deepEqual(await generations(log), [log]);
  t.deepEqual(await readLog(log), []);
});
