// `tug get nodes`, `tug describe node` and `tug node …` against one in-process manager with one
// hollow agent (a registered node, no containers).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { credentials } from '@grpc/grpc-js';
import test from 'ava';
import { waitFor } from '../bench/lib/wait.js';
import type { Node } from '../common/model.js';
import { HollowAgent } from '../agent/hollow/hollow-agent.js';
import { Manager } from '../manager/manager.js';
import { memberId } from '../manager/raft/core/index.js';
import * as dispatcherPb from '../proto/gen/dispatcher.js';
import { main } from './main.js';

test('cli: node drain, activate and label change the node', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tug-cli-node-'));
  const id = memberId(1);
  const manager = await Manager.start({
    id,
    dataDir: join(dir, 'data'),
    clusterId: 'test',
    listen: '127.0.0.1:0',
    bootstrap: [id],
    tickMs: 20,
  });
  const agentClient = new dispatcherPb.DispatcherServiceClient(
    manager.address,
    credentials.createInsecure(),
  );
  const agent = new HollowAgent({ client: agentClient, hostname: 'host-a' });
  t.teardown(async () => {
    agent.stop();
    agentClient.close();
    await manager.stop();
    await rm(dir, { recursive: true, force: true });
  });
  manager.run();
  await waitFor(() => manager.raft.status().role === 'leader', {
    what: 'a leader',
    timeoutMs: 10_000,
  });
  await waitFor(
    async () => {
      await agent.start();
      return true;
    },
    { what: 'agent registered', timeoutMs: 10_000 },
  );

  const tug = async (
    argv: readonly string[],
  ): Promise<{ code: number; stdout: string; stderr: string }> => {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      stdin: Readable.from([]),
      env: { HOME: dir },
      now: () => Date.now(),
    });
    return { code, stdout, stderr };
  };
  const m = ['--manager', manager.address];
  const node = async (): Promise<Node> => {
    const r = await tug([...m, 'get', 'node', 'host-a', '-o', 'json']);
    t.is(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Node;
  };

  const nodes = await tug([...m, 'get', 'nodes']);
  t.is(nodes.code, 0, nodes.stderr);
  t.regex(nodes.stdout, /^host-a +worker +active /m);

  const drained = await tug([...m, 'node', 'drain', 'host-a']);
  t.is(drained.code, 0, drained.stderr);
  t.is(drained.stdout, 'node/host-a drain\n');
  t.is((await node()).spec.availability, 'drain');
  t.is((await tug([...m, 'node', 'activate', 'host-a'])).code, 0);
  t.is((await node()).spec.availability, 'active');

  t.is((await tug([...m, 'node', 'label', 'host-a', 'zone=a', 'disk=ssd'])).code, 0);
  t.deepEqual((await node()).spec.labels, { zone: 'a', disk: 'ssd' });
  t.is((await tug([...m, 'node', 'label', 'host-a', 'zone-'])).code, 0);
  t.deepEqual((await node()).spec.labels, { disk: 'ssd' });

  const described = await tug([...m, 'describe', 'node', 'host-a']);
  t.is(described.code, 0, described.stderr);
  t.regex(described.stdout, /^Labels: +disk=ssd$/m);

  t.is((await tug([...m, 'node', 'label', 'host-a', 'oops'])).code, 2);
  t.is((await tug([...m, 'node', 'drain', 'host-z'])).code, 1);
});
