// Crash safety with a real agent process: SIGKILL it while containers run, let one of them exit
// while it is down, start it again on the same state directory. The running containers are
// re-adopted (same ids, same pids: never restarted), the exited one is reported with its exit
// code, and everything is cleaned up afterwards. Needs root.

import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

import test from 'ava';

import { ManagedProcess } from '../../bench/lib/process.js';
import { waitFor } from '../../bench/lib/wait.js';
import { ContainerRuntime } from '../../agent/runtime/runtime.js';
import { detectCgroups } from '../../agent/linux/cgroups.js';
import {
  serviceYaml,
  sweepStateDir,
  type TestCluster,
  useTestRegistry,
  withCluster,
} from './harness.js';

const registry = useTestRegistry();

const agentMain = path.resolve('build/agent/main.js');

const spawnAgent = async (c: TestCluster, n: number): Promise<ManagedProcess> => {
  const { process: p } = await ManagedProcess.start<{ nodeId: string }>({
    name: `agent-${n}`,
    command: process.execPath,
    args: [
      agentMain,
      '--manager',
      c.manager.address,
      '--state-dir',
      c.stateDir,
      '--hostname',
      'crashy',
    ],
    logFile: path.join(c.dir, `agent-${n}.log`),
    ready: {
      parse: (line) => {
        const j = JSON.parse(line) as { ready?: boolean; nodeId: string };
        return j.ready === true ? { nodeId: j.nodeId } : undefined;
      },
      timeoutMs: 20_000,
    },
  });
  return p;
};

test.serial(
  'agent: after SIGKILL and restart, running containers are re-adopted and exits reported',
  async (t) => {
    await withCluster(t, { heartbeatGraceMs: 60_000 }, async (c, onCleanUp) => {
      let agent = await spawnAgent(c, 1);
      let nodeId = '';
      onCleanUp(async () => {
        await agent.stop(5000);
        await sweepStateDir(c.stateDir, nodeId);
      });
      const image = `${registry.host}/busybox:latest`;
      await c.apply(serviceYaml({ name: 'keep', image, command: ['sleep', '1000'], replicas: 2 }));
      await c.apply(
        serviceYaml({
          name: 'ends',
          image,
          command: ['sh', '-c', 'while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 5'],
          replicas: 1,
          extra: '  restartPolicy: { condition: none }',
        }),
      );
      const isRunning = (name: string, n: number) => () =>
        c.tasks(name).filter((x) => x.status.state === 'running').length === n;
      await waitFor(isRunning('keep', 2), { what: 'keep running', timeoutMs: 30_000 });
      await waitFor(isRunning('ends', 1), { what: 'ends running', timeoutMs: 30_000 });
      nodeId = c.tasks('keep')[0]!.nodeId!;

      const rt = new ContainerRuntime({
        stateDir: path.join(c.stateDir, 'runtime'),
        cgroups: await detectCgroups(),
      });
      const before = new Map((await rt.list()).map((x) => [x.id, x.pid]));
      t.is(before.size, 3);

      agent.kill('SIGKILL');
      await agent.exited;
      // While the agent is down, one container finishes (told through its root as the host
      // sees it: runc mounts the rootfs inside the container's mount namespace).
      const ends = c.tasks('ends')[0]!;
      await writeFile(`/proc/${before.get(ends.meta.id) ?? 0}/root/tmp/go`, '');
      await waitFor(() => existsSync(path.join(c.stateDir, 'runtime', 'exits', ends.meta.id)), {
        what: 'the container to exit',
        timeoutMs: 10_000,
      });

      agent = await spawnAgent(c, 2);
      const failed = await waitFor(() => c.tasks('ends').find((x) => x.status.state === 'failed'), {
        what: 'the exit reported',
        timeoutMs: 20_000,
      });
      t.is(failed.status.exitCode, 5);
      // The exited one is cleaned up once it left the assignments; the others are the same.
      await waitFor(async () => (await rt.list()).length === 2, {
        what: 'the exited container removed',
        timeoutMs: 20_000,
      });
      const after = await rt.list();
      for (const x of after) {
        t.is(x.status, 'running');
        t.is(x.pid, before.get(x.id), `${x.id} was not restarted`);
      }
      t.true(c.tasks('keep').every((x) => x.status.state === 'running' && x.nodeId === nodeId));
      t.false(existsSync(path.join(c.stateDir, 'tasks', ends.meta.id)));
      // SIGTERM leaves containers running; the clean-up sweep removes them.
      await agent.stop(5000);
      t.is((await rt.list()).filter((x) => x.status === 'running').length, 2);
    });
  },
);
