// The sending half of the Raft transport for one peer: a bounded queue drained into one
// long-lived Send stream, reconnection with backoff when that stream breaks, and snapshot
// transfers over SendSnapshot, one at a time.
//
// Batching is natural group batching, no timers: one SendRequest is written at a time, and what
// accumulated while it was being flushed goes out as the next one. Under light load every message
// leaves at once; under heavy load batches grow and per-message cost falls.
import { createHash } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type {
  ChannelCredentials,
  ChannelOptions,
  ClientWritableStream,
  ServiceError,
} from '@grpc/grpc-js';
import { MessageType, type MemberId, type Message } from '../core/index.js';
import * as pb from '../../../proto/gen/raft.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { messageToProto, toBuffer } from './convert.js';
import { messageWireBound, sendRequestOverheadBound } from './wire-size.js';

export interface PeerOptions {
  readonly id: MemberId;
  readonly address: string;
  readonly clusterId: string;
  readonly self: MemberId;
  /** Bound on the encoded size of one SendRequest. */
  readonly maxMessageBytes: number;
  readonly maxQueueMessages: number;
  readonly maxQueueBytes: number;
  readonly snapshotChunkBytes: number;
  readonly backoff: BackoffOptions;
  readonly channelOptions: ChannelOptions;
  readonly credentials: ChannelCredentials;
  readonly onUnreachable: (to: MemberId) => void;
  readonly onSnapshotStatus: (to: MemberId, ok: boolean) => void;
  readonly log: (line: string) => void;
}

interface Queued {
  readonly message: Message;
  /** Upper bound of its encoded size within a SendRequest. */
  readonly bytes: number;
}

const describe = (err: unknown): string =>
  err instanceof Error ? ((err as Partial<ServiceError>).details ?? err.message) : String(err);

/**
 * Writes one request and calls `done` once gRPC has taken it and, if write() asked for it, the
 * stream has drained. gRPC's per-call buffer is configured to zero (see transport.ts), so "taken"
 * means handed to HTTP/2, which is what lets the next batch accumulate meanwhile.
 */
const writeThen = <T>(stream: ClientWritableStream<T>, req: T, done: () => void): void => {
  let pending = 1;
  const settle = (): void => {
    pending -= 1;
    if (pending === 0) done();
  };
  if (!stream.write(req, settle)) {
    pending += 1;
    stream.once('drain', settle);
  }
};

const writeWithBackpressure = <T>(stream: ClientWritableStream<T>, req: T): Promise<void> =>
  new Promise((resolve) => {
    writeThen(stream, req, resolve);
  });

export class Peer {
  readonly id: MemberId;
  readonly address: string;
  private readonly opts: PeerOptions;
  private readonly client: pb.RaftTransportServiceClient;
  private readonly backoff: Backoff;
  private readonly requestOverhead: number;

  // The queue is an array consumed from `head`, compacted now and then, so taking a batch is
  // O(batch) rather than O(queue).
  private queue: Queued[] = [];
  private head = 0;
  private queueBytes = 0;

  private stream: ClientWritableStream<pb.SendRequest> | null = null;
  /** Incremented whenever a stream is opened or abandoned, so callbacks of old streams are ignored. */
  private generation = 0;
  private writing = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private lastFailure = '';

  private snapshotTask: Promise<void> | null = null;
  private snapshotAbort: AbortController | null = null;
  private pendingSnapshot: Message | null = null;

  private closed = false;

  constructor(opts: PeerOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.address = opts.address;
    this.backoff = new Backoff(opts.backoff);
    this.requestOverhead = sendRequestOverheadBound(opts.clusterId);
    this.client = new pb.RaftTransportServiceClient(
      opts.address,
      opts.credentials,
      opts.channelOptions,
    );
  }

  /** Queues messages (none of type snap) and starts sending; never blocks. */
  send(messages: readonly Message[]): void {
    if (this.closed) return;
    let dropped = 0;
    if (this.retryTimer !== null) {
      // The stream is known broken: keeping messages for later would only replay stale ones.
      dropped = messages.length;
    } else {
      for (const m of messages) dropped += this.enqueue(m);
    }
    if (dropped > 0) this.opts.onUnreachable(this.id);
    this.pump();
  }

