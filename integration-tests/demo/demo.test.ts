// The README's demo must stay true: run both parts as the README does (built JS, real processes)
// and check what they claim to show, and that part two (real containers) leaves nothing behind:
// no process, mount, cgroup or file of its own. Needs root.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import test from 'ava';

import { cgroupDirs, detectCgroups } from '../../agent/linux/cgroups.js';

const run = (script: string): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      [fileURLToPath(new URL(script, import.meta.url))],
      { timeout: 120_000, killSignal: 'SIGTERM' },
      (err, stdout, stderr) => {
        resolve({
          code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1,
          stdout,
          stderr,
        });
      },
    );
  });

test('demo: part one shows a write surviving a SIGKILLed leader', async (t) => {
  const r = await run('./raft-kv-demo.js');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /A new leader, member \d+/);
  t.regex(r.stdout, /"hello from tug" — the write survived/);
  t.regex(r.stdout, /restarted from its WAL and caught up; it reads "hello from tug"/);
  t.regex(r.stdout, /Stopped every process the demo started and removed its files/);
});

test('demo: part two runs the example manifests in real containers and leaves nothing behind', async (t) => {
  const r = await run('./control-plane-demo.js');
  t.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
  t.regex(r.stdout, /^demo-node\s+worker\s+active\s+ready/m);
  for (const s of ['web', 'api', 'queue-worker', 'zoned', 'node-agent'])
    t.regex(r.stdout, new RegExp(`^service/${s} created`, 'm'));
  t.regex(r.stdout, /^web 3\/3 running: converged/m);
  t.regex(r.stdout, /service\/web scaled to 5/);
  t.regex(r.stdout, /^web\s+replicated\s+5\/5\s+registry\.local:5000\/tug\/busybox:latest/m);
  const webTasks = r.stdout
    .split('\n')
    .filter((l) => /^web\.\d+\.\S+\s+web\s+\d+\s+demo-node\s+running\s+running/.test(l));
  t.is(webTasks.length, 5 * 2, 'five in `get tasks`, five again in `get tasks -o wide`');
  t.regex(r.stdout, /^node-agent\.\S+@demo-node \| alive on \w+/m);
  t.regex(r.stdout, /Stopped every process the demo started and removed its containers and files/);

  // The leak-free end: nothing of the demo's is left, whatever it printed.
  const dir = /^Data dir: (\S+)$/m.exec(r.stdout)?.[1];
  const registryDir = /storage in (\S+)\)$/m.exec(r.stdout)?.[1];
  const node = /^Agent: node (\S+) /m.exec(r.stdout)?.[1];
  if (dir === undefined || registryDir === undefined || node === undefined) {
    t.fail(`the demo did not say where its files are:\n${r.stdout}`);
    return;
  }
  t.false(existsSync(dir), dir);
  t.false(existsSync(registryDir), registryDir);
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .filter((l) => l.includes(dir));
  t.deepEqual(mounts, []);
  const cgroups = cgroupDirs(await detectCgroups(), `/tug/${node}`).filter((d) => existsSync(d));
  t.deepEqual(cgroups, []);
  t.deepEqual(await processesMentioning([dir, registryDir]), []);
});

/** Live processes whose command line names one of `paths` (conmon, runc, managers, registry…). */
async function processesMentioning(paths: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && paths.some((p) => cmdline.includes(p))) found.push(`${pid}: ${cmdline}`);
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}
