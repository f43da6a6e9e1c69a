import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';

import test from 'ava';

import { cgroupDirs, detectCgroups } from '../../agent/linux/cgroups.js';
import { Cleanup } from '../lib/cleanup.js';
import { UsageError } from '../lib/errors.js';
import { runRuntimeBench } from './bench.js';
import { parseOptions, serviceManifest } from './options.js';
import { runtimeRecord, summaryText, type TugStart } from './report.js';

test('runtime options: defaults are the issue’s run, bad flags are usage errors', (t) => {
  const o = parseOptions([]);
  t.is(o.samples, 20);
  t.deepEqual(o.apply, [1, 10, 50]);
  t.is(o.scaleFrom, 50);
  t.is(o.scaleTo, 100);
  t.is(o.parallelStarts, undefined);
  t.is(parseOptions(['--parallel-starts', '8']).parallelStarts, 8);
  t.throws(() => parseOptions(['--samples', '0']), { instanceOf: UsageError });
  t.throws(() => parseOptions(['--scale-from', '5', '--scale-to', '5']), {
    instanceOf: UsageError,
  });
  t.throws(() => parseOptions(['--apply', '1,x']), { instanceOf: UsageError });
  t.throws(() => parseOptions(['--bogus']), { instanceOf: UsageError });
  t.regex(serviceManifest('a', 'h:1/busybox:latest', 3), /name: a }[\s\S]*replicas: 3\n/);
});

const start = (runningMs: number): TugStart => ({
  dirsMs: 1,
  pulledMs: 3,
  mountedMs: 4,
  specifiedMs: 6,
  createdMs: runningMs - 10,
  runningMs,
});

test('runtime report: the start overhead is tug p50 over bare p50, compared with 1.5', (t) => {
  const facts = {
    options: parseOptions([]),
    machine: {
      nproc: 2,
      cpuModel: 'x',
      memoryMiB: 1,
      kernel: 'k',
      node: 'v20',
      loadAverage1m: 0,
      date: 'd',
    },
    loadAverage: { start: [1, 2, 3], end: [1.234, 2, 3] },
    bare: [
      { runMs: 40, mountMs: 5 },
      { runMs: 60, mountMs: 5 },
    ],
    applyMs: new Map([
      [1, 300],
      [10, 1200],
    ]),
    scaleMs: 5000,
    versions: {},
  };
  const ok = runtimeRecord({ ...facts, tug: [start(60), start(80)], pinned: [start(50)] });
  t.deepEqual(ok['ratios'], {
    start_overhead: 1.5,
    start_overhead_digest_pinned: 1.25,
    start_overhead_p90: 1.33,
  });
  t.deepEqual(ok['meets_targets'], { start_overhead: true });
  t.deepEqual(ok['apply_to_all_running_ms'], { '1': 300, '10': 1200 });
  t.deepEqual((ok['load_average'] as { end: number[] }).end, [1.23, 2, 3]);
  t.regex(summaryText(ok), /start overhead \(tug\/bare, p50\): 1\.5 /);
  const slow = runtimeRecord({ ...facts, tug: [start(100), start(140)], pinned: [] });
  t.is((slow['ratios'] as { start_overhead: number }).start_overhead, 2.5);
  t.deepEqual(slow['meets_targets'], { start_overhead: false });
  // No samples: no ratio is invented.
  const none = runtimeRecord({ ...facts, tug: [], pinned: [] });
  t.is((none['ratios'] as { start_overhead: number | null }).start_overhead, null);
});

test('runtime bench: a tiny run end to end measures everything and leaves nothing', async (t) => {
  const before = new Set(
    (await readdir(tmpdir())).filter((d) => d.startsWith('tug-bench-runtime-')),
  );
  const cleanup = new Cleanup();
  let record: Record<string, unknown>;
  try {
    record = await runRuntimeBench(
      parseOptions([
        '--samples',
        '2',
        '--apply',
        '1,2',
        '--scale-from',
        '1',
        '--scale-to',
        '2',
        '--dry-run',
        '--timeout-minutes',
        '1',
      ]),
      {
        cleanup,
        signal: new AbortController().signal,
        log: (l) => {
          t.log(l);
        },
      },
    );
  } finally {
    t.deepEqual(await cleanup.run(), []);
  }
  const s = record['start_latency_ms'] as Record<string, { count: number; p50: number } | null>;
  t.is(s['tug']?.count, 2);
  t.is(s['bare_runc_run_d']?.count, 2);
  t.is(s['tug_digest_pinned']?.count, 2);
  // Applied by tag, the service's tasks ran the image the manager pinned.
  t.regex(
    (record['start_latency_ms'] as { tug_image_stored_as: string }).tug_image_stored_as,
    /\/busybox:latest@sha256:[a-f0-9]{64}$/,
  );
  t.true((s['tug']?.p50 ?? 0) > 0);
  t.is(typeof (record['ratios'] as { start_overhead: unknown }).start_overhead, 'number');
  t.deepEqual(Object.keys(record['apply_to_all_running_ms'] as object), ['1', '2']);
  t.is(typeof (record['scale'] as { to_all_running_ms: unknown }).to_all_running_ms, 'number');
  // Nothing left: temp dirs, mounts, the bare containers' cgroups.
  const after = (await readdir(tmpdir())).filter((d) => d.startsWith('tug-bench-runtime-'));
  t.deepEqual(
    after.filter((d) => !before.has(d)),
    [],
  );
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  t.false(mounts.includes('tug-bench-runtime-'));
  for (const d of cgroupDirs(await detectCgroups(), '/tug/bench-bare')) t.false(existsSync(d), d);
});
