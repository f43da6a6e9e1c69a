// Agent failover across three in-process managers (real WALs, real gRPC on loopback): hollow
// agents that know only one manager learn the others, follow the leader when it stops, keep
// their node ids and their running tasks, and keep reporting through the new leader.
import { credentials } from '@grpc/grpc-js';
import test from 'ava';
import { waitFor } from '../../bench/lib/wait.js';
import type { Task } from '../../common/model.js';
import type { Manager } from '../../manager/manager.js';
import { startInProcessManagers } from '../../manager/testing/in-process.js';
import * as pb from '../../proto/gen/control.js';
import { DispatcherClients } from '../session/clients.js';
import { HollowAgent } from './hollow-agent.js';

const apply = (c: pb.ControlServiceClient, req: pb.ApplyRequest): Promise<pb.ApplyResponse> =>
  new Promise((resolve, reject) => {
    c.apply(req, (err, res) => {
      if (err !== null) reject(err);
      else resolve(res);
    });
  });

const scale = (c: pb.ControlServiceClient, req: pb.ScaleRequest): Promise<pb.ScaleResponse> =>
  new Promise((resolve, reject) => {
    c.scale(req, (err, res) => {
      if (err !== null) reject(err);
      else resolve(res);
    });
  });

const manifest = (replicas: number): string => `apiVersion: tug/v1
kind: Service
metadata:
  name: app
spec:
  image: registry.local:5000/tug/busybox:latest
  command: [sleep, '3600']
  mode: replicated
  replicas: ${replicas}
`;

test('hollow agents: follow the leader to another manager, keeping node ids and tasks', async (t) => {
  // Long enough that a stalled event loop on a loaded machine does not fail a live node.
  const graceMs = 4000;
  const cluster = await startInProcessManagers({
    prefix: 'tug-agent-failover-',
    options: () => ({ heartbeat: { periodMs: 100, graceMs } }),
  });
  const { managers } = cluster;
  const clients = new DispatcherClients();
  const agents: HollowAgent[] = [];
  const controls: pb.ControlServiceClient[] = [];
  t.teardown(async () => {
    for (const a of agents) a.stop();
    clients.close();
    for (const c of controls) c.close();
    await cluster.close();
  });
  const leader = await cluster.waitLeader();
  // Every agent is told of one follower only: it is redirected to the leader and learns the rest.
  const follower = managers.find((m) => m !== leader)!;
  for (const h of ['a', 'b', 'c', 'd']) {
    agents.push(
      new HollowAgent({
        clients,
        managers: [follower.address],
        hostname: `host-${h}`,
        backoff: { baseMs: 20, maxMs: 300 },
      }),
    );
  }
  await Promise.all(agents.map((a) => a.start()));
  // Wherever the leader is now (an election may have moved it under load), every agent is there.
  const onLeader = (): boolean => {
    const l = cluster.leader();
    return l !== undefined && agents.every((a) => a.session.connectedTo === l.address);
  };
  await waitFor(onLeader, { what: 'agents on the leader', timeoutMs: 10_000 });
  for (const a of agents) t.is(a.session.managers.length, 3);
  const nodeIds = agents.map((a) => a.nodeId);

  const control = new pb.ControlServiceClient(
    cluster.leader()!.address,
    credentials.createInsecure(),
  );
  controls.push(control);
  await apply(control, {
    sources: [{ file: 'app.yaml', text: manifest(8) }],
    dryRun: false,
  });
  const running = (m: Manager): Task[] =>
    m.store
      .list('task')
      .filter((x) => x.desiredState === 'running' && x.status.state === 'running');
  const running8 = (): Manager | undefined => managers.find((m) => running(m).length === 8);
  const seen = await waitFor(running8, { what: '8 tasks running', timeoutMs: 10_000 });
  const before = new Map(running(seen).map((x) => [x.meta.id, x.nodeId]));

  // The leader goes away; the agents' sessions with it end and they find the new leader.
  const first = cluster.leader()!;
  await first.stop();
  managers.splice(managers.indexOf(first), 1);
  await cluster.waitLeader();
  const gainedAt = Date.now();
  await waitFor(onLeader, { what: 'agents reconnected to the new leader', timeoutMs: 10_000 });
  const next = cluster.leader()!;
  t.true(agents.every((a) => a.session.sessionsStarted >= 2));
  t.deepEqual(
    agents.map((a) => a.nodeId),
    nodeIds,
  );
  // The new leader's grace period must pass without any node going down or task moving.
  await waitFor(() => Date.now() > gainedAt + graceMs + 1000, {
    what: 'past the grace period',
    timeoutMs: 10_000,
  });
  t.true(next.store.list('node').every((n) => n.status.state === 'ready'));
  t.deepEqual(new Map(running(next).map((x) => [x.meta.id, x.nodeId])), before);

  // Reports keep flowing through the new leader: new tasks reach running.
  const nextControl = new pb.ControlServiceClient(next.address, credentials.createInsecure());
  controls.push(nextControl);
  await scale(nextControl, { replicas: { app: 12 } });
  await waitFor(() => running(next).length === 12, {
    what: '12 tasks running after failover',
    timeoutMs: 10_000,
  });
  t.is(next.store.count('node'), 4);
});
