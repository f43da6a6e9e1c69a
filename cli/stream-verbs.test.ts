// `apply --wait`, `diff`, `get -w` and `events` against a real ControlServer over gRPC on
// loopback, backed by a store with no orchestrator or agents: the test writes tasks and their
// states itself, as the orchestrator, scheduler and agents would.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import test, { type ExecutionContext } from 'ava';
import { waitFor } from '../bench/lib/wait.js';
import type { TaskState, Service, Task } from '../common/model.js';
import { ControlServer } from '../manager/controlapi/control-server.js';
import { MemoryStore, StoreWriter } from '../manager/store/index.js';
import { FakeProposer, makeTask } from '../manager/store/test-fixtures.js';
import * as pb from '../proto/gen/control.js';
import { main } from './main.js';

interface Running {
  readonly done: Promise<number>;
  readonly out: () => string;
  readonly err: () => string;
  readonly stop: () => void;
}

const setup = async (t: ExecutionContext) => {
  const store = new MemoryStore();
  const writer = new StoreWriter({ proposer: new FakeProposer(store), now: Date.now });
  let n = 0;
  const control = new ControlServer({
    store,
    writer,
    now: Date.now,
    newId: () => `id${String(++n).padStart(4, '0')}`,
  });
  const server = new Server();
  server.addService(pb.ControlServiceService, control.handlers());
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => {
      if (err !== null) reject(err);
      else resolve(p);
    });
  });
  const dir = await mkdtemp(join(tmpdir(), 'tug-cli-stream-'));
  t.teardown(async () => {
    server.forceShutdown();
    await rm(dir, { recursive: true, force: true });
  });
  const env = { HOME: dir, TUG_MANAGER: `127.0.0.1:${port}` };
  /** Starts the CLI; `stop` interrupts it as Ctrl-C would. */
  const start = (argv: readonly string[], stdin = ''): Running => {
    let stdout = '';
    let stderr = '';
    const ac = new AbortController();
    const done = main(argv, {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      stdin: Readable.from([stdin]),
      env,
      signal: ac.signal,
    });
    return {
      done,
      out: () => stdout,
      err: () => stderr,
      stop: () => {
        ac.abort();
      },
    };
  };
  const tug = async (argv: readonly string[], stdin = '') => {
    const r = start(argv, stdin);
    const code = await r.done;
    return { code, stdout: r.out(), stderr: r.err() };
  };
  const service = (name: string): Service | undefined => store.find('service', { name })[0];
  /** Writes tasks as the orchestrator would (create) or an agent would (update). */
  const put = async (tasks: readonly Task[]): Promise<void> => {
    const tx = tasks.map((x) => {
      const prev = store.get('task', x.meta.id);
      return prev === undefined
        ? ({ op: 'create', kind: 'task', object: x } as const)
        : ({
            op: 'update',
            kind: 'task',
            object: { ...x, meta: { ...x.meta, version: prev.meta.version } },
          } as const);
    });
    const o = await writer.submit(tx);
    if (!o.ok) throw new Error(o.message);
  };
  const file = async (name: string, text: string): Promise<string> => {
    const p = join(dir, name);
    await writeFile(p, text);
    return p;
  };
  return { store, start, tug, service, put, file };
};

const webYaml = (replicas: number, image = 'nginx:1'): string =>
  `apiVersion: tug/v1\nkind: Service\nmetadata: { name: web }\nspec:\n  image: ${image}\n  replicas: ${replicas}\n`;

const taskOf = (
  s: Service,
  id: string,
  slot: number,
  state: TaskState,
  message = '',
  exitCode?: number,
): Task => {
  const t = makeTask(id, s.meta.id, { slot, state });
  return {
    ...t,
    specVersion: s.specVersion,
    status: {
      state,
      message,
      timestamp: Date.now(),
      ...(exitCode === undefined ? {} : { exitCode }),
    },
  };
};

