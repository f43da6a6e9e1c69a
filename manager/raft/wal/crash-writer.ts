// Child process for the SIGKILL test (wal-crash.test.ts): appends entries with sync=true, a few
// saves in flight at once so group commit is exercised, snapshots and releases now and then, and
// prints `ack <index>` for every acknowledged save. It runs until killed (or a size cap).
//
//   node crash-writer.js <dir> <segmentBytes> <seed>
//
// Entry i's term and data are functions of i alone (see expectedEntry), so the parent can check
// every recovered entry without being told what was written.
import { pathToFileURL } from 'node:url';
import type { Entry, MemberId, Snapshot } from '../core/index.js';
import { EntryType } from '../core/index.js';
import { seededRandom } from './test-helpers.js';
import { Wal } from './wal.js';

const IN_FLIGHT = 4;
const SNAPSHOT_EVERY = 150;
const MAX_INDEX = 200_000;

export const termOf = (index: number): number => 1 + Math.floor(index / 97);

export const expectedEntry = (index: number): Entry => {
  const length = (index * 7919) % 257;
  const data = new Uint8Array(length);
  for (let k = 0; k < length; k++) data[k] = (index * 31 + k) & 0xff;
  return { index, term: termOf(index), type: EntryType.Normal, data };
};

export const snapshotData = (index: number): Uint8Array =>
  new TextEncoder().encode(`state machine at ${index}`);

async function main(dir: string, segmentBytes: number, seed: number): Promise<void> {
  const random = seededRandom(seed);
  const { wal, state } = await Wal.open(dir, { segmentBytes });
  const last = state.entries.at(-1)?.index ?? state.snapshot?.metadata.index ?? 0;
  let next = last + 1;
  let acked = last;
  let snapshotAt = state.snapshot?.metadata.index ?? 0;
  const inFlight = new Set<Promise<void>>();
  while (next < MAX_INDEX) {
    const n = 1 + Math.floor(random() * 5);
    const batch = Array.from({ length: n }, (_, k) => expectedEntry(next + k));
    next += n;
    const hi = next - 1;
    const p: Promise<void> = wal
      .save({ term: termOf(hi), vote: 1 as MemberId, commit: hi - n }, batch, true)
      .then(() => {
        acked = Math.max(acked, hi);
        process.stdout.write(`ack ${hi}\n`);
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    if (acked - snapshotAt >= SNAPSHOT_EVERY) {
      await Promise.all(inFlight);
      const at = acked;
      const snap: Snapshot = {
        metadata: {
          index: at,
          term: termOf(at),
          conf: { voters: [1 as MemberId], learners: [], removed: [] },
        },
        data: snapshotData(at),
      };
      await wal.saveSnapshot(snap);
      await wal.releaseTo(at);
      snapshotAt = at;
      process.stdout.write(`snap ${at}\n`);
    }
  }
  await Promise.all(inFlight);
  await wal.close();
}

const [dir, segmentBytes, seed] = process.argv.slice(2);
// Imported by the test for expectedEntry; runs only as a script.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (dir === undefined) {
    process.stderr.write('usage: crash-writer <dir> <segmentBytes> <seed>\n');
    process.exit(2);
  }
  main(dir, Number(segmentBytes ?? 65536), Number(seed ?? 1)).catch((e: unknown) => {
    process.stderr.write(`crash-writer: ${String(e)}\n`);
    process.exit(1);
  });
}
