// The runtime benchmark's record (bench/results/runtime.json) and its one-screen summary. Pure:
// every number comes in measured; this module names, rounds, summarises and compares with the
// target (start overhead ≤ 1.5× bare runc per container).

import type { MachineInfo } from '../lib/machine.js';
import { median, ratio, summarize, type Summary } from '../lib/stats.js';
import type { RuntimeBenchOptions } from './options.js';

export const TARGET_START_OVERHEAD = 1.5;

/** One tug start: the agent's timing marks relative to `received` (ms). */
export interface TugStart {
  readonly dirsMs: number;
  readonly pulledMs: number;
  readonly mountedMs: number;
  readonly specifiedMs: number;
  readonly createdMs: number;
  readonly runningMs: number;
}

export interface RuntimeRunFacts {
  readonly options: RuntimeBenchOptions;
  readonly machine: MachineInfo;
  /** os.loadavg() at the start and at the end of the run. */
  readonly loadAverage: { readonly start: readonly number[]; readonly end: readonly number[] };
  /** Applied by tag; the manager pins the digest on create (docs/controlapi.md). */
  readonly tug: readonly TugStart[];
  /** The image the tug series' tasks named, as the manager stored it (`…:latest@sha256:…`). */
  readonly tagStoredAs?: string | undefined;
  /** The same, image pinned by digest in the manifest itself. */
  readonly pinned: readonly TugStart[];
  readonly bare: readonly { readonly runMs: number; readonly mountMs: number }[];
  /** Replicas → ms from the Apply call to all running. */
  readonly applyMs: ReadonlyMap<number, number>;
  /** Scale call → all running. */
  readonly scaleMs: number | undefined;
  readonly versions: Readonly<Record<string, string>>;
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;
const ms = (s: Summary): Record<string, number> => ({
  count: s.count,
  min: round(s.min),
  p50: round(s.p50),
  p90: round(s.p90),
  mean: round(s.mean),
  max: round(s.max),
});
const medianOf = (xs: readonly number[]): number | null =>
  xs.length === 0 ? null : round(median(xs));

export function runtimeRecord(f: RuntimeRunFacts): Record<string, unknown> {
  const tug = f.tug.map((s) => s.runningMs);
  const bare = f.bare.map((s) => s.runMs);
  const tugS = tug.length === 0 ? undefined : summarize(tug);
  const bareS = bare.length === 0 ? undefined : summarize(bare);
  const pinnedS = f.pinned.length === 0 ? undefined : summarize(f.pinned.map((s) => s.runningMs));
  const pinnedOverhead = ratio(pinnedS?.p50, bareS?.p50);
  const overhead = ratio(tugS?.p50, bareS?.p50);
  const o = f.options;
  return {
    benchmark: 'runtime',
    command: `node build/bench/runtime/main.js --samples ${o.samples} --apply ${o.apply.join(',')} --scale-from ${o.scaleFrom} --scale-to ${o.scaleTo}`,
    machine: f.machine,
    load_average: {
      start: f.loadAverage.start.map((x) => round(x, 2)),
      end: f.loadAverage.end.map((x) => round(x, 2)),
    },
    versions: f.versions,
    // Per container, image already pulled. tug: a service applied by tag, which the manager
    // stores digest-pinned (so no tag check per start); the agent's assignment received → running
    // reported (pull check, spec, conmon + runc create, runc mounting the overlay, start).
    // bare: the `runc run -d` process alone, bundle and mount prepared before it.
    start_latency_ms: {
      tug: tugS === undefined ? null : ms(tugS),
      tug_digest_pinned: pinnedS === undefined ? null : ms(pinnedS),
      // The `tug` series' image as the manager stored it: applied by tag, stored pinned.
      tug_image_stored_as: f.tagStoredAs ?? null,
      bare_runc_run_d: bareS === undefined ? null : ms(bareS),
      bare_overlay_mount: f.bare.length === 0 ? null : ms(summarize(f.bare.map((s) => s.mountMs))),
      // Medians of each step of tug's start (ms, from the previous mark).
      tug_steps_p50: {
        dirs_and_intent: medianOf(f.tug.map((s) => s.dirsMs)),
        // From `dirs`, at once: the image check (local for a pinned image; the registry's tag
        // check for an unpinned one), and mount → spec → create from the local copy; `created` is
        // when both are done. `mount` is ≈ 0 when runc mounts the rootfs (the default): it is
        // then part of the create.
        pull_check: medianOf(f.tug.map((s) => s.pulledMs - s.dirsMs)),
        mount: medianOf(f.tug.map((s) => s.mountedMs - s.dirsMs)),
        spec: medianOf(f.tug.map((s) => s.specifiedMs - s.mountedMs)),
        create_or_pull_check: medianOf(f.tug.map((s) => s.createdMs - s.specifiedMs)),
        start_and_report: medianOf(f.tug.map((s) => s.runningMs - s.createdMs)),
      },
    },
    ratios: {
      // tug p50 / bare p50, measured interleaved in this run; the target is ≤ 1.5.
      start_overhead: overhead === null ? null : round(overhead, 2),
      // The same with the image pinned by digest in the manifest (now the same path as `tug`).
      start_overhead_digest_pinned: pinnedOverhead === null ? null : round(pinnedOverhead, 2),
      start_overhead_p90: (() => {
        const r = ratio(tugS?.p90, bareS?.p90);
        return r === null ? null : round(r, 2);
      })(),
    },
    meets_targets: { start_overhead: overhead === null ? null : overhead <= TARGET_START_OVERHEAD },
    // Apply call → every replica running on the one agent.
    apply_to_all_running_ms: Object.fromEntries(
      [...f.applyMs].map(([n, v]) => [String(n), round(v)]),
    ),
    scale: {
      from: o.scaleFrom,
      to: o.scaleTo,
      to_all_running_ms: f.scaleMs === undefined ? null : round(f.scaleMs),
    },
    reference_not_measured_here: {
      note: 'Docker Swarm, measured earlier on a similar contended box (DESIGN.md Pitfalls); not run side by side: no Docker engine here',
      swarm_apply_to_all_running_ms: { '10': 2100, '50': 18_600 },
      swarm_scale_50_to_100_ms: 16_500,
      docker_run_d_ms: 310,
    },
  };
}

const fmt = (x: unknown): string => (typeof x === 'number' ? x.toLocaleString('en-US') : String(x));

export function summaryText(r: Record<string, unknown>): string {
  const s = r['start_latency_ms'] as Record<string, Record<string, number> | null>;
  const ratios = r['ratios'] as Record<string, number | null>;
  const apply = r['apply_to_all_running_ms'] as Record<string, number>;
  const scale = r['scale'] as { from: number; to: number; to_all_running_ms: number | null };
  const lines = [
    `start latency p50/p90 (ms): tug ${fmt(s['tug']?.['p50'])}/${fmt(s['tug']?.['p90'])}, bare runc run -d ${fmt(s['bare_runc_run_d']?.['p50'])}/${fmt(s['bare_runc_run_d']?.['p90'])}`,
    `digest-pinned image p50/p90 (ms): ${fmt(s['tug_digest_pinned']?.['p50'])}/${fmt(s['tug_digest_pinned']?.['p90'])} (overhead ${fmt(ratios['start_overhead_digest_pinned'])})`,
    `tug steps p50 (ms): ${JSON.stringify(s['tug_steps_p50'])}`,
    `start overhead (tug/bare, p50): ${fmt(ratios['start_overhead'])} (target ≤ ${TARGET_START_OVERHEAD})`,
    ...Object.entries(apply).map(([n, v]) => `apply ${n} → all running: ${fmt(v)} ms`),
    `scale ${scale.from} → ${scale.to}: ${fmt(scale.to_all_running_ms)} ms`,
    `load average start/end: ${JSON.stringify(r['load_average'])}`,
  ];
  return lines.join('\n');
}
