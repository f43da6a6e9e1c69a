import test from 'ava';

import type { MachineInfo } from '../lib/machine.js';
import { parseOptions } from './options.js';
import {
  computeRatios,
  failoverNumbers,
  reportTable,
  reportText,
  reportConfig,
  type PhaseNumbers,
  type RaftReport,
  type SystemNumbers,
} from './report.js';

const phase = (concurrency: number, opsPerSec: number, p99Ms = 10): PhaseNumbers => ({
  concurrency,
  ops: opsPerSec * 10,
  opsPerSec,
  p50Ms: p99Ms / 2,
  p90Ms: p99Ms * 0.9,
  p99Ms,
  meanMs: p99Ms / 2,
  maxMs: p99Ms * 2,
  windowMs: 10_000,
});

const trial = (failoverMs: number) => ({
  killed: 'x-1',
  failoverMs,
  failedAttempts: 1,
  newLeader: 'x-2',
  recoveryMs: 500,
});

const etcd: SystemNumbers = {
  puts: [phase(1, 200), phase(64, 1000, 40)],
  gets: phase(16, 900),
  failover: failoverNumbers([trial(1200), trial(1400), trial(1300)]),
};
const tug: SystemNumbers = {
  puts: [phase(1, 100), phase(64, 1500, 20)],
  gets: phase(16, 450),
  failover: failoverNumbers([trial(600), trial(700)]),
};

const machine: MachineInfo & { etcd: string } = {
  nproc: 2,
  cpuModel: 'cpu',
  memoryMiB: 1024,
  kernel: '6.1',
  node: 'v20.20.2',
  loadAverage1m: 0.5,
  date: '2026-01-01T00:00:00.000Z',
  etcd: '3.4.23',
};

const report = (systems: RaftReport['systems'], fake = false): RaftReport => {
  const config = reportConfig(parseOptions([]));
  return {
    benchmark: 'raft',
    fake,
    command: 'node build/bench/raft/main.js',
    machine,
    config,
    systems,
    ratios: computeRatios(systems),
  };
};

test('report: ratios are tug over etcd for throughput, p99 and failover medians', (t) => {
  const r = computeRatios({ etcd, tug });
  t.is(r['throughput_1'], 0.5);
  t.is(r['throughput_64'], 1.5);
  t.is(r['p99_64'], 0.5);
  t.is(r['get_throughput_16'], 0.5);
  t.is(r['failover'], 650 / 1300);
});

test('report: a missing system gives null ratios, not invented ones', (t) => {
  const r = computeRatios({ etcd });
  t.is(r['throughput_64'], null);
  t.is(r['failover'], null);
});

test('report: failover numbers summarise the trials; no trials, no numbers', (t) => {
  t.deepEqual(
    (({ medianMs, minMs, maxMs }) => ({ medianMs, minMs, maxMs }))(
      failoverNumbers([trial(3), trial(1), trial(2)])!,
    ),
    { medianMs: 2, minMs: 1, maxMs: 3 },
  );
  t.is(failoverNumbers([]), null);
});

test('report: the table puts tug and etcd side by side with the ratio', (t) => {
  const table = reportTable(report({ etcd, tug }));
  t.regex(table, /^metric\s+tug\s+etcd 3\.4\.23\s+tug\/etcd$/m);
  t.regex(table, /^put ×64 in flight: ops\/s\s+1,500\s+1,000\s+1\.50×$/m);
  t.regex(table, /^leader failover: median ms \(3 trials\)\s+650\s+1,300\s+0\.50×$/m);
  t.regex(table, /^linearizable get ×16: ops\/s\s+450\s+900\s+0\.50×$/m);
  // A concurrency only one side ran shows a dash, not a number.
  const partial = reportTable(
    report({ etcd: { ...etcd, puts: [...etcd.puts, phase(16, 700)] }, tug }),
  );
  t.regex(partial, /^put ×16 in flight: ops\/s\s+—\s+700\s+—$/m);
});

test('report: a fake run is labelled FAKE in the header and the tug column', (t) => {
  const text = reportText(report({ etcd, tug }, true));
  t.regex(text, /^FAKE: .*NOT tug numbers/);
  t.regex(text, /tug \(FAKE\)/);
  t.notRegex(reportText(report({ etcd, tug })), /FAKE/);
});
