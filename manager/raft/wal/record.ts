// The WAL's record framing and the binary layout of each record type. Pure functions over
// Buffers: the WAL writer encodes a whole batch into one Buffer with these, recovery parses with
// them. Layout (little-endian), documented in docs/wal.md:
//
//   u32 payloadLength | u32 crc32c(type ‖ payload) | u8 type | payload
//
// Integers that can grow past 2^32 (terms, indexes, offsets, member ids) are u64 on disk and must
// be safe integers in memory; anything larger is treated as corruption, never rounded.
import type { Entry, HardState, MemberId } from '../core/index.js';
import { EntryType } from '../core/index.js';
import { crc32c } from './crc32c.js';

export const RecordType = {
  /**
   * First record of every segment: format version, sequence number, first index, and the length
   * of the creation region (this header plus the carried-over hard state and snapshot marker).
   */
  SegmentHeader: 1,
  /** Opens a write: how far the segment was fsynced before it, and how many bytes it spans. */
  Batch: 2,
  Entry: 3,
  HardState: 4,
  /** A snapshot at (index, term) exists in the snapshot store; replay may start there. */
  SnapshotMarker: 5,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export const recordTypeName = (type: number): string => {
  for (const [name, value] of Object.entries(RecordType)) if (value === type) return name;
  return `unknown(${type})`;
};

export const FORMAT_VERSION = 1;
/** u32 length + u32 crc + u8 type. */
export const FRAME_BYTES = 9;
/** No single record may claim more than this; a larger length is damage, not data. */
export const MAX_PAYLOAD_BYTES = 1 << 30;

const SEGMENT_HEADER_PAYLOAD = 1 + 8 + 8 + 8;
export const BATCH_PAYLOAD = 8 + 8;
const ENTRY_FIXED_PAYLOAD = 8 + 8 + 1;
const HARD_STATE_PAYLOAD = 8 + 8 + 8;
const MARKER_PAYLOAD = 8 + 8 + 1;

export const SEGMENT_HEADER_BYTES = FRAME_BYTES + SEGMENT_HEADER_PAYLOAD;
export const BATCH_BYTES = FRAME_BYTES + BATCH_PAYLOAD;
export const HARD_STATE_BYTES = FRAME_BYTES + HARD_STATE_PAYLOAD;
export const MARKER_BYTES = FRAME_BYTES + MARKER_PAYLOAD;
export const entryBytes = (e: Entry): number => FRAME_BYTES + ENTRY_FIXED_PAYLOAD + e.data.length;

const TWO_32 = 0x1_0000_0000;
const MAX_HI = Math.floor(Number.MAX_SAFE_INTEGER / TWO_32);

const writeU64 = (buf: Buffer, off: number, n: number): void => {
  buf.writeUInt32LE(n % TWO_32, off);
  buf.writeUInt32LE(Math.floor(n / TWO_32), off + 4);
};

/** Thrown by the payload decoders; recovery turns it into a WalCorruptError (file, offset). */
export class RecordDecodeError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'RecordDecodeError';
  }
}

const readU64 = (buf: Buffer, off: number, what: string): number => {
  const lo = buf.readUInt32LE(off);
  const hi = buf.readUInt32LE(off + 4);
  if (hi > MAX_HI) throw new RecordDecodeError(`${what} exceeds the safe integer range`);
  return hi * TWO_32 + lo;
};

/** Writes the frame around a payload already placed at off+FRAME_BYTES; returns the end offset. */
const seal = (buf: Buffer, off: number, type: RecordType, payloadBytes: number): number => {
  const end = off + FRAME_BYTES + payloadBytes;
  buf.writeUInt32LE(payloadBytes, off);
  buf[off + 8] = type;
  buf.writeUInt32LE(crc32c(buf, off + 8, end), off + 4);
  return end;
};

export const writeSegmentHeader = (
  buf: Buffer,
  off: number,
  h: Omit<SegmentHeader, 'version'>,
): number => {
  const p = off + FRAME_BYTES;
  buf[p] = FORMAT_VERSION;
  writeU64(buf, p + 1, h.seq);
  writeU64(buf, p + 9, h.firstIndex);
  writeU64(buf, p + 17, h.regionBytes);
  return seal(buf, off, RecordType.SegmentHeader, SEGMENT_HEADER_PAYLOAD);
};

export const writeBatch = (
  buf: Buffer,
  off: number,
  durableOffset: number,
  bodyBytes: number,
): number => {
  const p = off + FRAME_BYTES;
  writeU64(buf, p, durableOffset);
  writeU64(buf, p + 8, bodyBytes);
  return seal(buf, off, RecordType.Batch, BATCH_PAYLOAD);
};

const ENTRY_TYPE_CODE = { [EntryType.Normal]: 0, [EntryType.ConfChange]: 1 } as const;
const ENTRY_TYPE_BY_CODE: readonly EntryType[] = [EntryType.Normal, EntryType.ConfChange];

export const writeEntry = (buf: Buffer, off: number, e: Entry): number => {
  const p = off + FRAME_BYTES;
  writeU64(buf, p, e.term);
  writeU64(buf, p + 8, e.index);
  buf[p + 16] = ENTRY_TYPE_CODE[e.type];
  buf.set(e.data, p + ENTRY_FIXED_PAYLOAD);
  return seal(buf, off, RecordType.Entry, ENTRY_FIXED_PAYLOAD + e.data.length);
};

