// A linearizability checker for recorded client histories: given the operations clients invoked
// (with the times they were called and returned) and a sequential model of the object, decide
// whether some total order of the operations respects real time and the model. Wing & Gong's
// search with Lowe's just-in-time linearization, memoized on (linearized set, model state) as in
// Lowe's and Porcupine's checkers, and split into independent partitions (P-compositionality).
// Pure: no I/O, no clock, no randomness. The design is written down in docs/linearizability.md.

/**
 * One client operation. Times are in any unit on one timeline shared by all clients (a logical
 * counter is fine; see HistoryRecorder). Operation `a` precedes `b` in real time only when
 * `a.return < b.call`; equal times count as concurrent, so the checker never invents an order the
 * recording could not prove.
 *
 * `output === undefined` means the outcome is unknown (the client timed out, the connection
 * dropped, the leader was killed): the operation may have taken effect at any moment after its
 * call — even after the client gave up — or never. Its `return` is ignored and taken as +Infinity.
 * `undefined` is therefore reserved and cannot be a real output.
 */
export interface Operation<I, O> {
  readonly clientId: number;
  readonly input: I;
  readonly call: number;
  readonly output: O | undefined;
  /** Infinity (or any value) when the call never returned; only read when `output` is known. */
  readonly return: number;
}

export interface StepResult<S> {
  readonly ok: boolean;
  readonly state: S;
}

/**
 * A sequential specification. States are treated as immutable values: `step` must return a new
 * state rather than mutate the one it was given (the search backtracks to old states).
 */
export interface Model<S, I, O> {
  init(): S;
  /**
   * Apply `input` to `state`. With a known output, `ok` says whether the model could have produced
   * it. With `output === undefined` the op is being linearized with an unknown outcome: return the
   * state after it took effect (the "never took effect" case is covered by the checker, which may
   * leave such an op out). A nondeterministic outcome must be decided by `state` alone.
   */
  step(state: S, input: I, output: O | undefined): StepResult<S>;
  /**
   * The state's identity for memoization: two states with the same key must behave identically
   * for every later step (else the search wrongly prunes). A key rather than an equality test lets
   * the memo find a node with one Map lookup instead of scanning every state reached with the same
   * operations. Called once per accepted step; keep it cheap (small states: a string of the value).
   */
  key(state: S): string | number;
  /**
   * Split a history into independent sub-histories, each checked on its own from `init()` (for a
   * key-value store: one per key). It may also drop operations that cannot affect the verdict
   * (reads with unknown output). Without it the whole history is one partition.
   */
  partition?(history: readonly Operation<I, O>[]): readonly (readonly Operation<I, O>[])[];
  /**
   * Optional pruning hint: true only if `step` never changes the state for this input, whatever
   * the state and output (a KV get). Such an op, once the current state accepts it, is linearized
   * at once without trying alternatives — moving a read earlier, within its interval, never
   * invalidates an order — which cuts the search sharply when many clients overlap. A wrong `true`
   * makes the checker report false violations.
   */
  readOnly?(input: I): boolean;
  /**
   * Optional pruning hint: true only if applying `later` right after `earlier`, both with unknown
   * outcome, always gives the state `later` alone gives (for a KV store: `later` is a put or delete
   * of the same key). It keeps the search from trying chains of unknown-outcome writes whose
   * earlier links are overwritten anyway — without it a key with many timed-out puts can take
   * time exponential in their number. A wrong `true` makes the checker report false violations.
   */
  supersedes?(later: I, earlier: I): boolean;
  /** One line for an operation in explanations, e.g. `put x="a"`, `get x -> "a"`, `get x -> ?`. */
  describe?(input: I, output: O | undefined): string;
  /** A state in explanations. */
  describeState?(state: S): string;
}

export type CheckResult<I, O> =
  | { readonly ok: true }
  | {
      readonly ok: false;
      /** The failing partition (the smallest one that fails), ordered by call time. */
      readonly partition: readonly Operation<I, O>[];
      /** One longest order of that partition's operations the model accepted before getting stuck. */
      readonly partialLinearization: readonly Operation<I, O>[];
      /** Human-readable: the partition's operations with times, the prefix, and why each op that
       * could have come next was refused. Print it as it is. */
      readonly explanation: string;
    };

