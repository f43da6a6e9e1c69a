// Entry point of `npm run bench:raft`: tug's Raft KV against a 3-member etcd on this machine, both
// started and stopped here, the same load generator and leader-following client for both, systems
// alternating within every phase so background noise hits both. See docs/benchmarks.md.

import { access, constants, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { Cleanup } from '../lib/cleanup.js';
import type { ClusterOptions, ReplicatedCluster } from '../lib/cluster.js';
import { BenchTimeoutError, UsageError } from '../lib/errors.js';
import type { LeaderFollowingDriver } from '../lib/leader-driver.js';
import { LoadOp, runLoad, type LoadResult } from '../lib/load.js';
import { machineInfo, toolVersion } from '../lib/machine.js';
import { seededRandom } from '../lib/random.js';
import { etcdCluster } from './etcd.js';
import { failoverTrial, type FailoverTrial } from './failover.js';
import { parseOptions, resultBaseName, System, USAGE, type RaftBenchOptions } from './options.js';
import {
  computeRatios,
  failoverNumbers,
  phaseNumbers,
  reportConfig,
  reportText,
  type PhaseNumbers,
  type RaftReport,
  type SystemNumbers,
} from './report.js';
import { FAKE_SERVER, tugCluster, type ReadyLine } from './tug.js';

const READY_TIMEOUT_MS = 30_000;
const HEALTHY_TIMEOUT_MS = 60_000;
const FAILOVER_TIMEOUT_MS = 30_000;
const FAILOVER_STEADY_MS = 500;

function log(line: string): void {
  process.stderr.write(`[bench:raft] ${line}\n`);
}

async function checkReadable(path: string, hint: string): Promise<void> {
  try {
    await access(path, constants.R_OK);
  } catch {
    throw new UsageError(`${path} not found: ${hint}`);
  }
}

/** Refuses the fake server unless --fake was given, whichever way it was named. */
function readyGuard(options: RaftBenchOptions): (member: string, ready: ReadyLine) => void {
  return (member, ready) => {
    if (ready.fake && !options.fake) {
      throw new UsageError(
        `${member} is the fake KV server (its ready line says "fake": true); it measures nothing. Pass --fake to run a harness check.`,
      );
    }
    if (!ready.fake && options.fake) {
      throw new UsageError(`--fake was given but ${member} is not the fake server`);
    }
  };
}

interface Running {
  readonly system: System;
  readonly cluster: ReplicatedCluster;
  driver: LeaderFollowingDriver | undefined;
  readonly puts: PhaseNumbers[];
  gets: PhaseNumbers | null;
  readonly trials: FailoverTrial[];
}

async function run(
  options: RaftBenchOptions,
  cleanup: Cleanup,
  signal: AbortSignal,
  argv: readonly string[],
): Promise<void> {
  if (options.systems.includes(System.Etcd)) {
    await checkReadable(
      options.etcdBinary,
      'install etcd-server (apt-get install etcd-server) or pass --etcd',
    );
  }
  if (options.systems.includes(System.Tug)) {
    const hint =
      options.server === FAKE_SERVER
        ? 'run `npm run build` first'
        : 'build the tug KV server (`npm run build`), or pass --fake to check the harness against the fake server';
    await checkReadable(options.server, hint);
    if (resolve(options.server) === resolve(FAKE_SERVER) && !options.fake) {
      throw new UsageError(
        `${options.server} is the fake KV server; it measures nothing. Pass --fake to run a harness check.`,
      );
    }
  }
  const etcdVersion = options.systems.includes(System.Etcd)
    ? await toolVersion(options.etcdBinary, ['--version'], /etcd Version:\s*(\S+)/)
    : 'not run';
  const machine = { ...machineInfo(), etcd: etcdVersion };
  if (options.fake)
    log('FAKE tug server: this run checks the harness; its tug numbers mean nothing');

  const runs: Running[] = [];
  try {
    for (const system of options.systems) {
      const dir = cleanup.tempDir(`tug-bench-${system}-`);
      const hooks: ClusterOptions = {
        onStart: (member, pid) => {
          log(`${member} started, pid ${pid}`);
        },
      };
      const cluster =
        system === System.Etcd
          ? await etcdCluster({ binary: options.etcdBinary, size: 3, dir, cleanup, cluster: hooks })
          : await tugCluster({
              server: options.server,
              size: 3,
              dir,
              cleanup,
              readyTimeoutMs: READY_TIMEOUT_MS,
              onReady: readyGuard(options),
              cluster: hooks,
            });
      const entry: Running = {
        system,
        cluster,
        driver: undefined,
        puts: [],
        gets: null,
        trials: [],
      };
      runs.push(entry);
      log(`starting ${system} (data and logs in ${dir})`);
      await cluster.start();
      const leader = await cluster.waitHealthy({ timeoutMs: HEALTHY_TIMEOUT_MS, signal });
      log(`${system} healthy, leader ${cluster.memberName(leader)}`);
      entry.driver = cluster.driver({ signal });
    }

    const phase = async (
      op: LoadOp,
      concurrency: number,
      seconds: number,
      seed: number,
    ): Promise<void> => {
      for (const entry of runs) {
        const result: LoadResult = await runLoad(entry.driver!, {
          op,
          concurrency,
          durationMs: seconds * 1000,
          warmupMs: options.warmupSeconds * 1000,
          keyCount: options.keys,
          valueBytes: options.valueBytes,
          // The same key sequence for every system.
          random: seededRandom(seed),
          signal,
        });
        const n = phaseNumbers(result);
        if (op === LoadOp.Put) entry.puts.push(n);
        else entry.gets = n;
        log(
          `${entry.system.padEnd(4)} ${op} ×${concurrency}: ${n.opsPerSec.toFixed(0)} ops/s, p50 ${n.p50Ms.toFixed(2)} ms, p99 ${n.p99Ms.toFixed(2)} ms`,
        );
      }
    };
    let seed = options.seed * 1000;
    for (const c of options.putConcurrency) await phase(LoadOp.Put, c, options.putSeconds, seed++);
    await phase(LoadOp.Get, options.getConcurrency, options.getSeconds, seed++);
    for (const entry of runs) {
      await entry.driver?.close();
      entry.driver = undefined;
    }

    for (let t = 0; t < options.trials; t++) {
      for (const entry of runs) {
        const trial = await failoverTrial(entry.cluster, {
          keyCount: options.keys,
          valueBytes: options.valueBytes,
          random: seededRandom(seed + t),
          steadyMs: FAILOVER_STEADY_MS,
          failoverTimeoutMs: FAILOVER_TIMEOUT_MS,
          healthyTimeoutMs: HEALTHY_TIMEOUT_MS,
          signal,
        });
        entry.trials.push(trial);
        log(
          `${entry.system.padEnd(4)} failover ${t + 1}/${options.trials}: killed ${trial.killed}, ${trial.failoverMs.toFixed(0)} ms to first ack (by ${trial.newLeader}), healthy again ${trial.recoveryMs.toFixed(0)} ms after restart`,
        );
      }
    }

    const systems: Partial<Record<System, SystemNumbers>> = {};
    for (const entry of runs) {
      systems[entry.system] = {
        puts: entry.puts,
        gets: entry.gets,
        failover: failoverNumbers(entry.trials),
      };
    }
    const report: RaftReport = {
      benchmark: 'raft',
      fake: options.fake,
      command: ['node build/bench/raft/main.js', ...argv].join(' '),
      machine,
      config: reportConfig(options),
      systems,
      ratios: computeRatios(systems),
    };
    await mkdir(options.outDir, { recursive: true });
    const base = join(options.outDir, resultBaseName(options.fake));
    await writeFile(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(`${base}.md`, reportText(report, 'markdown'));
    process.stdout.write(`\n${reportText(report)}\nwritten: ${base}.json, ${base}.md\n`);
  } catch (err) {
    // On an interrupt the logs are noise; on a failure they are the diagnosis.
    if (!signal.aborted) {
      for (const entry of runs) log(`${entry.system} member logs:\n${entry.cluster.logTails()}`);
    }
    throw err;
  } finally {
    for (const entry of runs) {
      await entry.driver?.close();
      await entry.cluster.stop();
    }
  }
}

async function main(argv: readonly string[]): Promise<number> {
  let options: RaftBenchOptions;
  try {
    options = parseOptions(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const controller = new AbortController();
  const cleanup = new Cleanup();
  const uninstall = cleanup.installProcessHooks(controller);
  let interrupted = false;
  controller.signal.addEventListener('abort', () => {
    interrupted = !(controller.signal.reason instanceof BenchTimeoutError);
  });
  const budgetMs = options.maxMinutes * 60_000;
  const timer = setTimeout(() => {
    controller.abort(new BenchTimeoutError('the whole benchmark (--max-minutes)', budgetMs));
  }, budgetMs);
  try {
    await run(options, cleanup, controller.signal, argv);
    return 0;
  } catch (err) {
    const reason: unknown = controller.signal.aborted ? controller.signal.reason : undefined;
    process.stderr.write(`bench:raft failed: ${describe(err)}\n`);
    if (reason !== undefined && reason !== err)
      process.stderr.write(`  (run aborted: ${describe(reason)})\n`);
    if (err instanceof UsageError) return 2;
    return interrupted ? 130 : 1;
  } finally {
    clearTimeout(timer);
    for (const e of await cleanup.run()) process.stderr.write(`${describe(e)}\n`);
    uninstall();
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  let text = err.message;
  let cause: unknown = err.cause;
  while (cause instanceof Error) {
    text += `\n  caused by: ${cause.message}`;
    cause = cause.cause;
  }
  return text;
}

process.exitCode = await main(process.argv.slice(2));
