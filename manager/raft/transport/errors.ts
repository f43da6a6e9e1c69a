// The typed errors of the Raft transport, and the one function that maps them to gRPC status.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

export const TransportErrorCode = {
  /** A wire message is malformed or violates the protocol (bad enum, missing field, wrong order). */
  InvalidMessage: 'invalid-message',
  /** The other side belongs to another cluster. */
  ClusterMismatch: 'cluster-mismatch',
  /** The message is addressed to another member (a stale address now held by someone else). */
  WrongRecipient: 'wrong-recipient',
  /** Snapshot data arrived with the wrong size or digest. */
  SnapshotCorrupt: 'snapshot-corrupt',
  /** A message or snapshot exceeds the configured bound. */
  TooLarge: 'too-large',
  /** A caller passed a bad argument (address, member id, option). */
  InvalidArgument: 'invalid-argument',
  /** The member is not a known peer. */
  UnknownPeer: 'unknown-peer',
  /** The server could not bind its address (in use, not local, bad format). */
  ListenFailed: 'listen-failed',
  /** The transport was closed. */
  Closed: 'closed',
} as const;
export type TransportErrorCode = (typeof TransportErrorCode)[keyof typeof TransportErrorCode];

export class RaftTransportError extends Error {
  override readonly name = 'RaftTransportError';
  readonly code: TransportErrorCode;
  /** Whether retrying the same operation later may succeed. */
  readonly temporary: boolean;

  constructor(
    code: TransportErrorCode,
    message: string,
    options: { readonly cause?: unknown; readonly temporary?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.temporary = options.temporary ?? false;
  }
}

const grpcCodes: Record<TransportErrorCode, status> = {
  [TransportErrorCode.InvalidMessage]: status.INVALID_ARGUMENT,
  [TransportErrorCode.ClusterMismatch]: status.FAILED_PRECONDITION,
  [TransportErrorCode.WrongRecipient]: status.FAILED_PRECONDITION,
  [TransportErrorCode.SnapshotCorrupt]: status.DATA_LOSS,
  [TransportErrorCode.TooLarge]: status.RESOURCE_EXHAUSTED,
  [TransportErrorCode.InvalidArgument]: status.INVALID_ARGUMENT,
  [TransportErrorCode.UnknownPeer]: status.FAILED_PRECONDITION,
  [TransportErrorCode.ListenFailed]: status.UNAVAILABLE,
  [TransportErrorCode.Closed]: status.UNAVAILABLE,
};

/** The only place transport errors become gRPC status; anything untyped is INTERNAL. */
export const toServiceError = (err: unknown): Partial<ServiceError> => {
  const code = err instanceof RaftTransportError ? grpcCodes[err.code] : status.INTERNAL;
  const details =
    err instanceof RaftTransportError
      ? `${err.code}: ${err.message}`
      : `internal: ${err instanceof Error ? err.message : String(err)}`;
  return { code, details, metadata: new Metadata() };
};
