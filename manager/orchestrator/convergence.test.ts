// Simulated rounds of reconcile → commit → agents act → clock moves, checking the slot invariants
// after every step and convergence at the end. Randomness is a seeded PRNG that fast-check drives,
// so a failure shrinks to a seed and replays.
import test from 'ava';
import fc from 'fast-check';
import type {
  NodeId,
  RestartPolicy,
  Service,
  Task,
  TaskId,
  TaskState,
} from '../../common/model.js';
import { isTerminal } from '../../common/model.js';
import { service, serviceSpec } from '../../common/testing/model-fixtures.js';
import type { Action, ReconcileDeps } from './actions.js';
import { reconcileReplicated } from './replicated.js';
import { countedRestarts } from './restart.js';
import { endedOnItsOwn, isLive, wantsRun } from './task-facts.js';

const prng = (seed: number) => {
  let a = seed >>> 0;
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
};

class World {
  tasks: Task[] = [];
  now = 1_000;
  private index = 0;
  private ids = 0;
  readonly deps: ReconcileDeps = { newId: () => `t${++this.ids}` as TaskId };
  readonly created: { task: Task; reason: string }[] = [];

  apply(actions: readonly Action[]): void {
    for (const a of actions) {
      if (a.type === 'create-task') {
        // The store stamps the Raft index as the version.
        const task = { ...a.task, meta: { ...a.task.meta, version: ++this.index } };
        this.tasks.push(task);
        this.created.push({ task, reason: a.reason });
      } else if (a.type === 'shutdown-task') {
        this.update(a.taskId, (t) => {
          if (!isLive(t)) throw new Error(`shutdown of terminal task ${t.meta.id}`);
          const down = { ...t, desiredState: 'shutdown' as const };
          return a.markShutdown ? this.withState(down, 'shutdown') : down;
        });
      }
    }
  }

  withState(t: Task, state: TaskState, exitCode?: number): Task {
    return {
      ...t,
      ...(state === 'assigned' ? { nodeId: 'n1' as NodeId } : {}),
      meta: { ...t.meta, version: ++this.index, updatedAt: this.now },
      status: {
        state,
        timestamp: this.now,
        message: '',
        ...(exitCode === undefined ? {} : { exitCode }),
      },
    };
  }

  update(id: TaskId, f: (t: Task) => Task): void {
    const i = this.tasks.findIndex((t) => t.meta.id === id);
    if (i < 0) throw new Error(`no task ${id}`);
    this.tasks[i] = f(this.tasks[i]!);
  }

  /** Agents and scheduler move tasks forward; with chaos, running ones end on their own. */
  step(rand: () => number, chaos: boolean, failingVersion?: number): void {
    const next: Record<string, TaskState> = {
      new: 'pending',
      pending: 'assigned',
      assigned: 'running',
    };
    this.tasks = this.tasks.map((t) => {
      if (!isLive(t)) return t;
      if (!wantsRun(t)) return rand() < 0.5 ? this.withState(t, 'shutdown') : t;
      const r = rand();
      if (chaos && r < 0.08) {
        const end = (['failed', 'complete', 'shutdown', 'orphaned', 'rejected'] as const)[
          Math.floor(rand() * 5)
        ]!;
        return this.withState(t, end, end === 'failed' ? 1 : end === 'complete' ? 0 : undefined);
      }
      const to = next[t.status.state];
      if (to === 'running' && t.specVersion === failingVersion && r < 0.6) {
        return this.withState(t, 'failed', 1);
      }
      return to !== undefined && r < 0.6 ? this.withState(t, to) : t;
    });
  }
}

/** Stop-first: per slot at most one task that is not terminal (so at most one desired running). */
const slotViolation = (tasks: readonly Task[]): string | undefined => {
  const live = new Map<number, number>();
  for (const t of tasks) {
    if (!isLive(t) || t.slot === undefined) continue;
    const n = (live.get(t.slot) ?? 0) + 1;
    if (n > 1) return `slot ${t.slot} has ${n} live tasks`;
    live.set(t.slot, n);
  }
  return undefined;
};

/**
 * The update order's bound, checked after every commit: stop-first, at most `replicas` tasks
 * desired running and one per slot; start-first, at most `replicas + parallelism` (parallelism 0:
 * twice replicas), at most two per slot and never two of the same spec version.
 */
