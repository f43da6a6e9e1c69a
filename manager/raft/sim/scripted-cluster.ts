// A cluster driven step by step by a test: messages wait in a bag until the script delivers,
// duplicates or drops them (in any order), members crash and restart from their disks, and the
// invariant checkers watch every step. The free-running, fault-injecting counterpart is
// simulator.ts; this one is for scenarios written by hand (the Raft paper's figures) and for
// property tests whose schedules fast-check generates and shrinks.
import {
  Raft,
  Role,
  memberId,
  type Entry,
  type MemberId,
  type Message,
  type RaftConfig,
} from '../core/index.js';
import { seededRandom } from '../core/testing/network.js';
import { Disk } from './disk.js';
import { InvariantChecker, viewOf } from './invariants.js';
import { KvStateMachine, encodeCommand } from './kv.js';

interface Member {
  readonly id: MemberId;
  raft: Raft | null;
  kv: KvStateMachine;
  readonly disk: Disk;
}

export interface ScriptedClusterOptions {
  /** Defaults here: PreVote and CheckQuorum off, so a script's campaign() is an election at once. */
  readonly config?: Partial<Omit<RaftConfig, 'id'>>;
  readonly seed?: number;
  /** Receives one line per event. */
  readonly log?: (line: string) => void;
}

export class ScriptedCluster {
  readonly checker = new InvariantChecker();
  /** Messages sent and not yet delivered or dropped, in the order they were sent. */
  readonly pending: Message[] = [];
  readonly #members = new Map<MemberId, Member>();
  readonly #config: Partial<Omit<RaftConfig, 'id'>>;
  readonly #random: () => number;
  readonly #log: (line: string) => void;
  #proposals = 0;

  constructor(n: number, opts: ScriptedClusterOptions = {}) {
    this.#config = { preVote: false, checkQuorum: false, ...opts.config };
    this.#random = seededRandom(opts.seed ?? 1);
    this.#log = opts.log ?? (() => undefined);
    const ids = Array.from({ length: n }, (_, i) => memberId(i + 1));
    for (const id of ids) {
      const m: Member = {
        id,
        raft: this.#makeRaft(id, undefined),
        kv: new KvStateMachine(),
        disk: new Disk(),
      };
      m.raft!.bootstrap(ids);
      this.#members.set(id, m);
    }
    this.settle();
  }

  get ids(): MemberId[] {
    return [...this.#members.keys()];
  }

  /** The member's core; throws if it is down. */
  node(id: number): Raft {
    const r = this.#member(id).raft;
    if (r === null) throw new Error(`scripted cluster: member ${id} is down`);
    return r;
  }

  isUp(id: number): boolean {
    return this.#member(id).raft !== null;
  }

  /** The running leader of the highest term, if any. */
  leader(): MemberId | undefined {
    let best: MemberId | undefined;
    let term = -1;
    for (const m of this.#members.values()) {
      const s = m.raft?.status();
      if (s?.role === Role.Leader && s.term > term) {
        best = m.id;
        term = s.term;
      }
    }
    return best;
  }

  /** The applied state machine index of a member. */
  applied(id: number): number {
    return this.#member(id).kv.applied;
  }

  tick(id: number, times = 1): void {
    for (let i = 0; i < times; i++) {
      const r = this.#member(id).raft;
      if (r === null) return;
      r.tick();
      this.#after(id);
    }
  }

  campaign(id: number): void {
    this.node(id).campaign();
    this.#after(id);
  }

  /** Proposes a put on `id`; returns the index it got, or undefined when refused. */
  propose(id: number, key = 'k', value = `v${this.#proposals}`): number | undefined {
    const r = this.#member(id).raft;
    if (r === null) return undefined;
    const out = r.propose(encodeCommand({ op: 'put', id: `p${this.#proposals++}`, key, value }));
    this.#after(id);
    return out.ok ? out.index : undefined;
  }

  /** Lets the member's transport report a peer unreachable (moves it to probing). */
  reportUnreachable(id: number, peer: number): void {
    const r = this.#member(id).raft;
    if (r === null) return;
    r.reportUnreachable(memberId(peer));
    this.#after(id);
  }

  /** Snapshots the member's state machine at its applied index and compacts up to `compactTo`. */
  snapshot(id: number, compactTo?: number): void {
    const m = this.#member(id);
    const r = m.raft;
    if (r === null || m.kv.applied <= m.disk.snapshotIndex) return;
    const snap = r.createSnapshot(m.kv.applied, m.kv.snapshot());
    m.disk.saveSnapshot(snap);
    r.compact(compactTo ?? m.kv.applied);
    this.#after(id);
  }

  /** Crashes the member; of its unsynced writes the first `keepUnsynced` survive. */
  crash(id: number, keepUnsynced = 0): void {
    const m = this.#member(id);
    if (m.raft === null) return;
    m.raft = null;
    m.disk.crash(keepUnsynced);
    this.checker.crashed(m.id);
    this.#log(`m${id} crash`);
  }

  restart(id: number): void {
    const m = this.#member(id);
    if (m.raft !== null) return;
    const raft = this.#makeRaft(m.id, m.disk);
    const snap = m.disk.persisted().snapshot;
    m.kv =
      snap === null ? new KvStateMachine() : KvStateMachine.restore(snap.metadata.index, snap.data);
    m.raft = raft;
    this.#log(`m${id} restart`);
    this.checker.restarted(viewOf(raft), m.kv.applied);
    if (snap !== null) this.checker.stateAt(m.id, m.kv.applied, m.kv.digest());
    this.#after(id);
  }

  /** Delivers the pending message at position `i` (it stays pending when `keep`, i.e. duplicated). */
  deliverAt(i: number, keep = false): void {
    const m = this.pending[i];
    if (m === undefined) return;
    if (!keep) this.pending.splice(i, 1);
    const to = this.#members.get(m.to);
    if (to?.raft == null) return;
    this.#log(
      `deliver ${m.type} ${m.from}->${m.to} t${m.term} i${m.index} n${m.entries.length} c${m.commit}${m.reject ? ' reject' : ''}`,
    );
    to.raft.step(m);
    this.#after(m.to);
  }

