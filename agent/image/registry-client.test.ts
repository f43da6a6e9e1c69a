import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test from 'ava';

import { FakeRegistry } from '../testing/fake-registry.js';
import type { Digest } from '../../common/image/digest.js';
import { ImageError, ImageErrorCode } from '../../common/image/errors.js';
import { MediaType } from '../../common/image/manifest.js';
import { RegistryClient, type RegistryClientOptions } from '../../common/image/registry-client.js';

const withRegistry = async (
  opts: Parameters<typeof FakeRegistry.start>[0],
  body: (
    reg: FakeRegistry,
    dir: string,
    client: (o?: Partial<RegistryClientOptions>) => RegistryClient,
  ) => Promise<void>,
): Promise<void> => {
  const reg = await FakeRegistry.start(opts);
  const dir = await mkdtemp(join(tmpdir(), 'tug-client-test-'));
  try {
    await body(
      reg,
      dir,
      (o) =>
        new RegistryClient({
          reference: `${reg.host}/x:latest`,
          registry: reg.host,
          repository: 'x',
          plainHttp: true,
          retry: { attempts: 3, delayMs: 1 },
          ...o,
        }),
    );
  } finally {
    await reg.stop();
    await rm(dir, { recursive: true, force: true });
  }
};

const exists = (p: string): Promise<boolean> =>
  stat(p).then(
    () => true,
    () => false,
  );

test('registry-client: Bearer challenge leads to the token server and a retried request', async (t) => {
  await withRegistry({ token: 'secret-token' }, async (reg, _dir, client) => {
    const digest = reg.addManifest(
      { schemaVersion: 2, manifests: [] },
      MediaType.OciIndex,
      'latest',
    );
    const c = client();
    const m = await c.manifest('latest');
    t.is(m.digest, digest as Digest);
    const paths = reg.log.map((r) => `${r.path} ${r.authorization ?? '-'}`);
    t.deepEqual(paths, [
      '/v2/x/manifests/latest -',
      '/token -',
      '/v2/x/manifests/latest Bearer secret-token',
    ]);
    t.regex(reg.log[0]!.accept ?? '', /application\/vnd\.oci\.image\.manifest\.v1\+json/);
    t.regex(reg.log[0]!.accept ?? '', /application\/vnd\.docker\.distribution\.manifest\.v2\+json/);
    // The token is reused for the next request.
    await c.manifest(digest, digest as Digest);
    t.is(reg.log.length, 4);
  });
});

test('registry-client: a token server that gives no token is unauthorized', async (t) => {
  await withRegistry({ token: '' }, async (reg, _dir, client) => {
    reg.addManifest({ schemaVersion: 2, manifests: [] }, MediaType.OciIndex, 'latest');
    const err = await t.throwsAsync(client().manifest('latest'), { instanceOf: ImageError });
    t.is(err?.code, ImageErrorCode.Unauthorized);
  });
});

test('registry-client: blobs follow redirects and are verified', async (t) => {
  await withRegistry({ redirectBlobs: true }, async (reg, dir, client) => {
    const bytes = randomBytes(100_000);
    const d = reg.addBlob(bytes) as Digest;
    const path = join(dir, 'b.partial');
    await client().blob(d, bytes.length, path);
    t.deepEqual(await readFile(path), bytes);
    t.deepEqual(
      reg.log.map((r) => r.path),
      [`/v2/x/blobs/${d}`, `/storage/${d}`],
    );
  });
});

test('registry-client: a blob with the wrong content is rejected and not kept', async (t) => {
  await withRegistry({}, async (reg, dir, client) => {
    const bytes = randomBytes(5000);
    const d = reg.addBlob(bytes) as Digest;
    const bad = Buffer.from(bytes);
    bad[100] = bad[100]! ^ 1;
    reg.corrupt.set(d, bad);
    const path = join(dir, 'b.partial');
    const err = await t.throwsAsync(client().blob(d, bytes.length, path), {
      instanceOf: ImageError,
    });
    t.is(err?.code, ImageErrorCode.DigestMismatch);
    t.regex(err?.message ?? '', new RegExp(`${reg.host}/x:latest`));
    t.false(await exists(path));
  });
});

test('registry-client: a connection cut mid-blob resumes with a Range request', async (t) => {
  await withRegistry({}, async (reg, dir, client) => {
    const bytes = randomBytes(300_000);
    const d = reg.addBlob(bytes) as Digest;
    reg.cuts.set(d, [70_000, 50_000]);
    const path = join(dir, 'b.partial');
    await client().blob(d, bytes.length, path);
    t.deepEqual(await readFile(path), bytes);
    const ranges = reg.log.map((r) => r.range);
    t.is(ranges.length, 3);
    t.is(ranges[0], undefined);
    // Resumed from where each attempt ended (what reached the file, at least the first cut).
    t.regex(ranges[1] ?? '', /^bytes=\d+-$/);
    const start = (r: string | undefined): number => Number(/\d+/.exec(r ?? '')?.[0] ?? 'NaN');
    t.true(start(ranges[1]) > 0 && start(ranges[2]) >= start(ranges[1]), ranges.join(' '));
  });
});

test('registry-client: a registry ignoring Range gets the whole blob again', async (t) => {
  await withRegistry({ noRange: true }, async (reg, dir, client) => {
    const bytes = randomBytes(200_000);
    const d = reg.addBlob(bytes) as Digest;
    reg.cuts.set(d, [60_000]);
    const path = join(dir, 'b.partial');
    await client().blob(d, bytes.length, path);
    t.deepEqual(await readFile(path), bytes);
  });
});

test('registry-client: cut on every attempt gives up as unreachable and removes the partial', async (t) => {
  await withRegistry({}, async (reg, dir, client) => {
    const bytes = randomBytes(200_000);
    const d = reg.addBlob(bytes) as Digest;
    reg.cuts.set(d, [10_000, 10_000, 10_000]);
    const path = join(dir, 'b.partial');
    const err = await t.throwsAsync(client().blob(d, bytes.length, path), {
      instanceOf: ImageError,
    });
    t.is(err?.code, ImageErrorCode.Unreachable);
    t.true(err?.temporary);
    t.false(await exists(path));
  });
});

test('registry-client: unknown manifests are not-found, closed ports unreachable', async (t) => {
  await withRegistry({}, async (reg, _dir, client) => {
    const nf = await t.throwsAsync(client().manifest('nope'), { instanceOf: ImageError });
    t.is(nf?.code, ImageErrorCode.NotFound);
    await reg.stop();
    const un = await t.throwsAsync(client().manifest('nope'), { instanceOf: ImageError });
    t.is(un?.code, ImageErrorCode.Unreachable);
    t.regex(un?.message ?? '', /ECONNREFUSED/);
  });
});