const desiredViolation = (s: Service, tasks: readonly Task[]): string | undefined => {
  const n = s.spec.mode.type === 'replicated' ? s.spec.mode.replicas : 0;
  const { order, parallelism } = s.spec.update;
  const wanted = tasks.filter((t) => isLive(t) && wantsRun(t));
  const bound = order === 'stop-first' ? n : n + (parallelism === 0 ? n : parallelism);
  if (wanted.length > bound) return `${wanted.length} desired running, bound ${bound}`;
  const perSlot = new Map<number, Task[]>();
  for (const t of wanted) perSlot.set(t.slot ?? -1, [...(perSlot.get(t.slot ?? -1) ?? []), t]);
  for (const [slot, list] of perSlot) {
    if (list.length > (order === 'stop-first' ? 1 : 2)) return `slot ${slot}: ${list.length}`;
    if (new Set(list.map((t) => t.specVersion)).size < list.length)
      return `slot ${slot}: two desired-running tasks of one spec version`;
  }
  return undefined;
};

/**
 * Start-first: a running task of a kept slot is stopped only while the slot has another running
 * task that stays (its replacement; or, when the spec changed again mid-replacement, the newer of
 * two outdated tasks).
 */
const startFirstViolation = (
  s: Service,
  before: readonly Task[],
  actions: readonly Action[],
): string | undefined => {
  const n = s.spec.mode.type === 'replicated' ? s.spec.mode.replicas : 0;
  const stopped = new Set(actions.flatMap((a) => (a.type === 'shutdown-task' ? [a.taskId] : [])));
  for (const t of before) {
    if (!stopped.has(t.meta.id) || t.status.state !== 'running' || !wantsRun(t)) continue;
    if (t.slot === undefined || t.slot > n) continue;
    const replacement = before.some(
      (x) =>
        x.slot === t.slot &&
        x !== t &&
        x.status.state === 'running' &&
        wantsRun(x) &&
        !stopped.has(x.meta.id),
    );
    if (!replacement)
      return `running ${t.meta.id} in slot ${t.slot} stopped before a replacement ran`;
  }
  return undefined;
};

/** Applies the update-status actions to the service, as the shell writes them. */
const withStatus = (s: Service, actions: readonly Action[]): Service => {
  let out = s;
  for (const a of actions) if (a.type === 'update-status') out = { ...out, updateStatus: a.status };
  return out;
};

const converged = (s: Service, tasks: readonly Task[]): boolean => {
  const n = s.spec.mode.type === 'replicated' ? s.spec.mode.replicas : 0;
  const live = tasks.filter(isLive);
  const slots = new Set(live.map((t) => t.slot));
  return (
    live.length === n &&
    slots.size === n &&
    live.every(
      (t) =>
        wantsRun(t) &&
        t.status.state === 'running' &&
        t.specVersion === s.specVersion &&
        t.slot !== undefined &&
        t.slot >= 1 &&
        t.slot <= n,
    )
  );
};

const arbConfig = fc.record({
  seed: fc.integer(),
  replicas: fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 4 }),
  delayMs: fc.constantFrom(0, 100, 1000),
  maxAttempts: fc.constantFrom(0, 1, 3),
  windowMs: fc.constantFrom(500, 3000),
  parallelism: fc.constantFrom(0, 1, 2, 3),
  updateDelayMs: fc.constantFrom(0, 300, 2000),
  order: fc.constantFrom('stop-first', 'start-first'),
  chaosRounds: fc.integer({ min: 0, max: 60 }),
});

