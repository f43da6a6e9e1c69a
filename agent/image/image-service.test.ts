import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import anyTest, { type TestFn } from 'ava';

import { freePorts } from '../../bench/lib/ports.js';
import { FakeRegistry, sha256Of } from '../testing/fake-registry.js';
import { pushTestImage, startRegistry, type TestRegistry } from '../testing/registry.js';
import { digestHex, type Digest } from '../../common/image/digest.js';
import { ImageError, ImageErrorCode } from '../../common/image/errors.js';
import { ImageService } from './image-service.js';
import { MediaType } from '../../common/image/manifest.js';

const test = anyTest as TestFn<{ registry: TestRegistry }>;

const exists = (p: string): Promise<boolean> =>
  stat(p).then(
    () => true,
    () => false,
  );

const tempRoots: string[] = [];
async function newService(
  extra: Partial<ConstructorParameters<typeof ImageService>[0]> = {},
): Promise<ImageService> {
  const root = await mkdtemp(join(tmpdir(), 'tug-images-test-'));
  tempRoots.push(root);
  return new ImageService({ root, retry: { attempts: 2, delayMs: 10 }, ...extra });
}

test.before(async (t) => {
  const registry = await startRegistry();
  t.context.registry = registry;
  await pushTestImage(registry.host);
});

test.after.always(async (t) => {
  await t.context.registry?.stop();
  await Promise.all(tempRoots.map((r) => rm(r, { recursive: true, force: true })));
});

test('image-service: pulls the busybox image and an overlay of its layers has /bin/busybox', async (t) => {
  const images = await newService();
  const ref = `${t.context.registry.host}/busybox`;
  const rec = await images.pull(ref);
  t.is(rec.reference, `${ref}:latest`);
  t.deepEqual(rec.config.cmd, ['sh']);
  t.true(rec.config.env.some((e) => e.startsWith('PATH=')));
  t.is(rec.lowerDirs.length, 1);
  t.true(await exists(images.layout.blob(rec.manifestDigest)));

  const dir = await mkdtemp(join(tmpdir(), 'tug-overlay-test-'));
  const merged = join(dir, 'merged');
  let mounted = false;
  try {
    for (const d of ['upper', 'work', 'merged']) await mkdir(join(dir, d));
    execFileSync('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${rec.lowerDirs.join(':')},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`,
      merged,
    ]);
    mounted = true;
    t.true((await stat(join(merged, 'bin', 'busybox'))).isFile());
    t.is(await readlink(join(merged, 'bin', 'sh')), '/bin/busybox');
    t.is(await readFile(join(merged, 'var', 'www', 'index.html'), 'utf8'), 'hello from tug\n');
  } finally {
    if (mounted) execFileSync('umount', [merged]);
    await rm(dir, { recursive: true, force: true });
  }
});

test('image-service: ten concurrent pulls of one reference download once; a shared layer unpacks once', async (t) => {
  const images = await newService();
  const ref = `${t.context.registry.host}/busybox:latest`;
  const recs = await Promise.all(Array.from({ length: 10 }, () => images.pull(ref)));
  t.true(recs.every((r) => r.manifestDigest === recs[0]!.manifestDigest));
  t.is(images.stats.pulls, 1);
  t.is(images.stats.blobDownloads, 2, 'config and one layer');
  t.is(images.stats.layerUnpacks, 1);
  // The httpd tag is a Docker v2 manifest over the same layer: new config, no new layer.
  const httpd = await images.pull(`${t.context.registry.host}/busybox:httpd`);
  t.deepEqual(httpd.config.cmd, ['httpd', '-f', '-p', '8080', '-h', '/var/www']);
  t.deepEqual(httpd.lowerDirs, recs[0]!.lowerDirs);
  t.is(images.stats.blobDownloads, 3);
  t.is(images.stats.layerUnpacks, 1);
});

test('image-service: a tag pulled again that still names the local manifest is one request, nothing rewritten', async (t) => {
  const images = await newService();
  const ref = `${t.context.registry.host}/busybox:latest`;
  const first = await images.pull(ref);
  const blobs = images.stats.blobDownloads;
  const again = await images.pull(ref);
  t.is(images.stats.pulls, 2, 'the tag is resolved at the registry again');
  t.is(images.stats.blobDownloads, blobs);
  t.deepEqual(again, first, 'the local record as it was (its pull time too)');
});

