// The README demo, part two: real containers end to end. A registry (Debian's docker-registry on
// loopback) holding the busybox test image, three `tug` managers as processes (init, join, join),
// ONE real agent process running containers with runc, and the `tug` CLI as a process applying
// the example manifests, scaling, listing tasks and showing logs. The manifests name
// `registry.local:5000/tug/busybox:latest`; nothing resolves that name here, so the agent is
// started with `--registry-mirror registry.local:5000=<the loopback registry>` (the reference
// stays as written). Everything it starts it stops and everything it makes it removes —
// containers, mounts, cgroups, processes, files, the registry — at the end, or after Ctrl-C with
// --keep. Needs root.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { Cleanup } from '../../bench/lib/cleanup.js';
import { startTugAgent, startTugManagers } from '../../bench/lib/tug-cluster.js';
import { waitFor } from '../../bench/lib/wait.js';
import { pushTestImage, startRegistry } from '../../agent/testing/registry.js';
import { main as tugInProcess } from '../../cli/main.js';
import type { Task } from '../../common/model.js';

const keep = process.argv.includes('--keep');
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const TUG_MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const MANIFESTS = fileURLToPath(new URL('../../../manifests/', import.meta.url));
/** The registry the example manifests name. */
const MANIFEST_REGISTRY = 'registry.local:5000';

const run = async (): Promise<void> => {
  const cleanup = new Cleanup();
  const controller = new AbortController();
  const unhook = cleanup.installProcessHooks(controller);
  try {
    const dir = cleanup.tempDir('tug-demo-cp-');
    say(`Data dir: ${dir}`);

    const registry = await startRegistry();
    cleanup.add(
      `registry ${registry.host}`,
      () => registry.stop(),
      () => {
        registry.process.kill('SIGKILL');
        rmSync(registry.dir, { recursive: true, force: true });
      },
    );
    say(`Registry: docker-registry on ${registry.host} (storage in ${registry.dir})`);
    await pushTestImage(registry.host, { repo: 'tug/busybox' });
    say(`Pushed the busybox test image as ${registry.host}/tug/busybox:latest`);

    say('Starting 3 tug managers (init, join, join)');
    const mirrors = new Map([[MANIFEST_REGISTRY, registry.host]]);
    // Managers pin each service's image to its digest, asking the same registry the agent pulls from.
    const { addresses } = await startTugManagers({ cleanup, dir, registryMirrors: mirrors });
    const manager = addresses[0]!;
    const agent = await startTugAgent({
      cleanup,
      dir,
      managers: addresses,
      hostname: 'demo-node',
      labels: { zone: 'a', rack: 'r1' },
      registryMirrors: mirrors,
    });
    say(
      `Agent: node ${agent.nodeId} (hostname demo-node), state in ${agent.stateDir}, ` +
        `pulling ${MANIFEST_REGISTRY} from ${registry.host}\n`,
    );

    const env = { ...process.env, TUG_MANAGER: manager };
    /** The real CLI, as a process, its output shown as it comes. */
    const tug = (argv: readonly string[]): Promise<void> =>
      new Promise((resolve, reject) => {
        say(`$ tug ${argv.join(' ')}`);
        const child = spawn(process.execPath, [TUG_MAIN, ...argv], {
          env,
          stdio: ['ignore', 'inherit', 'inherit'],
        });
        child.once('error', reject);
        child.once('exit', (code, signal) => {
          say('');
          if (code === 0) resolve();
          else reject(new Error(`tug ${argv.join(' ')} exited ${String(code ?? signal)}`));
        });
      });
    /** `tug get tasks -o json`, parsed (the CLI as a script would use it). */
    const tasks = async (): Promise<Task[]> => {
      let out = '';
      const quiet = {
        stdout: { write: (x: string) => (out += x) },
        stderr: process.stderr,
        stdin: process.stdin,
        env,
      };
      const code = await tugInProcess(['get', 'tasks', '-o', 'json'], quiet);
      if (code !== 0) throw new Error(`tug get tasks exited ${code}`);
      return JSON.parse(out) as Task[];
    };

    await tug(['get', 'nodes']);
    await tug(['apply', '-f', MANIFESTS, '--wait', '--wait-timeout', '2m']);
    await tug(['scale', 'web=5']);
    await waitFor(
      async () =>
        (await tasks()).filter(
          (x) =>
            x.meta.name.startsWith('web.') &&
            x.desiredState === 'running' &&
            x.status.state === 'running',
        ).length === 5,
      { what: 'five web tasks running', timeoutMs: 60_000, intervalMs: 200 },
    );
    await tug(['get', 'services']);
    await tug(['get', 'tasks']);
    // node-agent says "alive on <hostname>" as it starts, then every 10 s.
    await tug(['logs', 'node-agent', '--tail', '3']);
    await tug(['get', 'tasks', '-o', 'wide']);

    say('Where to look:');
    say(`  managers: ${addresses.join(', ')} (data and logs in ${dir}/m1… and manager-N.log)`);
    say(`  agent:    ${agent.stateDir} (container logs under logs/), log in ${dir}/agent.log`);
    say(`  registry: ${registry.host}`);
    say(`  try:      export TUG_MANAGER=${manager}`);
    say('            node build/cli/main.js get tasks -o wide');
    say('            node build/cli/main.js logs web --tail 5');
    say('            node build/cli/main.js scale api=4');
    say('            node build/cli/main.js describe service web');
    if (keep) {
      say('The cluster keeps running; press Ctrl-C to stop it and remove everything.');
      await new Promise<void>((resolve) => {
        controller.signal.addEventListener('abort', () => {
          resolve();
        });
      });
    } else {
      say('All of it is removed when the demo ends; `bash scripts/demo.sh --keep` to look around.');
    }
  } finally {
    const errors = await cleanup.run();
    unhook();
    say(
      errors.length === 0
        ? '\nStopped every process the demo started and removed its containers and files.'
        : `\nCleanup errors: ${errors.map((e) => `${e.message}: ${String(e.cause)}`).join('; ')}`,
    );
    if (errors.length > 0) process.exitCode = 1;
  }
};

run().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
