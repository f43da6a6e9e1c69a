import { mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import test from 'ava';
import fc from 'fast-check';

import { makeMountPoints, resolveInRoot, RootfsPathError } from './rootfs-path.js';

const withDir = async (f: (dir: string) => Promise<void>): Promise<void> => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tug-rootfs-path-'));
  try {
    await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

test('resolveInRoot: symlinks of the image resolve inside the root, absolute or relative', async (t) => {
  await withDir(async (dir) => {
    const root = path.join(dir, 'root');
    await mkdir(path.join(root, 'usr', 'sbin'), { recursive: true });
    await symlink('/usr/sbin', path.join(root, 'sbin'));
    await symlink('../../../../../../etc', path.join(root, 'usr', 'up'));
    await symlink('/', path.join(root, 'slash'));
    await symlink('loop2', path.join(root, 'loop1'));
    await symlink('loop1', path.join(root, 'loop2'));
    t.is(await resolveInRoot(root, '/sbin/tini'), path.join(root, 'usr', 'sbin', 'tini'));
    t.is(await resolveInRoot(root, '/usr/up/passwd'), path.join(root, 'etc', 'passwd'));
    t.is(await resolveInRoot(root, '/slash/../../x'), path.join(root, 'x'));
    t.is(await resolveInRoot(root, '/a/./b/'), path.join(root, 'a', 'b'));
    await t.throwsAsync(resolveInRoot(root, '/loop1/x'), { instanceOf: RootfsPathError });
  });
});

test('resolveInRoot: no path of any shape leaves the root', async (t) => {
  await withDir(async (dir) => {
    const root = path.join(dir, 'root');
    await mkdir(path.join(root, 'd'), { recursive: true });
    await symlink('/', path.join(root, 'abs'));
    await symlink('..', path.join(root, 'd', 'up'));
    await symlink('../../..', path.join(root, 'rel'));
    const part = fc.constantFrom('abs', 'rel', 'd', 'up', '..', '.', 'x', '');
    await fc.assert(
      fc.asyncProperty(fc.array(part, { maxLength: 8 }), async (parts) => {
        const got = await resolveInRoot(root, `/${parts.join('/')}`);
        return got === root || got.startsWith(`${root}/`);
      }),
      { numRuns: 200 },
    );
    t.pass();
  });
});

test('makeMountPoints: makes missing directories and files (for file binds) through image symlinks, nothing under /dev', async (t) => {
  await withDir(async (dir) => {
    const root = path.join(dir, 'root');
    await mkdir(path.join(root, 'usr', 'sbin'), { recursive: true });
    await mkdir(path.join(root, 'proc'));
    await symlink('/usr/sbin', path.join(root, 'sbin'));
    await symlink('/', path.join(root, 'escape'));
    const file = path.join(dir, 'init');
    await writeFile(file, 'x');
    await makeMountPoints(root, [
      { destination: '/proc' },
      { destination: '/sys' },
      { destination: '/dev/pts' },
      { destination: '/sbin/init', bindSource: file },
      { destination: '/data/x', bindSource: dir },
      { destination: '/escape/outside' },
    ]);
    t.true((await stat(path.join(root, 'sys'))).isDirectory());
    t.true((await stat(path.join(root, 'usr', 'sbin', 'init'))).isFile());
    t.true((await stat(path.join(root, 'data', 'x'))).isDirectory());
    t.true((await stat(path.join(root, 'outside'))).isDirectory());
    t.false(
      await stat(path.join(root, 'dev')).then(
        () => true,
        () => false,
      ),
    );
    t.deepEqual((await readdir(dir)).sort(), ['init', 'root']);
  });
});
