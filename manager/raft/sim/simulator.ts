// A deterministic discrete-event simulator for the pure Raft core: members on a virtual clock, a
// network that drops, delays, reorders and duplicates messages and can be cut (both ways or one
// way), crashes that lose unsynced writes, restarts from durable state, snapshots and compaction,
// membership changes and leadership transfers, and clients running a small KV store on top.
// Everything random comes from one seeded PRNG, so a seed names a run exactly; the invariant
// checkers run after every step, the linearizability and liveness checks at the end.
// docs/raft-simulation.md describes the fault model and how to replay a seed.
import { HistoryRecorder, type OpHandle } from '../../../common/testing/history.js';
import { kvModel, type KvInput, type KvOutput } from '../../../common/testing/kv-model.js';
import { checkOperations } from '../../../common/testing/linearizability.js';
import {
  EntryType,
  MessageType,
  Raft,
  Role,
  decodeConfChange,
  memberId,
  sendableBeforePersist,
  type MemberId,
  type Message,
  type RaftConfig,
} from '../core/index.js';
import { seededRandom } from '../core/testing/network.js';
import { Disk } from './disk.js';
import {
  NemesisAction,
  defaultWeights,
  emptyCoverage,
  type Coverage,
  type FaultProfile,
} from './profile.js';
import { EventQueue } from './event-queue.js';
import { Invariant, InvariantChecker, InvariantViolation, viewOf } from './invariants.js';
import { KvStateMachine, encodeCommand } from './kv.js';
import { describeMessage, describeReady, fingerprint } from './trace.js';

export { NemesisAction, type Coverage, type FaultProfile } from './profile.js';
export { describeMessage } from './trace.js';

export interface SimOptions {
  readonly seed: number;
  /** Initial voters; by default 3 or 5, drawn from the seed. */
  readonly members?: number;
  /** Virtual time with faults; then everything heals and liveness is checked. Default 6000. */
  readonly faultMs?: number;
  /** Overrides of the fault profile drawn from the seed. */
  readonly profile?: Partial<FaultProfile>;
  /** Overrides of the Raft config drawn from the seed. */
  readonly raft?: Partial<Omit<RaftConfig, 'id'>>;
  readonly clients?: number;
  readonly opsPerClient?: number;
  /** After healing, a leader must commit a new entry and every member catch up within this. */
  readonly livenessBoundMs?: number;
  /** Verbose event log (one line per event, plus the core's own diagnostics). */
  readonly log?: (line: string) => void;
  /** Test-only: rewrite every message as it is sent (a lying network, to prove the checkers bite). */
  readonly tamper?: (m: Message) => Message;
  /** Test-only: a disk that acknowledges fsync without syncing (a crash may lose anything). */
  readonly lyingDisk?: boolean;
  /** Test-only: members answer reads from local state at once, skipping ReadIndex. */
  readonly staleReads?: boolean;
}

export interface SimResult {
  readonly seed: number;
  /** Hash of every event of the run: equal for equal seeds. */
  readonly hash: string;
  readonly events: number;
  readonly endMs: number;
  readonly members: number;
  readonly maxTerm: number;
  readonly leaders: number;
  /** How much of each fault and feature the run exercised (tests assert a sweep covers them all). */
  readonly coverage: Coverage;
  /** Virtual time from the end of faults until a new entry committed everywhere. */
  readonly livenessMs: number;
}

export const replayCommand = (seed: number): string =>
  `TUG_SIM_SEED=${seed} npx ava build/manager/raft/sim/sim.test.js`;

export class SimFailure extends Error {
  readonly code = 'sim-failure';
  readonly seed: number;
  readonly invariant: Invariant;
  readonly atMs: number;
  readonly event: number;
  constructor(seed: number, invariant: Invariant, detail: string, atMs: number, event: number) {
    super(
      `seed ${seed}: ${detail}\n  at virtual time ${atMs} ms, event ${event}\n  replay: ${replayCommand(seed)}`,
    );
    this.name = 'SimFailure';
    this.seed = seed;
    this.invariant = invariant;
    this.atMs = atMs;
    this.event = event;
  }
}

/** Runs one seed to the end; throws SimFailure on any violated invariant. */
export const runSimulation = (opts: SimOptions): SimResult => new Simulator(opts).run();

// ---- internals ----------------------------------------------------------------------------------

interface Attempt {
  readonly n: number;
  readonly client: number;
  readonly input: KvInput;
  readonly handle: OpHandle;
  readonly member: MemberId;
  /** Unique id: the command's id for a put, the read context for a get. */
  readonly id: string;
  done: boolean;
}

interface Client {
  readonly id: number;
  opsLeft: number;
  hint: MemberId;
  current: KvInput | null;
  tries: number;
}

interface Proc {
  readonly id: MemberId;
  /** null while crashed. */
  raft: Raft | null;
  /** Bumped at every crash: events addressed to an earlier incarnation are void. */
  inc: number;
  kv: KvStateMachine;
  readonly disk: Disk;
  readonly tickMs: number;
  readyScheduled: boolean;
  /** Armed by the nemesis: crash while persisting the next Ready, or right after an unsynced one. */
  crashAt: 'during-ready' | 'after-unsynced' | null;
  /** Proposals accepted here: index → the term they got and who waits. */
  readonly props: Map<number, { readonly term: number; readonly a: Attempt }>;
  /** Reads waiting for their ReadState, by context. */
  readonly reads: Map<string, Attempt>;
  /** Reads with a read index, waiting for the state machine to reach it. */
  readWaits: { readonly index: number; readonly a: Attempt }[];
}

type Response =
  { readonly out: KvOutput } | { readonly refused: MemberId } | { readonly lost: true };

