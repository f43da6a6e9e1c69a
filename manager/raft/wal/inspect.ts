// A read-only record listing of one segment file, for tests and for a human staring at a damaged
// WAL: every frame in order with its offset, until the first frame that does not check out.
import { readFile } from 'node:fs/promises';
import { RecordType, decodeEntry, parseFrame, recordTypeName } from './record.js';

export interface RecordInfo {
  readonly offset: number;
  /** RecordType name, e.g. 'Entry'. */
  readonly type: string;
  /** Frame plus payload. */
  readonly bytes: number;
  /** For entries. */
  readonly index?: number;
}

export interface SegmentListing {
  readonly records: readonly RecordInfo[];
  readonly size: number;
  /** The first frame that failed to parse, if any. */
  readonly bad: { readonly offset: number; readonly reason: string } | null;
}

export async function inspectSegment(file: string): Promise<SegmentListing> {
  const buf = await readFile(file);
  const records: RecordInfo[] = [];
  let off = 0;
  while (off < buf.length) {
    const r = parseFrame(buf, off);
    if (!r.ok) return { records, size: buf.length, bad: { offset: off, reason: r.reason } };
    const info: RecordInfo = { offset: off, type: recordTypeName(r.type), bytes: r.end - off };
    records.push(
      r.type === RecordType.Entry
        ? { ...info, index: decodeEntry(buf, r.payloadStart, r.end).index }
        : info,
    );
    off = r.end;
  }
  return { records, size: buf.length, bad: null };
}
