import test from 'ava';
import { LeaderLifecycle, type FencedProposer, type LeaderComponent } from './leadership.js';
import { memberId } from './raft/core/index.js';

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
  life.onLeaderChange(other, 4);
  await life.settled();
  t.deepEqual(c.runs, [{ term: 3, stopped: true }]);

  life.onLeaderChange(self, 5);
  life.onLeaderChange(self, 5); // the same term again changes nothing
  currentTerm = 5;
  await life.settled();
  t.is(life.leadingTerm, 5);
  const termFive = c.proposer!;
  t.deepEqual(await termFive.propose(new Uint8Array(2)), { index: 1, term: 5, result: 2 });

  // Leadership moves away, then comes back in a later term: the old proposer stays fenced.
  life.onLeaderChange(other, 6);
  life.onLeaderChange(self, 7);
  currentTerm = 7;
  await life.settled();
  t.is(life.leadingTerm, 7);
  t.deepEqual(
    c.runs.map((r) => r.term),
    [3, 5, 7],
  );
  t.true(c.runs[1]!.stopped, 'term 5 stopped before term 7 started');
  await t.throwsAsync(termFive.propose(new Uint8Array(1)), { message: /term 5 is over/ });
  await life.stop();
  t.true(c.runs.every((r) => r.stopped));
  t.is(life.leadingTerm, null);
  life.onLeaderChange(self, 8); // after stop(), nothing starts again
  await life.settled();
  t.is(c.runs.length, 3);
});
