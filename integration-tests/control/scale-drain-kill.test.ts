// The control plane as processes: 3 managers (init, join, join), two processes of hollow agents,
// real gRPC on loopback. Apply a service, scale it 0 → 500 → 3, drain a node, SIGKILL an agent
// process, and check the cluster invariants over the leader's Watch stream the whole time.
import test from 'ava';

import { Cleanup } from '../../bench/lib/cleanup.js';
import type { HollowAgentsProcess } from '../../bench/lib/tug-cluster.js';
import { isTerminal, type NodeId, type ServiceId, type Task } from '../../common/model.js';
import { ProcessCluster } from './process-cluster.js';

const MANIFEST = `apiVersion: tug/v1
kind: Service
metadata: { name: web }
spec:
  image: registry.local:5000/tug/busybox:latest
  replicas: 0
`;

/** Live and wanted running: the task holds (or will hold) a container on its node. */
const holds = (t: Task): boolean => !isTerminal(t.status.state) && t.desiredState === 'running';

test('control processes: scale 0 → 500 → 3, drain, agent process killed; invariants hold', async (t) => {
  const cleanup = new Cleanup();
  try {
    const cluster = await ProcessCluster.start(cleanup, {
      agentProcesses: 2,
      agentsPerProcess: 4,
      failover: false,
    });
    const leader = await cluster.leader();
    const client = cluster.clients[leader]!;
    const { history, acked, agents } = cluster;
    await cluster.watchFrom(leader);
    const until = (what: string, done: () => boolean): Promise<true> => cluster.until(what, done);
    const converged = (): boolean => history.checkConverged().length === 0;
    const applied = await client.apply({
      sources: [{ file: 'web.yaml', text: MANIFEST }],
      dryRun: false,
    });
    const serviceId = applied.results[0]!.id as ServiceId;
    acked.push({ kind: 'service', id: serviceId, version: applied.version, op: 'write' });
    await until('the service in the history', () => history.services.has(serviceId));

    for (const replicas of [500, 3]) {
      const [scaled] = await client.scale({ web: replicas });
      acked.push({ kind: 'service', id: serviceId, version: scaled!.meta.version, op: 'write' });
      await until(
        `${replicas} running`,
        () => history.runningCount(serviceId) === replicas && converged(),
      );
    }

    // Drain a node that runs one of the 3: its task moves elsewhere (shut down, then replaced in
    // its slot on another node), and nothing new is placed there afterwards.
    const running = (): Task[] => [...history.tasks.values()].filter(holds);
    const drained = running()[0]!.nodeId!;
    const node = await client.getNode(drained);
    const updated = await client.updateNode({
      node: drained,
      version: node.meta.version,
      availability: 'drain',
      setLabels: false,
      labels: {},
    });
    acked.push({ kind: 'node', id: drained, version: updated.meta.version, op: 'write' });
    t.is(updated.spec.availability, 'drain');
    await until(
      "the drained node's task moved elsewhere, 3 running",
      () =>
        !running().some((x) => x.nodeId === drained) &&
        history.runningCount(serviceId) === 3 &&
        converged(),
    );
    const beforeDrain = new Set(history.tasks.keys());

    // SIGKILL the agent process that runs most of the tasks: its nodes go down and their tasks
    // must come back elsewhere.
    const onProcess = (p: HollowAgentsProcess): number =>
      running().filter((x) => p.nodeIds.includes(x.nodeId!)).length;
    const victim = onProcess(agents[0]!) >= onProcess(agents[1]!) ? agents[0]! : agents[1]!;
    const lost = new Set(victim.nodeIds as NodeId[]);
    t.true(onProcess(victim) > 0);
    victim.process.kill('SIGKILL');
    await victim.process.exited;
    await until(
      'the killed nodes’ tasks rescheduled, 3 running',
      () => !running().some((x) => lost.has(x.nodeId!)) && converged(),
    );
    t.is(history.runningCount(serviceId), 3);
    const placedOnDrained = [...history.tasks.values()].filter(
      (x) => !beforeDrain.has(x.meta.id) && x.nodeId === drained,
    );
    t.deepEqual(
      placedOnDrained.map((x) => x.meta.id),
      [],
    );

    // The watch never stopped; everything it saw must satisfy the invariants.
    cluster.checkWatch();
    t.is(cluster.resumes, 0);
    t.deepEqual(history.violations(), []);
    t.deepEqual(history.checkAcknowledged(acked), []);
    t.true(history.eventCount > 1000, `saw ${history.eventCount} events`);
  } finally {
    const errors = await cleanup.run();
    t.deepEqual(errors, []);
  }
});
