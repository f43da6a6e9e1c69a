// Snapshot files: one `<term 16 hex>-<index 16 hex>.snap` per snapshot, written atomically
// (temp file, fsync, rename, fsync directory) and checked end to end with CRC32C. Which snapshot
// a member restarts from is the WAL's decision (the newest one it holds a marker for); this store
// only writes, lists, verifies and deletes files.
//
// Layout (little-endian):
//   "tugsnap\x01" | u32 metaBytes | meta | u64 dataBytes | data | u32 crc32c(everything before)
//   meta = u64 index | u64 term | u32 n | n×u64 voters | u32 n | n×u64 learners
//          | u32 n | n×u64 removed
import { mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConfState, MemberId, Snapshot } from '../core/index.js';
import { crc32c, crc32cExtend } from './crc32c.js';
import { SnapshotCorruptError } from './errors.js';
import { fsyncDir, isNodeError } from './fs-util.js';

const MAGIC = Buffer.from('tugsnap\x01', 'latin1');
const NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const TWO_32 = 0x1_0000_0000;

export interface SnapshotFile {
  readonly term: number;
  readonly index: number;
  /** Absolute path. */
  readonly file: string;
}

const hex16 = (n: number): string => n.toString(16).padStart(16, '0');

export const snapshotFileName = (term: number, index: number): string =>
  `${hex16(term)}-${hex16(index)}.snap`;

const encodeHead = (s: Snapshot): Buffer => {
  const { index, term, conf } = s.metadata;
  const lists = [conf.voters, conf.learners, conf.removed];
  const metaBytes = 16 + lists.reduce((n, l) => n + 4 + 8 * l.length, 0);
  const head = Buffer.alloc(MAGIC.length + 4 + metaBytes + 8);
  let p = MAGIC.copy(head, 0);
  const u64 = (n: number): void => {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`snapshot field ${n} not a u64`);
    head.writeUInt32LE(n % TWO_32, p);
    head.writeUInt32LE(Math.floor(n / TWO_32), p + 4);
    p += 8;
  };
  p = head.writeUInt32LE(metaBytes, p);
  u64(index);
  u64(term);
  for (const list of lists) {
    p = head.writeUInt32LE(list.length, p);
    for (const id of list) u64(id);
  }
  u64(s.data.length);
  return head;
};

/** Parses and verifies a whole snapshot file; throws a reason string's worth of Error on damage. */
const decode = (buf: Buffer): Snapshot => {
  const fail = (reason: string): never => {
    throw new Error(reason);
  };
  const minBytes = MAGIC.length + 4 + 16 + 12 + 8 + 4;
  if (buf.length < minBytes) fail(`file is ${buf.length} bytes, shorter than any snapshot`);
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) fail('bad magic (not a tug snapshot v1)');
  const want = buf.readUInt32LE(buf.length - 4);
  if (crc32c(buf, 0, buf.length - 4) !== want) fail('checksum mismatch');
  let p = MAGIC.length;
  const need = (n: number): void => {
    if (p + n > buf.length - 4) fail(`truncated metadata at offset ${p}`);
  };
  const u32 = (): number => {
    need(4);
    const v = buf.readUInt32LE(p);
    p += 4;
    return v;
  };
  const u64 = (what: string): number => {
    need(8);
    const v = buf.readUInt32LE(p + 4) * TWO_32 + buf.readUInt32LE(p);
    if (!Number.isSafeInteger(v)) fail(`${what} exceeds the safe integer range`);
    p += 8;
    return v;
  };
  const metaBytes = u32();
  const metaEnd = p + metaBytes;
  const index = u64('index');
  const term = u64('term');
  const ids = (what: string): MemberId[] => {
    const n = u32();
    need(8 * n);
    return Array.from({ length: n }, () => u64(what) as MemberId);
  };
  const conf: ConfState = {
    voters: ids('voter'),
    learners: ids('learner'),
    removed: ids('removed member'),
  };
  if (p !== metaEnd) fail(`metadata is ${p - MAGIC.length - 4} bytes, header says ${metaBytes}`);
  const dataBytes = u64('data length');
  if (p + dataBytes + 4 !== buf.length) {
    fail(`data length ${dataBytes} disagrees with file size ${buf.length}`);
  }
  const data = new Uint8Array(buf.buffer, buf.byteOffset + p, dataBytes);
  return { metadata: { index, term, conf }, data };
};

