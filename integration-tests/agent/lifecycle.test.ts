// The agent with real containers: a real manager in-process, a real registry with the busybox
// test image, runc under conmon. Replicas run and are reported running; scaling down stops and
// cleans up; an exit code, an OOM kill and a bad image reach the store with their reasons.
// Every test ends with a leak check (harness.ts). Needs root.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import test from 'ava';

import { waitFor } from '../../bench/lib/wait.js';
import type { Agent } from '../../agent/agent.js';
import { logLines } from '../../agent/runtime/log.js';
import {
  runTug,
  serviceYaml,
  startTestAgent,
  type TestCluster,
  useTestRegistry,
  withCluster,
} from './harness.js';

const registry = useTestRegistry();

const startAgent = (c: TestCluster, onCleanUp: (f: () => Promise<void>) => void): Promise<Agent> =>
  startTestAgent(c, onCleanUp, { labels: { zone: 'a' } });

const running = (c: TestCluster, name: string) =>
  c.tasks(name).filter((x) => x.desiredState === 'running' && x.status.state === 'running');

test.serial(
  'agent: replicas run in containers, are reported running, and scale down cleanly',
  async (t) => {
    await withCluster(t, {}, async (c, onCleanUp) => {
      const agent = await startAgent(c, onCleanUp);
      const node = c.manager.store.get('node', agent.nodeId);
      t.is(node?.description.hostname, 'it-node');
      t.is(node?.description.labels['zone'], 'a');
      t.true((node?.description.resources.cpus ?? 0) >= 1);

      await c.apply(
        serviceYaml({
          name: 'hi',
          image: `${registry.host}/busybox:latest`,
          command: ['sh', '-c', 'echo hi; sleep 1000'],
          replicas: 3,
        }),
      );
      await waitFor(() => running(c, 'hi').length === 3, { what: '3 running', timeoutMs: 30_000 });
      const containers = await agent.runtime.list();
      t.is(containers.filter((x) => x.status === 'running').length, 3);
      for (const x of running(c, 'hi')) {
        t.true(containers.some((k) => k.id === x.meta.id));
        const logFile = path.join(c.stateDir, 'logs', x.meta.id, 'container.log');
        await waitFor(
          async () => logLines(await readFile(logFile, 'utf8')).some((l) => l.text === 'hi'),
          { what: `hi in ${x.meta.id}'s log`, timeoutMs: 10_000 },
        );
      }

      await c.scale('hi', 1);
      await waitFor(
        async () =>
          (await agent.runtime.list()).length === 1 &&
          c.tasks('hi').filter((x) => x.status.state === 'shutdown').length === 2,
        { what: 'scaled to 1', timeoutMs: 30_000 },
      );
      const gone = c.tasks('hi').filter((x) => x.status.state === 'shutdown');
      for (const x of gone) t.regex(x.status.message, /shut down/);
      await waitFor(() => agent.tasks.size === 1, {
        what: 'agent holds 1 task',
        timeoutMs: 10_000,
      });
    });
  },
);

test.serial('agent: a command that exits 3 fails with exit code 3', async (t) => {
  await withCluster(t, {}, async (c, onCleanUp) => {
    await startAgent(c, onCleanUp);
    await c.apply(
      serviceYaml({
        name: 'three',
        image: `${registry.host}/busybox:latest`,
        command: ['sh', '-c', 'exit 3'],
        replicas: 1,
        extra: '  restartPolicy: { condition: none }',
      }),
    );
    const failed = await waitFor(() => c.tasks('three').find((x) => x.status.state === 'failed'), {
      what: 'a failed task',
      timeoutMs: 30_000,
    });
    t.is(failed.status.exitCode, 3);
    t.regex(failed.status.message, /code 3/);
  });
});

