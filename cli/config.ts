// Where the manager is: `--manager host:port`, else $TUG_MANAGER, else `manager:` in the config
// file ($XDG_CONFIG_HOME/tug/config.yaml, default ~/.config/tug/config.yaml). Precedence is
// documented in docs/cli.md.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { InputError, UsageError } from './errors.js';

export const configPath = (
  env: Readonly<Record<string, string | undefined>>,
): string | undefined => {
  const xdg = env['XDG_CONFIG_HOME'];
  if (xdg !== undefined && xdg !== '') return join(xdg, 'tug', 'config.yaml');
  const home = env['HOME'];
  return home === undefined || home === ''
    ? undefined
    : join(home, '.config', 'tug', 'config.yaml');
};

const readConfigManager = async (path: string): Promise<string | undefined> => {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InputError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new InputError(`${path}: ${(err as Error).message}`, { cause: err });
  }
  if (doc === null || doc === undefined) return undefined;
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new InputError(`${path}: expected a mapping with "manager: host:port"`);
  }
  const manager = (doc as Record<string, unknown>)['manager'];
  if (manager === undefined || manager === null) return undefined;
  if (typeof manager !== 'string' || manager === '') {
    throw new InputError(`${path}: manager: expected a string host:port`);
  }
  return manager;
};

export const resolveManager = async (
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string> => {
  if (flag !== undefined && flag !== '') return flag;
  const fromEnv = env['TUG_MANAGER'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const path = configPath(env);
  const fromFile = path === undefined ? undefined : await readConfigManager(path);
  if (fromFile !== undefined) return fromFile;
  throw new UsageError(
    `no manager address: pass --manager host:port, set TUG_MANAGER, or put "manager: host:port" in ${path ?? '~/.config/tug/config.yaml'}`,
  );
};
