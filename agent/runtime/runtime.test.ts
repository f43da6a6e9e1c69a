// Real containers: runc (and crun) under conmon, on this host's cgroups, from a busybox rootfs.
// After every test a leak check: no runtime state, cgroup directories, mounts, monitors or state
// files left behind. Needs root (CI has it).

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { waitFor } from '../../bench/lib/wait.js';
import type { ContainerSpec, Resources } from '../../common/model.js';
import { cgroupDirs, detectCgroups, removeCgroup } from '../linux/cgroups.js';
import type { CgroupLayout } from '../linux/cgroups.js';
import { logLines } from './log.js';
import { buildOciSpec } from './oci-spec.js';
import type { BindMount, OciSpec } from './oci-spec.js';
import { ContainerRuntime, ContainerStatus, RuntimeKind } from './runtime.js';
import { makeBusyboxRootfs } from './testing/busybox-rootfs.js';

const run = promisify(execFile);

const NODE = `rt-${randomBytes(3).toString('hex')}`;
let tmp = '';
let rootfs = '';
let stateDir = '';
let layout: CgroupLayout;
let seq = 0;

test.before(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'tug-runtime-'));
  // A user-namespaced root must be able to walk to its rootfs.
  await chmod(tmp, 0o755);
  rootfs = await makeBusyboxRootfs(path.join(tmp, 'rootfs'));
  stateDir = path.join(tmp, 'state');
  layout = await detectCgroups();
});

test.after.always(async () => {
  // A failed test may leave a container: take everything away so nothing outlives the file.
  if (existsSync(path.join(stateDir, 'containers'))) {
    const rt = newRuntime();
    for (const c of await readdir(path.join(stateDir, 'containers'))) await rt.remove(c);
  }
  await rm(tmp, { recursive: true, force: true });
});

const newRuntime = (kind: RuntimeKind = RuntimeKind.Runc): ContainerRuntime =>
  new ContainerRuntime({ stateDir, cgroups: layout, kind });

interface SpecOptions {
  readonly resources?: Resources;
  readonly readOnlyRootfs?: boolean;
  readonly binds?: readonly BindMount[];
  readonly userNamespace?: { hostUid: number; hostGid: number; size: number };
}

function makeSpec(id: string, command: readonly string[], o: SpecOptions = {}): OciSpec {
  const container: ContainerSpec = {
    image: 'busybox',
    command,
    env: { GREETING: 'hi' },
    readOnlyRootfs: o.readOnlyRootfs ?? false,
    stopGracePeriodMs: 10_000,
  };
  const out = buildOciSpec({
    container,
    resources: { limits: o.resources ?? {}, reservations: {} },
    image: { env: ['PATH=/bin:/sbin:/usr/bin'] },
    rootfs,
    hostname: id,
    cgroupsPath: `/tug/${NODE}/${id}`,
    initPath: '/usr/bin/tini-static',
    user: { uid: 0, gid: 0 },
    ...(o.binds === undefined ? {} : { binds: o.binds }),
    ...(o.userNamespace === undefined ? {} : { userNamespace: o.userNamespace }),
  });
  if (!out.ok) throw new Error(out.detail);
  return out.spec;
}

const newId = (): string => `c${++seq}-${randomBytes(2).toString('hex')}`;

async function runToExit(rt: ContainerRuntime, id: string, spec: OciSpec) {
  await rt.create(id, spec);
  await rt.start(id);
  return waitFor(() => rt.exitStatus(id), { what: `${id} to exit`, timeoutMs: 20_000 });
}

async function logOf(rt: ContainerRuntime, id: string): Promise<string[]> {
  const info = await rt.state(id);
  const text = existsSync(info.logPath) ? await readFile(info.logPath, 'utf8') : '';
  return logLines(text).map((l) => l.text);
}

const waitForLog = (rt: ContainerRuntime, id: string, line: string) =>
  waitFor(async () => (await logOf(rt, id)).includes(line), {
    what: `"${line}" in ${id}'s log`,
    timeoutMs: 20_000,
  });