const until = (what: string, probe: () => boolean) =>
  waitFor(() => probe(), { what, timeoutMs: 10_000, intervalMs: 20 });

test('cli: apply --wait shows progress from the watch and exits 0 once converged', async (t) => {
  const c = await setup(t);
  const path = await c.file('web.yaml', webYaml(2));
  const run = c.start(['apply', '-f', path, '--wait']);
  await until('web created', () => c.service('web') !== undefined);
  const s = c.service('web')!;
  await c.put([
    taskOf(s, 'a', 1, 'pending', 'no node has 2 CPUs free'),
    taskOf(s, 'b', 2, 'pending', 'no node has 2 CPUs free'),
  ]);
  await until('a pending line', () =>
    run.out().includes('web 0/2 running, 2 pending: no node has 2 CPUs free\n'),
  );
  await c.put([taskOf(s, 'a', 1, 'running')]);
  await until('one running', () => run.out().includes('web 1/2 running, 1 pending'));
  await c.put([taskOf(s, 'b', 2, 'running')]);
  t.is(await run.done, 0, run.err());
  t.regex(run.out(), /^service\/web created$/m);
  t.regex(run.out(), /^web 2\/2 running: converged$/m);
});

test('cli: apply --wait exits 4 when a slot keeps failing, 5 on timeout with the pending reason', async (t) => {
  const c = await setup(t);
  const path = await c.file('web.yaml', webYaml(1));
  const run = c.start(['apply', '-f', path, '--wait']);
  await until('web created', () => c.service('web') !== undefined);
  const s = c.service('web')!;
  // One at a time, as an agent would report them: the verdict comes from the watch.
  for (const id of ['f1', 'f2', 'f3']) {
    await c.put([taskOf(s, id, 1, 'failed', 'exit status 1', 1)]);
    if (id !== 'f3') await until(`${id} seen`, () => run.out().includes('web 0/1 running'));
  }
  t.is(await run.done, 4, run.out());
  t.regex(
    run.out(),
    /^web failed: task \S+ failed 3 times, last failed \(exit code 1\): exit status 1$/m,
  );
  t.regex(run.err(), /^error: web failed$/m);

  // A new spec: older failures do not count; nothing gets placed before the deadline.
  const path2 = await c.file('web2.yaml', webYaml(1, 'nginx:2'));
  const slow = c.start(['apply', '-f', path2, '--wait', '--wait-timeout', '1s']);
  await until('web updated', () => c.service('web')?.specVersion === 2);
  await c.put([
    taskOf(c.service('web')!, 'p1', 1, 'pending', 'no node satisfies node.labels.zone == a'),
  ]);
  t.is(await slow.done, 5, slow.out());
  t.regex(slow.out(), /^web 0\/1 running, 1 pending: no node satisfies node\.labels\.zone == a$/m);
  t.regex(slow.err(), /^error: timed out after 1s waiting for web$/m);

  const usage = await c.tug(['apply', '-f', path, '--wait', '--dry-run']);
  t.is(usage.code, 2);
});

test('cli: diff shows a unified diff per changed object, exit 0 same, 1 differs, 6 error', async (t) => {
  const c = await setup(t);
  const path = await c.file('web.yaml', webYaml(2));
  const fresh = await c.tug(['diff', '-f', path]);
  t.is(fresh.code, 1, fresh.stderr);
  t.regex(
    fresh.stdout,
    /^--- \/dev\/null\n\+\+\+ service\/web \(.*web\.yaml\)\n@@ -0,0 \+1,\d+ @@\n/,
  );
  t.is((await c.tug(['apply', '-f', path])).code, 0);
  const same = await c.tug(['diff', '-f', path]);
  t.is(same.code, 0, same.stderr);
  t.is(same.stdout, '');
  const scaled = await c.file('web3.yaml', webYaml(3));
  const d = await c.tug(['diff', '-f', scaled]);
  t.is(d.code, 1, d.stderr);
  t.regex(d.stdout, /^--- service\/web \(cluster\)$/m);
  t.regex(d.stdout, /^- {2}replicas: 2$/m);
  t.regex(d.stdout, /^\+ {2}replicas: 3$/m);
  // Invalid input is exit 6 for diff (1 means "differences" there).
  const bad = await c.file(
    'bad.yaml',
    'apiVersion: tug/v1\nkind: Service\nmetadata: { name: x }\nspec: { replicas: 1 }\n',
  );
  t.is((await c.tug(['diff', '-f', bad])).code, 6);
});

