// Shared by the agent's integration tests: a real manager in-process (one member, real Raft WAL,
// real gRPC on loopback), a real docker-registry holding the busybox test image, an agent state
// directory per test, and the leak check every test ends with: no runtime state, no mounts under
// the test's directory, no /tug/<node> cgroup directory in any hierarchy, no process of ours.

import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';

import { credentials } from '@grpc/grpc-js';
import test, { type ExecutionContext } from 'ava';

import { waitFor } from '../../bench/lib/wait.js';
import { main } from '../../cli/main.js';
import type { Service, Task } from '../../common/model.js';
import { Manager } from '../../manager/manager.js';
import { memberId } from '../../manager/raft/core/index.js';
import * as pb from '../../proto/gen/control.js';
import { Agent, type AgentOptions } from '../../agent/agent.js';
import { cgroupDirs, detectCgroups } from '../../agent/linux/cgroups.js';
import { ContainerRuntime } from '../../agent/runtime/runtime.js';
import { sweep } from '../../agent/state/sweep.js';
import { pushTestImage, startRegistry, type TestRegistry } from '../../agent/testing/registry.js';

/**
 * The registry a test file's tasks pull from, holding the busybox test image: started before the
 * file's tests and stopped after them all. Call once, at the top of the file.
 */
export const useTestRegistry = (): { readonly host: string } => {
  let registry: TestRegistry | undefined;
  test.before(async () => {
    registry = await startRegistry();
    await pushTestImage(registry.host);
  });
  test.after.always(async () => {
    await registry?.stop();
  });
  return {
    get host(): string {
      if (registry === undefined) throw new Error('the test registry is not started yet');
      return registry.host;
    },
  };
};

/**
 * A real agent for `c` (quick to notice exits and to collect images), stopped with its
 * containers removed when the test cleans up.
 */
export const startTestAgent = async (
  c: TestCluster,
  onCleanUp: (f: () => Promise<void>) => void,
  opts: Partial<AgentOptions> = {},
): Promise<Agent> => {
  const agent = await Agent.start({
    managers: [c.manager.address],
    stateDir: c.stateDir,
    hostname: 'it-node',
    exitPollMs: 250,
    imageGcDelayMs: 100,
    ...opts,
  });
  onCleanUp(() => agent.stop({ removeContainers: true }));
  return agent;
};

export interface TestCluster {
  readonly dir: string;
  readonly stateDir: string;
  readonly manager: Manager;
  readonly client: pb.ControlServiceClient;
  /** Applies one service manifest. */
  apply(yaml: string): Promise<void>;
  scale(name: string, replicas: number): Promise<void>;
  service(name: string): Service;
  tasks(name: string): Task[];
}

const call = <Req, Res>(
  f: (req: Req, cb: (err: Error | null, res: Res) => void) => unknown,
  req: Req,
): Promise<Res> =>
  new Promise((resolve, reject) => {
    f(req, (err, res) => {
      if (err !== null) reject(err);
      else resolve(res);
    });
  });

/** Runs the `tug` CLI in-process against the test's manager; returns its exit code and output. */
export const runTug = async (
  c: TestCluster,
  argv: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> => {
  let stdout = '';
  let stderr = '';
  const code = await main(['--manager', c.manager.address, ...argv], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    stdin: Readable.from([]),
    env: { HOME: c.stateDir },
  });
  return { code, stdout, stderr };
};

export const serviceYaml = (o: {
  name: string;
  image: string;
  command: readonly string[];
  replicas: number;
  extra?: string;
}): string =>
  [
    'apiVersion: tug/v1',
    'kind: Service',
    'metadata:',
    `  name: ${o.name}`,
    'spec:',
    `  image: ${JSON.stringify(o.image)}`,
    `  command: ${JSON.stringify(o.command)}`,
    `  replicas: ${o.replicas}`,
    '  stopGracePeriod: 1s',
    ...(o.extra === undefined ? [] : [o.extra]),
    '',
  ].join('\n');

