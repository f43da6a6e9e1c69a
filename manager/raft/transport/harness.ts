// Test support: a transport on loopback that records everything its callbacks see, and a fake
// peer server that records raw requests, for the transport's own tests.
import {
  Server,
  ServerCredentials,
  type ServiceError,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { MemberId, Message } from '../core/index.js';
import * as pb from '../../../proto/gen/raft.js';
import { RaftTransport, type TransportDeps } from './transport.js';

export interface Recorder {
  readonly transport: RaftTransport;
  readonly address: string;
  readonly received: Message[];
  readonly unreachable: MemberId[];
  readonly snapshotStatus: Array<{ readonly to: MemberId; readonly ok: boolean }>;
  readonly logs: string[];
}

export const startRecorder = async (
  self: MemberId,
  options: Partial<TransportDeps> & { readonly listen?: string } = {},
): Promise<Recorder> => {
  const received: Message[] = [];
  const unreachable: MemberId[] = [];
  const snapshotStatus: Array<{ to: MemberId; ok: boolean }> = [];
  const logs: string[] = [];
  const transport = new RaftTransport({
    clusterId: 'cluster-a',
    onMessage: (m) => received.push(m),
    onUnreachable: (to) => unreachable.push(to),
    onSnapshotStatus: (to, ok) => snapshotStatus.push({ to, ok }),
    log: (line) => logs.push(line),
    ...options,
    self,
  });
  const address = await transport.listen(options.listen ?? '127.0.0.1:0');
  return { transport, address, received, unreachable, snapshotStatus, logs };
};

export interface FakePeer {
  readonly address: string;
  readonly batches: pb.SendRequest[];
  readonly snapshotRequests: pb.SendSnapshotRequest[];
  stop(): Promise<void>;
}

/** A RaftTransportService that records raw requests; its snapshot answer is up to the test. */
export const startFakePeer = async (
  snapshotOutcome: Partial<ServiceError> | null = null,
): Promise<FakePeer> => {
  const batches: pb.SendRequest[] = [];
  const snapshotRequests: pb.SendSnapshotRequest[] = [];
  const server = new Server({ 'grpc.max_receive_message_length': 64 << 20 });
  const impl: pb.RaftTransportServiceServer & UntypedServiceImplementation = {
    send: (call, callback) => {
      call.on('data', (req: pb.SendRequest) => batches.push(req));
      call.on('end', () => {
        callback(null, { delivered: 0 });
      });
      call.on('error', () => {});
    },
    sendSnapshot: (call, callback) => {
      call.on('data', (req: pb.SendSnapshotRequest) => snapshotRequests.push(req));
      call.on('end', () => {
        if (snapshotOutcome === null) callback(null, {});
        else callback(snapshotOutcome);
      });
      call.on('error', () => {});
    },
  };
  server.addService(pb.RaftTransportServiceService, impl);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => {
      if (err === null) resolve(p);
      else reject(err);
    });
  });
  return {
    address: `127.0.0.1:${port}`,
    batches,
    snapshotRequests,
    stop: () =>
      new Promise((resolve) => {
        server.tryShutdown(() => {
          resolve();
        });
        server.forceShutdown();
      }),
  };
};
