// The vocabulary of the Raft core: log entries, messages, persistent state and the Ready batch
// the application drains. Pure data; nothing here touches disk, network, clock or randomness.

/** A Raft member id: a positive integer, unique for the life of the cluster (never reused). */
export type MemberId = number & { readonly __brand: 'MemberId' };
export const memberId = (n: number): MemberId => {
  if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`invalid member id ${String(n)}`);
  return n as MemberId;
};
/** 0 stands for "nobody" (no vote, no known leader). */
export const NONE = 0 as MemberId;

export const EntryType = {
  Normal: 'normal',
  ConfChange: 'conf-change',
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** For Normal: the application's command (empty for the leader's no-op). For ConfChange: encodeConfChange(). */
  readonly data: Uint8Array;
}

export const ConfChangeType = {
  AddVoter: 'add-voter',
  AddLearner: 'add-learner',
  Promote: 'promote',
  Remove: 'remove',
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly member: MemberId;
  /** Opaque to the core: the driver puts the member's address here. */
  readonly context: string;
}

export interface ConfState {
  readonly voters: readonly MemberId[];
  readonly learners: readonly MemberId[];
  /** Members removed from the cluster: never counted again, their messages ignored. */
  readonly removed: readonly MemberId[];
}

export interface HardState {
  readonly term: number;
  readonly vote: MemberId;
  readonly commit: number;
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

export const MessageType = {
  /** leader → follower: entries (possibly none) after (logTerm, index), and the commit index. */
  App: 'app',
  AppResp: 'app-resp',
  Vote: 'vote',
  VoteResp: 'vote-resp',
  PreVote: 'pre-vote',
  PreVoteResp: 'pre-vote-resp',
  Heartbeat: 'heartbeat',
  HeartbeatResp: 'heartbeat-resp',
  /** leader → follower: install this snapshot. */
  Snap: 'snap',
  /** leader → transfer target: campaign now. */
  TimeoutNow: 'timeout-now',
  /** follower → leader: a read-index request carrying the caller's context. */
  ReadIndex: 'read-index',
  ReadIndexResp: 'read-index-resp',
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * One flat message shape for every type, as in etcd: fields a type does not use are zero/empty.
 * This keeps the wire mapping (proto/raft.proto) a single tested function.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: MemberId;
  readonly to: MemberId;
  readonly term: number;
  /** App: term of the entry at `index`. Vote/PreVote: candidate's last log term. */
  readonly logTerm: number;
  /** App: index preceding `entries`. AppResp: last matched index (or rejected index). Vote: last log index. ReadIndexResp: the read index. */
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  /** AppResp on reject: the follower's hint for where to probe next. */
  readonly rejectHint: number;
  /** AppResp on reject: term of the entry at rejectHint (0 if none). */
  readonly logTermHint: number;
  readonly snapshot: Snapshot | null;
  /** ReadIndex/Heartbeat: request context. Vote/TimeoutNow: 'transfer' when campaigning for a leadership transfer. */
  readonly context: Uint8Array;
}

export const Role = {
  Follower: 'follower',
  PreCandidate: 'pre-candidate',
  Candidate: 'candidate',
  Leader: 'leader',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

export interface SoftState {
  readonly leader: MemberId;
  readonly role: Role;
}

/** A linearizable read may be served once the state machine has applied `index`. */
export interface ReadState {
  readonly index: number;
  readonly context: Uint8Array;
}

/**
 * What the application must do, in this order: persist (snapshot, entries, hardState; fsync if
 * mustSync), then send messages, then apply the snapshot and committedEntries, then advance().
 * One exception: messages for which sendableBeforePersist() holds may be sent before persisting,
 * in parallel with the write (the leader's fast path).
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  /** Entries to append to stable storage; any stored entries at index ≥ entries[0].index are replaced. */
  readonly entries: readonly Entry[];
  /** A snapshot to persist and restore the state machine from (follower catching up). */
  readonly snapshot: Snapshot | null;
  readonly messages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /** Whether the write of snapshot/entries/hardState must be fsynced before messages are sent. */
  readonly mustSync: boolean;
}

/**
 * Messages only a leader sends, which promise nothing about the sender's own durable state: the
 * leader counts its own entries towards a commit only after advance() (they are on disk then), its
 * term was persisted before it could win, and a snapshot it sends is already durable. Sending them
 * before the Ready's write overlaps the leader's fsync with its followers' (Raft thesis §10.2.1).
 * Votes, vote and append responses always wait for the write: they acknowledge it.
 */
export const sendableBeforePersist = (m: Message): boolean =>
  m.type === MessageType.App ||
  m.type === MessageType.Heartbeat ||
  m.type === MessageType.Snap ||
  m.type === MessageType.TimeoutNow ||
  m.type === MessageType.ReadIndexResp;

export interface RaftConfig {
  readonly id: MemberId;
  /** Ticks between heartbeats. Default 1. */
  readonly heartbeatTick: number;
  /** Base election timeout in ticks; the effective one is randomized in [electionTick, 2·electionTick). Default 10. */
  readonly electionTick: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Bound on in-flight App messages per follower while replicating. Default 256. */
  readonly maxInflightMsgs: number;
  /** Bound on the bytes of entries in one App message. Default 1 MiB. */
  readonly maxSizePerMsg: number;
  /** Bound on the bytes of committed entries handed out in one Ready. Default 16 MiB. */
  readonly maxCommittedSizePerReady: number;
  /** Bound on the bytes of uncommitted entries the leader accepts before refusing proposals. Default 64 MiB. */
  readonly maxUncommittedSize: number;
}

export const defaultRaftConfig = (id: MemberId): RaftConfig => ({
  id,
  heartbeatTick: 1,
  electionTick: 10,
  preVote: true,
  checkQuorum: true,
  maxInflightMsgs: 256,
  maxSizePerMsg: 1 << 20,
  maxCommittedSizePerReady: 16 << 20,
  maxUncommittedSize: 64 << 20,
});

/** What a restarting member hands the core: exactly what it persisted. */
export interface PersistedState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  /** Entries after the snapshot's index, contiguous. */
  readonly entries: readonly Entry[];
}

/** Outcome of local requests, per STYLE: pure cores return outcomes, they throw only on broken invariants. */
export type ProposeOutcome =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | {
      readonly ok: false;
      readonly reason:
        'not-leader' | 'transferring' | 'conf-change-pending' | 'too-large' | 'invalid';
      readonly leader: MemberId;
      readonly detail?: string;
    };

export interface Progress {
  readonly match: number;
  readonly next: number;
  readonly state: 'probe' | 'replicate' | 'snapshot';
  readonly learner: boolean;
  readonly recentActive: boolean;
}

export interface Status {
  readonly id: MemberId;
  readonly term: number;
  readonly vote: MemberId;
  readonly commit: number;
  readonly applied: number;
  readonly leader: MemberId;
  readonly role: Role;
  readonly lastIndex: number;
  readonly firstIndex: number;
  readonly conf: ConfState;
  readonly transferee: MemberId;
  /** Only on the leader. */
  readonly progress: ReadonlyMap<MemberId, Progress>;
}