/**
 * Runs `body` against a fresh manager and state directory, then `cleanUp` (the test's agents,
 * removing what they made), stops everything and asserts that nothing leaked.
 */
export async function withCluster(
  t: ExecutionContext,
  opts: { heartbeatGraceMs?: number },
  body: (c: TestCluster, onCleanUp: (f: () => Promise<void>) => void) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tug-agent-it-'));
  const stateDir = path.join(dir, 'agent');
  const cleanUps: (() => Promise<void>)[] = [];
  const manager = await Manager.start({
    id: memberId(1),
    dataDir: path.join(dir, 'manager'),
    clusterId: 'test',
    listen: '127.0.0.1:0',
    bootstrap: [memberId(1)],
    tickMs: 20,
    ...(opts.heartbeatGraceMs === undefined
      ? {}
      : { heartbeat: { periodMs: 500, graceMs: opts.heartbeatGraceMs } }),
  });
  manager.run();
  const client = new pb.ControlServiceClient(manager.address, credentials.createInsecure());
  const c: TestCluster = {
    dir,
    stateDir,
    manager,
    client,
    apply: async (yaml) => {
      await call(client.apply.bind(client), {
        sources: [{ file: 'test.yaml', text: yaml }],
        dryRun: false,
      });
    },
    scale: async (name, replicas) => {
      await call(client.scale.bind(client), { replicas: { [name]: replicas } });
    },
    service: (name) => {
      const s = manager.store.list('service').find((x) => x.meta.name === name);
      if (s === undefined) throw new Error(`no service ${name}`);
      return s;
    },
    tasks: (name) => {
      const s = manager.store.list('service').find((x) => x.meta.name === name);
      return s === undefined ? [] : manager.store.find('task', { serviceId: s.meta.id });
    },
  };
  let failure: unknown;
  try {
    await waitFor(() => manager.raft.status().role === 'leader', {
      what: 'the manager to lead',
      timeoutMs: 10_000,
    });
    await body(c, (f) => cleanUps.push(f));
  } catch (err) {
    failure = err;
  }
  for (const f of cleanUps.reverse()) {
    try {
      await f();
    } catch (err) {
      failure ??= err;
    }
  }
  client.close();
  await manager.stop();
  const nodes = manager.store.list('node').map((n) => n.meta.id as string);
  const leaks = await findLeaks(dir, stateDir, nodes);
  await rm(dir, { recursive: true, force: true });
  if (failure !== undefined)
    throw failure instanceof Error ? failure : new Error('test failed', { cause: failure });
  t.deepEqual(leaks, [], 'nothing of the agent outlives the test');
  t.false(existsSync(dir));
}

/** Removes everything an agent (maybe a killed process) left in `stateDir`. */
export async function sweepStateDir(stateDir: string, nodeId: string): Promise<void> {
  const cgroups = await detectCgroups();
  await sweep({
    stateDir,
    runtime: new ContainerRuntime({ stateDir: path.join(stateDir, 'runtime'), cgroups }),
    cgroups,
    nodeId,
    keep: new Set(),
  });
}

async function findLeaks(
  dir: string,
  stateDir: string,
  nodes: readonly string[],
): Promise<string[]> {
  const leaks: string[] = [];
  for (const sub of ['root', 'containers', 'exits']) {
    const p = path.join(stateDir, 'runtime', sub);
    if (existsSync(p)) for (const e of await readdir(p)) leaks.push(`runtime/${sub}/${e}`);
  }
  const tasks = path.join(stateDir, 'tasks');
  if (existsSync(tasks)) for (const e of await readdir(tasks)) leaks.push(`tasks/${e}`);
  const layout = await detectCgroups();
  for (const n of nodes)
    for (const d of cgroupDirs(layout, `/tug/${n}`)) if (existsSync(d)) leaks.push(d);
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of mountinfo.split('\n')) if (line.includes(dir)) leaks.push(`mount: ${line}`);
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && cmdline.includes(dir)) leaks.push(`process ${pid}: ${cmdline}`);
    } catch {
      // Gone meanwhile.
    }
  }
  return leaks;
}
