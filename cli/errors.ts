// The CLI's error classes and exit codes (docs/cli.md): every failure main() reports maps to one
// exit code here, so scripts can tell a typo from a refused request from a missing manager.

export const ExitCode = {
  Ok: 0,
  /** The server refused the request, or the input (manifests, config) is invalid. */
  Error: 1,
  /** The command line itself is wrong: unknown verb or flag, missing argument. */
  Usage: 2,
  /** No manager answered within the deadline. */
  Unreachable: 3,
  /** `apply --wait`: a service failed to converge (tasks keep failing, the restart policy gave up). */
  Failed: 4,
  /** `apply --wait`: the wait timed out before every service converged. */
  TimedOut: 5,
  /** `diff`: what other verbs report as 1 (1 means "differences found" there, as in kubectl diff). */
  DiffError: 6,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A mistake on the command line; the message names the bad flag or argument. */
export class UsageError extends Error {
  readonly code = 'usage';
  /** The verb whose usage to point at ('' for tug itself). */
  readonly verb: string;
  constructor(message: string, verb = '') {
    super(message);
    this.name = 'UsageError';
    this.verb = verb;
  }
}

/** Invalid input found before anything is sent (manifests, config file, files that can't be read). */
export class InputError extends Error {
  readonly code = 'invalid-input';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InputError';
  }
}

/** The manager could not be reached (connect timeout, connection refused). */
export class UnreachableError extends Error {
  readonly code = 'unreachable';
  readonly address: string;
  constructor(address: string, options?: ErrorOptions) {
    super(`cannot reach a manager at ${address}`, options);
    this.name = 'UnreachableError';
    this.address = address;
  }
}

/** The manager answered with an error status. */
export class ServerError extends Error {
  readonly code = 'server';
  /** The gRPC status name: NOT_FOUND, INVALID_ARGUMENT, … */
  readonly status: string;
  constructor(status: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ServerError';
    this.status = status;
  }
}
