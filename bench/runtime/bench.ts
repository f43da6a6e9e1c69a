// The runtime benchmark's run, callable in-process (main.ts for the command line, the test for a
// tiny configuration): a real registry with the busybox test image, one tug manager and one real
// agent in this process, bare runc beside them. Everything started is undone through `cleanup`.

import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { Agent } from '../../agent/agent.js';
import type { TimingMark } from '../../agent/executor/task-controller.js';
import { detectCgroups } from '../../agent/linux/cgroups.js';
import { pushTestImage, startRegistry } from '../../agent/testing/registry.js';
import { ControlClient } from '../../cli/client.js';
import type { Task, TaskId } from '../../common/model.js';
import { Manager } from '../../manager/manager.js';
import { memberId } from '../../manager/raft/core/index.js';
import { registryImageResolver } from '../../manager/controlapi/registry-resolver.js';
import type { Cleanup } from '../lib/cleanup.js';
import { machineInfo } from '../lib/machine.js';
import { waitFor } from '../lib/wait.js';
import { BareRunc } from './bare.js';
import { serviceManifest, type RuntimeBenchOptions } from './options.js';
import { runtimeRecord, type TugStart } from './report.js';

const exec = promisify(execFile);
const INIT_PATH = '/usr/bin/tini-static';

export interface RunContext {
  readonly cleanup: Cleanup;
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
}

const firstLine = async (cmd: string, args: string[]): Promise<string> => {
  try {
    return (await exec(cmd, args)).stdout.split('\n')[0]?.trim() ?? '';
  } catch {
    return 'unknown';
  }
};

