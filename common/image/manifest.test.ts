import test from 'ava';

import {
  MediaType,
  parseImageConfig,
  parseManifest,
  selectPlatform,
  type Descriptor,
} from './manifest.js';
import { parseChallenge } from './www-authenticate.js';
import type { Digest } from './digest.js';

const d = (c: string): Digest => `sha256:${c.repeat(64)}` as Digest;
const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));

test('manifest: OCI and Docker v2 image manifests parse with layer compression', (t) => {
  for (const [mt, layerType, compression] of [
    [MediaType.OciManifest, MediaType.OciLayerGzip, 'gzip'],
    [MediaType.OciManifest, MediaType.OciLayerTar, 'none'],
    [MediaType.DockerManifest, MediaType.DockerLayerGzip, 'gzip'],
  ] as const) {
    const p = parseManifest(
      enc({
        schemaVersion: 2,
        mediaType: mt,
        config: { mediaType: MediaType.OciConfig, digest: d('a'), size: 10 },
        layers: [{ mediaType: layerType, digest: d('b'), size: 20 }],
      }),
      undefined,
    );
    t.true(p.ok);
    if (p.ok && p.value.type === 'image') {
      t.is(p.value.config.digest, d('a'));
      t.is(p.value.layers[0]?.compression, compression);
    } else t.fail();
  }
});

test('manifest: the response content type decides when mediaType is absent', (t) => {
  const p = parseManifest(
    enc({ schemaVersion: 2, manifests: [] }),
    `${MediaType.OciIndex}; charset=utf-8`,
  );
  t.true(p.ok && p.value.type === 'index');
});

test('manifest: unsupported layer types, schema 1 and junk are refused with a reason', (t) => {
  const zstd = parseManifest(
    enc({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: d('a'), size: 1 },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: d('b'), size: 1 },
      ],
    }),
    undefined,
  );
  t.false(zstd.ok);
  if (!zstd.ok) t.regex(zstd.reason, /zstd/);
  t.false(parseManifest(enc({ schemaVersion: 1 }), undefined).ok);
  t.false(parseManifest(Buffer.from('{'), undefined).ok);
  t.false(
    parseManifest(
      enc({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { digest: 'sha256:x' },
        layers: [],
      }),
      undefined,
    ).ok,
  );
});

test('manifest: index selection picks linux/amd64', (t) => {
  const entry = (c: string, os: string, architecture: string, variant?: string): Descriptor => ({
    mediaType: MediaType.OciManifest,
    digest: d(c),
    size: 1,
    platform: { os, architecture, variant },
  });
  const idx = [
    entry('1', 'linux', 'arm64', 'v8'),
    entry('2', 'windows', 'amd64'),
    entry('3', 'linux', 'amd64'),
  ];
  t.is(selectPlatform(idx)?.digest, d('3'));
  t.is(selectPlatform(idx.slice(0, 2)), undefined);
  t.is(
    selectPlatform([entry('4', 'linux', 'amd64', 'v3'), entry('5', 'linux', 'amd64')])?.digest,
    d('5'),
  );
  const parsed = parseManifest(
    enc({ schemaVersion: 2, mediaType: MediaType.DockerList, manifests: idx }),
    undefined,
  );
  t.true(parsed.ok && parsed.value.type === 'index' && parsed.value.manifests.length === 3);
});

test('manifest: image config yields the runtime fields and diff ids', (t) => {
  const p = parseImageConfig(
    enc({
      os: 'linux',
      architecture: 'amd64',
      config: { Cmd: ['sh'], Env: ['PATH=/bin'], WorkingDir: '', User: '65534' },
      rootfs: { type: 'layers', diff_ids: [d('c')] },
    }),
  );
  t.true(p.ok);
  if (p.ok) {
    t.deepEqual(p.value.cmd, ['sh']);
    t.deepEqual(p.value.entrypoint, []);
    t.is(p.value.workingDir, '/');
    t.is(p.value.user, '65534');
    t.deepEqual(p.value.diffIds, [d('c')]);
  }
});

test('www-authenticate: Bearer and Basic challenges parse', (t) => {
  t.deepEqual(
    parseChallenge(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"',
    ),
    {
      scheme: 'bearer',
      params: {
        realm: 'https://auth.example/token',
        service: 'registry.example',
        scope: 'repository:a/b:pull',
      },
    },
  );
  t.deepEqual(parseChallenge('Basic realm="x \\"y\\""'), {
    scheme: 'basic',
    params: { realm: 'x "y"' },
  });
  t.deepEqual(parseChallenge('Bearer realm=plain, error=insufficient_scope'), {
    scheme: 'bearer',
    params: { realm: 'plain', error: 'insufficient_scope' },
  });
  t.is(parseChallenge(''), undefined);
});
