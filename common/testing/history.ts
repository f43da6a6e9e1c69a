// Records client operations as a history for the linearizability checker. Owns the timeline: by
// default a logical counter bumped on every event, which orders events exactly as this process saw
// them — the real-time order the checker needs, with no clock to skew or tie.

import type { Operation } from './linearizability.js';

/** Handle of an invoked operation, returned by invoke(). */
export type OpHandle = number & { readonly __brand: 'OpHandle' };

interface Pending<I, O> {
  readonly clientId: number;
  readonly input: I;
  readonly call: number;
  state: 'pending' | 'returned' | 'unknown' | 'discarded';
  output: O | undefined;
  return: number;
}

export class HistoryRecorder<I, O> {
  readonly #ops: Pending<I, O>[] = [];
  readonly #now: () => number;
  #counter = 0;
  #last = -Infinity;

  /**
   * `now` replaces the logical counter (for instance a simulator's virtual clock). It must never go
   * backwards; equal readings are allowed and count as concurrent.
   */
  constructor(opts: { readonly now?: () => number } = {}) {
    this.#now = opts.now ?? (() => ++this.#counter);
  }

  /** Record the call, just before the request leaves the client. */
  invoke(clientId: number, input: I): OpHandle {
    const call = this.#time();
    this.#ops.push({
      clientId,
      input,
      call,
      state: 'pending',
      output: undefined,
      return: Infinity,
    });
    return (this.#ops.length - 1) as OpHandle;
  }

  /** Record the answer, as soon as it arrives. */
  ok(handle: OpHandle, output: O): void {
    const op = this.#pending(handle, 'ok');
    op.state = 'returned';
    op.output = output;
    op.return = this.#time();
  }

  /**
   * The outcome is unknown (timeout, dropped connection, killed server): the operation may take
   * effect at any later time, or never. Operations still pending when history() is read count as
   * unknown too.
   */
  unknown(handle: OpHandle): void {
    this.#pending(handle, 'unknown').state = 'unknown';
  }

  /**
   * The operation certainly had no effect (e.g. refused before being proposed, such as "not the
   * leader"); it is left out of the history. Use unknown() whenever that is not certain.
   */
  discard(handle: OpHandle): void {
    this.#pending(handle, 'discard').state = 'discarded';
  }

  /** The history so far, in invocation order. */
  history(): Operation<I, O>[] {
    return this.#ops
      .filter((op) => op.state !== 'discarded')
      .map((op) => ({
        clientId: op.clientId,
        input: op.input,
        call: op.call,
        output: op.state === 'returned' ? op.output : undefined,
        return: op.state === 'returned' ? op.return : Infinity,
      }));
  }

  #pending(handle: OpHandle, what: string): Pending<I, O> {
    const op = this.#ops[handle];
    if (op === undefined) throw new RangeError(`${what}(): no operation with handle ${handle}`);
    if (op.state !== 'pending') {
      throw new Error(`${what}(): operation ${handle} already ended (${op.state})`);
    }
    return op;
  }

  #time(): number {
    const t = this.#now();
    if (!Number.isFinite(t) || t < this.#last) {
      throw new RangeError(
        `clock read ${t} after ${this.#last}: it must be finite and never go back`,
      );
    }
    this.#last = t;
    return t;
  }
}
