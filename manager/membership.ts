// Manager membership: the MembershipService (Join, Members, Remove, Leave) served on every manager,
// the leader's allocation of member ids, the quorum guard on removals, passing removals to the
// leader (moving leadership away first when the leader itself goes), and the promoter that turns
// caught-up learners into voters. Addresses travel in the conf change `context`; the peer table
// itself is the Manager's.
import {
  credentials,
  Metadata,
  status,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
import * as pb from '../proto/gen/membership.js';
import { memberId, NONE, Role, type MemberId, type Status } from './raft/core/index.js';
import { NotLeaderError } from './raft/errors.js';

/** Metadata key carrying the leader's address on UNAVAILABLE not-leader answers. */
export const LEADER_ADDRESS_METADATA = 'x-tug-leader-address';
/** How long after answering Leave the member is told it left (and stops). */
const LEAVE_GRACE_MS = 250;
/** Set on a Remove passed on to the leader: the leader answers it itself, never passes it on. */
export const MEMBERSHIP_FORWARDED_METADATA = 'x-tug-forwarded';

export const MembershipErrorCode = {
  NotLeader: 'not-leader',
  InvalidArgument: 'invalid-argument',
  AlreadyMember: 'already-member',
  UnknownMember: 'unknown-member',
  RemoveLeader: 'remove-leader',
  /** The last voter, or (without force) a removal leaving no reachable quorum. */
  Quorum: 'quorum',
  /** No leader known within the wait. */
  NoLeader: 'no-leader',
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
    transferLeadership(to: MemberId): Promise<void>;
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
  /** Called once this member has been removed through Leave (the process then stops). */
  readonly onLeft?: () => void;
  /** How long removals wait for a leader (or a leadership transfer). Default 5 s. */
  readonly leaderWaitMs?: number;
  readonly pollMs?: number;
}

export interface MemberInfo {
  readonly id: MemberId;
  readonly address: string;
  readonly role: 'voter' | 'learner';
  /** On the leader: heard from within the last election timeout (itself: true). Else false. */
  readonly reachable: boolean;
}

/**
 * Why removing `id` is refused, or null. The last voter can never go; otherwise the voters left
 * must include a quorum the leader currently hears from, unless `force`.
 */
export const removalRefusal = (
  s: Pick<Status, 'conf' | 'progress'>,
  self: MemberId,
  id: MemberId,
  force: boolean,
): string | null => {
  if (!s.conf.voters.includes(id)) return null;
  const left = s.conf.voters.filter((v) => v !== id);
  if (left.length === 0) return `member ${id} is the last voter; the cluster cannot lose it`;
  if (force) return null;
  const reachable = left.filter((v) => v === self || s.progress.get(v)?.recentActive === true);
  const quorum = Math.floor(left.length / 2) + 1;
  if (reachable.length >= quorum) return null;
  return `removing member ${id} would leave voters ${left.join(', ')} of which only ${reachable.length} ${reachable.length === 1 ? 'is' : 'are'} reachable, fewer than the ${quorum} a quorum needs; bring members back first, or force it`;
};

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, Math.max(0, ms));
  });

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
    const s = this.deps.node.status();
    const { conf } = s;
    const addr = (id: MemberId): string =>
      id === this.deps.self ? this.deps.address() : (this.deps.peers().get(id) ?? '');
    const reachable = (id: MemberId): boolean =>
      s.role === Role.Leader &&
      (id === this.deps.self || s.progress.get(id)?.recentActive === true);
    return [
      ...conf.voters.map((id) => ({
        id,
        address: addr(id),
        role: 'voter' as const,
        reachable: reachable(id),
      })),
      ...conf.learners.map((id) => ({
        id,
        address: addr(id),
        role: 'learner' as const,
        reachable: reachable(id),
      })),
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

  /** On the leader: removes another member, once committed. */
  remove(id: MemberId, force = false): Promise<void> {
    return this.serial(async () => {
      const s = this.requireLeader();
      if (id === this.deps.self)
        throw new MembershipError(
          MembershipErrorCode.RemoveLeader,
          `member ${id} is the leader; move leadership away first`,
        );
      if (!s.conf.voters.includes(id) && !s.conf.learners.includes(id))
        throw new MembershipError(MembershipErrorCode.UnknownMember, `no member ${id}`);
      const refused = removalRefusal(s, this.deps.self, id, force);
      if (refused !== null) throw new MembershipError(MembershipErrorCode.Quorum, refused);
      await this.deps.node.proposeConfChange({
        type: 'remove',
        member: id,
        context: this.deps.peers().get(id) ?? '',
      });
      this.deps.log?.(`membership: member ${id} removed`);
    });
  }

  /**
   * Removes `id` wherever the call lands: on the leader directly (after handing leadership to
   * another voter if `id` is the leader itself), elsewhere by asking the leader, waiting for an
   * election if none is known.
   */
  async removeViaLeader(id: MemberId, force: boolean): Promise<void> {
    const waitMs = this.deps.leaderWaitMs ?? 5_000;
    const pollMs = this.deps.pollMs ?? 50;
    const until = Date.now() + waitMs;
    for (;;) {
      const s = this.deps.node.status();
      if (s.role === Role.Leader) {
        if (id !== this.deps.self) return this.remove(id, force);
        // Checked before leadership moves, so a refused removal leaves the cluster as it was.
        if (!s.conf.voters.includes(id) && !s.conf.learners.includes(id))
          throw new MembershipError(MembershipErrorCode.UnknownMember, `no member ${id}`);
        const refused = removalRefusal(s, this.deps.self, id, force);
        if (refused !== null) throw new MembershipError(MembershipErrorCode.Quorum, refused);
        await this.handOff(s);
      } else {
        const address = this.leaderAddress(s.leader);
        if (address !== '') return this.askLeader(address, id, force, until);
      }
      if (Date.now() >= until)
        throw new MembershipError(
          MembershipErrorCode.NoLeader,
          `no leader known within ${waitMs} ms; retry later`,
        );
      await sleep(pollMs);
    }
  }

  /** Moves leadership to the most caught-up reachable voter (other than this leader). */
  private async handOff(s: Status): Promise<void> {
    const candidates = s.conf.voters
      .filter((v) => v !== this.deps.self && s.progress.get(v)?.recentActive === true)
      .sort((a, b) => (s.progress.get(b)?.match ?? 0) - (s.progress.get(a)?.match ?? 0));
    const to = candidates[0];
    if (to === undefined)
      throw new MembershipError(
        MembershipErrorCode.Quorum,
        `member ${this.deps.self} leads and no other voter is reachable to take over`,
      );
    this.deps.log?.(`membership: moving leadership from ${this.deps.self} to ${to}`);
    await this.deps.node.transferLeadership(to);
  }

  private askLeader(address: string, id: MemberId, force: boolean, until: number): Promise<void> {
    const client = new pb.MembershipServiceClient(address, credentials.createInsecure());
    const md = new Metadata();
    md.set(MEMBERSHIP_FORWARDED_METADATA, String(this.deps.self));
    return new Promise<void>((resolve, reject) => {
      client.remove({ id, force }, md, { deadline: Math.max(until, Date.now() + 5_000) }, (err) => {
        client.close();
        if (err === null) resolve();
        else reject(err);
      });
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
    const toPb = (m: MemberInfo): pb.Member => ({
      id: m.id,
      address: m.address,
      role: m.role,
      reachable: m.reachable,
    });
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
            fromLeader: s.role === Role.Leader,
          });
        });
      },
      remove: (call: ServerUnaryCall<pb.RemoveRequest, pb.RemoveResponse>, cb) => {
        reply(cb, async () => {
          const id = call.request.id;
          if (!Number.isSafeInteger(id) || id <= 0)
            throw new MembershipError(MembershipErrorCode.InvalidArgument, `bad member id ${id}`);
          const forwarded = call.metadata.get(MEMBERSHIP_FORWARDED_METADATA).length > 0;
          // A passed-on removal is answered here or refused: never passed on again.
          if (forwarded) await this.remove(memberId(id), call.request.force);
          else await this.removeViaLeader(memberId(id), call.request.force);
          return {};
        });
      },
      leave: (call: ServerUnaryCall<pb.LeaveRequest, pb.LeaveResponse>, cb) => {
        this.removeViaLeader(this.deps.self, call.request.force).then(
          () => {
            this.deps.log?.(`membership: member ${this.deps.self} left the cluster`);
            cb(null, { id: this.deps.self });
            // The process stops once told, and stopping closes the server at once: give the answer
            // time to leave first (grpc-js does not tell a unary handler when it has been sent).
            setTimeout(() => this.deps.onLeft?.(), LEAVE_GRACE_MS);
          },
          (e: unknown) => {
            cb(toServiceError(e));
          },
        );
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
      [MembershipErrorCode.Quorum]: status.FAILED_PRECONDITION,
      [MembershipErrorCode.NoLeader]: status.UNAVAILABLE,
    }[e.code];
    return { code, details: message, metadata };
  }
  if (e instanceof NotLeaderError) return { code: status.UNAVAILABLE, details: message };
  if (isServiceError(e)) return e;
  return { code: status.INTERNAL, details: message };
};

/** An answer relayed from the leader keeps its status. */
const isServiceError = (e: unknown): e is ServiceError =>
  e instanceof Error && typeof (e as Partial<ServiceError>).code === 'number' && 'metadata' in e;