type SimEvent =
  | { readonly k: 'tick'; readonly id: MemberId; readonly inc: number }
  | { readonly k: 'ready'; readonly id: MemberId; readonly inc: number }
  | { readonly k: 'deliver'; readonly m: Message }
  | {
      readonly k: 'snap-status';
      readonly id: MemberId;
      readonly inc: number;
      readonly to: MemberId;
      readonly ok: boolean;
    }
  | {
      readonly k: 'unreachable';
      readonly id: MemberId;
      readonly inc: number;
      readonly to: MemberId;
    }
  | { readonly k: 'restart'; readonly id: MemberId; readonly inc: number }
  | { readonly k: 'crash'; readonly id: MemberId; readonly inc: number }
  | { readonly k: 'isolate'; readonly id: MemberId; readonly inc: number }
  | { readonly k: 'nemesis' }
  | { readonly k: 'heal' }
  | { readonly k: 'liveness' }
  | { readonly k: 'client'; readonly c: number }
  | { readonly k: 'request'; readonly a: Attempt }
  | { readonly k: 'response'; readonly a: Attempt; readonly r: Response }
  | { readonly k: 'timeout'; readonly a: Attempt };

const MSG_CODE: Readonly<Record<string, number>> = Object.fromEntries(
  Object.values(MessageType).map((t, i) => [t, i + 1]),
);
const KEYS = ['x', 'y', 'z'] as const;
const CLIENT_TIMEOUT_MS = 1500;
const MAX_EVENTS = 3_000_000;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

class Simulator {
  readonly #seed: number;
  readonly #rnd: () => number;
  readonly #queue = new EventQueue<SimEvent>();
  readonly #checker = new InvariantChecker();
  readonly #procs = new Map<MemberId, Proc>();
  readonly #clients: Client[] = [];
  readonly #history: HistoryRecorder<KvInput, KvOutput>;
  readonly #profile: FaultProfile;
  readonly #raftConfig: Partial<Omit<RaftConfig, 'id'>>;
  readonly #faultMs: number;
  readonly #livenessBoundMs: number;
  readonly #log: ((line: string) => void) | undefined;
  readonly #tamper: ((m: Message) => Message) | undefined;
  readonly #lyingDisk: boolean;
  readonly #staleReads: boolean;

  #now = 0;
  #events = 0;
  #h1 = 0x811c9dc5;
  #h2 = 0x01000193;
  #nextId = 1;
  #attempts = 0;
  /** Directed links that are cut: from * 4096 + to. */
  readonly #cut = new Set<number>();
  #dropRate: number;
  #dupRate: number;
  #slowRate: number;
  /** Members whose removal some member applied: clients stop using them, liveness ignores them. */
  readonly #removed = new Set<MemberId>();
  #faultsOver = false;
  #healedAt = 0;
  #livenessDeadline = Infinity;
  #probe: { id: string; leader: MemberId; term: number; at: number } | null = null;
  #probeIndex = 0;
  #livenessMs = -1;
  #endAt = Infinity;
  #probes = 0;
  readonly #cov = emptyCoverage();
  /** Indexes of applied conf changes (each counted once however many members apply it). */
  readonly #confIndexes = new Set<number>();

