// Typed errors of the WAL and snapshot store. Callers branch on `code`, never on messages.

/** The log on disk is damaged where no crash explains it; the member must not start from it. */
export class WalCorruptError extends Error {
  readonly code = 'wal-corrupt' as const;
  readonly temporary = false;
  /** Absolute path of the damaged (or, for a gap, the first file after the gap) segment. */
  readonly file: string;
  /** Byte offset in `file` of the first record that could not be trusted. */
  readonly offset: number;
  readonly reason: string;

  constructor(file: string, offset: number, reason: string, options?: { cause?: unknown }) {
    super(`WAL corrupt: ${file} at offset ${offset}: ${reason}`, options);
    this.name = 'WalCorruptError';
    this.file = file;
    this.offset = offset;
    this.reason = reason;
  }
}

/** A snapshot the WAL depends on is missing or fails its checksum. */
export class SnapshotCorruptError extends Error {
  readonly code = 'snapshot-corrupt' as const;
  readonly temporary = false;
  /** Absolute path of the snapshot file. */
  readonly file: string;
  readonly reason: string;

  constructor(file: string, reason: string, options?: { cause?: unknown }) {
    super(`snapshot corrupt: ${file}: ${reason}`, options);
    this.name = 'SnapshotCorruptError';
    this.file = file;
    this.reason = reason;
  }
}

/** The WAL was closed; nothing more can be written through this instance. */
export class WalClosedError extends Error {
  readonly code = 'wal-closed' as const;
  readonly temporary = false;

  constructor() {
    super('WAL is closed');
    this.name = 'WalClosedError';
  }
}

/**
 * A write or fsync failed. The WAL stops accepting writes for good: after a failed fsync the
 * kernel may have dropped the dirty pages, so retrying could acknowledge data that is not on disk.
 * The member must restart and recover from what is on disk.
 */
export class WalFailedError extends Error {
  readonly code = 'wal-failed' as const;
  readonly temporary = false;

  constructor(what: string, options: { cause: unknown }) {
    super(`WAL failed (${what}); restart the member to recover from disk`, options);
    this.name = 'WalFailedError';
  }
}
