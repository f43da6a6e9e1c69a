// Output formats: aligned tables for people (`table`, `wide`), JSON and YAML of the model's objects
// for machines (`json`, `yaml`), and the small value formatters (ages, bytes) tables use. Pure:
// strings in, strings out.

import { stringify } from 'yaml';
import { UsageError } from './errors.js';

export const OutputFormat = { Table: 'table', Wide: 'wide', Json: 'json', Yaml: 'yaml' } as const;
export type OutputFormat = (typeof OutputFormat)[keyof typeof OutputFormat];

export const parseOutputFormat = (value: string | undefined, verb: string): OutputFormat => {
  if (value === undefined) return OutputFormat.Table;
  const formats: readonly string[] = Object.values(OutputFormat);
  if (!formats.includes(value)) {
    throw new UsageError(`flag -o: "${value}" is not one of ${formats.join(', ')}`, verb);
  }
  return value as OutputFormat;
};

/**
 * Columns padded to their widest cell, two spaces apart, no trailing spaces; the header row first.
 * Ends with a newline; an empty table is just the header.
 */
export const table = (headers: readonly string[], rows: readonly (readonly string[])[]): string => {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    headers
      .map((_, i) => (cells[i] ?? '').padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
};

/** Each column's width in `table(headers, rows)`, so rows printed later (get -w) line up. */
export const columnWidths = (
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): number[] => headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));

/** One row padded to `widths` (a longer cell pushes the rest right rather than being cut). */
export const tableRow = (cells: readonly string[], widths: readonly number[]): string =>
  widths
    .map((w, i) => (cells[i] ?? '').padEnd(w))
    .join('  ')
    .trimEnd() + '\n';

/** JSON or YAML of objects as stored; one object alone when `single`, else a list. */
export const machine = (format: 'json' | 'yaml', data: unknown): string =>
  format === 'json' ? JSON.stringify(data, null, 2) + '\n' : stringify(data);

/** `45s`, `12m`, `3h`, `2d`: the largest unit, rounded down, as kubectl shows ages. */
export const age = (ms: number): string => {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
};

/** `512Mi`, `2Gi`: binary units, one decimal where it matters. */
export const bytes = (n: number): string => {
  const units = ['B', 'Ki', 'Mi', 'Gi', 'Ti'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)}${units[i]!}`;
};

/** Cuts long cells in tables (full text in `wide`, json, yaml and describe). */
export const truncate = (s: string, max: number): string =>
  s.length <= max ? s : `${s.slice(0, max - 1)}…`;

export const labelList = (labels: Readonly<Record<string, string>>): string =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** `key: value` lines with the values aligned, for describe. */
export const fields = (pairs: readonly (readonly [string, string])[]): string => {
  const width = Math.max(0, ...pairs.map(([k]) => k.length + 1));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${v}`.trimEnd()).join('\n') + '\n';
};
