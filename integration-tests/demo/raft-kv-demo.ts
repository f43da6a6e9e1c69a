// The README's demo: a 3-manager Raft cluster on loopback running the replicated KV demo. A write,
// a leader killed with SIGKILL, a new leader, the write still there, the killed member back and
// caught up. Everything it starts it stops, everything it writes it removes — unless --keep, when
// the cluster runs until Ctrl-C.
import { Cleanup } from '../../bench/lib/cleanup.js';
import type { MemberClient, MemberStatus } from '../../bench/lib/leader-driver.js';
import { TUG_SERVER, tugCluster } from '../../bench/raft/tug.js';
import { waitFor } from '../../bench/lib/wait.js';

const keep = process.argv.includes('--keep');
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const decoder = new TextDecoder();

const describe = (
  statuses: readonly PromiseSettledResult<MemberStatus>[],
  names: readonly string[],
): string =>
  statuses
    .map((s, i) =>
      s.status === 'fulfilled'
        ? `  ${names[i]!}: member ${s.value.id}, term ${s.value.term}, leader ${s.value.leader ?? 'none'}, applied ${s.value.appliedIndex}`
        : `  ${names[i]!}: down`,
    )
    .join('\n');

const main = async (): Promise<void> => {
  const cleanup = new Cleanup();
  const controller = new AbortController();
  const unhook = cleanup.installProcessHooks(controller);
  const clients: MemberClient[] = [];
  try {
    const dir = cleanup.tempDir('tug-demo-');
    say(`Starting 3 tug managers (Raft over gRPC on loopback, WAL with fsync) in ${dir}`);
    const cluster = await tugCluster({
      server: TUG_SERVER,
      size: 3,
      dir,
      cleanup,
      readyTimeoutMs: 30_000,
    });
    await cluster.start();
    const names = Array.from({ length: cluster.size }, (_, i) => cluster.memberName(i));
    for (let i = 0; i < cluster.size; i++) clients.push(cluster.client(i));
    const leader = await cluster.waitHealthy({ timeoutMs: 30_000 });
    say(
      `\n1. A leader is elected: ${names[leader]!}\n${describe(await cluster.statuses(), names)}`,
    );

    const follower = (leader + 1) % cluster.size;
    await clients[follower]!.put('greeting', new TextEncoder().encode('hello from tug'), 5000);
    say(
      `\n2. put greeting="hello from tug" through ${names[follower]!} (a follower: it forwards to the leader);`,
    );
    say('   acknowledged only once a quorum has it on disk and it is applied.');

    const pid = cluster.process(leader)?.pid;
    await cluster.kill(leader);
    say(`\n3. SIGKILL the leader ${names[leader]!} (pid ${String(pid)}).`);
    const started = Date.now();
    const survivor = (leader + 2) % cluster.size;
    const next = await waitFor(
      async () => {
        const s = await clients[survivor]!.status(500);
        return s.leader !== null && s.leader !== String(leader + 1) ? s.leader : undefined;
      },
      { what: 'a new leader', timeoutMs: 30_000 },
    );
    say(
      `\n4. A new leader, member ${next}, after ${Date.now() - started} ms:\n${describe(await cluster.statuses(), names)}`,
    );

    const value = await waitFor(() => clients[survivor]!.get('greeting', 2000), {
      what: 'the read',
      timeoutMs: 20_000,
    });
    say(
      `\n5. Linearizable get greeting from ${names[survivor]!}: "${decoder.decode(value)}" — the write survived.`,
    );

    await cluster.restart(leader);
    await cluster.waitHealthy({ timeoutMs: 30_000 });
    const back = await clients[leader]!.get('greeting', 5000);
    say(
      `\n6. ${names[leader]!} restarted from its WAL and caught up; it reads "${back === null ? '(missing)' : decoder.decode(back)}".`,
    );
    say(describe(await cluster.statuses(), names));

    say(`\nWhere to look: data directories and logs in ${dir} (tug-N/ and tug-N.log)`);
    say(
      keep
        ? ''
        : 'They are removed when the demo ends; run `bash scripts/demo.sh --keep` to look around.',
    );
    if (keep) {
      say('The cluster keeps running; press Ctrl-C to stop it and remove everything.');
      await new Promise<void>((resolve) => {
        controller.signal.addEventListener('abort', () => {
          resolve();
        });
      });
    }
  } finally {
    for (const c of clients) c.close();
    const errors = await cleanup.run();
    unhook();
    say(
      errors.length === 0
        ? '\nStopped every process the demo started and removed its files.'
        : `\nCleanup errors: ${errors.map(String).join('; ')}`,
    );
  }
};

main().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
