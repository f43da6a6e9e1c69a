// The Raft write-ahead log: segment files of CRC-framed records (entries, hard states, snapshot
// markers), group commit (concurrent saves share one write and one fdatasync), and recovery that
// trims a torn tail but refuses to start from damage a crash cannot explain. Snapshots themselves
// live in the SnapshotStore; the WAL records which one counts. Format and rules: docs/wal.md.
import { mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Entry, HardState, PersistedState, Snapshot } from '../core/index.js';
import { EntryType, NONE } from '../core/index.js';
import { WalClosedError, WalCorruptError, WalFailedError } from './errors.js';
import { fsyncDir, isNodeError, writeAll } from './fs-util.js';
import { LogShape } from './log-shape.js';
import type { Marker, Parsed } from './record.js';
import {
  BATCH_BYTES,
  BATCH_PAYLOAD,
  HARD_STATE_BYTES,
  MARKER_BYTES,
  RecordDecodeError,
  RecordType,
  SEGMENT_HEADER_BYTES,
  decodeBatch,
  decodeEntry,
  decodeHardState,
  decodeMarker,
  decodeSegmentHeader,
  entryBytes,
  parseFrame,
  recordTypeName,
  writeBatch,
  writeEntry,
  writeHardState,
  writeMarker,
  writeSegmentHeader,
} from './record.js';
import { SnapshotStore } from './snapshot-store.js';

export const DEFAULT_SEGMENT_BYTES = 64 << 20;
const MIN_SEGMENT_BYTES = 1024;
/** Upper bound on one coalesced write, so a burst of saves cannot build an unbounded buffer. */
const MAX_GROUP_BYTES = 16 << 20;
const SEGMENT_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
const EMPTY_HARD_STATE: HardState = { term: 0, vote: NONE, commit: 0 };

export interface WalOptions {
  /** Roll to a new segment once the current one would exceed this. Default 64 MiB. */
  readonly segmentBytes?: number;
  /** Diagnostic lines (torn tails trimmed at recovery). */
  readonly log?: (line: string) => void;
}

export interface WalStats {
  /** fdatasync calls on segment files (group commit makes this far smaller than `saves`). */
  readonly fsyncs: number;
  readonly writes: number;
  readonly bytesWritten: number;
  readonly segmentsCreated: number;
  readonly saves: number;
}

interface SegmentInfo {
  readonly seq: number;
  readonly firstIndex: number;
  readonly file: string;
  /** Highest entry index written into this segment: it may go once a snapshot covers that. */
  maxEntryIndex: number;
}

interface Pending {
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly marker: Marker | null;
  readonly sync: boolean;
  /** The log's last index once this item is written; the next segment starts after it. */
  readonly lastIndexAfter: number;
  readonly bytes: number;
  /** False while a snapshot marker waits for its snapshot file: it holds up everything after it. */
  ready: boolean;
  readonly done: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

interface Counters {
  fsyncs: number;
  writes: number;
  bytesWritten: number;
  segmentsCreated: number;
  saves: number;
}

const hex16 = (n: number): string => n.toString(16).padStart(16, '0');
export const segmentFileName = (seq: number, firstIndex: number): string =>
  `${hex16(seq)}-${hex16(firstIndex)}.wal`;

const isU64 = (n: unknown): n is number =>
  typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

const validateHardState = (hs: HardState): void => {
  if (!isU64(hs.term) || !isU64(hs.vote) || !isU64(hs.commit)) {
    throw new TypeError(
      `invalid hard state: term ${hs.term}, vote ${hs.vote}, commit ${hs.commit} (want safe integers ≥ 0)`,
    );
  }
};

const validateEntries = (entries: readonly Entry[]): void => {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (!isU64(e.index) || e.index < 1 || !isU64(e.term)) {
      throw new RangeError(`entry ${i}: invalid index ${e.index} / term ${e.term}`);
    }
    if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange) {
      throw new TypeError(`entry ${e.index}: unknown type ${String(e.type)}`);
    }
    if (!(e.data instanceof Uint8Array)) throw new TypeError(`entry ${e.index}: data not bytes`);
    if (i > 0 && e.index !== entries[i - 1]!.index + 1) {
      throw new RangeError(`entries not contiguous: ${entries[i - 1]!.index} then ${e.index}`);
    }
  }
};

