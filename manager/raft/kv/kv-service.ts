// The KV demo's gRPC service: puts go through Raft on the leader (followers forward them there),
// gets are linearizable through ReadIndex on whichever member is asked. The one place where
// errors become gRPC status codes for this service is toStatus().
import {
  Metadata,
  status,
  type ServiceError,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import { NONE, Role, type MemberId } from '../core/index.js';
import {
  NotLeaderError,
  ProposalDroppedError,
  ProposalRejectedError,
  RaftStoppedError,
} from '../errors.js';
import type { RaftNode } from '../node.js';
import type * as pb from '../../../proto/gen/kv.js';
import { encodeKvCommand, type KvStateMachine } from './kv-state.js';

const FORWARDED = 'x-tug-forwarded';

export class DeadlineError extends Error {
  readonly code = 'deadline';
  readonly temporary = true;
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

export interface KvServiceDeps {
  readonly node: RaftNode<void>;
  readonly kv: KvStateMachine;
  /** Client for the KV service on another member (its Raft address serves it too). */
  readonly clientFor: (member: MemberId) => pb.KvServiceClient | undefined;
  readonly requestTimeoutMs?: number;
}

export const withDeadline = async <T>(p: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new DeadlineError(what, ms));
    }, ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
};

export const toStatus = (err: unknown): Partial<ServiceError> => {
  if (isServiceError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (
    err instanceof NotLeaderError ||
    err instanceof RaftStoppedError ||
    err instanceof ProposalDroppedError
  ) {
    return { code: status.UNAVAILABLE, details: message };
  }
  if (err instanceof ProposalRejectedError) {
    return { code: err.temporary ? status.UNAVAILABLE : status.INVALID_ARGUMENT, details: message };
  }
  if (err instanceof DeadlineError) return { code: status.DEADLINE_EXCEEDED, details: message };
  return { code: status.INTERNAL, details: message };
};

const isServiceError = (err: unknown): err is ServiceError =>
  err instanceof Error &&
  typeof (err as Partial<ServiceError>).code === 'number' &&
  'metadata' in err;

const unary =
  <Req, Res>(handler: (req: Req, md: Metadata) => Promise<Res>) =>
  (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    handler(call.request, call.metadata).then(
      (res) => {
        callback(null, res);
      },
      (err: unknown) => {
        callback(toStatus(err));
      },
    );
  };

export const createKvService = (deps: KvServiceDeps): pb.KvServiceServer => {
  const timeoutMs = deps.requestTimeoutMs ?? 5000;
  const { node, kv } = deps;

  const forwardPut = (req: pb.PutRequest, md: Metadata): Promise<pb.PutResponse> => {
    const leader = node.leader;
    if (leader === NONE || leader === node.id) throw new NotLeaderError(leader);
    if (md.get(FORWARDED).length > 0)
      throw new NotLeaderError(leader, 'forwarded to a member that is not the leader');
    const client = deps.clientFor(leader);
    if (client === undefined) throw new NotLeaderError(leader, `no address for leader ${leader}`);
    const out = new Metadata();
    out.set(FORWARDED, '1');
    return new Promise((resolve, reject) => {
      client.put(req, out, { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err !== null) reject(err);
        else resolve(res);
      });
    });
  };

  return {
    put: unary(async (req: pb.PutRequest, md): Promise<pb.PutResponse> => {
      if (req.key.length === 0) throw new ProposalRejectedError('invalid', 'key must not be empty');
      if (node.status().role !== Role.Leader) return forwardPut(req, md);
      try {
        const { index } = await withDeadline(
          node.propose(encodeKvCommand({ op: 'put', key: req.key, value: req.value })),
          timeoutMs,
          'put',
        );
        return { index };
      } catch (err) {
        // Leadership moved between the check and the proposal: the new leader takes it.
        if (err instanceof NotLeaderError && err.leader !== NONE) return forwardPut(req, md);
        throw err;
      }
    }),
    get: unary(async (req: pb.GetRequest): Promise<pb.GetResponse> => {
      const index = req.serializable
        ? node.status().applied
        : await withDeadline(node.readIndex(), timeoutMs, 'read index');
      const value = kv.get(req.key);
      return {
        found: value !== undefined,
        value:
          value === undefined
            ? Buffer.alloc(0)
            : Buffer.from(value.buffer, value.byteOffset, value.byteLength),
        index,
      };
    }),
    status: unary((): Promise<pb.StatusResponse> => {
      const s = node.status();
      return Promise.resolve({
        id: s.id,
        leader: s.leader,
        term: s.term,
        role: s.role,
        commit: s.commit,
        applied: s.applied,
        voters: [...s.conf.voters],
        learners: [...s.conf.learners],
      });
    }),
  };
};
