// Three managers in one process (real WALs, real gRPC on loopback): the control API applies the
// example manifests on the leader, the leader's orchestrator creates the tasks and its scheduler
// explains why they wait (no nodes yet); the leader stops and the new leader's components take
// over and act on a scale.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import test from 'ava';
import { waitFor } from '../bench/lib/wait.js';
import type { NodeId, Task } from '../common/model.js';
import * as pb from '../proto/gen/control.js';
import * as dispatcherPb from '../proto/gen/dispatcher.js';
import { HollowAgent } from '../agent/hollow/hollow-agent.js';
import type { Manager } from './manager.js';
import { startInProcessManagers } from './testing/in-process.js';

const apply = (client: pb.ControlServiceClient, req: pb.ApplyRequest): Promise<pb.ApplyResponse> =>
  new Promise((resolve, reject) => {
    client.apply(req, (err, res) => {
      if (err !== null) reject(err);
      else resolve(res);
    });
  });

const scale = (client: pb.ControlServiceClient, req: pb.ScaleRequest): Promise<pb.ScaleResponse> =>
  new Promise((resolve, reject) => {
    client.scale(req, (err, res) => {
      if (err !== null) reject(err);
      else resolve(res);
    });
  });

/** The repository's example manifests (ava runs from the repository root). */
const exampleManifests = async (): Promise<pb.ManifestSource[]> => {
  const files = (await readdir('manifests')).filter((f) => f.endsWith('.yaml')).sort();
  return Promise.all(
    files.map(async (f) => ({ file: f, text: await readFile(join('manifests', f), 'utf8') })),
  );
};

test('manager: the leader orchestrates applied manifests, and a new leader takes over', async (t) => {
  const cluster = await startInProcessManagers({ prefix: 'tug-manager-' });
  const { managers } = cluster;
  t.teardown(() => cluster.close());
  const leaderOf = (ms: readonly Manager[]): Manager | undefined =>
    ms.find((m) => m.raft.status().role === 'leader');
  const leader = await cluster.waitLeader();

  const sources = await exampleManifests();
  const client = new pb.ControlServiceClient(leader.address, credentials.createInsecure());
  t.teardown(() => {
    client.close();
  });
  const applied = await apply(client, {
    sources,
    dryRun: false,
  });
  t.true(applied.results.every((r) => r.action === 'created'));

  // Every replica of every replicated service gets a task, on every manager, each waiting for a
  // node with a reason that says why.
  const wanted = leader.store
    .list('service')
    .reduce((n, s) => n + (s.spec.mode.type === 'replicated' ? s.spec.mode.replicas : 0), 0);
  t.true(wanted > 0);
  const running = (ts: readonly Task[]): Task[] => ts.filter((x) => x.desiredState === 'running');
  for (const m of managers) {
    await waitFor(() => running(m.store.list('task')).length === wanted, {
      what: `manager ${m.id} sees ${wanted} tasks`,
      timeoutMs: 10_000,
    });
  }
  await waitFor(
    () =>
      running(leader.store.list('task')).every(
        (x) => x.status.state === 'pending' && /no suitable node/.test(x.status.message),
      ),
    { what: 'pending reasons', timeoutMs: 10_000 },
  );

  // The leader goes away; the new leader's orchestrator acts on a scale.
  await leader.stop();
  managers.splice(managers.indexOf(leader), 1);
  const next = await waitFor(() => leaderOf(managers), { what: 'a new leader', timeoutMs: 10_000 });
  const nextClient = new pb.ControlServiceClient(next.address, credentials.createInsecure());
  t.teardown(() => {
    nextClient.close();
  });
  const web = next.store.list('service').find((s) => s.meta.name === 'web')!;
  await scale(nextClient, { replicas: { web: 7 } });
  const webTasks = (): Task[] =>
    running(next.store.find('task', { serviceId: web.meta.id })).filter(
      (x) => x.status.state !== 'shutdown',
    );
  await waitFor(() => webTasks().length === 7, { what: 'web scaled to 7', timeoutMs: 10_000 });
  t.deepEqual(
    webTasks()
      .map((x) => x.slot)
      .sort((a, b) => a! - b!),
    [1, 2, 3, 4, 5, 6, 7],
  );
});

test('manager: hollow agents run the applied services, and a dead node’s tasks move', async (t) => {
  const cluster = await startInProcessManagers({
    prefix: 'tug-manager-agents-',
    count: 1,
    options: () => ({ heartbeat: { periodMs: 100, graceMs: 1000 } }),
  });
  const manager = cluster.managers[0]!;
  const agentClient = new dispatcherPb.DispatcherServiceClient(
    manager.address,
    credentials.createInsecure(),
  );
  const client = new pb.ControlServiceClient(manager.address, credentials.createInsecure());
  const agents = ['a', 'b', 'c'].map(
    (h) => new HollowAgent({ client: agentClient, hostname: `host-${h}` }),
  );
  t.teardown(async () => {
    for (const a of agents) a.stop();
    client.close();
    agentClient.close();
    await cluster.close();
  });
  await waitFor(() => manager.raft.status().role === 'leader', {
    what: 'leader',
    timeoutMs: 10_000,
  });
  await waitFor(
    async () => {
      await Promise.all(agents.map((a) => a.start()));
      return true;
    },
    { what: 'agents registered', timeoutMs: 10_000 },
  );

  await apply(client, { sources: await exampleManifests(), dryRun: false });
  const services = manager.store.list('service');
  const replicated = services.reduce(
    (n, s) => n + (s.spec.mode.type === 'replicated' ? s.spec.mode.replicas : 0),
    0,
  );
  const globals = services.filter((s) => s.spec.mode.type === 'global').length;
  const runningTasks = (): Task[] =>
    manager.store
      .list('task')
      .filter((x) => x.desiredState === 'running' && x.status.state === 'running');
  await waitFor(() => runningTasks().length === replicated + globals * agents.length, {
    what: `${replicated} replicated + ${globals * agents.length} global tasks running`,
    timeoutMs: 15_000,
  });

  t.is(manager.store.list('node').filter((n) => n.status.state === 'ready').length, 3);
  t.true(
    agents.every((a) => a.tasks.size > 0),
    'every node runs something (spread and global)',
  );

  // Node b stops heartbeating: it is marked down, its tasks orphaned, and the replicated ones
  // come back on the other nodes.
  const dead = agents[1]!;
  dead.stopHeartbeats();
  await waitFor(() => manager.store.get('node', dead.nodeId)?.status.state === 'down', {
    what: 'node b down',
    timeoutMs: 10_000,
  });
  await waitFor(
    () => {
      const onLive = runningTasks().filter((x) => x.nodeId !== dead.nodeId);
      return onLive.filter((x) => x.slot !== undefined).length === replicated;
    },
    { what: 'replicated tasks running again on live nodes', timeoutMs: 15_000 },
  );
  const onDead = manager.store.find('task', { nodeId: dead.nodeId as NodeId });
  t.true(onDead.length > 0);
  t.true(onDead.every((x) => x.status.state === 'orphaned' || x.status.state === 'shutdown'));
});