test('image-service: gc removes images no task uses and what only they referenced', async (t) => {
  const images = await newService();
  const host = t.context.registry.host;
  const latest = await images.pull(`${host}/busybox`);
  const httpd = await images.pull(`${host}/busybox:httpd`);
  const first = await images.gc([`${host}/busybox:latest`]);
  t.deepEqual(first.removedImages, [`${host}/busybox:httpd`]);
  t.is(first.removedBlobs, 2, 'httpd manifest and config');
  t.is(first.removedLayers, 0, 'the layer is shared with latest');
  t.false(await exists(images.layout.blob(httpd.configDigest)));
  t.true(await exists(images.layout.blob(latest.configDigest)));
  t.is(await images.get(`${host}/busybox:httpd`), undefined);
  t.truthy(await images.get(`${host}/busybox:latest`));
  const second = await images.gc([]);
  t.is(second.removedLayers, 1);
  t.deepEqual(await readdir(images.layout.layersDir), []);
  t.deepEqual(await readdir(images.layout.blobsDir), []);
});

test('image-service: a bad reference or a missing image rejects with a reason naming it', async (t) => {
  const images = await newService();
  const bad = await t.throwsAsync(images.pull('busybox:latest'), { instanceOf: ImageError });
  t.is(bad?.code, ImageErrorCode.BadReference);
  t.regex(bad?.message ?? '', /busybox:latest.*no registry host/);
  const ref = `${t.context.registry.host}/nothing-here:v1`;
  const missing = await t.throwsAsync(images.pull(ref), { instanceOf: ImageError });
  t.is(missing?.code, ImageErrorCode.NotFound);
  t.true(missing?.message.includes(ref));
  t.false(missing?.temporary);
});

test('image-service: a registry that disappears mid-pull fails the pull and leaves no partial blob', async (t) => {
  const registry = await startRegistry();
  try {
    await pushTestImage(registry.host, { repo: 'heavy', bigMb: 12 });
    // The registry dies right after the first chunk of the big layer arrives. Reading pauses until
    // it is dead, so the kernel's socket buffers (not our reads) bound what still gets through,
    // far less than the layer.
    let killed = false;
    const images = await newService({
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (Number(res.headers.get('content-length') ?? 0) < 4 * 1024 * 1024 || res.body === null) {
          return res;
        }
        const reader = (res.body as ReadableStream<Uint8Array>).getReader();
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            const { done, value } = await reader.read();
            if (done) {
              controller.close();
              return;
            }
            controller.enqueue(value);
            if (!killed) {
              killed = true;
              await registry.kill();
            }
          },
          cancel: (reason) => reader.cancel(reason),
        });
        return new Response(body, { status: res.status, headers: res.headers });
      },
    });
    const err = await t.throwsAsync(images.pull(`${registry.host}/heavy:big`), {
      instanceOf: ImageError,
    });
    t.true(killed, 'the big layer started streaming');
    t.is(err?.code, ImageErrorCode.Unreachable);
    t.regex(err?.message ?? '', /blob sha256:[a-f0-9]{64}: gave up/);
    t.true(err?.temporary);
    t.true(err?.message.includes(`${registry.host}/heavy:big`));
    const blobs = await readdir(images.layout.blobsDir);
    // What is stored is whole and verified: every file hashes to its name.
    for (const name of blobs) {
      t.is(sha256Of(await readFile(join(images.layout.blobsDir, name))), `sha256:${name}`);
    }
    t.deepEqual(await readdir(images.layout.ingestDir), []);
    t.is(await images.get(`${registry.host}/heavy:big`), undefined);
  } finally {
    await registry.stop();
  }
});

/** A gzipped one-file layer for the fake registry. */
async function fakeLayer(dir: string): Promise<{ gz: Buffer; diffId: Digest }> {
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(join(dir, 'src', 'hello'), 'hi');
  execFileSync('tar', ['-C', join(dir, 'src'), '-czf', join(dir, 'l.tgz'), '.']);
  const gz = await readFile(join(dir, 'l.tgz'));
  return {
    gz,
    diffId: `sha256:${createHash('sha256').update(gunzipSync(gz)).digest('hex')}` as Digest,
  };
}

