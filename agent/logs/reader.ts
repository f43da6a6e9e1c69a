// Reading a task's log files as conmon writes them (k8s-file records, agent/runtime/log.ts): every
// rotated generation (`<log>.N` … `<log>.1`, oldest first) then the live file, with `tail` and
// `since`, and following the live file across rotations (the old file is read to its end before
// the new one is opened, so no line is lost or repeated).

import { watch, type FSWatcher } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { parseLogLine } from '../runtime/log.js';

export interface LogLine {
  readonly stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds, as conmon wrote it. */
  readonly time: string;
  /** `time` in ms since the epoch (NaN if conmon's time could not be read). */
  readonly timeMs: number;
  readonly text: string;
}

export interface ReadOptions {
  /** Only the last N lines (of all generations together). */
  readonly tail?: number;
  /** Only lines at or after this time (ms since the epoch). */
  readonly sinceMs?: number;
}

/** `2026-11-22T13:35:04.123456789Z` → ms; Date.parse wants at most milliseconds. Pure. */
export const parseTimeMs = (time: string): number => Date.parse(time.replace(/(\.\d{3})\d+/, '$1'));

/**
 * Turns bytes into lines: records split on '\n' (a trailing piece waits for more bytes) and
 * partial (P) records joined with the next. Bytes are decoded per whole record, so a UTF-8
 * sequence cut between reads is never mangled.
 */
export class LineDecoder {
  private rest: Buffer = Buffer.alloc(0);
  private pending = '';

  push(chunk: Buffer): LogLine[] {
    const buf = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
    const out: LogLine[] = [];
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, start);
      if (nl < 0) break;
      // A copy-truncate (or conmon's own truncation) can leave NULs where the writer's offset was.
      const raw = buf.toString('utf8', start, nl).replace(/^\0+/, '');
      start = nl + 1;
      const r = parseLogLine(raw);
      if (r === undefined) continue;
      this.pending += r.text;
      if (r.full) {
        out.push({
          stream: r.stream,
          time: r.time,
          timeMs: parseTimeMs(r.time),
          text: this.pending,
        });
        this.pending = '';
      }
    }
    this.rest = Buffer.from(buf.subarray(start));
    return out;
  }
}

/** Rotated generations that exist, oldest first, then the live path (whether it exists or not). */
export const generations = async (path: string): Promise<string[]> => {
  const older: string[] = [];
  for (let n = 1; ; n++) {
    const p = `${path}.${n}`;
    if (!(await exists(p))) break;
    older.unshift(p);
  }
  return [...older, path];
};

const exists = (p: string): Promise<boolean> =>
  stat(p).then(
    () => true,
    () => false,
  );

const isMissing = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ENOENT';

/** Reads `fh` from `offset` to its current end; returns the bytes and the new offset. */
const readFrom = async (
  fh: FileHandle,
  offset: number,
): Promise<{ bytes: Buffer; offset: number }> => {
  const chunks: Buffer[] = [];
  let at = offset;
  for (;;) {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, at);
    if (bytesRead === 0) break;
    chunks.push(buf.subarray(0, bytesRead));
    at += bytesRead;
  }
  return { bytes: Buffer.concat(chunks), offset: at };
};

const select = (lines: LogLine[], opts: ReadOptions): LogLine[] => {
  const since = opts.sinceMs;
  const kept = since === undefined ? lines : lines.filter((l) => !(l.timeMs < since));
  return opts.tail === undefined ? kept : opts.tail === 0 ? [] : kept.slice(-opts.tail);
};

/**
 * The live file and the generations that are not it (a generation may be the live file's pin:
 * same inode), opened live first so a rotation racing the listing cannot show one inode twice.
 */
