// The manager↔manager Raft transport: a gRPC server that receives from peers (server.ts) and one
// sender per peer (peer.ts). It owns the peer table, routes the core's outgoing messages, and
// holds the gRPC settings both directions must agree on. Wire design: docs/raft-transport.md.
import {
  ChannelCredentials,
  Server,
  ServerCredentials,
  type ChannelOptions,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { MessageType, memberId, type MemberId, type Message } from '../core/index.js';
import * as pb from '../../../proto/gen/raft.js';
import { RaftTransportError, TransportErrorCode } from './errors.js';
import { Peer } from './peer.js';
import { createRaftService } from './server.js';
import { snapshotChunkWireBound } from './wire-size.js';

export interface TransportDeps {
  readonly clusterId: string;
  readonly self: MemberId;
  /** Called for every received message, in order per sender (per stream). */
  readonly onMessage: (m: Message) => void;
  /** Outcome of sending a snap message, for raft.reportSnapshot. */
  readonly onSnapshotStatus?: (to: MemberId, ok: boolean) => void;
  /** Messages to this peer may have been lost, for raft.reportUnreachable. */
  readonly onUnreachable?: (to: MemberId) => void;
  readonly log?: (line: string) => void;
  /** Bound on one gRPC message; batches are cut below it. Default 4 MiB. */
  readonly maxMessageBytes?: number;
  /** Per-peer queue bound in messages; beyond it the oldest App messages are dropped. Default 4096. */
  readonly maxQueueMessages?: number;
  /** Per-peer queue bound in (encoded, upper-bound) bytes. Default 64 MiB. */
  readonly maxQueueBytes?: number;
  /** Size of the data chunks of a snapshot transfer. Default 1 MiB. */
  readonly snapshotChunkBytes?: number;
  /** Largest snapshot this member accepts. Default 1 GiB. */
  readonly maxSnapshotBytes?: number;
  /** Reconnect backoff after a broken stream: doubles from initial to max, jittered. Default 50 ms → 2 s. */
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /** Uniform in [0, 1), for backoff jitter. Default Math.random. */
  readonly random?: () => number;
  /** Default: insecure (plaintext) both ways. */
  readonly credentials?: {
    readonly server: ServerCredentials;
    readonly channel: ChannelCredentials;
  };
}

/** Another gRPC service to serve on the Raft port (e.g. one that followers forward requests to). */
export interface ExtraService {
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
}

const MiB = 1 << 20;
/** gRPC limits sit above our own bound so framing slack never turns a fitting batch into an error. */
const GRPC_LIMIT_MARGIN_BYTES = 64 * 1024;
// A peer that stops answering (host gone, partition) is noticed within about 15 s even when
// nothing is being written, instead of whenever TCP gives up.
const KEEPALIVE_TIME_MS = 10_000;
const KEEPALIVE_TIMEOUT_MS = 5_000;

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/;

const parseAddress = (what: string, address: string): { host: string; port: number } => {
  const match = HOST_PORT.exec(address);
  const port = Number(match?.[2]);
  if (match === null || port > 65535) {
    throw new RaftTransportError(
      TransportErrorCode.InvalidArgument,
      `${what} "${address}" is not host:port (IPv6 as [addr]:port)`,
    );
  }
  return { host: match[1]!, port };
};

const positiveInt = (name: string, value: number, min = 1): number => {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RaftTransportError(
      TransportErrorCode.InvalidArgument,
      `${name} must be an integer >= ${min}, got ${String(value)}`,
    );
  }
  return value;
};

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class RaftTransport {
  private readonly deps: TransportDeps;
  private readonly self: MemberId;
  private readonly log: (line: string) => void;
  private readonly maxMessageBytes: number;
  private readonly maxQueueMessages: number;
  private readonly maxQueueBytes: number;
  private readonly snapshotChunkBytes: number;
  private readonly maxSnapshotBytes: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly serverCredentials: ServerCredentials;
  private readonly channelCredentials: ChannelCredentials;
  private readonly channelOptions: ChannelOptions;

  private readonly peers = new Map<MemberId, Peer>();
  /** Unknown destinations already logged, so a missing address is reported once, not per tick. */
  private readonly warnedUnknown = new Set<MemberId>();
  /** Replaced or removed peers still closing; close() waits for them too. */
  private readonly retiring = new Set<Promise<void>>();
  private server: Server | null = null;
  private closing: Promise<void> | null = null;

  constructor(deps: TransportDeps) {
    if (typeof deps.clusterId !== 'string' || deps.clusterId.length === 0) {
      throw new RaftTransportError(
        TransportErrorCode.InvalidArgument,
        'clusterId must be non-empty',
      );
    }
    this.deps = deps;
    try {
      this.self = memberId(deps.self);
    } catch (err) {
      throw new RaftTransportError(TransportErrorCode.InvalidArgument, `self: ${describe(err)}`);
    }
    const log = deps.log ?? (() => {});
    this.log = (line) => {
      try {
        log(line);
      } catch {
        // A broken logger must not break the transport.
      }
    };
    this.maxMessageBytes = positiveInt('maxMessageBytes', deps.maxMessageBytes ?? 4 * MiB, 4096);
    this.maxQueueMessages = positiveInt('maxQueueMessages', deps.maxQueueMessages ?? 4096);
    this.maxQueueBytes = positiveInt(
      'maxQueueBytes',
      deps.maxQueueBytes ?? 64 * MiB,
      this.maxMessageBytes,
    );
    this.snapshotChunkBytes = positiveInt(
      'snapshotChunkBytes',
      deps.snapshotChunkBytes ?? Math.min(MiB, this.maxMessageBytes / 2),
    );
    if (snapshotChunkWireBound(this.snapshotChunkBytes) > this.maxMessageBytes) {
      throw new RaftTransportError(
        TransportErrorCode.InvalidArgument,
        `snapshotChunkBytes ${this.snapshotChunkBytes} does not fit in maxMessageBytes ${this.maxMessageBytes}`,
      );
    }
    this.maxSnapshotBytes = positiveInt('maxSnapshotBytes', deps.maxSnapshotBytes ?? 1024 * MiB, 0);
    this.backoffInitialMs = positiveInt('backoffInitialMs', deps.backoffInitialMs ?? 50);
    this.backoffMaxMs = positiveInt(
      'backoffMaxMs',
      deps.backoffMaxMs ?? 2000,
      this.backoffInitialMs,
    );
    this.serverCredentials = deps.credentials?.server ?? ServerCredentials.createInsecure();
    this.channelCredentials = deps.credentials?.channel ?? ChannelCredentials.createInsecure();
    const grpcLimit = this.maxMessageBytes + GRPC_LIMIT_MARGIN_BYTES;
    this.channelOptions = {
      'grpc.max_send_message_length': grpcLimit,
      'grpc.max_receive_message_length': grpcLimit,
      // A long-lived stream is never retried by gRPC: Raft decides what to resend.
      'grpc.enable_retries': 0,
      // Without a retry buffer a write completes only once HTTP/2 has the bytes: that is the
      // backpressure the sender batches against.
      'grpc.per_rpc_retry_buffer_size': 0,
      // gRPC's own reconnect backoff defaults to 1 s → 120 s; keep it on our scale so a
      // restarted peer is redialled within seconds.
      'grpc.initial_reconnect_backoff_ms': this.backoffInitialMs,
      'grpc.max_reconnect_backoff_ms': this.backoffMaxMs,
      'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
      'grpc.keepalive_permit_without_calls': 1,
      // Per-channel connections, so closing a peer closes its socket, not a shared one later.
      'grpc.use_local_subchannel_pool': 1,
    };
  }

  /**
   * Serves RaftTransportService, and any extra services, on host:port (port 0 picks one);
   * resolves to the bound host:port. Extra services share the server's message-size bound.
   */
  async listen(address: string, extraServices: readonly ExtraService[] = []): Promise<string> {
    if (this.closing !== null) {
      throw new RaftTransportError(TransportErrorCode.Closed, 'transport is closed');
    }
    if (this.server !== null) {
      throw new RaftTransportError(TransportErrorCode.InvalidArgument, 'already listening');
    }
    const { host } = parseAddress('listen address', address);
    const grpcLimit = this.maxMessageBytes + GRPC_LIMIT_MARGIN_BYTES;
    const server = new Server({
      'grpc.max_send_message_length': grpcLimit,
      'grpc.max_receive_message_length': grpcLimit,
      'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
    });
    server.addService(
      pb.RaftTransportServiceService,
      createRaftService({
        clusterId: this.deps.clusterId,
        self: this.self,
        onMessage: this.deps.onMessage,
        log: this.log,
        maxSnapshotBytes: this.maxSnapshotBytes,
      }),
    );
    for (const { definition, implementation } of extraServices) {
      server.addService(definition, implementation);
    }
    this.server = server;
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, this.serverCredentials, (err, bound) => {
        if (err === null) {
          resolve(bound);
          return;
        }
        // Leave the transport as it was, so listen() may be tried again.
        if (this.server === server) this.server = null;
        server.forceShutdown();
        reject(
          new RaftTransportError(
            TransportErrorCode.ListenFailed,
            `cannot listen on ${address}: ${err.message}`,
            { cause: err, temporary: true },
          ),
        );
      });
    });
    this.log(`raft transport: member ${this.self} listening on ${host}:${port}`);
    return `${host}:${port}`;
  }

  addPeer(id: MemberId, address: string): void {
    this.checkOpen();
    const peerId = this.checkPeerId(id);
    parseAddress(`address of member ${peerId}`, address);
    const existing = this.peers.get(peerId);
    if (existing !== undefined) {
      if (existing.address === address) return;
      throw new RaftTransportError(
        TransportErrorCode.InvalidArgument,
        `member ${peerId} is already at ${existing.address}; use updatePeer to move it to ${address}`,
      );
    }
    this.peers.set(peerId, this.newPeer(peerId, address));
    this.warnedUnknown.delete(peerId);
  }

  /** Points a peer at a new address; its stream and any snapshot in flight start over. */
  updatePeer(id: MemberId, address: string): void {
    this.checkOpen();
    const peerId = this.checkPeerId(id);
    parseAddress(`address of member ${peerId}`, address);
    const existing = this.peers.get(peerId);
    if (existing === undefined) {
      throw new RaftTransportError(
        TransportErrorCode.UnknownPeer,
        `member ${peerId} is not a peer; use addPeer`,
      );
    }
    if (existing.address === address) return;
    this.peers.set(peerId, this.newPeer(peerId, address));
    this.retire(existing);
  }

  /** Forgets a peer (idempotent); anything queued for it is dropped. */
  removePeer(id: MemberId): void {
    const existing = this.peers.get(id);
    if (existing === undefined) return;
    this.peers.delete(id);
    this.retire(existing);
  }

  /**
   * Queues messages for their peers and returns at once. Snap messages go through SendSnapshot;
   * the rest keep their order per peer. Messages to unknown peers are reported unreachable.
   */
  send(messages: readonly Message[]): void {
    if (this.closing !== null) return;
    for (const m of messages) {
      if (m.from !== this.self || m.to === this.self) {
        throw new RaftTransportError(
          TransportErrorCode.InvalidArgument,
          `cannot send a ${m.type} message from ${m.from} to ${m.to} through member ${this.self}'s transport`,
        );
      }
    }
    const byPeer = new Map<MemberId, Message[]>();
    for (const m of messages) {
      if (m.type === MessageType.Snap) {
        const peer = this.peers.get(m.to);
        if (peer === undefined) {
          this.unknownPeer(m.to);
          this.snapshotStatus(m.to, false);
        } else {
          peer.sendSnapshot(m);
        }
        continue;
      }
      const list = byPeer.get(m.to);
      if (list === undefined) byPeer.set(m.to, [m]);
      else list.push(m);
    }
    for (const [to, list] of byPeer) {
      const peer = this.peers.get(to);
      if (peer === undefined) this.unknownPeer(to);
      else peer.send(list);
    }
  }

  /** Stops the server and every peer stream, timer and snapshot transfer. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const peers = [...this.peers.values()];
    this.peers.clear();
    const server = this.server;
    this.server = null;
    const stopped =
      server === null
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            // tryShutdown's callback fires once listeners and sessions are gone; forceShutdown
            // makes that immediate by cancelling the peers' long-lived streams.
            server.tryShutdown(() => {
              resolve();
            });
            server.forceShutdown();
          });
    await Promise.all([...peers.map((p) => p.close(false)), stopped, ...this.retiring]);
  }

  private newPeer(id: MemberId, address: string): Peer {
    return new Peer({
      id,
      address,
      clusterId: this.deps.clusterId,
      self: this.self,
      maxMessageBytes: this.maxMessageBytes,
      maxQueueMessages: this.maxQueueMessages,
      maxQueueBytes: this.maxQueueBytes,
      snapshotChunkBytes: this.snapshotChunkBytes,
      backoff: {
        initialMs: this.backoffInitialMs,
        maxMs: this.backoffMaxMs,
        random: this.deps.random ?? Math.random,
      },
      channelOptions: this.channelOptions,
      credentials: this.channelCredentials,
      onUnreachable: (to) => {
        this.unreachable(to);
      },
      onSnapshotStatus: (to, ok) => {
        this.snapshotStatus(to, ok);
      },
      log: this.log,
    });
  }

  /** Closes a replaced or removed peer in the background; close() waits for it. */
  private retire(peer: Peer): void {
    const done = peer.close(true).finally(() => {
      this.retiring.delete(done);
    });
    this.retiring.add(done);
  }

  private unknownPeer(to: MemberId): void {
    if (!this.warnedUnknown.has(to)) {
      this.warnedUnknown.add(to);
      this.log(`raft transport: no address for member ${to}; its messages are dropped`);
    }
    this.unreachable(to);
  }

  private unreachable(to: MemberId): void {
    if (this.closing !== null) return;
    try {
      this.deps.onUnreachable?.(to);
    } catch (err) {
      this.log(`raft transport: onUnreachable(${to}) threw: ${describe(err)}`);
    }
  }

  private snapshotStatus(to: MemberId, ok: boolean): void {
    if (this.closing !== null) return;
    try {
      this.deps.onSnapshotStatus?.(to, ok);
    } catch (err) {
      this.log(`raft transport: onSnapshotStatus(${to}) threw: ${describe(err)}`);
    }
  }

  private checkOpen(): void {
    if (this.closing !== null) {
      throw new RaftTransportError(TransportErrorCode.Closed, 'transport is closed');
    }
  }

  private checkPeerId(id: MemberId): MemberId {
    let peerId: MemberId;
    try {
      peerId = memberId(id);
    } catch (err) {
      throw new RaftTransportError(TransportErrorCode.InvalidArgument, `peer id: ${describe(err)}`);
    }
    if (peerId === this.self) {
      throw new RaftTransportError(
        TransportErrorCode.InvalidArgument,
        `member ${peerId} is this member, not a peer`,
      );
    }
    return peerId;
  }
}
