// `tug manager …` end to end: three managers started by the CLI as real processes (init, two
// joins), listed, one removed, one leaving (its process exits 0 by itself), the last one refusing
// to go and stopping on SIGTERM; plus the verb's usage errors, in-process.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import test from 'ava';
import { waitFor } from '../bench/lib/wait.js';
import { main } from './main.js';

const tug = async (
  argv: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> => {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    stdin: Readable.from([]),
    env,
    now: () => Date.now(),
  });
  return { code, stdout, stderr };
};

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => {
        resolve(typeof a === 'object' && a !== null ? a.port : 0);
      });
    });
  });

interface Proc {
  readonly child: ChildProcess;
  readonly address: () => string | undefined;
  readonly exited: Promise<number | null>;
  readonly output: () => string;
}

/** `tug manager …` as a real process (build/cli/main.js), its address read from stdout. */
const startManager = (args: readonly string[]): Proc => {
  const child = spawn(process.execPath, ['build/cli/main.js', 'manager', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  return {
    child,
    address: () => /serving at (\S+)/.exec(out)?.[1],
    exited,
    output: () => `${out}\n${err}`,
  };
};

test('cli: manager verb usage errors and help', async (t) => {
  const none = await tug(['manager']);
  t.is(none.code, 2);
  t.regex(none.stderr, /expected init, join, run, ls, leave or remove/);
  const bad = await tug(['manager', 'remove', 'abc', '--manager', '127.0.0.1:1']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /not a manager id/);
  const extra = await tug(['manager', 'join']);
  t.is(extra.code, 2);
  const help = await tug(['manager', 'init', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /tug manager join ADDR/);
  t.regex(help.stdout, /--force/);
  const top = await tug(['--help']);
  t.regex(top.stdout, /^ {2}manager +Run a manager/m);
});

test('cli: manager init, join, ls, remove and leave with real processes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tug-cli-manager-'));
  const procs: Proc[] = [];
  t.teardown(async () => {
    for (const p of procs) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
    await rm(dir, { recursive: true, force: true });
  });
  const first = startManager(['init', '--data', join(dir, '1'), '--listen', '127.0.0.1:0']);
  procs.push(first);
  const a1 = await waitFor(first.address, { what: 'manager 1 serving', timeoutMs: 20_000 });
  for (const n of [2, 3]) {
    const port = await freePort();
    const p = startManager([
      'join',
      a1,
      '--data',
      join(dir, String(n)),
      '--listen',
      `127.0.0.1:${port}`,
    ]);
    procs.push(p);
    await waitFor(p.address, { what: `manager ${n} serving`, timeoutMs: 20_000 });
  }
  const [, second, third] = procs as [Proc, Proc, Proc];
  const m = ['--manager', a1];

  // All three become voters, the leader marked, everyone reachable.
  const ls = await waitFor(
    async () => {
      const r = await tug([...m, 'manager', 'ls', '-o', 'json']);
      if (r.code !== 0) return undefined;
      const parsed = JSON.parse(r.stdout) as {
        members: { id: number; role: string; leader: boolean; reachable: boolean | null }[];
      };
      const ms = parsed.members;
      return ms.length === 3 && ms.every((x) => x.role === 'voter' && x.reachable === true)
        ? ms
        : undefined;
    },
    { what: 'three reachable voters', timeoutMs: 20_000 },
  );
  t.is(ls.filter((x) => x.leader).length, 1);
  const table = await tug([...m, 'manager', 'ls']);
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /^ID +ADDRESS +ROLE +LEADER +REACHABLE$/m);
  t.regex(table.stdout, /^1 +127\.0\.0\.1:\d+ +voter +\*? +yes$/m);

  // Remove member 3 (from whichever manager we ask); its process is not told.
  const removed = await tug([...m, 'manager', 'remove', '3']);
  t.is(removed.code, 0, removed.stderr);
  t.is(removed.stdout, 'manager 3 removed\n');
  third.child.kill('SIGTERM');
  t.is(await third.exited, 0, third.output());

  // Member 2 leaves: its process exits 0 by itself.
  const leave = await tug(['--manager', second.address()!, 'manager', 'leave']);
  t.is(leave.code, 0, leave.stderr + second.output());
  t.is(leave.stdout, 'manager 2 left the cluster\n');
  t.is(await second.exited, 0, second.output());

  const after = await tug([...m, 'manager', 'ls', '-o', 'json']);
  t.deepEqual(
    (JSON.parse(after.stdout) as { members: { id: number }[] }).members.map((x) => x.id),
    [1],
  );
  // The last manager refuses to go, even forced; the cluster still answers.
  const last = await tug([...m, 'manager', 'remove', '1', '--force']);
  t.is(last.code, 1);
  t.regex(last.stderr, /last voter/);

  // A manager that left cannot be started again from its data directory.
  const again = await tug(['manager', 'run', '--data', join(dir, '2')]);
  t.is(again.code, 2);
  t.regex(again.stderr, /left the cluster/);

  first.child.kill('SIGTERM');
  t.is(await first.exited, 0, first.output());
});
