// The replicated state machine the simulator runs on the Raft core: a tiny string key-value store,
// the encoding of its commands as entry data, and its snapshot format. Deliberately dull, so that
// any divergence between members is the core's doing, not the state machine's.
import { EntryType, type Entry } from '../core/index.js';

/** A put, or the liveness probe the simulator proposes after healing (no effect on the store). */
export type KvCommand =
  | { readonly op: 'put'; readonly id: string; readonly key: string; readonly value: string }
  | { readonly op: 'probe'; readonly id: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const encodeCommand = (c: KvCommand): Uint8Array => encoder.encode(JSON.stringify(c));

export const decodeCommand = (data: Uint8Array): KvCommand => {
  const v = JSON.parse(decoder.decode(data)) as Partial<Record<string, unknown>> | null;
  if (v !== null && typeof v === 'object' && typeof v.id === 'string') {
    if (v.op === 'probe') return { op: 'probe', id: v.id };
    if (v.op === 'put' && typeof v.key === 'string' && typeof v.value === 'string') {
      return { op: 'put', id: v.id, key: v.key, value: v.value };
    }
  }
  throw new Error(`kv: corrupt command ${decoder.decode(data)}`);
};

/** The command an entry carries, or undefined for conf changes and the leader's empty no-op. */
export const commandOf = (e: Entry): KvCommand | undefined =>
  e.type === EntryType.Normal && e.data.byteLength > 0 ? decodeCommand(e.data) : undefined;

export class KvStateMachine {
  /** Index of the last entry applied (or of the snapshot restored). */
  applied: number;
  readonly #data: Map<string, string>;

  constructor(applied = 0, data: ReadonlyMap<string, string> = new Map()) {
    this.applied = applied;
    this.#data = new Map(data);
  }

  /** Applies the next entry; entries must come in index order without gaps. */
  apply(e: Entry): KvCommand | undefined {
    if (e.index !== this.applied + 1) {
      throw new Error(`kv: applying entry ${e.index} after ${this.applied}`);
    }
    this.applied = e.index;
    const c = commandOf(e);
    if (c?.op === 'put') this.#data.set(c.key, c.value);
    return c;
  }

  get(key: string): string | null {
    return this.#data.get(key) ?? null;
  }

  /** Canonical (sorted) encoding: equal stores give equal bytes, so it doubles as the digest. */
  snapshot(): Uint8Array {
    return encoder.encode(this.digest());
  }

  digest(): string {
    return JSON.stringify([...this.#data].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  static restore(index: number, data: Uint8Array): KvStateMachine {
    const pairs = JSON.parse(decoder.decode(data)) as unknown;
    if (
      !Array.isArray(pairs) ||
      !pairs.every(
        (p) =>
          Array.isArray(p) &&
          p.length === 2 &&
          typeof p[0] === 'string' &&
          typeof p[1] === 'string',
      )
    ) {
      throw new Error(`kv: corrupt snapshot at index ${index}`);
    }
    return new KvStateMachine(index, new Map(pairs as [string, string][]));
  }
}
