// Fifty containers on one agent: all reach running (bounded wait), and all are removed again.
// Needs root.

import test from 'ava';

import { waitFor } from '../../bench/lib/wait.js';
import { Agent } from '../../agent/agent.js';
import { serviceYaml, useTestRegistry, withCluster } from './harness.js';

const registry = useTestRegistry();

test.serial('agent: 50 containers on one agent all run, then all are cleaned up', async (t) => {
  await withCluster(t, {}, async (c, onCleanUp) => {
    const agent = await Agent.start({ managers: [c.manager.address], stateDir: c.stateDir });
    onCleanUp(() => agent.stop({ removeContainers: true }));
    await c.apply(
      serviceYaml({
        name: 'many',
        image: `${registry.host}/busybox:latest`,
        command: ['sleep', '1000'],
        replicas: 50,
      }),
    );
    await waitFor(() => c.tasks('many').filter((x) => x.status.state === 'running').length === 50, {
      what: '50 running',
      timeoutMs: 90_000,
      intervalMs: 200,
    });
    t.is((await agent.runtime.list()).filter((x) => x.status === 'running').length, 50);
    await c.scale('many', 0);
    await waitFor(async () => (await agent.runtime.list()).length === 0, {
      what: 'all removed',
      timeoutMs: 90_000,
      intervalMs: 200,
    });
    t.is(c.tasks('many').filter((x) => x.status.state === 'shutdown').length, 50);
  });
});