export const writeHardState = (buf: Buffer, off: number, hs: HardState): number => {
  const p = off + FRAME_BYTES;
  writeU64(buf, p, hs.term);
  writeU64(buf, p + 8, hs.vote);
  writeU64(buf, p + 16, hs.commit);
  return seal(buf, off, RecordType.HardState, HARD_STATE_PAYLOAD);
};

export interface Marker {
  readonly index: number;
  readonly term: number;
  /**
   * Whether the log after `index` was discarded when the snapshot was recorded: true when the
   * snapshot did not match the log (a follower installing the leader's snapshot), false when the
   * snapshot is a compaction point of this log (entries after it stay).
   */
  readonly discardLog: boolean;
}

export const writeMarker = (buf: Buffer, off: number, m: Marker): number => {
  const p = off + FRAME_BYTES;
  writeU64(buf, p, m.index);
  writeU64(buf, p + 8, m.term);
  buf[p + 16] = m.discardLog ? 1 : 0;
  return seal(buf, off, RecordType.SnapshotMarker, MARKER_PAYLOAD);
};

export type Parsed =
  | {
      readonly ok: true;
      readonly type: RecordType;
      readonly payloadStart: number;
      readonly end: number;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * Validates the frame at `off` (bounds, CRC, known type) without decoding the payload. The record
 * must end at or before `limit` (the end of the file, or of the enclosing batch).
 */
export const parseFrame = (buf: Buffer, off: number, limit: number = buf.length): Parsed => {
  if (limit - off < FRAME_BYTES) {
    return { ok: false, reason: `short record header (${limit - off} bytes left)` };
  }
  const len = buf.readUInt32LE(off);
  if (len > MAX_PAYLOAD_BYTES) return { ok: false, reason: `implausible record length ${len}` };
  const end = off + FRAME_BYTES + len;
  if (end > limit) {
    return {
      ok: false,
      reason: `record length ${len} runs past the end of ${limit === buf.length ? 'the file' : 'its batch'}`,
    };
  }
  const want = buf.readUInt32LE(off + 4);
  const got = crc32c(buf, off + 8, end);
  if (want !== got) return { ok: false, reason: 'checksum mismatch' };
  const type = buf[off + 8]!;
  if (type < RecordType.SegmentHeader || type > RecordType.SnapshotMarker) {
    return { ok: false, reason: `unknown record type ${type}` };
  }
  return { ok: true, type: type as RecordType, payloadStart: off + FRAME_BYTES, end };
};

const expectLength = (what: string, got: number, want: number): void => {
  if (got !== want) throw new RecordDecodeError(`${what} payload is ${got} bytes, want ${want}`);
};

export interface SegmentHeader {
  readonly version: number;
  readonly seq: number;
  readonly firstIndex: number;
  /** Bytes from the start of the file to the first batch: written and fsynced before the rename. */
  readonly regionBytes: number;
}

export const decodeSegmentHeader = (buf: Buffer, p: number, end: number): SegmentHeader => {
  expectLength('segment header', end - p, SEGMENT_HEADER_PAYLOAD);
  const version = buf[p]!;
  if (version !== FORMAT_VERSION) {
    throw new RecordDecodeError(`unsupported WAL format version ${version}`);
  }
  return {
    version,
    seq: readU64(buf, p + 1, 'segment seq'),
    firstIndex: readU64(buf, p + 9, 'segment first index'),
    regionBytes: readU64(buf, p + 17, 'segment region length'),
  };
};

export interface BatchHeader {
  readonly durableOffset: number;
  readonly bodyBytes: number;
}

export const decodeBatch = (buf: Buffer, p: number, end: number): BatchHeader => {
  expectLength('batch', end - p, BATCH_PAYLOAD);
  return {
    durableOffset: readU64(buf, p, 'batch durable offset'),
    bodyBytes: readU64(buf, p + 8, 'batch length'),
  };
};

/** The entry's data is copied out so the segment buffer it was read from can be freed. */
export const decodeEntry = (buf: Buffer, p: number, end: number): Entry => {
  if (end - p < ENTRY_FIXED_PAYLOAD) {
    throw new RecordDecodeError(`entry payload is ${end - p} bytes, want ≥ ${ENTRY_FIXED_PAYLOAD}`);
  }
  const term = readU64(buf, p, 'entry term');
  const index = readU64(buf, p + 8, 'entry index');
  const code = buf[p + 16]!;
  const type = ENTRY_TYPE_BY_CODE[code];
  if (type === undefined) throw new RecordDecodeError(`unknown entry type code ${code}`);
  if (index < 1) throw new RecordDecodeError('entry index 0');
  const data = new Uint8Array(end - p - ENTRY_FIXED_PAYLOAD);
  data.set(buf.subarray(p + ENTRY_FIXED_PAYLOAD, end));
  return { term, index, type, data };
};

export const decodeHardState = (buf: Buffer, p: number, end: number): HardState => {
  expectLength('hard state', end - p, HARD_STATE_PAYLOAD);
  return {
    term: readU64(buf, p, 'hard state term'),
    vote: readU64(buf, p + 8, 'hard state vote') as MemberId,
    commit: readU64(buf, p + 16, 'hard state commit'),
  };
};

export const decodeMarker = (buf: Buffer, p: number, end: number): Marker => {
  expectLength('snapshot marker', end - p, MARKER_PAYLOAD);
  const flags = buf[p + 16]!;
  if (flags > 1) throw new RecordDecodeError(`unknown snapshot marker flags ${flags}`);
  return {
    index: readU64(buf, p, 'snapshot marker index'),
    term: readU64(buf, p + 8, 'snapshot marker term'),
    discardLog: flags === 1,
  };
};
