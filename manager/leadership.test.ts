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
  await life.stop().then(
    () => undefined,
    () => undefined,
  );
  t.deepEqual(c.runs, [{ term: 3, stopped: true }]);

  life.onLeaderChange(self, 4);
  life.onLeaderChange(self, 4); // the same term again changes nothing
  currentTerm = 4;
  await new Promise((r) => setImmediate(r));
  t.is(life.leadingTerm, 4);
  const termFour = c.proposer!;
  t.deepEqual(await termFour.propose(new Uint8Array(2)), { index: 1, term: 4, result: 2 });

  // Leadership moves away, then comes back in a later term: the old proposer stays fenced.
  life.onLeaderChange(other, 5);
  currentTerm = 5;
  life.onLeaderChange(self, 6);
  currentTerm = 6;
  await new Promise((r) => setImmediate(r));
  t.is(life.leadingTerm, 6);
  t.deepEqual(
    c.runs.map((r) => r.term),
    [3, 4, 6],
  );
  t.true(c.runs[1]!.stopped, 'term 4 stopped before term 6 started');
  await t.throwsAsync(termFour.propose(new Uint8Array(1)), { message: /term 4 is over/ });
  await life.stop();
  t.true(c.runs.every((r) => r.stopped));
  t.is(life.leadingTerm, null);
});
