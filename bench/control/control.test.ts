import test from 'ava';

import type { Task, TaskState } from '../../common/model.js';
import { task } from '../../common/testing/model-fixtures.js';
import { UsageError } from '../lib/errors.js';
import { ControlMeasurement } from './measure.js';
import { agentProcesses, benchManifest, parseOptions, splitReplicas } from './options.js';
import { controlRecord, summaryText } from './report.js';

test('control options: defaults are the issue’s run, bad flags are usage errors', (t) => {
  const o = parseOptions([]);
  t.is(o.nodes, 1000);
  t.is(o.replicas, 10_000);
  t.is(o.managers, 3);
  t.is(o.timeoutMinutes, 5);
  t.is(parseOptions(['--nodes', '100', '--replicas', '1000']).nodes, 100);
  t.throws(() => parseOptions(['--nodes', '0']), { instanceOf: UsageError });
  t.throws(() => parseOptions(['--replicas', '5', '--services', '6']), { instanceOf: UsageError });
  t.throws(() => parseOptions(['--bogus']), { instanceOf: UsageError });
});

test('control options: replicas and agents are split without losing any', (t) => {
  t.deepEqual(splitReplicas(10, 3), [4, 3, 3]);
  t.deepEqual(agentProcesses(250, 100), [100, 100, 50]);
  t.deepEqual(agentProcesses(100, 100), [100]);
  const manifest = benchManifest([2, 1]);
  t.regex(
    manifest,
    /name: bench-1 }\n[\s\S]*replicas: 2\n---\n[\s\S]*name: bench-2 }[\s\S]*replicas: 1\n$/,
  );
});

const at = (id: string, state: TaskState, timestamp: number, createdAt = 1000): Task => ({
  ...task(id, { slot: 1, state, timestamp, createdAt }),
});
const update = (object: Task) => ({
  type: 'update' as const,
  kind: 'task' as const,
  version: 1,
  object,
});

test('control measure: times to all assigned and running, and per-task store latencies', (t) => {
  let now = 0;
  const m = new ControlMeasurement(2, () => now);
  now = 10;
  m.observe(update(at('a', 'new', 1000)));
  m.observe(update(at('b', 'new', 1000, 1010)));
  now = 20;
  m.observe(update(at('a', 'assigned', 1050)));
  m.observe(update(at('b', 'assigned', 1070, 1010)));
  t.false(m.done);
  now = 30;
  m.observe(update(at('a', 'running', 1200)));
  // A repeated running report counts once.
  m.observe(update(at('a', 'running', 1300)));
  t.false(m.done);
  now = 45;
  m.observe(update(at('b', 'running', 1400, 1010)));
  t.true(m.done);
  const r = m.result();
  t.is(r.allAssignedMs, 20);
  t.is(r.allRunningMs, 45);
  t.is(r.createToAssign?.max, 60);
  t.is(r.createToAssign?.p50, 50);
  t.is(r.createToRunning?.max, 390);
  t.is(r.firstCreatedAt, 1000);
  t.is(r.lastRunningAt, 1400);
  t.is(r.assignedUnseen, 0);
});

test('control measure: a task first seen past assigned counts but has no assignment latency', (t) => {
  const m = new ControlMeasurement(1, () => 0);
  m.observe(update(at('a', 'running', 1500)));
  const r = m.result();
  t.is(r.assigned, 1);
  t.is(r.assignedUnseen, 1);
  t.is(r.createToAssign, undefined);
  // Shut-down tasks are not the benchmark's.
  const m2 = new ControlMeasurement(1, () => 0);
  m2.observe(update({ ...at('x', 'assigned', 1), desiredState: 'shutdown' }));
  t.is(m2.result().tasks, 0);
});

test('control report: tasks/s from the time to all assigned, RSS the max, targets compared', (t) => {
  const m = new ControlMeasurement(1000, () => 0);
  const record = controlRecord({
    options: parseOptions(['--replicas', '1000']),
    machine: {
      nproc: 2,
      cpuModel: 'x',
      memoryMiB: 1,
      kernel: 'k',
      node: 'v20',
      loadAverage1m: 0,
      date: 'd',
    },
    measurement: { ...m.result(), allAssignedMs: 500, allRunningMs: 2000 },
    managerRssMiB: [100, 600, 90],
    setup: { managersReadyMs: 1, agentsReadyMs: 2, agentProcesses: 10 },
    applyCallMs: 5,
    applyStartEpochMs: 0,
    completed: true,
    violations: [],
  });
  t.is(record['tasks_per_second'], 2000);
  t.is(record['tasks_per_second_to_running'], 500);
  t.is(record['manager_rss_mib'], 600);
  t.deepEqual(record['meets_targets'], { tasks_per_second: true, manager_rss_mib: false });
  t.regex(summaryText(record), /tasks\/s \(to all assigned\):\s+2,000/);
});
