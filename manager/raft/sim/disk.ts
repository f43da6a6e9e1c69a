// One simulated member's stable storage, with the durability semantics of a real disk: a write
// reaches the platter only when fsynced. Writes not yet synced sit in a queue a crash truncates at a
// random point (a write-ahead log keeps a prefix of what was appended), so a crash loses exactly
// what the Ready contract allows it to lose — and nothing that was fsynced.
import {
  NONE,
  type Entry,
  type HardState,
  type PersistedState,
  type Snapshot,
} from '../core/index.js';

export interface DiskWrite {
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly hardState: HardState | null;
}

/** The core handed the storage something its contract forbids (a gap, an entry under the snapshot). */
export class StorageContractError extends Error {
  readonly code = 'storage-contract';
  constructor(message: string) {
    super(message);
    this.name = 'StorageContractError';
  }
}

export class Disk {
  #hardState: HardState = { term: 0, vote: NONE, commit: 0 };
  #snapshot: Snapshot | null = null;
  /** Entries after the snapshot's index, contiguous. */
  #entries: Entry[] = [];
  #unsynced: DiskWrite[] = [];

  get unsyncedWrites(): number {
    return this.#unsynced.length;
  }

  get snapshotIndex(): number {
    return this.#snapshot?.metadata.index ?? 0;
  }

  /** Persists one Ready's writes; with sync they and everything before them become durable. */
  write(w: DiskWrite, sync: boolean): void {
    if (w.snapshot === null && w.entries.length === 0 && w.hardState === null) return;
    this.#unsynced.push(w);
    if (sync) this.fsync();
  }

  fsync(): void {
    for (const w of this.#unsynced) this.#apply(w);
    this.#unsynced = [];
  }

  /** A crash: the first `keep` unsynced writes happened to reach the disk, the rest are lost. */
  crash(keep: number): void {
    for (const w of this.#unsynced.slice(0, keep)) this.#apply(w);
    this.#unsynced = [];
  }

  /** A snapshot the member took of its own state machine: written atomically and durably. */
  saveSnapshot(snap: Snapshot): void {
    this.fsync();
    const index = snap.metadata.index;
    if (index <= this.snapshotIndex) return;
    this.#entries = this.#entries.filter((e) => e.index > index);
    if (this.#entries.length > 0 && this.#entries[0]!.index !== index + 1) {
      throw new StorageContractError(
        `snapshot at ${index} leaves a gap before stored entry ${this.#entries[0]!.index}`,
      );
    }
    this.#snapshot = snap;
  }

  /** What a restart reads back. */
  persisted(): PersistedState {
    return { hardState: this.#hardState, snapshot: this.#snapshot, entries: [...this.#entries] };
  }

  #apply(w: DiskWrite): void {
    if (w.snapshot !== null) {
      // The core discards its whole log when it restores a snapshot; the disk must agree.
      this.#snapshot = w.snapshot;
      this.#entries = [];
    }
    if (w.entries.length > 0) {
      const first = w.entries[0]!.index;
      const base = this.snapshotIndex;
      if (first <= base) {
        throw new StorageContractError(
          `Ready entries start at ${first}, at or below the stored snapshot ${base}`,
        );
      }
      if (first > base + this.#entries.length + 1) {
        throw new StorageContractError(
          `Ready entries start at ${first} but storage ends at ${base + this.#entries.length}`,
        );
      }
      this.#entries.length = first - base - 1;
      for (const e of w.entries) this.#entries.push(e);
    }
    if (w.hardState !== null) this.#hardState = w.hardState;
  }
}
