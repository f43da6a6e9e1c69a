// Command-line flag parsing for benchmark entry points: node's parseArgs for the syntax, and typed
// converters that reject bad values with a UsageError naming the flag and what it expected.

import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

import { UsageError } from './errors.js';

export type FlagValues = Record<string, string | boolean | undefined>;

/** Parses `argv` strictly (unknown flags and positionals are errors). */
export function parseFlags(argv: readonly string[], options: ParseArgsOptionsConfig): FlagValues {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options,
      strict: true,
      allowPositionals: false,
    });
    return values as FlagValues;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err), { cause: err });
  }
}

function stringFlag(values: FlagValues, name: string): string | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw new UsageError(`--${name} needs a value`);
  return raw;
}

/** A number > 0 (fractions allowed: `--seconds 0.5`). */
export function positiveNumberFlag(values: FlagValues, name: string, fallback: number): number {
  const raw = stringFlag(values, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`--${name} must be a number > 0, got '${raw}'`);
  }
  return n;
}

/** A number >= 0 (`--warmup-seconds 0` turns warm-up off). */
export function nonNegativeNumberFlag(values: FlagValues, name: string, fallback: number): number {
  const raw = stringFlag(values, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`--${name} must be a number >= 0, got '${raw}'`);
  }
  return n;
}

/** An integer >= `min`. */
export function intFlag(values: FlagValues, name: string, fallback: number, min = 1): number {
  const raw = stringFlag(values, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer >= ${min}, got '${raw}'`);
  }
  return n;
}

/** A comma-separated list of integers >= `min` ("1,16,64"). */
export function intListFlag(
  values: FlagValues,
  name: string,
  fallback: readonly number[],
  min = 1,
): number[] {
  const raw = stringFlag(values, name);
  if (raw === undefined) return [...fallback];
  const parts = raw.split(',').map((p) => p.trim());
  const out: number[] = [];
  for (const part of parts) {
    const n = Number(part);
    if (!/^\d+$/.test(part) || !Number.isSafeInteger(n) || n < min) {
      throw new UsageError(
        `--${name} must be a comma-separated list of integers >= ${min}, got '${raw}'`,
      );
    }
    out.push(n);
  }
  return out;
}

/** A comma-separated subset of `allowed`, in the order given, without duplicates. */
export function choiceListFlag<T extends string>(
  values: FlagValues,
  name: string,
  allowed: readonly T[],
  fallback: readonly T[],
): T[] {
  const raw = stringFlag(values, name);
  if (raw === undefined) return [...fallback];
  const out: T[] = [];
  for (const part of raw.split(',').map((p) => p.trim())) {
    const choice = allowed.find((a) => a === part);
    if (choice === undefined) {
      throw new UsageError(`--${name}: '${part}' is not one of ${allowed.join(', ')}`);
    }
    if (!out.includes(choice)) out.push(choice);
  }
  return out;
}

export function optionalStringFlag(values: FlagValues, name: string): string | undefined {
  const raw = stringFlag(values, name);
  if (raw?.trim() === '') throw new UsageError(`--${name} must not be empty`);
  return raw;
}

export function booleanFlag(values: FlagValues, name: string): boolean {
  return values[name] === true;
}
