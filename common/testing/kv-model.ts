// The sequential specification of a string key-value store for the linearizability checker: get,
// put, delete, append and compare-and-set, partitioned by key (operations on different keys
// commute, so each key's sub-history is checked on its own).

import {
  checkOperations,
  InvalidHistoryError,
  type CheckOptions,
  type CheckOutcome,
  type Model,
  type Operation,
} from './linearizability.js';

export type KvInput =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'delete'; readonly key: string }
  /** Appends to the current value ('' when absent). */
  | { readonly op: 'append'; readonly key: string; readonly value: string }
  /** Sets `value` if the current value is `expected` (null: the key is absent). */
  | {
      readonly op: 'cas';
      readonly key: string;
      readonly expected: string | null;
      readonly value: string;
    };

/**
 * get → `{ value }` (null when absent); cas → `{ ok }`; put, delete, append → `{}`. An unknown
 * outcome is `undefined` on the Operation, never a field here.
 */
export interface KvOutput {
  readonly value?: string | null;
  readonly ok?: boolean;
}

/** Immutable; a key that is absent has no entry. Partitioned checks hold at most one key. */
export type KvState = ReadonlyMap<string, string>;

export type KvOperation = Operation<KvInput, KvOutput>;

const EMPTY: KvState = new Map();

export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => EMPTY,

  step(state, input, output) {
    const current = state.get(input.key) ?? null;
    switch (input.op) {
      case 'get':
        return { ok: output === undefined || output.value === current, state };
      case 'put':
        return { ok: true, state: withKey(state, input.key, input.value) };
      case 'delete':
        return { ok: true, state: withKey(state, input.key, null) };
      case 'append':
        return { ok: true, state: withKey(state, input.key, (current ?? '') + input.value) };
      case 'cas': {
        const applies = current === input.expected;
        if (output !== undefined && output.ok !== applies) return { ok: false, state };
        return { ok: true, state: applies ? withKey(state, input.key, input.value) : state };
      }
    }
  },

  // Length-prefixed keys and values make the encoding unambiguous; partitioned states hold one
  // entry, so the sort is rarely needed.
  key(state) {
    const entries = state.size > 1 ? [...state].sort(([a], [b]) => (a < b ? -1 : 1)) : state;
    let out = '';
    for (const [k, v] of entries) out += `${k.length}:${k}${v.length}:${v}`;
    return out;
  },

  readOnly: (input) => input.op === 'get',

  // A put or delete leaves the key's value independent of what any earlier write to it did.
  supersedes(later, earlier) {
    return (later.op === 'put' || later.op === 'delete') && later.key === earlier.key;
  },

  partition(history) {
    const byKey = new Map<string, KvOperation[]>();
    history.forEach((op, i) => {
      validateKvOperation(op, i);
      // A read whose answer never arrived constrains nothing.
      if (op.input.op === 'get' && op.output === undefined) return;
      let ops = byKey.get(op.input.key);
      if (ops === undefined) {
        ops = [];
        byKey.set(op.input.key, ops);
      }
      ops.push(op);
    });
    return [...byKey.values()];
  },

  describe(input, output) {
    const key = input.key;
    switch (input.op) {
      case 'get':
        return `get ${key} -> ${output === undefined ? '?' : quote(output.value ?? null)}`;
      case 'put':
        return `put ${key}=${quote(input.value)}`;
      case 'delete':
        return `delete ${key}`;
      case 'append':
        return `append ${key}+=${quote(input.value)}`;
      case 'cas': {
        const result = output === undefined ? '?' : output.ok === true ? 'ok' : 'failed';
        return `cas ${key} ${quote(input.expected)}->${quote(input.value)} -> ${result}`;
      }
    }
  },

  describeState(state) {
    if (state.size === 0) return '(no keys set)';
    return [...state].map(([k, v]) => `${k}=${quote(v)}`).join(', ');
  },
};

/** Check a key-value history; see checkOperations. */
export function checkKv(
  history: readonly KvOperation[],
  opts?: CheckOptions,
): CheckOutcome<KvInput, KvOutput> {
  return checkOperations(kvModel, history, opts);
}

/** Throws InvalidHistoryError naming the operation and field when `op` is not a well-formed KV op. */
export function validateKvOperation(op: KvOperation, index: number): void {
  const fail = (what: string): never => {
    throw new InvalidHistoryError(`operation #${index} (${safeJson(op.input)}): ${what}`, index);
  };
  const input = op.input as Partial<Record<string, unknown>> | null;
  if (typeof input !== 'object' || input === null) return fail('input is not an object');
  if (typeof input.key !== 'string') fail('input.key must be a string');
  switch (input.op) {
    case 'get':
    case 'delete':
      break;
    case 'put':
    case 'append':
      if (typeof input.value !== 'string') fail('input.value must be a string');
      break;
    case 'cas':
      if (typeof input.value !== 'string') fail('input.value must be a string');
      if (typeof input.expected !== 'string' && input.expected !== null) {
        fail('input.expected must be a string or null');
      }
      break;
    default:
      fail(`input.op must be one of get, put, delete, append, cas`);
  }
  const output = op.output as Partial<Record<string, unknown>> | null | undefined;
  if (output === undefined) return;
  if (typeof output !== 'object' || output === null) return fail('output is not an object');
  if (input.op === 'get' && typeof output.value !== 'string' && output.value !== null) {
    fail('a get output must have value: string | null');
  }
  if (input.op === 'cas' && typeof output.ok !== 'boolean')
    fail('a cas output must have ok: boolean');
}

function withKey(state: KvState, key: string, value: string | null): KvState {
  const next = new Map(state);
  if (value === null) next.delete(key);
  else next.set(key, value);
  return next;
}

function quote(v: string | null): string {
  return v === null ? 'null' : JSON.stringify(v);
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
