// Rotation against a real conmon (root needed, as agent/runtime's tests): a container printing
// numbered lines while conmon's --log-size-max replaces its log about ten times and the agent's
// LogRotator pins each file; a follower must read every number exactly once, in order, and the
// generations on disk must hold them all.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { waitFor } from '../../bench/lib/wait.js';
import { detectCgroups } from '../linux/cgroups.js';
import { buildOciSpec } from '../runtime/oci-spec.js';
import { ContainerRuntime } from '../runtime/runtime.js';
import { makeBusyboxRootfs } from '../runtime/testing/busybox-rootfs.js';
import { followLog, readLog } from './reader.js';
import { LogRotator } from './rotate.js';

const NODE = `lg-${randomBytes(3).toString('hex')}`;

test('LogRotator: conmon replacing its full log loses no line', async (t) => {
  const tmp = await mkdtemp(path.join(tmpdir(), 'tug-logs-conmon-'));
  await chmod(tmp, 0o755);
  const stateDir = path.join(tmp, 'state');
  const rt = new ContainerRuntime({
    stateDir,
    cgroups: await detectCgroups(),
    logSizeMaxBytes: 2000,
  });
  const id = `rot-${randomBytes(2).toString('hex')}`;
  t.teardown(async () => {
    if (existsSync(path.join(stateDir, 'containers'))) {
      for (const c of await readdir(path.join(stateDir, 'containers'))) await rt.remove(c);
    }
    await rm(tmp, { recursive: true, force: true });
  });
  const rootfs = await makeBusyboxRootfs(path.join(tmp, 'rootfs'));
  const out = buildOciSpec({
    container: {
      image: 'busybox',
      command: [
        'sh',
        '-c',
        'i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo "n $i"; usleep 5000; done',
      ],
      env: {},
      readOnlyRootfs: false,
      stopGracePeriodMs: 1000,
    },
    resources: { limits: {}, reservations: {} },
    image: { env: ['PATH=/bin:/sbin:/usr/bin'] },
    rootfs,
    hostname: id,
    cgroupsPath: `/tug/${NODE}/${id}`,
    initPath: '/usr/bin/tini-static',
    user: { uid: 0, gid: 0 },
  });
  if (!out.ok) throw new Error(out.detail);
  const info = await rt.create(id, out.spec);
  const log = info.logPath;
  const ac = new AbortController();
  const seen: string[] = [];
  const following = (async () => {
    for await (const batch of followLog(log, { signal: ac.signal, pollMs: 20 })) {
      seen.push(...batch.map((l) => l.text));
    }
  })();
  const rotator = new LogRotator({ keep: 30, everyMs: 10, logs: () => [log] });
  const rotating = rotator.run(ac.signal);
  await rt.start(id);
  await waitFor(() => rt.exitStatus(id), { what: 'the container to exit', timeoutMs: 30_000 });
  await waitFor(() => seen.length >= 400, { what: 'all 400 lines', timeoutMs: 10_000 });
  ac.abort();
  await following;
  await rotating;
  const want = Array.from({ length: 400 }, (_, i) => `n ${i + 1}`);
  t.deepEqual(seen, want);
  // The generations on disk hold every line too.
  t.true(existsSync(`${log}.5`), 'conmon replaced the file several times');
  t.deepEqual(
    (await readLog(log)).map((l) => l.text),
    want,
  );
  await rt.remove(id);
});