const openAll = async (
  path: string,
): Promise<{ older: FileHandle[]; live: FileHandle | undefined; liveIno: number }> => {
  const live = await open(path, 'r').catch((e: unknown) => {
    if (isMissing(e)) return undefined;
    throw e;
  });
  const liveIno = live === undefined ? -1 : (await live.stat()).ino;
  const seen = new Set([liveIno]);
  const older: FileHandle[] = [];
  for (const p of (await generations(path)).slice(0, -1)) {
    const fh = await open(p, 'r').catch((e: unknown) => {
      if (isMissing(e)) return undefined;
      throw e;
    });
    if (fh === undefined) continue;
    const ino = (await fh.stat()).ino;
    if (seen.has(ino)) {
      await fh.close();
      continue;
    }
    seen.add(ino);
    older.push(fh);
  }
  return { older, live, liveIno };
};

/** Every line of every generation, filtered. A missing log is no lines. */
export const readLog = async (path: string, opts: ReadOptions = {}): Promise<LogLine[]> => {
  const { older, live } = await openAll(path);
  const lines: LogLine[] = [];
  const decoder = new LineDecoder();
  try {
    for (const fh of [...older, ...(live === undefined ? [] : [live])]) {
      lines.push(...decoder.push((await readFrom(fh, 0)).bytes));
    }
  } finally {
    for (const fh of [...older, ...(live === undefined ? [] : [live])]) await fh.close();
  }
  return select(lines, opts);
};

export interface FollowOptions extends ReadOptions {
  readonly signal: AbortSignal;
  /** Looked at this often even without a change notice (fs.watch misses events on some filesystems). */
  readonly pollMs?: number;
}

/**
 * The selected existing lines, then new lines as they are written, in batches, until `signal`
 * aborts (the iterator then ends). Rotation (the live file renamed, a new one created) and
 * truncation are followed.
 */
export async function* followLog(path: string, opts: FollowOptions): AsyncGenerator<LogLine[]> {
  const pollMs = opts.pollMs ?? 250;
  const decoder = new LineDecoder();
  let fh: FileHandle | undefined;
  let ino: number;
  let offset = 0;
  let wake: (() => void) | undefined;
  const poke = (): void => {
    wake?.();
  };
  let watcher: FSWatcher | undefined;
  try {
    // Watch the directory, not the file: a rotation replaces the file.
    watcher = watch(dirname(path), { persistent: false }, (_, name) => {
      if (name === null || name.startsWith(basename(path))) poke();
    });
    watcher.on('error', () => undefined);
  } catch {
    watcher = undefined;
  }
  opts.signal.addEventListener('abort', poke);
  try {
    // Older generations whole, then the live file through the handle we keep following.
    const all = await openAll(path);
    const first: LogLine[] = [];
    try {
      for (const g of all.older) first.push(...decoder.push((await readFrom(g, 0)).bytes));
    } finally {
      for (const g of all.older) await g.close();
    }
    fh = all.live;
    ino = all.liveIno;
    const openLive = async (): Promise<boolean> => {
      try {
        fh = await open(path, 'r');
      } catch (e) {
        if (isMissing(e)) return false;
        throw e;
      }
      ino = (await fh.stat()).ino;
      offset = 0;
      return true;
    };
    const drain = async (): Promise<LogLine[]> => {
      if (fh === undefined) return [];
      const r = await readFrom(fh, offset);
      offset = r.offset;
      return decoder.push(r.bytes);
    };
    first.push(...(await drain()));
    const selected = select(first, opts);
    if (selected.length > 0) yield selected;
    const since = opts.sinceMs;
    while (!opts.signal.aborted) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
      if (opts.signal.aborted) break;
      const batch = await drain();
      // Rotated (renamed away, maybe replaced) or truncated: finish the old file, then reopen.
      const now = await stat(path).catch(() => undefined);
      if (fh === undefined) {
        if (now !== undefined && (await openLive())) batch.push(...(await drain()));
      } else if (now === undefined || now.ino !== ino) {
        batch.push(...(await drain()));
        await fh.close();
        fh = undefined;
        if (now !== undefined && (await openLive())) batch.push(...(await drain()));
      } else if (now.size < offset) {
        offset = 0;
        batch.push(...(await drain()));
      }
      const out = since === undefined ? batch : batch.filter((l) => !(l.timeMs < since));
      if (out.length > 0) yield out;
    }
  } finally {
    opts.signal.removeEventListener('abort', poke);
    watcher?.close();
    await fh?.close();
  }
}
