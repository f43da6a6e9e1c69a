// Helpers for this folder's tests: temp directories that clean up after themselves, entries with
// recognisable data, and a seeded random source so failures replay.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { Entry, EntryType } from '../core/index.js';

export async function tempDir(t: ExecutionContext, prefix = 'tug-wal-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Data that names its index and term, so a misplaced entry is visible in a diff. */
export const entry = (
  index: number,
  term: number,
  type: EntryType = 'normal',
  extra = '',
): Entry => ({
  index,
  term,
  type,
  data: new TextEncoder().encode(`e${index}t${term}${extra}`),
});

export const entries = (from: number, to: number, term: number): Entry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));

export { seededRandom } from '../core/testing/network.js';