test.serial('agent: a task over its memory limit fails as OOM killed', async (t) => {
  await withCluster(t, {}, async (c, onCleanUp) => {
    await startAgent(c, onCleanUp);
    await c.apply(
      serviceYaml({
        name: 'hog',
        image: `${registry.host}/busybox:latest`,
        command: ['sh', '-c', 'x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done'],
        replicas: 1,
        extra: '  restartPolicy: { condition: none }\n  resources: { limits: { memory: 16Mi } }',
      }),
    );
    const failed = await waitFor(() => c.tasks('hog').find((x) => x.status.state === 'failed'), {
      what: 'an OOM-killed task',
      timeoutMs: 30_000,
    });
    t.regex(failed.status.message, /OOM/);
  });
});

test.serial(
  'agent: a bad image reference or a missing image rejects the task with the reference',
  async (t) => {
    await withCluster(t, {}, async (c, onCleanUp) => {
      await startAgent(c, onCleanUp);
      const missing = `${registry.host}/no-such-image:latest`;
      await c.apply(
        serviceYaml({
          name: 'bad',
          image: 'busybox:latest',
          command: ['true'],
          replicas: 1,
          extra: '  restartPolicy: { condition: none }',
        }),
      );
      await c.apply(
        serviceYaml({
          name: 'missing',
          image: missing,
          command: ['true'],
          replicas: 1,
          extra: '  restartPolicy: { condition: none }',
        }),
      );
      const bad = await waitFor(() => c.tasks('bad').find((x) => x.status.state === 'rejected'), {
        what: 'bad reference rejected',
        timeoutMs: 30_000,
      });
      t.true(bad.status.message.includes('busybox:latest'), bad.status.message);
      const gone = await waitFor(
        () => c.tasks('missing').find((x) => x.status.state === 'rejected'),
        { what: 'missing image rejected', timeoutMs: 30_000 },
      );
      t.true(gone.status.message.includes('no-such-image'), gone.status.message);
    });
  },
);

test.serial(
  'agent: a passing health check is reported healthy; a failing one fails the task, which is replaced',
  async (t) => {
    await withCluster(t, {}, async (c, onCleanUp) => {
      await startAgent(c, onCleanUp);
      const image = `${registry.host}/busybox:latest`;
      await c.apply(
        serviceYaml({
          name: 'fine',
          image,
          command: ['sleep', '1000'],
          replicas: 1,
          extra: '  healthcheck: { command: ["true"], interval: 200ms, timeout: 2s, retries: 2 }',
        }),
      );
      await c.apply(
        serviceYaml({
          name: 'sick',
          image,
          command: ['sleep', '1000'],
          replicas: 1,
          extra: [
            '  healthcheck: { command: [sh, -c, "echo no db; exit 1"], interval: 200ms, timeout: 2s, retries: 2 }',
            '  restartPolicy: { condition: any, delay: 0s }',
          ].join('\n'),
        }),
      );
      const fine = await waitFor(() => c.tasks('fine').find((x) => x.status.health === 'healthy'), {
        what: 'a healthy task',
        timeoutMs: 30_000,
      });
      t.is(fine.status.state, 'running');

      const sick = await waitFor(() => c.tasks('sick').find((x) => x.status.state === 'failed'), {
        what: 'an unhealthy task failed',
        timeoutMs: 30_000,
      });
      t.is(sick.status.health, 'unhealthy');
      t.regex(sick.status.message, /^unhealthy: no db/);
      // The orchestrator replaces it in the same slot with a new task.
      await waitFor(
        () =>
          c
            .tasks('sick')
            .some(
              (x) =>
                x.meta.id !== sick.meta.id && x.slot === sick.slot && x.desiredState === 'running',
            ),
        { what: 'a replacement for the unhealthy task', timeoutMs: 30_000 },
      );
    });
  },
);