test('orchestrator: converges to N running current tasks, one per slot, within the order bounds', (t) => {
  fc.assert(
    fc.property(arbConfig, (cfg) => {
      const rand = prng(cfg.seed);
      const spec = (replicas: number) =>
        serviceSpec({
          mode: { type: 'replicated', replicas },
          restartPolicy: {
            condition: 'any',
            delayMs: cfg.delayMs,
            maxAttempts: cfg.maxAttempts,
            // A finite window so that a service that used its attempts comes back eventually.
            windowMs: cfg.windowMs,
          },
          update: {
            parallelism: cfg.parallelism,
            delayMs: cfg.updateDelayMs,
            order: cfg.order,
            // Chaos fails new tasks too: only `continue` is bound to converge.
            failureAction: 'continue',
            monitorMs: 1000,
          },
        });
      let s = service('web', spec(cfg.replicas[0]!), 1);
      const w = new World();
      const stopFirst = cfg.order === 'stop-first';
      const round = (chaos: boolean): void => {
        const actions = reconcileReplicated(s, w.tasks, w.now, w.deps);
        const v0 = stopFirst ? undefined : startFirstViolation(s, w.tasks, actions);
        if (v0 !== undefined) throw new Error(`at ${w.now}: ${v0}`);
        w.apply(actions);
        s = withStatus(s, actions);
        const v1 = (stopFirst ? slotViolation(w.tasks) : undefined) ?? desiredViolation(s, w.tasks);
        if (v1 !== undefined) throw new Error(`after commit at ${w.now}: ${v1}`);
        w.step(rand, chaos);
        const v2 = stopFirst ? slotViolation(w.tasks) : undefined;
        if (v2 !== undefined) throw new Error(`after agents at ${w.now}: ${v2}`);
        w.now += 1 + Math.floor(rand() * 400);
      };
      for (let i = 0; i < cfg.chaosRounds; i++) {
        // Operators scale and change the spec while tasks fail (the status is kept, as the
        // control API keeps it).
        if (rand() < 0.1) {
          const replicas = cfg.replicas[Math.floor(rand() * cfg.replicas.length)]!;
          const next = service('web', spec(replicas), s.specVersion + (rand() < 0.5 ? 1 : 0));
          s = s.updateStatus === undefined ? next : { ...next, updateStatus: s.updateStatus };
        }
        round(true);
      }
      for (let i = 0; i < 400 && !converged(s, w.tasks); i++) round(false);
      if (!converged(s, w.tasks)) throw new Error(`not converged at ${w.now}`);
      // Converged means quiet once the monitor period has passed: the status says completed.
      w.now += 1000;
      for (let i = 0; i < 3; i++) s = withStatus(s, reconcileReplicated(s, w.tasks, w.now, w.deps));
      const st = s.updateStatus;
      if (st !== undefined && st.specVersion === s.specVersion && st.state !== 'completed')
        throw new Error(`update ${st.state} after convergence: ${st.message}`);
      return reconcileReplicated(s, w.tasks, w.now, w.deps).length === 0;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

const arbPolicy: fc.Arbitrary<RestartPolicy> = fc.record({
  condition: fc.constantFrom('none', 'on-failure', 'any'),
  delayMs: fc.constantFrom(0, 50, 700),
  maxAttempts: fc.constantFrom(0, 1, 2, 4),
  windowMs: fc.constantFrom(0, 1000, 5000),
});

test('orchestrator: restarts honour the condition, the delay and maxAttempts within the window', (t) => {
  fc.assert(
    fc.property(fc.integer(), arbPolicy, (seed, policy) => {
      const rand = prng(seed);
      const s = service(
        'web',
        serviceSpec({ mode: { type: 'replicated', replicas: 1 }, restartPolicy: policy }),
      );
      const w = new World();
      for (let i = 0; i < 150; i++) {
        const before = w.tasks.slice();
        const actions = reconcileReplicated(s, w.tasks, w.now, w.deps);
        const last = before[before.length - 1];
        for (const a of actions) {
          if (a.type === 'restart-later' && a.at <= w.now)
            throw new Error('restart-later in the past');
          if (a.type !== 'create-task' || a.reason !== 'restart') continue;
          if (last === undefined || !endedOnItsOwn(last))
            throw new Error('restart without an ended task');
          if (policy.condition === 'none') throw new Error('restart under condition none');
          if (
            policy.condition === 'on-failure' &&
            last.status.state === 'complete' &&
            last.status.exitCode === 0
          ) {
            throw new Error('restart after success under on-failure');
          }
          if (w.now < last.status.timestamp + policy.delayMs)
            throw new Error('restart before the delay');
        }
        w.apply(actions);
        if (policy.maxAttempts > 0) {
          // Every restart, looking back one window from its own creation, sees at most maxAttempts.
          for (const c of w.created.filter((x) => x.reason === 'restart')) {
            const seen = countedRestarts(policy, w.tasks, c.task.meta.createdAt).filter(
              (at) => at <= c.task.meta.createdAt,
            );
            if (seen.length > policy.maxAttempts)
              throw new Error(`${seen.length} restarts in a window`);
          }
        }
        // Liveness: an ended task under a permissive policy is either restarted or scheduled.
        const tail = w.tasks[w.tasks.length - 1];
        if (
          tail !== undefined &&
          endedOnItsOwn(tail) &&
          policy.condition === 'any' &&
          (policy.maxAttempts === 0 || policy.windowMs > 0) &&
          !actions.some((a) => a.type === 'create-task' || a.type === 'restart-later')
        ) {
          throw new Error('ended task neither restarted nor scheduled for restart');
        }
        w.step(rand, true);
        w.now += 1 + Math.floor(rand() * 300);
      }
      return w.tasks.filter((x) => !isTerminal(x.status.state)).length <= 1;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('orchestrator: a rolling update never takes more than parallelism slots out of service', (t) => {
  fc.assert(
    fc.property(
      fc.integer(),
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 3 }),
      fc.constantFrom(0, 500),
      (seed, replicas, parallelism, delayMs) => {
        const rand = prng(seed);
        const spec = serviceSpec({
          mode: { type: 'replicated', replicas },
          update: { parallelism, delayMs, order: 'stop-first' },
        });
        const w = new World();
        let s = service('web', spec, 1);
        for (let i = 0; i < 500 && !converged(s, w.tasks); i++) {
          w.apply(reconcileReplicated(s, w.tasks, w.now, w.deps));
          w.step(rand, false);
          w.now += 1 + Math.floor(rand() * 400);
        }
        s = service('web', spec, 2);
        const serving = () =>
          w.tasks.filter((x) => isLive(x) && wantsRun(x) && x.status.state === 'running').length;
        for (let i = 0; i < 1000 && !converged(s, w.tasks); i++) {
          w.apply(reconcileReplicated(s, w.tasks, w.now, w.deps));
          if (replicas - serving() > parallelism)
            throw new Error(`${replicas - serving()} slots out`);
          w.step(rand, false);
          if (replicas - serving() > parallelism)
            throw new Error(`${replicas - serving()} slots out`);
          w.now += 1 + Math.floor(rand() * 400);
        }
        return converged(s, w.tasks);
      },
    ),
    { numRuns: 200 },
  );
  t.pass();
});

const arbUpdate = fc.record({
  seed: fc.integer(),
  replicas: fc.integer({ min: 1, max: 8 }),
  parallelism: fc.constantFrom(0, 1, 2, 3),
  maxFailureRatio: fc.constantFrom(0, 0.2, 0.5),
  order: fc.constantFrom('stop-first', 'start-first'),
});

/** Runs an update to version 2 whose every new task fails on start; returns the world. */
const failingUpdate = (
  cfg: typeof arbUpdate extends fc.Arbitrary<infer C> ? C : never,
  failureAction: 'pause' | 'continue',
  rounds: number,
  each: (s: Service, w: World) => void,
): { s: Service; w: World } => {
  const rand = prng(cfg.seed);
  const spec = serviceSpec({
    mode: { type: 'replicated', replicas: cfg.replicas },
    update: {
      parallelism: cfg.parallelism,
      delayMs: 0,
      order: cfg.order,
      failureAction,
      maxFailureRatio: cfg.maxFailureRatio,
      monitorMs: 500,
    },
  });
  const w = new World();
  let s = service('web', spec, 1);
  for (let i = 0; i < 300 && !converged(s, w.tasks); i++) {
    w.apply(reconcileReplicated(s, w.tasks, w.now, w.deps));
    w.step(rand, false);
    w.now += 1 + Math.floor(rand() * 100);
  }
  if (!converged(s, w.tasks)) throw new Error('version 1 did not converge');
  s = service('web', spec, 2);
  for (let i = 0; i < rounds; i++) {
    const actions = reconcileReplicated(s, w.tasks, w.now, w.deps);
    w.apply(actions);
    s = withStatus(s, actions);
    const v = desiredViolation(s, w.tasks);
    if (v !== undefined) throw new Error(v);
    each(s, w);
    w.step(rand, false, 2);
    w.now += 1 + Math.floor(rand() * 100);
  }
  return { s, w };
};

/** Slots the update has taken: its old task stopped by us (stop-first) or a new task created. */
const slotsTried = (w: World): number =>
  new Set(
    w.tasks
      .filter((t) => t.specVersion === 2 || (t.specVersion === 1 && !wantsRun(t)))
      .map((t) => t.slot),
  ).size;

test('orchestrator: failure action pause stops taking slots once failures exceed maxFailureRatio', (t) => {
  fc.assert(
    fc.property(arbUpdate, (cfg) => {
      const p = cfg.parallelism === 0 ? cfg.replicas : cfg.parallelism;
      // Slots whose replacement failed free their place; the failures seen stay within the
      // ratio until the pause, so at most that many plus one batch are ever tried.
      const bound = Math.floor(cfg.maxFailureRatio * cfg.replicas) + p;
      let pausedAt: number | undefined;
      const { s, w } = failingUpdate(cfg, 'pause', 300, (s, w) => {
        if (s.updateStatus?.state === 'paused' && pausedAt === undefined) pausedAt = slotsTried(w);
        if (slotsTried(w) > bound) throw new Error(`${slotsTried(w)} slots tried, bound ${bound}`);
      });
      if (s.updateStatus?.state !== 'paused') throw new Error('never paused');
      // Nothing new was tried after the pause.
      return slotsTried(w) === pausedAt;
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('orchestrator: failure action continue tries every slot however many new tasks fail', (t) => {
  fc.assert(
    fc.property(arbUpdate, (cfg) => {
      const { s, w } = failingUpdate(cfg, 'continue', 400, () => undefined);
      if (s.updateStatus?.state !== 'updating') throw new Error(`${s.updateStatus?.state}`);
      return slotsTried(w) === cfg.replicas && s.updateStatus.failures > 0;
    }),
    { numRuns: 200 },
  );
  t.pass();
});
