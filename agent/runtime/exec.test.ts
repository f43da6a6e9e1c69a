// Real containers: `exec` inside a running container (runc under conmon, busybox rootfs), and a
// HealthMonitor driving it. After every test a leak check: no runtime state, cgroups, mounts or
// processes (exec'd or otherwise) left behind. Needs root (CI has it).

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import test from 'ava';

import { waitFor } from '../../bench/lib/wait.js';
import { systemClock } from '../../common/clock.js';
import type { ContainerSpec } from '../../common/model.js';
import { HealthMonitor } from '../health/index.js';
import type { Health } from '../health/index.js';
import { cgroupDirs, detectCgroups } from '../linux/cgroups.js';
import type { CgroupLayout } from '../linux/cgroups.js';
import { RuntimeError, RuntimeErrorCode } from './errors.js';
import { buildOciSpec } from './oci-spec.js';
import type { OciSpec } from './oci-spec.js';
import { ContainerRuntime, RuntimeKind } from './runtime.js';
import { makeBusyboxRootfs } from './testing/busybox-rootfs.js';

const NODE = `ex-${randomBytes(3).toString('hex')}`;
let tmp = '';
let rootfs = '';
let stateDir = '';
let layout: CgroupLayout;
let seq = 0;

test.before(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'tug-exec-'));
  await chmod(tmp, 0o755);
  rootfs = await makeBusyboxRootfs(path.join(tmp, 'rootfs'));
  stateDir = path.join(tmp, 'state');
  layout = await detectCgroups();
});

test.after.always(async () => {
  if (existsSync(path.join(stateDir, 'containers'))) {
    const rt = newRuntime();
    for (const c of await readdir(path.join(stateDir, 'containers'))) await rt.remove(c);
  }
  await rm(tmp, { recursive: true, force: true });
});

const newRuntime = (kind: RuntimeKind = RuntimeKind.Runc): ContainerRuntime =>
  new ContainerRuntime({ stateDir, cgroups: layout, kind, commandTimeoutMs: 10_000 });

function makeSpec(id: string, command: readonly string[]): OciSpec {
  const container: ContainerSpec = {
    image: 'busybox',
    command,
    env: { GREETING: 'hi' },
    readOnlyRootfs: false,
    stopGracePeriodMs: 1_000,
  };
  const out = buildOciSpec({
    container,
    resources: { limits: {}, reservations: {} },
    image: { env: ['PATH=/bin:/sbin:/usr/bin'] },
    rootfs,
    hostname: id,
    cgroupsPath: `/tug/${NODE}/${id}`,
    initPath: '/usr/bin/tini-static',
    user: { uid: 0, gid: 0 },
  });
  if (!out.ok) throw new Error(out.detail);
  return out.spec;
}

const newId = (): string => `x${++seq}-${randomBytes(2).toString('hex')}`;

