// The agent's images: pulls a reference into the content-addressed store, unpacks each layer once
// for overlayfs, keeps one record per reference, and collects what no task uses. One pull per
// reference is in flight at a time however many tasks ask (they share its outcome), and one
// download or unpack per blob (two images sharing a layer fetch it once). GC waits for running
// pulls and holds new ones back while it deletes, so it never removes a blob a pull is using.

import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';

import { systemClock, type Clock } from '../../common/clock.js';
import { digestFromHex, type Digest } from '../../common/image/digest.js';
import { ImageError, ImageErrorCode } from '../../common/image/errors.js';
import { UnpackFailure, unpackLayer } from './layer-unpack.js';
import {
  describePlatforms,
  LINUX_AMD64,
  parseImageConfig,
  parseManifest,
  selectPlatform,
  type Descriptor,
  type LayerDescriptor,
} from '../../common/image/manifest.js';
import {
  formatReference,
  parseReference,
  type ImageReference,
} from '../../common/image/reference.js';
import {
  RegistryClient,
  type Credentials,
  type RetryPolicy,
} from '../../common/image/registry-client.js';
import { StoreLayout } from './store-layout.js';
import { isLoopbackRegistry } from '../../common/image/registry-host.js';

// Moved to common/image (the manager needs the same rule); re-exported for agent imports.
export { isLoopbackRegistry };

/** What a container needs from its image. */
export interface ImageRuntimeConfig {
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly env: readonly string[];
  readonly workingDir: string;
  readonly user: string;
}

export interface ImageRecord {
  /** The canonical reference (default tag filled in). */
  readonly reference: string;
  readonly manifestDigest: Digest;
  /** The index the manifest was chosen from, when the reference named one. */
  readonly indexDigest: Digest | null;
  readonly configDigest: Digest;
  readonly config: ImageRuntimeConfig;
  /** Layer blob digests, bottom first. */
  readonly layers: readonly Digest[];
  /** Unpacked layer directories, TOP first: the order overlayfs `lowerdir=a:b:c` wants. */
  readonly lowerDirs: readonly string[];
  readonly pulledAtMs: number;
}

export interface PullProgress {
  readonly reference: string;
  readonly digest: Digest;
  readonly bytes: number;
  readonly total: number;
}

export interface ImageServiceOptions {
  /** Directory holding blobs, layers and records (created if missing). */
  readonly root: string;
  /**
   * Registry mirrors: registry host[:port] as written in references → the host[:port] its HTTP
   * requests go to instead (as containerd's hosts.toml or Docker's registry-mirrors). The
   * reference, its record and every report keep the registry's name; only the requests move.
   */
  readonly mirrors?: ReadonlyMap<string, string>;
  /**
   * Whether to speak plain HTTP to a host[:port] (the mirror's when the registry has one).
   * Default: only loopback hosts.
   */
  readonly plainHttp?: (registry: string) => boolean;
  readonly credentials?: (registry: string) => Credentials | undefined;
  readonly retry?: RetryPolicy;
  readonly fetch?: typeof fetch;
  readonly clock?: Clock;
  readonly onProgress?: (p: PullProgress) => void;
  /** Ends every pull in flight (the service's lifetime); callers abandon theirs with pull's signal. */
  readonly signal?: AbortSignal;
  /** Layer downloads and unpacks in parallel within one pull. */
  readonly layerConcurrency?: number;
}

export interface GcResult {
  readonly removedImages: readonly string[];
  readonly removedBlobs: number;
  readonly removedLayers: number;
}

/** Counters for tests and metrics. */
export interface ImageStats {
  pulls: number;
  blobDownloads: number;
  layerUnpacks: number;
}

