// The receiving half of the Raft transport: the RaftTransportService handlers. A Send stream is
// checked request by request (cluster, sender, recipient) and its messages are delivered in
// order; a SendSnapshot stream is assembled, its size and SHA-256 verified, and only then is the
// snapshot message delivered. Any violation ends the stream with a status naming the problem.
import { createHash, timingSafeEqual } from 'node:crypto';
import { Metadata, type sendUnaryData, type ServerReadableStream } from '@grpc/grpc-js';
import { MessageType, type MemberId, type Message } from '../core/index.js';
import type * as pb from '../../../proto/gen/raft.js';
import { messageFromProto } from './convert.js';
import { RaftTransportError, TransportErrorCode, toServiceError } from './errors.js';

export interface ReceiverDeps {
  readonly clusterId: string;
  readonly self: MemberId;
  readonly onMessage: (m: Message) => void;
  readonly log: (line: string) => void;
  /** Snapshots announcing more data than this are refused before anything is allocated. */
  readonly maxSnapshotBytes: number;
}

const SHA256_BYTES = 32;

const invalid = (message: string): RaftTransportError =>
  new RaftTransportError(TransportErrorCode.InvalidMessage, message);

const checkCluster = (deps: ReceiverDeps, clusterId: string): void => {
  if (clusterId !== deps.clusterId) {
    throw new RaftTransportError(
      TransportErrorCode.ClusterMismatch,
      `sender is in cluster "${clusterId}", this member (${deps.self}) is in "${deps.clusterId}"`,
    );
  }
};

const checkRecipient = (deps: ReceiverDeps, to: number, what: string): void => {
  if (to !== deps.self) {
    throw new RaftTransportError(
      TransportErrorCode.WrongRecipient,
      `${what} is addressed to member ${to}, this is member ${deps.self}`,
    );
  }
};

/** Converts and checks a whole batch before any of it is delivered, so a bad batch is all-or-nothing. */
const decodeBatch = (deps: ReceiverDeps, req: pb.SendRequest): Message[] => {
  checkCluster(deps, req.clusterId);
  checkRecipient(deps, req.to, 'batch');
  if (!Number.isSafeInteger(req.from) || req.from <= 0) {
    throw invalid(`batch sender ${req.from} is not a member id`);
  }
  return req.messages.map((p, i) => {
    const m = messageFromProto(p, `messages[${i}]`);
    if (m.type === MessageType.Snap) {
      throw invalid(`messages[${i}]: snap messages are only accepted on SendSnapshot`);
    }
    if (m.from !== req.from) {
      throw invalid(`messages[${i}].from is ${m.from} in a batch from ${req.from}`);
    }
    checkRecipient(deps, m.to, `messages[${i}]`);
    return m;
  });
};

/** A broken handler must not take the link down with it; it is logged and the next message goes on. */
const deliver = (deps: ReceiverDeps, m: Message): boolean => {
  try {
    deps.onMessage(m);
    return true;
  } catch (err) {
    deps.log(
      `raft transport: onMessage threw on a ${m.type} from ${m.from}: ${err instanceof Error ? err.message : String(err)}`,
    );
    return false;
  }
};

const handleSend = (
  deps: ReceiverDeps,
  call: ServerReadableStream<pb.SendRequest, pb.SendResponse>,
  callback: sendUnaryData<pb.SendResponse>,
): void => {
  let done = false;
  let from = 0;
  let delivered = 0;
  const fail = (err: unknown): void => {
    done = true;
    deps.log(
      `raft transport: refused stream from ${from || 'unknown member'} (${call.getPeer()}): ${err instanceof Error ? err.message : String(err)}`,
    );
    callback(toServiceError(err));
  };
  call.on('data', (req: pb.SendRequest) => {
    if (done) return;
    let batch: Message[];
    try {
      if (from !== 0 && req.from !== from) {
        throw invalid(`stream from member ${from} carried a batch from ${req.from}`);
      }
      batch = decodeBatch(deps, req);
    } catch (err) {
      fail(err);
      return;
    }
    if (from === 0) {
      from = req.from;
      // Response headers tell the sender its stream was accepted: it resets its backoff on them.
      call.sendMetadata(new Metadata());
    }
    for (const m of batch) deliver(deps, m);
    delivered += batch.length;
  });
  call.on('end', () => {
    if (done) return;
    done = true;
    callback(null, { delivered });
  });
  // The sender went away (cancelled, connection lost): there is nobody left to answer.
  call.on('error', () => {
    done = true;
  });
};

