// The README demo, part two: three `tug` managers as processes (init, join, join), three
// simulated agents, and the `tug` CLI applying the example manifests, scaling, and listing tasks.
// Everything it starts it stops, everything it writes it removes — unless --keep.
import { Cleanup } from '../../bench/lib/cleanup.js';
import { startHollowAgents, startTugManagers } from '../../bench/lib/tug-cluster.js';
import { waitFor } from '../../bench/lib/wait.js';
import { main as tug } from '../../cli/main.js';
import type { Service, Task } from '../../common/model.js';

const keep = process.argv.includes('--keep');
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const AGENT_COUNT = 3;

const run = async (): Promise<void> => {
  const cleanup = new Cleanup();
  const controller = new AbortController();
  const unhook = cleanup.installProcessHooks(controller);
  try {
    const dir = cleanup.tempDir('tug-demo-cp-');
    say(`Starting 3 tug managers (init, join, join) in ${dir}`);
    const { addresses } = await startTugManagers({ cleanup, dir });
    const addr = (i: number): string => addresses[i]!;
    await startHollowAgents({
      cleanup,
      dir,
      name: 'agents',
      manager: addr(0),
      count: AGENT_COUNT,
    });
    say(
      `Started ${AGENT_COUNT} simulated agents (they report tasks running; real containers come next).\n`,
    );

    const io = {
      stdout: process.stdout,
      stderr: process.stderr,
      stdin: process.stdin,
      env: { ...process.env, TUG_MANAGER: addr(0) },
    };
    const step = async (argv: readonly string[]): Promise<void> => {
      say(`$ tug ${argv.join(' ')}`);
      const code = await tug(argv, io);
      if (code !== 0) throw new Error(`tug ${argv.join(' ')} exited ${code}`);
      say('');
    };
    /** `tug get KIND -o json`, parsed (the CLI as a script would use it). */
    const getJson = async <T>(kind: string): Promise<T[]> => {
      let out = '';
      const quiet = { ...io, stdout: { write: (x: string) => (out += x) } };
      const code = await tug(['get', kind, '-o', 'json'], quiet);
      if (code !== 0) throw new Error(`tug get ${kind} exited ${code}`);
      return JSON.parse(out) as T[];
    };
    await step(['get', 'nodes']);
    await step(['apply', '-f', 'manifests']);
    await step(['scale', 'web=5']);
    // Wait until every task that should run reports running, then show where everything runs.
    await waitFor(
      async () => {
        const services = await getJson<Service>('services');
        const tasks = await getJson<Task>('tasks');
        const expected = services.reduce(
          (n, x) => n + (x.spec.mode.type === 'replicated' ? x.spec.mode.replicas : AGENT_COUNT),
          0,
        );
        const running = tasks.filter(
          (x) => x.desiredState === 'running' && x.status.state === 'running',
        );
        return expected > 0 && running.length === expected;
      },
      { what: 'every task running', timeoutMs: 30_000, intervalMs: 100 },
    );
    await step(['get', 'services']);
    await step(['get', 'tasks']);

    say(
      `Where to look: manager data and logs in ${dir}; the CLI: TUG_MANAGER=${addr(0)} node build/cli/main.js get tasks`,
    );
    if (keep) {
      say('The cluster keeps running; press Ctrl-C to stop it and remove everything.');
      await new Promise<void>((resolve) => {
        controller.signal.addEventListener('abort', () => {
          resolve();
        });
      });
    } else {
      say('They are removed when the demo ends; run `bash scripts/demo.sh --keep` to look around.');
    }
  } finally {
    const errors = await cleanup.run();
    unhook();
    say(
      errors.length === 0
        ? '\nStopped every process the demo started and removed its files.'
        : `\nCleanup errors: ${errors.map(String).join('; ')}`,
    );
  }
};

run().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
