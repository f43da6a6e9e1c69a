// The knobs of a simulated run: what the nemesis may do and how often, the network's weather, and
// the coverage counters that show which faults and features a run actually exercised.

export const NemesisAction = {
  /** Cut links: isolate a member, split in two, one-way cuts, a bridge. Replaces any earlier cut. */
  Partition: 'partition',
  Heal: 'heal',
  /** Kill a member (the leader more often than not); it restarts after a while. */
  Crash: 'crash',
  /** Kill a member in the middle of persisting its next Ready: that Ready never happened. */
  CrashDuringReady: 'crash-during-ready',
  /** Kill a member right after a Ready it was allowed not to fsync (mustSync false) went out. */
  CrashAfterUnsynced: 'crash-after-unsynced',
  /** Change the loss, duplication and detour rates. */
  Network: 'network',
  /** Snapshot and compact one member now. */
  Snapshot: 'snapshot',
  AddLearner: 'add-learner',
  Promote: 'promote',
  Remove: 'remove',
  Transfer: 'transfer',
} as const;
export type NemesisAction = (typeof NemesisAction)[keyof typeof NemesisAction];

export interface FaultProfile {
  /** Probability a message is lost. */
  readonly dropRate: number;
  readonly duplicateRate: number;
  /** Probability a message takes a 100–1000 ms detour, which reorders it behind later ones. */
  readonly slowRate: number;
  /** Ordinary one-way latency is uniform in [1, maxLatencyMs]. */
  readonly maxLatencyMs: number;
  /** Mean gap between nemesis actions. */
  readonly nemesisGapMs: number;
  readonly weights: Readonly<Record<NemesisAction, number>>;
  /** A member snapshots and compacts once it applied this many entries past its snapshot (0: only when the nemesis says). */
  readonly snapshotEvery: number;
  /** A crashed member stays down up to this long (until the faults end at the latest). */
  readonly maxDownMs: number;
  /**
   * Probability that a member is crashed or isolated within 60 ms of becoming leader: the moments
   * when a new leader is still re-replicating entries of earlier terms are where the subtle bugs
   * (the paper's Figure 8) live, and random faults rarely land there.
   */
  readonly newLeaderFaultRate: number;
}

export interface Coverage {
  messagesSent: number;
  messagesDropped: number;
  messagesDuplicated: number;
  partitions: number;
  crashes: number;
  crashesDuringReady: number;
  /** Unsynced writes (allowed to be lost) that crashes did lose. */
  unsyncedWritesLost: number;
  snapshotsTaken: number;
  snapshotsSent: number;
  snapshotsRestored: number;
  confChangesApplied: number;
  transfersStarted: number;
  /** Messages from removed members that reached members knowing of the removal (and were ignored). */
  removedMessagesIgnored: number;
  putsAcknowledged: number;
  readsServed: number;
  opsUnknown: number;
  opsRefused: number;
}

export const emptyCoverage = (): Coverage => ({
  messagesSent: 0,
  messagesDropped: 0,
  messagesDuplicated: 0,
  partitions: 0,
  crashes: 0,
  crashesDuringReady: 0,
  unsyncedWritesLost: 0,
  snapshotsTaken: 0,
  snapshotsSent: 0,
  snapshotsRestored: 0,
  confChangesApplied: 0,
  transfersStarted: 0,
  removedMessagesIgnored: 0,
  putsAcknowledged: 0,
  readsServed: 0,
  opsUnknown: 0,
  opsRefused: 0,
});

export const defaultWeights: Record<NemesisAction, number> = {
  partition: 3,
  heal: 3,
  crash: 2,
  'crash-during-ready': 1,
  'crash-after-unsynced': 1,
  network: 2,
  snapshot: 1,
  'add-learner': 1,
  promote: 2,
  remove: 1,
  transfer: 1,
};
