// Test fixture: a minimal root filesystem made of Debian's busybox-static, built directly (no image
// pull), for runtime tests. `busybox --install -s` needs its target directories to exist first.

import { execFile } from 'node:child_process';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const BUSYBOX = '/bin/busybox';

/** Builds a busybox rootfs in `dir` (created if needed) and returns `dir`. */
export async function makeBusyboxRootfs(dir: string): Promise<string> {
  for (const d of [
    'bin',
    'sbin',
    'usr/bin',
    'usr/sbin',
    'proc',
    'sys',
    'dev',
    'etc',
    'tmp',
    'root',
  ])
    await mkdir(path.join(dir, d), { recursive: true });
  await copyFile(BUSYBOX, path.join(dir, 'bin/busybox'));
  // Run inside the rootfs so the links point at /bin/busybox as the container will see it.
  await run('chroot', [dir, '/bin/busybox', '--install', '-s']);
  await writeFile(
    path.join(dir, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
  );
  await writeFile(path.join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  return dir;
}
