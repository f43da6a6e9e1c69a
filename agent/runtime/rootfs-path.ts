// Paths inside a container's rootfs, resolved on the host the way the container would see them:
// a symlink in the image (`/sbin -> /usr/sbin`, or `-> ../../etc`) never leads outside the rootfs.
// Used to make mount points before a user-namespaced container is created (its root cannot create
// them in directories of the image, which stay owned by the host's root).

import { lstat, mkdir, readlink, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** More links than this on one path is a loop (Linux's own bound is 40). */
const MAX_LINKS = 40;

export class RootfsPathError extends Error {
  readonly code = 'rootfs-path';
}

/**
 * The host path of `inner` (absolute, as the container sees it) under `root`, with every symlink
 * of the image resolved inside `root`. Components that do not exist are kept as written (the
 * caller may create them). `..` never climbs above `root`.
 */
export async function resolveInRoot(root: string, inner: string): Promise<string> {
  const pending = inner.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const c = pending.shift() as string;
    if (c === '..') {
      done.pop();
      continue;
    }
    const host = path.join(root, ...done, c);
    let target: string | undefined;
    try {
      if ((await lstat(host)).isSymbolicLink()) target = await readlink(host);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (target === undefined) {
      done.push(c);
      continue;
    }
    if (++links > MAX_LINKS) throw new RootfsPathError(`too many symlinks resolving ${inner}`);
    if (target.startsWith('/')) done.length = 0;
    pending.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
  }
  return path.join(root, ...done);
}

export interface MountPoint {
  readonly destination: string;
  /** Host path of a bind mount's source: a file there needs a file as its mount point. */
  readonly bindSource?: string;
}

/**
 * Makes every mount point that does not exist yet (directories, or an empty file for a bind of a
 * file), as the caller (the host's root). Mount points under /dev are left alone: /dev itself is a
 * tmpfs the runtime mounts (and so owns) inside the container.
 */
export async function makeMountPoints(root: string, mounts: readonly MountPoint[]): Promise<void> {
  for (const m of mounts) {
    if (m.destination === '/dev' || m.destination.startsWith('/dev/')) continue;
    const host = await resolveInRoot(root, m.destination);
    if (
      await lstat(host).then(
        () => true,
        () => false,
      )
    )
      continue;
    const isFile =
      m.bindSource !== undefined && !(await stat(m.bindSource).then((s) => s.isDirectory()));
    if (!isFile) {
      await mkdir(host, { recursive: true });
      continue;
    }
    await mkdir(await resolveInRoot(root, path.posix.dirname(m.destination)), { recursive: true });
    await writeFile(host, '', { flag: 'a' });
  }
}
