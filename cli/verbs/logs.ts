// `tug logs SERVICE|TASK`: the lines a service's tasks (or one task) wrote, fetched from the agents
// through the leader's log broker; `-f` keeps streaming new lines until interrupted. Each line is
// prefixed with its task's name (and node), and its time with --timestamps; the container's
// stderr goes to stderr.

import { boolFlag, parseDurationFlag, stringFlag } from '../args.js';
import { logsClientFor } from '../logs-client.js';
import { UsageError } from '../errors.js';
import type { Verb } from '../verb.js';

/** `--since`: a duration back from now (`10m`, `30s`) or an RFC 3339 time. */
export const parseSince = (value: string, now: number): number => {
  if (/^\d/.test(value) && !value.includes('-')) {
    return now - parseDurationFlag(value, '--since', 'logs');
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) {
    throw new UsageError(
      `flag --since: "${value}" is neither a duration (10m, 30s) nor a time (2026-11-22T10:00:00Z)`,
      'logs',
    );
  }
  return t;
};

export const logsVerb: Verb = {
  name: 'logs',
  summary: "Print a service's or a task's logs",
  usage: `Usage: tug logs SERVICE|TASK [-f] [--tail N] [--since T] [--timestamps]

Lines written by the service's tasks (or one task), read from the agents that ran them, kept until
the task's history is pruned. Each line is prefixed with TASK@NODE; the container's stderr goes
to stderr. -f keeps printing new lines until interrupted. A node that is not connected is named
on stderr; one that disconnects while sending ends the command with an error (exit 1).`,
  flags: {
    follow: { type: 'boolean', short: 'f', help: 'keep printing new lines' },
    tail: { type: 'string', value: 'N', help: 'only the last N lines of each task' },
    since: {
      type: 'string',
      value: 'T',
      help: 'only lines since a duration ago (10m) or a time (RFC 3339)',
    },
    timestamps: { type: 'boolean', short: 't', help: 'show the time of each line' },
  },
  run: async (ctx) => {
    const [target, extra] = ctx.args.positionals;
    if (target === undefined) throw new UsageError('expected a service or task', 'logs');
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`, 'logs');
    const tailFlag = stringFlag(ctx.args, 'tail');
    if (tailFlag !== undefined && !/^\d+$/.test(tailFlag)) {
      throw new UsageError(`flag --tail: "${tailFlag}" is not a number of lines`, 'logs');
    }
    const sinceFlag = stringFlag(ctx.args, 'since');
    const sinceMs = sinceFlag === undefined ? undefined : parseSince(sinceFlag, ctx.now());
    const timestamps = boolFlag(ctx.args, 'timestamps');
    const control = await ctx.client();
    // Task and node names for the prefixes (the broker sends ids).
    const [tasks, nodes] = await Promise.all([control.listTasks(), control.listNodes()]);
    const taskNames = new Map<string, string>(tasks.items.map((t) => [t.meta.id, t.meta.name]));
    const nodeNames = new Map<string, string>(nodes.items.map((n) => [n.meta.id, n.meta.name]));
    const logs = await logsClientFor(ctx);
    try {
      const events = logs.logs({
        target,
        follow: boolFlag(ctx.args, 'follow'),
        ...(tailFlag === undefined ? {} : { tail: Number(tailFlag) }),
        ...(sinceMs === undefined ? {} : { sinceMs }),
        signal: ctx.signal,
      });
      for await (const e of events) {
        if (e.type === 'notice') {
          ctx.io.stderr.write(`warning: ${e.text}\n`);
          continue;
        }
        const m = e.message;
        const who = `${taskNames.get(m.taskId) ?? m.taskId}@${nodeNames.get(m.nodeId) ?? m.nodeId}`;
        const line = `${timestamps ? `${m.timestamp} ` : ''}${who} | ${m.data.toString('utf8')}\n`;
        (m.stream === 'stderr' ? ctx.io.stderr : ctx.io.stdout).write(line);
      }
    } finally {
      logs.close();
    }
    return undefined;
  },
};
