// A tiny in-memory cluster for unit tests of the core: delivers every message at once, persists
// by fiat. The fault-injecting simulator lives in manager/raft/sim.
import { Raft } from '../raft.js';
import { memberId, type Entry, type MemberId, type Message, type RaftConfig } from '../types.js';

export const seededRandom = (seed: number): (() => number) => {
  // mulberry32: small, fast, good enough for election jitter.
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

export class TestCluster {
  readonly nodes = new Map<MemberId, Raft>();
  readonly applied = new Map<MemberId, Entry[]>();
  /** Messages matching this predicate are dropped. */
  drop: (m: Message) => boolean = () => false;
  readonly trace: Message[] = [];

  constructor(n: number, config: Partial<RaftConfig> = {}, seed = 1) {
    const ids = Array.from({ length: n }, (_, i) => memberId(i + 1));
    const rnd = seededRandom(seed);
    for (const id of ids) {
      const r = new Raft({ config: { ...config, id }, random: rnd });
      r.bootstrap(ids);
      this.nodes.set(id, r);
      this.applied.set(id, []);
    }
  }

  node(id: number): Raft {
    return this.nodes.get(memberId(id))!;
  }

  /** Runs Ready cycles and delivers messages until nothing moves. */
  stabilize(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      const outbox: Message[] = [];
      let any = false;
      for (const [id, r] of this.nodes) {
        if (!r.hasReady()) continue;
        any = true;
        const rd = r.ready();
        this.applied.get(id)!.push(...rd.committedEntries);
        outbox.push(...rd.messages);
        r.advance();
      }
      for (const m of outbox) {
        this.trace.push(m);
        if (this.drop(m)) continue;
        this.nodes.get(m.to)?.step(m);
      }
      if (!any && outbox.length === 0) return;
    }
    throw new Error('cluster did not stabilize');
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const r of this.nodes.values()) r.tick();
      this.stabilize();
    }
  }

  leader(): Raft | undefined {
    return [...this.nodes.values()].find((r) => r.status().role === 'leader');
  }
}
