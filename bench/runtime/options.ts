// The runtime benchmark's command line: flags, defaults and validation. Pure, so the test can
// check every rejection without starting anything.

import { fileURLToPath } from 'node:url';

import { UsageError } from '../lib/errors.js';
import {
  booleanFlag,
  intFlag,
  intListFlag,
  optionalStringFlag,
  parseFlags,
  positiveNumberFlag,
} from '../lib/flags.js';

/** bench/results of the repository (this module is build/bench/runtime/options.js). */
export const DEFAULT_OUT_DIR = fileURLToPath(new URL('../../../bench/results', import.meta.url));

export interface RuntimeBenchOptions {
  /** Start-latency samples of each kind (tug, bare runc), interleaved. */
  readonly samples: number;
  /** Replica counts applied one after another, each from nothing to all running. */
  readonly apply: readonly number[];
  /** Scale a service from `scaleFrom` (all running) to `scaleTo` and time it. */
  readonly scaleFrom: number;
  readonly scaleTo: number;
  /** The agent's parallel prepare/start slots (its --parallel-starts). */
  readonly parallelStarts: number | undefined;
  readonly timeoutMinutes: number;
  readonly outDir: string;
  /** Write nothing (the test's tiny run). */
  readonly dryRun: boolean;
  readonly help: boolean;
}

export const USAGE = `usage: node build/bench/runtime/main.js [flags]   (or: npm run bench:runtime -- [flags])

Needs root, runc, conmon, docker-registry, umoci and skopeo. Starts a registry holding the
busybox test image, one tug manager and one real agent in this process, then measures:
  - per-container start latency through tug (assignment received by the agent → running
    reported), image already pulled, against bare \`runc run -d\` of an equivalent bundle (same
    overlay rootfs, same generated config.json), interleaved, --samples of each;
  - \`apply\` of each --apply replica count on the one agent until all running;
  - scale --scale-from → --scale-to until all running.
Writes <out>/runtime.json and prints a summary.

  --samples <n>             start-latency samples of each kind     (default 20)
  --apply <n,n,…>           replica counts applied                 (default 1,10,50)
  --scale-from <n>          scale from (all running) …             (default 50)
  --scale-to <n>            … to                                   (default 100)
  --parallel-starts <n>     the agent's parallel starts            (default: the agent's)
  --timeout-minutes <n>     bound on the whole run                 (default 10)
  --out <dir>               where runtime.json goes                (default bench/results)
  --dry-run                 measure, print, write nothing
  --help`;

const SPEC = {
  samples: { type: 'string' },
  apply: { type: 'string' },
  'scale-from': { type: 'string' },
  'scale-to': { type: 'string' },
  'parallel-starts': { type: 'string' },
  'timeout-minutes': { type: 'string' },
  out: { type: 'string' },
  'dry-run': { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

export function parseOptions(argv: readonly string[]): RuntimeBenchOptions {
  const v = parseFlags(argv, SPEC);
  const scaleFrom = intFlag(v, 'scale-from', 50);
  const scaleTo = intFlag(v, 'scale-to', 100);
  if (scaleTo <= scaleFrom)
    throw new UsageError(`--scale-to (${scaleTo}) must exceed --scale-from (${scaleFrom})`);
  return {
    samples: intFlag(v, 'samples', 20),
    apply: intListFlag(v, 'apply', [1, 10, 50]),
    scaleFrom,
    scaleTo,
    parallelStarts:
      v['parallel-starts'] === undefined ? undefined : intFlag(v, 'parallel-starts', 4),
    timeoutMinutes: positiveNumberFlag(v, 'timeout-minutes', 10),
    outDir: optionalStringFlag(v, 'out') ?? DEFAULT_OUT_DIR,
    dryRun: booleanFlag(v, 'dry-run'),
    help: booleanFlag(v, 'help'),
  };
}

/** One replicated service running `sleep` in the busybox test image. */
export function serviceManifest(name: string, image: string, replicas: number): string {
  return `apiVersion: tug/v1
kind: Service
metadata: { name: ${name} }
spec:
  image: ${JSON.stringify(image)}
  command: [sleep, "3600"]
  replicas: ${replicas}
  stopGracePeriod: 1s
`;
}
