// The control plane as processes, with the leader SIGKILLed mid-write: 3 managers, two processes of
// hollow agents that know every manager, control calls sent to the leader or to a follower (which
// forwards). The leader dies right after an apply of several manifests is sent and once one is
// committed; right after a scale 0 → 500 / 500 → 3 is sent and while the orchestrator and scheduler
// work on one. Each time the killed manager is restarted and must catch up, the cluster must
// converge, and the invariants (no duplicate per slot, every pending task says why, no acknowledged
// write lost) hold over the whole history, watched on a manager that survives each kill.
import test, { type ExecutionContext } from 'ava';

import { Cleanup } from '../../bench/lib/cleanup.js';
import { waitFor } from '../../bench/lib/wait.js';
import type { ControlClient } from '../../cli/client.js';
import { isTerminal, type Service, type ServiceId, type Task } from '../../common/model.js';
import { ProcessCluster } from './process-cluster.js';

const AGENT_PROCESSES = 2;
const AGENTS_PER_PROCESS = 10;
const NODES = AGENT_PROCESSES * AGENTS_PER_PROCESS;

const manifest = (name: string, replicas: number): string => `apiVersion: tug/v1
kind: Service
metadata: { name: ${name} }
spec:
  image: registry.local:5000/tug/busybox:latest
  replicas: ${replicas}
`;

const cleanup = new Cleanup();
let cluster: ProcessCluster | undefined;
/** Service name → versions of its create events, replays included once. */
const creates = new Map<string, Set<number>>();
/** Node id → version of its last event as ready (a session registering with a leader writes one). */
const readyAt = new Map<string, number>();
/** Node events marking a node down (an agent that did not reach the new leader within the grace). */
let downEvents = 0;
const downLog: string[] = [];

const c = (): ProcessCluster => {
  if (cluster === undefined) throw new Error('the cluster did not start');
  return cluster;
};

const serviceNamed = (name: string): Service | undefined =>
  [...c().history.services.values()].find((s) => s.meta.name === name);

const webId = (): ServiceId => {
  const s = serviceNamed('web');
  if (s === undefined) throw new Error('no service web in the history');
  return s.meta.id;
};

/** Live tasks of `service` desired running: they hold (or will hold) a slot. */
const holders = (service: ServiceId): Task[] =>
  [...c().history.tasks.values()].filter(
    (x) => x.serviceId === service && !isTerminal(x.status.state) && x.desiredState === 'running',
  );

const converged = (): boolean => c().history.checkConverged().length === 0;

test.before(async () => {
  cluster = await ProcessCluster.start(cleanup, {
    agentProcesses: AGENT_PROCESSES,
    agentsPerProcess: AGENTS_PER_PROCESS,
    failover: true,
    onEvent: (e) => {
      if (e.kind === 'node' && e.type !== 'delete') {
        if (e.object.status.state === 'ready') readyAt.set(e.object.meta.id, e.version);
        else if (e.object.status.state === 'down') {
          downEvents++;
          downLog.push(`${e.object.meta.name} down at ${e.version}: ${e.object.status.message}`);
        }
      }
      if (e.kind !== 'service' || e.type !== 'create') return;
      const versions = creates.get(e.object.meta.name) ?? new Set();
      versions.add(e.version);
      creates.set(e.object.meta.name, versions);
    },
  });
  // Watch the leader itself: the first kill then has to move the watch to a survivor.
  const leader = await cluster.leader();
  await cluster.watchFrom(leader);
  const applied = await cluster.clients[leader]!.apply({
    sources: [{ file: 'web.yaml', text: manifest('web', 0) }],
    dryRun: false,
  });
  cluster.acked.push({
    kind: 'service',
    id: applied.results[0]!.id as ServiceId,
    version: applied.version,
    op: 'write',
  });
  await cluster.until('web in the history', () => serviceNamed('web') !== undefined);
});

test.after.always(async (t) => {
  const errors = await cleanup.run();
  t.deepEqual(errors, []);
});

type Outcome<T> = { ok: true; value: T } | { ok: false; error: Error };

interface KillPlan<T> {
  /** Which manager the call goes to: the leader, or a follower that forwards it. */
  readonly via: 'leader' | 'follower';
  readonly send: (client: ControlClient) => Promise<T>;
  /** 'sent': at once after the call is made; else once this holds (or the call failed). */
  readonly killAt: 'sent' | (() => boolean);
}

