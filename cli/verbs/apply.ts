// `tug apply`: reads manifests from files, directories or stdin, validates them locally with the
// same validator the manager runs (so a typo never leaves this machine), then applies them in one
// transaction and prints what happened to each object.

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  formatManifestErrors,
  ManifestErrorCode,
  parseManifests,
  type ManifestSource,
} from '../../common/manifest/parse.js';
import { boolFlag, listFlag } from '../args.js';
import { InputError, UsageError } from '../errors.js';
import type { Io, Verb } from '../verb.js';

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

export const applyVerb: Verb = {
  name: 'apply',
  summary: 'Create or update services and networks from manifests',
  usage: `Usage: tug apply -f FILE|DIR|- [-f …] [--dry-run]

Validates every manifest locally (errors as file:line:column: field: message, exit 1, nothing
sent), then applies them all in one transaction and prints one line per object.`,
  flags: {
    file: {
      type: 'string',
      short: 'f',
      multiple: true,
      value: 'FILE',
      help: 'manifest file, directory (*.yaml, *.yml) or - for stdin; repeatable',
    },
    'dry-run': { type: 'boolean', help: 'validate and show what would change, write nothing' },
  },
  run: async (ctx) => {
    const paths = listFlag(ctx.args, 'file');
    if (paths.length === 0) throw new UsageError('flag -f is required', 'apply');
    if (ctx.args.positionals.length > 0) {
      throw new UsageError(`unexpected argument "${ctx.args.positionals[0]!}" (use -f)`, 'apply');
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

    const dryRun = boolFlag(ctx.args, 'dry-run');
    const client = await ctx.client();
    const res = await client.apply({ sources, dryRun });
    const suffix = dryRun ? ' (dry run)' : '';
    for (const r of res.results) {
      ctx.io.stdout.write(`${r.kind.toLowerCase()}/${r.name} ${r.action}${suffix}\n`);
    }
  },
};
