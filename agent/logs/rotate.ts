// Size-based rotation of task logs that keeps the lines. conmon 2.1.6 rotates by itself with
// `--log-size-max`: when the file is full it writes a new empty `<log>.tmp` and renames it over
// `<log>`, so the old inode — every line in it — is unlinked. (It has no reopen signal: SIGUSR1
// kills it, tested in conmon-rotate.test.ts.) So the agent pins each live file with a hard link
// as soon as it sees it: `<log>.1` is always the live inode or the one just replaced, older
// generations shift up to `<log>.<keep>`, the oldest is deleted. conmon keeps writing as before,
// and what it drops is still on disk under a generation's name. Readers skip a generation that
// is the live file (same inode). Lines are lost only if conmon fills and replaces the file twice
// between two passes (maxBytes written within `everyMs`).

import { link, rename, rm, stat } from 'node:fs/promises';

const ignoreMissing = (e: unknown): void => {
  if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
};

const inode = (p: string): Promise<number | undefined> =>
  stat(p).then(
    (s) => s.ino,
    () => undefined,
  );

/**
 * Pins the live file as `<path>.1` unless it already is; true when it pinned a new generation.
 * `keep` (≥ 1) generations are kept, the live file's pin among them.
 */
export const pinGeneration = async (path: string, keep: number): Promise<boolean> => {
  const live = await inode(path);
  if (live === undefined || live === (await inode(`${path}.1`))) return false;
  const n = Math.max(1, keep);
  await rm(`${path}.${n}`, { force: true });
  for (let i = n - 1; i >= 1; i--) {
    await rename(`${path}.${i}`, `${path}.${i + 1}`).catch(ignoreMissing);
  }
  await link(path, `${path}.1`).catch(ignoreMissing);
  return true;
};

/** Removes a task's log and every generation (when its history is pruned). */
export const removeLog = async (path: string): Promise<void> => {
  await rm(path, { force: true });
  for (let i = 1; ; i++) {
    const p = `${path}.${i}`;
    if ((await inode(p)) === undefined) return;
    await rm(p, { force: true });
  }
};

export interface LogRotatorDeps {
  /** Generations kept per task (≥ 1; each at most conmon's --log-size-max). */
  readonly keep: number;
  /** The live log paths of the tasks running now. */
  readonly logs: () => Iterable<string>;
  /** How often the files are looked at (well under the time to fill --log-size-max). */
  readonly everyMs: number;
  readonly log?: (line: string) => void;
}

/** Pins every running task's live log every `everyMs`. */
export class LogRotator {
  private readonly deps: LogRotatorDeps;

  constructor(deps: LogRotatorDeps) {
    this.deps = deps;
  }

  /** One pass (exposed for tests); failures are logged and retried next pass. */
  async pass(): Promise<number> {
    let pinned = 0;
    for (const p of this.deps.logs()) {
      try {
        if (await pinGeneration(p, this.deps.keep)) pinned++;
      } catch (e) {
        this.deps.log?.(`logs: pinning ${p} failed: ${String(e)}`);
      }
    }
    return pinned;
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.pass();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.deps.everyMs);
        function done(): void {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }
}
