// Smoke test of the whole raft benchmark: starts real etcd and tug-side processes, runs every phase
// briefly, and checks the record it writes and that it leaves no process or directory behind.
// No timing assertions: only that the numbers exist, are finite and positive.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { resultBaseName } from './options.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const FAKE_SERVER = fileURLToPath(new URL('./fake-kv-server.js', import.meta.url));

const SERVER_FLAGS: readonly string[] = [];

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runMain(args: readonly string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    // SIGTERM on timeout lets the benchmark clean up after itself.
    execFile(
      process.execPath,
      [MAIN, ...args],
      { timeout: timeoutMs, killSignal: 'SIGTERM' },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function collectFinite(value: unknown, path: string, out: [string, number][]): void {
  if (typeof value === 'number') out.push([path, value]);
  else if (Array.isArray(value))
    value.forEach((v, i) => {
      collectFinite(v, `${path}[${i}]`, out);
    });
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) collectFinite(v, `${path}.${k}`, out);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('bench: a short run against etcd and tug writes finite positive numbers and cleans up', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'bench-raft-test-'));
  t.teardown(() => {
    rmSync(out, { recursive: true, force: true });
  });
  const run = await runMain(
    ['--seconds', '1', '--trials', '1', '--out', out, ...SERVER_FLAGS],
    100_000,
  );
  t.is(run.code, 0, run.stderr);

  const fake = SERVER_FLAGS.includes('--fake');
  const file = join(out, `${resultBaseName(fake)}.json`);
  const report = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown> & {
    fake: boolean;
    ratios: Record<string, unknown>;
    systems: Record<string, { puts: unknown[]; gets: unknown; failover: { trials: unknown[] } }>;
    machine: Record<string, unknown>;
  };
  t.is(report.fake, fake);
  t.true(existsSync(join(out, `${resultBaseName(fake)}.md`)));
  for (const system of ['etcd', 'tug']) {
    const s = report.systems[system];
    t.truthy(s, `${system} missing`);
    t.is(s!.puts.length, 3);
    t.truthy(s!.gets);
    t.is(s!.failover.trials.length, 1);
  }
  for (const key of [
    'throughput_1',
    'throughput_16',
    'throughput_64',
    'get_throughput_16',
    'failover',
  ]) {
    t.is(typeof report.ratios[key], 'number', `ratios.${key}`);
  }
  const numbers: [string, number][] = [];
  collectFinite({ systems: report.systems, ratios: report.ratios }, '', numbers);
  t.true(numbers.length > 50);
  for (const [path, n] of numbers) {
    if (/\.(found|failedAttempts)$/.test(path)) t.true(Number.isInteger(n) && n >= 0, path);
    else t.true(Number.isFinite(n) && n > 0, `${path} = ${n}`);
  }
  t.is(report.machine['etcd'], '3.4.23');
  t.true(typeof report.machine['nproc'] === 'number');
  t.regex(run.stdout, /tug\/etcd/);
  if (fake) t.regex(run.stdout, /FAKE/);

  const pids = [...run.stderr.matchAll(/started, pid (\d+)/g)].map((m) => Number(m[1]));
  t.true(pids.length >= 8, 'six starts and two restarts');
  for (const pid of pids) t.false(alive(pid), `pid ${pid} still running`);
  const dirs = [...run.stderr.matchAll(/data and logs in (\S+?)\)/g)].map((m) => m[1]!);
  t.is(dirs.length, 2);
  for (const dir of dirs) t.false(existsSync(dir), `${dir} left behind`);
});

test('bench: the fake server is refused without --fake', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'bench-raft-test-'));
  t.teardown(() => {
    rmSync(out, { recursive: true, force: true });
  });
  const run = await runMain(['--server', FAKE_SERVER, '--systems', 'tug', '--out', out], 60_000);
  t.is(run.code, 2);
  t.regex(run.stderr, /fake KV server.*Pass --fake/);
  t.false(existsSync(join(out, 'raft.json')));
});

test('bench: bad flags exit 2 with the usage text', async (t) => {
  const run = await runMain(['--seconds', 'soon'], 30_000);
  t.is(run.code, 2);
  t.regex(run.stderr, /--seconds must be a number > 0, got 'soon'/);
  t.regex(run.stderr, /usage: /);
});
