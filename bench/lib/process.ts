// One child process a benchmark owns: spawned with its output in a log file, optionally awaited
// until it prints a ready line on stdout, stopped by pid (SIGTERM, then SIGKILL after a grace
// period). Never signals anything it did not start.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createWriteStream, openSync, readFileSync, type WriteStream } from 'node:fs';

import { ProcessExitedError, ProcessStartError } from './errors.js';
import { withTimeout } from './wait.js';

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ReadyLine<T> {
  /**
   * Returns the parsed ready value for the line that announces readiness, undefined for any other
   * line; throwing fails the start with that error (a malformed ready line).
   */
  readonly parse: (line: string) => T | undefined;
  readonly timeoutMs: number;
}

export interface SpawnOptions<T> {
  /** A short name for messages and logs ("etcd-2"). */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** stdout and stderr are appended here. */
  readonly logFile: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** When given, start() resolves only after stdout carries a line `parse` accepts. */
  readonly ready?: ReadyLine<T>;
  /** Told the pid as soon as the process exists, before any ready line (for progress logs). */
  readonly onSpawn?: (pid: number) => void;
}

export class ManagedProcess {
  readonly #child: ChildProcess;
  #exit: ExitInfo | undefined;
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Settles when the process has exited and its output is flushed to the log; never rejects. */
  readonly exited: Promise<ExitInfo>;

  private constructor(
    name: string,
    child: ChildProcess,
    pid: number,
    log: WriteStream,
    logFile: string,
  ) {
    this.name = name;
    this.#child = child;
    this.pid = pid;
    this.logFile = logFile;
    // After spawn, 'error' only means a signal could not be delivered; the exit tells the rest.
    child.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        const exit = { code, signal };
        this.#exit = exit;
        // 'close' follows once stdout is drained, unless a grandchild still holds it: don't wait forever.
        let settled = false;
        const finish = (): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          log.end(() => {
            resolve(exit);
          });
        };
        const timer = setTimeout(finish, 1000);
        child.once('close', finish);
      });
    });
  }

  /**
   * Spawns the process and, if `options.ready` is given, waits for its ready line. If the process
   * exits or the wait times out first, the process is killed and the error carries its log tail.
   */
  static async start<T = undefined>(
    options: SpawnOptions<T>,
  ): Promise<{ process: ManagedProcess; ready: T | undefined }> {
    const errFd = openSync(options.logFile, 'a');
    const log = createWriteStream(options.logFile, { flags: 'a' });
    let child: ChildProcess;
    try {
      child = spawn(options.command, options.args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['ignore', 'pipe', errFd],
      });
    } catch (err) {
      log.end();
      throw new ProcessStartError(options.name, { cause: err });
    } finally {
      // The child holds its own copy of the descriptor.
      closeSync(errFd);
    }
    const pid = await new Promise<number>((resolve, reject) => {
      const onError = (err: Error): void => {
        log.end();
        reject(new ProcessStartError(options.name, { cause: err }));
      };
      child.once('error', onError);
      child.once('spawn', () => {
        child.off('error', onError);
        resolve(child.pid!);
      });
    });
    const managed = new ManagedProcess(options.name, child, pid, log, options.logFile);
    options.onSpawn?.(pid);
    const stdout = child.stdout!;
    stdout.pipe(log, { end: false });
    if (options.ready === undefined) return { process: managed, ready: undefined };

    const readyLine = options.ready;
    const ready = new Promise<T>((resolve, reject) => {
      // Split lines by hand: readline's close() would pause stdout and stall the pipe to the log.
      let pending = '';
      const onData = (chunk: Buffer): void => {
        pending += chunk.toString('utf8');
        let newline = pending.indexOf('\n');
        while (newline >= 0) {
          let value: T | undefined;
          try {
            value = readyLine.parse(pending.slice(0, newline).trimEnd());
          } catch (err) {
            stdout.off('data', onData);
            reject(err instanceof Error ? err : new Error(String(err)));
            return;
          }
          pending = pending.slice(newline + 1);
          if (value !== undefined) {
            stdout.off('data', onData);
            resolve(value);
            return;
          }
          newline = pending.indexOf('\n');
        }
      };
      stdout.on('data', onData);
      void managed.exited.then((exit) => {
        reject(
          new ProcessExitedError(
            options.name,
            exit.code,
            exit.signal,
            `before it was ready; log tail:\n${managed.logTail()}`,
          ),
        );
      });
    });
    try {
      const value = await withTimeout(ready, readyLine.timeoutMs, `${options.name} ready line`);
      return { process: managed, ready: value };
    } catch (err) {
      managed.kill('SIGKILL');
      await managed.exited;
      throw err;
    }
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  get exitInfo(): ExitInfo | undefined {
    return this.#exit;
  }

  /** Sends `signal` to this process's pid if it is still running. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.#exit !== undefined) return;
    this.#child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if the process is still alive after `graceMs`. */
  async stop(graceMs = 5000): Promise<ExitInfo> {
    if (this.#exit !== undefined) return this.#exit;
    this.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.kill('SIGKILL');
    }, graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The last `lines` lines of the process's log, for error messages. */
  logTail(lines = 20): string {
    try {
      const text = readFileSync(this.logFile, 'utf8');
      return text.trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(log unreadable)';
    }
  }
}
