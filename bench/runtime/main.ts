// `npm run bench:runtime`: container start latency through tug against bare `runc run -d`, and
// apply / scale of real containers on one agent (docs/benchmarks.md). Needs root. Everything
// started is stopped, and every container, mount, cgroup and temp dir removed, on every exit path.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Cleanup } from '../lib/cleanup.js';
import { BenchTimeoutError, UsageError } from '../lib/errors.js';
import { runRuntimeBench } from './bench.js';
import { parseOptions, USAGE, type RuntimeBenchOptions } from './options.js';
import { summaryText } from './report.js';

export async function main(argv: readonly string[]): Promise<number> {
  let options: RuntimeBenchOptions;
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
    const record = await runRuntimeBench(options, {
      cleanup,
      signal: controller.signal,
      log: (line) => process.stderr.write(`[bench:runtime] ${line}\n`),
    });
    process.stdout.write(`${summaryText(record)}\n`);
    if (!options.dryRun) {
      await mkdir(options.outDir, { recursive: true });
      const out = join(options.outDir, 'runtime.json');
      await writeFile(out, `${JSON.stringify(record, null, 2)}\n`);
      process.stdout.write(`wrote ${out}\n`);
    }
  } catch (err) {
    const what = err instanceof BenchTimeoutError ? 'timed out' : 'failed';
    process.stderr.write(
      `bench:runtime ${what}: ${err instanceof Error ? err.message : String(err)}\n`,
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
