// Reconnect delays for a broken peer stream: exponential from initialMs to maxMs with jitter, so
// members that lost a peer together do not all redial it in the same instant.

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Uniform in [0, 1). */
  readonly random: () => number;
}

export class Backoff {
  private readonly opts: BackoffOptions;
  private attempts = 0;

  constructor(opts: BackoffOptions) {
    if (!(opts.initialMs > 0) || !(opts.maxMs >= opts.initialMs)) {
      throw new RangeError(
        `backoff needs 0 < initialMs <= maxMs, got initialMs=${opts.initialMs} maxMs=${opts.maxMs}`,
      );
    }
    this.opts = opts;
  }

  /** Failures since the last reset(). */
  get failures(): number {
    return this.attempts;
  }

  /**
   * The delay before the next attempt. "Equal jitter": half of the exponential step is fixed, so
   * the delay still grows; the other half is random, so retries spread out.
   */
  next(): number {
    const { initialMs, maxMs, random } = this.opts;
    // The exponent is capped so the doubling never overflows however long a peer stays down.
    const step = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempts, 30));
    this.attempts += 1;
    return step / 2 + random() * (step / 2);
  }

  reset(): void {
    this.attempts = 0;
  }
}