/** Segment files (not temp files) in a WAL directory, by ascending sequence number. */
export async function listSegments(
  walDir: string,
): Promise<{ seq: number; firstIndex: number; file: string }[]> {
  const out: { seq: number; firstIndex: number; file: string }[] = [];
  for (const name of await readdir(walDir)) {
    const m = SEGMENT_NAME.exec(name);
    if (!m) continue;
    out.push({
      seq: parseInt(m[1]!, 16),
      firstIndex: parseInt(m[2]!, 16),
      file: join(walDir, name),
    });
  }
  return out.sort((a, b) => a.seq - b.seq);
}

/**
 * Replays records into the log Raft will restart with, applying the same rules the writer
 * followed: a later entry for an index replaces it and everything after; a snapshot marker drops
 * what it covers (and, when it did not match the log, everything after it too).
 */
class Replay {
  hardState: HardState | null = null;
  snap: Marker | null = null;
  /** entries[0] has this index. Above 1 with no snapshot covering it means entries are missing. */
  knownFrom: number;
  entries: Entry[] = [];

  constructor(knownFrom: number) {
    this.knownFrom = knownFrom;
  }

  get snapIndex(): number {
    return this.snap?.index ?? 0;
  }

  get lastIndex(): number {
    return this.knownFrom - 1 + this.entries.length;
  }

  entry(e: Entry, file: string, offset: number): void {
    if (e.index <= this.snapIndex) return;
    if (e.index < this.knownFrom) {
      // Only when the first segments were released: this overwrites into what they held.
      this.entries = [e];
      this.knownFrom = e.index;
      return;
    }
    if (e.index > this.lastIndex + 1) {
      throw new WalCorruptError(
        file,
        offset,
        `entry ${e.index} leaves a gap after ${this.lastIndex} (a segment or record is missing)`,
      );
    }
    this.entries.length = e.index - this.knownFrom;
    this.entries.push(e);
  }

  marker(m: Marker, file: string, offset: number): void {
    if (m.index <= this.snapIndex) return; // carried-over copy, or a stale duplicate
    if (m.discardLog) {
      this.entries = [];
      this.knownFrom = m.index + 1;
    } else if (m.index >= this.knownFrom) {
      const covered = this.entries[m.index - this.knownFrom];
      if (covered === undefined || covered.term !== m.term) {
        throw new WalCorruptError(
          file,
          offset,
          `snapshot marker (index ${m.index}, term ${m.term}) keeps the log, but the log has ` +
            (covered ? `term ${covered.term} there` : `no entry ${m.index}`),
        );
      }
      this.entries = this.entries.slice(m.index - this.knownFrom + 1);
      this.knownFrom = m.index + 1;
    }
    this.snap = m;
  }

  /** The log must be whole from the snapshot on. */
  finish(firstFile: string): void {
    if (this.knownFrom - 1 > this.snapIndex) {
      throw new WalCorruptError(
        firstFile,
        0,
        `entries ${this.snapIndex + 1}..${this.knownFrom - 1} are missing: earlier segments are gone ` +
          'and no snapshot covers them',
      );
    }
  }
}

/**
 * Scans forward from a damaged spot for a batch written after that spot was already fsynced:
 * such a batch proves the damage is not a torn final write. Returns its offset, or null.
 */
const laterDurableBatch = (buf: Buffer, from: number): number | null => {
  for (let p = from + 1; p + BATCH_BYTES <= buf.length; p++) {
    if (buf[p + 8] !== RecordType.Batch || buf.readUInt32LE(p) !== BATCH_PAYLOAD) continue;
    const r = parseFrame(buf, p);
    if (!r.ok) continue;
    let durableOffset: number;
    try {
      durableOffset = decodeBatch(buf, r.payloadStart, r.end).durableOffset;
    } catch {
      continue; // a checksum-valid frame with an impossible offset proves nothing
    }
    if (durableOffset > from && durableOffset <= p) return p;
  }
  return null;
};

interface SegmentReplayed {
  /** Bytes of the segment that are valid (the file is truncated to this if it had a torn tail). */
  readonly size: number;
  readonly regionBytes: number;
  readonly maxEntryIndex: number;
}

