// Logs and stats end to end over real gRPC on loopback: three in-process managers, two hollow
// agents running `web`'s two tasks, each with the real AgentLogService reading k8s-file logs the
// test writes; the real `tug` CLI (in-process) asks a follower, which relays to the leader's broker.
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import test from 'ava';
import { waitFor } from '../../bench/lib/wait.js';
import { HollowAgent } from '../../agent/hollow/hollow-agent.js';
import { AgentLogService, type TaskFigures } from '../../agent/logs/index.js';
import { DispatcherClients } from '../../agent/session/clients.js';
import { main } from '../../cli/main.js';
import type { Task } from '../../common/model.js';
import * as pb from '../../proto/gen/control.js';
import * as logsPb from '../../proto/gen/logs.js';
import type { Manager } from '../manager.js';
import { startInProcessManagers } from '../testing/in-process.js';

const manifest = `apiVersion: tug/v1
kind: Service
metadata:
  name: web
spec:
  image: 127.0.0.1:5000/busybox:latest
  replicas: 2
`;

const t0 = Date.parse('2026-11-22T10:00:00Z');
const rec = (sec: number, text: string, stream = 'stdout'): string =>
  `${new Date(t0 + sec * 1000).toISOString().replace('Z', '000001Z')} ${stream} F ${text}\n`;

interface Cluster {
  readonly managers: Manager[];
  readonly leader: Manager;
  readonly follower: Manager;
  readonly agents: HollowAgent[];
  readonly services: AgentLogService[];
  readonly dir: string;
  /** The two tasks of web with the agent and log path of each. */
  readonly tasks: { task: Task; agent: number; log: string }[];
  readonly cleanup: () => Promise<void>;
}

let cluster: Cluster | undefined;