interface SnapshotInProgress {
  readonly message: Message;
  readonly sha256: Buffer;
  readonly data: Buffer;
  readonly hash: ReturnType<typeof createHash>;
  received: number;
}

const startSnapshot = (deps: ReceiverDeps, header: pb.SnapshotHeader): SnapshotInProgress => {
  checkCluster(deps, header.clusterId);
  if (header.message === undefined) throw invalid('snapshot header carries no message');
  const message = messageFromProto(header.message, 'header.message');
  if (message.type !== MessageType.Snap) {
    throw invalid(`snapshot header carries a ${message.type} message, not snap`);
  }
  checkRecipient(deps, message.to, 'snapshot');
  if (message.snapshot!.data.byteLength !== 0) {
    throw invalid('snapshot header must not carry data: it comes in chunks');
  }
  if (header.sha256.byteLength !== SHA256_BYTES) {
    throw invalid(`snapshot sha256 is ${header.sha256.byteLength} bytes, not ${SHA256_BYTES}`);
  }
  if (header.size > deps.maxSnapshotBytes) {
    throw new RaftTransportError(
      TransportErrorCode.TooLarge,
      `snapshot of ${header.size} bytes exceeds this member's bound of ${deps.maxSnapshotBytes}`,
    );
  }
  return {
    message,
    sha256: header.sha256,
    data: Buffer.allocUnsafe(header.size),
    hash: createHash('sha256'),
    received: 0,
  };
};

const corrupt = (message: string): RaftTransportError =>
  new RaftTransportError(TransportErrorCode.SnapshotCorrupt, message);

const addChunk = (snap: SnapshotInProgress, chunk: Buffer): void => {
  if (snap.received + chunk.byteLength > snap.data.byteLength) {
    throw corrupt(`snapshot data exceeds the announced ${snap.data.byteLength} bytes`);
  }
  chunk.copy(snap.data, snap.received);
  snap.hash.update(chunk);
  snap.received += chunk.byteLength;
};

const finishSnapshot = (snap: SnapshotInProgress): Message => {
  if (snap.received !== snap.data.byteLength) {
    throw corrupt(`snapshot ended after ${snap.received} of ${snap.data.byteLength} bytes`);
  }
  if (!timingSafeEqual(snap.hash.digest(), snap.sha256)) {
    throw corrupt(`snapshot data of ${snap.received} bytes does not match its sha256`);
  }
  const { message, data } = snap;
  return {
    ...message,
    snapshot: {
      metadata: message.snapshot!.metadata,
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    },
  };
};

const handleSendSnapshot = (
  deps: ReceiverDeps,
  call: ServerReadableStream<pb.SendSnapshotRequest, pb.SendSnapshotResponse>,
  callback: sendUnaryData<pb.SendSnapshotResponse>,
): void => {
  let done = false;
  let snap: SnapshotInProgress | null = null;
  const fail = (err: unknown): void => {
    done = true;
    snap = null;
    deps.log(
      `raft transport: refused snapshot from ${call.getPeer()}: ${err instanceof Error ? err.message : String(err)}`,
    );
    callback(toServiceError(err));
  };
  call.on('data', (req: pb.SendSnapshotRequest) => {
    if (done) return;
    try {
      const payload = req.payload;
      if (payload === undefined) throw invalid('snapshot request carries neither header nor chunk');
      if (payload.$case === 'header') {
        if (snap !== null) throw invalid('second snapshot header on one stream');
        snap = startSnapshot(deps, payload.value);
      } else {
        if (snap === null) throw invalid('snapshot chunk before the header');
        addChunk(snap, payload.value);
      }
    } catch (err) {
      fail(err);
    }
  });
  call.on('end', () => {
    if (done) return;
    let message: Message;
    try {
      if (snap === null) throw invalid('snapshot stream ended without a header');
      message = finishSnapshot(snap);
    } catch (err) {
      fail(err);
      return;
    }
    done = true;
    snap = null;
    if (deliver(deps, message)) {
      callback(null, {});
    } else {
      callback(toServiceError(new Error('the receiver failed to take the snapshot')));
    }
  });
  call.on('error', () => {
    done = true;
    snap = null;
  });
};

export const createRaftService = (deps: ReceiverDeps): pb.RaftTransportServiceServer => ({
  send: (call, callback) => {
    handleSend(deps, call, callback);
  },
  sendSnapshot: (call, callback) => {
    handleSendSnapshot(deps, call, callback);
  },
});