export type CheckOutcome<I, O> =
  CheckResult<I, O> | { readonly ok: 'unknown'; readonly reason: string };

export interface CheckOptions {
  /**
   * Search budget per partition: steps of the search loop (each candidate looked at, each
   * backtrack) plus memo entries compared, so it bounds time, not just nodes. A partition that
   * exhausts it makes the outcome 'unknown' unless another partition fails. Deterministic: the same
   * history and budget always give the same outcome. Default DEFAULT_TIMEOUT_STEPS.
   */
  readonly timeoutSteps?: number;
}

/**
 * Roughly a second of search. Ordinary histories need a handful of steps per operation (a 10,000-op
 * KV history with 4 clients: about 5 per op).
 */
export const DEFAULT_TIMEOUT_STEPS = 2_000_000;

/** The history given to the checker is malformed (a caller bug, not a linearizability verdict). */
export class InvalidHistoryError extends Error {
  readonly code = 'invalid-history';
  /** Index of the offending operation in the history passed in, or -1 when not about one op. */
  readonly index: number;
  constructor(message: string, index: number) {
    super(message);
    this.name = 'InvalidHistoryError';
    this.index = index;
  }
}

/**
 * Decide whether `history` is linearizable with respect to `model`. Partitions are checked smallest
 * first and the first failure is returned, so the explanation is about the smallest failing one.
 * A partition out of budget yields 'unknown' only if no other partition fails.
 */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  opts: CheckOptions = {},
): CheckOutcome<I, O> {
  const budget = opts.timeoutSteps ?? DEFAULT_TIMEOUT_STEPS;
  if (!(budget > 0)) {
    throw new RangeError(`timeoutSteps must be positive, got ${String(budget)}`);
  }
  const index = new Map<Operation<I, O>, number>();
  history.forEach((op, i) => {
    validate(op, i);
    index.set(op, i);
  });

  const partitions = model.partition ? model.partition(history) : [history];
  const order = partitions
    .map((ops, i) => ({ ops, i }))
    .sort((a, b) => a.ops.length - b.ops.length || a.i - b.i);

  let unknown: string | undefined;
  for (const { ops, i } of order) {
    ops.forEach((op) => {
      if (!index.has(op)) validate(op, -1);
    });
    const result = checkPartition(model, ops, budget);
    if (result.ok === true) continue;
    if (result.ok === false) {
      return {
        ok: false,
        partition: result.ops,
        partialLinearization: result.best.map((k) => result.ops[k]!),
        explanation: explain(model, result, index, partitions.length),
      };
    }
    unknown ??= `partition ${i + 1} of ${partitions.length} (${ops.length} operations) exceeded the budget of ${budget} search steps`;
  }
  return unknown === undefined ? { ok: true } : { ok: 'unknown', reason: unknown };
}

function validate(op: Operation<unknown, unknown>, i: number): void {
  const where = i >= 0 ? `operation #${i}` : 'an operation returned by model.partition()';
  if (typeof op !== 'object' || op === null) {
    throw new InvalidHistoryError(`${where} is not an object`, i);
  }
  if (!Number.isFinite(op.call)) {
    throw new InvalidHistoryError(`${where} has a non-finite call time ${String(op.call)}`, i);
  }
  if (op.output === undefined) return;
  if (!Number.isFinite(op.return)) {
    throw new InvalidHistoryError(
      `${where} has an output but return time ${String(op.return)}; ` +
        'an operation that never returned must have output undefined',
      i,
    );
  }
  if (op.return < op.call) {
    throw new InvalidHistoryError(
      `${where} returns at ${op.return}, before its call at ${op.call}`,
      i,
    );
  }
}

