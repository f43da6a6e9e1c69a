// The raft benchmark's results: the JSON record written to bench/results/raft.json, the tug/etcd
// ratios derived from it, and the side-by-side table printed and written as Markdown. Pure.

import type { LoadResult } from '../lib/load.js';
import type { MachineInfo } from '../lib/machine.js';
import { median, ratio } from '../lib/stats.js';
import { formatNumber, formatTable, type TableStyle } from '../lib/table.js';
import type { FailoverTrial } from './failover.js';
import type { RaftBenchOptions, System } from './options.js';

export interface PhaseNumbers {
  readonly concurrency: number;
  readonly ops: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly maxMs: number;
  readonly windowMs: number;
  /** Gets only: requests that found their key. */
  readonly found?: number;
}

export interface FailoverNumbers {
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly trials: readonly FailoverTrial[];
}

export interface SystemNumbers {
  readonly puts: readonly PhaseNumbers[];
  readonly gets: PhaseNumbers | null;
  readonly failover: FailoverNumbers | null;
}

export type Ratios = Record<string, number | null>;

export interface RaftReport {
  readonly benchmark: 'raft';
  /** True when tug's column came from the fake server: a harness check, not a measurement. */
  readonly fake: boolean;
  readonly command: string;
  readonly machine: MachineInfo & { readonly etcd: string };
  readonly config: Omit<RaftBenchOptions, 'help' | 'maxMinutes'>;
  readonly systems: Partial<Record<System, SystemNumbers>>;
  /** tug / etcd. Throughput: above 1 means tug is faster. Failover: below 1 means tug is faster. */
  readonly ratios: Ratios;
}

/** The options as recorded: everything that shaped the numbers. */
export function reportConfig(o: RaftBenchOptions): RaftReport['config'] {
  return {
    putSeconds: o.putSeconds,
    getSeconds: o.getSeconds,
    warmupSeconds: o.warmupSeconds,
    putConcurrency: o.putConcurrency,
    getConcurrency: o.getConcurrency,
    valueBytes: o.valueBytes,
    keys: o.keys,
    trials: o.trials,
    systems: o.systems,
    etcdBinary: o.etcdBinary,
    server: o.server,
    fake: o.fake,
    outDir: o.outDir,
    seed: o.seed,
  };
}

export function phaseNumbers(r: LoadResult): PhaseNumbers {
  return {
    concurrency: r.concurrency,
    ops: r.ops,
    opsPerSec: r.opsPerSec,
    p50Ms: r.latencyMs.p50,
    p90Ms: r.latencyMs.p90,
    p99Ms: r.latencyMs.p99,
    meanMs: r.latencyMs.mean,
    maxMs: r.latencyMs.max,
    windowMs: r.windowMs,
    ...(r.op === 'get' ? { found: r.found } : {}),
  };
}

export function failoverNumbers(trials: readonly FailoverTrial[]): FailoverNumbers | null {
  if (trials.length === 0) return null;
  const ms = trials.map((t) => t.failoverMs);
  return { medianMs: median(ms), minMs: Math.min(...ms), maxMs: Math.max(...ms), trials };
}

/**
 * throughput_<c> for every put concurrency, get_throughput_<c>, p99_<c> and failover (medians).
 * A ratio is null when either side is missing.
 */
export function computeRatios(systems: Partial<Record<System, SystemNumbers>>): Ratios {
  const tug = systems.tug;
  const etcd = systems.etcd;
  const ratios: Ratios = {};
  const concurrencies = [...(tug?.puts ?? []), ...(etcd?.puts ?? [])].map((p) => p.concurrency);
  for (const c of [...new Set(concurrencies)]) {
    const t = tug?.puts.find((p) => p.concurrency === c);
    const e = etcd?.puts.find((p) => p.concurrency === c);
    ratios[`throughput_${c}`] = ratio(t?.opsPerSec, e?.opsPerSec);
    ratios[`p99_${c}`] = ratio(t?.p99Ms, e?.p99Ms);
  }
  const getC = tug?.gets?.concurrency ?? etcd?.gets?.concurrency;
  if (getC !== undefined)
    ratios[`get_throughput_${getC}`] = ratio(tug?.gets?.opsPerSec, etcd?.gets?.opsPerSec);
  ratios['failover'] = ratio(tug?.failover?.medianMs, etcd?.failover?.medianMs);
  return ratios;
}

