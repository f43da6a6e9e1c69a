// `tug apply`: reads manifests from files, directories or stdin, validates them locally with the
// same validator the manager runs (so a typo never leaves this machine), then applies them in one
// transaction and prints what happened to each object.

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  formatManifestErrors,
  ManifestErrorCode,
  parseManifests,
  type Manifest,
  type ManifestSource,
} from '../../common/manifest/parse.js';
import { boolFlag, listFlag, parseDurationFlag, stringFlag } from '../args.js';
import { ExitCode, InputError, UsageError } from '../errors.js';
import type { Io, Verb, VerbContext } from '../verb.js';
import { waitForServices } from '../wait.js';

const readStdin = async (io: Io): Promise<string> => {
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  for await (const c of io.stdin)
    chunks.push(typeof c === 'string' ? c : decoder.decode(c, { stream: true }));
  return chunks.join('') + decoder.decode();
};

const isManifestFile = (f: string): boolean => f.endsWith('.yaml') || f.endsWith('.yml');

/** Every source named by -f, in order; a directory's *.yaml and *.yml files sorted by name. */
export const readSources = async (paths: readonly string[], io: Io): Promise<ManifestSource[]> => {
  const sources: ManifestSource[] = [];
  for (const p of paths) {
    if (p === '-') {
      sources.push({ file: '<stdin>', text: await readStdin(io) });
      continue;
    }
    try {
      if ((await stat(p)).isDirectory()) {
        const files = (await readdir(p)).filter(isManifestFile).sort();
        if (files.length === 0) throw new InputError(`${p}: no *.yaml or *.yml files`);
        for (const f of files) {
          const file = join(p, f);
          sources.push({ file, text: await readFile(file, 'utf8') });
        }
      } else {
        sources.push({ file: p, text: await readFile(p, 'utf8') });
      }
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError(`cannot read ${p}: ${(err as Error).message}`, { cause: err });
    }
  }
  return sources;
};

/**
 * Manifests read and validated as `apply` does (the network check asks the manager only when a
 * service names a network not in the files); InputError listing every mistake.
 */
export const readManifests = async (
  ctx: VerbContext,
  verb: string,
): Promise<{ sources: ManifestSource[]; manifests: readonly Manifest[] }> => {
  const paths = listFlag(ctx.args, 'file');
  if (paths.length === 0) throw new UsageError('flag -f is required', verb);
  if (ctx.args.positionals.length > 0) {
    throw new UsageError(`unexpected argument "${ctx.args.positionals[0]!}" (use -f)`, verb);
  }
  const sources = await readSources(paths, ctx.io);
  let result = parseManifests(sources);
  // Services may name networks that already exist in the cluster: only for those does the local
  // check need to ask the manager.
  if (!result.ok && result.errors.every((e) => e.code === ManifestErrorCode.UnknownNetwork)) {
    const client = await ctx.client();
    const existing = new Set((await client.listNetworks()).items.map((n) => n.meta.name));
    result = parseManifests(sources, { existingNetworks: existing });
  }
  if (!result.ok) throw new InputError(formatManifestErrors(result.errors));
  return { sources, manifests: result.manifests };
};

const defaultWaitMs = 5 * 60_000;

export const fileFlag = {
  type: 'string',
  short: 'f',
  multiple: true,
  value: 'FILE',
  help: 'manifest file, directory (*.yaml, *.yml) or - for stdin; repeatable',
} as const;

export const applyVerb: Verb = {
  name: 'apply',
  summary: 'Create or update services and networks from manifests',
  usage: `Usage: tug apply -f FILE|DIR|- [-f …] [--dry-run] [--wait [--wait-timeout DURATION]]

Validates every manifest locally (errors as file:line:column: field: message, exit 1, nothing
sent), then applies them all in one transaction and prints one line per object.

--wait then follows every applied service until it converged (its current spec's tasks running:
replicas, or one per eligible node for global; no older task left), printing a progress line per
service when it changes. Exit 4 when one failed (a slot's current-spec tasks failed 3 times, or
as often as the restart policy allows), 5 when --wait-timeout passed first.`,
  flags: {
    file: fileFlag,
    'dry-run': { type: 'boolean', help: 'validate and show what would change, write nothing' },
    wait: {
      type: 'boolean',
      help: 'follow the services until they converged or failed (exit 4) or time out (exit 5)',
    },
    'wait-timeout': {
      type: 'string',
      value: 'DURATION',
      help: 'how long --wait waits (default 5m)',
    },
  },
  run: async (ctx) => {
    const dryRun = boolFlag(ctx.args, 'dry-run');
    const wait = boolFlag(ctx.args, 'wait');
    const waitTimeout = stringFlag(ctx.args, 'wait-timeout');
    if (wait && dryRun) throw new UsageError('--wait and --dry-run exclude each other', 'apply');
    if (waitTimeout !== undefined && !wait) {
      throw new UsageError('--wait-timeout needs --wait', 'apply');
    }
    const waitMs =
      waitTimeout === undefined
        ? defaultWaitMs
        : parseDurationFlag(waitTimeout, '--wait-timeout', 'apply');
    const { sources } = await readManifests(ctx, 'apply');
    const client = await ctx.client();
    const res = await client.apply({ sources, dryRun });
    const suffix = dryRun ? ' (dry run)' : '';
    for (const r of res.results) {
      ctx.io.stdout.write(`${r.kind.toLowerCase()}/${r.name} ${r.action}${suffix}\n`);
    }
    // On stderr: stdout stays one line per object for scripts.
    for (const w of res.warnings) ctx.io.stderr.write(`warning: ${w}\n`);
    if (!wait) return ExitCode.Ok;
    return waitForServices(client, {
      services: res.results.filter((r) => r.kind === 'Service').map((r) => r.name),
      timeoutMs: waitMs,
      signal: ctx.signal,
      out: ctx.io.stdout,
      err: ctx.io.stderr,
    });
  },
};