  /** Sends a snap message over SendSnapshot; reports the outcome through onSnapshotStatus. */
  sendSnapshot(m: Message): void {
    if (this.closed) return;
    if (this.snapshotTask === null) {
      this.startSnapshot(m);
      return;
    }
    // Only the newest snapshot is worth sending next; the one it replaces has failed.
    if (this.pendingSnapshot !== null) this.opts.onSnapshotStatus(this.id, false);
    this.pendingSnapshot = m;
  }

  /**
   * Stops everything: the stream, the retry timer, any snapshot transfer. With reportAborted
   * (the peer is being replaced or removed, not the whole transport closed) an interrupted
   * snapshot is reported as failed so Raft retries it.
   */
  async close(reportAborted: boolean): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.abandonStream();
    this.clearQueue();
    const snapshotWasRunning = this.snapshotTask !== null || this.pendingSnapshot !== null;
    this.pendingSnapshot = null;
    this.snapshotAbort?.abort();
    await this.snapshotTask;
    this.client.close();
    if (reportAborted && snapshotWasRunning) this.opts.onSnapshotStatus(this.id, false);
  }

  private enqueue(m: Message): number {
    const bytes = messageWireBound(m);
    if (this.requestOverhead + bytes > this.opts.maxMessageBytes) {
      this.opts.log(
        `raft transport: dropped a ${m.type} message to member ${this.id} of up to ${bytes} bytes: ` +
          `larger than maxMessageBytes ${this.opts.maxMessageBytes}`,
      );
      return 1;
    }
    this.queue.push({ message: m, bytes });
    this.queueBytes += bytes;
    let dropped = 0;
    while (
      this.queue.length - this.head > this.opts.maxQueueMessages ||
      this.queueBytes > this.opts.maxQueueBytes
    ) {
      this.dropOldest();
      dropped += 1;
    }
    if (dropped > 0) {
      this.opts.log(
        `raft transport: queue to member ${this.id} full, dropped ${dropped} message(s)`,
      );
    }
    return dropped;
  }

  /** Drops the oldest App message (Raft resends entries), or the oldest message if there is none. */
  private dropOldest(): void {
    let i = this.head;
    while (i < this.queue.length && this.queue[i]!.message.type !== MessageType.App) i += 1;
    if (i === this.queue.length) i = this.head;
    const [victim] = this.queue.splice(i, 1);
    this.queueBytes -= victim!.bytes;
  }

  private takeBatch(): Message[] {
    const batch: Message[] = [];
    let bytes = this.requestOverhead;
    while (this.head < this.queue.length) {
      const next = this.queue[this.head]!;
      // A single message always fits: enqueue() refused any that could not.
      if (batch.length > 0 && bytes + next.bytes > this.opts.maxMessageBytes) break;
      batch.push(next.message);
      bytes += next.bytes;
      this.queueBytes -= next.bytes;
      this.head += 1;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return batch;
  }

  private clearQueue(): void {
    this.queue = [];
    this.head = 0;
    this.queueBytes = 0;
  }

  private pump(): void {
    if (this.closed || this.retryTimer !== null || this.head === this.queue.length) return;
    if (this.stream === null) this.openStream();
    if (this.writing) return;
    const stream = this.stream!;
    const generation = this.generation;
    const req: pb.SendRequest = {
      clusterId: this.opts.clusterId,
      from: this.opts.self,
      to: this.id,
      messages: this.takeBatch().map(messageToProto),
    };
    this.writing = true;
    writeThen(stream, req, () => {
      if (generation !== this.generation) return;
      this.writing = false;
      this.pump();
    });
  }

  private openStream(): void {
    this.generation += 1;
    const generation = this.generation;
    const stream = this.client.send((err) => {
      this.onStreamEnd(generation, err);
    });
    stream.on('metadata', () => {
      // The receiver accepted our first batch: the peer is healthy again.
      if (generation !== this.generation) return;
      if (this.backoff.failures > 0) {
        this.opts.log(`raft transport: stream to member ${this.id} at ${this.address} is up`);
      }
      this.backoff.reset();
      this.lastFailure = '';
    });
    this.stream = stream;
  }

  private abandonStream(): void {
    this.generation += 1;
    this.writing = false;
    this.stream?.cancel();
    this.stream = null;
  }

  private onStreamEnd(generation: number, err: ServiceError | null): void {
    if (generation !== this.generation || this.closed) return;
    this.abandonStream();
    this.clearQueue();
    // Whatever was queued or in flight may be lost: Raft must probe this peer again.
    this.opts.onUnreachable(this.id);
    const why = err === null ? 'closed by the peer' : describe(err);
    const delayMs = this.backoff.next();
    if (why !== this.lastFailure) {
      this.opts.log(
        `raft transport: stream to member ${this.id} at ${this.address} ended (${why}); ` +
          `retrying with backoff, next in ${Math.round(delayMs)} ms`,
      );
      this.lastFailure = why;
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
    }, delayMs);
  }

  private startSnapshot(m: Message): void {
    const abort = new AbortController();
    this.snapshotAbort = abort;
    this.snapshotTask = this.transferSnapshot(m, abort.signal).then((ok) => {
      this.snapshotTask = null;
      this.snapshotAbort = null;
      if (this.closed) return;
      this.opts.onSnapshotStatus(this.id, ok);
      const next = this.pendingSnapshot;
      this.pendingSnapshot = null;
      if (next !== null) this.startSnapshot(next);
    });
  }

  /** Never rejects: every failure is logged and reported as false. */
  private async transferSnapshot(m: Message, signal: AbortSignal): Promise<boolean> {
    const snapshot = m.snapshot;
    if (snapshot === null) {
      this.opts.log(`raft transport: snap message to member ${this.id} without a snapshot`);
      return false;
    }
    const data = snapshot.data;
    const chunkBytes = this.opts.snapshotChunkBytes;
    try {
      const sha256 = await digest(data, chunkBytes, signal);
      if (signal.aborted) return false;
      // A connection of its own, so megabytes of snapshot do not queue ahead of heartbeats.
      const client = new pb.RaftTransportServiceClient(this.address, this.opts.credentials, {
        ...this.opts.channelOptions,
        'grpc.use_local_subchannel_pool': 1,
      });
      try {
        let stream: ClientWritableStream<pb.SendSnapshotRequest> | undefined;
        let finished = false;
        const ended = new Promise<ServiceError | null>((resolve) => {
          stream = client.sendSnapshot((err) => {
            finished = true;
            resolve(err);
          });
        });
        const call = stream!;
        const cancel = (): void => {
          call.cancel();
        };
        signal.addEventListener('abort', cancel, { once: true });
        try {
          // If the receiver refuses early, the call ends and pending writes may never complete.
          const endedFirst = ended.then(() => false);
          const write = (req: pb.SendSnapshotRequest): Promise<boolean> =>
            Promise.race([writeWithBackpressure(call, req).then(() => true), endedFirst]);
          const header: pb.SnapshotHeader = {
            clusterId: this.opts.clusterId,
            message: messageToProto({
              ...m,
              snapshot: { metadata: snapshot.metadata, data: new Uint8Array(0) },
            }),
            size: data.byteLength,
            sha256,
          };
          let open = await write({ payload: { $case: 'header', value: header } });
          for (let off = 0; open && off < data.byteLength; off += chunkBytes) {
            const chunk = toBuffer(data.subarray(off, off + chunkBytes));
            open = await write({ payload: { $case: 'chunk', value: chunk } });
          }
          if (open) call.end();
          const err = await ended;
          if (err !== null) {
            if (!signal.aborted) {
              this.opts.log(
                `raft transport: snapshot at index ${snapshot.metadata.index} to member ${this.id} failed: ${describe(err)}`,
              );
            }
            return false;
          }
          this.opts.log(
            `raft transport: sent snapshot at index ${snapshot.metadata.index} (${data.byteLength} bytes) to member ${this.id}`,
          );
          return true;
        } finally {
          signal.removeEventListener('abort', cancel);
          if (!finished) call.cancel();
        }
      } finally {
        client.close();
      }
    } catch (err) {
      this.opts.log(`raft transport: snapshot to member ${this.id} failed: ${describe(err)}`);
      return false;
    }
  }
}

/** SHA-256 of data, yielding to the event loop between chunks so ticks and heartbeats go on. */
const digest = async (
  data: Uint8Array,
  chunkBytes: number,
  signal: AbortSignal,
): Promise<Buffer> => {
  const hash = createHash('sha256');
  for (let off = 0; off < data.byteLength && !signal.aborted; off += chunkBytes) {
    hash.update(data.subarray(off, off + chunkBytes));
    if (off + chunkBytes < data.byteLength) await yieldToEventLoop();
  }
  return hash.digest();
};
