// Test harness for the dispatcher: a dispatcher over a MemoryStore and FakeProposer served on
// 127.0.0.1:0 with real gRPC, hollow agents on one shared client, and a store-condition wait.
import { credentials, Server, ServerCredentials } from '@grpc/grpc-js';
import type { NodeId, TaskState } from '../../common/model.js';
import { MemoryStore, StoreWriter } from '../store/index.js';
import { FakeProposer, makeService } from '../store/test-fixtures.js';
import * as pb from '../../proto/gen/dispatcher.js';
import { Dispatcher } from './dispatcher.js';
import { HollowAgent } from './hollow-agent.js';

export interface Harness {
  readonly store: MemoryStore;
  readonly writer: StoreWriter;
  readonly dispatcher: Dispatcher;
  readonly client: pb.DispatcherServiceClient;
  readonly agents: HollowAgent[];
  agent(hostname: string, nodeId?: string): HollowAgent;
  close(): Promise<void>;
}

let ids = 0;

// Small real timings: each wait below is on a store condition, never on a duration.
export const setup = async (heartbeat = { periodMs: 100, graceMs: 1000 }): Promise<Harness> => {
  const store = new MemoryStore();
  const writer = new StoreWriter({ proposer: new FakeProposer(store), now: () => Date.now() });
  const dispatcher = new Dispatcher({
    store,
    writer,
    heartbeat,
    statusBatchMs: 5,
    newNodeId: () => `node-${++ids}` as NodeId,
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
  const agents: HollowAgent[] = [];
  return {
    store,
    writer,
    dispatcher,
    client,
    agents,
    agent: (hostname, nodeId) => {
      const a = new HollowAgent({ client, hostname, ...(nodeId === undefined ? {} : { nodeId }) });
      agents.push(a);
      return a;
    },
    close: async () => {
      for (const a of agents) a.stop();
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

/** Resolves once `pred` holds on the store; fails after 5 s so a broken test cannot hang. */
export const waitFor = async (store: MemoryStore, pred: () => boolean): Promise<void> => {
  const signal = AbortSignal.timeout(5000);
  if (pred()) return;
  for await (const e of store.watch({ signal })) if (e.version > 0 && pred()) return;
  const seen = [...store.list('node'), ...store.list('task')].map((o) =>
    'state' in o.status ? `${o.meta.id}=${o.status.state}` : '',
  );
  throw new Error(`condition not reached within 5 s; store: ${seen.join(' ')}`);
};

export const taskState = (store: MemoryStore, id: string): TaskState | undefined =>
  store.get('task', id)?.status.state;