export class SnapshotStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates the directory if needed and removes temp files left by a crash mid-save. */
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir)) {
      if (name.endsWith('.snap.tmp')) await unlink(join(this.dir, name));
    }
  }

  /** Snapshot files by ascending (index, term). Files with other names are ignored. */
  async list(): Promise<SnapshotFile[]> {
    const out: SnapshotFile[] = [];
    for (const name of await readdir(this.dir)) {
      const m = NAME.exec(name);
      if (!m) continue;
      const term = parseInt(m[1]!, 16);
      const index = parseInt(m[2]!, 16);
      if (!Number.isSafeInteger(term) || !Number.isSafeInteger(index)) continue;
      out.push({ term, index, file: join(this.dir, name) });
    }
    return out.sort((a, b) => a.index - b.index || a.term - b.term);
  }

  pathOf(term: number, index: number): string {
    return join(this.dir, snapshotFileName(term, index));
  }

  /** Writes the snapshot durably: when this resolves, a crash cannot lose or tear it. */
  async save(snapshot: Snapshot): Promise<SnapshotFile> {
    const { term, index } = snapshot.metadata;
    const file = this.pathOf(term, index);
    const tmp = `${file}.tmp`;
    const head = encodeHead(snapshot);
    const tail = Buffer.alloc(4);
    tail.writeUInt32LE(crc32cExtend(crc32c(head), snapshot.data));
    const fh = await open(tmp, 'w');
    try {
      // One writev keeps large snapshot data uncopied; loop in case the kernel writes less.
      const parts: Uint8Array[] = [head, snapshot.data, tail];
      const total = head.length + snapshot.data.length + tail.length;
      let written = (await fh.writev(parts, 0)).bytesWritten;
      while (written < total) {
        const rest = Buffer.concat(parts).subarray(written);
        const { bytesWritten } = await fh.write(rest, 0, rest.length, written);
        if (bytesWritten <= 0) throw new Error(`write of ${tmp} made no progress`);
        written += bytesWritten;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    await fsyncDir(this.dir);
    return { term, index, file };
  }

  /** Reads and verifies one snapshot; a missing or damaged file is a SnapshotCorruptError. */
  async load(term: number, index: number): Promise<Snapshot> {
    const file = this.pathOf(term, index);
    let buf: Buffer;
    try {
      buf = await readFile(file);
    } catch (e) {
      if (isNodeError(e, 'ENOENT')) throw new SnapshotCorruptError(file, 'missing', { cause: e });
      throw e;
    }
    let snap: Snapshot;
    try {
      snap = decode(buf);
    } catch (e) {
      throw new SnapshotCorruptError(file, (e as Error).message, { cause: e });
    }
    if (snap.metadata.term !== term || snap.metadata.index !== index) {
      throw new SnapshotCorruptError(
        file,
        `holds term ${snap.metadata.term} index ${snap.metadata.index}, name says term ${term} index ${index}`,
      );
    }
    return snap;
  }

  /**
   * The newest snapshot file, verified. A damaged newest file is an error, not a reason to fall
   * back silently to an older one (see docs/wal.md).
   */
  async loadNewest(): Promise<Snapshot | null> {
    const files = await this.list();
    const newest = files[files.length - 1];
    return newest ? this.load(newest.term, newest.index) : null;
  }

  /** Deletes the given files, then syncs the directory once. Already-missing files are fine. */
  async remove(files: readonly SnapshotFile[]): Promise<void> {
    if (files.length === 0) return;
    for (const f of files) {
      try {
        await unlink(f.file);
      } catch (e) {
        if (!isNodeError(e, 'ENOENT')) throw e;
      }
    }
    await fsyncDir(this.dir);
  }
}
