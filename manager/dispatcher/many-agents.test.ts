import test from 'ava';
import type { NodeId } from '../../common/model.js';
import { makeTask } from '../store/test-fixtures.js';
import { HollowAgent } from '../../agent/hollow/hollow-agent.js';
import { DispatcherClients } from '../../agent/session/clients.js';
import { setup, taskState, waitFor } from './test-harness.js';

test('dispatcher: two hundred agents on one client all run their tasks', async (t) => {
  // Default-like timings: this test is about cost, not failure detection.
  // A grace far beyond any stall of a loaded machine: nodes going down is not what is tested.
  const h = await setup({ periodMs: 1000, graceMs: 30_000 });
  // As hollow-agents-main runs them: one client per manager address shared by all sessions.
  const clients = new DispatcherClients();
  try {
    const agents = Array.from({ length: 200 }, (_, i) =>
      h.track(new HollowAgent({ clients, managers: [h.address], hostname: `host-${i}` })),
    );
    await Promise.all(agents.map((a) => a.start()));
    t.is(h.store.count('node'), 200);
    // Slots must be unique per service: one per agent.
    const o = await h.writer.submit(
      agents.map((a, i) => ({
        op: 'create' as const,
        kind: 'task' as const,
        object: makeTask(`t${i}`, 'svc', {
          slot: i + 1,
          nodeId: a.nodeId as NodeId,
          state: 'assigned',
        }),
      })),
    );
    t.true(o.ok);
    const allRunning = (): boolean =>
      agents.every((_, i) => taskState(h.store, `t${i}`) === 'running');
    await waitFor(h.store, allRunning);
    t.true(allRunning());
  } finally {
    await h.close();
    clients.close();
  }
});