type Row = [string, string, string, string];

function row(label: string, t: number | undefined, e: number | undefined, decimals: number): Row {
  const r = ratio(t, e);
  return [
    label,
    formatNumber(t, decimals),
    formatNumber(e, decimals),
    r === null ? '—' : `${r.toFixed(2)}×`,
  ];
}

export function reportTable(report: RaftReport, style: TableStyle = 'plain'): string {
  const tug = report.systems.tug;
  const etcd = report.systems.etcd;
  const rows: Row[] = [];
  const concurrencies = [
    ...new Set([...(tug?.puts ?? []), ...(etcd?.puts ?? [])].map((p) => p.concurrency)),
  ];
  for (const c of concurrencies) {
    const t = tug?.puts.find((p) => p.concurrency === c);
    const e = etcd?.puts.find((p) => p.concurrency === c);
    rows.push(row(`put ×${c} in flight: ops/s`, t?.opsPerSec, e?.opsPerSec, 0));
    rows.push(row(`put ×${c}: p50 ms`, t?.p50Ms, e?.p50Ms, 2));
    rows.push(row(`put ×${c}: p99 ms`, t?.p99Ms, e?.p99Ms, 2));
  }
  const tg = tug?.gets ?? undefined;
  const eg = etcd?.gets ?? undefined;
  if (tg !== undefined || eg !== undefined) {
    const c = tg?.concurrency ?? eg?.concurrency ?? 0;
    rows.push(row(`linearizable get ×${c}: ops/s`, tg?.opsPerSec, eg?.opsPerSec, 0));
    rows.push(row(`get ×${c}: p50 ms`, tg?.p50Ms, eg?.p50Ms, 2));
    rows.push(row(`get ×${c}: p99 ms`, tg?.p99Ms, eg?.p99Ms, 2));
  }
  const tf = tug?.failover ?? undefined;
  const ef = etcd?.failover ?? undefined;
  if (tf !== undefined || ef !== undefined) {
    const n = Math.max(tf?.trials.length ?? 0, ef?.trials.length ?? 0);
    rows.push(row(`leader failover: median ms (${n} trials)`, tf?.medianMs, ef?.medianMs, 0));
    rows.push(row('leader failover: min ms', tf?.minMs, ef?.minMs, 0));
    rows.push(row('leader failover: max ms', tf?.maxMs, ef?.maxMs, 0));
  }
  return formatTable(
    [
      { header: 'metric' },
      { header: report.fake ? 'tug (FAKE)' : 'tug', align: 'right' },
      { header: `etcd ${report.machine.etcd}`, align: 'right' },
      { header: 'tug/etcd', align: 'right' },
    ],
    rows,
    style,
  );
}

/** The table with a header saying what ran where; the FAKE warning cannot be missed. */
export function reportText(report: RaftReport, style: TableStyle = 'plain'): string {
  const m = report.machine;
  const lines = [
    `Raft: tug vs etcd — ${m.date}, ${m.nproc} CPUs (${m.cpuModel}), load ${m.loadAverage1m.toFixed(2)}, node ${m.node}, etcd ${m.etcd}`,
    `command: ${report.command}`,
    'ops/s: higher is better; latency and failover: lower is better.',
  ];
  if (report.fake) {
    lines.unshift(
      'FAKE: the tug column comes from bench/raft/fake-kv-server (no Raft, no disk). Harness check only; these are NOT tug numbers.',
    );
  }
  const header = style === 'markdown' ? lines.map((l) => `${l}  `).join('\n') : lines.join('\n');
  return `${header}\n\n${reportTable(report, style)}\n`;
}
