import test from 'ava';
import fc from 'fast-check';

import type { ServiceId, Task, TaskId, TaskState } from '../model.js';
import {
  checkHistory,
  ClusterHistory,
  ViolationCode,
  type HistoryEvent,
} from './cluster-invariants.js';
import { service, serviceSpec, task } from './model-fixtures.js';

const withStatus = (t: Task, state: TaskState, message = 'ok', version = 1): Task => ({
  ...t,
  meta: { ...t.meta, version },
  status: { ...t.status, state, message },
});
const ev = (type: HistoryEvent['type'], version: number, object: Task): HistoryEvent => ({
  type,
  kind: 'task',
  version,
  object: { ...object, meta: { ...object.meta, version } },
});
const svcEvent = (version: number, replicas: number): HistoryEvent => ({
  type: 'update',
  kind: 'service',
  version,
  object: service('svc', serviceSpec({ mode: { type: 'replicated', replicas } })),
});
const codes = (vs: readonly { code: string }[]): string[] => vs.map((v) => v.code);

test('cluster-invariants: a replacement in one transaction is not a duplicate, across two it is', (t) => {
  const old = withStatus(task('t1', { slot: 1 }), 'running');
  const next = withStatus(task('t2', { slot: 1 }), 'pending', 'no node yet');
  const shut = { ...old, desiredState: 'shutdown' as const };
  // Same version: the old one is shut down before anyone can see both.
  t.deepEqual(
    checkHistory([ev('create', 1, old), ev('create', 2, next), ev('update', 2, shut)]),
    [],
  );
  const bad = checkHistory([ev('create', 1, old), ev('create', 2, next), ev('update', 3, shut)]);
  t.deepEqual(codes(bad), [ViolationCode.DuplicateSlot]);
  t.deepEqual(bad[0]!.taskIds, ['t1', 't2']);
  t.is(bad[0]!.version, 2);
});

test('cluster-invariants: a terminal task still desired running does not hold its slot', (t) => {
  const failed = withStatus(task('t1', { slot: 1 }), 'failed');
  const next = withStatus(task('t2', { slot: 1 }), 'running');
  t.deepEqual(checkHistory([ev('create', 1, failed), ev('create', 2, next)]), []);
});

test('cluster-invariants: global tasks collide per node, not per service', (t) => {
  const a = withStatus(task('a', { nodeId: 'n1' }), 'running');
  const b = withStatus(task('b', { nodeId: 'n2' }), 'running');
  const c = withStatus(task('c', { nodeId: 'n1' }), 'assigned');
  t.deepEqual(checkHistory([ev('create', 1, a), ev('create', 2, b)]), []);
  t.deepEqual(codes(checkHistory([ev('create', 1, a), ev('create', 2, c)])), ['duplicate-slot']);
});

test('cluster-invariants: a pending task without a reason is reported with its id', (t) => {
  const v = checkHistory([ev('create', 1, withStatus(task('t9', { slot: 1 }), 'pending', ' '))]);
  t.deepEqual(codes(v), [ViolationCode.PendingWithoutReason]);
  t.deepEqual(v[0]!.taskIds, ['t9']);
});

test('cluster-invariants: an acknowledged write missing from the history is lost', (t) => {
  const a = withStatus(task('t1', { slot: 1 }), 'running');
  const events = [ev('create', 3, a), ev('update', 5, a)];
  t.deepEqual(
    checkHistory(events, {
      acknowledged: [
        { kind: 'task', id: 't1' as TaskId, version: 5, op: 'write' },
        // Beyond the history's end: not yet checkable, so not a violation.
        { kind: 'task', id: 't1' as TaskId, version: 9, op: 'write' },
      ],
    }),
    [],
  );
  const lost = checkHistory(events, {
    acknowledged: [{ kind: 'task', id: 't1' as TaskId, version: 4, op: 'write' }],
  });
  t.deepEqual(codes(lost), [ViolationCode.LostWrite]);
  t.deepEqual(lost[0]!.taskIds, ['t1']);
});

test('cluster-invariants: versions going backwards are reported', (t) => {
  const a = withStatus(task('t1', { slot: 1 }), 'running');
  t.deepEqual(codes(checkHistory([ev('create', 4, a), ev('update', 3, a)])), [
    ViolationCode.VersionRegressed,
  ]);
});

test('cluster-invariants: convergence counts running tasks desired running per service', (t) => {
  const run = (id: string, slot: number): Task => withStatus(task(id, { slot }), 'running');
  const events = [svcEvent(1, 2), ev('create', 2, run('a', 1)), ev('create', 3, run('b', 2))];
  t.deepEqual(checkHistory(events, { converged: true }), []);
  const over = checkHistory([...events, svcEvent(4, 1)], { converged: true });
  t.deepEqual(codes(over), [ViolationCode.NotConverged]);
  t.regex(over[0]!.message, /2 running, 1 desired/);
  const h = new ClusterHistory();
  for (const e of events) h.observe(e);
  t.is(h.runningCount('svc' as ServiceId), 2);
});

test('cluster-invariants: initial objects count as already stored', (t) => {
  const a = withStatus(task('a', { slot: 1 }), 'running');
  const b = withStatus(task('b', { slot: 1 }), 'pending', 'waiting');
  const v = checkHistory([ev('create', 8, b)], {
    initial: { version: 7, objects: [{ kind: 'task', object: a }] },
  });
  t.deepEqual(codes(v), [ViolationCode.DuplicateSlot]);
});

