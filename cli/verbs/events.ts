// `tug events`: the store's event stream, one line per write (version, time, kind, action, name,
// details), or one JSON object per line with -o json. `--since VERSION` resumes after a version a
// previous run printed; `--kind` filters. Runs until interrupted.

import type { ObjectKind } from '../../common/model.js';
import { listFlag, stringFlag } from '../args.js';
import type { WatchEvent } from '../client.js';
import { ServerError, UsageError } from '../errors.js';
import type { Verb } from '../verb.js';
import { parseResource } from './get.js';

const singular = {
  services: 'service',
  tasks: 'task',
  nodes: 'node',
  networks: 'network',
} as const satisfies Record<string, ObjectKind>;

const parseKind = (word: string): ObjectKind =>
  word === 'cluster' ? 'cluster' : singular[parseResource(word, 'events')];

const quote = (s: string): string => (/^[^\s"=]*$/.test(s) ? s : JSON.stringify(s));

/** `key=value` pairs saying what an event's object now is. */
export const eventDetails = (e: WatchEvent, nodeNames: ReadonlyMap<string, string>): string => {
  const pairs: [string, string][] = [];
  switch (e.kind) {
    case 'task': {
      const t = e.object;
      pairs.push(['state', t.status.state], ['desired', t.desiredState]);
      if (t.nodeId !== undefined) pairs.push(['node', nodeNames.get(t.nodeId) ?? t.nodeId]);
      if (t.status.exitCode !== undefined) pairs.push(['exit', String(t.status.exitCode)]);
      if (t.status.message !== '') pairs.push(['message', t.status.message]);
      break;
    }
    case 'service': {
      const s = e.object;
      pairs.push(['spec', String(s.specVersion)]);
      pairs.push(
        s.spec.mode.type === 'replicated'
          ? ['replicas', String(s.spec.mode.replicas)]
          : ['mode', 'global'],
      );
      pairs.push(['image', s.spec.container.image]);
      break;
    }
    case 'node': {
      const n = e.object;
      pairs.push(
        ['state', n.status.state],
        ['availability', n.spec.availability],
        ['role', n.spec.role],
      );
      if (n.status.addr !== '') pairs.push(['addr', n.status.addr]);
      break;
    }
    case 'network': {
      const n = e.object;
      pairs.push(['driver', n.spec.driver]);
      const subnet = n.allocation?.subnet ?? n.spec.subnet;
      if (subnet !== undefined) pairs.push(['subnet', subnet]);
      break;
    }
    case 'cluster':
      break;
  }
  return pairs.map(([k, v]) => `${k}=${quote(v)}`).join(' ');
};

const widths = [8, 20, 8, 7, 32] as const;

const row = (cells: readonly string[]): string =>
  cells
    .map((c, i) => (i < widths.length ? c.padEnd(widths[i]!) : c))
    .join('  ')
    .trimEnd() + '\n';

/** `2026-11-22T12:52:40Z`: the leader's clock when it wrote, to the second. */
const time = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export const eventLine = (e: WatchEvent, nodeNames: ReadonlyMap<string, string>): string =>
  row([
    String(e.version),
    time(e.object.meta.updatedAt),
    e.kind,
    e.type,
    e.object.meta.name,
    eventDetails(e, nodeNames),
  ]);

export const eventsVerb: Verb = {
  name: 'events',
  summary: 'Stream store events (writes) as they happen',
  usage: `Usage: tug events [--since VERSION] [--kind KIND …] [-o json]

One line per write: VERSION, TIME (the leader's clock), KIND, ACTION (create, update, delete),
NAME, DETAILS (key=value). Runs until interrupted. --since resumes after a VERSION an earlier run
printed; a version older than the manager's event log is an error (exit 1).`,
  flags: {
    since: { type: 'string', value: 'VERSION', help: 'events after this store version' },
    kind: {
      type: 'string',
      multiple: true,
      value: 'KIND',
      help: 'only services, tasks, nodes, networks or cluster; repeatable',
    },
    output: { type: 'string', short: 'o', value: 'FORMAT', help: 'json: one event per line' },
  },
  run: async (ctx) => {
    if (ctx.args.positionals.length > 0) {
      throw new UsageError(`unexpected argument "${ctx.args.positionals[0]!}"`, 'events');
    }
    const since = stringFlag(ctx.args, 'since');
    if (since !== undefined && !/^\d+$/.test(since)) {
      throw new UsageError(`flag --since: "${since}" is not a store version`, 'events');
    }
    const output = stringFlag(ctx.args, 'output');
    if (output !== undefined && output !== 'json') {
      throw new UsageError(`flag -o: "${output}" is not json`, 'events');
    }
    const kinds = [...new Set(listFlag(ctx.args, 'kind').map(parseKind))];
    const client = await ctx.client();
    const nodeNames = new Map(
      (await client.listNodes()).items.map((n) => [n.meta.id, n.meta.name]),
    );
    const header = output === undefined;
    try {
      const events = await client.watch({
        ...(since === undefined ? {} : { fromVersion: Number(since) }),
        kinds,
        signal: ctx.signal,
      });
      if (header)
        ctx.io.stdout.write(row(['VERSION', 'TIME', 'KIND', 'ACTION', 'NAME', 'DETAILS']));
      for await (const e of events) {
        if (e.kind === 'node') nodeNames.set(e.object.meta.id, e.object.meta.name);
        ctx.io.stdout.write(header ? eventLine(e, nodeNames) : JSON.stringify(e) + '\n');
      }
    } catch (err) {
      // Resuming from a version the log no longer holds, or a watcher too slow to keep up.
      if (err instanceof ServerError && err.status === 'OUT_OF_RANGE') {
        const what = since === undefined ? 'the watch fell behind' : `version ${since} is too old`;
        throw new ServerError(
          err.status,
          `${what} for the manager's event log: run again without --since or with a later one`,
          { cause: err },
        );
      }
      throw err;
    }
  },
};
