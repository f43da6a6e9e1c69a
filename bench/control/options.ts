// The control-plane benchmark's command line: flags, defaults and validation. Pure, so the test
// can check every rejection without starting anything.

import { fileURLToPath } from 'node:url';

import { UsageError } from '../lib/errors.js';
import {
  booleanFlag,
  intFlag,
  optionalStringFlag,
  parseFlags,
  positiveNumberFlag,
} from '../lib/flags.js';

/** bench/results of the repository (this module is build/bench/control/options.js). */
export const DEFAULT_OUT_DIR = fileURLToPath(new URL('../../../bench/results', import.meta.url));

export interface ControlBenchOptions {
  /** Simulated nodes (hollow agents). */
  readonly nodes: number;
  /** Hollow agents per agent process. */
  readonly agentsPerProcess: number;
  /** Replicas over all services. */
  readonly replicas: number;
  /** Services the replicas are split between (as evenly as possible). */
  readonly services: number;
  readonly managers: number;
  /** Bound on the setup, and again on the measured part (apply → all running). */
  readonly timeoutMinutes: number;
  /** Directory for control.json. */
  readonly outDir: string;
  /** Directory for manager CPU profiles (node --cpu-prof), when given. */
  readonly cpuProfDir: string | undefined;
  /** Keep managers' data and every log here instead of a temp dir removed at the end. */
  readonly keepDir: string | undefined;
  readonly help: boolean;
}

export const USAGE = `usage: node build/bench/control/main.js [flags]   (or: npm run bench:control -- [flags])

Starts 3 tug managers and --nodes hollow agents (simulated nodes, --agents-per-process per
process), applies services totalling --replicas replicas, and measures the time until all are
assigned and all reported running, tasks/s, p99 task creation → assignment, and the managers' peak
RSS. Writes <out>/control.json and prints a summary.

  --nodes <n>                 simulated nodes                          (default 1000)
  --agents-per-process <n>    hollow agents per process                (default 100)
  --replicas <n>              replicas over all services               (default 10000)
  --services <n>              services                                 (default 10)
  --managers <n>              managers                                 (default 3)
  --timeout-minutes <n>       bound on setup, and on apply → running   (default 5)
  --out <dir>                 where control.json goes                  (default bench/results)
  --cpu-prof <dir>            write the managers' CPU profiles here
  --keep <dir>                keep data and logs in <dir> (not removed)
  --help`;

const SPEC = {
  nodes: { type: 'string' },
  'agents-per-process': { type: 'string' },
  replicas: { type: 'string' },
  services: { type: 'string' },
  managers: { type: 'string' },
  'timeout-minutes': { type: 'string' },
  out: { type: 'string' },
  'cpu-prof': { type: 'string' },
  keep: { type: 'string' },
  help: { type: 'boolean' },
} as const;

export function parseOptions(argv: readonly string[]): ControlBenchOptions {
  const v = parseFlags(argv, SPEC);
  const services = intFlag(v, 'services', 10);
  const replicas = intFlag(v, 'replicas', 10_000);
  if (services > replicas) {
    throw new UsageError(`--services (${services}) must not exceed --replicas (${replicas})`);
  }
  return {
    nodes: intFlag(v, 'nodes', 1000),
    agentsPerProcess: intFlag(v, 'agents-per-process', 100),
    replicas,
    services,
    managers: intFlag(v, 'managers', 3),
    timeoutMinutes: positiveNumberFlag(v, 'timeout-minutes', 5),
    outDir: optionalStringFlag(v, 'out') ?? DEFAULT_OUT_DIR,
    cpuProfDir: optionalStringFlag(v, 'cpu-prof'),
    keepDir: optionalStringFlag(v, 'keep'),
    help: booleanFlag(v, 'help'),
  };
}

/** Splits `total` replicas over `services` services, the first ones taking the remainder. */
export function splitReplicas(total: number, services: number): number[] {
  const base = Math.floor(total / services);
  const extra = total % services;
  return Array.from({ length: services }, (_, i) => base + (i < extra ? 1 : 0));
}

/** Agents per process: full processes of `perProcess`, the last one taking the rest. */
export function agentProcesses(nodes: number, perProcess: number): number[] {
  const out: number[] = [];
  for (let left = nodes; left > 0; left -= perProcess) out.push(Math.min(perProcess, left));
  return out;
}

/** The manifest applied: `counts.length` replicated services `bench-<i>` (no ports, no networks). */
export function benchManifest(counts: readonly number[]): string {
  return counts
    .map(
      (replicas, i) => `apiVersion: tug/v1
kind: Service
metadata: { name: bench-${i + 1} }
spec:
  image: registry.local:5000/tug/busybox:latest
  command: [sleep, infinity]
  replicas: ${replicas}
`,
    )
    .join('---\n');
}
