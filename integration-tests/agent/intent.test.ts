// The agent records its intent before it acts (issue 4, docs/agent.md "Intent"): a real manager,
// a real agent and a real container, with the agent's runtime and image service watched so that
// each call reads `tasks/<id>/intent.json` at the moment the step begins. Ends with the leak
// check (harness.ts). Needs root.

import { readdir } from 'node:fs/promises';
import path from 'node:path';

import test from 'ava';

import { waitFor } from '../../bench/lib/wait.js';
import { readIntent } from '../../agent/state/intent.js';
import { serviceYaml, startTestAgent, useTestRegistry, withCluster } from './harness.js';

const registry = useTestRegistry();

test.serial('agent: each step of a task finds its intent on disk when it begins', async (t) => {
  await withCluster(t, {}, async (c, onCleanUp) => {
    const agent = await startTestAgent(c, onCleanUp);
    const tasksDir = path.join(c.stateDir, 'tasks');
    const seen: { call: string; intent: string | undefined }[] = [];
    const record = async (call: string, taskId?: string): Promise<void> => {
      // A pull names an image, not a task: the one task this test runs is the only directory.
      const id = taskId ?? (await readdir(tasksDir))[0];
      const intent =
        id === undefined
          ? undefined
          : await readIntent(path.join(tasksDir, id)).catch(() => undefined);
      seen.push({ call, intent: intent?.step });
    };
    const rt = agent.runtime;
    const images = agent.images;
    const pull = images.pull.bind(images);
    images.pull = async (...a) => (await record('pull'), pull(...a));
    const create = rt.create.bind(rt);
    rt.create = async (id, ...a) => (await record('create', id), create(id, ...a));
    const start = rt.start.bind(rt);
    rt.start = async (id) => (await record('start', id), start(id));
    const stop = rt.stop.bind(rt);
    rt.stop = async (id, ...a) => (await record('stop', id), stop(id, ...a));
    const remove = rt.remove.bind(rt);
    rt.remove = async (id) => (await record('remove', id), remove(id));

    await c.apply(
      serviceYaml({
        name: 'intent',
        image: `${registry.host}/busybox:latest`,
        command: ['sleep', '1000'],
        replicas: 1,
      }),
    );
    await waitFor(() => c.tasks('intent').some((x) => x.status.state === 'running'), {
      what: 'intent running',
      timeoutMs: 30_000,
    });
    await c.scale('intent', 0);
    await waitFor(async () => (await rt.list()).length === 0, {
      what: 'the container removed',
      timeoutMs: 30_000,
    });

    const expected: Record<string, string> = {
      pull: 'prepare',
      create: 'create',
      start: 'start',
      stop: 'stop',
      remove: 'remove',
    };
    const calls = new Set(seen.map((s) => s.call));
    t.deepEqual([...calls].sort(), Object.keys(expected).sort(), JSON.stringify(seen));
    for (const s of seen) t.is(s.intent, expected[s.call], `${s.call}: ${JSON.stringify(seen)}`);
  });
});