test('cli: events streams writes, filters by kind and resumes with --since', async (t) => {
  const c = await setup(t);
  const run = c.start(['events', '--kind', 'services']);
  await until('the header', () => run.out().startsWith('VERSION'));
  const path = await c.file('web.yaml', webYaml(2));
  t.is((await c.tug(['apply', '-f', path])).code, 0);
  const s = c.service('web')!;
  await c.put([taskOf(s, 'a', 1, 'running')]);
  t.is((await c.tug(['scale', 'web=4'])).code, 0);
  await until('the scale event', () => run.out().includes('replicas=4'));
  run.stop();
  t.is(await run.done, 0, run.err());
  const lines = run.out().trimEnd().split('\n');
  t.regex(
    lines[1]!,
    /^\d+ +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +service +create +web +spec=1 replicas=2 image=nginx:1$/,
  );
  t.regex(lines[2]!, /^\d+ +\S+ +service +update +web +spec=1 replicas=4 /);
  t.false(run.out().includes('task'), 'tasks were filtered out');

  // Resuming after the create's version replays what followed, tasks included, as JSON.
  const createdAt = Number(lines[1]!.split(/ +/)[0]);
  const again = c.start(['events', '--since', String(createdAt), '-o', 'json']);
  await until('the replay', () => again.out().includes('"replicas":4'));
  again.stop();
  t.is(await again.done, 0);
  const kinds = again
    .out()
    .trimEnd()
    .split('\n')
    .map((l) => (JSON.parse(l) as { kind: string }).kind);
  t.deepEqual(kinds, ['task', 'service']);
  t.is((await c.tug(['events', '--since', 'yesterday'])).code, 2);
});

test('cli: get -w prints the table, then rows that change', async (t) => {
  const c = await setup(t);
  const path = await c.file('web.yaml', webYaml(1));
  t.is((await c.tug(['apply', '-f', path])).code, 0);
  const s = c.service('web')!;
  await c.put([taskOf(s, 'a', 1, 'pending', 'waiting for a node')]);
  const run = c.start(['get', 'tasks', '-w']);
  await until('the table', () => /^NAME +SERVICE/.test(run.out()));
  t.regex(run.out(), /^\S+ +web +1 +- +running +pending +\S+ +waiting for a node$/m);
  await c.put([taskOf(s, 'a', 1, 'running')]);
  await until('the changed row', () => / running +running /.test(run.out()));
  run.stop();
  t.is(await run.done, 0, run.err());
  // Header, first row, changed row: nothing printed twice.
  t.is(run.out().trimEnd().split('\n').length, 3, run.out());

  const svc = c.start(['get', 'services', '-w']);
  await until('the services table', () => /^web +replicated +1\/1 /m.test(svc.out()));
  svc.stop();
  t.is(await svc.done, 0);
});

test('cli: --help on the new verbs', async (t) => {
  const c = await setup(t);
  for (const [verb, flag] of [
    ['apply', '--wait-timeout'],
    ['diff', '--file'],
    ['get', '--watch'],
    ['events', '--since'],
  ] as const) {
    const r = await c.tug([verb, '--help']);
    t.is(r.code, 0);
    t.regex(r.stdout, new RegExp(`^Usage: tug ${verb} `));
    t.true(r.stdout.includes(flag), `${verb} --help names ${flag}`);
  }
});
