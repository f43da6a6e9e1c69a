// How the store's Raft entries and snapshots are encoded. Entries are JSON for now (readable in a
// WAL dump, ~2–3× larger than a binary encoding; see docs/store.md):
//   {"f":1,"now":<ms>,"txs":[<tx>,<tx>,…]}
// where each tx is the JSON of a Transaction. Snapshots are canonical JSON (keys sorted, objects
// sorted by id) so two managers with the same state produce identical bytes.
import type { Transaction } from './types.js';

const ENTRY_FORMAT = 1;
export const SNAPSHOT_FORMAT = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface Batch {
  /** The proposer's clock when it proposed: every manager stamps createdAt/updatedAt with it. */
  readonly now: number;
  readonly txs: readonly Transaction[];
}

/** The JSON of one transaction, as the writer sizes and batches it. */
export const encodeTransaction = (tx: Transaction): string => JSON.stringify(tx);

/** Bytes a batch adds around its transactions (header, brackets, commas), an upper bound. */
export const batchOverheadBytes = 64;

export const encodeBatch = (now: number, encodedTxs: readonly string[]): Uint8Array =>
  encoder.encode(`{"f":${ENTRY_FORMAT},"now":${now},"txs":[${encodedTxs.join(',')}]}`);

/** null when the data is not a store batch (every manager then ignores it the same way). */
export const decodeBatch = (data: Uint8Array): Batch | null => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const b = parsed as { f?: unknown; now?: unknown; txs?: unknown };
  if (b.f !== ENTRY_FORMAT || typeof b.now !== 'number' || !Array.isArray(b.txs)) return null;
  if (!b.txs.every((tx) => Array.isArray(tx))) return null;
  return { now: b.now, txs: b.txs as Transaction[] };
};

/** JSON with object keys sorted: the same value always gives the same text. */
export const canonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v: unknown) => canonicalJson(v)).join(',')}]`;
  const rec = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(rec).sort()) {
    const v = rec[k];
    if (v === undefined) continue;
    parts.push(`${JSON.stringify(k)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
};

export const encodeText = (s: string): Uint8Array => encoder.encode(s);
export const decodeText = (b: Uint8Array): string => decoder.decode(b);
