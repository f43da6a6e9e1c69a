// The in-memory Raft log: entries after the compaction point, which of them are persisted
// (stabled), committed and applied. The application persists what the core hands it; on restart
// it hands it all back, so this is the single source of truth for the core.
import type { Entry } from './types.js';

export const entrySize = (e: Entry): number => e.data.byteLength + 24;

export class RaftLog {
  /** Index and term of the entry just before entries[0] (the compaction point). */
  offset: number;
  offsetTerm: number;
  entries: Entry[];
  /** Last index known to be on stable storage. */
  stabled: number;
  committed: number;
  /** Last index handed to the application (acknowledged by advance()). */
  applied: number;

  constructor(
    offset: number,
    offsetTerm: number,
    entries: readonly Entry[],
    committed: number,
    applied: number,
  ) {
    this.offset = offset;
    this.offsetTerm = offsetTerm;
    this.entries = [...entries];
    for (let i = 0; i < this.entries.length; i++) {
      if (this.entries[i]!.index !== offset + 1 + i) {
        throw new Error(
          `raft log: entry ${i} has index ${this.entries[i]!.index}, expected ${offset + 1 + i}`,
        );
      }
    }
    this.stabled = this.lastIndex();
    this.committed = committed;
    this.applied = Math.max(applied, offset);
    if (committed > this.lastIndex()) {
      throw new Error(`raft log: commit ${committed} is beyond the last index ${this.lastIndex()}`);
    }
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex())!;
  }

  /** Term of the entry at index, or undefined when it was compacted away or doesn't exist. */
  term(index: number): number | undefined {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1]!.term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [lo, hi), at most maxBytes (always at least one). Undefined if lo was compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    if (lo <= this.offset) return undefined;
    const end = Math.min(hi, this.lastIndex() + 1);
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo; i < end; i++) {
      const e = this.entries[i - this.offset - 1]!;
      size += entrySize(e);
      if (out.length > 0 && size > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    if (first <= this.committed) {
      throw new Error(`raft log: overwriting committed entry ${first} (commit ${this.committed})`);
    }
    if (first > this.lastIndex() + 1) {
      throw new Error(`raft log: gap appending ${first} after ${this.lastIndex()}`);
    }
    this.entries.length = first - this.offset - 1;
    for (const e of entries) this.entries.push(e);
    this.stabled = Math.min(this.stabled, first - 1);
  }

  /** Index of the first entry that conflicts with (or is beyond) the log, 0 if all match. */
  findConflict(entries: readonly Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /** The largest index ≤ index whose term is ≤ term (for fast rejection probing). */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    for (; i > this.offset; i--) {
      const t = this.term(i)!;
      if (t <= term) return i;
    }
    return i;
  }

  /** Follower append: returns the last new index, or undefined when (index, logTerm) doesn't match. */
  maybeAppend(
    index: number,
    logTerm: number,
    commit: number,
    entries: readonly Entry[],
  ): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + entries.length;
    const ci = this.findConflict(entries);
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new Error(
          `raft log: entry ${ci} conflicts with committed entry (commit ${this.committed})`,
        );
      }
      this.append(entries.slice(ci - index - 1));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) {
      throw new Error(`raft log: commit ${index} beyond last index ${this.lastIndex()}`);
    }
    this.committed = index;
  }

  unstable(): Entry[] {
    return this.entries.slice(this.stabled - this.offset);
  }

  /** Committed entries not yet handed out, bounded in bytes. */
  nextCommitted(maxBytes: number): Entry[] {
    const lo = Math.max(this.applied, this.offset) + 1;
    if (lo > this.committed) return [];
    return this.slice(lo, this.committed + 1, maxBytes) ?? [];
  }

  /** Replace everything with the state a snapshot describes. */
  restore(index: number, term: number): void {
    this.offset = index;
    this.offsetTerm = term;
    this.entries = [];
    this.stabled = index;
    this.committed = index;
  }

  compact(index: number): void {
    if (index <= this.offset) return;
    if (index > this.applied)
      throw new Error(`raft log: compact ${index} beyond applied ${this.applied}`);
    const term = this.term(index)!;
    this.entries = this.entries.slice(index - this.offset);
    this.offset = index;
    this.offsetTerm = term;
  }
}
