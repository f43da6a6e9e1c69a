// What a verb is (name, help, flags, run) and what it gets to run with: parsed arguments, the I/O
// streams, a lazily connected control client and a clock. Verbs throw the errors in errors.ts;
// main() turns them into messages and exit codes.

import type { FlagDefs, ParsedArgs } from './args.js';
import type { ControlClient } from './client.js';

export interface Writer {
  write(s: string): unknown;
}

/** Everything main() touches of the outside world, so tests run it in-process. */
export interface Io {
  readonly stdout: Writer;
  readonly stderr: Writer;
  readonly stdin: AsyncIterable<string | Uint8Array>;
  /** TUG_MANAGER, HOME, XDG_CONFIG_HOME are read from here. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now?: () => number;
  /** Ends streaming verbs (`get -w`, `events`, `apply --wait`) cleanly: Ctrl-C, or a test. */
  readonly signal?: AbortSignal;
}

export interface VerbContext {
  readonly args: ParsedArgs;
  readonly io: Io;
  /** Connects on first use (so usage and manifest errors never need a manager). */
  readonly client: () => Promise<ControlClient>;
  readonly now: () => number;
  /** Aborted when the user interrupts (never aborted if the Io has no signal). */
  readonly signal: AbortSignal;
}

export interface Verb {
  readonly name: string;
  /** One line, for `tug --help`. */
  readonly summary: string;
  /** Synopsis and description, for `tug VERB --help` (flags are appended). */
  readonly usage: string;
  readonly flags: FlagDefs;
  /** Resolves with an exit code when it is not 0 for reasons other than an error (diff, --wait). */
  readonly run: (ctx: VerbContext) => Promise<number | undefined>;
  /** The exit code for errors that are 1 for other verbs (diff: 1 means "differences"). */
  readonly errorExitCode?: number;
}
