// The README's demo must stay true: run both parts as the README does (built JS, real processes)
// and check what they claim to show.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';

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

test('demo: part two takes the example manifests to running through the CLI', async (t) => {
  const r = await run('./control-plane-demo.js');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /service\/web created/);
  t.regex(r.stdout, /service\/web scaled to 5/);
  t.regex(r.stdout, /^web\s+replicated\s+5\/5/m);
  const webTasks = r.stdout
    .split('\n')
    .filter((l) => /^web\.\d+\.\S+\s+web\s+\d+\s+node-\d\s+running\s+running/.test(l));
  t.is(webTasks.length, 5);
  t.regex(r.stdout, /Stopped every process the demo started and removed its files/);
});
