// Which task log directories go when a full assignment set arrives (a property over random sets),
// and the deletion itself on a real directory: every generation goes, nothing outside it.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import {
  InvalidTaskLogNameError,
  isTaskLogName,
  removeTaskLogs,
  taskLogDirs,
  unkeptLogs,
} from './prune.js';

test('unkeptLogs: exactly the present logs neither assigned, retained nor held go', (t) => {
  const ids = fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'));
  fc.assert(
    fc.property(ids, ids, ids, ids, (present, assigned, retained, held) => {
      const out = unkeptLogs(present, { assigned, retained, held });
      const kept = new Set<string>([...assigned, ...retained, ...held]);
      t.deepEqual(out, present.filter((id) => !kept.has(id)).sort());
      for (const id of out) t.false(kept.has(id));
    }),
  );
});

test('unkeptLogs: a held task keeps its logs even when the managers dropped it', (t) => {
  t.deepEqual(unkeptLogs(['x', 'y', 'z'], { assigned: [], retained: ['y'], held: ['x'] }), ['z']);
});

test('isTaskLogName: only a plain name under the logs directory', (t) => {
  t.true(isTaskLogName('0b2c-task'));
  for (const bad of ['', '.', '..', 'a/b', '../x', 'a\0b']) t.false(isTaskLogName(bad), bad);
});

test('removeTaskLogs: removes the live log and its generations, nothing else', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tug-prune-'));
  try {
    const logs = path.join(dir, 'logs');
    for (const id of ['t1', 't2']) {
      await mkdir(path.join(logs, id), { recursive: true });
      for (const f of ['container.log', 'container.log.1', 'container.log.2'])
        await writeFile(path.join(logs, id, f), 'x\n');
    }
    await writeFile(path.join(logs, 'stray-file'), '');
    t.deepEqual((await taskLogDirs(logs)).sort(), ['t1', 't2']);
    await removeTaskLogs(logs, 't1');
    await removeTaskLogs(logs, 'never-there');
    t.deepEqual((await readdir(logs)).sort(), ['stray-file', 't2']);
    t.deepEqual((await readdir(path.join(logs, 't2'))).length, 3);
    await t.throwsAsync(removeTaskLogs(logs, '..'), {
      instanceOf: InvalidTaskLogNameError,
      code: 'invalid-task-log-name',
    });
    t.deepEqual(await taskLogDirs(path.join(dir, 'missing')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
