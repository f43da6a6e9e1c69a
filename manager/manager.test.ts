// Three managers in one process (real WALs, real gRPC on loopback): the control API applies the
// example manifests on the leader, the leader's orchestrator creates the tasks and its scheduler
// explains why they wait (no nodes yet); the leader stops and the new leader's components take
// over and act on a scale.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import test from 'ava';
import { waitFor } from '../bench/lib/wait.js';
import type { Task } from '../common/model.js';
import * as pb from '../proto/gen/control.js';
import { Manager } from './manager.js';
import { memberId } from './raft/core/index.js';

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

test('manager: the leader orchestrates applied manifests, and a new leader takes over', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tug-manager-'));
  const ids = [1, 2, 3].map(memberId);
  const managers: Manager[] = [];
  t.teardown(async () => {
    for (const m of managers) await m.stop();
    await rm(dir, { recursive: true, force: true });
  });
  for (const id of ids) {
    managers.push(
      await Manager.start({
        id,
        dataDir: join(dir, String(id)),
        clusterId: 'test',
        listen: '127.0.0.1:0',
        bootstrap: ids,
        tickMs: 20,
      }),
    );
  }
  for (const m of managers) {
    for (const o of managers) if (o !== m) m.addPeer(o.id, o.address);
    m.run();
  }
  const leaderOf = (ms: readonly Manager[]): Manager | undefined =>
    ms.find((m) => m.raft.status().role === 'leader');
  const leader = await waitFor(() => leaderOf(managers), { what: 'a leader', timeoutMs: 10_000 });

  const files = (await readdir('manifests')).filter((f) => f.endsWith('.yaml')).sort();
  const sources = await Promise.all(
    files.map(async (f) => ({ file: f, text: await readFile(join('manifests', f), 'utf8') })),
  );
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