async function replaySegment(
  seg: { seq: number; firstIndex: number; file: string },
  isFirst: boolean,
  isLast: boolean,
  replay: Replay,
  log: (line: string) => void,
): Promise<SegmentReplayed> {
  const { file } = seg;
  const buf = await readFile(file);
  const corrupt = (offset: number, reason: string, cause?: unknown): WalCorruptError =>
    new WalCorruptError(file, offset, reason, cause === undefined ? undefined : { cause });
  const decoded = <T>(offset: number, decode: () => T): T => {
    try {
      return decode();
    } catch (e) {
      if (e instanceof RecordDecodeError) throw corrupt(offset, e.message, e);
      throw e;
    }
  };

  const h = parseFrame(buf, 0);
  if (!h.ok) throw corrupt(0, `segment header: ${h.reason}`);
  if (h.type !== RecordType.SegmentHeader) {
    throw corrupt(0, `first record is ${recordTypeName(h.type)}, not a segment header`);
  }
  const header = decoded(0, () => decodeSegmentHeader(buf, h.payloadStart, h.end));
  if (header.seq !== seg.seq || header.firstIndex !== seg.firstIndex) {
    throw corrupt(
      0,
      `header says seq ${header.seq} first index ${header.firstIndex}, the file name says ` +
        `seq ${seg.seq} first index ${seg.firstIndex}`,
    );
  }
  if (header.regionBytes < h.end || header.regionBytes > buf.length) {
    throw corrupt(0, `creation region of ${header.regionBytes} bytes does not fit the file`);
  }
  if (!isFirst && header.firstIndex !== replay.lastIndex + 1) {
    throw corrupt(
      0,
      `segment starts at index ${header.firstIndex} but the log before it ends at ${replay.lastIndex}`,
    );
  }

  let maxEntryIndex = 0;
  const apply = (r: Parsed & { ok: true }, at: number): void => {
    switch (r.type) {
      case RecordType.Entry: {
        const e = decoded(at, () => decodeEntry(buf, r.payloadStart, r.end));
        replay.entry(e, file, at);
        if (e.index > maxEntryIndex) maxEntryIndex = e.index;
        return;
      }
      case RecordType.HardState:
        replay.hardState = decoded(at, () => decodeHardState(buf, r.payloadStart, r.end));
        return;
      case RecordType.SnapshotMarker:
        replay.marker(
          decoded(at, () => decodeMarker(buf, r.payloadStart, r.end)),
          file,
          at,
        );
        return;
      default:
        throw corrupt(at, `${recordTypeName(r.type)} record where only data records belong`);
    }
  };

  // The creation region was fsynced before the file got its name: any damage there is real.
  let off = h.end;
  while (off < header.regionBytes) {
    const r = parseFrame(buf, off, header.regionBytes);
    if (!r.ok) throw corrupt(off, `segment creation region: ${r.reason}`);
    apply(r, off);
    off = r.end;
  }

  // Then one batch per write. A batch is applied only once all its records check out, so a torn
  // write never leaves half of a save (say, entries without the hard state that came with them).
  let bad: { at: number; recordAt: number; reason: string } | null = null;
  while (off < buf.length) {
    const r = parseFrame(buf, off);
    if (!r.ok) {
      bad = { at: off, recordAt: off, reason: r.reason };
      break;
    }
    if (r.type !== RecordType.Batch) {
      throw corrupt(off, `${recordTypeName(r.type)} record outside a batch`);
    }
    const batch = decoded(off, () => decodeBatch(buf, r.payloadStart, r.end));
    if (batch.durableOffset > off) {
      throw corrupt(off, `batch claims ${batch.durableOffset} bytes were durable before it began`);
    }
    const bodyEnd = r.end + batch.bodyBytes;
    if (bodyEnd > buf.length) {
      bad = {
        at: off,
        recordAt: off,
        reason: `batch of ${batch.bodyBytes} bytes runs past the end of the file`,
      };
      break;
    }
    const records: [Parsed & { ok: true }, number][] = [];
    for (let p = r.end; p < bodyEnd;) {
      const q = parseFrame(buf, p, bodyEnd);
      if (!q.ok) {
        bad = { at: off, recordAt: p, reason: q.reason };
        break;
      }
      records.push([q, p]);
      p = q.end;
    }
    if (bad) break;
    for (const [q, at] of records) apply(q, at);
    off = bodyEnd;
  }

  if (bad === null) return { size: buf.length, regionBytes: header.regionBytes, maxEntryIndex };
  if (!isLast) {
    throw corrupt(bad.recordAt, `${bad.reason} (in a segment that was complete and fsynced)`);
  }
  const proof = laterDurableBatch(buf, bad.at);
  if (proof !== null) {
    throw corrupt(
      bad.recordAt,
      `${bad.reason}; the write at offset ${proof} was made after this data had been fsynced`,
    );
  }
  log(
    `wal: ${file}: torn write at offset ${bad.at} (${bad.reason} at ${bad.recordAt}); ` +
      `truncating ${buf.length - bad.at} bytes`,
  );
  const fh = await open(file, 'r+');
  try {
    await fh.truncate(bad.at);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  return { size: bad.at, regionBytes: header.regionBytes, maxEntryIndex };
}

/** Creates a segment durably: header (+ carried state) to a temp file, fsync, rename, fsync dir. */
async function createSegment(
  walDir: string,
  seq: number,
  firstIndex: number,
  hardState: HardState | null,
  marker: Marker | null,
  counters: Counters,
): Promise<{ fh: FileHandle; info: SegmentInfo; regionBytes: number }> {
  const regionBytes =
    SEGMENT_HEADER_BYTES + (hardState ? HARD_STATE_BYTES : 0) + (marker ? MARKER_BYTES : 0);
  const buf = Buffer.alloc(regionBytes);
  let off = writeSegmentHeader(buf, 0, { seq, firstIndex, regionBytes });
  // Carried over so that older segments can be deleted without losing the term/vote or the
  // snapshot point.
  if (hardState) off = writeHardState(buf, off, hardState);
  if (marker) writeMarker(buf, off, { ...marker, discardLog: false });
  const file = join(walDir, segmentFileName(seq, firstIndex));
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w+');
  try {
    await writeAll(fh, buf, 0);
    await fh.datasync();
    counters.fsyncs++;
    await rename(tmp, file);
    await fsyncDir(walDir);
  } catch (e) {
    await fh.close();
    throw e;
  }
  counters.segmentsCreated++;
  return { fh, info: { seq, firstIndex, file, maxEntryIndex: 0 }, regionBytes };
}

interface WalInit {
  readonly walDir: string;
  readonly store: SnapshotStore;
  readonly segmentBytes: number;
  readonly segments: SegmentInfo[];
  readonly fh: FileHandle;
  readonly size: number;
  readonly regionBytes: number;
  readonly shape: LogShape;
  readonly hardState: HardState | null;
  readonly marker: Marker | null;
  readonly counters: Counters;
}

export class Wal {
  private readonly walDir: string;
  private readonly store: SnapshotStore;
  private readonly segmentBytes: number;
  /** Oldest first; the last one is being appended to. */
  private readonly segments: SegmentInfo[];
  private fh: FileHandle | null;
  /** Bytes in the current segment. */
  private size: number;
  private regionBytes: number;
  /** How much of the current segment is known fsynced; recorded in every batch (see recovery). */
  private durable: number;
  private dirty = false;
  /** The log as accepted by save/saveSnapshot calls, including queued ones. */
  private readonly shape: LogShape;
  /** The log's last index as written to disk (queued saves excluded): next segment's first. */
  private writtenLastIndex: number;
  private writtenHardState: HardState | null;
  /** The newest snapshot marker that is fsynced: what recovery would start from. */
  private marker: Marker | null;
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private failure: WalFailedError | null = null;
  private closed = false;
  private readonly counters: Counters;

  private constructor(init: WalInit) {
    this.walDir = init.walDir;
    this.store = init.store;
    this.segmentBytes = init.segmentBytes;
    this.segments = init.segments;
    this.fh = init.fh;
    this.size = init.size;
    this.regionBytes = init.regionBytes;
    this.durable = init.size;
    this.shape = init.shape;
    this.writtenLastIndex = init.shape.lastIndex;
    this.writtenHardState = init.hardState;
    this.marker = init.marker;
    this.counters = init.counters;
  }

  /**
   * Opens (creating if new) the WAL in `dir` (segments in `dir/wal`, snapshots in `dir/snap`)
   * and returns what was persisted: the snapshot of the newest durable marker, the last hard
   * state, and the entries after the snapshot. A torn final write is trimmed (and logged);
   * anything else damaged is a WalCorruptError or SnapshotCorruptError.
   */
  static async open(
    dir: string,
    opts: WalOptions = {},
  ): Promise<{ wal: Wal; state: PersistedState }> {
    const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes < MIN_SEGMENT_BYTES) {
      throw new RangeError(
        `segmentBytes ${segmentBytes} must be an integer ≥ ${MIN_SEGMENT_BYTES}`,
      );
    }
    const log = opts.log ?? ((): void => undefined);
    const walDir = join(dir, 'wal');
    const firstCreated = await mkdir(dir, { recursive: true });
    await mkdir(walDir, { recursive: true });
    const store = new SnapshotStore(join(dir, 'snap'));
    await store.init();
    // New directories are durable only once their parents are synced, up to one that existed.
    const synced = [dir];
    if (firstCreated !== undefined) {
      for (let d = dirname(dir); ; d = dirname(d)) {
        synced.push(d);
        if (d === dirname(firstCreated) || d === dirname(d)) break;
      }
    }
    for (const d of synced) await fsyncDir(d);
    for (const name of await readdir(walDir)) {
      if (name.endsWith('.wal.tmp')) await unlink(join(walDir, name));
    }
    const counters: Counters = {
      fsyncs: 0,
      writes: 0,
      bytesWritten: 0,
      segmentsCreated: 0,
      saves: 0,
    };
    const found = await listSegments(walDir);

    if (found.length === 0) {
      const orphans = await store.list();
      if (orphans.length > 0) {
        // Snapshots are only ever written after the first segment: the log was lost, and
        // starting empty would forget votes and acknowledged entries.
        throw new WalCorruptError(
          walDir,
          0,
          `no WAL segments, but snapshot ${orphans[orphans.length - 1]!.file} exists`,
        );
      }
      const created = await createSegment(walDir, 0, 1, null, null, counters);
      const wal = new Wal({
        walDir,
        store,
        segmentBytes,
        segments: [created.info],
        fh: created.fh,
        size: created.regionBytes,
        regionBytes: created.regionBytes,
        shape: new LogShape(),
        hardState: null,
        marker: null,
        counters,
      });
      return { wal, state: { hardState: EMPTY_HARD_STATE, snapshot: null, entries: [] } };
    }

    for (let i = 1; i < found.length; i++) {
      const want = found[i - 1]!.seq + 1;
      if (found[i]!.seq !== want) {
        throw new WalCorruptError(
          found[i]!.file,
          0,
          found[i]!.seq === found[i - 1]!.seq
            ? `two segments with seq ${want - 1}`
            : `segment seq ${want} is missing before this one`,
        );
      }
    }
    const replay = new Replay(found[0]!.firstIndex);
    const segments: SegmentInfo[] = [];
    let last: SegmentReplayed | null = null;
    for (let i = 0; i < found.length; i++) {
      const seg = found[i]!;
      last = await replaySegment(seg, i === 0, i === found.length - 1, replay, log);
      segments.push({ ...seg, maxEntryIndex: last.maxEntryIndex });
    }
    replay.finish(found[0]!.file);

    const snap = replay.snap;
    const snapshot: Snapshot | null = snap ? await store.load(snap.term, snap.index) : null;
    const hs = replay.hardState ?? EMPTY_HARD_STATE;
    // The snapshot holds committed state by construction; a hard state written just before it
    // (its successor lost to a crash) must not claim less.
    const hardState: HardState =
      hs.commit >= replay.snapIndex ? hs : { ...hs, commit: replay.snapIndex };

    const lastSeg = segments[segments.length - 1]!;
    const fh = await open(lastSeg.file, 'r+');
    try {
      // What we hand back must be durable even if the previous process wrote without syncing.
      await fh.datasync();
      counters.fsyncs++;
    } catch (e) {
      await fh.close();
      throw e;
    }
    const wal = new Wal({
      walDir,
      store,
      segmentBytes,
      segments,
      fh,
      size: last!.size,
      regionBytes: last!.regionBytes,
      shape: LogShape.from(replay.snapIndex, snap?.term ?? 0, replay.entries),
      hardState: replay.hardState,
      marker: snap,
      counters,
    });
    return { wal, state: { hardState, snapshot, entries: replay.entries } };
  }

  get stats(): WalStats {
    return { ...this.counters };
  }

  /**
   * Appends entries and/or a hard state. Entries at an index ≤ the last one replace it and
   * everything after (Raft's log truncation). Resolves once written, and when `sync` only after
   * an fdatasync covers it; concurrent calls share writes and fsyncs.
   */
  async save(hardState: HardState | null, entries: readonly Entry[], sync: boolean): Promise<void> {
    this.checkUsable();
    if (hardState) validateHardState(hardState);
    validateEntries(entries);
    const first = entries[0];
    if (first) {
      if (first.index <= this.shape.snapIndex) {
        throw new RangeError(
          `entry ${first.index} is at or below the snapshot index ${this.shape.snapIndex}`,
        );
      }
      if (first.index > this.shape.lastIndex + 1) {
        throw new RangeError(
          `entry ${first.index} would leave a gap: the log ends at ${this.shape.lastIndex}`,
        );
      }
      this.shape.append(entries);
    }
    let bytes = hardState ? HARD_STATE_BYTES : 0;
    for (const e of entries) bytes += entryBytes(e);
    this.counters.saves++;
    const item = this.enqueue({
      hardState,
      entries,
      marker: null,
      sync,
      bytes,
      lastIndexAfter: this.shape.lastIndex,
      ready: true,
    });
    this.kick();
    return item.done;
  }

  /**
   * Writes the snapshot file durably, then an fsynced marker saying recovery may start from it.
   * If the log holds the snapshot's (index, term) the entries after it stay; otherwise (a
   * follower installing the leader's snapshot) the whole log is replaced by the snapshot.
   * Saves issued after this call are written after the marker.
   */
  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    this.checkUsable();
    const { index, term } = snapshot.metadata;
    if (!isU64(index) || index < 1 || !isU64(term)) {
      throw new RangeError(`invalid snapshot index ${index} / term ${term}`);
    }
    if (index <= this.shape.snapIndex) {
      throw new RangeError(
        `snapshot ${index} is not newer than the current snapshot ${this.shape.snapIndex}`,
      );
    }
    const keep = this.shape.termAt(index) === term;
    this.shape.snapshotAt(index, term, keep);
    const item = this.enqueue({
      hardState: null,
      entries: [],
      marker: { index, term, discardLog: !keep },
      sync: true,
      bytes: MARKER_BYTES,
      lastIndexAfter: this.shape.lastIndex,
      ready: false,
    });
    try {
      await this.store.save(snapshot);
    } catch (e) {
      this.fail(new WalFailedError(`writing snapshot ${index}`, { cause: e }));
    }
    item.ready = true;
    this.kick();
    return item.done;
  }

  /**
   * Deletes segments whose entries are all ≤ index and covered by the newest durable snapshot
   * (never the one being written), then snapshot files older than that snapshot except the one
   * before it.
   */
  async releaseTo(index: number): Promise<void> {
    this.checkUsable();
    const marker = this.marker;
    if (!marker) return;
    const upTo = Math.min(index, marker.index);
    let n = 0;
    while (n < this.segments.length - 1 && this.segments[n]!.maxEntryIndex <= upTo) n++;
    // Oldest first, so a crash part-way leaves a shorter but still complete prefix.
    const doomed = this.segments.splice(0, n);
    for (const s of doomed) {
      try {
        await unlink(s.file);
      } catch (e) {
        if (!isNodeError(e, 'ENOENT')) throw e;
      }
    }
    if (doomed.length > 0) await fsyncDir(this.walDir);
    const older = (await this.store.list()).filter((f) => f.index < marker.index);
    await this.store.remove(older.slice(0, -1));
  }

  /** Waits for queued saves, syncs, closes. Later calls are refused with WalClosedError. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const last = this.queue[this.queue.length - 1];
    if (last) await last.done.catch(() => undefined);
    if (this.flushing) await this.flushing;
    const fh = this.fh;
    this.fh = null;
    if (!fh) return;
    try {
      if (this.failure === null && this.dirty) {
        await fh.datasync();
        this.counters.fsyncs++;
        this.dirty = false;
      }
    } finally {
      await fh.close();
    }
  }

  private checkUsable(): void {
    if (this.closed) throw new WalClosedError();
    if (this.failure) throw this.failure;
  }

  private enqueue(p: Omit<Pending, 'done' | 'resolve' | 'reject'>): Pending {
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const item: Pending = { ...p, done, resolve, reject };
    this.queue.push(item);
    return item;
  }

  private kick(): void {
    if (this.flushing !== null || this.failure !== null || !this.queue[0]?.ready) return;
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = null;
      this.kick();
    });
  }

  /** One write (and at most one fsync) in flight; what queues meanwhile forms the next group. */
  private async flushLoop(): Promise<void> {
    // Let callers in the same turn join the first group rather than trail it by one fsync.
    await Promise.resolve();
    while (this.failure === null && this.queue[0]?.ready) {
      const group = this.takeGroup();
      try {
        await this.writeGroup(group);
      } catch (e) {
        this.fail(new WalFailedError('write or fsync of a segment', { cause: e }), group);
      }
    }
  }

  private takeGroup(): Pending[] {
    let n = 0;
    let bytes = 0;
    while (n < this.queue.length) {
      const p = this.queue[n]!;
      if (!p.ready || (n > 0 && bytes + p.bytes > MAX_GROUP_BYTES)) break;
      bytes += p.bytes;
      n++;
    }
    return this.queue.splice(0, n);
  }

  private async writeGroup(group: readonly Pending[]): Promise<void> {
    let body = 0;
    for (const p of group) body += p.bytes;
    if (body > 0) {
      const total = BATCH_BYTES + body;
      if (this.size > this.regionBytes && this.size + total > this.segmentBytes) await this.roll();
      const seg = this.segments[this.segments.length - 1]!;
      const buf = Buffer.allocUnsafe(total);
      let off = writeBatch(buf, 0, this.durable, body);
      for (const p of group) {
        for (const e of p.entries) {
          off = writeEntry(buf, off, e);
          if (e.index > seg.maxEntryIndex) seg.maxEntryIndex = e.index;
        }
        // After the entries, as the Ready was produced: the hard state may commit them.
        if (p.hardState) off = writeHardState(buf, off, p.hardState);
        if (p.marker) off = writeMarker(buf, off, p.marker);
      }
      await writeAll(this.fh!, buf, this.size);
      this.size += total;
      this.dirty = true;
      this.counters.writes++;
      this.counters.bytesWritten += total;
      this.writtenLastIndex = group[group.length - 1]!.lastIndexAfter;
      for (const p of group) if (p.hardState) this.writtenHardState = p.hardState;
    }
    for (const p of group) if (!p.sync) p.resolve();
    if (!group.some((p) => p.sync)) return;
    if (this.dirty) {
      await this.fh!.datasync();
      this.counters.fsyncs++;
      this.durable = this.size;
      this.dirty = false;
    }
    for (const p of group) {
      if (p.marker) this.marker = p.marker;
      if (p.sync) p.resolve();
    }
  }

  /** Seals the current segment (fsynced, so only the last segment can ever hold a torn write). */
  private async roll(): Promise<void> {
    const fh = this.fh!;
    if (this.dirty) {
      await fh.datasync();
      this.counters.fsyncs++;
      this.dirty = false;
    }
    this.fh = null;
    await fh.close();
    const prev = this.segments[this.segments.length - 1]!;
    const next = await createSegment(
      this.walDir,
      prev.seq + 1,
      this.writtenLastIndex + 1,
      this.writtenHardState,
      this.marker,
      this.counters,
    );
    this.fh = next.fh;
    this.segments.push(next.info);
    this.size = next.regionBytes;
    this.regionBytes = next.regionBytes;
    this.durable = next.regionBytes;
  }

  /** Fail-stop: reject this group and everything queued, refuse all later calls. */
  private fail(err: WalFailedError, group: readonly Pending[] = []): void {
    this.failure ??= err;
    const victims = [...group, ...this.queue.splice(0)];
    for (const p of victims) p.reject(this.failure);
  }
}
