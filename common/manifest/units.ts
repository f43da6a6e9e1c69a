// The scalar syntaxes of manifests: durations (`500ms`, `1m30s`), byte quantities (`64Mi`, `1G`,
// plain bytes) and DNS-label names. Pure string functions shared by the manifest validator and by
// whoever else reads the same syntax. Placement constraints have their own module
// (common/constraints.ts), shared with the scheduler.

/** Outcome of parsing one scalar: the value, or why not (a sentence fragment for an error). */
export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

const durationUnitsMs = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
const durationPart = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;

/**
 * Go-style durations restricted to what a millisecond clock can hold: `500ms`, `5s`, `1m30s`,
 * `1.5h`; `0` alone needs no unit. A bare number is refused (seconds or milliseconds?).
 */
export const parseDurationMs = (text: string): Parsed<number> => {
  if (text === '0') return { ok: true, value: 0 };
  if (text === '') return fail('is empty');
  if (/^\d+(\.\d+)?$/.test(text)) return fail(`needs a unit: "${text}s" or "${text}ms"?`);
  let total = 0;
  durationPart.lastIndex = 0;
  while (durationPart.lastIndex < text.length) {
    const at = durationPart.lastIndex;
    const m = durationPart.exec(text);
    if (m === null || m.index !== at) {
      return fail(`is not a duration (expected e.g. 500ms, 5s, 1m30s, 1h)`);
    }
    total += Number(m[1]) * durationUnitsMs[m[2] as keyof typeof durationUnitsMs];
  }
  // Sums of decimals drift (0.1s + 0.2s); anything within a microsecond of a whole ms is exact.
  const rounded = Math.round(total);
  if (Math.abs(total - rounded) > 1e-3) return fail('is finer than a millisecond');
  if (!Number.isSafeInteger(rounded)) return fail('is too long');
  return { ok: true, value: rounded };
};

/** Renders milliseconds as the shortest exact duration `parseDurationMs` reads back. */
export const formatDurationMs = (ms: number): string => {
  if (ms === 0) return '0';
  let rest = ms;
  let out = '';
  for (const [unit, size] of Object.entries(durationUnitsMs)) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
};

// Kubernetes quantity suffixes, decimal and binary. Lowercase `m` is milli there, so a Docker
// habit like `64m` would silently mean 0.064 bytes: refused with a hint instead.
const byteSuffixes: Readonly<Record<string, number>> = {
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** `64Mi`, `1.5Gi`, `100M`, `4096`: a whole number of bytes. */
export const parseBytes = (text: string): Parsed<number> => {
  const m = /^(\d+(?:\.\d+)?)([A-Za-z]*)$/.exec(text.trim());
  if (m === null) return fail('is not a quantity (expected e.g. 64Mi, 1Gi, 100M or bytes)');
  const suffix = m[2]!;
  const size = byteSuffixes[suffix];
  if (size === undefined) {
    const hint = /^[mgtk]i?b?$/i.test(suffix)
      ? ` (did you mean "${m[1]}${suffix[0]!.toUpperCase()}i"?)`
      : '';
    return fail(`has an unknown unit "${suffix}"${hint}; use Ki, Mi, Gi, Ti, k, M, G, T or none`);
  }
  const value = Number(m[1]) * size;
  if (!Number.isInteger(value)) return fail('is not a whole number of bytes');
  if (!Number.isSafeInteger(value)) return fail('is too large');
  return { ok: true, value };
};

/** Renders bytes with the largest binary suffix that divides them exactly. */
export const formatBytes = (bytes: number): string => {
  for (const suffix of ['Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const size = byteSuffixes[suffix]!;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${suffix}`;
  }
  return String(bytes);
};

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Object names become DNS names and interface suffixes: RFC 1123 labels. */
export const checkName = (name: string): Parsed<string> => {
  if (name.length === 0) return fail('is empty');
  if (name.length > 63) return fail(`is ${name.length} characters long; the limit is 63`);
  if (!dnsLabel.test(name)) {
    return fail(
      'must be lowercase letters, digits and "-", starting and ending with a letter or digit',
    );
  }
  return { ok: true, value: name };
};

/** Edit distance counting a swap of neighbours as one edit (the commonest typo), for "did you mean". */
export const editDistance = (a: string, b: string): number => {
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, before[j - 2]! + 1);
      }
      row.push(d);
    }
    before = prev;
    prev = row;
  }
  return prev[b.length]!;
};

/** The closest candidate when it is close enough to be a typo (or differs only in case). */
export const suggest = (word: string, candidates: readonly string[]): string | undefined => {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = c.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.min(3, Math.floor(word.length / 3))) ? best : undefined;
};
