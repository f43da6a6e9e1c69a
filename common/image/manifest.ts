// The JSON documents of the distribution API, checked at the edge: OCI and Docker v2 schema 2
// manifests, OCI indexes and Docker manifest lists, and the image config. Pure: bytes in, typed
// outcome out; choosing the linux/amd64 entry of an index lives here too.

import { isDigest, type Digest } from './digest.js';

export const MediaType = {
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  DockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  OciLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/**
 * Sent on every manifest request: distribution 2.8 answers 404 for an OCI manifest unless the
 * Accept header lists the OCI types (DESIGN.md, Pitfalls).
 */
export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerList,
  MediaType.DockerManifest,
].join(', ');

export const LayerCompression = { None: 'none', Gzip: 'gzip' } as const;
export type LayerCompression = (typeof LayerCompression)[keyof typeof LayerCompression];

const LAYER_TYPES: Readonly<Record<string, LayerCompression>> = {
  [MediaType.OciLayerTar]: LayerCompression.None,
  [MediaType.OciLayerGzip]: LayerCompression.Gzip,
  [MediaType.DockerLayerGzip]: LayerCompression.Gzip,
};

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string | undefined;
}

export const LINUX_AMD64: Platform = { os: 'linux', architecture: 'amd64' };

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly platform?: Platform | undefined;
}

export interface LayerDescriptor extends Descriptor {
  readonly compression: LayerCompression;
}

export type ParsedManifest =
  | { readonly type: 'index'; readonly manifests: readonly Descriptor[] }
  | {
      readonly type: 'image';
      readonly config: Descriptor;
      readonly layers: readonly LayerDescriptor[];
    };

export interface ImageConfig {
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly env: readonly string[];
  readonly workingDir: string;
  readonly user: string;
  /** Digests of the uncompressed layers, bottom first. */
  readonly diffIds: readonly Digest[];
  readonly platform: Platform;
}

export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isStringArray = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((s) => typeof s === 'string');

function parseJson(bytes: Uint8Array): Parsed<Record<string, unknown>> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  return isObject(v) ? { ok: true, value: v } : { ok: false, reason: 'not a JSON object' };
}

function parseDescriptor(v: unknown, what: string): Parsed<Descriptor> {
  if (!isObject(v)) return { ok: false, reason: `${what} is not an object` };
  const { mediaType, digest, size, platform } = v;
  if (typeof mediaType !== 'string') return { ok: false, reason: `${what} has no mediaType` };
  if (typeof digest !== 'string' || !isDigest(digest)) {
    return { ok: false, reason: `${what} has no sha256 digest` };
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    return { ok: false, reason: `${what} has no valid size` };
  }
  let p: Platform | undefined;
  if (
    isObject(platform) &&
    typeof platform.os === 'string' &&
    typeof platform.architecture === 'string'
  ) {
    p = {
      os: platform.os,
      architecture: platform.architecture,
      variant: typeof platform.variant === 'string' ? platform.variant : undefined,
    };
  }
  return { ok: true, value: { mediaType, digest, size, platform: p } };
}

/**
 * Parses a manifest or index. `contentType` is the response's Content-Type; the document's own
 * `mediaType` wins when present (OCI makes it optional, Docker requires it).
 */
export function parseManifest(
  bytes: Uint8Array,
  contentType: string | undefined,
): Parsed<ParsedManifest> {
  const json = parseJson(bytes);
  if (!json.ok) return json;
  const doc = json.value;
  if (doc.schemaVersion !== 2) {
    return {
      ok: false,
      reason: `schemaVersion ${String(doc.schemaVersion)} (only 2 is supported)`,
    };
  }
  const declared =
    typeof doc.mediaType === 'string' ? doc.mediaType : contentType?.split(';')[0]?.trim();
  const isIndex =
    declared === MediaType.OciIndex ||
    declared === MediaType.DockerList ||
    (declared === undefined && Array.isArray(doc.manifests));
  if (isIndex) {
    if (!Array.isArray(doc.manifests)) return { ok: false, reason: 'index has no manifests' };
    const manifests: Descriptor[] = [];
    for (const [i, m] of doc.manifests.entries()) {
      const d = parseDescriptor(m, `manifests[${i}]`);
      if (!d.ok) return d;
      manifests.push(d.value);
    }
    return { ok: true, value: { type: 'index', manifests } };
  }
  if (
    declared !== undefined &&
    declared !== MediaType.OciManifest &&
    declared !== MediaType.DockerManifest
  ) {
    return { ok: false, reason: `unsupported manifest media type ${declared}` };
  }
  const config = parseDescriptor(doc.config, 'config');
  if (!config.ok) return config;
  if (!Array.isArray(doc.layers)) return { ok: false, reason: 'manifest has no layers' };
  const layers: LayerDescriptor[] = [];
  for (const [i, l] of doc.layers.entries()) {
    const d = parseDescriptor(l, `layers[${i}]`);
    if (!d.ok) return d;
    const compression = LAYER_TYPES[d.value.mediaType];
    if (compression === undefined) {
      return { ok: false, reason: `layers[${i}] has unsupported media type ${d.value.mediaType}` };
    }
    layers.push({ ...d.value, compression });
  }
  return { ok: true, value: { type: 'image', config: config.value, layers } };
}

/**
 * The index entry for `want`: an exact os/architecture match, preferring one without a variant
 * or with the wanted variant. Undefined when there is none (the caller reports the platforms seen).
 */
export function selectPlatform(
  manifests: readonly Descriptor[],
  want: Platform = LINUX_AMD64,
): Descriptor | undefined {
  const candidates = manifests.filter(
    (m) =>
      m.platform !== undefined &&
      m.platform.os === want.os &&
      m.platform.architecture === want.architecture &&
      (want.variant === undefined ||
        m.platform.variant === undefined ||
        m.platform.variant === want.variant),
  );
  return (
    candidates.find((m) => m.platform?.variant === want.variant) ??
    candidates.find((m) => m.platform?.variant === undefined) ??
    candidates[0]
  );
}

export const describePlatforms = (manifests: readonly Descriptor[]): string =>
  manifests
    .map((m) =>
      m.platform === undefined
        ? 'unknown'
        : [m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/'),
    )
    .join(', ') || 'none';

const optStrings = (v: unknown): string[] => (isStringArray(v) ? v : []);

export function parseImageConfig(bytes: Uint8Array): Parsed<ImageConfig> {
  const json = parseJson(bytes);
  if (!json.ok) return json;
  const doc = json.value;
  const c = isObject(doc.config) ? doc.config : {};
  const rootfs = isObject(doc.rootfs) ? doc.rootfs : {};
  const diffIdsRaw = optStrings(rootfs.diff_ids);
  const diffIds = diffIdsRaw.filter(isDigest);
  if (diffIds.length !== diffIdsRaw.length) {
    return { ok: false, reason: 'rootfs.diff_ids holds a digest that is not sha256' };
  }
  return {
    ok: true,
    value: {
      entrypoint: optStrings(c.Entrypoint),
      cmd: optStrings(c.Cmd),
      env: optStrings(c.Env),
      workingDir: typeof c.WorkingDir === 'string' && c.WorkingDir !== '' ? c.WorkingDir : '/',
      user: typeof c.User === 'string' ? c.User : '',
      diffIds,
      platform: {
        os: typeof doc.os === 'string' ? doc.os : '',
        architecture: typeof doc.architecture === 'string' ? doc.architecture : '',
      },
    },
  };
}