  constructor(opts: SimOptions) {
    if (!Number.isSafeInteger(opts.seed)) throw new RangeError(`sim: bad seed ${opts.seed}`);
    this.#seed = opts.seed;
    this.#rnd = seededRandom(opts.seed);
    this.#log = opts.log;
    this.#tamper = opts.tamper;
    this.#lyingDisk = opts.lyingDisk ?? false;
    this.#staleReads = opts.staleReads ?? false;
    this.#history = new HistoryRecorder({ now: () => this.#now });
    // Draw the seed's shape first, overrides or not, so overriding one knob leaves the rest alike.
    const members = this.#pick([3, 5]);
    const drawn: FaultProfile = {
      dropRate: this.#pick([0, 0, 0.01, 0.05, 0.1, 0.25]),
      duplicateRate: this.#pick([0, 0, 0.02, 0.1]),
      slowRate: this.#pick([0, 0.02, 0.1]),
      maxLatencyMs: this.#pick([2, 10, 30, 80]),
      nemesisGapMs: this.#pick([150, 300, 600, 1200]),
      weights: Object.fromEntries(
        Object.entries(defaultWeights).map(([a, w]) => [a, w * this.#pick([0, 1, 1, 3])]),
      ) as Record<NemesisAction, number>,
      snapshotEvery: this.#pick([0, 4, 12, 40]),
      maxDownMs: this.#pick([300, 1000, 3000]),
      newLeaderFaultRate: this.#pick([0, 0.1, 0.3, 0.6]),
    };
    const drawnRaft: Partial<Omit<RaftConfig, 'id'>> = {
      electionTick: this.#pick([5, 10]),
      heartbeatTick: 1,
      preVote: this.#rnd() < 0.8,
      checkQuorum: this.#rnd() < 0.8,
      maxInflightMsgs: this.#pick([1, 4, 256]),
      maxSizePerMsg: this.#pick([1, 1 << 20]),
    };
    this.#profile = { ...drawn, ...opts.profile };
    this.#raftConfig = { ...drawnRaft, ...opts.raft };
    this.#faultMs = opts.faultMs ?? 6000;
    this.#livenessBoundMs = opts.livenessBoundMs ?? 30_000;
    this.#dropRate = this.#profile.dropRate;
    this.#dupRate = this.#profile.duplicateRate;
    this.#slowRate = this.#profile.slowRate;

    const n = opts.members ?? members;
    if (!Number.isSafeInteger(n) || n < 1 || n > 100) {
      throw new RangeError(`sim: members must be an integer in 1..100, got ${n}`);
    }
    if (!(this.#faultMs >= 0) || !(this.#livenessBoundMs > 0)) {
      throw new RangeError(
        `sim: faultMs must be ≥ 0 and livenessBoundMs > 0, got ${this.#faultMs} and ${this.#livenessBoundMs}`,
      );
    }
    const ids = Array.from({ length: n }, () => memberId(this.#nextId++));
    for (const id of ids) {
      const p = this.#newProc(id);
      p.raft!.bootstrap(ids);
    }
    const clients = opts.clients ?? 4;
    const ops = opts.opsPerClient ?? 12;
    for (let c = 0; c < clients; c++) {
      this.#clients.push({ id: c + 1, opsLeft: ops, hint: 0 as MemberId, current: null, tries: 0 });
      this.#queue.push(50 + this.#int(300), { k: 'client', c });
    }
    this.#queue.push(this.#gap(), { k: 'nemesis' });
    this.#queue.push(this.#faultMs, { k: 'heal' });
    this.#emit(
      () =>
        `seed ${this.#seed}: ${n} members, profile ${JSON.stringify(this.#profile)}, raft ${JSON.stringify(this.#raftConfig)}`,
    );
  }

  run(): SimResult {
    for (;;) {
      const next = this.#queue.pop();
      if (next === undefined || next.time > this.#endAt) break;
      this.#now = next.time;
      this.#events++;
      if (this.#events > MAX_EVENTS) this.#fail(Invariant.Liveness, 'runaway: too many events');
      try {
        this.#dispatch(next.event);
      } catch (e) {
        if (e instanceof SimFailure) throw e;
        if (e instanceof InvariantViolation) this.#fail(e.invariant, e.message);
        const err = e instanceof Error ? e : new Error(String(e));
        this.#fail(
          Invariant.CoreAssertion,
          `${err.message}\n${(err.stack ?? '').split('\n').slice(1, 6).join('\n')}`,
        );
      }
    }
    if (this.#livenessMs < 0) this.#fail(Invariant.Liveness, 'the run ended before converging');
    this.#finalChecks();
    let maxTerm = 0;
    for (const p of this.#procs.values()) maxTerm = Math.max(maxTerm, p.raft?.status().term ?? 0);
    return {
      seed: this.#seed,
      hash:
        (this.#h1 >>> 0).toString(16).padStart(8, '0') +
        (this.#h2 >>> 0).toString(16).padStart(8, '0'),
      events: this.#events,
      endMs: this.#now,
      members: this.#procs.size,
      maxTerm,
      leaders: this.#checker.leaderOfTerm.size,
      coverage: { ...this.#cov, confChangesApplied: this.#confIndexes.size },
      livenessMs: this.#livenessMs,
    };
  }

  // ---- randomness and bookkeeping ---------------------------------------------------------------

  #int(n: number): number {
    return Math.floor(this.#rnd() * n);
  }

  #pick<T>(xs: readonly T[]): T {
    return xs[this.#int(xs.length)]!;
  }

  #gap(): number {
    return Math.max(1, Math.round(this.#profile.nemesisGapMs * (0.2 + 1.6 * this.#rnd())));
  }

  #latency(): number {
    if (this.#rnd() < this.#slowRate) return 100 + this.#int(900);
    return 1 + this.#int(this.#profile.maxLatencyMs);
  }

  #mix(...ns: number[]): void {
    for (const n of ns) {
      this.#h1 = Math.imul(this.#h1 ^ (n | 0), 0x01000193);
      this.#h2 = Math.imul(this.#h2 ^ (n | 0), 0x5bd1e995) ^ (this.#h2 >>> 13);
    }
  }

  #emit(line: () => string): void {
    if (this.#log !== undefined) this.#log(`${String(this.#now).padStart(6)} ${line()}`);
  }

  #fail(invariant: Invariant, detail: string): never {
    throw new SimFailure(this.#seed, invariant, detail, this.#now, this.#events);
  }

  #newProc(id: MemberId): Proc {
    const p: Proc = {
      id,
      raft: null,
      inc: 0,
      kv: new KvStateMachine(),
      disk: new Disk(),
      tickMs: 97 + this.#int(7),
      readyScheduled: false,
      crashAt: null,
      props: new Map(),
      reads: new Map(),
      readWaits: [],
    };
    p.raft = this.#makeRaft(id, undefined);
    this.#procs.set(id, p);
    this.#queue.push(this.#now + 1 + this.#int(p.tickMs), { k: 'tick', id, inc: p.inc });
    this.#touched(p);
    return p;
  }

  #makeRaft(id: MemberId, p: Proc | undefined): Raft {
    const log = this.#log;
    const persisted = p?.disk.persisted();
    return new Raft({
      config: { ...this.#raftConfig, id },
      random: this.#rnd,
      ...(persisted === undefined
        ? {}
        : { persisted, applied: persisted.snapshot?.metadata.index ?? 0 }),
      ...(log === undefined
        ? {}
        : {
            log: (line: string) => {
              this.#emit(() => `  core: ${line}`);
            },
          }),
    });
  }

  /** After anything that may have changed a member: check it, and plan its next Ready. */
  #touched(p: Proc): void {
    const r = p.raft;
    if (r === null) return;
    this.#checker.observe(viewOf(r));
    if (!p.readyScheduled) {
      p.readyScheduled = true;
      this.#queue.push(this.#now + this.#int(3), { k: 'ready', id: p.id, inc: p.inc });
    }
  }

  #live(ev: { readonly id: MemberId; readonly inc: number }): (Proc & { raft: Raft }) | undefined {
    const p = this.#procs.get(ev.id);
    if (p === undefined || p.inc !== ev.inc || p.raft === null) return undefined;
    return p as Proc & { raft: Raft };
  }

  #leader(): (Proc & { raft: Raft }) | undefined {
    let best: (Proc & { raft: Raft }) | undefined;
    let bestTerm = -1;
    for (const p of this.#procs.values()) {
      if (p.raft === null) continue;
      const s = p.raft.status();
      if (s.role === Role.Leader && s.term > bestTerm) {
        best = p as Proc & { raft: Raft };
        bestTerm = s.term;
      }
    }
    return best;
  }

  // ---- events -----------------------------------------------------------------------------------

  #dispatch(ev: SimEvent): void {
    switch (ev.k) {
      case 'tick': {
        const p = this.#live(ev);
        if (p === undefined) return;
        this.#mix(1, this.#now, p.id);
        p.raft.tick();
        this.#touched(p);
        this.#queue.push(this.#now + p.tickMs, { k: 'tick', id: p.id, inc: p.inc });
        return;
      }
      case 'ready': {
        const p = this.#live(ev);
        if (p === undefined) return;
        p.readyScheduled = false;
        this.#handleReady(p);
        return;
      }
      case 'deliver':
        this.#deliver(ev.m);
        return;
      case 'snap-status': {
        const p = this.#live(ev);
        if (p === undefined) return;
        this.#mix(3, this.#now, p.id, ev.to, ev.ok ? 1 : 0);
        this.#emit(() => `m${p.id} snapshot to m${ev.to} ${ev.ok ? 'delivered' : 'failed'}`);
        p.raft.reportSnapshot(ev.to, ev.ok);
        this.#touched(p);
        return;
      }
      case 'unreachable': {
        const p = this.#live(ev);
        if (p === undefined) return;
        this.#mix(4, this.#now, p.id, ev.to);
        p.raft.reportUnreachable(ev.to);
        this.#touched(p);
        return;
      }
      case 'crash': {
        const p = this.#live(ev);
        if (p === undefined || this.#faultsOver) return;
        this.#emit(() => `nemesis: crash m${p.id}, a new leader`);
        this.#crash(p);
        return;
      }
      case 'isolate': {
        const p = this.#live(ev);
        if (p === undefined || this.#faultsOver) return;
        this.#isolate(p.id);
        return;
      }
      case 'restart': {
        const p = this.#procs.get(ev.id);
        if (p === undefined || p.inc !== ev.inc || p.raft !== null) return;
        this.#restart(p);
        return;
      }
      case 'nemesis':
        if (this.#faultsOver) return;
        this.#nemesis();
        this.#queue.push(this.#now + this.#gap(), { k: 'nemesis' });
        return;
      case 'heal':
        this.#healAll();
        return;
      case 'liveness':
        this.#checkLiveness();
        return;
      case 'client':
        this.#clientNext(this.#clients[ev.c]!);
        return;
      case 'request':
        this.#request(ev.a);
        return;
      case 'response':
        this.#response(ev.a, ev.r);
        return;
      case 'timeout':
        if (!ev.a.done) this.#response(ev.a, { lost: true });
        return;
    }
  }

  #handleReady(p: Proc & { raft: Raft }): void {
    const r = p.raft;
    if (!r.hasReady()) return;
    const rd = r.ready();
    this.#mix(
      2,
      this.#now,
      p.id,
      rd.entries.length,
      rd.messages.length,
      rd.committedEntries.length,
      rd.hardState?.term ?? -1,
      rd.hardState?.commit ?? -1,
      rd.snapshot?.metadata.index ?? -1,
      rd.mustSync ? 1 : 0,
    );
    this.#emit(() => `m${p.id} ready ${describeReady(rd)}`);
    if (
      rd.softState?.role === Role.Leader &&
      !this.#faultsOver &&
      this.#rnd() < this.#profile.newLeaderFaultRate
    ) {
      this.#queue.push(this.#now + this.#int(60), {
        k: this.#rnd() < 0.5 ? 'crash' : 'isolate',
        id: p.id,
        inc: p.inc,
      });
    }
    // A leader's appends leave before its write (the driver's fast path), so a crash while
    // persisting may lose entries its followers already have.
    for (const m of rd.messages) if (sendableBeforePersist(m)) this.#send(m);
    if (p.crashAt === 'during-ready') {
      // Killed while persisting: none of this Ready reached the disk; only the early messages left.
      this.#emit(() => `m${p.id} CRASH while persisting that ready`);
      this.#cov.crashesDuringReady++;
      this.#crash(p);
      return;
    }
    p.disk.write(
      { snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState },
      rd.mustSync && !this.#lyingDisk,
    );
    for (const m of rd.messages) if (!sendableBeforePersist(m)) this.#send(m);
    if (rd.snapshot !== null) {
      const index = rd.snapshot.metadata.index;
      p.kv = KvStateMachine.restore(index, rd.snapshot.data);
      this.#cov.snapshotsRestored++;
      this.#checker.snapshotRestored(p.id, index, p.kv.digest());
      for (const c of rd.snapshot.metadata.conf.removed) this.#removed.add(c);
      // Whether a proposal made it into the snapshot is not known here.
      for (const [i, w] of p.props) {
        if (i <= index) {
          p.props.delete(i);
          this.#reply(w.a, { lost: true });
        }
      }
    }
    for (const e of rd.committedEntries) {
      this.#checker.applied(p.id, e);
      const cmd = p.kv.apply(e);
      if (e.type === EntryType.ConfChange) {
        if (e.term > 1) this.#confIndexes.add(e.index);
        const cc = decodeConfChange(e.data);
        if (cc.type === 'remove') this.#removed.add(cc.member);
      }
      if (cmd?.op === 'probe' && this.#probeIndex === 0) {
        this.#probeIndex = e.index;
        this.#emit(() => `liveness probe committed at ${e.index}`);
      }
      const w = p.props.get(e.index);
      if (w !== undefined) {
        p.props.delete(e.index);
        // A different entry applied at our index: ours is certainly not committed (the checkers
        // guarantee no member applies another entry there), so the put had no effect.
        this.#reply(w.a, cmd?.id === w.a.id ? { out: {} } : { refused: 0 as MemberId });
      }
    }
    if (rd.snapshot !== null || rd.committedEntries.length > 0) {
      this.#checker.stateAt(p.id, p.kv.applied, p.kv.digest());
    }
    for (const rs of rd.readStates) {
      const key = decoder.decode(rs.context);
      const a = p.reads.get(key);
      if (a === undefined) continue;
      p.reads.delete(key);
      p.readWaits.push({ index: rs.index, a });
    }
    if (p.readWaits.length > 0) {
      const still: Proc['readWaits'] = [];
      for (const w of p.readWaits) {
        if (w.index <= p.kv.applied) this.#reply(w.a, { out: { value: p.kv.get(w.a.input.key) } });
        else still.push(w);
      }
      p.readWaits = still;
    }
    r.advance();
    if (p.crashAt === 'after-unsynced' && !rd.mustSync && p.disk.unsyncedWrites > 0) {
      this.#emit(() => `m${p.id} CRASH before the unsynced writes of that ready reached the disk`);
      this.#crash(p);
      return;
    }
    if (
      this.#profile.snapshotEvery > 0 &&
      p.kv.applied - p.disk.snapshotIndex >= this.#profile.snapshotEvery
    ) {
      this.#snapshot(p);
    }
    this.#touched(p);
  }

  #snapshot(p: Proc & { raft: Raft }): void {
    const applied = p.kv.applied;
    const s = p.raft.status();
    if (s.applied !== applied) {
      throw new Error(`sim: member ${p.id} state machine at ${applied}, core says ${s.applied}`);
    }
    if (applied <= p.disk.snapshotIndex) return;
    const snap = p.raft.createSnapshot(applied, p.kv.snapshot());
    p.disk.saveSnapshot(snap);
    // Keep a few entries behind the snapshot now and then, as a driver would for slow followers.
    const to = Math.max(s.firstIndex - 1, applied - this.#int(4));
    p.raft.compact(to);
    this.#cov.snapshotsTaken++;
    this.#mix(5, this.#now, p.id, applied, to);
    this.#emit(() => `m${p.id} snapshot at ${applied}, compacted to ${to}`);
    this.#touched(p);
  }

  // ---- network ----------------------------------------------------------------------------------

  #isCut(from: MemberId, to: MemberId): boolean {
    return this.#cut.has(from * 4096 + to);
  }

  #send(original: Message): void {
    const m = this.#tamper === undefined ? original : this.#tamper(original);
    this.#cov.messagesSent++;
    const code = MSG_CODE[m.type] ?? 0;
    this.#mix(
      6,
      this.#now,
      code,
      m.from,
      m.to,
      m.term,
      m.index,
      m.logTerm,
      m.commit,
      m.entries.length,
      m.reject ? 1 : 0,
    );
    if (this.#isCut(m.from, m.to)) {
      this.#emit(() => `net cut ${describeMessage(m)}`);
      // The transport notices a dead connection now and then and says so.
      if (this.#rnd() < 0.3) {
        this.#queue.push(this.#now + this.#latency(), {
          k: 'unreachable',
          id: m.from,
          inc: this.#procs.get(m.from)!.inc,
          to: m.to,
        });
      }
      this.#snapStatus(m, false);
      return;
    }
    if (this.#rnd() < this.#dropRate) {
      this.#cov.messagesDropped++;
      this.#emit(() => `net drop ${describeMessage(m)}`);
      this.#snapStatus(m, false);
      return;
    }
    this.#queue.push(this.#now + this.#latency(), { k: 'deliver', m });
    if (this.#rnd() < this.#dupRate) {
      this.#cov.messagesDuplicated++;
      this.#queue.push(this.#now + this.#latency(), { k: 'deliver', m });
    }
  }

  /** The transport tells the sender whether a snapshot got through (etcd's ReportSnapshot). */
  #snapStatus(m: Message, ok: boolean): void {
    if (m.type !== MessageType.Snap) return;
    const sender = this.#procs.get(m.from);
    if (sender === undefined) return;
    this.#queue.push(this.#now + this.#latency(), {
      k: 'snap-status',
      id: m.from,
      inc: sender.inc,
      to: m.to,
      ok,
    });
  }

  #deliver(m: Message): void {
    const p = this.#procs.get(m.to);
    this.#mix(7, this.#now, MSG_CODE[m.type] ?? 0, m.from, m.to, m.term, m.index);
    if (p?.raft == null || this.#isCut(m.from, m.to)) {
      this.#emit(
        () => `net lost ${describeMessage(m)}${p?.raft == null ? ' (member down)' : ' (cut)'}`,
      );
      this.#snapStatus(m, false);
      return;
    }
    this.#emit(() => `m${m.to} recv ${describeMessage(m)}`);
    const r = p.raft;
    const fromRemoved = r.confState().removed.includes(m.from);
    const before = fromRemoved ? fingerprint(r) : '';
    if (fromRemoved) this.#cov.removedMessagesIgnored++;
    if (m.type === MessageType.Snap) this.#cov.snapshotsSent++;
    r.step(m);
    if (fromRemoved && fingerprint(r) !== before) {
      this.#fail(
        Invariant.RemovedMemberQuiet,
        `member ${m.to} knows ${m.from} was removed, yet ${describeMessage(m)} changed it from ${before} to ${fingerprint(r)}`,
      );
    }
    this.#snapStatus(m, true);
    this.#touched(p);
  }

  // ---- crashes ----------------------------------------------------------------------------------

  #crash(p: Proc): void {
    if (p.raft === null) return;
    p.raft = null;
    p.inc++;
    p.readyScheduled = false;
    p.crashAt = null;
    const keep = this.#int(p.disk.unsyncedWrites + 1);
    const lost = p.disk.unsyncedWrites - keep;
    p.disk.crash(keep);
    this.#cov.crashes++;
    this.#cov.unsyncedWritesLost += lost;
    this.#mix(8, this.#now, p.id, keep);
    this.#emit(() => `m${p.id} CRASH (kept ${keep} unsynced writes)`);
    this.#checker.crashed(p.id);
    for (const w of p.props.values()) this.#reply(w.a, { lost: true });
    for (const a of p.reads.values()) this.#reply(a, { lost: true });
    for (const w of p.readWaits) this.#reply(w.a, { lost: true });
    p.props.clear();
    p.reads.clear();
    p.readWaits = [];
    if (!this.#faultsOver) {
      this.#queue.push(this.#now + 50 + this.#int(this.#profile.maxDownMs), {
        k: 'restart',
        id: p.id,
        inc: p.inc,
      });
    }
  }

  #restart(p: Proc): void {
    const raft = this.#makeRaft(p.id, p);
    const snap = p.disk.persisted().snapshot;
    p.kv =
      snap === null ? new KvStateMachine() : KvStateMachine.restore(snap.metadata.index, snap.data);
    p.raft = raft;
    this.#mix(9, this.#now, p.id);
    this.#emit(() => {
      const s = raft.status();
      return `m${p.id} RESTART term ${s.term} vote ${s.vote} commit ${s.commit} log ${s.firstIndex}..${s.lastIndex}`;
    });
    this.#checker.restarted(viewOf(raft), p.kv.applied);
    if (snap !== null) this.#checker.stateAt(p.id, p.kv.applied, p.kv.digest());
    this.#queue.push(this.#now + 1 + this.#int(p.tickMs), { k: 'tick', id: p.id, inc: p.inc });
    this.#touched(p);
  }

  // ---- the nemesis ------------------------------------------------------------------------------

  #nemesis(): void {
    const weights = this.#profile.weights;
    const total = Object.values(weights).reduce((a, b) => a + b, 0);
    if (total <= 0) return;
    let x = this.#rnd() * total;
    let action: NemesisAction = NemesisAction.Heal;
    for (const [a, w] of Object.entries(weights) as [NemesisAction, number][]) {
      x -= w;
      if (x < 0) {
        action = a;
        break;
      }
    }
    this.#mix(10, this.#now, Object.keys(weights).indexOf(action));
    const running = [...this.#procs.values()].filter((p) => p.raft !== null);
    const leader = this.#leader();
    switch (action) {
      case NemesisAction.Partition:
        this.#partition();
        return;
      case NemesisAction.Heal:
        this.#cut.clear();
        this.#emit(() => 'nemesis: heal all links');
        return;
      case NemesisAction.Crash: {
        const p =
          leader !== undefined && this.#rnd() < 0.5 ? leader : running[this.#int(running.length)];
        if (p !== undefined) this.#crash(p);
        return;
      }
      case NemesisAction.CrashDuringReady:
      case NemesisAction.CrashAfterUnsynced: {
        const p = running[this.#int(running.length)];
        if (p === undefined) return;
        p.crashAt = action === NemesisAction.CrashDuringReady ? 'during-ready' : 'after-unsynced';
        this.#emit(() => `nemesis: m${p.id} will crash ${p.crashAt}`);
        return;
      }
      case NemesisAction.Network:
        this.#dropRate = this.#pick([0, 0.01, 0.05, 0.2, 0.4]);
        this.#dupRate = this.#pick([0, 0.02, 0.1]);
        this.#slowRate = this.#pick([0, 0.02, 0.1]);
        this.#emit(
          () =>
            `nemesis: network drop ${this.#dropRate} dup ${this.#dupRate} slow ${this.#slowRate}`,
        );
        return;
      case NemesisAction.Snapshot: {
        const p = running[this.#int(running.length)];
        if (p !== undefined) this.#snapshot(p as Proc & { raft: Raft });
        return;
      }
      case NemesisAction.AddLearner: {
        if (leader === undefined) return;
        const conf = leader.raft.status().conf;
        if (conf.voters.length + conf.learners.length >= 7) return;
        const id = memberId(this.#nextId++);
        this.#newProc(id);
        this.#confChange(leader, { type: 'add-learner', member: id, context: '' });
        return;
      }
      case NemesisAction.Promote: {
        if (leader === undefined) return;
        const s = leader.raft.status();
        const ready = s.conf.learners.filter((l) => (s.progress.get(l)?.match ?? 0) >= s.commit);
        if (ready.length === 0) return;
        this.#confChange(leader, { type: 'promote', member: this.#pick(ready), context: '' });
        return;
      }
      case NemesisAction.Remove: {
        if (leader === undefined) return;
        const conf = leader.raft.status().conf;
        const candidates = [...(conf.voters.length > 3 ? conf.voters : []), ...conf.learners];
        if (candidates.length === 0) return;
        this.#confChange(leader, { type: 'remove', member: this.#pick(candidates), context: '' });
        return;
      }
      case NemesisAction.Transfer: {
        if (leader === undefined) return;
        const voters = leader.raft.status().conf.voters.filter((v) => v !== leader.id);
        if (voters.length === 0) return;
        const to = this.#pick(voters);
        const out = leader.raft.transferLeadership(to);
        if (out.ok) this.#cov.transfersStarted++;
        this.#emit(
          () => `nemesis: transfer leadership m${leader.id} -> m${to}: ${JSON.stringify(out)}`,
        );
        this.#touched(leader);
        return;
      }
    }
  }

  #confChange(
    leader: Proc & { raft: Raft },
    cc: { type: 'add-learner' | 'promote' | 'remove'; member: MemberId; context: string },
  ): void {
    const out = leader.raft.proposeConfChange(cc);
    this.#emit(
      () => `nemesis: m${leader.id} proposes ${cc.type} m${cc.member}: ${JSON.stringify(out)}`,
    );
    this.#touched(leader);
  }

  #partition(): void {
    this.#cov.partitions++;
    this.#cut.clear();
    const ids = [...this.#procs.keys()];
    const cutBoth = (a: MemberId, b: MemberId): void => {
      this.#cut.add(a * 4096 + b);
      this.#cut.add(b * 4096 + a);
    };
    const kind = this.#int(5);
    // Half the time the partition is drawn around the leader: cutting it off is what deposes it
    // while it still believes it leads (stale reads, stale appends, competing leaders).
    const leader = this.#leader();
    const x = leader !== undefined && this.#rnd() < 0.5 ? leader.id : this.#pick(ids);
    switch (kind) {
      case 0: // isolate one member
        for (const y of ids) if (y !== x) cutBoth(x, y);
        break;
      case 1: {
        // two sides
        const side = new Set(ids.filter(() => this.#rnd() < 0.5));
        for (const a of ids) for (const b of ids) if (side.has(a) && !side.has(b)) cutBoth(a, b);
        break;
      }
      case 2: // one way: x hears everyone but nobody hears x (or the reverse)
        for (const y of ids) {
          if (y === x) continue;
          if (this.#rnd() < 0.5) this.#cut.add(x * 4096 + y);
          else this.#cut.add(y * 4096 + x);
        }
        break;
      case 3: // random directed links
        for (const a of ids) {
          for (const b of ids) if (a !== b && this.#rnd() < 0.3) this.#cut.add(a * 4096 + b);
        }
        break;
      case 4: {
        // a bridge: x reaches both sides, the sides don't reach each other
        const side = new Set(ids.filter((y) => y !== x && this.#rnd() < 0.5));
        for (const a of ids) {
          for (const b of ids) {
            if (a !== x && b !== x && side.has(a) && !side.has(b)) cutBoth(a, b);
          }
        }
        break;
      }
    }
    this.#emit(
      () =>
        `nemesis: partition kind ${kind} around m${x}: cut ${[...this.#cut].map((k) => `${Math.floor(k / 4096)}->${k % 4096}`).join(' ')}`,
    );
  }

  /** Cuts every link to and from `id` (replacing any earlier cut). */
  #isolate(id: MemberId): void {
    this.#cov.partitions++;
    this.#cut.clear();
    for (const y of this.#procs.keys()) {
      if (y === id) continue;
      this.#cut.add(id * 4096 + y);
      this.#cut.add(y * 4096 + id);
    }
    this.#mix(16, this.#now, id);
    this.#emit(() => `nemesis: isolate m${id}, a new leader`);
  }

  #healAll(): void {
    this.#faultsOver = true;
    this.#healedAt = this.#now;
    this.#livenessDeadline = this.#now + this.#livenessBoundMs;
    this.#cut.clear();
    this.#dropRate = 0;
    this.#dupRate = 0;
    this.#slowRate = 0;
    this.#mix(11, this.#now);
    this.#emit(() => 'faults end: heal every link, restart every crashed member');
    for (const p of this.#procs.values()) {
      p.crashAt = null;
      if (p.raft === null) this.#restart(p);
    }
    this.#queue.push(this.#now + 1, { k: 'liveness' });
  }

  #checkLiveness(): void {
    if (this.#livenessMs >= 0) return;
    if (this.#now > this.#livenessDeadline) {
      const states = [...this.#procs.values()].map((p) => {
        if (p.raft === null) return `m${p.id} down`;
        const s = p.raft.status();
        return `m${p.id} ${s.role} term ${s.term} leader ${s.leader} commit ${s.commit} applied ${s.applied} log ${s.firstIndex}..${s.lastIndex} voters ${s.conf.voters.join(',')} learners ${s.conf.learners.join(',')}${this.#removed.has(p.id) ? ' (removed)' : ''}`;
      });
      this.#fail(
        Invariant.Liveness,
        `no convergence ${this.#livenessBoundMs} ms after the faults ended (probe ${this.#probeIndex === 0 ? 'not committed' : `committed at ${this.#probeIndex}`}):\n    ${states.join('\n    ')}`,
      );
    }
    this.#queue.push(this.#now + 50, { k: 'liveness' });
    const leader = this.#leader();
    if (leader === undefined) return;
    const s = leader.raft.status();
    if (this.#probeIndex === 0) {
      const pr = this.#probe;
      if (
        pr === null ||
        pr.leader !== leader.id ||
        pr.term !== s.term ||
        this.#now - pr.at > 2000
      ) {
        const id = `probe-${this.#probes++}`;
        const out = leader.raft.propose(encodeCommand({ op: 'probe', id }));
        this.#emit(() => `liveness: propose ${id} at m${leader.id}: ${JSON.stringify(out)}`);
        if (out.ok) this.#probe = { id, leader: leader.id, term: s.term, at: this.#now };
        this.#touched(leader);
      }
      return;
    }
    // Every running member of the configuration must have caught up with the probe.
    for (const id of [...s.conf.voters, ...s.conf.learners]) {
      const p = this.#procs.get(id);
      if (p?.raft == null || p.kv.applied < this.#probeIndex) return;
    }
    this.#livenessMs = this.#now - this.#healedAt;
    this.#endAt = this.#now + 500;
    this.#emit(() => `liveness: converged ${this.#livenessMs} ms after the faults ended`);
  }

  // ---- clients ----------------------------------------------------------------------------------

  #clientNext(c: Client): void {
    if (c.current === null) {
      if (c.opsLeft === 0 || this.#livenessMs >= 0) return;
      c.opsLeft--;
      c.tries = 0;
      const key = this.#pick(KEYS);
      c.current =
        this.#rnd() < 0.5 ? { op: 'put', key, value: `c${c.id}.${c.opsLeft}` } : { op: 'get', key };
    }
    const targets = [...this.#procs.values()].filter(
      (p) => p.raft !== null && !this.#removed.has(p.id),
    );
    let target: MemberId | undefined;
    if (c.hint !== 0 && this.#rnd() < 0.8) target = c.hint;
    else target = targets[this.#int(targets.length)]?.id;
    if (target === undefined) {
      this.#queue.push(this.#now + 50, { k: 'client', c: c.id - 1 });
      return;
    }
    const input = c.current;
    const a: Attempt = {
      n: this.#attempts++,
      client: c.id,
      input,
      handle: this.#history.invoke(c.id, input),
      member: target,
      id: `a${this.#attempts}`,
      done: false,
    };
    this.#mix(12, this.#now, a.n, c.id, target, input.op === 'put' ? 1 : 0);
    this.#emit(() => `client ${c.id} ${a.id} ${JSON.stringify(input)} -> m${target}`);
    this.#queue.push(this.#now + this.#int(5), { k: 'request', a });
    this.#queue.push(this.#now + CLIENT_TIMEOUT_MS, { k: 'timeout', a });
  }

  #request(a: Attempt): void {
    const p = this.#procs.get(a.member);
    if (p?.raft == null) {
      // Connection refused: the request never reached a member.
      this.#reply(a, { refused: 0 as MemberId });
      return;
    }
    const r = p.raft;
    if (a.input.op === 'put') {
      const out = r.propose(
        encodeCommand({ op: 'put', id: a.id, key: a.input.key, value: a.input.value }),
      );
      this.#mix(13, this.#now, a.n, out.ok ? out.index : -1);
      if (!out.ok) {
        this.#reply(a, { refused: out.leader });
      } else {
        const prior = p.props.get(out.index);
        // Another proposal of ours held this index: it was truncated from this log; whether it
        // committed elsewhere this member cannot say.
        if (prior !== undefined) this.#reply(prior.a, { lost: true });
        p.props.set(out.index, { term: out.term, a });
      }
    } else if (this.#staleReads) {
      this.#reply(a, { out: { value: p.kv.get(a.input.key) } });
    } else {
      const out = r.readIndex(encoder.encode(a.id));
      this.#mix(14, this.#now, a.n, out.ok ? 1 : 0);
      if (!out.ok) this.#reply(a, { refused: out.leader });
      else p.reads.set(a.id, a);
    }
    this.#touched(p);
  }

  #reply(a: Attempt, r: Response): void {
    this.#queue.push(this.#now + this.#int(5), { k: 'response', a, r });
  }

  #response(a: Attempt, r: Response): void {
    if (a.done) return;
    a.done = true;
    const c = this.#clients[a.client - 1]!;
    this.#mix(15, this.#now, a.n, 'out' in r ? 1 : 'refused' in r ? 2 : 3);
    this.#emit(() => `client ${c.id} ${a.id} <- ${JSON.stringify(r)}`);
    if ('out' in r) {
      this.#history.ok(a.handle, r.out);
      if (a.input.op === 'put') this.#cov.putsAcknowledged++;
      else this.#cov.readsServed++;
      c.hint = a.member;
    } else if ('refused' in r) {
      this.#history.discard(a.handle);
      this.#cov.opsRefused++;
      c.hint = r.refused;
      if (++c.tries < 8) {
        this.#queue.push(this.#now + 10 + this.#int(50), { k: 'client', c: c.id - 1 });
        return;
      }
    } else {
      this.#history.unknown(a.handle);
      this.#cov.opsUnknown++;
      c.hint = 0 as MemberId;
    }
    c.current = null;
    this.#queue.push(this.#now + this.#int(150), { k: 'client', c: c.id - 1 });
  }

  // ---- the end ----------------------------------------------------------------------------------

  #finalChecks(): void {
    const views = [...this.#procs.values()].flatMap((p) =>
      p.raft === null ? [] : [viewOf(p.raft)],
    );
    try {
      this.#checker.checkLogsPairwise(views);
    } catch (e) {
      if (e instanceof InvariantViolation) this.#fail(e.invariant, e.message);
      throw e;
    }
    const outcome = checkOperations(kvModel, this.#history.history());
    if (outcome.ok === false) {
      this.#fail(
        Invariant.Linearizability,
        `the client history is not linearizable:\n${outcome.explanation}`,
      );
    }
    if (outcome.ok === 'unknown') {
      this.#fail(Invariant.Linearizability, `linearizability undecided: ${outcome.reason}`);
    }
  }
}