// A model of a correct orchestrator: per slot, retire the current task and create its successor in
// one transaction; agents move tasks forward. Its histories must never be flagged — and the same
// history with one retirement moved into a later transaction must be.
test('cluster-invariants: correct generated histories pass, a delayed shutdown is caught', (t) => {
  const step = fc.record({
    slot: fc.integer({ min: 1, max: 4 }),
    action: fc.constantFrom('replace', 'advance', 'fail'),
  });
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), fc.nat(), (steps, pick) => {
      const current = new Map<number, Task>();
      const txns: HistoryEvent[][] = [];
      let n = 0;
      const newTask = (slot: number): Task =>
        withStatus(task(`t${++n}`, { slot }), 'pending', 'waiting for a node');
      for (const s of steps) {
        const cur = current.get(s.slot);
        const version = txns.length + 1;
        if (cur === undefined || s.action === 'replace') {
          const next = newTask(s.slot);
          const txn: HistoryEvent[] = [ev('create', version, next)];
          if (cur !== undefined) {
            txn.push(ev('update', version, { ...cur, desiredState: 'shutdown' }));
          }
          current.set(s.slot, next);
          txns.push(txn);
        } else {
          const state = s.action === 'fail' ? 'failed' : 'running';
          const moved = withStatus(cur, state);
          current.set(s.slot, moved);
          txns.push([ev('update', version, moved)]);
        }
      }
      if (checkHistory(txns.flat()).length !== 0) return false;
      // Split one replacement of a still-live task into two transactions: now a duplicate shows.
      const splittable = txns
        .map((txn, i) => ({ txn, i }))
        .filter(
          ({ txn }) => txn.length === 2 && (txn[1]!.object as Task).status.state !== 'failed',
        );
      if (splittable.length === 0) return true;
      const { i } = splittable[pick % splittable.length]!;
      const broken = txns.flatMap((txn, j) =>
        j === i ? [txn[0]!, { ...txn[1]!, version: txn[1]!.version + 0.5 }] : txn,
      );
      return codes(checkHistory(broken)).includes(ViolationCode.DuplicateSlot);
    }),
  );
  t.pass();
});

const startFirst = (order: 'start-first' | 'stop-first', specVersion: number): HistoryEvent => ({
  type: 'update',
  kind: 'service',
  version: 1,
  object: service(
    'svc',
    serviceSpec({
      update: { parallelism: 1, delayMs: 0, order },
      mode: { type: 'replicated', replicas: 1 },
    }),
    specVersion,
  ),
});

test('cluster-invariants: a start-first replacement may share its slot with the old task, once', (t) => {
  const old = withStatus(task('t1', { slot: 1, specVersion: 1 }), 'running');
  const next = withStatus(task('t2', { slot: 1, specVersion: 2 }), 'pending', 'no node yet');
  const third = withStatus(task('t3', { slot: 1, specVersion: 2 }), 'pending', 'no node yet');
  const shut = { ...old, desiredState: 'shutdown' as const };
  const replaced = [ev('create', 2, old), ev('create', 3, next), ev('update', 4, shut)];
  t.deepEqual(checkHistory([startFirst('start-first', 2), ...replaced]), []);
  // Stop-first: the same history is a duplicate.
  t.deepEqual(codes(checkHistory([startFirst('stop-first', 2), ...replaced])), [
    ViolationCode.DuplicateSlot,
  ]);
  // Start-first, but two of one spec version, or three in the slot: duplicates.
  const sameVersion = checkHistory([
    startFirst('start-first', 2),
    ev('create', 2, next),
    ev('create', 3, third),
  ]);
  t.deepEqual(codes(sameVersion), [ViolationCode.DuplicateSlot]);
  const three = checkHistory([
    startFirst('start-first', 2),
    ev('create', 2, old),
    ev('create', 3, next),
    ev('create', 4, withStatus(task('t4', { slot: 1, specVersion: 3 }), 'pending', 'no node')),
  ]);
  t.deepEqual(codes(three), [ViolationCode.DuplicateSlot]);
});

test('cluster-invariants: a watch resumed before the current version replays nothing twice', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }), {
        minLength: 1,
        maxLength: 20,
      }),
      fc.nat(),
      (txns, cut) => {
        // Each transaction moves some slots' tasks: the current task shut down, a successor created.
        const current = new Map<number, Task>();
        let n = 0;
        const events: HistoryEvent[] = [];
        txns.forEach((slots, i) => {
          const version = i + 1;
          for (const slot of new Set(slots)) {
            const prev = current.get(slot);
            const next = withStatus(task(`t${++n}`, { slot }), 'running');
            events.push(ev('create', version, next));
            if (prev !== undefined) {
              events.push(ev('update', version, { ...prev, desiredState: 'shutdown' }));
            }
            current.set(slot, next);
          }
        });
        const straight = new ClusterHistory();
        for (const e of events) straight.observe(e);
        // A stream cut after `at` events, resumed on another manager from `resumeFrom`.
        const at = cut % (events.length + 1);
        const resumed = new ClusterHistory();
        for (const e of events.slice(0, at)) resumed.observe(e);
        const from = resumed.resumeFrom;
        for (const e of events.filter((x) => x.version > from)) resumed.observe(e);
        return (
          resumed.eventCount === straight.eventCount &&
          resumed.violations().length === 0 &&
          straight.violations().length === 0 &&
          [...resumed.tasks.keys()].sort().join() === [...straight.tasks.keys()].sort().join() &&
          resumed.version === straight.version
        );
      },
    ),
  );
  const h = new ClusterHistory();
  const a = withStatus(task('a', { slot: 1 }), 'running');
  h.observe(ev('create', 3, a));
  h.observe(ev('create', 3, a));
  t.is(h.eventCount, 1);
  t.is(h.replayedCount, 1);
  t.is(h.resumeFrom, 2);
});