test('image-service: an index resolves to its linux/amd64 manifest', async (t) => {
  const reg = await FakeRegistry.start({ token: 't0k', redirectBlobs: true });
  const images = await newService();
  try {
    const { gz, diffId } = await fakeLayer(images.layout.root);
    const layer = reg.addBlob(gz);
    const config = Buffer.from(
      JSON.stringify({
        os: 'linux',
        architecture: 'amd64',
        config: { Entrypoint: ['/hello'], Cmd: ['x'] },
        rootfs: { type: 'layers', diff_ids: [diffId] },
      }),
    );
    const configDigest = reg.addBlob(config);
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configDigest, size: config.length },
      layers: [{ mediaType: MediaType.OciLayerGzip, digest: layer, size: gz.length }],
    };
    const amd64 = reg.addManifest(manifest, MediaType.OciManifest);
    const index = reg.addManifest(
      {
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          {
            mediaType: MediaType.OciManifest,
            digest: `sha256:${'1'.repeat(64)}`,
            size: 1,
            platform: { os: 'linux', architecture: 'arm64' },
          },
          {
            mediaType: MediaType.OciManifest,
            digest: amd64,
            size: 1,
            platform: { os: 'linux', architecture: 'amd64' },
          },
        ],
      },
      MediaType.OciIndex,
      'v1',
    );
    // A caller that gives up leaves the shared pull running for the others.
    const gaveUp = new AbortController();
    gaveUp.abort();
    const [abandoned, kept] = await Promise.allSettled([
      images.pull(`${reg.host}/multi:v1`),
      images.pull(`${reg.host}/multi:v1`, gaveUp.signal),
    ]).then(([a, b]) => [b, a] as const);
    t.is(
      abandoned.status === 'rejected' && (abandoned.reason as ImageError).code,
      ImageErrorCode.Aborted,
    );
    t.is(kept.status, 'fulfilled');
    t.is(images.stats.pulls, 1);
    const rec = await images.pull(`${reg.host}/multi:v1`);
    t.is(rec.indexDigest, index as Digest);
    t.is(rec.manifestDigest, amd64 as Digest);
    t.deepEqual(rec.config.entrypoint, ['/hello']);
    t.is(await readFile(join(rec.lowerDirs[0]!, 'hello'), 'utf8'), 'hi');
    t.is(digestHex(rec.layers[0]!), layer.slice(7));
    // Pinned by digest and present: no network at all.
    const before = reg.log.length;
    await reg.stop();
    const pinned = await images.pull(`${reg.host}/multi:v1@${index}`);
    t.is(pinned.manifestDigest, rec.manifestDigest);
    t.is(reg.log.length, before);
    // A tag with the registry gone falls back to the local copy.
    t.is((await images.pull(`${reg.host}/multi:v1`)).manifestDigest, rec.manifestDigest);
  } finally {
    await reg.stop();
  }
});

test('image-service: a registry mirror serves a reference whose host does not resolve; the record keeps the name', async (t) => {
  const seen: string[] = [];
  const images = await newService({
    mirrors: new Map([['registry.local:5000', t.context.registry.host]]),
    fetch: (input, init) => {
      seen.push(String(input instanceof Request ? input.url : input));
      return fetch(input, init);
    },
  });
  const rec = await images.pull('registry.local:5000/busybox');
  t.is(rec.reference, 'registry.local:5000/busybox:latest');
  t.deepEqual(rec.config.cmd, ['sh']);
  t.truthy(await images.get('registry.local:5000/busybox:latest'));
  t.true(seen.length > 0);
  t.true(
    seen.every((u) => u.startsWith(`http://${t.context.registry.host}/v2/busybox/`)),
    seen.join(' '),
  );
  // Only the mirrored host moves: another one is asked directly, and its failure names it.
  const other = await t.throwsAsync(images.pull('other.invalid:5000/busybox'), {
    instanceOf: ImageError,
  });
  t.is(other?.code, ImageErrorCode.Unreachable);
  t.true(seen.some((u) => u.startsWith('https://other.invalid:5000/')));
  // A mirror that is down is named beside the registry it stands in for.
  const [port] = await freePorts(1);
  const down = await newService({
    mirrors: new Map([['registry.local:5000', `127.0.0.1:${port!}`]]),
  });
  const err = await t.throwsAsync(down.pull('registry.local:5000/busybox'), {
    instanceOf: ImageError,
  });
  t.is(err?.code, ImageErrorCode.Unreachable);
  t.true(err?.message.includes(`registry.local:5000 (mirror 127.0.0.1:${port!})`), err?.message);
});
