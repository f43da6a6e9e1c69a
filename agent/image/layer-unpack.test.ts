import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import test from 'ava';

import type { Digest } from '../../common/image/digest.js';
import { UnpackFailure, unpackLayer } from './layer-unpack.js';
import { LayerCompression } from '../../common/image/manifest.js';

/** Makes a gzipped layer from `files` (path → content); returns its path and diff id. */
async function makeLayer(
  dir: string,
  name: string,
  files: Record<string, string>,
): Promise<{ path: string; diffId: Digest }> {
  const src = join(dir, `${name}-src`);
  for (const [p, content] of Object.entries(files)) {
    await mkdir(join(src, p, '..'), { recursive: true });
    await writeFile(join(src, p), content);
  }
  const path = join(dir, `${name}.tar.gz`);
  execFileSync('tar', ['--numeric-owner', '--sort=name', '-C', src, '-czf', path, '.']);
  const diffId = `sha256:${createHash('sha256')
    .update(gunzipSync(await readFile(path)))
    .digest('hex')}` as Digest;
  return { path, diffId };
}

const LONG = `long/${'x'.repeat(70)}/${'y'.repeat(70)}`;

test('layer-unpack: OCI whiteouts become overlayfs whiteouts an overlay mount honours', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tug-unpack-test-'));
  const merged = join(dir, 'merged');
  let mounted = false;
  try {
    const l1 = await makeLayer(dir, 'l1', {
      [`${LONG}/f`]: 'f',
      [`${LONG}/g`]: 'g',
      'a/1': 'one',
      'a/2': 'two',
      keep: 'k',
      gone: 'g',
      'deep/x/y': 'y',
    });
    const l2 = await makeLayer(dir, 'l2', {
      'a/.wh..wh..opq': '',
      'a/3': 'three',
      '.wh.gone': '',
      'deep/x/.wh.y': '',
      [`${LONG}/.wh.f`]: '',
    });
    await unpackLayer(l1.path, LayerCompression.Gzip, l1.diffId, join(dir, 't1'), join(dir, 'd1'));
    await unpackLayer(l2.path, LayerCompression.Gzip, l2.diffId, join(dir, 't2'), join(dir, 'd2'));
    // The upper layer's whiteout is a 0:0 character device, its marker files are gone.
    const wh = await stat(join(dir, 'd2', 'gone'));
    t.true(wh.isCharacterDevice());
    t.is(wh.rdev, 0);
    t.deepEqual((await readdir(join(dir, 'd2', 'a'))).sort(), ['3']);
    t.false(
      await stat(join(dir, 't1')).then(
        () => true,
        () => false,
      ),
    );

    for (const d of ['upper', 'work', 'merged']) await mkdir(join(dir, d));
    execFileSync('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${join(dir, 'd2')}:${join(dir, 'd1')},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`,
      merged,
    ]);
    mounted = true;
    t.deepEqual(
      (await readdir(join(merged, 'a'))).sort(),
      ['3'],
      'opaque directory hides the lower a/1, a/2',
    );
    t.deepEqual((await readdir(merged)).sort(), ['a', 'deep', 'keep', 'long']);
    t.deepEqual(await readdir(join(merged, 'deep', 'x')), []);
    t.is(await readFile(join(merged, 'keep'), 'utf8'), 'k');
    t.deepEqual(
      await readdir(join(merged, LONG)),
      ['g'],
      'a whiteout past the 100-byte ustar name',
    );
  } finally {
    if (mounted) execFileSync('umount', [merged]);
    await rm(dir, { recursive: true, force: true });
  }
});

test('layer-unpack: content that does not match the diff id is refused and leaves nothing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tug-unpack-test-'));
  try {
    const l = await makeLayer(dir, 'l', { f: 'x' });
    const wrong = `sha256:${'0'.repeat(64)}` as Digest;
    await t.throwsAsync(
      unpackLayer(l.path, LayerCompression.Gzip, wrong, join(dir, 't'), join(dir, 'd')),
      {
        instanceOf: UnpackFailure,
        message: /hashes to/,
      },
    );
    t.deepEqual((await readdir(dir)).sort(), ['l-src', 'l.tar.gz']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('layer-unpack: a corrupt archive is an unpack failure', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tug-unpack-test-'));
  try {
    await writeFile(join(dir, 'junk'), 'not a tar at all, not even close'.repeat(40));
    await t.throwsAsync(
      unpackLayer(
        join(dir, 'junk'),
        LayerCompression.None,
        undefined,
        join(dir, 't'),
        join(dir, 'd'),
      ),
      {
        instanceOf: UnpackFailure,
      },
    );
    t.deepEqual(await readdir(dir), ['junk']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('layer-unpack: a member written through an absolute symlink cannot escape the layer', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tug-unpack-test-'));
  try {
    const outside = join(dir, 'outside');
    await mkdir(join(dir, 'a'), { recursive: true });
    await mkdir(join(dir, 'b', 'link'), { recursive: true });
    await mkdir(outside);
    await symlink(outside, join(dir, 'a', 'link'));
    await writeFile(join(dir, 'b', 'link', 'pwned'), 'x');
    const tar = join(dir, 'evil.tar');
    execFileSync('tar', ['-C', join(dir, 'a'), '-cf', tar, 'link']);
    execFileSync('tar', ['-C', join(dir, 'b'), '-cf', join(dir, 'two.tar'), 'link/pwned']);
    execFileSync('tar', ['-A', '-f', tar, join(dir, 'two.tar')]);
    await t.throwsAsync(
      unpackLayer(tar, LayerCompression.None, undefined, join(dir, 't'), join(dir, 'd')),
      {
        instanceOf: UnpackFailure,
      },
    );
    t.deepEqual(await readdir(outside), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
