// Unpacks one layer blob into a directory fit to be an overlayfs lower layer. GNU tar extracts
// (it knows hard links, devices, sparse files, ownership, and refuses `..` members); Node streams
// the blob into it, gunzipping and hashing the uncompressed bytes to check the config's diff_id on
// the way. Then OCI whiteouts (`.wh.<name>` files, `.wh..wh..opq` markers) become overlayfs ones.
// Work happens in a temporary directory renamed into place only when complete.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm, unlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

import { type Digest } from '../../common/image/digest.js';
import { LayerCompression } from '../../common/image/manifest.js';
import { overlayTar, type OverlayEntry } from './overlay-tar.js';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

export class UnpackFailure extends Error {
  override readonly name = 'UnpackFailure';
}

function runTar(args: readonly string[], input: NodeJS.ReadableStream | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (stderr.length < 4096) stderr += s;
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new UnpackFailure(`tar exited ${String(code)}: ${stderr.trim()}`));
    });
    // A tar that dies early closes its stdin; the close handler reports why.
    child.stdin.on('error', () => undefined);
    if (Buffer.isBuffer(input)) child.stdin.end(input);
    else input.pipe(child.stdin);
  });
}

const EXTRACT = [
  '-x',
  '-f',
  '-',
  '--numeric-owner',
  '--same-owner',
  '--same-permissions',
  '--warning=no-unknown-keyword',
];

/** Finds OCI whiteouts under `root`, deletes them, and says what overlayfs needs instead. */
async function collectWhiteouts(root: string): Promise<OverlayEntry[]> {
  const entries: OverlayEntry[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const d of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, d.name);
      if (d.name === OPAQUE) {
        await unlink(full);
        const s = await lstat(dir);
        entries.push({
          type: 'opaque',
          path: relative(root, dir) || '.',
          mode: s.mode,
          uid: s.uid,
          gid: s.gid,
          mtimeSec: Math.floor(s.mtimeMs / 1000),
        });
      } else if (d.name.startsWith(WHITEOUT)) {
        await rm(full, { recursive: true, force: true });
        entries.push({
          type: 'whiteout',
          path: relative(root, join(dir, d.name.slice(WHITEOUT.length))),
        });
      } else if (d.isDirectory()) {
        await walk(full);
      }
    }
  };
  await walk(root);
  return entries;
}

/**
 * Unpacks `blobPath` into `dest` (which must not exist) via `tmpDir`. Throws UnpackFailure on a
 * tar error or when the uncompressed content does not hash to `diffId` (when given).
 */
export async function unpackLayer(
  blobPath: string,
  compression: LayerCompression,
  diffId: Digest | undefined,
  tmpDir: string,
  dest: string,
): Promise<void> {
  await rm(tmpDir, { recursive: true, force: true });
  await mkdir(tmpDir, { recursive: true, mode: 0o755 });
  try {
    const hash = createHash('sha256');
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const out = new PassThrough();
    const tar = runTar([...EXTRACT, '-C', tmpDir], out);
    const stages =
      compression === LayerCompression.Gzip
        ? pipeline(createReadStream(blobPath), createGunzip(), tap, out)
        : pipeline(createReadStream(blobPath), tap, out);
    const [feed, extract] = await Promise.allSettled([stages, tar]);
    if (extract.status === 'rejected') throw extract.reason;
    if (feed.status === 'rejected')
      throw new UnpackFailure(`reading layer: ${String(feed.reason)}`, { cause: feed.reason });
    const got = `sha256:${hash.digest('hex')}`;
    if (diffId !== undefined && got !== diffId) {
      throw new UnpackFailure(
        `uncompressed layer hashes to ${got}, the image config says ${diffId}`,
      );
    }
    const overlay = await collectWhiteouts(tmpDir);
    if (overlay.length > 0) {
      await runTar(
        [...EXTRACT, '--xattrs', '--xattrs-include=trusted.overlay.*', '-C', tmpDir],
        overlayTar(overlay),
      );
    }
    await rename(tmpDir, dest);
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true });
    throw err;
  }
}
