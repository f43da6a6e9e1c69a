// The typed errors of the container runtime layer. Each carries the container id and, where a
// command failed, what it printed, so a task failed for it has a reason a person can act on.

export const RuntimeErrorCode = {
  /** The generated spec was refused before anything ran (no command, bad path). */
  BadSpec: 'bad-spec',
  /** `conmon` or the OCI runtime refused to create the container. */
  CreateFailed: 'create-failed',
  /** A runtime command (start, kill, delete, state) failed. */
  CommandFailed: 'command-failed',
  /** No such container under tug's runtime root. */
  NotFound: 'not-found',
  /** Something awaited (the monitor's answer, an exit) did not happen in time. */
  Timeout: 'timeout',
} as const;
export type RuntimeErrorCode = (typeof RuntimeErrorCode)[keyof typeof RuntimeErrorCode];

export class RuntimeError extends Error {
  override readonly name = 'RuntimeError';
  readonly code: RuntimeErrorCode;
  readonly containerId: string;
  /** Whether trying again later could help. */
  readonly temporary: boolean;

  constructor(
    code: RuntimeErrorCode,
    containerId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`container ${containerId}: ${message}`, options);
    this.code = code;
    this.containerId = containerId;
    this.temporary = code === RuntimeErrorCode.Timeout || code === RuntimeErrorCode.CommandFailed;
  }
}
