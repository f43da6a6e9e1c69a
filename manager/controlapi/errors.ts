// The control API's errors and the one place they become gRPC statuses (toStatus). Handlers throw
// ControlError for what they refuse themselves, turn refused store transactions into one with
// fromRefusal(), and let everything else (manifest errors, Raft errors, watch resets) through.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ManifestInvalidError, formatManifestErrors } from '../../common/manifest/parse.js';
import {
  NotLeaderError,
  ProposalDroppedError,
  ProposalRejectedError,
  RaftStoppedError,
} from '../raft/errors.js';
import { StoreApplyError, WatchResetError, type TransactionOutcome } from '../store/index.js';

export const ControlErrorCode = {
  NotFound: 'not-found',
  Exists: 'exists',
  /** The object moved since the version the caller read. */
  Conflict: 'conflict',
  Invalid: 'invalid',
  /** Valid request, but the cluster's state forbids it (scaling a global service, a network in use). */
  FailedPrecondition: 'failed-precondition',
} as const;
export type ControlErrorCode = (typeof ControlErrorCode)[keyof typeof ControlErrorCode];

export class ControlError extends Error {
  readonly code: ControlErrorCode;
  readonly temporary = false;
  constructor(code: ControlErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ControlError';
    this.code = code;
  }
}

/** A refused transaction as a ControlError; the store's message already names kind and id. */
export const fromRefusal = (o: Extract<TransactionOutcome, { ok: false }>): ControlError => {
  const message =
    o.code === 'conflict'
      ? `${o.message}: it changed since it was read; read it again and retry`
      : o.message;
  return new ControlError(o.code, message);
};

/** Metadata key carrying the leader's Raft member id on UNAVAILABLE not-leader errors. */
export const LEADER_METADATA = 'x-tug-leader';
/**
 * Set ("true") on UNAVAILABLE answers meaning "this member does not lead": the request was not
 * proposed, so it is safe to send again to the leader (the forwarder does).
 */
export const NOT_LEADER_METADATA = 'x-tug-not-leader';

/**
 * Marks an UNAVAILABLE a follower wrote itself because its link to the leader failed while
 * relaying a call: the manager answered (it is reachable), the call's outcome is unknown.
 */
export const RELAY_FAILED_METADATA = 'x-tug-relay-failed';

/** A write that did not commit within its deadline on the leader; it may still commit later. */
export class WriteDeadlineError extends Error {
  readonly code = 'deadline';
  readonly temporary = true;
  constructor(ms: number) {
    super(
      `not committed within ${ms} ms (no quorum?); it may still be applied later: read before retrying`,
    );
    this.name = 'WriteDeadlineError';
  }
}

const controlCodes: Record<ControlErrorCode, status> = {
  'not-found': status.NOT_FOUND,
  exists: status.ALREADY_EXISTS,
  conflict: status.ABORTED,
  invalid: status.INVALID_ARGUMENT,
  'failed-precondition': status.FAILED_PRECONDITION,
};

export const toStatus = (err: unknown): Partial<ServiceError> => {
  if (isServiceError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ControlError) return { code: controlCodes[err.code], details: message };
  if (err instanceof ManifestInvalidError) {
    return { code: status.INVALID_ARGUMENT, details: formatManifestErrors(err.errors) };
  }
  if (err instanceof NotLeaderError) {
    const metadata = new Metadata();
    if (err.leader !== 0) metadata.set(LEADER_METADATA, String(err.leader));
    metadata.set(NOT_LEADER_METADATA, 'true');
    return { code: status.UNAVAILABLE, details: message, metadata };
  }
  if (err instanceof RaftStoppedError || err instanceof ProposalDroppedError) {
    return { code: status.UNAVAILABLE, details: message };
  }
  if (err instanceof ProposalRejectedError) {
    return { code: err.temporary ? status.UNAVAILABLE : status.INVALID_ARGUMENT, details: message };
  }
  if (err instanceof WriteDeadlineError)
    return { code: status.DEADLINE_EXCEEDED, details: message };
  if (err instanceof WatchResetError) return { code: status.OUT_OF_RANGE, details: message };
  if (err instanceof StoreApplyError) return { code: status.INTERNAL, details: message };
  return { code: status.INTERNAL, details: `internal error: ${message}` };
};

const isServiceError = (err: unknown): err is ServiceError =>
  err instanceof Error &&
  typeof (err as Partial<ServiceError>).code === 'number' &&
  'metadata' in err;
