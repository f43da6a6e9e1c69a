// Health reports end to end: a HealthMonitor's changes reported through a real AgentSession to a
// real dispatcher on loopback, read back from the store. A health change in the running state must
// be written (the dispatcher's forward-only rule would otherwise drop it).

import test from 'ava';

import { waitFor } from '../../bench/lib/wait.js';
import { systemClock } from '../../common/clock.js';
import type { NodeId, Task } from '../../common/model.js';
import { setup } from '../../manager/dispatcher/test-harness.js';
import { makeTask } from '../../manager/store/test-fixtures.js';
import { DispatcherClients } from '../session/clients.js';
import { AgentSession } from '../session/session.js';
import { HealthMonitor } from './index.js';

test('health: changes reach the task status through the session and the dispatcher', async (t) => {
  const h = await setup();
  const clients = new DispatcherClients();
  try {
    const session = h.track(
      new AgentSession({
        managers: [h.address],
        clients,
        executor: { assignments: () => undefined },
        description: {
          hostname: 'host-h',
          os: 'linux',
          arch: 'x86_64',
          cpus: 1,
          memoryBytes: 1024 ** 3,
          labels: {},
          addr: '10.0.0.1',
        },
        backoff: { baseMs: 10, maxMs: 200 },
      }),
    );
    await session.start();
    const task: Task = makeTask('t1', 'svc', {
      slot: 1,
      nodeId: session.nodeId as NodeId,
      state: 'assigned',
    });
    const o = await h.writer.submit([{ op: 'create', kind: 'task', object: task }]);
    if (!o.ok) throw new Error(o.message);
    const statusOf = () => h.store.get('task', 't1')?.status;

    // The check answers what `answer` says; the agent's wiring: report every change, and on
    // unhealthy stop checking and report the task failed.
    let answer = { exitCode: 1, output: 'not yet' };
    const monitor = new HealthMonitor({
      check: {
        command: ['check'],
        intervalMs: 20,
        timeoutMs: 1_000,
        retries: 2,
        startPeriodMs: 60_000,
      },
      exec: () => Promise.resolve(answer),
      clock: systemClock,
      onChange: (health, detail) => {
        if (health === 'unhealthy') {
          monitor.stop();
          session.report('t1', { state: 'failed', message: `unhealthy: ${detail}`, health });
        } else session.report('t1', { state: 'running', message: 'started', health });
      },
    });
    monitor.start();
    await waitFor(() => statusOf()?.health === 'starting', { what: 'starting', timeoutMs: 5_000 });
    t.is(statusOf()?.state, 'running');
    answer = { exitCode: 0, output: 'ok' };
    await waitFor(() => statusOf()?.health === 'healthy', { what: 'healthy', timeoutMs: 5_000 });
    t.is(statusOf()?.state, 'running');
    answer = { exitCode: 1, output: 'connection refused' };
    await waitFor(() => statusOf()?.state === 'failed', { what: 'failed', timeoutMs: 5_000 });
    t.like(statusOf(), { message: 'unhealthy: connection refused', health: 'unhealthy' });
    await monitor.whenIdle();
  } finally {
    await h.close();
    clients.close();
  }
});
