// The replicated key-value demo's state machine: a map from string keys to byte values, changed
// only by applying committed log entries. Small on purpose: it exists to exercise the Raft library
// (README demo, linearizability tests, bench/raft).
import type { Entry } from '../core/index.js';
import type { StateMachine } from '../node.js';

const OP_PUT = 1;
const OP_DELETE = 2;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export type KvCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: Uint8Array }
  | { readonly op: 'delete'; readonly key: string };

export const encodeKvCommand = (c: KvCommand): Uint8Array => {
  const key = encoder.encode(c.key);
  const value = c.op === 'put' ? c.value : new Uint8Array(0);
  const out = new Uint8Array(1 + 4 + key.byteLength + value.byteLength);
  const view = new DataView(out.buffer);
  out[0] = c.op === 'put' ? OP_PUT : OP_DELETE;
  view.setUint32(1, key.byteLength);
  out.set(key, 5);
  out.set(value, 5 + key.byteLength);
  return out;
};

export const decodeKvCommand = (data: Uint8Array): KvCommand => {
  if (data.byteLength < 5) throw new Error(`kv command of ${data.byteLength} bytes is too short`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const keyLen = view.getUint32(1);
  if (5 + keyLen > data.byteLength) throw new Error('kv command key runs past its end');
  const key = decoder.decode(data.subarray(5, 5 + keyLen));
  switch (data[0]) {
    case OP_PUT:
      return { op: 'put', key, value: data.slice(5 + keyLen) };
    case OP_DELETE:
      return { op: 'delete', key };
    default:
      throw new Error(`unknown kv op ${String(data[0])}`);
  }
};

export class KvStateMachine implements StateMachine<void> {
  private data = new Map<string, Uint8Array>();
  appliedIndex = 0;

  get(key: string): Uint8Array | undefined {
    return this.data.get(key);
  }

  get size(): number {
    return this.data.size;
  }

  apply(entry: Entry): void {
    this.appliedIndex = entry.index;
    const c = decodeKvCommand(entry.data);
    if (c.op === 'put') this.data.set(c.key, c.value);
    else this.data.delete(c.key);
  }

  /** Layout: count, then per pair key length, key, value length, value (all lengths u32 BE). */
  snapshot(): Uint8Array {
    const parts: Uint8Array[] = [];
    let size = 4;
    for (const [k, v] of this.data) {
      const kb = encoder.encode(k);
      parts.push(kb, v);
      size += 8 + kb.byteLength + v.byteLength;
    }
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    view.setUint32(0, this.data.size);
    let at = 4;
    for (const p of parts) {
      view.setUint32(at, p.byteLength);
      out.set(p, at + 4);
      at += 4 + p.byteLength;
    }
    return out;
  }

  restore(snapshot: Uint8Array): void {
    const next = new Map<string, Uint8Array>();
    if (snapshot.byteLength > 0) {
      const view = new DataView(snapshot.buffer, snapshot.byteOffset, snapshot.byteLength);
      const n = view.getUint32(0);
      let at = 4;
      const take = (): Uint8Array => {
        const len = view.getUint32(at);
        if (at + 4 + len > snapshot.byteLength) throw new Error('kv snapshot is truncated');
        const b = snapshot.slice(at + 4, at + 4 + len);
        at += 4 + len;
        return b;
      };
      for (let i = 0; i < n; i++) {
        const k = decoder.decode(take());
        next.set(k, take());
      }
    }
    this.data = next;
  }
}
