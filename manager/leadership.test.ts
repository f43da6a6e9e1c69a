import test from 'ava';
import {
  LeaderLifecycle,
  LeadershipLostError,
  type FencedProposer,
  type LeaderComponent,
} from './leadership.js';
import { memberId } from './raft/core/index.js';

/** Lets pending promise callbacks run until `cond` holds (components start after a barrier). */
const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 1000 && !cond(); i++) {
    await new Promise<void>((resolve) => {
      setImmediate(resolve);
    });
  }
};

const self = memberId(1);
const other = memberId(2);

/** A component that records its runs and writes once through its proposer when told to. */
class Recorder implements LeaderComponent {
  readonly name = 'recorder';
  readonly runs: { term: number; stopped: boolean }[] = [];
  proposer: FencedProposer | null = null;
  async run(signal: AbortSignal, proposer: FencedProposer): Promise<void> {
    const entry = { term: proposer.term, stopped: false };
    this.runs.push(entry);
    this.proposer = proposer;
    await new Promise<void>((resolve) => {
      signal.addEventListener('abort', () => {
        resolve();
      });
    });
    entry.stopped = true;
  }
}

test('leadership: components run only while this member leads, one term at a time', async (t) => {
  let currentTerm = 0;
  const c = new Recorder();
  const life = new LeaderLifecycle({
    self,
    components: [c],
    proposer: {
      propose: (data, term) =>
        term === currentTerm
          ? Promise.resolve({ index: 1, term, result: data.byteLength })
          : Promise.reject(new Error(`term ${term} is over`)),
    },
  });
  currentTerm = 3;
  life.onLeaderChange(self, 3);
  await until(() => c.runs.length === 1);
  life.onLeaderChange(other, 4);
  await life.settled();
  t.deepEqual(c.runs, [{ term: 3, stopped: true }]);

  life.onLeaderChange(self, 5);
  life.onLeaderChange(self, 5); // the same term again changes nothing
  currentTerm = 5;
  await life.settled();
  await until(() => c.runs.length === 2);
  t.is(life.leadingTerm, 5);
  const termFive = c.proposer!;
  t.deepEqual(await termFive.propose(new Uint8Array(2)), { index: 1, term: 5, result: 2 });

  // Leadership moves away, then comes back in a later term: the old proposer stays fenced.
  life.onLeaderChange(other, 6);
  life.onLeaderChange(self, 7);
  currentTerm = 7;
  await life.settled();
  await until(() => c.runs.length === 3);
  t.is(life.leadingTerm, 7);
  t.deepEqual(
    c.runs.map((r) => r.term),
    [3, 5, 7],
  );
  t.true(c.runs[1]!.stopped, 'term 5 stopped before term 7 started');
  await t.throwsAsync(termFive.propose(new Uint8Array(1)), { instanceOf: LeadershipLostError });
  await life.stop();
  t.true(c.runs.every((r) => r.stopped));
  t.is(life.leadingTerm, null);
  life.onLeaderChange(self, 8); // after stop(), nothing starts again
  await life.settled();
  t.is(c.runs.length, 3);
});

test('leadership: a proposal still waiting when the term ends fails, so stopping never hangs on it', async (t) => {
  // Raft settles a deposed leader's proposal only once a quorum applies what replaced it; with
  // the other managers gone that never happens. Here: never.
  let proposed = 0;
  const writer: LeaderComponent = {
    name: 'writer',
    async run(signal, proposer) {
      // Like the orchestrator: after the abort, wait for the in-flight write to settle.
      const write = proposer.propose(new Uint8Array(1)).then(
        () => 'committed',
        (e: unknown) => (e instanceof LeadershipLostError ? 'lost' : 'other'),
      );
      await new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => {
          resolve();
        });
      });
      t.is(await write, 'lost');
    },
  };
  const life = new LeaderLifecycle({
    self,
    components: [writer],
    proposer: {
      propose: (data, term) => {
        // The lifecycle's own barrier commits; the component's write never does.
        if (data.byteLength === 0) return Promise.resolve({ index: 1, term, result: undefined });
        proposed++;
        return new Promise(() => undefined);
      },
    },
  });
  life.onLeaderChange(self, 2);
  await until(() => proposed === 1);
  await life.stop();
  t.is(proposed, 1);
  t.is(life.leadingTerm, null);
});

test('leadership: components start only once an entry of the new term is applied', async (t) => {
  const c = new Recorder();
  let release: (() => void) | null = null;
  const barriers: number[] = [];
  const life = new LeaderLifecycle({
    self,
    components: [c],
    proposer: {
      propose: (data, term) => {
        barriers.push(data.byteLength);
        return new Promise((resolve) => {
          release = () => {
            resolve({ index: 7, term, result: undefined });
          };
        });
      },
    },
  });
  life.onLeaderChange(self, 2);
  await life.settled();
  await until(() => release !== null);
  // The store may still lack the previous leader's last entries: nothing runs yet.
  t.deepEqual(barriers, [0]);
  t.is(c.runs.length, 0);
  release!();
  await until(() => c.runs.length === 1);
  t.deepEqual(c.runs, [{ term: 2, stopped: false }]);
  await life.stop();
  t.true(c.runs[0]!.stopped);
});

test('leadership: a term lost before its barrier commits starts nothing and stops at once', async (t) => {
  const c = new Recorder();
  const life = new LeaderLifecycle({
    self,
    components: [c],
    proposer: { propose: () => new Promise(() => undefined) },
  });
  life.onLeaderChange(self, 2);
  life.onLeaderChange(other, 3);
  await life.settled();
  await life.stop();
  t.is(c.runs.length, 0);
  t.is(life.leadingTerm, null);
});
