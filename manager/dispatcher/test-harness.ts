// Test harness for the dispatcher: a dispatcher over a MemoryStore and FakeProposer served on
// 127.0.0.1:0 with real gRPC, one shared client, and a store-condition wait. Agents come from the
// tests (manager code never imports agent/); the harness stops what they hand to `track`.
import { credentials, Server, ServerCredentials } from '@grpc/grpc-js';
import type { NodeId, TaskState } from '../../common/model.js';
import { MemoryStore, StoreWriter, type Proposer } from '../store/index.js';
import { FakeProposer, makeService } from '../store/test-fixtures.js';
import * as pb from '../../proto/gen/dispatcher.js';
import { Dispatcher, type DispatcherDeps } from './dispatcher.js';

/** Anything with a session to end when the test is over (a hollow agent). */
export interface Stoppable {
  stop(): void;
}

export interface Harness {
  readonly store: MemoryStore;
  readonly writer: StoreWriter;
  readonly dispatcher: Dispatcher;
  readonly client: pb.DispatcherServiceClient;
  /** Where the dispatcher listens (host:port). */
  readonly address: string;
  /** Stops `x` (before the dispatcher) when the harness closes; returns it. */
  track<T extends Stoppable>(x: T): T;
  close(): Promise<void>;
}

let ids = 0;

// Small real timings: each wait below is on a store condition, never on a duration.
export const setup = async (
  heartbeat = { periodMs: 100, graceMs: 3000 },
  opts: {
    readonly proposer?: (store: MemoryStore) => Proposer;
    readonly addresses?: DispatcherDeps['addresses'];
  } = {},
): Promise<Harness> => {
  const store = new MemoryStore();
  const writer = new StoreWriter({
    proposer: opts.proposer?.(store) ?? new FakeProposer(store),
    now: () => Date.now(),
  });
  const dispatcher = new Dispatcher({
    store,
    writer,
    heartbeat,
    statusBatchMs: 5,
    newNodeId: () => `node-${++ids}` as NodeId,
    ...(opts.addresses === undefined ? {} : { addresses: opts.addresses }),
  });
  const server = new Server();
  server.addService(pb.DispatcherServiceService, dispatcher.service);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => {
      if (err !== null) reject(err);
      else resolve(p);
    });
  });
  const client = new pb.DispatcherServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const controller = new AbortController();
  const running = dispatcher.run(controller.signal);
  await writer.submit([{ op: 'create', kind: 'service', object: makeService('svc') }]);
  const tracked: Stoppable[] = [];
  return {
    store,
    writer,
    dispatcher,
    client,
    address: `127.0.0.1:${port}`,
    track: (x) => {
      tracked.push(x);
      return x;
    },
    close: async () => {
      for (const a of tracked) a.stop();
      // Let the cancellations reach the server before the dispatcher ends what is left.
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (dispatcher.sessionCount === 0) resolve();
          else setImmediate(check);
        };
        check();
      });
      controller.abort();
      await running;
      client.close();
      server.forceShutdown();
    },
  };
};

/**
 * Resolves once `pred` holds on the store; fails after 15 s so a broken test cannot hang (the
 * margin is for a loaded machine, not for the expected case).
 */
export const waitFor = async (store: MemoryStore, pred: () => boolean): Promise<void> => {
  const signal = AbortSignal.timeout(15_000);
  if (pred()) return;
  for await (const e of store.watch({ signal })) if (e.version > 0 && pred()) return;
  const seen = [...store.list('node'), ...store.list('task')].map((o) =>
    'state' in o.status ? `${o.meta.id}=${o.status.state}` : '',
  );
  throw new Error(`condition not reached within 15 s; store: ${seen.join(' ')}`);
};

export const taskState = (store: MemoryStore, id: string): TaskState | undefined =>
  store.get('task', id)?.status.state;
