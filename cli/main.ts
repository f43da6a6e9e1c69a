#!/usr/bin/env node
// The `tug` command: finds the verb, parses its flags (and the global ones), resolves the manager
// address, runs the verb and maps what went wrong to a message and an exit code (docs/cli.md).
// `main(argv, io)` never exits the process, so tests run the whole CLI in-process.

import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { formatFlags, parseArgs, parseDurationFlag, stringFlag, type FlagDefs } from './args.js';
import { ControlClient } from './client.js';
import { resolveManager } from './config.js';
import { ExitCode, InputError, ServerError, UnreachableError, UsageError } from './errors.js';
import type { Io, Verb } from './verb.js';
import { agentVerb } from './verbs/agent.js';
import { applyVerb } from './verbs/apply.js';
import { describeVerb } from './verbs/describe.js';
import { diffVerb } from './verbs/diff.js';
import { eventsVerb } from './verbs/events.js';
import { getVerb } from './verbs/get.js';
import { logsVerb } from './verbs/logs.js';
import { managerVerb } from './verbs/manager.js';
import { nodeVerb } from './verbs/node.js';
import { rmVerb } from './verbs/rm.js';
import { scaleVerb } from './verbs/scale.js';

export const verbs: readonly Verb[] = [
  applyVerb,
  diffVerb,
  getVerb,
  describeVerb,
  scaleVerb,
  rmVerb,
  nodeVerb,
  managerVerb,
  agentVerb,
  eventsVerb,
  logsVerb,
];

export const globalFlags: FlagDefs = {
  manager: {
    type: 'string',
    value: 'HOST:PORT',
    help: 'manager to talk to (else $TUG_MANAGER, else manager: in ~/.config/tug/config.yaml)',
  },
  timeout: {
    type: 'string',
    value: 'DURATION',
    help: 'deadline for connecting and for each request (default 10s)',
  },
  help: { type: 'boolean', short: 'h', help: 'show help' },
};

const defaultTimeoutMs = 10_000;

const topHelp = (): string => {
  const width = Math.max(...verbs.map((v) => v.name.length));
  return `Usage: tug [--manager HOST:PORT] [--timeout DURATION] VERB [ARGS]

Verbs:
${verbs.map((v) => `  ${v.name.padEnd(width)}  ${v.summary}`).join('\n')}

Global flags:
${formatFlags(globalFlags)}

Run 'tug VERB --help' for a verb's arguments and flags.
Exit codes: 0 ok, 1 error from the server or invalid input, 2 usage error, 3 cannot reach a manager,
4 apply --wait: a service failed, 5 apply --wait: timed out, 6 diff: error (diff: 1 = differences).
`;
};

const verbHelp = (v: Verb): string => {
  const own = Object.keys(v.flags).length === 0 ? '' : `\nFlags:\n${formatFlags(v.flags)}\n`;
  return `${v.usage}\n${own}\nGlobal flags:\n${formatFlags(globalFlags)}\n`;
};

/** The first word that is not a flag (or a global flag's value) is the verb. */
const splitVerb = (argv: readonly string[]): { verb?: string; rest: string[] } => {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a.startsWith('-')) {
      const name = a.replace(/^--?/, '');
      if (globalFlags[name]?.type === 'string') i++;
      continue;
    }
    return { verb: a, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { rest: [...argv] };
};

/** Runs the CLI; returns the exit code. */
export const main = async (argv: readonly string[], io: Io): Promise<number> => {
  let client: ControlClient | undefined;
  let errorExitCode: number | undefined;
  try {
    const { verb: word, rest } = splitVerb(argv);
    if (word === undefined || word === 'help') {
      const args = parseArgs(rest, globalFlags);
      if (args.flags['help'] === true || word === 'help') {
        io.stdout.write(topHelp());
        return ExitCode.Ok;
      }
      throw new UsageError('expected a verb');
    }
    const verb = verbs.find((v) => v.name === word);
    if (verb === undefined) throw new UsageError(`unknown verb "${word}"`);
    errorExitCode = verb.errorExitCode;
    const args = parseArgs(rest, { ...globalFlags, ...verb.flags }, verb.name);
    if (args.flags['help'] === true) {
      io.stdout.write(verbHelp(verb));
      return ExitCode.Ok;
    }
    const timeout = stringFlag(args, 'timeout');
    const timeoutMs =
      timeout === undefined ? defaultTimeoutMs : parseDurationFlag(timeout, '--timeout', verb.name);
    const connect = async (): Promise<ControlClient> => {
      if (client === undefined) {
        const address = await resolveManager(stringFlag(args, 'manager'), io.env);
        client = new ControlClient(address, timeoutMs);
        await client.connect();
      }
      return client;
    };
    const signal = io.signal ?? new AbortController().signal;
    const code = await verb.run({ args, io, client: connect, now: io.now ?? Date.now, signal });
    return code ?? ExitCode.Ok;
  } catch (err) {
    const code = report(err, io);
    return code === ExitCode.Error ? (errorExitCode ?? code) : code;
  } finally {
    client?.close();
  }
};

const report = (err: unknown, io: Io): number => {
  if (err instanceof UsageError) {
    const hint = err.verb === '' ? "Run 'tug --help'." : `Run 'tug ${err.verb} --help'.`;
    io.stderr.write(`error: ${err.message}\n${hint}\n`);
    return ExitCode.Usage;
  }
  if (err instanceof UnreachableError) {
    io.stderr.write(`error: ${err.message}\n`);
    return ExitCode.Unreachable;
  }
  if (err instanceof InputError) {
    io.stderr.write(`${err.message}\n`);
    return ExitCode.Error;
  }
  if (err instanceof ServerError) {
    io.stderr.write(`error: ${err.message}\n`);
    return ExitCode.Error;
  }
  io.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return ExitCode.Error;
};

const isEntryPoint = (): boolean => {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
};

if (isEntryPoint()) {
  // Ctrl-C ends a streaming verb (get -w, events, apply --wait) through its signal, so it can
  // close its stream and say where it stopped. Other verbs don't listen: they are killed shortly
  // after (130, as the shell would), and a second Ctrl-C kills at once.
  const interrupt = new AbortController();
  process.once('SIGINT', () => {
    interrupt.abort();
    setTimeout(() => process.exit(130), 500).unref();
  });
  process.exitCode = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    signal: interrupt.signal,
  });
}
