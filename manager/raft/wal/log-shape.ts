// The writer's compact picture of the log it has accepted: snapshot point, last index and the
// term of every index as runs (terms change rarely, so this stays tiny). The WAL needs it to
// refuse gaps at call time and to decide whether a new snapshot matches the log (keep the entries
// after it) or replaces it (discard them), exactly as recovery will replay it.
import type { Entry } from '../core/index.js';

export class LogShape {
  snapIndex = 0;
  snapTerm = 0;
  lastIndex = 0;
  /** Run k covers [starts[k], starts[k+1]) — the last run up to lastIndex — with terms[k]. */
  private starts: number[] = [];
  private terms: number[] = [];

  static from(snapIndex: number, snapTerm: number, entries: readonly Entry[]): LogShape {
    const s = new LogShape();
    s.snapIndex = snapIndex;
    s.snapTerm = snapTerm;
    s.lastIndex = snapIndex;
    if (entries.length > 0) s.append(entries);
    return s;
  }

  termAt(i: number): number | undefined {
    if (i === this.snapIndex) return this.snapTerm;
    if (i < this.snapIndex || i > this.lastIndex) return undefined;
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    return this.terms[lo];
  }

  /** Entries must be contiguous, start in (snapIndex, lastIndex + 1]; the caller checked. */
  append(entries: readonly Entry[]): void {
    const first = entries[0]!.index;
    while (this.starts.length > 0 && this.starts[this.starts.length - 1]! >= first) {
      this.starts.pop();
      this.terms.pop();
    }
    for (const e of entries) {
      if (this.terms.length === 0 || this.terms[this.terms.length - 1] !== e.term) {
        this.starts.push(e.index);
        this.terms.push(e.term);
      }
    }
    this.lastIndex = entries[entries.length - 1]!.index;
  }

  /** Moves the snapshot point to (index, term); the log after it stays only if `keep`. */
  snapshotAt(index: number, term: number, keep: boolean): void {
    if (!keep || index >= this.lastIndex) {
      this.starts = [];
      this.terms = [];
      if (!keep) this.lastIndex = index;
    } else {
      while (this.starts.length > 1 && this.starts[1]! <= index + 1) {
        this.starts.shift();
        this.terms.shift();
      }
      if (this.starts.length > 0 && this.starts[0]! <= index) this.starts[0] = index + 1;
    }
    this.snapIndex = index;
    this.snapTerm = term;
  }
}
