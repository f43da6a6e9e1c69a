import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { expectedEntry, snapshotData, termOf } from './crash-writer.js';
import { seededRandom, tempDir } from './test-helpers.js';
import { Wal } from './wal.js';

const WRITER = fileURLToPath(new URL('./crash-writer.js', import.meta.url));
const SEGMENT_BYTES = 8192;
const ROUNDS = 10;

interface Run {
  readonly acked: number[];
  readonly signal: NodeJS.Signals | null;
  readonly code: number | null;
  readonly stderr: string;
}

/** Runs the writer and SIGKILLs it as soon as it has acknowledged `killAfter` saves. */
function runAndKill(
  t: Parameters<typeof tempDir>[0],
  args: string[],
  killAfter: number,
  timeoutMs: number,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let exited = false;
    t.teardown(() => {
      if (!exited) child.kill('SIGKILL');
    });
    const acked: number[] = [];
    let stderr = '';
    let pending = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer made ${acked.length} acks in ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      pending += s;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const m = /^ack (\d+)$/.exec(line);
        if (m) acked.push(Number(m[1]));
      }
      if (acked.length >= killAfter) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      exited = true;
      clearTimeout(timer);
      resolve({ acked, code, signal, stderr });
    });
  });
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(b);

test('wal crash: every acknowledged entry survives SIGKILL and the log stays a valid prefix', async (t) => {
  const dir = await tempDir(t);
  const seed = 20240611;
  const random = seededRandom(seed);
  let maxAcked = 0;
  const trimmed: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const killAfter = 1 + Math.floor(random() * 80);
    const run = await runAndKill(
      t,
      [dir, String(SEGMENT_BYTES), String(seed + round)],
      killAfter,
      60_000,
    );
    t.is(
      run.signal,
      'SIGKILL',
      `round ${round}: writer exited on its own (${run.code}): ${run.stderr}`,
    );
    t.true(run.acked.length >= killAfter);
    maxAcked = Math.max(maxAcked, ...run.acked);

    const { wal, state } = await Wal.open(dir, {
      segmentBytes: SEGMENT_BYTES,
      log: (l) => trimmed.push(l),
    });
    await wal.close();
    const snapIndex = state.snapshot?.metadata.index ?? 0;
    if (state.snapshot) {
      t.is(state.snapshot.metadata.term, termOf(snapIndex));
      t.true(sameBytes(state.snapshot.data, snapshotData(snapIndex)));
    }
    // Contiguous from the snapshot, each entry exactly what was written for its index.
    let expectIndex = snapIndex + 1;
    for (const e of state.entries) {
      const want = expectedEntry(expectIndex);
      if (
        e.index !== want.index ||
        e.term !== want.term ||
        e.type !== want.type ||
        !sameBytes(e.data, want.data)
      ) {
        t.fail(
          `round ${round}: entry at position of ${expectIndex} is ${e.index}/${e.term}, not as written`,
        );
        return;
      }
      expectIndex++;
    }
    const lastIndex = expectIndex - 1;
    t.true(
      lastIndex >= maxAcked,
      `round ${round}: acked ${maxAcked} but recovered only to ${lastIndex}`,
    );
    t.true(state.hardState.commit <= lastIndex);
    t.true(state.hardState.commit >= snapIndex);
    t.log(
      `round ${round}: killed after ${run.acked.length} acks (max ${maxAcked}); recovered ` +
        `snapshot ${snapIndex} + ${state.entries.length} entries to ${lastIndex}`,
    );
  }
  t.log(`torn tails trimmed: ${trimmed.length}`);
  for (const l of trimmed) t.log(l);
});