  dropAt(i: number): void {
    this.pending.splice(i, 1);
  }

  /** Drops every pending message matching `pred`. */
  dropWhere(pred: (m: Message) => boolean): void {
    for (let i = this.pending.length - 1; i >= 0; i--)
      if (pred(this.pending[i]!)) this.pending.splice(i, 1);
  }

  /**
   * Delivers pending messages matching `pred` (oldest first) and whatever they cause, until none
   * match; others stay pending.
   */
  deliverWhere(pred: (m: Message) => boolean = () => true, maxSteps = 10_000): void {
    for (let n = 0; n < maxSteps; n++) {
      const i = this.pending.findIndex(pred);
      if (i < 0) return;
      this.deliverAt(i);
    }
    throw new Error('scripted cluster: messages keep flowing');
  }

  /** Delivers everything between running members, dropping what goes to crashed ones. */
  stabilize(): void {
    this.deliverWhere((m) => this.isUp(m.to));
    this.dropWhere(() => true);
  }

  /** Processes every member's outstanding Ready cycles (messages go to `pending`). */
  settle(): void {
    for (let again = true; again;) {
      again = false;
      for (const m of this.#members.values()) {
        if (m.raft?.hasReady()) {
          this.#ready(m);
          again = true;
        }
      }
    }
  }

  /** Entries the member has applied to its state machine, from its log (for assertions). */
  logOf(id: number): readonly Entry[] {
    return this.node(id).logEntries();
  }

  #member(id: number): Member {
    const m = this.#members.get(id as MemberId);
    if (m === undefined) throw new Error(`scripted cluster: no member ${id}`);
    return m;
  }

  #makeRaft(id: MemberId, disk: Disk | undefined): Raft {
    const persisted = disk?.persisted();
    return new Raft({
      config: { ...this.#config, id },
      random: this.#random,
      ...(persisted === undefined
        ? {}
        : { persisted, applied: persisted.snapshot?.metadata.index ?? 0 }),
      log: (line) => {
        this.#log(`  core: ${line}`);
      },
    });
  }

  #after(id: number): void {
    const m = this.#member(id);
    if (m.raft !== null) this.checker.observe(viewOf(m.raft));
    this.settle();
  }

  #ready(m: Member): void {
    const r = m.raft!;
    const rd = r.ready();
    m.disk.write(
      { snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState },
      rd.mustSync,
    );
    this.pending.push(...rd.messages);
    if (rd.snapshot !== null) {
      m.kv = KvStateMachine.restore(rd.snapshot.metadata.index, rd.snapshot.data);
      this.checker.snapshotRestored(m.id, m.kv.applied, m.kv.digest());
    }
    for (const e of rd.committedEntries) {
      this.checker.applied(m.id, e);
      m.kv.apply(e);
    }
    if (rd.snapshot !== null || rd.committedEntries.length > 0) {
      this.checker.stateAt(m.id, m.kv.applied, m.kv.digest());
    }
    r.advance();
    this.checker.observe(viewOf(r));
  }
}