/**
 * Makes the call, SIGKILLs the leader at the planned point, waits for a new leader, restarts the
 * killed manager and waits until it caught up with the new leader. Returns what the call answered.
 */
async function killLeaderDuring<T>(t: ExecutionContext, plan: KillPlan<T>): Promise<Outcome<T>> {
  const cl = c();
  const leader = await cl.leader();
  const via = plan.via === 'leader' ? leader : (leader + 1) % cl.addresses.length;
  let outcome: Outcome<T> | undefined;
  const call = plan.send(cl.clients[via]!).then(
    (value) => {
      outcome = { ok: true, value };
    },
    (err: unknown) => {
      outcome = { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
    },
  );
  const killAt = plan.killAt;
  if (killAt !== 'sent') {
    await waitFor(
      () => {
        cl.checkWatch();
        return killAt() || outcome?.ok === false;
      },
      { what: 'the point to kill the leader at', timeoutMs: 60_000, intervalMs: 10 },
    );
  }
  const killedAt = cl.history.version;
  const downsBefore = downEvents;
  await cl.kill(leader);
  await call;
  const answered = outcome!;
  t.log(
    `killed manager-${leader + 1} (leader; call via manager-${via + 1}) at history version ${killedAt}: ` +
      (answered.ok ? 'call succeeded' : `call failed: ${answered.error.message}`),
  );
  const next = await cl.leader();
  t.not(next, leader);
  const version = (await cl.clients[next]!.listServices()).version;
  await cl.restart(leader, version);
  t.log(
    `new leader manager-${next + 1} at version ${version}; manager-${leader + 1} restarted and ` +
      `caught up to ${Math.max(version, cl.history.version)}`,
  );
  // Every agent found the new leader: its session registered there, which writes the node ready.
  const nodeIds = cl.agents.flatMap((a) => a.nodeIds);
  t.is(nodeIds.length, NODES);
  await cl.until('every agent registered with the new leader', () =>
    nodeIds.every((n) => (readyAt.get(n) ?? 0) > killedAt),
  );
  if (downEvents > downsBefore) {
    t.log(`${downEvents - downsBefore} node(s) marked down meanwhile`, downLog.slice(downsBefore));
  }
  return answered;
}

/** Scales web to `replicas` until a call succeeds (idempotent: an absolute count). */
async function scaleWeb(replicas: number): Promise<void> {
  const cl = c();
  const leader = await cl.leader();
  const [scaled] = await waitFor(() => cl.clients[leader]!.scale({ web: replicas }), {
    what: `web scaled to ${replicas}`,
    timeoutMs: 30_000,
    intervalMs: 200,
  });
  cl.acked.push({ kind: 'service', id: webId(), version: scaled!.meta.version, op: 'write' });
}

function checkInvariants(t: ExecutionContext): void {
  const cl = c();
  const violations = cl.history.violations();
  // Enough to tell which leader wrote which task: versions, creation times, nodes, states.
  for (const id of new Set(violations.flatMap((v) => v.taskIds))) {
    const x = cl.history.tasks.get(id);
    if (x === undefined) continue;
    t.log(
      `task ${id} slot ${x.slot ?? '-'} of ${x.serviceId}: version ${x.meta.version}, ` +
        `created ${new Date(x.meta.createdAt).toISOString()}, node ${x.nodeId ?? '-'}, ` +
        `${x.status.state} (desired ${x.desiredState}) ${x.status.message}`,
    );
  }
  t.deepEqual(violations, []);
  t.deepEqual(cl.history.checkAcknowledged(cl.acked), []);
  t.log(
    `history: ${cl.history.eventCount} events to version ${cl.history.version}, ` +
      `${cl.history.replayedCount} replayed after ${cl.resumes} resumed watch(es)`,
  );
}

/** Applies `count` new services in one call while the leader is killed; all or nothing of them. */
async function applyDuringKill(
  t: ExecutionContext,
  batch: string,
  via: 'leader' | 'follower',
  killAt: 'sent' | 'committed',
): Promise<void> {
  const cl = c();
  const names = [1, 2, 3, 4].map((i) => `${batch}-svc${i}`);
  const sources = names.map((n) => ({ file: `${n}.yaml`, text: manifest(n, 2) }));
  const outcome = await killLeaderDuring(t, {
    via,
    send: (client) => client.apply({ sources, dryRun: false }),
    killAt: killAt === 'sent' ? 'sent' : () => names.some((n) => creates.has(n)),
  });
  if (outcome.ok) {
    for (const r of outcome.value.results) {
      t.is(r.action, 'created');
      cl.acked.push({
        kind: 'service',
        id: r.id as ServiceId,
        version: outcome.value.version,
        op: 'write',
      });
    }
  }
  // The new leader has committed whatever of the old term survives: the history must reach it.
  const leader = await cl.leader();
  const version = (await cl.clients[leader]!.listServices()).version;
  await cl.until(`the history at version ${version}`, () => cl.history.version >= version);
  const present = names.filter((n) => creates.has(n));
  if (outcome.ok) t.deepEqual(present, names, 'an acknowledged apply lost objects');
  else
    t.true(
      present.length === 0 || present.length === names.length,
      `half an apply: ${present.join()}`,
    );
  if (present.length > 0) {
    const versions = new Set(present.flatMap((n) => [...creates.get(n)!]));
    t.is(versions.size, 1, 'one apply is one transaction');
    if (outcome.ok) t.deepEqual([...versions], [outcome.value.version]);
  }
  await cl.until('every service converged after the kill', converged);
  checkInvariants(t);
}

/** Scales web from its current count to `replicas` while the leader is killed; then converges. */
async function scaleDuringKill(
  t: ExecutionContext,
  replicas: number,
  via: 'leader' | 'follower',
  killAt: 'sent' | (() => boolean),
): Promise<void> {
  const cl = c();
  const outcome = await killLeaderDuring(t, {
    via,
    send: (client) => client.scale({ web: replicas }),
    killAt,
  });
  if (outcome.ok) {
    const [scaled] = outcome.value;
    cl.acked.push({ kind: 'service', id: webId(), version: scaled!.meta.version, op: 'write' });
  } else {
    // Either state is fine after a failed call; make the count the one wanted.
    await scaleWeb(replicas);
  }
  const id = webId();
  await cl.until(
    `web at ${replicas} running after the kill`,
    () => cl.history.runningCount(id) === replicas && converged(),
  );
  t.is(holders(id).length, replicas);
  checkInvariants(t);
}

test.serial(
  'leader kill: an apply of 4 manifests, leader killed right after it is sent',
  async (t) => {
    await applyDuringKill(t, 'batch1', 'follower', 'sent');
  },
);

// Found here: a new leader used to start its orchestrator before applying the previous term's
// entries (the old leader's task creations), creating a second task per slot. Leader-only
// components now start once an entry of the new term is applied (manager/leadership.ts).
test.serial(
  'leader kill: an apply of 4 manifests, leader killed once it is committed',
  async (t) => {
    await applyDuringKill(t, 'batch2', 'leader', 'committed');
  },
);

test.serial('leader kill: scale 0 → 500, leader killed right after it is sent', async (t) => {
  await scaleDuringKill(t, 500, 'follower', 'sent');
});

test.serial('leader kill: scale 500 → 3, leader killed while tasks are shut down', async (t) => {
  await scaleDuringKill(t, 3, 'leader', () => holders(webId()).length < 500);
});

test.serial(
  'leader kill: scale 3 → 500, leader killed while tasks are being assigned',
  async (t) => {
    await scaleDuringKill(t, 500, 'leader', () => {
      const assigned = holders(webId()).filter((x) => x.nodeId !== undefined);
      return assigned.length >= 50;
    });
  },
);

test.serial('leader kill: scale 500 → 3, leader killed right after it is sent', async (t) => {
  await scaleDuringKill(t, 3, 'follower', 'sent');
});

test.serial('leader kill: afterwards agents are all back, managers exit on SIGTERM', async (t) => {
  const cl = c();
  const leader = await cl.leader();
  await waitFor(async () => (await cl.readyNodes(cl.addresses[leader]!)) === NODES, {
    what: `${NODES} nodes ready on the leader`,
    timeoutMs: 30_000,
  });
  for (const a of cl.agents) t.true(a.process.running, `${a.process.name} exited`);
  t.log(`${downEvents} node(s) marked down on the way (agents slower than the grace)`);
  checkInvariants(t);
  t.deepEqual(await cl.stopManagers(10_000), [], 'managers that needed SIGKILL');
});