test.serial(
  "agent: `tug logs` reads a container's output through the manager; `get tasks -o wide` shows its cgroup figures",
  async (t) => {
    await withCluster(t, {}, async (c, onCleanUp) => {
      await startTestAgent(c, onCleanUp, { statsIntervalMs: 200 });
      await c.apply(
        serviceYaml({
          name: 'talk',
          image: `${registry.host}/busybox:latest`,
          command: ['sh', '-c', 'for i in 1 2 3; do echo line-$i; done; sleep 1000'],
          replicas: 1,
          extra: '  resources: { limits: { memory: 64Mi } }',
        }),
      );
      await waitFor(() => running(c, 'talk').length === 1, {
        what: 'talk running',
        timeoutMs: 30_000,
      });
      const tug = (argv: readonly string[]) => runTug(c, argv);
      const logs = await waitFor(
        async () => {
          const r = await tug(['logs', 'talk']);
          return r.code === 0 && r.stdout.includes('line-3') ? r : undefined;
        },
        { what: 'three lines through tug logs', timeoutMs: 15_000 },
      );
      // Docker's shape: `<task name>@<node> | <line>`, in order.
      t.deepEqual(
        logs.stdout.split('\n').filter((l) => l.includes('line-')),
        ['line-1', 'line-2', 'line-3'].map(
          (l) => `${running(c, 'talk')[0]!.meta.name}@it-node | ${l}`,
        ),
      );
      const tail = await tug(['logs', 'talk', '--tail', '1']);
      t.is(tail.code, 0, tail.stderr);
      t.false(tail.stdout.includes('line-1'));
      t.true(tail.stdout.includes('line-3'));

      // 64 MiB is the limit the agent set on the cgroup: present only once figures arrived.
      const wide = await waitFor(
        async () => {
          const r = await tug(['get', 'tasks', '-o', 'wide']);
          return r.code === 0 && r.stdout.includes('/64Mi') ? r : undefined;
        },
        { what: 'figures in get tasks -o wide', timeoutMs: 15_000 },
      );
      const [header, row] = wide.stdout.split('\n');
      t.regex(header ?? '', /CPU +MEM +PIDS +OOM$/);
      // CPU seconds, memory used/limit, pids (sh and sleep, under tini), OOM kills.
      t.regex(row ?? '', /\d+\.\ds +\d+(\.\d+)?[KM]i\/64Mi +[1-9]\d* +0$/);
    });
  },
);

test.serial(
  'agent: a bind mount shows the host directory read-only; a missing mount source rejects the task',
  async (t) => {
    const host = await mkdtemp(path.join(tmpdir(), 'tug-bind-'));
    t.teardown(() => rm(host, { recursive: true, force: true }));
    await writeFile(path.join(host, 'msg'), 'from the host\n');
    await withCluster(t, {}, async (c, onCleanUp) => {
      await startAgent(c, onCleanUp);
      const image = `${registry.host}/busybox:latest`;
      await c.apply(
        serviceYaml({
          name: 'bound',
          image,
          command: [
            'sh',
            '-c',
            'cat /data/msg; touch /data/x 2>/dev/null || echo read-only; sleep 1000',
          ],
          replicas: 1,
          extra: `  mounts: [{ type: bind, source: ${host}, target: /data, readOnly: true }]`,
        }),
      );
      await c.apply(
        serviceYaml({
          name: 'nowhere',
          image,
          command: ['true'],
          replicas: 1,
          extra: `  mounts: [{ source: ${host}/missing, target: /m }]\n  restartPolicy: { condition: none }`,
        }),
      );
      const logOf = async (name: string): Promise<string[]> => {
        const task = running(c, name)[0];
        if (task === undefined) return [];
        const file = path.join(c.stateDir, 'logs', task.meta.id, 'container.log');
        return logLines(await readFile(file, 'utf8').catch(() => '')).map((l) => l.text);
      };
      const bound = await waitFor(
        async () => {
          const lines = await logOf('bound');
          return lines.includes('read-only') ? lines : undefined;
        },
        { what: 'the bind-mounted file read', timeoutMs: 30_000 },
      );
      t.deepEqual(bound, ['from the host', 'read-only']);
      const rejected = await waitFor(
        () => c.tasks('nowhere').find((x) => x.status.state === 'rejected'),
        { what: 'a missing mount source rejected', timeoutMs: 30_000 },
      );
      t.regex(rejected.status.message, /mount source .*\/missing does not exist on this node/);
    });
  },
);