export async function runRuntimeBench(
  options: RuntimeBenchOptions,
  { cleanup, signal, log }: RunContext,
): Promise<Record<string, unknown>> {
  const deadline = performance.now() + options.timeoutMinutes * 60_000;
  const left = (): number => Math.max(1, deadline - performance.now());
  const machine = machineInfo();
  const loadStart = loadavg();
  const dir = cleanup.tempDir('tug-bench-runtime-');

  const registry = await startRegistry();
  cleanup.add(
    'registry',
    () => registry.stop(),
    () => {
      registry.process.kill('SIGKILL');
    },
  );
  await pushTestImage(registry.host);
  const image = `${registry.host}/busybox:latest`;
  log(`registry ${registry.host} holds ${image}`);

  const manager = await Manager.start({
    id: memberId(1),
    dataDir: path.join(dir, 'manager'),
    clusterId: 'bench-runtime',
    listen: '127.0.0.1:0',
    bootstrap: [memberId(1)],
    // As manager/main.ts by default: services applied by tag are stored digest-pinned.
    resolveImage: registryImageResolver(),
  });
  manager.run();
  cleanup.add(
    'manager',
    () => manager.stop(),
    () => undefined,
  );
  await waitFor(() => manager.raft.status().role === 'leader', {
    what: 'the manager to lead',
    timeoutMs: left(),
    signal,
  });

  // Each task's marks (performance.now() ms) as the agent reports them.
  const marks = new Map<TaskId, Partial<Record<TimingMark, number>>>();
  const agent = await Agent.start({
    managers: [manager.address],
    stateDir: path.join(dir, 'agent'),
    hostname: 'bench-node',
    // The image stays pulled between samples (no task holds it while none runs).
    imageGcDelayMs: 3_600_000,
    ...(options.parallelStarts === undefined ? {} : { parallelStarts: options.parallelStarts }),
    onTiming: (id, mark, at) => {
      const m = marks.get(id) ?? {};
      m[mark] ??= at;
      marks.set(id, m);
    },
    log: (line) => {
      if (/failed|rejected/.test(line)) log(`agent: ${line}`);
    },
  });
  cleanup.add(
    'agent',
    () => agent.stop({ removeContainers: true }),
    () => undefined,
  );
  const client = new ControlClient(manager.address, 60_000);
  cleanup.add(
    'control client',
    () => {
      client.close();
      return Promise.resolve();
    },
    () => {
      client.close();
    },
  );

  const tasksOf = (name: string): Task[] => {
    const s = manager.store.list('service').find((x) => x.meta.name === name);
    return s === undefined ? [] : manager.store.find('task', { serviceId: s.meta.id });
  };
  const running = (name: string): number =>
    tasksOf(name).filter((t) => t.desiredState === 'running' && t.status.state === 'running')
      .length;
  const apply = (name: string, replicas: number): Promise<unknown> =>
    client.apply({
      sources: [{ file: `${name}.yaml`, text: serviceManifest(name, image, replicas) }],
      dryRun: false,
    });
  const untilRunning = (name: string, n: number): Promise<true> =>
    waitFor(() => running(name) === n || undefined, {
      what: `${n} ${name} running`,
      timeoutMs: left(),
      intervalMs: 10,
      signal,
    });
  const drained = (): Promise<true> =>
    waitFor(async () => agent.tasks.size === 0 && (await agent.runtime.list()).length === 0, {
      what: 'the agent to hold nothing',
      timeoutMs: left(),
      intervalMs: 20,
      signal,
    });

  // Warm-up: pulls the image; its task gives the spec the bare bundle reproduces.
  await apply('lat', 1);
  await untilRunning('lat', 1);
  const task = tasksOf('lat').find((t) => t.status.state === 'running')!;
  // The manager pinned the tag: the task names `…:latest@sha256:…`, no tag check per start.
  if (!/@sha256:[a-f0-9]{64}$/.test(task.spec.image)) {
    throw new Error(`the manager did not pin ${image}: the task names ${task.spec.image}`);
  }
  log(`the manager pinned ${image} as ${task.spec.image}`);
  const rec = await agent.images.get(task.spec.image);
  if (rec === undefined) {
    throw new Error(`${task.spec.image} is not in the agent's store after the warm-up`);
  }
  const bare = new BareRunc({
    dir: path.join(dir, 'bare'),
    cgroups: await detectCgroups(),
    image: rec,
    task,
    initPath: INIT_PATH,
  });
  cleanup.add(
    'bare runc containers',
    () => bare.removeAll(),
    () => undefined,
  );

  // The same image pinned by digest in the manifest itself (`name@sha256:…`, no tag): since the
  // manager pins tags on create, this should now cost what the tag path costs.
  const pinnedImage = `${registry.host}/busybox@${rec.manifestDigest}`;
  await client.scale({ lat: 0 });
  await drained();
  await client.apply({
    sources: [{ file: 'pin.yaml', text: serviceManifest('pin', pinnedImage, 1) }],
    dryRun: false,
  });
  await untilRunning('pin', 1);
  log('warm-up tasks running; sampling start latency');

  const sampleTug = async (service: string): Promise<TugStart> => {
    await client.scale({ lat: 0, pin: 0 });
    await drained();
    const before = new Set(marks.keys());
    await client.scale({ [service]: 1 });
    const m = await waitFor(
      () => {
        for (const [id, m] of marks) if (!before.has(id) && m.running !== undefined) return m;
        return undefined;
      },
      { what: `a new ${service} task running`, timeoutMs: left(), intervalMs: 5, signal },
    );
    const r = m.received!;
    return {
      dirsMs: m.dirs! - r,
      pulledMs: m.pulled! - r,
      mountedMs: m.mounted! - r,
      specifiedMs: m.specified! - r,
      createdMs: m.created! - r,
      runningMs: m.running! - r,
    };
  };
  const tug: TugStart[] = [];
  const pinned: TugStart[] = [];
  const bareSamples: { runMs: number; mountMs: number }[] = [];
  for (let i = 0; i < options.samples; i++) {
    await client.scale({ lat: 0, pin: 0 });
    await drained();
    bareSamples.push(await bare.sample());
    await bare.removeAll();
    tug.push(await sampleTug('lat'));
    pinned.push(await sampleTug('pin'));
  }
  await client.removeService('lat');
  await client.removeService('pin');
  await drained();
  log(`start latency: ${options.samples} samples each`);

  const applyMs = new Map<number, number>();
  for (const n of options.apply) {
    const name = `apply-${n}`;
    const t0 = performance.now();
    await apply(name, n);
    await untilRunning(name, n);
    applyMs.set(n, performance.now() - t0);
    log(`apply ${n}: all running after ${Math.round(applyMs.get(n)!)} ms`);
    await client.removeService(name);
    await drained();
  }

  await apply('scale', options.scaleFrom);
  await untilRunning('scale', options.scaleFrom);
  const t0 = performance.now();
  await client.scale({ scale: options.scaleTo });
  await untilRunning('scale', options.scaleTo);
  const scaleMs = performance.now() - t0;
  log(`scale ${options.scaleFrom} → ${options.scaleTo}: ${Math.round(scaleMs)} ms`);
  await client.removeService('scale');
  await drained();

  return runtimeRecord({
    options,
    machine,
    loadAverage: { start: loadStart, end: loadavg() },
    tug,
    tagStoredAs: task.spec.image,
    pinned,
    bare: bareSamples,
    applyMs,
    scaleMs,
    versions: {
      runc: await firstLine('/usr/sbin/runc', ['--version']),
      conmon: await firstLine('conmon', ['--version']),
    },
  });
}
