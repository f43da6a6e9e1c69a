// Polling for a condition with a deadline: how tests and tools wait for a distributed system
// without fixed sleeps.

export class WaitTimeoutError extends Error {
  readonly code = 'wait-timeout';
  constructor(what: string, ms: number, last?: unknown) {
    super(
      `timed out after ${ms} ms waiting for ${what}${last === undefined ? '' : ` (last: ${String(last)})`}`,
    );
    this.name = 'WaitTimeoutError';
  }
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** Resolves with the first truthy value `probe` returns; probe errors count as "not yet". */
export const waitFor = async <T>(
  what: string,
  probe: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<NonNullable<T>> => {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (e) {
      last = e instanceof Error ? e.message : e;
    }
    if (Date.now() >= until) throw new WaitTimeoutError(what, timeoutMs, last);
    await sleep(opts.intervalMs ?? 20);
  }
};