const start = async (): Promise<Cluster> => {
  const managerCluster = await startInProcessManagers({
    prefix: 'tug-logbroker-',
    options: () => ({ heartbeat: { periodMs: 200, graceMs: 3000 } }),
  });
  const { dir, managers } = managerCluster;
  const clients = new DispatcherClients();
  const agents: HollowAgent[] = [];
  const services: AgentLogService[] = [];
  const cleanup = async (): Promise<void> => {
    for (const s of services) await s.stop();
    for (const a of agents) a.stop();
    clients.close();
    await managerCluster.close();
  };
  try {
    const leader = await managerCluster.waitLeader();
    const follower = managers.find((m) => m !== leader)!;
    const figures = new Map<string, TaskFigures[]>();
    for (const host of ['n1', 'n2']) {
      const a = new HollowAgent({ clients, managers: [follower.address], hostname: host });
      agents.push(a);
      await a.start();
      const logs = join(dir, 'logs', host);
      await mkdir(logs, { recursive: true });
      const s = new AgentLogService({
        manager: () => a.session.connectedTo,
        nodeId: () => a.nodeId,
        logPathFor: (id) => (a.tasks.has(id) ? join(logs, `${id}.log`) : undefined),
        statsFor: () => Promise.resolve(figures.get(host) ?? []),
        statsIntervalMs: 100,
        retryMs: 100,
        pollMs: 50,
      });
      services.push(s);
      s.start();
    }
    const control = new pb.ControlServiceClient(leader.address, credentials.createInsecure());
    await new Promise<void>((resolve, reject) => {
      control.apply({ sources: [{ file: 'web.yaml', text: manifest }], dryRun: false }, (err) => {
        if (err === null) resolve();
        else reject(err);
      });
    });
    control.close();
    const running = await waitFor(
      () => {
        const ts = leader.store
          .list('task')
          .filter((x) => x.status.state === 'running' && x.desiredState === 'running');
        return ts.length === 2 && new Set(ts.map((x) => x.nodeId)).size === 2 ? ts : undefined;
      },
      { what: 'web running on both nodes', timeoutMs: 15_000 },
    );
    await waitFor(() => leader.logBroker.listenerCount === 2, {
      what: 'both agents listening',
      timeoutMs: 10_000,
    });
    const tasks = running
      .sort((x, y) => x.slot! - y.slot!)
      .map((task) => {
        const agent = agents.findIndex((a) => a.nodeId === task.nodeId);
        const host = agent === 0 ? 'n1' : 'n2';
        figures.set(host, [
          {
            taskId: task.meta.id,
            cpuSeconds: 1.5 + agent,
            memoryBytes: 8 * 1024 * 1024,
            memoryLimitBytes: 64 * 1024 * 1024,
            pids: 3,
            oomKills: agent,
          },
        ]);
        return { task, agent, log: join(dir, 'logs', host, `${task.meta.id}.log`) };
      });
    for (const [i, x] of tasks.entries()) {
      await appendFile(
        x.log,
        rec(0, `t${i} zero`) +
          rec(10, `t${i} ten`) +
          rec(20, `t${i} oops`, 'stderr') +
          rec(30, `t${i} thirty`),
      );
    }
    return { managers, leader, follower, agents, services, dir, tasks, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
};

test.before(async () => {
  cluster = await start();
});

test.after.always(async () => {
  await cluster?.cleanup();
});

interface Run {
  readonly done: Promise<number>;
  readonly out: () => string;
  readonly err: () => string;
  readonly stop: () => void;
}

const cli = (argv: readonly string[], manager = cluster!.follower.address): Run => {
  let stdout = '';
  let stderr = '';
  const ac = new AbortController();
  const done = main(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    stdin: Readable.from(['']),
    env: { HOME: cluster!.dir, TUG_MANAGER: manager },
    signal: ac.signal,
  });
  return {
    done,
    out: () => stdout,
    err: () => stderr,
    stop: () => {
      ac.abort();
    },
  };
};

const sorted = (s: string): string[] =>
  s
    .split('\n')
    .filter((l) => l !== '')
    .sort();

test.serial(
  'logs: `tug logs web` at a follower prints both tasks’ lines, stderr apart',
  async (t) => {
    const c = cluster!;
    const r = cli(['logs', 'web']);
    t.is(await r.done, 0, r.err());
    const [a, b] = c.tasks.map((x) => `${x.task.meta.name}@${x.agent === 0 ? 'n1' : 'n2'}`);
    t.deepEqual(
      sorted(r.out()),
      sorted(
        [
          `${a} | t0 zero`,
          `${a} | t0 ten`,
          `${a} | t0 thirty`,
          `${b} | t1 zero`,
          `${b} | t1 ten`,
          `${b} | t1 thirty`,
        ].join('\n'),
      ),
    );
    t.deepEqual(sorted(r.err()), sorted(`${a} | t0 oops\n${b} | t1 oops`));
    // Lines of one task keep their order.
    t.regex(r.out(), /t0 zero\n(?:.*\n)*.*t0 ten\n(?:.*\n)*.*t0 thirty/);
  },
);

test.serial('logs: --tail, --since, --timestamps and a single task', async (t) => {
  const c = cluster!;
  const tail = cli(['logs', 'web', '--tail', '2']);
  t.is(await tail.done, 0, tail.err());
  t.deepEqual(
    sorted(tail.out()).map((l) => l.replace(/^.* \| /, '')),
    ['t0 thirty', 't1 thirty'],
  );
  t.deepEqual(
    sorted(tail.err()).map((l) => l.replace(/^.* \| /, '')),
    ['t0 oops', 't1 oops'],
  );
  const since = cli(['logs', 'web', '--since', new Date(t0 + 15_000).toISOString()]);
  t.is(await since.done, 0, since.err());
  t.deepEqual(
    sorted(since.out()).map((l) => l.replace(/^.* \| /, '')),
    ['t0 thirty', 't1 thirty'],
  );
  const one = c.tasks[1]!.task;
  const ts = cli(['logs', one.meta.name, '--timestamps', '--tail', '1']);
  t.is(await ts.done, 0, ts.err());
  t.is(
    ts.out(),
    `2026-11-22T10:00:30.000000001Z ${one.meta.name}@n2 | t1 thirty\n`.replace(
      '@n2',
      `@${c.tasks[1]!.agent === 0 ? 'n1' : 'n2'}`,
    ),
  );
  const none = cli(['logs', 'nope']);
  t.is(await none.done, 1);
  t.regex(none.err(), /no service or task "nope"/);
});

test.serial('broker: a follower refuses agents, naming the leader', async (t) => {
  const c = cluster!;
  const client = new logsPb.LogBrokerServiceClient(
    c.follower.address,
    credentials.createInsecure(),
  );
  t.teardown(() => {
    client.close();
  });
  const err = await new Promise<ServiceError>((resolve) => {
    client.reportStats({ nodeId: 'x', stats: [] }, (e) => {
      resolve(e!);
    });
  });
  t.is(err.code, status.UNAVAILABLE);
  t.is(err.metadata.get('x-tug-leader-address')[0], c.leader.address);
});

test.serial('logs: -f streams new lines until interrupted', async (t) => {
  const c = cluster!;
  const r = cli(['logs', 'web', '-f', '--tail', '0']);
  await waitFor(() => c.leader.logBroker.subscriptionCount === 1, {
    what: 'the subscription at the leader',
    timeoutMs: 10_000,
  });
  // Following begins once each agent has read its file; lines written before that are cut by
  // --tail 0, so keep writing until a line of each task shows.
  let n = 0;
  await waitFor(
    async () => {
      n++;
      await appendFile(c.tasks[0]!.log, rec(40 + n, `t0 forty ${n}`));
      await appendFile(c.tasks[1]!.log, rec(40 + n, `t1 forty ${n}`));
      return r.out().includes('t0 forty') && r.out().includes('t1 forty');
    },
    { what: 'followed lines', timeoutMs: 10_000, intervalMs: 200 },
  );
  r.stop();
  t.is(await r.done, 0, r.err());
  t.notRegex(r.out(), /thirty/);
  await waitFor(() => c.leader.logBroker.subscriptionCount === 0, {
    what: 'the subscription closed',
    timeoutMs: 10_000,
  });
});

test.serial('stats: figures reported by the agents show in `tug get tasks -o wide`', async (t) => {
  const c = cluster!;
  await waitFor(() => c.leader.logBroker.taskStats([]).length === 2, {
    what: 'stats at the leader',
    timeoutMs: 10_000,
  });
  const r = cli(['get', 'tasks', '-o', 'wide']);
  t.is(await r.done, 0, r.err());
  const lines = r.out().split('\n');
  t.regex(lines[0]!, /CPU\s+MEM\s+PIDS\s+OOM$/);
  for (const x of c.tasks) {
    const row = lines.find((l) => l.startsWith(x.task.meta.name))!;
    t.regex(row, new RegExp(`${(1.5 + x.agent).toFixed(1)}s\\s+8Mi/64Mi\\s+3\\s+${x.agent}$`));
  }
});

test.serial(
  'logs: an agent that goes away mid-stream ends the command with a clear error',
  async (t) => {
    const c = cluster!;
    const r = cli(['logs', 'web', '-f']);
    await waitFor(() => r.out().includes('t0 ten') && r.out().includes('t1 ten'), {
      what: 'first lines',
      timeoutMs: 10_000,
    });
    const gone = c.tasks[0]!;
    await c.services[gone.agent]!.stop();
    t.is(await r.done, 1);
    t.regex(
      r.err(),
      /^error: node n[12] \([\w-]+\) (disconnected while sending|stopped sending) logs of task/m,
    );
    // Asked again, the missing node is named and the other node's lines still come.
    await waitFor(() => c.leader.logBroker.listenerCount === 1, {
      what: 'the listener gone',
      timeoutMs: 10_000,
    });
    const again = cli(['logs', 'web', '--tail', '1']);
    t.is(await again.done, 0, again.err());
    t.regex(again.err(), /^warning: node n[12] \([\w-]+\) is not connected: no logs of task/m);
    t.regex(again.out(), new RegExp(`t${1 - c.tasks.indexOf(gone)} forty`));
  },
);
