// Task logs follow the task history (docs/agent.md, "Logs and stats"): a real manager with the
// history cap at one finished task per slot, a real agent with real containers. Logs of a task
// the cap prunes go, the kept one's stay and `tug logs` still shows them. Tasks deleted while the
// agent is down lose their logs at its next full assignment set. Every test ends with the leak
// check (harness.ts). Needs root.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import test from 'ava';

import { waitFor } from '../../bench/lib/wait.js';
import type { Task } from '../../common/model.js';
import { makeCluster } from '../../manager/store/test-fixtures.js';
import { StoreWriter } from '../../manager/store/writer.js';
import {
  runTug,
  serviceYaml,
  startTestAgent,
  type TestCluster,
  useTestRegistry,
  withCluster,
} from './harness.js';

const registry = useTestRegistry();

const logDir = (c: TestCluster, id: string): string => path.join(c.stateDir, 'logs', id);

/** Runs generation `n` of service `gen` and returns its running task, once its line is logged. */
const runGeneration = async (c: TestCluster, n: number): Promise<Task> => {
  await c.apply(
    serviceYaml({
      name: 'gen',
      image: `${registry.host}/busybox:latest`,
      command: ['sh', '-c', `echo gen-${n}; exec sleep 1000`],
      replicas: 1,
      extra: '  restartPolicy: { condition: none }',
    }),
  );
  const task = await waitFor(
    () =>
      c
        .tasks('gen')
        .find(
          (x) =>
            x.status.state === 'running' &&
            x.desiredState === 'running' &&
            x.spec.command?.join(' ').includes(`gen-${n}`),
        ),
    { what: `generation ${n} running`, timeoutMs: 30_000 },
  );
  await waitFor(
    async () =>
      existsSync(path.join(logDir(c, task.meta.id), 'container.log')) &&
      (await readFile(path.join(logDir(c, task.meta.id), 'container.log'), 'utf8')).includes(
        `gen-${n}`,
      ),
    { what: `gen-${n} logged`, timeoutMs: 10_000 },
  );
  return task;
};

test.serial(
  'agent: logs of a task pruned from the history go, the kept one’s stay and `tug logs` shows them',
  async (t) => {
    await withCluster(t, {}, async (c, onCleanUp) => {
      const writer = new StoreWriter({ proposer: c.manager.raft, now: Date.now });
      const o = await writer.submit([
        { op: 'create', kind: 'cluster', object: makeCluster('c', 1) },
      ]);
      t.true(o.ok);
      await startTestAgent(c, onCleanUp);

      // Each spec change replaces the slot's task: with one finished task kept per slot, the
      // third generation's start prunes the first.
      const first = await runGeneration(c, 1);
      const second = await runGeneration(c, 2);
      const third = await runGeneration(c, 3);
      await waitFor(() => c.manager.store.get('task', first.meta.id) === undefined, {
        what: 'the first generation pruned',
        timeoutMs: 15_000,
      });
      await waitFor(() => !existsSync(logDir(c, first.meta.id)), {
        what: 'the first generation’s logs removed',
        timeoutMs: 15_000,
      });
      t.is(c.manager.store.get('task', second.meta.id)?.desiredState, 'shutdown');
      t.true(existsSync(logDir(c, second.meta.id)), 'a finished task still in history keeps logs');
      t.true(existsSync(logDir(c, third.meta.id)));

      const logs = await waitFor(
        async () => {
          const r = await runTug(c, ['logs', 'gen']);
          return r.code === 0 && r.stdout.includes('gen-3') ? r : undefined;
        },
        { what: 'gen-3 through tug logs', timeoutMs: 15_000 },
      );
      t.true(logs.stdout.includes('gen-2'), 'the kept finished task’s output is still there');
      t.false(logs.stdout.includes('gen-1'));
      const pruned = await runTug(c, ['logs', first.meta.id]);
      t.is(pruned.code, 1);
      t.is(pruned.stderr, `error: no service or task "${first.meta.id}"\n`);
    });
  },
);

test.serial(
  'agent: logs of tasks deleted while it was down go at its next full assignment set',
  async (t) => {
    await withCluster(t, {}, async (c, onCleanUp) => {
      const agent = await startTestAgent(c, onCleanUp);
      const done = async (name: string): Promise<Task> => {
        await c.apply(
          serviceYaml({
            name,
            image: `${registry.host}/busybox:latest`,
            command: ['sh', '-c', `echo ${name}`],
            replicas: 1,
            extra: '  restartPolicy: { condition: none }',
          }),
        );
        return waitFor(() => c.tasks(name).find((x) => x.status.state === 'complete'), {
          what: `${name} complete`,
          timeoutMs: 30_000,
        });
      };
      const gone = await done('gone');
      const kept = await done('kept');
      t.true(existsSync(logDir(c, gone.meta.id)));
      t.true(existsSync(logDir(c, kept.meta.id)));

      await agent.stop();
      // What the history cap or a service's removal does to the store, done directly.
      const writer = new StoreWriter({ proposer: c.manager.raft, now: Date.now });
      const stored = c.manager.store.get('task', gone.meta.id);
      const o = await writer.submit([
        { op: 'delete', kind: 'task', id: gone.meta.id, version: stored?.meta.version ?? 0 },
      ]);
      t.true(o.ok);
      t.true(existsSync(logDir(c, gone.meta.id)), 'nobody told the stopped agent yet');

      const again = await startTestAgent(c, onCleanUp);
      t.is(again.nodeId, agent.nodeId);
      await waitFor(() => !existsSync(logDir(c, gone.meta.id)), {
        what: 'gone’s logs removed after the restart',
        timeoutMs: 15_000,
      });
      // Decided by the same full set: the retained task's logs stay.
      t.true(existsSync(logDir(c, kept.meta.id)));
      const logs = await runTug(c, ['logs', 'kept']);
      t.is(logs.code, 0, logs.stderr);
      t.true(logs.stdout.includes('kept'));
    });
  },
);
