// `apply --wait`: follows the applied services through the Watch stream (never polls) and prints a
// progress line per service whenever it changes, until every one converged (exit 0), one failed
// (exit 4) or the deadline passed (exit 5). The verdicts come from converge.ts.

import { ExitCode } from './errors.js';
import type { ControlClient } from './client.js';
import { judge, progressLine, Verdict, type Progress } from './converge.js';
import { follow, Mirror } from './mirror.js';
import type { Writer } from './verb.js';

export interface WaitOptions {
  /** Services to wait for, by name. */
  readonly services: readonly string[];
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  readonly out: Writer;
  /** The final complaint (failed, timed out) goes here. */
  readonly err: Writer;
}

const timeoutText = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

export const waitForServices = async (
  client: ControlClient,
  opts: WaitOptions,
): Promise<ExitCode> => {
  if (opts.services.length === 0) return ExitCode.Ok;
  const mirror = new Mirror();
  const done = new AbortController();
  const abort = (): void => {
    done.abort();
  };
  opts.signal.addEventListener('abort', abort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    done.abort();
  }, opts.timeoutMs);

  const printed = new Map<string, string>();
  let latest: Progress[] = [];
  const evaluate = (): void => {
    const services = mirror.services.values();
    const tasks = mirror.tasks.values();
    const nodes = mirror.nodes.values();
    latest = opts.services.map((name) =>
      judge(
        name,
        services.find((s) => s.meta.name === name),
        tasks,
        nodes,
      ),
    );
    for (const p of latest) {
      const line = progressLine(p);
      if (printed.get(p.name) === line) continue;
      printed.set(p.name, line);
      opts.out.write(`${line}\n`);
    }
    const settled =
      latest.some((p) => p.verdict === Verdict.Failed) ||
      latest.every((p) => p.verdict === Verdict.Converged);
    if (settled) done.abort();
  };

  try {
    await follow(client, mirror, {
      kinds: ['service', 'task', 'node'],
      signal: done.signal,
      onChange: evaluate,
    });
  } finally {
    clearTimeout(timer);
    opts.signal.removeEventListener('abort', abort);
  }

  const failed = latest.filter((p) => p.verdict === Verdict.Failed);
  if (failed.length > 0) {
    opts.err.write(`error: ${failed.map((p) => p.name).join(', ')} failed\n`);
    return ExitCode.Failed;
  }
  if (latest.every((p) => p.verdict === Verdict.Converged)) return ExitCode.Ok;
  const waiting = latest.filter((p) => p.verdict !== Verdict.Converged).map((p) => p.name);
  if (timedOut) {
    opts.err.write(
      `error: timed out after ${timeoutText(opts.timeoutMs)} waiting for ${waiting.join(', ')}\n`,
    );
    return ExitCode.TimedOut;
  }
  // Interrupted: not converged, and not a timeout either.
  opts.err.write(`interrupted while waiting for ${waiting.join(', ')}\n`);
  return ExitCode.TimedOut;
};
