// The closed-loop load generator shared by every key-value benchmark: N workers each keep one
// request in flight against a KvDriver for a fixed window, after a warm-up that is not recorded.
// Both systems of a comparison go through this same code, so differences are theirs, not ours.

import { AbortedError, BenchError, BenchErrorCode } from './errors.js';
import { randomInt, type Random } from './random.js';
import { summarize, type Summary } from './stats.js';

/** What a load generator needs from a system under test. Implementations retry on their own. */
export interface KvDriver {
  put(key: string, value: Uint8Array): Promise<void>;
  /** Resolves to null when the key does not exist. */
  get(key: string): Promise<Uint8Array | null>;
  close(): Promise<void>;
}

export const LoadOp = { Put: 'put', Get: 'get' } as const;
export type LoadOp = (typeof LoadOp)[keyof typeof LoadOp];

export interface LoadSpec {
  readonly op: LoadOp;
  /** Requests kept in flight (closed loop: a worker sends its next request when one returns). */
  readonly concurrency: number;
  /** The measured window. */
  readonly durationMs: number;
  /** Run before the window and not recorded: connections, JIT, server caches. */
  readonly warmupMs: number;
  /** Keys are drawn uniformly from this many. */
  readonly keyCount: number;
  readonly valueBytes: number;
  readonly random: Random;
  readonly keyPrefix?: string;
  readonly signal?: AbortSignal;
  /** Milliseconds on a monotonic clock; performance.now by default. */
  readonly now?: () => number;
}

export interface LoadResult {
  readonly op: LoadOp;
  readonly concurrency: number;
  /** Length of the measured window as it actually ran. */
  readonly windowMs: number;
  /** Requests completed inside the window. */
  readonly ops: number;
  readonly opsPerSec: number;
  readonly latencyMs: Summary;
  /** For gets: how many found their key (sanity: reads hit data, not only misses). */
  readonly found: number;
}

/** Raised when a request fails during a load phase; the phase's numbers would be meaningless. */
export class LoadFailedError extends BenchError {
  readonly code = BenchErrorCode.LoadFailed;
  override readonly name = 'LoadFailedError';
  constructor(what: string, options: ErrorOptions) {
    super(
      `${what} failed${options.cause instanceof Error ? `: ${options.cause.message}` : ''}`,
      options,
    );
  }
}

export function benchKey(index: number, keyCount: number, prefix = 'bench/'): string {
  return `${prefix}${String(index).padStart(String(keyCount - 1).length, '0')}`;
}

export function randomValue(random: Random, bytes: number): Uint8Array {
  const value = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) value[i] = randomInt(random, 256);
  return value;
}

function checkSpec(spec: LoadSpec): void {
  const positiveInt = (v: number, name: string): void => {
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new RangeError(`load: ${name} must be a positive integer, got ${String(v)}`);
    }
  };
  positiveInt(spec.concurrency, 'concurrency');
  positiveInt(spec.keyCount, 'keyCount');
  if (!(spec.durationMs > 0))
    throw new RangeError(`load: durationMs must be > 0, got ${spec.durationMs}`);
  if (!(spec.warmupMs >= 0))
    throw new RangeError(`load: warmupMs must be >= 0, got ${spec.warmupMs}`);
  if (!Number.isSafeInteger(spec.valueBytes) || spec.valueBytes < 0) {
    throw new RangeError(`load: valueBytes must be a non-negative integer, got ${spec.valueBytes}`);
  }
}

/** Runs one load phase and returns what completed inside the measured window. */
export async function runLoad(driver: KvDriver, spec: LoadSpec): Promise<LoadResult> {
  checkSpec(spec);
  const now = spec.now ?? (() => performance.now());
  const value = randomValue(spec.random, spec.valueBytes);
  const what = `${spec.op} at ${spec.concurrency} in flight`;
  const start = now();
  const windowStart = start + spec.warmupMs;
  const windowEnd = windowStart + spec.durationMs;
  const latencies: number[] = [];
  let found = 0;
  let failure: unknown;

  const worker = async (): Promise<void> => {
    while (failure === undefined && spec.signal?.aborted !== true) {
      const sent = now();
      if (sent >= windowEnd) return;
      const key = benchKey(randomInt(spec.random, spec.keyCount), spec.keyCount, spec.keyPrefix);
      let hit = false;
      try {
        if (spec.op === LoadOp.Put) {
          await driver.put(key, value);
        } else {
          hit = (await driver.get(key)) !== null;
        }
      } catch (err) {
        failure ??= err;
        return;
      }
      const done = now();
      if (done >= windowStart && done <= windowEnd) {
        latencies.push(done - sent);
        if (hit) found++;
      }
    }
  };

  await Promise.all(Array.from({ length: spec.concurrency }, worker));
  if (spec.signal?.aborted === true) throw new AbortedError(what, { cause: spec.signal.reason });
  if (failure !== undefined) throw new LoadFailedError(what, { cause: failure });
  if (latencies.length === 0)
    throw new LoadFailedError(what, { cause: new Error('no request completed inside the window') });
  const windowMs = Math.min(now(), windowEnd) - windowStart;
  return {
    op: spec.op,
    concurrency: spec.concurrency,
    windowMs,
    ops: latencies.length,
    opsPerSec: latencies.length / (windowMs / 1000),
    latencyMs: summarize(latencies),
    found,
  };
}
