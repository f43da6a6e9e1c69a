// The agent's intent records: before each step on a task it writes `tasks/<id>/intent.json`
// (temp file, fsync, rename), so after a crash the next agent knows what was under way. The
// record is advisory: re-adoption decides from what exists (containers, mounts, directories),
// and the intent explains leftovers in logs and to people.

import { open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';

export interface Intent {
  readonly taskId: string;
  /** The step about to be taken: prepare, create, start, stop, remove. */
  readonly step: string;
  readonly atMs: number;
}

/** Writes `value` to `file` so that a reader sees the old or the new content, never a torn one. */
export async function writeAtomic(file: string, value: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(value);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

export const intentPath = (taskDir: string): string => path.join(taskDir, 'intent.json');

export async function writeIntent(taskDir: string, intent: Intent): Promise<void> {
  await writeAtomic(intentPath(taskDir), `${JSON.stringify(intent)}\n`);
}

export async function readIntent(taskDir: string): Promise<Intent | undefined> {
  try {
    return JSON.parse(await readFile(intentPath(taskDir), 'utf8')) as Intent;
  } catch {
    return undefined;
  }
}
