// Users of containers. A task with `userNamespace: true` through the real agent path: the overlay rootfs under the
// agent's state directory, runc under conmon. Inside, the process is root; the host sees it as the
// agent's mapped uid (default 100000). Ends with the leak check (harness.ts). Needs root.

import { chmod, readFile } from 'node:fs/promises';
import path from 'node:path';

import test from 'ava';

import { waitFor } from '../../bench/lib/wait.js';
import { logLines } from '../../agent/runtime/log.js';
import { serviceYaml, startTestAgent, useTestRegistry, withCluster } from './harness.js';

const registry = useTestRegistry();

class TaskFailed extends Error {}

/** The effective uid and gid of `pid` as the host sees them (/proc/<pid>/status). */
async function hostIds(pid: number): Promise<{ uid: number; gid: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+\\d+\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { uid: field('Uid'), gid: field('Gid') };
}

test.serial(
  'agent: a userNamespace task runs as root inside and as the mapped uid on the host',
  async (t) => {
    await withCluster(t, {}, async (c, onCleanUp) => {
      // mkdtemp makes the test's directory 0700: the mapped root must be able to pass through it
      // (the agent refuses the task otherwise, see the next test).
      await chmod(c.dir, 0o711);
      const agent = await startTestAgent(c, onCleanUp, { hostname: 'userns-node' });
      // `id` inside; then it writes into its own root (the upper layer is the mapped root's)
      // and into a directory of the image (copied up by the kernel).
      const script = [
        'echo "ids $(id -u) $(id -g)"',
        'echo x > /made-here && echo "root-writable yes"',
        'echo x > /tmp/t && echo "tmp-writable yes"',
        'exec sleep 1000',
      ].join('; ');
      await c.apply(
        serviceYaml({
          name: 'userns',
          image: `${registry.host}/busybox:latest`,
          command: ['sh', '-c', script],
          replicas: 1,
          extra: '  userNamespace: true',
        }),
      );
      const runningTask = await waitFor(
        () => {
          const tasks = c.tasks('userns');
          const failed = tasks.find(
            (x) => x.status.state === 'failed' || x.status.state === 'rejected',
          );
          if (failed !== undefined)
            throw new TaskFailed(`task ${failed.status.state}: ${failed.status.message}`);
          return tasks.find((x) => x.status.state === 'running');
        },
        {
          what: 'the userns task running',
          timeoutMs: 30_000,
          isFatal: (e) => e instanceof TaskFailed,
        },
      );
      const id = runningTask.meta.id;
      const logFile = path.join(c.stateDir, 'logs', id, 'container.log');
      const lines = await waitFor(
        async () => {
          const l = logLines(await readFile(logFile, 'utf8').catch(() => '')).map((x) => x.text);
          return l.includes('tmp-writable yes') ? l : undefined;
        },
        { what: 'the container output', timeoutMs: 10_000 },
      );
      t.true(lines.includes('ids 0 0'), lines.join(' | '));
      t.true(lines.includes('root-writable yes'), lines.join(' | '));

      // The container's init (tini) and its child as the host sees them.
      const info = await agent.runtime.state(id);
      t.is(info.status, 'running');
      const initPid = info.pid ?? 0;
      t.deepEqual(await hostIds(initPid), { uid: 100_000, gid: 100_000 });
      const children = (await readFile(`/proc/${initPid}/task/${initPid}/children`, 'utf8'))
        .trim()
        .split(/\s+/)
        .map(Number);
      t.is(children.length, 1);
      t.deepEqual(await hostIds(children[0] ?? 0), { uid: 100_000, gid: 100_000 });
      const uidMap = (await readFile(`/proc/${initPid}/uid_map`, 'utf8')).trim().split(/\s+/);
      t.deepEqual(uidMap, ['0', '100000', '65536']);

      await c.scale('userns', 0);
      await waitFor(() => c.tasks('userns').every((x) => x.status.state === 'shutdown'), {
        what: 'the task shut down',
        timeoutMs: 20_000,
      });
    });
  },
);

test.serial(
  'agent: a userNamespace task is rejected, naming the directory, when the mapped root cannot reach its rootfs',
  async (t) => {
    await withCluster(t, {}, async (c, onCleanUp) => {
      // c.dir stays 0700 (mkdtemp): the mapped root could not pass through it.
      await startTestAgent(c, onCleanUp, { hostname: 'userns-node' });
      await c.apply(
        serviceYaml({
          name: 'userns',
          image: `${registry.host}/busybox:latest`,
          command: ['sleep', '1000'],
          replicas: 1,
          extra: '  userNamespace: true',
        }),
      );
      const rejected = await waitFor(
        () => c.tasks('userns').find((x) => x.status.state === 'rejected'),
        { what: 'the task rejected', timeoutMs: 30_000 },
      );
      t.regex(rejected.status.message, /not searchable by others/);
      t.true(rejected.status.message.includes(c.dir), rejected.status.message);
      await c.scale('userns', 0);
    });
  },
);

test.serial(
  "agent: a named user is resolved in the image, then from the agent's cache, and the process runs as it",
  async (t) => {
    await withCluster(t, {}, async (c, onCleanUp) => {
      await startTestAgent(c, onCleanUp, { hostname: 'user-node' });
      const yaml = (replicas: number): string =>
        serviceYaml({
          name: 'nobody',
          image: `${registry.host}/busybox:latest`,
          command: ['sh', '-c', 'echo "ids $(id -u) $(id -g)"; exec sleep 1000'],
          replicas,
          extra: '  user: nobody',
        });
      const ids = async (n: number): Promise<string[]> => {
        const tasks = await waitFor(
          () => {
            const r = c.tasks('nobody').filter((x) => x.status.state === 'running');
            return r.length === n ? r : undefined;
          },
          { what: `${n} running`, timeoutMs: 30_000 },
        );
        return Promise.all(
          tasks.map((x) =>
            waitFor(
              async () => {
                const file = path.join(c.stateDir, 'logs', x.meta.id, 'container.log');
                const l = logLines(await readFile(file, 'utf8').catch(() => ''));
                return l.find((y) => y.text.startsWith('ids '))?.text;
              },
              { what: 'the ids', timeoutMs: 10_000 },
            ),
          ),
        );
      };
      // The first task mounts its rootfs on the host to read /etc/passwd; the second one (the
      // answer cached) has runc mount it.
      await c.apply(yaml(1));
      t.deepEqual(await ids(1), ['ids 65534 65534']);
      await c.apply(yaml(2));
      t.deepEqual(await ids(2), ['ids 65534 65534', 'ids 65534 65534']);
      const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
      const hostMounts = c
        .tasks('nobody')
        .filter((x) => mountinfo.includes(path.join(c.stateDir, 'tasks', x.meta.id)));
      t.is(hostMounts.length, 1, 'only the first task needed its rootfs on the host');
      await c.scale('nobody', 0);
    });
  },
);
