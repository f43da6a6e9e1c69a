// Typed errors of the benchmark harness: each has a stable `code` so callers branch on it, never on
// message text, and the message names what was wrong.

export const BenchErrorCode = {
  Usage: 'usage',
  Timeout: 'timeout',
  ProcessExited: 'process-exited',
  ProcessStart: 'process-start',
  Aborted: 'aborted',
  LoadFailed: 'load-failed',
  MemberDied: 'member-died',
} as const;
export type BenchErrorCode = (typeof BenchErrorCode)[keyof typeof BenchErrorCode];

export abstract class BenchError extends Error {
  abstract readonly code: BenchErrorCode;
}

/** A command-line flag or option was missing or malformed. */
export class UsageError extends BenchError {
  readonly code = BenchErrorCode.Usage;
  override readonly name = 'UsageError';
}

/** Something the harness waits for did not happen within its bound. */
export class BenchTimeoutError extends BenchError {
  readonly code = BenchErrorCode.Timeout;
  override readonly name: string = 'BenchTimeoutError';
  readonly what: string;
  readonly timeoutMs: number;
  constructor(what: string, timeoutMs: number, options?: ErrorOptions) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}`, options);
    this.what = what;
    this.timeoutMs = timeoutMs;
  }
}

/** A process the harness started exited while it was still needed (e.g. before its ready line). */
export class ProcessExitedError extends BenchError {
  readonly code = BenchErrorCode.ProcessExited;
  override readonly name = 'ProcessExitedError';
  readonly processName: string;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  constructor(
    processName: string,
    exitCode: number | null,
    signal: NodeJS.Signals | null,
    detail = '',
  ) {
    super(
      `${processName} exited (code ${String(exitCode)}, signal ${String(signal)})${detail === '' ? '' : ` ${detail}`}`,
    );
    this.processName = processName;
    this.exitCode = exitCode;
    this.signal = signal;
  }
}

/** A process could not be started at all (missing binary, bad arguments). */
export class ProcessStartError extends BenchError {
  readonly code = BenchErrorCode.ProcessStart;
  override readonly name = 'ProcessStartError';
  readonly processName: string;
  constructor(processName: string, options?: ErrorOptions) {
    super(
      `could not start ${processName}${options?.cause instanceof Error ? `: ${options.cause.message}` : ''}`,
      options,
    );
    this.processName = processName;
  }
}

/** The run was cancelled (SIGINT, or a sibling task failed). */
export class AbortedError extends BenchError {
  readonly code = BenchErrorCode.Aborted;
  override readonly name = 'AbortedError';
  constructor(what: string, options?: ErrorOptions) {
    super(`aborted while ${what}`, options);
  }
}
