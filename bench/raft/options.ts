// The raft benchmark's command line: flags, their defaults, and validation. Pure, so the test can
// check every rejection without starting anything.

import { fileURLToPath } from 'node:url';

import { DEFAULT_ETCD_BINARY } from './etcd.js';
import { FAKE_SERVER, TUG_SERVER } from './tug.js';
import { UsageError } from '../lib/errors.js';
import {
  booleanFlag,
  choiceListFlag,
  intFlag,
  intListFlag,
  nonNegativeNumberFlag,
  optionalStringFlag,
  parseFlags,
  positiveNumberFlag,
} from '../lib/flags.js';

/** bench/results of the repository (this module is build/bench/raft/options.js). */
export const DEFAULT_OUT_DIR = fileURLToPath(new URL('../../../bench/results', import.meta.url));

export const System = { Etcd: 'etcd', Tug: 'tug' } as const;
export type System = (typeof System)[keyof typeof System];
const ALL_SYSTEMS: readonly System[] = [System.Etcd, System.Tug];

export interface RaftBenchOptions {
  /** Measured window of each put phase. */
  readonly putSeconds: number;
  /** Measured window of the get phase. */
  readonly getSeconds: number;
  /** Unrecorded warm-up before each phase's window. */
  readonly warmupSeconds: number;
  readonly putConcurrency: readonly number[];
  readonly getConcurrency: number;
  readonly valueBytes: number;
  readonly keys: number;
  /** Failover trials per system. */
  readonly trials: number;
  /** In the order they alternate within each phase. */
  readonly systems: readonly System[];
  readonly etcdBinary: string;
  /** The tug server's main module. */
  readonly server: string;
  /** Allow (and label) the fake server. */
  readonly fake: boolean;
  /** Directory for raft.json / raft.md. */
  readonly outDir: string;
  readonly seed: number;
  /** Bound on the whole run. */
  readonly maxMinutes: number;
  readonly help: boolean;
}

export const USAGE = `usage: node build/bench/raft/main.js [flags]   (or: npm run bench:raft -- [flags])

Compares tug's Raft KV with a 3-member etcd on this machine: put throughput and latency at several
requests in flight, linearizable gets, and leader failover time. Systems alternate within each
phase. Writes <out>/raft.json and <out>/raft.md and prints a side-by-side table.

  --seconds <n>          measured seconds per put phase (default 10)
  --get-seconds <n>      measured seconds of the get phase (default: half of --seconds)
  --warmup-seconds <n>   unrecorded warm-up before each phase (default: min(1, --seconds/5))
  --concurrency <list>   put requests in flight, comma-separated (default 1,16,64)
  --get-concurrency <n>  get requests in flight (default 16)
  --value-bytes <n>      value size (default 256)
  --keys <n>             keys are drawn uniformly from this many (default 10000)
  --trials <n>           failover trials per system (default 5; 0 skips failover)
  --systems <list>       etcd,tug (default both; one alone gives no ratios)
  --etcd <path>          etcd binary (default ${DEFAULT_ETCD_BINARY})
  --server <path>        tug KV server main module (default build/manager/raft/kv/server-main.js)
  --fake                 use the throwaway fake tug server (build/bench/raft/fake-kv-server.js) to
                         check the harness; output is labelled FAKE and written to raft-fake.json
  --out <dir>            output directory (default bench/results of this repository)
  --seed <n>             seed for the key sequence (default 1)
  --max-minutes <n>      bound on the whole run (default: computed from the phases, plus slack)
  --help                 this text
`;

export function parseOptions(argv: readonly string[]): RaftBenchOptions {
  const v = parseFlags(argv, {
    seconds: { type: 'string' },
    'get-seconds': { type: 'string' },
    'warmup-seconds': { type: 'string' },
    concurrency: { type: 'string' },
    'get-concurrency': { type: 'string' },
    'value-bytes': { type: 'string' },
    keys: { type: 'string' },
    trials: { type: 'string' },
    systems: { type: 'string' },
    etcd: { type: 'string' },
    server: { type: 'string' },
    fake: { type: 'boolean' },
    out: { type: 'string' },
    seed: { type: 'string' },
    'max-minutes': { type: 'string' },
    help: { type: 'boolean' },
  });
  const fake = booleanFlag(v, 'fake');
  const putSeconds = positiveNumberFlag(v, 'seconds', 10);
  const explicitServer = optionalStringFlag(v, 'server');
  if (fake && explicitServer !== undefined) {
    throw new UsageError('--fake and --server are exclusive: --fake picks the fake server');
  }
  const options: RaftBenchOptions = {
    putSeconds,
    getSeconds: positiveNumberFlag(v, 'get-seconds', putSeconds / 2),
    warmupSeconds: nonNegativeNumberFlag(v, 'warmup-seconds', Math.min(1, putSeconds / 5)),
    putConcurrency: intListFlag(v, 'concurrency', [1, 16, 64]),
    getConcurrency: intFlag(v, 'get-concurrency', 16),
    valueBytes: intFlag(v, 'value-bytes', 256, 0),
    keys: intFlag(v, 'keys', 10_000),
    trials: intFlag(v, 'trials', 5, 0),
    systems: choiceListFlag(v, 'systems', ALL_SYSTEMS, ALL_SYSTEMS),
    etcdBinary: optionalStringFlag(v, 'etcd') ?? DEFAULT_ETCD_BINARY,
    server: fake ? FAKE_SERVER : (explicitServer ?? TUG_SERVER),
    fake,
    outDir: optionalStringFlag(v, 'out') ?? DEFAULT_OUT_DIR,
    seed: intFlag(v, 'seed', 1, 0),
    maxMinutes: 0,
    help: booleanFlag(v, 'help'),
  };
  const maxMinutes = positiveNumberFlag(v, 'max-minutes', defaultMaxMinutes(options));
  return { ...options, maxMinutes };
}

/**
 * Phases times systems, plus a minute per failover trial and per system start (kill, election,
 * restart, catch-up), plus two minutes: generous, it only stops a hung run.
 */
export function defaultMaxMinutes(o: RaftBenchOptions): number {
  const phaseSeconds =
    o.putConcurrency.length * (o.putSeconds + o.warmupSeconds) + (o.getSeconds + o.warmupSeconds);
  return Math.ceil((o.systems.length * (phaseSeconds + 60 + o.trials * 60)) / 60) + 2;
}

export function resultBaseName(fake: boolean): string {
  return fake ? 'raft-fake' : 'raft';
}
