// Bounded waiting: every wait in the harness has a timeout and an AbortSignal, so a stuck process
// or a lost reply ends the run with an error naming what it waited for instead of hanging.

import { AbortedError, BenchTimeoutError } from './errors.js';

/** Resolves after `ms`, or rejects with AbortedError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new AbortedError('sleeping', { cause: signal.reason }));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError('sleeping', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface WaitForOptions {
  /** What is awaited, for the timeout message ("etcd cluster healthy"). */
  readonly what: string;
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  readonly signal?: AbortSignal;
  /** Errors for which waiting longer cannot help; they are rethrown at once. */
  readonly isFatal?: (err: unknown) => boolean;
}

/**
 * Polls `probe` until it returns a value other than undefined or false and returns that value. A probe that
 * throws counts as "not yet" (unless `isFatal` says otherwise); the last error becomes the
 * timeout's cause.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitForOptions,
): Promise<T> {
  const intervalMs = options.intervalMs ?? 50;
  const deadline = performance.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    if (options.signal?.aborted === true) {
      throw new AbortedError(`waiting for ${options.what}`, { cause: options.signal.reason });
    }
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      if (options.isFatal?.(err) === true) throw err;
      lastError = err;
    }
    if (performance.now() + intervalMs > deadline) {
      throw new BenchTimeoutError(
        options.what,
        options.timeoutMs,
        lastError === undefined ? undefined : { cause: lastError },
      );
    }
    await sleep(intervalMs, options.signal);
  }
}

/** Races `promise` against a timeout; the loser is left to settle on its own (its result ignored). */
export async function withTimeout<T>(
  promise: Promise<T>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new BenchTimeoutError(what, timeoutMs));
    }, timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