// ---- the search --------------------------------------------------------------------------------
//
// Operations with a known output ("known ops") go into Lowe's doubly linked list of call and return
// entries, sorted by time. Operations with an unknown outcome never return, so they are kept apart,
// sorted by call. A search node is (linearized known ops K, linearized unknown ops U, model state);
// the candidates to go next are the known ops whose call entry precedes the list's first return
// entry, and the unknown ops called no later than that return (the "deadline"). A node tries, in
// order: (1) a read-only candidate the state accepts, taken greedily with no alternative tried —
// sound because a state-preserving op can always be moved to the front of its own interval; (2)
// the other known candidates, earliest return first; (3) unknown candidates, newest call first.
// Known ops before unknown ones matters: trying the unknown ones first enumerates up to 2^u subsets
// of u pending lost writes before a plain read that needs none of them gets its turn.
//
// Memo, sound by dominance: a node (K, U, s) is skipped when a node (K, U', s) with U' ⊆ U was
// already entered — every completion of the first is one of the second, which simply leaves the
// extra unknown ops out ("never took effect"). That rule covers Lowe's exact-repeat memo, unknown
// ops whose effect is a no-op, and a known write that overwrites an unknown one just tried. The
// model's `supersedes` hint prunes chains of unknown writes the same way, before they are built.

const CALL = 0;
const RETURN = 1;