/** A running container that idles until stopped (the shell traps TERM, so the stop is quick). */
async function idle(rt: ContainerRuntime): Promise<string> {
  const id = newId();
  await rt.create(id, makeSpec(id, ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done']));
  await rt.start(id);
  return id;
}

/** Live (non-zombie) processes whose command line contains `needle`. */
async function processesWith(needle: string): Promise<string[]> {
  const out: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const zombie = stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
      if (!zombie && cmdline.includes(needle)) out.push(`process ${pid}: ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function assertNoLeaks(): Promise<string[]> {
  const leaks: string[] = [];
  for (const sub of ['root', 'containers', 'exits']) {
    const p = path.join(stateDir, sub);
    if (existsSync(p)) for (const e of await readdir(p)) leaks.push(`${sub}/${e}`);
  }
  for (const dir of cgroupDirs(layout, `/tug/${NODE}`)) if (existsSync(dir)) leaks.push(dir);
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of mountinfo.split('\n')) if (line.includes(tmp)) leaks.push(`mount: ${line}`);
  leaks.push(...(await processesWith(stateDir)));
  return leaks;
}

test.afterEach.always(async (t) => {
  t.deepEqual(await assertNoLeaks(), [], 'leak check');
});

test.serial('runtime exec: returns the exit code and the output, in the container', async (t) => {
  const rt = newRuntime();
  const id = await idle(rt);
  const r = await rt.exec(
    id,
    ['sh', '-c', 'echo out $GREETING $(hostname); echo err >&2; exit 3'],
    {
      timeoutMs: 10_000,
    },
  );
  t.is(r.exitCode, 3);
  t.is(r.output, `out hi ${id}\nerr\n`);
  t.deepEqual(await rt.exec(id, ['true'], { timeoutMs: 10_000 }), { exitCode: 0, output: '' });
  // A missing command: the runtime's own failure, non-zero, with its message as the output.
  const missing = await rt.exec(id, ['/no/such/check'], { timeoutMs: 10_000 });
  t.not(missing.exitCode, 0);
  t.regex(missing.output, /^exec failed: .*no such file/i);
  t.log(`missing command: exit code ${missing.exitCode}, ${JSON.stringify(missing.output)}`);
  // Nothing of the execs stays in the container's state dir.
  const files = await readdir(path.join(stateDir, 'containers', id));
  t.deepEqual(
    files.filter((f) => f.startsWith('exec-')),
    [],
  );
  await rt.stop(id, 1_000);
  await rt.remove(id);
});

test.serial('runtime exec: output is cut at maxOutputBytes', async (t) => {
  const rt = newRuntime();
  const id = await idle(rt);
  const r = await rt.exec(
    id,
    ['sh', '-c', 'i=0; while [ $i -lt 500 ]; do echo 0123456789; i=$((i+1)); done'],
    {
      timeoutMs: 10_000,
      maxOutputBytes: 100,
    },
  );
  t.is(r.exitCode, 0);
  t.is(r.output.length, 100);
  await rt.stop(id, 1_000);
  await rt.remove(id);
});

test.serial('runtime exec: a background child holding the output is not waited for', async (t) => {
  const rt = newRuntime();
  const id = await idle(rt);
  // With a pipe this would hang for 100 s; with a file exec returns when sh exits.
  const r = await rt.exec(id, ['sh', '-c', 'sleep 100 & echo started'], { timeoutMs: 20_000 });
  t.deepEqual(r, { exitCode: 0, output: 'started\n' });
  await rt.stop(id, 1_000);
  await rt.remove(id);
});

test.serial('runtime exec: a hanging check times out and leaves no exec process', async (t) => {
  const rt = newRuntime();
  const id = await idle(rt);
  const marker = `hang-${randomBytes(3).toString('hex')}`;
  // An unusual duration, so no other process on the host matches.
  const sleep = `sleep ${1000 + (randomBytes(2).readUInt16BE() % 9000)}`;
  const err = await t.throwsAsync(
    rt.exec(id, ['sh', '-c', `${sleep}; echo ${marker}`], { timeoutMs: 300 }),
    { instanceOf: RuntimeError },
  );
  t.is(err.code, RuntimeErrorCode.Timeout);
  t.notRegex(err.message, /did not exit/);
  // Neither conmon's exec (its argv names the exec's directory) nor the check itself (sh -c …
  // marker) nor its child sleep (killed with the check's process group) is left.
  const execs = path.join(stateDir, 'containers', id, 'exec-');
  const left = async () => [
    ...(await processesWith(execs)),
    ...(await processesWith(marker)),
    ...(await processesWith(sleep)),
  ];
  await waitFor(async () => (await left()).length === 0, {
    what: 'no exec processes',
    timeoutMs: 5_000,
  }).catch(() => undefined);
  t.deepEqual(await left(), []);
  // The container itself still runs and answers.
  t.is((await rt.exec(id, ['true'], { timeoutMs: 10_000 })).exitCode, 0);
  await rt.stop(id, 1_000);
  await rt.remove(id);
});

test.serial('runtime exec: works through crun too', async (t) => {
  const rt = newRuntime(RuntimeKind.Crun);
  const id = await idle(rt);
  t.deepEqual(await rt.exec(id, ['sh', '-c', 'echo $GREETING; exit 4'], { timeoutMs: 10_000 }), {
    exitCode: 4,
    output: 'hi\n',
  });
  await rt.stop(id, 1_000);
  await rt.remove(id);
});

test.serial(
  'health: test -f /tmp/ok goes healthy once created, unhealthy once removed',
  async (t) => {
    const rt = newRuntime();
    const id = await idle(rt);
    const seen: { health: Health; detail: string }[] = [];
    const monitor = new HealthMonitor({
      check: {
        command: ['sh', '-c', 'test -f /tmp/ok && echo ok || { echo missing; exit 1; }'],
        intervalMs: 100,
        timeoutMs: 5_000,
        retries: 2,
        // Failures before the file exists must not count, however slow the touch below is.
        startPeriodMs: 60_000,
      },
      exec: (argv, timeoutMs) => rt.exec(id, argv, { timeoutMs }),
      clock: systemClock,
      onChange: (health, detail) => {
        seen.push({ health, detail });
      },
    });
    monitor.start();
    try {
      await rt.exec(id, ['touch', '/tmp/ok'], { timeoutMs: 10_000 });
      await waitFor(() => seen.find((s) => s.health === 'healthy'), {
        what: 'healthy',
        timeoutMs: 20_000,
      });
      await rt.exec(id, ['rm', '/tmp/ok'], { timeoutMs: 10_000 });
      const bad = await waitFor(() => seen.find((s) => s.health === 'unhealthy'), {
        what: 'unhealthy',
        timeoutMs: 20_000,
      });
      t.is(bad.detail, 'missing');
      t.is(seen[0]?.health, 'starting');
      t.deepEqual(
        seen.map((s) => s.health),
        ['starting', 'healthy', 'unhealthy'],
      );
    } finally {
      monitor.stop();
      await monitor.whenIdle();
    }
    await rt.stop(id, 1_000);
    await rt.remove(id);
  },
);
