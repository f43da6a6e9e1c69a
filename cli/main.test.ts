// The whole CLI in-process against one in-process manager (real Raft WAL, real gRPC on loopback,
// no agents): apply, get, scale, describe, rm, and each exit code.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import test from 'ava';
import { parse } from 'yaml';
import { waitFor } from '../bench/lib/wait.js';
import type { Service, Task } from '../common/model.js';
import { Manager } from '../manager/manager.js';
import { memberId } from '../manager/raft/core/index.js';
import { resolveManager } from './config.js';
import { main } from './main.js';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const runner =
  (env: Record<string, string>) =>
  async (argv: readonly string[], stdin = ''): Promise<Run> => {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      stdin: Readable.from([stdin]),
      env,
    });
    return { code, stdout, stderr };
  };

test('cli: apply, get, scale, describe and rm against a manager, with each exit code', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tug-cli-'));
  const id = memberId(1);
  const manager = await Manager.start({
    id,
    dataDir: join(dir, 'data'),
    clusterId: 'test',
    listen: '127.0.0.1:0',
    bootstrap: [id],
    tickMs: 20,
  });
  t.teardown(async () => {
    await manager.stop();
    await rm(dir, { recursive: true, force: true });
  });
  manager.run();
  await waitFor(() => manager.raft.status().role === 'leader', {
    what: 'a leader',
    timeoutMs: 10_000,
  });
  // HOME points at an empty dir so no real config file is read; the address comes from the env.
  const tug = runner({ HOME: dir, TUG_MANAGER: manager.address });

  const applied = await tug(['apply', '-f', 'manifests']);
  t.is(applied.code, 0, applied.stderr);
  t.regex(applied.stdout, /^service\/web created$/m);
  t.regex(applied.stdout, /^network\/backend created$/m);
  const again = await tug(['apply', '-f', 'manifests', '--dry-run']);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /^service\/web unchanged \(dry run\)$/m);

  const listed = await tug(['get', 'services', '-o', 'json']);
  t.is(listed.code, 0, listed.stderr);
  const services = JSON.parse(listed.stdout) as Service[];
  // manifests/ grows with examples: check the ones this test relies on.
  const names = services.map((s) => s.meta.name);
  for (const n of ['api', 'node-agent', 'queue-worker', 'web']) t.true(names.includes(n), n);

  const scaled = await tug(['scale', 'web=5']);
  t.is(scaled.code, 0, scaled.stderr);
  t.is(scaled.stdout, 'service/web scaled to 5\n');

  // The orchestrator makes the tasks; with no agents the scheduler says why they wait.
  const webTasks = async (): Promise<Task[]> => {
    const r = await tug(['get', 'tasks', '--service', 'web', '-o', 'yaml']);
    return (parse(r.stdout) as Task[]).filter((x) => x.desiredState === 'running');
  };
  const tasks = await waitFor(
    async () => {
      const ts = await webTasks();
      return ts.length === 5 && ts.every((x) => x.status.message !== '') && ts;
    },
    { what: 'five pending web tasks with a reason', timeoutMs: 10_000 },
  );
  const table = await tug(['get', 'tasks']);
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /^NAME +SERVICE +SLOT +NODE +DESIRED +STATE +AGE +MESSAGE$/m);
  t.regex(table.stdout, /^web\.\S+ +web +[1-5] +- +running +pending /m);

  const described = await tug(['describe', 'task', tasks[0]!.meta.name]);
  t.is(described.code, 0, described.stderr);
  t.regex(described.stdout, /^Service: +web$/m);
  t.regex(described.stdout, /^Pending because: +\S/m);
  t.true(described.stdout.includes(tasks[0]!.status.message));

  const svc = await tug(['describe', 'service', 'web']);
  t.is(svc.code, 0, svc.stderr);
  t.regex(svc.stdout, /^Mode: +replicated, 5 replicas$/m);
  t.regex(
    svc.stdout,
    /^Update: +parallelism \d+, (stop|start)-first, on failure (pause|continue), monitor \d+ms/m,
  );
  // No agents here: nothing was rolled out, so there is no rollout to report.
  t.regex(svc.stdout, /^Rollout: +-$/m);

  // A bad manifest: located, exit 1, nothing sent.
  const bad = join(dir, 'bad.yaml');
  await writeFile(
    bad,
    'apiVersion: tug/v1\nkind: Service\nmetadata: { name: bad }\nspec:\n  image: x\n  replicas: many\n',
  );
  const invalid = await tug(['apply', '-f', bad]);
  t.is(invalid.code, 1);
  t.regex(
    invalid.stderr,
    new RegExp(`^${bad.replaceAll('.', '\\.')}:6:\\d+: spec\\.replicas: `, 'm'),
  );
  t.is((await tug(['get', 'service', 'bad'])).code, 1);

  // Manifests from stdin work too.
  const piped = await tug(
    ['apply', '-f', '-'],
    'apiVersion: tug/v1\nkind: Service\nmetadata: { name: solo }\nspec: { image: busybox, networks: [front] }\n',
  );
  t.is(piped.code, 0, piped.stderr);
  t.is(piped.stdout, 'service/solo created\n');

  const removed = await tug(['rm', 'service', 'web']);
  t.is(removed.code, 0, removed.stderr);
  t.is(removed.stdout, 'service/web removed\n');
  const gone = await tug(['get', 'service', 'web']);
  t.is(gone.code, 1);
  t.regex(gone.stderr, /web/);

  const usage = await tug(['get', 'services', '--colour']);
  t.is(usage.code, 2);
  t.regex(usage.stderr, /unknown flag --colour for tug get/);
  t.is((await tug(['frobnicate'])).code, 2);
  t.is((await tug(['scale', 'web=lots'])).code, 2);

  const help = await tug(['get', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /^Usage: tug get /);
  t.regex((await tug(['--help'])).stdout, /Exit codes/);
});

test('cli: no manager listening is exit 3', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tug-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const tug = runner({ HOME: dir });
  // Port 1 on loopback: nothing listens there, so the connection is refused.
  const r = await tug(['--manager', '127.0.0.1:1', '--timeout', '1s', 'get', 'nodes']);
  t.is(r.code, 3);
  t.regex(r.stderr, /cannot reach a manager at 127\.0\.0\.1:1/);
});

test('cli: the manager address comes from the flag, else TUG_MANAGER, else the config file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tug-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await t.throwsAsync(resolveManager(undefined, { HOME: dir }), { message: /no manager address/ });
  await mkdir(join(dir, '.config', 'tug'), { recursive: true });
  await writeFile(join(dir, '.config', 'tug', 'config.yaml'), 'manager: file:1\n');
  t.is(await resolveManager(undefined, { HOME: dir }), 'file:1');
  t.is(await resolveManager(undefined, { HOME: dir, TUG_MANAGER: 'env:2' }), 'env:2');
  t.is(await resolveManager('flag:3', { HOME: dir, TUG_MANAGER: 'env:2' }), 'flag:3');
  // No address at all is a usage error.
  t.is((await runner({ HOME: join(dir, 'nowhere') })(['get', 'nodes'])).code, 2);
});