/** A node of the doubly linked call/return list ("dancing links" for cheap backtracking). */
interface Entry {
  readonly kind: typeof CALL | typeof RETURN;
  /** Index into the partition's known ops. */
  readonly op: number;
  readonly time: number;
  /** For a call entry, its return entry; null for return entries. */
  readonly match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

type PartitionResult<S, I, O> =
  | { readonly ok: true }
  | { readonly ok: 'unknown' }
  | {
      readonly ok: false;
      /** The partition in call order. */
      readonly ops: readonly Operation<I, O>[];
      /** Indexes into ops of one longest linearizable prefix, in linearization order. */
      readonly best: readonly number[];
      readonly bestState: S;
    };

const READS = 0;
const KNOWN = 1;
const UNKNOWN = 2;
const EXHAUSTED = 3;
type Phase = typeof READS | typeof KNOWN | typeof UNKNOWN | typeof EXHAUSTED;

interface Frame<S> {
  /** The parent's phase when it chose this child. */
  readonly phase: Phase;
  /** The op linearized by this frame: a known call entry, or an index into the unknown ops. */
  readonly entry: Entry | null;
  readonly unknown: number;
  /** Everything needed to resume the parent node where it left off. */
  readonly state: S;
  readonly lastUnknown: number;
  readonly deadline: number;
  readonly choices: Int32Array;
  readonly pos: number;
  /** KNOWN phase: candidates not tried yet. */
  readonly left: number;
}

function checkPartition<S, I, O>(
  model: Model<S, I, O>,
  unsorted: readonly Operation<I, O>[],
  budget: number,
): PartitionResult<S, I, O> {
  // Call order makes explanations readable and keeps linearized sets dense at the low indexes,
  // which is what the compact memo entries rely on.
  const ops = unsorted
    .map((op, i) => ({ op, i }))
    .sort((a, b) => a.op.call - b.op.call || a.i - b.i)
    .map((x) => x.op);
  const knownAt: number[] = []; // index into ops of each known op
  const unknownAt: number[] = []; // index into ops of each unknown op (sorted by call)
  ops.forEach((op, k) => (op.output === undefined ? unknownAt : knownAt).push(k));
  const known = knownAt.map((k) => ops[k]!);
  const unknown = unknownAt.map((k) => ops[k]!);
  // Every op left may simply never have taken effect.
  if (known.length === 0) return { ok: true };

  // The unknown ops worth trying at a node: all of them, or after unknown op e only those that do
  // not supersede e (one that does is dominated by its sibling applying it alone, which the parent
  // tries). Computed once per e, when first needed.
  const allUnknown: Int32Array = Int32Array.from(unknown.keys());
  const afterUnknown: (Int32Array | undefined)[] = [];
  const choicesAfter = (e: number): Int32Array => {
    if (e < 0 || model.supersedes === undefined) return allUnknown;
    let list = afterUnknown[e];
    if (list === undefined) {
      const input = unknown[e]!.input;
      list = allUnknown.filter((c) => model.supersedes?.(unknown[c]!.input, input) !== true);
      afterUnknown[e] = list;
    }
    return list;
  };
  /** How many of `choices` (ascending by call) were called by `time`. */
  const calledBy = (choices: Int32Array, time: number): number => {
    let lo = 0;
    let hi = choices.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (unknown[choices[mid]!]!.call <= time) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  const readOnly = Uint8Array.from(known, (op) => (model.readOnly?.(op.input) === true ? 1 : 0));
  const { head, callOf } = buildList(known);
  const lift = (e: Entry): void => {
    e.prev!.next = e.next;
    if (e.next) e.next.prev = e.prev;
    const m = e.match!;
    m.prev!.next = m.next;
    if (m.next) m.next.prev = m.prev;
  };
  const unlift = (e: Entry): void => {
    const m = e.match!;
    m.prev!.next = m;
    if (m.next) m.next.prev = m;
    e.prev!.next = e;
    if (e.next) e.next.prev = e;
  };

  const linearized = new LinearizedSet(known.length);
  const used = new Uint8Array(unknown.length);
  const usedStack: number[] = [];
  const memo = new Memo();
  const key = (st: S): string | number => model.key(st);
  const stack: Frame<S>[] = [];
  let state = model.init();
  memo.insertIfAbsent(linearized, usedStack, used, key(state));
  let remainingKnown = known.length;

  // The longest prefix seen, kept incrementally: frames below `lowWater` are unchanged since the
  // last copy, so the total copying is bounded by the number of steps, not steps × depth.
  const best: number[] = [];
  let bestState = state;
  let bestKnown = 0;
  let lowWater = 0;
  const opIndex = (f: Frame<S>): number =>
    f.entry === null ? unknownAt[f.unknown]! : knownAt[f.entry.op]!;

  // The cursor, by phase: READS walks the known list up to its first return entry looking for a
  // read-only op the state accepts (taken greedily: no sibling needs trying); KNOWN walks it again
  // trying each remaining known op; UNKNOWN walks `choices` down from the last unknown op called by
  // `deadline` (the first return entry's time) — newest first, since a read that sees a lost write
  // most often sees a recent one. `lastUnknown` is the unknown op that led to this node, or -1.
  let phase: Phase = READS;
  let entry = head.next;
  let deadline = Infinity;
  let lastUnknown = -1;
  let choices = allUnknown;
  let pos = -1;
  let cursor: Entry | null = null;
  let left = 0;
  const knownFrame = (call: Entry, leftAfter: number): Frame<S> => ({
    phase,
    entry: call,
    unknown: -1,
    state,
    lastUnknown,
    deadline,
    choices,
    pos,
    left: leftAfter,
  });

  const enter = (frame: Frame<S>, next: S): boolean => {
    stack.push(frame);
    state = next;
    // Longest by known ops: lost writes tacked on at the end would only blur the explanation.
    if (known.length - remainingKnown > bestKnown) {
      bestKnown = known.length - remainingKnown;
      best.length = lowWater;
      for (let k = lowWater; k < stack.length; k++) best.push(opIndex(stack[k]!));
      bestState = state;
      lowWater = stack.length;
    }
    phase = READS;
    entry = head.next;
    left = 0;
    return remainingKnown === 0;
  };

  for (let steps = 1; ; steps++) {
    if (steps + memo.comparisons > budget) return { ok: 'unknown' };
    if (phase === READS) {
      if (entry === null) throw new Error('linearizability: ran off the end of the entry list');
      if (entry.kind === RETURN) {
        phase = KNOWN;
        deadline = entry.time;
        cursor = entry;
        continue;
      }
      if (readOnly[entry.op] === 0) {
        left++;
        entry = entry.next;
        continue;
      }
      const op = known[entry.op]!;
      const next = model.step(state, op.input, op.output);
      if (!next.ok) {
        entry = entry.next;
        continue;
      }
      linearized.add(entry.op);
      if (!memo.insertIfAbsent(linearized, usedStack, used, key(next.state))) {
        // The greedy child is dominated by a node already explored: so is this one.
        linearized.delete(entry.op);
        phase = EXHAUSTED;
        continue;
      }
      const frame = knownFrame(entry, left);
      lift(entry);
      remainingKnown--;
      lastUnknown = -1;
      if (enter(frame, next.state)) return { ok: true };
      continue;
    }

    if (phase === KNOWN) {
      if (left === 0 || cursor === null) {
        phase = UNKNOWN;
        choices = choicesAfter(lastUnknown);
        pos = calledBy(choices, deadline) - 1;
        continue;
      }
      const k = cursor.op;
      if (cursor.kind === CALL || readOnly[k] === 1 || known[k]!.call > deadline) {
        cursor = cursor.next;
        continue;
      }
      left--;
      const op = known[k]!;
      const next = model.step(state, op.input, op.output);
      if (next.ok) {
        linearized.add(k);
        if (memo.insertIfAbsent(linearized, usedStack, used, key(next.state))) {
          const call = callOf[k]!;
          const frame = knownFrame(call, left);
          lift(call);
          remainingKnown--;
          lastUnknown = -1;
          if (enter(frame, next.state)) return { ok: true };
          continue;
        }
        linearized.delete(k);
      }
      cursor = cursor.next;
      continue;
    }

    if (phase === UNKNOWN && pos >= 0) {
      const j = choices[pos--]!;
      if (used[j] === 1) continue;
      const next = model.step(state, unknown[j]!.input, undefined);
      if (!next.ok) continue;
      used[j] = 1;
      usedStack.push(j);
      if (memo.insertIfAbsent(linearized, usedStack, used, key(next.state))) {
        const frame: Frame<S> = {
          phase,
          entry: null,
          unknown: j,
          state,
          lastUnknown,
          deadline,
          choices,
          pos,
          left,
        };
        lastUnknown = j;
        enter(frame, next.state);
        continue;
      }
      used[j] = 0;
      usedStack.pop();
      continue;
    }

    // Every child of this node has been tried: backtrack.
    const top = stack.pop();
    if (top === undefined) return { ok: false, ops, best, bestState };
    lowWater = Math.min(lowWater, stack.length);
    state = top.state;
    lastUnknown = top.lastUnknown;
    deadline = top.deadline;
    phase = top.phase;
    if (top.entry !== null) {
      linearized.delete(top.entry.op);
      remainingKnown++;
      unlift(top.entry);
      // A greedily taken read-only op failed: then every order from its parent fails.
      if (phase === READS) phase = EXHAUSTED;
      cursor = top.entry.match!.next;
      left = top.left;
    } else {
      used[top.unknown] = 0;
      usedStack.pop();
      choices = top.choices;
      pos = top.pos;
    }
  }
}

function buildList(ops: readonly Operation<unknown, unknown>[]): {
  head: Entry;
  callOf: Entry[];
} {
  const entries: Entry[] = [];
  const callOf: Entry[] = [];
  ops.forEach((op, i) => {
    const ret: Entry = {
      kind: RETURN,
      op: i,
      time: op.return,
      match: null,
      prev: null,
      next: null,
    };
    const call: Entry = { kind: CALL, op: i, time: op.call, match: ret, prev: null, next: null };
    callOf.push(call);
    entries.push(call, ret);
  });
  // At equal times calls come first, making touching intervals concurrent (never a false alarm).
  entries.sort((a, b) => a.time - b.time || a.kind - b.kind || a.op - b.op);
  const head: Entry = { kind: CALL, op: -1, time: -Infinity, match: null, prev: null, next: null };
  let prev = head;
  for (const e of entries) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  return { head, callOf };
}

/**
 * The set of linearized known operations as a bitset, with an incrementally maintained Zobrist
 * hash, its size, and `prefix` (every index below it is in the set). Linearized sets are a dense
 * prefix plus a few operations near the frontier, so memo entries store only (prefix, extras).
 */
class LinearizedSet {
  readonly #words: Uint32Array;
  readonly #zobrist: Uint32Array;
  hashHi = 0;
  hashLo = 0;
  size = 0;
  prefix = 0;
  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#words = new Uint32Array((capacity + 31) >>> 5);
    this.#zobrist = new Uint32Array(capacity * 2);
    // A fixed seed keeps runs reproducible; a collision only costs a comparison.
    let seed = 0x9e3779b9;
    for (let i = 0; i < this.#zobrist.length; i++) {
      seed = (seed + 0x6d2b79f5) | 0;
      let z = seed;
      z = Math.imul(z ^ (z >>> 15), z | 1);
      z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
      this.#zobrist[i] = (z ^ (z >>> 14)) >>> 0;
    }
  }

  has(i: number): boolean {
    return (this.#words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  add(i: number): void {
    this.#words[i >>> 5]! |= 1 << (i & 31);
    this.#toggle(i);
    this.size++;
    if (i === this.prefix) {
      let p = i + 1;
      while (p < this.capacity && this.has(p)) p++;
      this.prefix = p;
    }
  }

  delete(i: number): void {
    this.#words[i >>> 5]! &= ~(1 << (i & 31));
    this.#toggle(i);
    this.size--;
    if (i < this.prefix) this.prefix = i;
  }

  /** The members at or above `prefix`, in increasing order. */
  extras(): readonly number[] {
    const n = this.size - this.prefix;
    if (n === 0) return NONE;
    const out: number[] = [];
    for (let i = this.prefix; out.length < n; i++) if (this.has(i)) out.push(i);
    return out;
  }

  #toggle(i: number): void {
    this.hashHi ^= this.#zobrist[2 * i]!;
    this.hashLo ^= this.#zobrist[2 * i + 1]!;
  }
}

interface MemoEntry {
  readonly stateKey: string | number;
  readonly prefix: number;
  readonly extras: readonly number[];
  readonly unknowns: readonly number[];
}

const NONE: readonly number[] = [];

/** Past this many nodes with one known set, they are indexed by state key. */
const BUCKET_INDEX_AT = 8;

class Memo {
  /**
   * Known-set hash → the nodes recorded with it (differing in state or unknown ops): a short list,
   * or, once long (many lost writes tried at one point), a map by state key.
   */
  readonly #nodes = new Map<number, MemoEntry[] | Map<string | number, MemoEntry[]>>();
  /** Recorded nodes examined so far; charged to the step budget, as buckets can grow long. */
  comparisons = 0;