/** Waits for `p` unless `signal` aborts first (then rejects with an aborted ImageError). */
function abortable<T>(p: Promise<T>, signal: AbortSignal, reference: string): Promise<T> {
  const aborted = (): ImageError =>
    new ImageError(ImageErrorCode.Aborted, reference, 'pull abandoned by the caller', {
      cause: signal.reason,
    });
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(aborted());
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

export class ImageService {
  readonly #o: ImageServiceOptions;
  readonly #layout: StoreLayout;
  readonly #clock: Clock;
  readonly #pulls = new Map<string, Promise<ImageRecord>>();
  readonly #blobs = new Map<Digest, Promise<void>>();
  readonly #layers = new Map<Digest, Promise<string>>();
  /** Pulls past the GC gate: GC waits for these; later pulls wait for GC. */
  readonly #active = new Set<Promise<ImageRecord>>();
  #gc: Promise<GcResult> | undefined;
  readonly stats: ImageStats = { pulls: 0, blobDownloads: 0, layerUnpacks: 0 };

  constructor(options: ImageServiceOptions) {
    this.#o = options;
    this.#layout = new StoreLayout(options.root);
    this.#clock = options.clock ?? systemClock;
  }

  get layout(): StoreLayout {
    return this.#layout;
  }

  /** Parses `reference`, throwing a bad-reference ImageError with the reason. */
  static parse(reference: string): ImageReference {
    const r = parseReference(reference);
    if (!r.ok) throw new ImageError(ImageErrorCode.BadReference, reference, r.reason);
    return r.ref;
  }

  /**
   * Makes the image available locally and returns its record. Concurrent calls for the same
   * reference share one pull. A digest-pinned reference already present needs no network; a tag
   * is resolved again, but if the registry cannot be reached the local copy is used.
   */
  async pull(reference: string, signal?: AbortSignal): Promise<ImageRecord> {
    const ref = ImageService.parse(reference);
    const key = formatReference(ref);
    const shared = this.#pulls.get(key) ?? this.#startPull(reference, ref, key);
    return signal === undefined ? shared : abortable(shared, signal, reference);
  }

  #startPull(reference: string, ref: ImageReference, key: string): Promise<ImageRecord> {
    // The shared pull ends only with the service (options.signal): one caller giving up must not
    // fail the others waiting on the same image.
    const signal = this.#o.signal;
    const p = (async () => {
      while (this.#gc !== undefined) await this.#gc.catch(() => undefined);
      const work = this.#pullOnce(reference, ref, key, signal);
      this.#active.add(work);
      try {
        return await work;
      } finally {
        this.#active.delete(work);
      }
    })();
    this.#pulls.set(key, p);
    const forget = (): void => {
      if (this.#pulls.get(key) === p) this.#pulls.delete(key);
    };
    p.then(forget, forget);
    return p;
  }

  /** The local record for `reference`, or undefined. */
  async get(reference: string): Promise<ImageRecord | undefined> {
    return this.#readRecord(formatReference(ImageService.parse(reference)));
  }

  async list(): Promise<ImageRecord[]> {
    const names = await readdir(this.#layout.imagesDir).catch(() => [] as string[]);
    const out: ImageRecord[] = [];
    for (const n of names.filter((x) => x.endsWith('.json'))) {
      const r = await this.#readFile(`${this.#layout.imagesDir}/${n}`);
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  async #readFile(path: string): Promise<ImageRecord | undefined> {
    try {
      return JSON.parse(await readFile(path, 'utf8')) as ImageRecord;
    } catch {
      return undefined;
    }
  }

  #readRecord(key: string): Promise<ImageRecord | undefined> {
    return this.#readFile(this.#layout.image(key));
  }

  async #pullOnce(
    reference: string,
    ref: ImageReference,
    key: string,
    signal: AbortSignal | undefined,
  ): Promise<ImageRecord> {
    let local = await this.#readRecord(key);
    if (local === undefined && ref.digest !== undefined) {
      // Pinned content is the same whatever tag or name it was first pulled under.
      const same = (await this.list()).find(
        (r) => r.manifestDigest === ref.digest || r.indexDigest === ref.digest,
      );
      if (same !== undefined) local = await this.#writeRecord({ ...same, reference: key });
    }
    if (local !== undefined && ref.digest !== undefined) return local;
    try {
      return await this.#fetchImage(reference, ref, key, signal, local);
    } catch (err) {
      if (
        local !== undefined &&
        err instanceof ImageError &&
        err.code === ImageErrorCode.Unreachable
      ) {
        return local;
      }
      throw err;
    }
  }

  async #fetchImage(
    reference: string,
    ref: ImageReference,
    key: string,
    signal: AbortSignal | undefined,
    local?: ImageRecord,
  ): Promise<ImageRecord> {
    this.stats.pulls++;
    const fail = (code: ImageErrorCode, detail: string, cause?: unknown): ImageError =>
      new ImageError(code, reference, detail, cause === undefined ? undefined : { cause });
    const L = this.#layout;
    await Promise.all(
      [L.blobsDir, L.ingestDir, L.layersDir, L.imagesDir].map((d) => mkdir(d, { recursive: true })),
    );
    const endpoint = this.#o.mirrors?.get(ref.registry) ?? ref.registry;
    const client = new RegistryClient({
      reference,
      registry: ref.registry,
      endpoint,
      repository: ref.repository,
      plainHttp: (this.#o.plainHttp ?? isLoopbackRegistry)(endpoint),
      credentials: this.#o.credentials?.(ref.registry),
      ...(this.#o.retry === undefined ? {} : { retry: this.#o.retry }),
      ...(this.#o.fetch === undefined ? {} : { fetch: this.#o.fetch }),
      clock: this.#clock,
      signal,
    });

    let fetched = await client.manifest(ref.digest ?? ref.tag!, ref.digest);
    // The tag still names what is here (the usual case on every start): nothing else to fetch,
    // check or write. Trusted as far as a local copy used when the registry is unreachable is.
    if (
      local !== undefined &&
      (fetched.digest === local.manifestDigest || fetched.digest === local.indexDigest)
    )
      return local;
    let parsed = parseManifest(fetched.bytes, fetched.contentType);
    if (!parsed.ok)
      throw fail(ImageErrorCode.Protocol, `manifest ${fetched.digest}: ${parsed.reason}`);
    let indexDigest: Digest | null = null;
    if (parsed.value.type === 'index') {
      const chosen = selectPlatform(parsed.value.manifests, LINUX_AMD64);
      if (chosen === undefined) {
        throw fail(
          ImageErrorCode.Unsupported,
          `no linux/amd64 image in index ${fetched.digest} (it has: ${describePlatforms(parsed.value.manifests)})`,
        );
      }
      indexDigest = fetched.digest;
      await this.#storeBytes(fetched.digest, fetched.bytes);
      fetched = await client.manifest(chosen.digest, chosen.digest);
      parsed = parseManifest(fetched.bytes, fetched.contentType);
      if (!parsed.ok)
        throw fail(ImageErrorCode.Protocol, `manifest ${fetched.digest}: ${parsed.reason}`);
      if (parsed.value.type !== 'image') {
        throw fail(ImageErrorCode.Unsupported, `index ${indexDigest} points at another index`);
      }
    }
    if (parsed.value.type !== 'image')
      throw fail(ImageErrorCode.Protocol, 'expected an image manifest');
    const manifest = parsed.value;
    await this.#storeBytes(fetched.digest, fetched.bytes);

    await this.#ensureBlob(client, manifest.config, key, signal);
    const cfg = parseImageConfig(await readFile(L.blob(manifest.config.digest)));
    if (!cfg.ok)
      throw fail(ImageErrorCode.Protocol, `config ${manifest.config.digest}: ${cfg.reason}`);
    const { os, architecture } = cfg.value.platform;
    if ((os !== '' && os !== 'linux') || (architecture !== '' && architecture !== 'amd64')) {
      throw fail(
        ImageErrorCode.Unsupported,
        `image is for ${os}/${architecture}, this host runs linux/amd64`,
      );
    }
    if (cfg.value.diffIds.length !== 0 && cfg.value.diffIds.length !== manifest.layers.length) {
      throw fail(
        ImageErrorCode.Protocol,
        `config lists ${cfg.value.diffIds.length} diff_ids for ${manifest.layers.length} layers`,
      );
    }

    const dirs = await this.#mapLimited(
      manifest.layers,
      this.#o.layerConcurrency ?? 3,
      async (layer, i) => {
        await this.#ensureBlob(client, layer, key, signal);
        return this.#ensureLayer(reference, layer, cfg.value.diffIds[i]);
      },
    );

    const record: ImageRecord = {
      reference: key,
      manifestDigest: fetched.digest,
      indexDigest,
      configDigest: manifest.config.digest,
      config: {
        entrypoint: cfg.value.entrypoint,
        cmd: cfg.value.cmd,
        env: cfg.value.env,
        workingDir: cfg.value.workingDir,
        user: cfg.value.user,
      },
      layers: manifest.layers.map((l) => l.digest),
      lowerDirs: [...dirs].reverse(),
      pulledAtMs: this.#clock.now(),
    };
    return this.#writeRecord(record);
  }

  async #writeRecord(record: ImageRecord): Promise<ImageRecord> {
    const path = this.#layout.image(record.reference);
    await writeFile(`${path}.tmp`, JSON.stringify(record, null, 2));
    await rename(`${path}.tmp`, path);
    return record;
  }

  async #mapLimited<T, R>(
    items: readonly T[],
    limit: number,
    fn: (item: T, i: number) => Promise<R>,
  ): Promise<R[]> {
    // Every started item settles before this returns, so no unpack outlives a failed pull.
    const out: R[] = new Array<R>(items.length);
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (next < items.length && !failed) {
        const i = next++;
        try {
          out[i] = await fn(items[i]!, i);
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    };
    const settled = await Promise.allSettled(
      Array.from({ length: Math.min(limit, items.length) }, worker),
    );
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    return out;
  }

  async #storeBytes(digest: Digest, bytes: Uint8Array): Promise<void> {
    const path = this.#layout.blob(digest);
    if (await exists(path)) return;
    const tmp = `${this.#layout.partial(digest)}.${process.pid}`;
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  }

  /** Downloads a blob once, however many pulls want it at the same time. */
  #ensureBlob(
    client: RegistryClient,
    d: Descriptor,
    reference: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const running = this.#blobs.get(d.digest);
    if (running !== undefined) return running;
    const p = (async () => {
      const path = this.#layout.blob(d.digest);
      if (await exists(path)) return;
      if (signal?.aborted === true) {
        throw new ImageError(ImageErrorCode.Aborted, reference, `blob ${d.digest}: aborted`);
      }
      this.stats.blobDownloads++;
      const partial = this.#layout.partial(d.digest);
      await client.blob(d.digest, d.size, partial, (bytes, total) => {
        this.#o.onProgress?.({ reference, digest: d.digest, bytes, total });
      });
      await rename(partial, path);
    })();
    this.#blobs.set(d.digest, p);
    return p.finally(() => {
      this.#blobs.delete(d.digest);
    });
  }

  /** Unpacks a layer once; returns its directory. */
  #ensureLayer(
    reference: string,
    layer: LayerDescriptor,
    diffId: Digest | undefined,
  ): Promise<string> {
    const running = this.#layers.get(layer.digest);
    if (running !== undefined) return running;
    const p = (async () => {
      const dir = this.#layout.layer(layer.digest);
      if (await exists(dir)) return dir;
      this.stats.layerUnpacks++;
      try {
        await unpackLayer(
          this.#layout.blob(layer.digest),
          layer.compression,
          diffId,
          this.#layout.layerTmp(layer.digest),
          dir,
        );
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        const code =
          err instanceof UnpackFailure && msg.includes('hashes to')
            ? ImageErrorCode.DigestMismatch
            : ImageErrorCode.Unpack;
        throw new ImageError(code, reference, `layer ${layer.digest}: ${msg}`, { cause: err });
      }
      return dir;
    })();
    this.#layers.set(layer.digest, p);
    return p.finally(() => {
      this.#layers.delete(layer.digest);
    });
  }

  /**
   * Removes every image whose reference is not in `inUse`, then every blob and layer directory no
   * remaining image refers to (and leftovers of interrupted pulls). Waits for running pulls first.
   */
  gc(inUse: Iterable<string>): Promise<GcResult> {
    const keep = new Set<string>();
    for (const r of inUse) {
      const parsed = parseReference(r);
      if (parsed.ok) keep.add(formatReference(parsed.ref));
    }
    const previous = this.#gc;
    const p = (async () => {
      if (previous !== undefined) await previous.catch(() => undefined);
      while (this.#active.size > 0) await Promise.allSettled([...this.#active]);
      return this.#collect(keep);
    })();
    this.#gc = p;
    return p.finally(() => {
      if (this.#gc === p) this.#gc = undefined;
    });
  }

  async #collect(keep: ReadonlySet<string>): Promise<GcResult> {
    const L = this.#layout;
    const removedImages: string[] = [];
    const liveBlobs = new Set<string>();
    const liveLayers = new Set<string>();
    for (const rec of await this.list()) {
      if (!keep.has(rec.reference)) {
        await rm(L.image(rec.reference), { force: true });
        removedImages.push(rec.reference);
        continue;
      }
      for (const d of [rec.manifestDigest, rec.indexDigest, rec.configDigest, ...rec.layers]) {
        if (d !== null) liveBlobs.add(L.blob(d));
      }
      for (const d of rec.layers) liveLayers.add(L.layer(d));
    }
    let removedBlobs = 0;
    for (const name of await readdir(L.blobsDir).catch(() => [] as string[])) {
      const path = `${L.blobsDir}/${name}`;
      if (digestFromHex(name) !== undefined && liveBlobs.has(path)) continue;
      await rm(path, { force: true });
      removedBlobs++;
    }
    let removedLayers = 0;
    for (const name of await readdir(L.layersDir).catch(() => [] as string[])) {
      const path = `${L.layersDir}/${name}`;
      if (liveLayers.has(path)) continue;
      await rm(path, { recursive: true, force: true });
      if (!name.startsWith('.tmp-')) removedLayers++;
    }
    await rm(L.ingestDir, { recursive: true, force: true });
    return { removedImages, removedBlobs, removedLayers };
  }
}