/** Nothing of this test file's node may remain: runtime state, cgroups, mounts, processes. */
async function assertNoLeaks(): Promise<string[]> {
  const leaks: string[] = [];
  for (const sub of ['root', 'containers', 'exits']) {
    const p = path.join(stateDir, sub);
    if (existsSync(p)) for (const e of await readdir(p)) leaks.push(`${sub}/${e}`);
  }
  for (const dir of cgroupDirs(layout, `/tug/${NODE}`)) if (existsSync(dir)) leaks.push(dir);
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of mountinfo.split('\n')) if (line.includes(tmp)) leaks.push(`mount: ${line}`);
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const zombie = stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
      if (!zombie && cmdline.includes(stateDir)) leaks.push(`process ${pid}: ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return leaks;
}

test.afterEach.always(async (t) => {
  t.deepEqual(await assertNoLeaks(), [], 'leak check');
});

test.serial('runtime: echo hello exits 0 and its output is in the log', async (t) => {
  const rt = newRuntime();
  const id = newId();
  const t0 = performance.now();
  await rt.create(id, makeSpec(id, ['sh', '-c', 'echo hello; echo $GREETING $HOSTNAME >&2']));
  await rt.start(id);
  t.log(`create+start through conmon: ${(performance.now() - t0).toFixed(0)} ms`);
  const st = await waitFor(() => rt.exitStatus(id), { what: 'exit', timeoutMs: 20_000 });
  t.deepEqual(st, { exitCode: 0, oomKilled: false });
  const lines = await logOf(rt, id);
  t.true(lines.includes('hello'));
  t.true(lines.includes(`hi ${id}`));
  await rt.remove(id);
});

test.serial('runtime: a non-zero exit code is recorded', async (t) => {
  const rt = newRuntime();
  const id = newId();
  t.deepEqual(await runToExit(rt, id, makeSpec(id, ['sh', '-c', 'exit 3'])), {
    exitCode: 3,
    oomKilled: false,
  });
  t.is((await rt.state(id)).status, ContainerStatus.Stopped);
  await rt.remove(id);
});

test.serial('runtime: SIGTERM reaches the app through tini, before the grace ends', async (t) => {
  const rt = newRuntime();
  const id = newId();
  const script = 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done';
  await rt.create(id, makeSpec(id, ['sh', '-c', script]));
  await rt.start(id);
  await waitForLog(rt, id, 'ready');
  t.is((await rt.state(id)).status, ContainerStatus.Running);
  // A 7 (not 137) proves the app's handler ran: SIGKILL would have come only after 60 s.
  t.deepEqual(await rt.stop(id, 60_000), { exitCode: 7, oomKilled: false });
  t.true((await logOf(rt, id)).includes('got-term'));
  await rt.remove(id);
});

test.serial('runtime: an app ignoring SIGTERM is SIGKILLed after the grace', async (t) => {
  const rt = newRuntime();
  const id = newId();
  await rt.create(
    id,
    makeSpec(id, ['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 0.05; done']),
  );
  await rt.start(id);
  await waitForLog(rt, id, 'ready');
  t.deepEqual(await rt.stop(id, 300), { exitCode: 137, oomKilled: false });
  await rt.remove(id);
});

test.serial('runtime: a memory hog over its limit is OOM-killed and reported', async (t) => {
  const rt = newRuntime();
  const id = newId();
  const spec = makeSpec(id, ['sh', '-c', 'x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done'], {
    resources: { memoryBytes: 16 * 1024 * 1024 },
  });
  const st = await runToExit(rt, id, spec);
  t.true(st.oomKilled);
  t.not(st.exitCode, 0);
  t.true(((await rt.stats(id)).oomKills ?? 0) >= 1);
  t.log(`conmon saw the OOM itself: ${existsSync(path.join(stateDir, 'containers', id, 'oom'))}`);
  await rt.remove(id);
});

test.serial('runtime: the pids limit holds', async (t) => {
  const rt = newRuntime();
  const id = newId();
  // busybox sh gives up when fork fails: the loop must not get to the end.
  const script = 'for i in $(seq 30); do sleep 60 & done; echo spawned-all';
  const st = await runToExit(
    rt,
    id,
    makeSpec(id, ['sh', '-c', script], { resources: { pids: 8 } }),
  );
  t.not(st.exitCode, 0);
  const lines = await logOf(rt, id);
  t.false(lines.includes('spawned-all'));
  t.true(
    lines.some((l) => /fork/i.test(l)),
    lines.join('|'),
  );
  t.is((await rt.stats(id)).pidsLimit, 8);
  await rt.remove(id);
});

test.serial('runtime: stats come from the cgroup and the limits are set', async (t) => {
  const rt = newRuntime();
  const id = newId();
  const spec = makeSpec(id, ['sh', '-c', 'echo ready; while :; do :; done'], {
    resources: { memoryBytes: 64 * 1024 * 1024, cpus: 0.5, pids: 50 },
  });
  await rt.create(id, spec);
  await rt.start(id);
  await waitForLog(rt, id, 'ready');
  const stats = await waitFor(
    async () => {
      const s = await rt.stats(id);
      return (s.cpuSeconds ?? 0) > 0.01 && s;
    },
    { what: 'CPU time to accrue', timeoutMs: 20_000 },
  );
  t.is(stats.memoryLimitBytes, 64 * 1024 * 1024);
  t.is(stats.pidsLimit, 50);
  t.true((stats.memoryBytes ?? 0) > 0);
  t.true((stats.pids ?? 0) >= 2);
  t.is(stats.oomKills, 0);
  const cpuRoot = layout.v1.get('cpu');
  if (cpuRoot !== undefined) {
    const quota = await readFile(path.join(cpuRoot, `/tug/${NODE}/${id}/cpu.cfs_quota_us`), 'utf8');
    t.is(quota.trim(), '50000');
  }
  t.is((await rt.stop(id, 5_000)).exitCode, 143);
  await rt.remove(id);
});

test.serial('runtime: a container outlives the runtime object and is re-adopted', async (t) => {
  const first = newRuntime();
  const id = newId();
  await first.create(id, makeSpec(id, ['sleep', '600']));
  await first.start(id);
  // Nothing in memory carries over: a second instance sees only the state directory.
  const second = newRuntime();
  const listed = await second.list();
  t.deepEqual(
    listed.map((c) => [c.id, c.status]),
    [[id, ContainerStatus.Running]],
  );
  t.true((listed[0]?.pid ?? 0) > 0);
  t.deepEqual(await second.stop(id, 5_000), { exitCode: 143, oomKilled: false });
  await second.remove(id);
  t.deepEqual(await second.list(), []);
});

test.serial('runtime: read-only rootfs refuses writes; bind mounts reach the host', async (t) => {
  const rt = newRuntime();
  const data = path.join(tmp, `data-${newId()}`);
  await mkdir(data);
  const id = newId();
  const spec = makeSpec(
    id,
    [
      'sh',
      '-c',
      'touch /x 2>/dev/null && exit 1; echo in-bind > /data/out; echo tmp > /dev/shm/ok',
    ],
    { readOnlyRootfs: true, binds: [{ source: data, destination: '/data', readOnly: false }] },
  );
  t.is((await runToExit(rt, id, spec)).exitCode, 0);
  t.is(await readFile(path.join(data, 'out'), 'utf8'), 'in-bind\n');
  await rt.remove(id);
});

test.serial(
  'runtime: user namespace maps container root to an unprivileged host range',
  async (t) => {
    const rt = newRuntime();
    const id = newId();
    const spec = makeSpec(id, ['sh', '-c', 'cat /proc/self/uid_map; id -u'], {
      userNamespace: { hostUid: 200_000, hostGid: 200_000, size: 65_536 },
    });
    t.is((await runToExit(rt, id, spec)).exitCode, 0);
    const lines = (await logOf(rt, id)).map((l) => l.trim().split(/\s+/).join(' '));
    t.true(lines.includes('0 200000 65536'), lines.join('|'));
    t.true(lines.includes('0'));
    await rt.remove(id);
  },
);

test.serial('runtime: crun is selectable', async (t) => {
  const rt = newRuntime(RuntimeKind.Crun);
  const id = newId();
  t.deepEqual(await runToExit(rt, id, makeSpec(id, ['sh', '-c', 'echo from-crun; exit 4'])), {
    exitCode: 4,
    oomKilled: false,
  });
  t.true((await logOf(rt, id)).includes('from-crun'));
  await rt.remove(id);
});

test.serial('runtime: bare runc create+start for comparison (latency logged)', async (t) => {
  const id = newId();
  const bundle = path.join(tmp, `bare-${id}`);
  await mkdir(bundle);
  await writeFile(path.join(bundle, 'config.json'), JSON.stringify(makeSpec(id, ['true'])));
  const root = path.join(tmp, 'bare-root');
  const t0 = performance.now();
  // Detached runc hands its stdio to the container: give it nothing to hold open.
  await run('sh', [
    '-c',
    `runc --root ${root} run -d -b ${bundle} ${id} </dev/null >/dev/null 2>&1`,
  ]);
  t.log(`bare runc run -d: ${(performance.now() - t0).toFixed(0)} ms`);
  await waitFor(
    async () => {
      const { stdout } = await run('runc', ['--root', root, 'state', id]);
      return (JSON.parse(stdout) as { status: string }).status === 'stopped';
    },
    { what: 'bare container to stop', timeoutMs: 20_000 },
  );
  await run('runc', ['--root', root, 'delete', id]);
  await removeCgroup(layout, `/tug/${NODE}/${id}`, '');
  t.pass();
});
