// The command-line flag parser: GNU-style `--name value`, `--name=value`, `-x value`, boolean
// flags, repeated flags, and `--` to end flags. Errors are UsageErrors naming the flag, so `tug`
// can say exactly what was wrong and exit 2.

import { UsageError } from './errors.js';

export interface FlagDef {
  readonly type: 'string' | 'boolean';
  /** One-letter alias, without the dash. */
  readonly short?: string;
  /** May be given more than once; the values are collected in order. */
  readonly multiple?: boolean;
  /** For --help. */
  readonly help: string;
  /** Placeholder for the value in --help (`FILE`). */
  readonly value?: string;
}

export type FlagDefs = Readonly<Record<string, FlagDef>>;

export type FlagValue = string | boolean | readonly string[];

export interface ParsedArgs {
  readonly positionals: readonly string[];
  /** Only the flags that were given; repeated flags as string arrays. */
  readonly flags: Readonly<Record<string, FlagValue>>;
}

/** Parses `argv` against `defs`; `verb` is named in errors. */
export const parseArgs = (argv: readonly string[], defs: FlagDefs, verb = ''): ParsedArgs => {
  const positionals: string[] = [];
  const flags: Record<string, FlagValue> = {};
  const byShort = new Map<string, string>();
  for (const [name, def] of Object.entries(defs))
    if (def.short !== undefined) byShort.set(def.short, name);
  const where = verb === '' ? 'tug' : `tug ${verb}`;

  const set = (name: string, shown: string, def: FlagDef, value: string | boolean): void => {
    if (def.multiple === true && typeof value === 'string') {
      const prev = flags[name];
      flags[name] = [...(Array.isArray(prev) ? (prev as readonly string[]) : []), value];
      return;
    }
    if (name in flags) throw new UsageError(`flag ${shown} given more than once`, verb);
    flags[name] = value;
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    // A lone '-' is a value (stdin), not a flag.
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    let name: string;
    let shown: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
      shown = `--${name}`;
    } else {
      const letter = arg.slice(1, 2);
      shown = `-${letter}`;
      const long = byShort.get(letter);
      if (long === undefined) throw new UsageError(`unknown flag ${shown} for ${where}`, verb);
      name = long;
      // `-ojson` and `-o=json` both work, as with most tools.
      const rest = arg.slice(2);
      inline = rest === '' ? undefined : rest.startsWith('=') ? rest.slice(1) : rest;
    }
    const def = Object.hasOwn(defs, name) ? defs[name] : undefined;
    if (def === undefined) throw new UsageError(`unknown flag ${shown} for ${where}`, verb);
    if (def.type === 'boolean') {
      if (inline === undefined) set(name, shown, def, true);
      else if (inline === 'true' || inline === 'false') set(name, shown, def, inline === 'true');
      else throw new UsageError(`flag ${shown} takes no value (got "${inline}")`, verb);
      continue;
    }
    if (inline !== undefined) {
      set(name, shown, def, inline);
      continue;
    }
    const next = argv[i + 1];
    if (next === undefined || (next.startsWith('-') && next !== '-')) {
      throw new UsageError(`flag ${shown} needs a value`, verb);
    }
    set(name, shown, def, next);
    i++;
  }
  return { positionals, flags };
};

export const stringFlag = (args: ParsedArgs, name: string): string | undefined => {
  const v = args.flags[name];
  return typeof v === 'string' ? v : undefined;
};

export const boolFlag = (args: ParsedArgs, name: string): boolean => args.flags[name] === true;

export const listFlag = (args: ParsedArgs, name: string): readonly string[] => {
  const v = args.flags[name];
  return Array.isArray(v) ? (v as readonly string[]) : typeof v === 'string' ? [v] : [];
};

/** Milliseconds from `500ms`, `5s`, `1m` or a bare number of seconds. */
export const parseDurationFlag = (value: string, shown: string, verb = ''): number => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value);
  if (m === null)
    throw new UsageError(`flag ${shown}: "${value}" is not a duration (5s, 500ms, 1m)`, verb);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(unit === 'ms' ? n : unit === 's' ? n * 1000 : n * 60_000);
};

/** The --help text of a flag set, one flag per line, aligned. */
export const formatFlags = (defs: FlagDefs): string => {
  const heads = Object.entries(defs).map(([name, def]) => {
    const short = def.short === undefined ? '    ' : `-${def.short}, `;
    const value = def.type === 'string' ? ` ${def.value ?? 'VALUE'}` : '';
    return [`  ${short}--${name}${value}`, def.help] as const;
  });
  const width = Math.max(0, ...heads.map(([h]) => h.length));
  return heads.map(([h, help]) => `${h.padEnd(width)}  ${help}`).join('\n');
};