  /**
   * Records the node (known set, unknown set, state) and returns true, or returns false when a
   * recorded node dominates it (same known set, a subset of its unknown ops, the same state).
   */
  insertIfAbsent(
    known: LinearizedSet,
    usedStack: readonly number[],
    used: Uint8Array,
    stateKey: string | number,
  ): boolean {
    // 53 bits of the 64-bit hash fit a number key exactly.
    const hash = (known.hashHi & 0x1fffff) * 0x100000000 + (known.hashLo >>> 0);
    const bucket = this.#nodes.get(hash);
    let entries: MemoEntry[];
    if (bucket === undefined) {
      entries = [];
      this.#nodes.set(hash, entries);
    } else if (Array.isArray(bucket)) {
      entries = bucket;
      if (bucket.length >= BUCKET_INDEX_AT) {
        const byState = new Map<string | number, MemoEntry[]>();
        for (const e of bucket) {
          const same = byState.get(e.stateKey);
          if (same === undefined) byState.set(e.stateKey, [e]);
          else same.push(e);
        }
        this.#nodes.set(hash, byState);
        entries = byState.get(stateKey) ?? [];
        if (entries.length === 0) byState.set(stateKey, entries);
      }
    } else {
      entries = bucket.get(stateKey) ?? [];
      if (entries.length === 0) bucket.set(stateKey, entries);
    }
    const extras = known.size - known.prefix;
    this.comparisons += entries.length;
    for (const e of entries) {
      if (
        e.stateKey === stateKey &&
        e.prefix === known.prefix &&
        e.extras.length === extras &&
        e.unknowns.length <= usedStack.length &&
        e.extras.every((i) => known.has(i)) &&
        e.unknowns.every((j) => used[j] === 1)
      ) {
        return false;
      }
    }
    entries.push({
      stateKey,
      prefix: known.prefix,
      extras: known.extras(),
      unknowns: usedStack.length === 0 ? NONE : usedStack.slice(),
    });
    return true;
  }
}

// ---- explanations ------------------------------------------------------------------------------

/** Above this many operations the listing shows only those around the point of failure. */
const FULL_LISTING_MAX = 40;
const WINDOW_PREFIX_OPS = 8;
const MAX_LOST_CANDIDATES = 8;

function explain<S, I, O>(
  model: Model<S, I, O>,
  failure: Extract<PartitionResult<S, I, O>, { ok: false }>,
  index: ReadonlyMap<Operation<I, O>, number>,
  partitionCount: number,
): string {
  const { ops, best, bestState } = failure;
  const describe = (op: Operation<I, O>): string =>
    model.describe ? model.describe(op.input, op.output) : defaultDescribe(op.input, op.output);
  const describeState = (s: S): string =>
    model.describeState ? model.describeState(s) : String(model.key(s));
  const label = (k: number): string => {
    const i = index.get(ops[k]!);
    return i === undefined ? `p${k}` : `#${i}`;
  };

  // Where the search got stuck after the longest prefix: the earliest return among the operations
  // left out, and the operations called by then (the only ones that could have gone next).
  const inBest = new Set(best);
  let deadline = Infinity;
  ops.forEach((op, k) => {
    if (!inBest.has(k) && op.output !== undefined) deadline = Math.min(deadline, op.return);
  });
  const candidates = ops.flatMap((op, k) => (!inBest.has(k) && op.call <= deadline ? [k] : []));

  const lines: string[] = [];
  const which =
    partitionCount > 1 ? `the smallest failing partition of ${partitionCount}` : 'the history';
  lines.push(`not linearizable: ${which} has ${ops.length} operations; in call order:`);

  let shown = ops.map((_, k) => k);
  if (ops.length > FULL_LISTING_MAX) {
    const recent = best.slice(-WINDOW_PREFIX_OPS);
    // Long-pending unknown-outcome ops would stretch the window back to their calls; they are
    // listed anyway, as they overlap everything after.
    const anchors = [...recent, ...candidates].filter((k) => ops[k]!.output !== undefined);
    const from = Math.min(deadline, ...anchors.map((k) => ops[k]!.call));
    const to = deadline;
    shown = shown.filter((k) => {
      const op = ops[k]!;
      const ret = op.output === undefined ? Infinity : op.return;
      return ret >= from && op.call <= to;
    });
    lines.push(
      `  (showing the ${shown.length} whose intervals overlap [${from}, ${to}]; the result's ` +
        '`partition` field holds them all)',
    );
  }
  const rows = shown.map((k) => {
    const op = ops[k]!;
    return [
      label(k),
      `client ${op.clientId}`,
      `call ${op.call}`,
      op.output === undefined ? 'return ? (unknown outcome)' : `return ${op.return}`,
      describe(op),
    ];
  });
  lines.push(...table(rows).map((r) => `  ${r}`));

  if (best.length === 0) {
    lines.push(
      `no operation can take effect first (initial state ${describeState(model.init())}):`,
    );
  } else {
    lines.push(`one longest linearizable prefix has ${best.length} of ${ops.length} operations:`);
    const tail = best.slice(-WINDOW_PREFIX_OPS);
    if (tail.length < best.length) lines.push(`  ... ${best.length - tail.length} earlier`);
    for (const k of tail) lines.push(`  ${label(k)} ${describe(ops[k]!)}`);
    lines.push(
      `leaving state ${describeState(bestState)}; then none of these can take effect next:`,
    );
  }
  // Every lost write called earlier is a candidate; a few make the point.
  const lostCandidates = candidates.filter((k) => ops[k]!.output === undefined);
  const hidden = new Set(lostCandidates.slice(0, -MAX_LOST_CANDIDATES));
  for (const k of candidates) {
    if (hidden.has(k)) continue;
    const op = ops[k]!;
    const r = model.step(bestState, op.input, op.output);
    const why = r.ok
      ? `allowed, giving ${describeState(r.state)}, but no order of the rest fits from there`
      : 'refused by the model in that state';
    lines.push(`  ${label(k)} ${describe(op)}: ${why}`);
  }
  if (hidden.size > 0) {
    lines.push(`  ... and ${hidden.size} earlier unknown-outcome operations, none of which helps`);
  }
  const due = candidates.filter((k) => ops[k]!.output !== undefined && ops[k]!.return === deadline);
  const later = ops.length - best.length - candidates.length;
  if (later > 0) {
    const plural = later === 1 ? '' : 's';
    lines.push(
      `(${due.map(label).join(', ')} returned at ${deadline}, so ${due.length === 1 ? 'it' : 'they'} ` +
        `had to take effect before the ${later} operation${plural} called after that)`,
    );
  }
  return lines.join('\n');
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((row) =>
    row
      .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

function defaultDescribe(input: unknown, output: unknown): string {
  return `${safeJson(input)} -> ${output === undefined ? '?' : safeJson(output)}`;
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
