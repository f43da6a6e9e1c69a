// Runs the leader-only components (orchestrator, scheduler, allocator, dispatcher's writer) while
// this manager leads, and only then: started when it gains leadership, each with a proposer
// fenced to that term, and aborted — and awaited — when it loses it. A component that was slow to
// stop can still try to write, but the fence refuses anything proposed after its term ended.
import type { MemberId } from './raft/core/index.js';

/**
 * A fenced proposal still waiting when its term ended: whether it commits is unknown (as for any
 * proposal that failed to replicate), so callers re-read before retrying.
 */
export class LeadershipLostError extends Error {
  readonly code = 'leadership-lost';
  readonly temporary = true;
  readonly term: number;
  constructor(term: number) {
    super(`leadership of term ${term} lost before the proposal was applied`);
    this.name = 'LeadershipLostError';
    this.term = term;
  }
}

/** Proposes data only while the term it was made for lasts. */
export interface FencedProposer {
  readonly term: number;
  propose(data: Uint8Array): Promise<{ index: number; result: unknown }>;
}

export interface LeaderComponent {
  readonly name: string;
  run(signal: AbortSignal, proposer: FencedProposer): Promise<void>;
}

export interface TermProposer {
  propose(
    data: Uint8Array,
    term: number,
  ): Promise<{ index: number; term: number; result: unknown }>;
}

interface Running {
  readonly term: number;
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

export class LeaderLifecycle {
  private readonly self: MemberId;
  private readonly components: readonly LeaderComponent[];
  private readonly proposer: TermProposer;
  private readonly log: (line: string) => void;
  private running: Running | null = null;
  private closed = false;
  /** Transitions run one after another, so a stop always completes before the next start. */
  private transitions: Promise<void> = Promise.resolve();

  constructor(deps: {
    self: MemberId;
    components: readonly LeaderComponent[];
    proposer: TermProposer;
    log?: (line: string) => void;
  }) {
    this.self = deps.self;
    this.components = deps.components;
    this.proposer = deps.proposer;
    this.log = deps.log ?? (() => undefined);
  }

  /** Feed from RaftNode's onLeaderChange. */
  onLeaderChange(leader: MemberId, term: number): void {
    if (this.closed) return;
    this.transitions = this.transitions.then(() =>
      this.transition(leader === this.self ? term : null),
    );
  }

  /** Stops whatever runs, for good; resolves when every component has returned. */
  stop(): Promise<void> {
    this.closed = true;
    this.transitions = this.transitions.then(() => this.transition(null));
    return this.transitions;
  }

  /** Resolves once every leadership change reported so far has been acted on. */
  settled(): Promise<void> {
    return this.transitions;
  }

  /** The term the components currently run for, if any (for status and tests). */
  get leadingTerm(): number | null {
    return this.running?.term ?? null;
  }

  private async transition(term: number | null): Promise<void> {
    if (this.running !== null && this.running.term === term) return;
    if (this.running !== null) {
      const r = this.running;
      this.running = null;
      this.log(`leadership of term ${r.term} over: stopping ${this.components.length} components`);
      r.controller.abort(new Error(`leadership of term ${r.term} lost`));
      await r.done;
    }
    if (term === null) return;
    const controller = new AbortController();
    const fenced: FencedProposer = {
      term,
      propose: (data) => fencedPropose(this.proposer, data, term, controller.signal),
    };
    // Barrier first: an empty entry of our own term, once applied, means every entry before it
    // is applied too — including the previous leader's proposals this member had not applied
    // yet. Components started earlier decided on a stale store: the orchestrator re-created
    // tasks the old leader had just created (two live tasks in a slot, seen in bench/control
    // after elections). Raft's core commits a new leader's no-op the same way; the store does
    // not see it, so we propose our own (the state machine skips empty entries).
    const done = fencedPropose(this.proposer, new Uint8Array(0), term, controller.signal).then(
      () => {
        if (controller.signal.aborted) return;
        this.log(
          `leading in term ${term}: starting ${this.components.map((c) => c.name).join(', ')}`,
        );
        return Promise.all(
          this.components.map((c) =>
            c.run(controller.signal, fenced).catch((e: unknown) => {
              // A component failing must not take the others down; a new term restarts them all.
              this.log(
                `${c.name} stopped with an error: ${e instanceof Error ? e.message : String(e)}`,
              );
            }),
          ),
        ).then(() => undefined);
      },
      (e: unknown) => {
        this.log(
          `leadership of term ${term}: components not started: ${e instanceof Error ? e.message : String(e)}`,
        );
      },
    );
    this.running = { term, controller, done };
  }
}

/**
 * Proposes for `term`, and gives up waiting once the term's components are aborted. Raft settles a
 * deposed leader's proposal only when it applies the entry that replaced it, which needs a quorum:
 * with the other managers stopping too (or partitioned away) that never comes, and components
 * awaiting their writes kept a stopping manager alive until it was killed.
 */
const fencedPropose = (
  proposer: TermProposer,
  data: Uint8Array,
  term: number,
  signal: AbortSignal,
): Promise<{ index: number; result: unknown }> => {
  if (signal.aborted) return Promise.reject(new LeadershipLostError(term));
  const p = proposer.propose(data, term);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      reject(new LeadershipLostError(term));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
};
