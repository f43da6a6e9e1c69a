// Public surface of the Raft WAL and snapshot storage.
export { Wal, DEFAULT_SEGMENT_BYTES, listSegments, segmentFileName } from './wal.js';
export type { WalOptions, WalStats } from './wal.js';
export { SnapshotStore, snapshotFileName } from './snapshot-store.js';
export type { SnapshotFile } from './snapshot-store.js';
export { SnapshotCorruptError, WalClosedError, WalCorruptError, WalFailedError } from './errors.js';
export { crc32c, crc32cExtend } from './crc32c.js';
export { inspectSegment } from './inspect.js';
export type { RecordInfo, SegmentListing } from './inspect.js';
