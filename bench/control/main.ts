// `npm run bench:control`: 3 tug managers and many hollow agents as local processes; apply
// services totalling --replicas replicas and measure, from the leader's Watch stream, how fast
// they are assigned and reported running, plus the managers' peak RSS (docs/benchmarks.md).
// Everything started is stopped and every temp dir removed on every exit path.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { ControlClient } from '../../cli/client.js';
import { ClusterHistory } from '../../common/testing/cluster-invariants.js';
import { Cleanup } from '../lib/cleanup.js';
import { BenchTimeoutError, UsageError } from '../lib/errors.js';
import { machineInfo } from '../lib/machine.js';
import {
  findTugLeader,
  peakRssMiB,
  startHollowAgents,
  startTugManagers,
  watchStore,
} from '../lib/tug-cluster.js';
import { waitFor } from '../lib/wait.js';
import { ControlMeasurement } from './measure.js';
import {
  agentProcesses,
  benchManifest,
  parseOptions,
  splitReplicas,
  USAGE,
  type ControlBenchOptions,
} from './options.js';
import { controlRecord, summaryText } from './report.js';

const log = (line: string): void => {
  process.stderr.write(`[bench:control] ${line}\n`);
};

const remaining = (deadline: number): number => Math.max(1, deadline - performance.now());

async function run(
  options: ControlBenchOptions,
  signal: AbortSignal,
  cleanup: Cleanup,
): Promise<Record<string, unknown>> {
  // Setup (starting 1,000 agents) is bounded separately from the measured part.
  let deadline = performance.now() + options.timeoutMinutes * 60_000;
  const machine = machineInfo();
  const dir = options.keepDir ?? cleanup.tempDir('tug-bench-control-');
  await mkdir(dir, { recursive: true });
  log(`managers and logs in ${dir}`);

  let t = performance.now();
  const nodeArgs =
    options.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir];
  const managers = await startTugManagers({
    cleanup,
    dir,
    count: options.managers,
    nodeArgs,
    stopGraceMs: options.cpuProfDir === undefined ? 5000 : 30_000,
  });
  const leader = await findTugLeader(managers.addresses, {
    signal,
    timeoutMs: remaining(deadline),
  });
  const managersReadyMs = performance.now() - t;
  log(`${options.managers} managers up in ${Math.round(managersReadyMs)} ms; leader ${leader}`);

  t = performance.now();
  const groups = agentProcesses(options.nodes, options.agentsPerProcess);
  // One process at a time: agents of different processes share hostnames (node-1, …), and the
  // dispatcher resolves a name clash only between registrations it sees in turn.
  for (const [i, count] of groups.entries()) {
    await startHollowAgents({ cleanup, dir, name: `agents-${i + 1}`, manager: leader, count });
  }
  const client = new ControlClient(leader, 60_000);
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
  await waitFor(
    async () => {
      const nodes = await client.listNodes();
      return nodes.items.filter((n) => n.status.state === 'ready').length >= options.nodes;
    },
    {
      what: `${options.nodes} nodes ready`,
      timeoutMs: remaining(deadline),
      intervalMs: 250,
      signal,
    },
  );
  const agentsReadyMs = performance.now() - t;
  log(
    `${options.nodes} nodes ready in ${groups.length} agent processes after ${Math.round(agentsReadyMs)} ms`,
  );

  const history = new ClusterHistory();
  // Made at the Apply call: its clock starts then.
  const current: { m?: ControlMeasurement } = {};
  let watchError: Error | undefined;
  // Watched on a follower: serving a watcher costs its manager CPU (a JSON object per event), and
  // a client watching the leader would slow what is measured. A follower sees each commit a
  // heartbeat later at most, so this only makes the times longer.
  const observer = managers.addresses.find((a) => a !== leader) ?? leader;
  log(`watching the store on ${observer}`);
  const watch = watchStore(observer, { kinds: ['task', 'service'] }, (e) => {
    current.m?.observe(e);
    history.observe(e);
  });
  cleanup.add(
    'watch',
    () => {
      watch.cancel();
      return Promise.resolve();
    },
    () => {
      watch.cancel();
    },
  );
  watch.ended.catch((err: unknown) => {
    watchError = err instanceof Error ? err : new Error(String(err));
  });
  await watch.established;

  const counts = splitReplicas(options.replicas, options.services);
  log(`applying ${options.services} services, ${options.replicas} replicas`);
  deadline = performance.now() + options.timeoutMinutes * 60_000;
  const measurement = new ControlMeasurement(options.replicas, () => performance.now());
  current.m = measurement;
  const applyStart = performance.now();
  const applyStartEpochMs = Date.now();
  await client.apply({
    sources: [{ file: 'bench.yaml', text: benchManifest(counts) }],
    dryRun: false,
  });
  const applyCallMs = performance.now() - applyStart;
  let lastLog = performance.now();
  let completed = true;
  try {
    await waitFor(
      () => {
        if (watchError !== undefined) throw watchError;
        if (performance.now() - lastLog > 5000) {
          lastLog = performance.now();
          log(
            `assigned ${measurement.assigned}, running ${measurement.running} of ${options.replicas}`,
          );
        }
        return measurement.done;
      },
      {
        what: `${options.replicas} tasks running`,
        timeoutMs: remaining(deadline),
        intervalMs: 20,
        signal,
        isFatal: (err) => err === watchError,
      },
    );
  } catch (err) {
    // Out of time: still record what was measured, marked incomplete; anything else is fatal.
    if (!(err instanceof BenchTimeoutError)) throw err;
    completed = false;
    log(`timed out: ${err.message}`);
  }
  const result = measurement.result();
  if (result.allRunningMs !== undefined) {
    log(`all running after ${Math.round(result.allRunningMs)} ms`);
  }

  const managerRssMiB = await Promise.all(managers.processes.map((p) => peakRssMiB(p.pid)));
  // Convergence only means something once everything ran.
  const violations = [...history.violations(), ...(completed ? history.checkConverged() : [])];
  return controlRecord({
    options,
    machine,
    measurement: result,
    managerRssMiB,
    setup: { managersReadyMs, agentsReadyMs, agentProcesses: groups.length },
    applyCallMs,
    applyStartEpochMs,
    completed,
    violations,
  });
}

export async function main(argv: readonly string[]): Promise<number> {
  let options: ControlBenchOptions;
  try {
    options = parseOptions(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const cleanup = new Cleanup();
  const controller = new AbortController();
  const unhook = cleanup.installProcessHooks(controller);
  let code = 0;
  try {
    const record = await run(options, controller.signal, cleanup);
    await mkdir(options.outDir, { recursive: true });
    const out = join(options.outDir, 'control.json');
    await writeFile(out, `${JSON.stringify(record, null, 2)}\n`);
    process.stdout.write(`${summaryText(record)}\nwrote ${out}\n`);
    const violations = record['invariant_violations'];
    if (Array.isArray(violations) && violations.length > 0) code = 1;
    if (record['completed'] !== true) code = 1;
  } catch (err) {
    const what = err instanceof BenchTimeoutError ? 'timed out' : 'failed';
    process.stderr.write(
      `bench:control ${what}: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    code = 1;
  } finally {
    const errors = await cleanup.run();
    unhook();
    for (const e of errors) process.stderr.write(`${e.message}: ${String(e.cause)}\n`);
  }
  return code;
}

process.exitCode = await main(process.argv.slice(2));
