// AgentSession against a real Dispatcher served over gRPC on loopback (the dispatcher's test
// harness), with a recording executor so each test decides when tasks are reported.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import test from 'ava';
import { waitFor } from '../../bench/lib/wait.js';
import type { NodeId, Task } from '../../common/model.js';
import { Dispatcher } from '../../manager/dispatcher/dispatcher.js';
import { setup, taskState, type Harness } from '../../manager/dispatcher/test-harness.js';
import { MemoryStore, StoreWriter } from '../../manager/store/index.js';
import { FakeProposer, makeTask } from '../../manager/store/test-fixtures.js';
import * as pb from '../../proto/gen/dispatcher.js';
import { DispatcherClients } from './clients.js';
import { AgentSession, fromWire, type Assignments } from './session.js';

class Recorder {
  readonly messages: Assignments[] = [];
  assignments(a: Assignments): void {
    this.messages.push(a);
  }
  has(id: string): boolean {
    return this.messages.some((m) => m.updated.some((t) => t.meta.id === id));
  }
}

const description = (hostname: string) => ({
  hostname,
  os: 'linux',
  arch: 'x86_64',
  cpus: 2,
  memoryBytes: 1024 ** 3,
  labels: { zone: 'a' },
  addr: '10.0.0.1',
});

const newSession = (
  h: Harness,
  clients: DispatcherClients,
  managers: readonly string[],
  extra: Partial<ConstructorParameters<typeof AgentSession>[0]> = {},
): { session: AgentSession; exec: Recorder } => {
  const exec = new Recorder();
  const session = h.track(
    new AgentSession({
      managers,
      clients,
      executor: exec,
      description: description('host-a'),
      backoff: { baseMs: 10, maxMs: 200 },
      ...extra,
    }),
  );
  return { session, exec };
};

const assign = async (h: Harness, id: string, nodeId: string): Promise<void> => {
  const task: Task = makeTask(id, 'svc', { slot: 1, nodeId: nodeId as NodeId, state: 'assigned' });
  const o = await h.writer.submit([{ op: 'create', kind: 'task', object: task }]);
  if (!o.ok) throw new Error(o.message);
};

const serve = async (service: pb.DispatcherServiceServer): Promise<[Server, string]> => {
  const server = new Server();
  server.addService(pb.DispatcherServiceService, service);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => {
      if (err !== null) reject(err);
      else resolve(p);
    });
  });
  return [server, `127.0.0.1:${port}`];
};

test('fromWire: assignment messages become domain tasks', (t) => {
  const task = makeTask('t1', 'svc', { slot: 1, nodeId: 'n1' as NodeId, state: 'assigned' });
  const a = fromWire({
    full: false,
    updated: [{ taskId: 't1', taskJson: JSON.stringify(task) }],
    removed: ['t2'],
    retained: ['t3'],
    pruned: ['t4'],
    tracksHistory: false,
  });
  t.deepEqual(a, {
    full: false,
    updated: [task],
    removed: ['t2'],
    retained: ['t3'],
    pruned: ['t4'],
    tracksHistory: false,
  });
});

test('AgentSession: registers, persists its node id, and gets its assignments as tasks', async (t) => {
  const managers = ['127.0.0.1:1', 'elsewhere:2'];
  const h = await setup(undefined, { addresses: () => ({ leader: '', managers }) });
  const clients = new DispatcherClients();
  try {
    const ids: string[] = [];
    const { session, exec } = newSession(h, clients, [h.address], {
      onNodeId: (id) => ids.push(id),
    });
    await session.start();
    t.deepEqual(ids, [session.nodeId]);
    t.is(h.store.get('node', session.nodeId)?.description.labels['zone'], 'a');
    t.is(session.connectedTo, h.address);
    // The managers' list replaces the configured one.
    t.deepEqual(session.managers, managers);
    await assign(h, 't1', session.nodeId);
    await waitFor(() => exec.has('t1'), { what: 't1 assigned', timeoutMs: 5000 });
    t.true(exec.messages[0]?.full);
    session.report('t1', { state: 'running', message: 'up' });
    await waitFor(() => taskState(h.store, 't1') === 'running', {
      what: 't1 running',
      timeoutMs: 5000,
    });
    await waitFor(() => session.unacknowledged === 0, { what: 'acknowledged', timeoutMs: 5000 });
    t.is(h.store.get('task', 't1')?.status.message, 'up');
  } finally {
    await h.close();
    clients.close();
  }
});

