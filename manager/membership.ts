// Manager membership: the MembershipService (Join, Members, Remove) served on every manager, the
// leader's allocation of member ids, and the promoter that turns caught-up learners into voters.
// Addresses travel in the conf change `context`; the peer table itself is the Manager's.
import {
  Metadata,
  status,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
import type * as pb from '../proto/gen/membership.js';
import { memberId, NONE, Role, type MemberId, type Status } from './raft/core/index.js';
import { NotLeaderError } from './raft/errors.js';

/** Metadata key carrying the leader's address on UNAVAILABLE not-leader answers. */
export const LEADER_ADDRESS_METADATA = 'x-tug-leader-address';

export const MembershipErrorCode = {
  NotLeader: 'not-leader',
  InvalidArgument: 'invalid-argument',
  AlreadyMember: 'already-member',
  UnknownMember: 'unknown-member',
  RemoveLeader: 'remove-leader',
} as const;
export type MembershipErrorCode = (typeof MembershipErrorCode)[keyof typeof MembershipErrorCode];

export class MembershipError extends Error {
  readonly code: MembershipErrorCode;
  /** For not-leader: where the leader listens, if known. */
  readonly leaderAddress: string;
  constructor(code: MembershipErrorCode, message: string, leaderAddress = '') {
    super(message);
    this.name = 'MembershipError';
    this.code = code;
    this.leaderAddress = leaderAddress;
  }
}

/** What the service needs of its manager (kept narrow so it is testable without one). */
export interface MembershipDeps {
  readonly self: MemberId;
  readonly clusterId: string;
  readonly node: {
    status(): Status;
    proposeConfChange(cc: {
      type: 'add-learner' | 'promote' | 'remove';
      member: MemberId;
      context: string;
    }): Promise<number>;
  };
  /** This manager's own address (known once it listens). */
  readonly address: () => string;
  /** Peer addresses as learnt from conf changes (not including self). */
  readonly peers: () => ReadonlyMap<MemberId, string>;
  readonly log?: (line: string) => void;
}

export interface MemberInfo {
  readonly id: MemberId;
  readonly address: string;
  readonly role: 'voter' | 'learner';
}

/** The next member id: one past every id the cluster has ever used, removed ones included. */
export const nextMemberId = (conf: Status['conf'], self: MemberId): MemberId => {
  const used = [self, ...conf.voters, ...conf.learners, ...conf.removed];
  return memberId(Math.max(...used) + 1);
};

export class Membership {
  private readonly deps: MembershipDeps;
  /** Joins and removals one at a time on this leader, so two joins never get the same id. */
  private chain: Promise<unknown> = Promise.resolve();
  private promoting = false;

  constructor(deps: MembershipDeps) {
    this.deps = deps;
  }

  members(): MemberInfo[] {
    const { conf } = this.deps.node.status();
    const addr = (id: MemberId): string =>
      id === this.deps.self ? this.deps.address() : (this.deps.peers().get(id) ?? '');
    return [
      ...conf.voters.map((id) => ({ id, address: addr(id), role: 'voter' as const })),
      ...conf.learners.map((id) => ({ id, address: addr(id), role: 'learner' as const })),
    ].sort((a, b) => a.id - b.id);
  }

  leaderAddress(leader: MemberId): string {
    if (leader === NONE) return '';
    return leader === this.deps.self ? this.deps.address() : (this.deps.peers().get(leader) ?? '');
  }

  private requireLeader(): Status {
    const s = this.deps.node.status();
    if (s.role !== Role.Leader) {
      throw new MembershipError(
        MembershipErrorCode.NotLeader,
        `member ${this.deps.self} is not the leader`,
        this.leaderAddress(s.leader),
      );
    }
    return s;
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.chain.then(f, f);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Adds a learner at `address` under a fresh id; answers once the change is committed. */
  join(address: string): Promise<{ id: MemberId; members: MemberInfo[] }> {
    return this.serial(async () => {
      if (!/^.+:\d+$/.test(address))
        throw new MembershipError(MembershipErrorCode.InvalidArgument, `bad address "${address}"`);
      const s = this.requireLeader();
      const existing = this.members().find((m) => m.address === address);
      if (existing !== undefined) {
        // Re-adding an address under a new id would leave a ghost voter; under the old id, a member
        // with a wiped WAL could vote twice. The operator removes it first.
        throw new MembershipError(
          MembershipErrorCode.AlreadyMember,
          `${address} is already member ${existing.id}; remove it first`,
        );
      }
      const id = nextMemberId(s.conf, this.deps.self);
      await this.deps.node.proposeConfChange({ type: 'add-learner', member: id, context: address });
      this.deps.log?.(`membership: member ${id} at ${address} added as a learner`);
      return { id, members: this.members() };
    });
  }

  remove(id: MemberId): Promise<void> {
    return this.serial(async () => {
      const s = this.requireLeader();
      if (id === this.deps.self)
        throw new MembershipError(
          MembershipErrorCode.RemoveLeader,
          `member ${id} is the leader; move leadership away first`,
        );
      if (!s.conf.voters.includes(id) && !s.conf.learners.includes(id))
        throw new MembershipError(MembershipErrorCode.UnknownMember, `no member ${id}`);
      await this.deps.node.proposeConfChange({
        type: 'remove',
        member: id,
        context: this.deps.peers().get(id) ?? '',
      });
      this.deps.log?.(`membership: member ${id} removed`);
    });
  }

  /**
   * One promoter pass (the manager calls it every few ticks): on the leader, the first learner that
   * has caught up to within `maxLag` entries is promoted. Running on whoever leads — not in the Join
   * call — means a join survives a leader change between the learner and the voter step.
   */
  promoteCaughtUp(maxLag = 100): void {
    if (this.promoting) return;
    const s = this.deps.node.status();
    if (s.role !== Role.Leader) return;
    const ready = s.conf.learners.find((id) => {
      const match = s.progress.get(id)?.match ?? 0;
      return match > 0 && s.commit - match <= maxLag;
    });
    if (ready === undefined) return;
    this.promoting = true;
    const context = this.deps.peers().get(ready) ?? '';
    this.serial(() =>
      this.deps.node.proposeConfChange({ type: 'promote', member: ready, context }),
    ).then(
      () => {
        this.promoting = false;
        this.deps.log?.(`membership: member ${ready} promoted to voter`);
      },
      (e: unknown) => {
        this.promoting = false;
        this.deps.log?.(`membership: promoting member ${ready} failed: ${String(e)}`);
      },
    );
  }

  /** The gRPC handlers. */
  service(): pb.MembershipServiceServer {
    const toPb = (m: MemberInfo): pb.Member => ({ id: m.id, address: m.address, role: m.role });
    return {
      join: (call: ServerUnaryCall<pb.JoinRequest, pb.JoinResponse>, cb) => {
        reply(cb, async () => {
          const r = await this.join(call.request.address);
          return { id: r.id, clusterId: this.deps.clusterId, members: r.members.map(toPb) };
        });
      },
      members: (_call: ServerUnaryCall<pb.MembersRequest, pb.MembersResponse>, cb) => {
        reply(cb, () => {
          const s = this.deps.node.status();
          return Promise.resolve({
            self: this.deps.self,
            leader: s.leader,
            leaderAddress: this.leaderAddress(s.leader),
            clusterId: this.deps.clusterId,
            members: this.members().map(toPb),
          });
        });
      },
      remove: (call: ServerUnaryCall<pb.RemoveRequest, pb.RemoveResponse>, cb) => {
        reply(cb, async () => {
          const id = call.request.id;
          if (!Number.isSafeInteger(id) || id <= 0)
            throw new MembershipError(MembershipErrorCode.InvalidArgument, `bad member id ${id}`);
          await this.remove(memberId(id));
          return {};
        });
      },
    };
  }
}

const reply = <T>(cb: sendUnaryData<T>, f: () => Promise<T>): void => {
  f().then(
    (r) => {
      cb(null, r);
    },
    (e: unknown) => {
      cb(toServiceError(e));
    },
  );
};

/** Not-leader (ours or the node's) → UNAVAILABLE with the leader's address when known. */
export const toServiceError = (e: unknown): Partial<ServiceError> => {
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof MembershipError) {
    const metadata = new Metadata();
    if (e.leaderAddress !== '') metadata.set(LEADER_ADDRESS_METADATA, e.leaderAddress);
    const code = {
      [MembershipErrorCode.NotLeader]: status.UNAVAILABLE,
      [MembershipErrorCode.InvalidArgument]: status.INVALID_ARGUMENT,
      [MembershipErrorCode.AlreadyMember]: status.ALREADY_EXISTS,
      [MembershipErrorCode.UnknownMember]: status.NOT_FOUND,
      [MembershipErrorCode.RemoveLeader]: status.FAILED_PRECONDITION,
    }[e.code];
    return { code, details: message, metadata };
  }
  if (e instanceof NotLeaderError) return { code: status.UNAVAILABLE, details: message };
  return { code: status.INTERNAL, details: message };
};
