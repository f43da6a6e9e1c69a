// Summary statistics for benchmark samples. Percentiles use the nearest-rank definition (the
// smallest sample with at least p% of samples at or below it), so every reported value is a value
// that was actually observed.

export interface Summary {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

function checkFinite(values: readonly number[], what: string): void {
  for (const v of values) {
    if (!Number.isFinite(v)) throw new RangeError(`${what}: sample ${String(v)} is not finite`);
  }
}

/** Nearest-rank percentile of ascending-sorted `sorted`; `p` in [0, 100]. */
export function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of no samples');
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${String(p)} is outside [0, 100]`);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function percentile(values: readonly number[], p: number): number {
  checkFinite(values, 'percentile');
  return percentileOfSorted(
    [...values].sort((a, b) => a - b),
    p,
  );
}

/** The median as the mean of the two middle values for even counts (the usual definition). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no samples');
  checkFinite(values, 'median');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new RangeError('summary of no samples');
  checkFinite(values, 'summarize');
  const sorted = [...values].sort((a, b) => a - b);
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    min: sorted[0]!,
    mean: sum / sorted.length,
    p50: percentileOfSorted(sorted, 50),
    p90: percentileOfSorted(sorted, 90),
    p99: percentileOfSorted(sorted, 99),
    max: sorted[sorted.length - 1]!,
  };
}

/** a / b, or null when either side is missing or b is zero: a ratio is never invented. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a == null || b == null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}
