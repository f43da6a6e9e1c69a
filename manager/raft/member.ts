// One Raft member's parts wired together: its WAL opened from a data directory, a gRPC transport
// that feeds the node, and the node that sends through the transport. The caller listens, adds
// peers and starts the node; close() takes it all down in the safe order.
import type { TransportDeps } from './transport/transport.js';
import { RaftTransport } from './transport/transport.js';
import { RaftNode, type RaftNodeOptions } from './node.js';
import { Wal } from './wal/index.js';

export interface RaftMemberOptions<R> extends Omit<
  RaftNodeOptions<R>,
  'storage' | 'persisted' | 'sender'
> {
  readonly dataDir: string;
  readonly clusterId: string;
  /** Transport settings beyond the ones the member fills in itself. */
  readonly transport?: Omit<
    TransportDeps,
    'clusterId' | 'self' | 'onMessage' | 'onUnreachable' | 'onSnapshotStatus'
  >;
}

export interface RaftMember<R> {
  readonly node: RaftNode<R>;
  readonly transport: RaftTransport;
  readonly wal: Wal;
  readonly close: () => Promise<void>;
}

export const openRaftMember = async <R>(opts: RaftMemberOptions<R>): Promise<RaftMember<R>> => {
  const { dataDir, clusterId, transport: transportOpts, ...nodeOpts } = opts;
  const { wal, state } = await Wal.open(dataDir, opts.log === undefined ? {} : { log: opts.log });
  // The transport delivers to the node, which sends through the transport: bind late.
  const ref: { node?: RaftNode<R> } = {};
  const transport = new RaftTransport({
    ...(opts.log === undefined ? {} : { log: opts.log }),
    ...transportOpts,
    clusterId,
    self: opts.id,
    onMessage: (m) => {
      ref.node?.step(m);
    },
    onUnreachable: (to) => {
      ref.node?.reportUnreachable(to);
    },
    onSnapshotStatus: (to, ok) => {
      ref.node?.reportSnapshot(to, ok);
    },
  });
  const node = new RaftNode<R>({ ...nodeOpts, storage: wal, persisted: state, sender: transport });
  ref.node = node;
  return {
    node,
    transport,
    wal,
    close: async () => {
      // Stop the loop first so nothing is persisted or sent after the WAL and transport close.
      await node.stop();
      await transport.close();
      await wal.close();
    },
  };
};
