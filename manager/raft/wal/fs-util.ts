// Small durable-I/O helpers shared by the WAL and the snapshot store: full writes (the kernel may
// write less than asked) and directory fsync (a rename or create is durable only once the
// directory itself is synced).
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

/** Writes all of `buf` at `position`, looping over short writes. */
export async function writeAll(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw new Error(`write at ${position + done} made no progress`);
    done += bytesWritten;
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export const isNodeError = (e: unknown, code: string): boolean =>
  e instanceof Error && (e as NodeJS.ErrnoException).code === code;