test('AgentSession: status writes that fail to replicate are resent until acknowledged', async (t) => {
  let failing = false;
  let refused = 0;
  const h = await setup(undefined, {
    proposer: (store) => {
      const inner = new FakeProposer(store);
      return {
        propose: (data) => {
          if (!failing) return inner.propose(data);
          refused++;
          return Promise.reject(new Error('proposal dropped: leadership changed'));
        },
      };
    },
  });
  const clients = new DispatcherClients();
  try {
    const { session, exec } = newSession(h, clients, [h.address]);
    await session.start();
    await assign(h, 't1', session.nodeId);
    await waitFor(() => exec.has('t1'), { what: 't1 assigned', timeoutMs: 5000 });
    failing = true;
    session.report('t1', { state: 'running', message: '' });
    await waitFor(() => refused >= 2, { what: 'writes refused and retried', timeoutMs: 5000 });
    t.true(session.unacknowledged > 0);
    t.is(taskState(h.store, 't1'), 'assigned');
    failing = false;
    await waitFor(() => taskState(h.store, 't1') === 'running', {
      what: 't1 running',
      timeoutMs: 5000,
    });
    await waitFor(() => session.unacknowledged === 0, { what: 'acknowledged', timeoutMs: 5000 });
    t.pass();
  } finally {
    failing = false;
    await h.close();
    clients.close();
  }
});

test('AgentSession: a manager that is not the leader sends the agent to the leader', async (t) => {
  const h = await setup();
  // A follower: its dispatcher is not running, and it knows where the leader is.
  const store = new MemoryStore();
  const follower = new Dispatcher({
    store,
    writer: new StoreWriter({ proposer: new FakeProposer(store), now: () => 0 }),
    addresses: () => ({ leader: h.address, managers: [h.address] }),
  });
  const [server, followerAddress] = await serve(follower.service);
  const clients = new DispatcherClients();
  try {
    const { session } = newSession(h, clients, [followerAddress]);
    await session.start();
    t.is(session.connectedTo, h.address);
    t.regex(session.lastError?.message ?? '', /not running the dispatcher/);
    t.is(h.store.count('node'), 1);
  } finally {
    await h.close();
    clients.close();
    server.forceShutdown();
  }
});

test('AgentSession: a newer session for the node supersedes this one for good', async (t) => {
  const h = await setup();
  const clients = new DispatcherClients();
  try {
    const { session, exec } = newSession(h, clients, [h.address]);
    await session.start();
    const nodeId = session.nodeId;
    await assign(h, 't1', nodeId);
    await waitFor(() => exec.has('t1'), { what: 't1 assigned', timeoutMs: 5000 });
    // Two agents claiming one node must not take turns: the older one stops reconnecting.
    const before = session.sessionsStarted;
    const twin = newSession(h, clients, [h.address], { nodeId }).session;
    await twin.start();
    await waitFor(() => session.lastError?.message.includes('newer session'), {
      what: 'first session superseded',
      timeoutMs: 5000,
    });
    twin.report('t1', { state: 'running', message: '' });
    await waitFor(() => taskState(h.store, 't1') === 'running', {
      what: 't1 running',
      timeoutMs: 5000,
    });
    t.is(twin.nodeId, nodeId);
    t.is(session.sessionsStarted, before);
    t.is(session.connectedTo, '');
    t.is((session.lastError as { code?: string } | null)?.code, 'superseded');
    t.is(h.store.count('node'), 1);
  } finally {
    await h.close();
    clients.close();
  }
});

test('AgentSession: an unknown node id ends the session for good', async (t) => {
  const h = await setup();
  const clients = new DispatcherClients();
  try {
    const fatal: string[] = [];
    const { session } = newSession(h, clients, [h.address], {
      nodeId: 'gone',
      onFatal: (e) => fatal.push(e.code),
    });
    const err = await t.throwsAsync(session.start());
    t.is((err as { code?: string }).code, 'unknown-node');
    t.deepEqual(fatal, ['unknown-node']);
  } finally {
    await h.close();
    clients.close();
  }
});

test('AgentSession: a manager that starts a session and then goes silent is left for the next one', async (t) => {
  const h = await setup();
  // Starts every session (with the node id the agent asked for, none here) and a 40 ms period,
  // then answers nothing, the connection kept open.
  const silent: pb.DispatcherServiceServer = {
    session: (call) => {
      call.on('data', (m: pb.SessionRequest) => {
        if (m.message?.$case !== 'open') return;
        call.write({
          message: {
            $case: 'started',
            value: {
              sessionId: 'silent',
              nodeId: m.message.value.nodeId,
              heartbeatPeriodMs: 40,
              managers: [],
            },
          },
        });
      });
    },
  };
  const [server, silentAddress] = await serve(silent);
  const clients = new DispatcherClients();
  try {
    const { session } = newSession(h, clients, [silentAddress, h.address]);
    await session.start();
    t.is(session.connectedTo, silentAddress);
    await waitFor(() => session.connectedTo === h.address && session.sessionId !== 'silent', {
      what: 'the session moved to the live manager',
      timeoutMs: 5000,
    });
    t.regex(session.lastError?.message ?? '', /no answer from 127\.0\.0\.1:\d+ for \d+ ms/);
    t.is(h.store.count('node'), 1);
  } finally {
    await h.close();
    clients.close();
    server.forceShutdown();
  }
});
