// The agent's intent records: before each step on a task it writes `tasks/<id>/intent.json`
// (temp file, rename; fsync for the steps off the start path), so after a crash the next agent
// knows what was under way. The record is advisory: re-adoption decides from what exists
// (containers, mounts, directories), and the intent explains leftovers in logs and to people.

import { open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';

export interface Intent {
  readonly taskId: string;
  /** The step about to be taken: prepare, create, start, stop, remove. */
  readonly step: string;
  readonly atMs: number;
}

/**
 * Writes `value` to `file` so that a reader sees the old or the new content, never a torn one.
 * `durable: false` skips the fsync: the write then survives the agent being killed (the page
 * cache is the kernel's) but not the host crashing — when the containers die with it anyway.
 */
export async function writeAtomic(
  file: string,
  value: string,
  opts: { readonly durable?: boolean } = {},
): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(value);
    if (opts.durable !== false) await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

export const intentPath = (taskDir: string): string => path.join(taskDir, 'intent.json');

export async function writeIntent(
  taskDir: string,
  intent: Intent,
  opts: { readonly durable?: boolean } = {},
): Promise<void> {
  await writeAtomic(intentPath(taskDir), `${JSON.stringify(intent)}\n`, opts);
}

export async function readIntent(taskDir: string): Promise<Intent | undefined> {
  try {
    return JSON.parse(await readFile(intentPath(taskDir), 'utf8')) as Intent;
  } catch {
    return undefined;
  }
}
