// Typed errors of the Raft driver: callers branch on `code`, never on messages.
import type { MemberId } from './core/index.js';

export class NotLeaderError extends Error {
  readonly code = 'not-leader';
  readonly temporary = true;
  readonly leader: MemberId;
  constructor(leader: MemberId, reason = 'not the leader') {
    super(
      leader === 0 ? `${reason}; no leader is known` : `${reason}; the leader is member ${leader}`,
    );
    this.name = 'NotLeaderError';
    this.leader = leader;
  }
}

/** The proposal's entry was replaced by a new leader's log before it committed: it did not happen. */
export class ProposalDroppedError extends Error {
  readonly code = 'proposal-dropped';
  readonly temporary = true;
  constructor(index: number) {
    super(`proposal at index ${index} was overwritten by a newer leader and not applied`);
    this.name = 'ProposalDroppedError';
  }
}

export class RaftStoppedError extends Error {
  readonly code = 'stopped';
  readonly temporary = false;
  constructor() {
    super('raft node is stopped');
    this.name = 'RaftStoppedError';
  }
}

export class ProposalRejectedError extends Error {
  readonly code = 'proposal-rejected';
  readonly temporary: boolean;
  readonly reason: string;
  constructor(reason: string, detail?: string) {
    super(
      detail === undefined
        ? `proposal rejected: ${reason}`
        : `proposal rejected: ${reason}: ${detail}`,
    );
    this.name = 'ProposalRejectedError';
    this.reason = reason;
    this.temporary = reason !== 'invalid';
  }
}

/** A new member did not catch up in time; it stays a learner (remove it or try to promote later). */
export class CatchUpTimeoutError extends Error {
  readonly code = 'catch-up-timeout';
  readonly temporary = true;
  readonly member: MemberId;
  constructor(member: MemberId, ms: number, match: number, commit: number) {
    super(
      `member ${member} did not catch up within ${ms} ms (it has ${match} of ${commit} committed entries); it stays a learner`,
    );
    this.name = 'CatchUpTimeoutError';
    this.member = member;
  }
}
