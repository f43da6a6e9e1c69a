// Owns everything a benchmark run must undo: processes it started and temporary directories it
// made. Undo runs in reverse order on every exit path: normal end, error, SIGINT/SIGTERM, and, as a
// last resort, synchronously from process 'exit' (SIGKILL by pid, recursive rm).

import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { ManagedProcess } from './process.js';

interface Entry {
  readonly what: string;
  readonly undo: () => Promise<void>;
  readonly undoSync: () => void;
}

export class Cleanup {
  #entries: Entry[] = [];
  #done = false;

  /** Registers an undo action; the returned function unregisters it (after undoing it yourself). */
  add(what: string, undo: () => Promise<void>, undoSync: () => void): () => void {
    const entry: Entry = { what, undo, undoSync };
    this.#entries.push(entry);
    return () => {
      this.#entries = this.#entries.filter((e) => e !== entry);
    };
  }

  /** Stops `proc` (SIGTERM, then SIGKILL) at cleanup unless it has exited by then. */
  trackProcess(proc: ManagedProcess, graceMs = 5000): () => void {
    return this.add(
      `process ${proc.name} (pid ${proc.pid})`,
      async () => {
        await proc.stop(graceMs);
      },
      () => {
        proc.kill('SIGKILL');
      },
    );
  }

  /** Creates a fresh directory under the OS temp dir, removed at cleanup. */
  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.add(
      `directory ${dir}`,
      () => rm(dir, { recursive: true, force: true }),
      () => {
        rmSync(dir, { recursive: true, force: true });
      },
    );
    return dir;
  }

  /** Undoes everything, newest first. Errors are collected, not fatal: every entry gets its turn. */
  async run(): Promise<Error[]> {
    const errors: Error[] = [];
    while (this.#entries.length > 0) {
      const entry = this.#entries.pop()!;
      try {
        await entry.undo();
      } catch (err) {
        errors.push(new Error(`cleanup of ${entry.what} failed`, { cause: err }));
      }
    }
    this.#done = true;
    return errors;
  }

  /** The synchronous last resort, for process 'exit' and a second SIGINT. */
  runSync(): void {
    while (this.#entries.length > 0) {
      const entry = this.#entries.pop()!;
      try {
        entry.undoSync();
      } catch {
        // Nothing more can be done while the process is exiting.
      }
    }
    this.#done = true;
  }

  get done(): boolean {
    return this.#done;
  }

  /**
   * Makes SIGINT/SIGTERM abort `controller` (the run then unwinds and cleans up); a second signal
   * cleans up synchronously and exits. Also cleans up synchronously on 'exit'. Returns an uninstaller.
   */
  installProcessHooks(controller: AbortController): () => void {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals === 1) {
        process.stderr.write(`\n${signal}: stopping and cleaning up (again to force)\n`);
        controller.abort(new Error(`received ${signal}`));
        return;
      }
      this.runSync();
      process.exit(130);
    };
    const onExit = (): void => {
      this.runSync();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('exit', onExit);
    return () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('exit', onExit);
    };
  }
}
