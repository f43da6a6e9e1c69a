// One repository on one registry, spoken to over the OCI distribution API with Node's fetch
// (undici): manifests by tag or digest, blobs streamed to a file with their sha256 checked on the
// fly, Bearer tokens obtained through the WWW-Authenticate challenge, redirects followed (blob
// storage often lives elsewhere; fetch drops Authorization when the origin changes), and an
// interrupted blob resumed with a Range request from the bytes already on disk.

import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';

import { systemClock, type Clock } from '../clock.js';
import { ImageError, ImageErrorCode } from './errors.js';
import { MANIFEST_ACCEPT } from './manifest.js';
import { type Digest } from './digest.js';
import { parseChallenge } from './www-authenticate.js';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface RetryPolicy {
  /** Attempts per blob, the first included. */
  readonly attempts: number;
  /** Delay before the second attempt; doubled for each further one. */
  readonly delayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, delayMs: 200 };

export interface RegistryClientOptions {
  /** The reference as the caller wrote it, for error messages. */
  readonly reference: string;
  readonly registry: string;
  /**
   * host[:port] the HTTP requests go to, when not `registry` itself (a mirror standing in for it;
   * the repository path is the same). Default: `registry`.
   */
  readonly endpoint?: string | undefined;
  readonly repository: string;
  readonly plainHttp: boolean;
  readonly credentials?: Credentials | undefined;
  readonly retry?: RetryPolicy;
  readonly fetch?: typeof fetch;
  /** Times the pauses between blob attempts. */
  readonly clock?: Clock;
  readonly signal?: AbortSignal | undefined;
}

export interface FetchedManifest {
  readonly bytes: Uint8Array;
  readonly digest: Digest;
  readonly contentType: string | undefined;
}

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const sha256 = (bytes: Uint8Array): Digest =>
  `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;

function sleep(clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      cancel();
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    const cancel = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

export class RegistryClient {
  readonly #o: RegistryClientOptions;
  readonly #fetch: typeof fetch;
  readonly #base: string;
  /** How the registry is named in errors: `registry`, plus the mirror when there is one. */
  readonly #where: string;
  #authorization: string | undefined;

  constructor(options: RegistryClientOptions) {
    this.#o = options;
    this.#fetch = options.fetch ?? fetch;
    const endpoint = options.endpoint ?? options.registry;
    this.#base = `${options.plainHttp ? 'http' : 'https'}://${endpoint}/v2/${options.repository}`;
    this.#where =
      endpoint === options.registry ? endpoint : `${options.registry} (mirror ${endpoint})`;
  }

  #error(code: ImageErrorCode, detail: string, cause?: unknown): ImageError {
    return new ImageError(
      code,
      this.#o.reference,
      detail,
      cause === undefined ? undefined : { cause },
    );
  }

  /** Maps a thrown fetch/stream error to a typed one; aborts stay aborts. */
  #wrap(err: unknown, what: string): ImageError {
    if (err instanceof ImageError) return err;
    if (this.#o.signal?.aborted === true)
      return this.#error(ImageErrorCode.Aborted, `${what}: aborted`, err);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    return this.#error(ImageErrorCode.Unreachable, `${what}: ${this.#where}: ${why}`, err);
  }

  #statusError(status: number, what: string): ImageError {
    if (status === 404)
      return this.#error(ImageErrorCode.NotFound, `${what}: not found (HTTP 404)`);
    if (status === 401 || status === 403) {
      return this.#error(ImageErrorCode.Unauthorized, `${what}: access denied (HTTP ${status})`);
    }
    if (status >= 500 || status === 429) {
      return this.#error(ImageErrorCode.Unreachable, `${what}: registry answered HTTP ${status}`);
    }
    return this.#error(ImageErrorCode.Protocol, `${what}: unexpected HTTP ${status}`);
  }

  /** GET with the current authorization; on a 401 challenge, authenticates once and retries. */
  async #get(url: string, headers: Record<string, string>, what: string): Promise<Response> {
    const send = async (): Promise<Response> => {
      const h: Record<string, string> = { 'accept-encoding': 'identity', ...headers };
      if (this.#authorization !== undefined) h.authorization = this.#authorization;
      try {
        return await this.#fetch(url, {
          headers: h,
          redirect: 'follow',
          signal: this.#o.signal ?? null,
        });
      } catch (err) {
        throw this.#wrap(err, what);
      }
    };
    let res = await send();
    if (res.status !== 401) return res;
    const challenge = res.headers.get('www-authenticate');
    await res.body?.cancel();
    if (challenge === null) throw this.#statusError(401, what);
    await this.#authenticate(challenge, what);
    res = await send();
    return res;
  }

  async #authenticate(header: string, what: string): Promise<void> {
    const c = parseChallenge(header);
    const creds = this.#o.credentials;
    if (c?.scheme === 'basic') {
      if (creds === undefined) {
        throw this.#error(
          ImageErrorCode.Unauthorized,
          `${what}: registry wants a password and none is configured`,
        );
      }
      this.#authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      return;
    }
    const realm = c?.params.realm;
    if (c?.scheme !== 'bearer' || realm === undefined) {
      throw this.#error(ImageErrorCode.Unauthorized, `${what}: unsupported challenge "${header}"`);
    }
    let url: URL;
    try {
      url = new URL(realm);
    } catch (err) {
      throw this.#error(ImageErrorCode.Protocol, `${what}: bad token realm "${realm}"`, err);
    }
    if (c.params.service !== undefined) url.searchParams.set('service', c.params.service);
    url.searchParams.set('scope', c.params.scope ?? `repository:${this.#o.repository}:pull`);
    const headers: Record<string, string> = {};
    if (creds !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    let res: Response;
    try {
      res = await this.#fetch(url, { headers, signal: this.#o.signal ?? null });
    } catch (err) {
      throw this.#wrap(err, `${what}: token server ${url.host}`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw this.#error(
        ImageErrorCode.Unauthorized,
        `${what}: token server ${url.host} answered HTTP ${res.status}`,
      );
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch (err) {
      throw this.#wrap(err, `${what}: token server reply`);
    }
    const b = body as { token?: unknown; access_token?: unknown } | null;
    const token = typeof b?.token === 'string' ? b.token : b?.access_token;
    if (typeof token !== 'string' || token === '') {
      throw this.#error(ImageErrorCode.Unauthorized, `${what}: token server gave no token`);
    }
    this.#authorization = `Bearer ${token}`;
  }

  /**
   * Fetches a manifest or index by tag or digest. Its digest is computed from the bytes; when
   * asked by digest, or when the registry states one, they must agree.
   */
  async manifest(tagOrDigest: string, expected?: Digest): Promise<FetchedManifest> {
    const what = `manifest ${tagOrDigest}`;
    const res = await this.#get(
      `${this.#base}/manifests/${tagOrDigest}`,
      { accept: MANIFEST_ACCEPT },
      what,
    );
    if (res.status !== 200) {
      await res.body?.cancel();
      throw this.#statusError(res.status, what);
    }
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > MAX_MANIFEST_BYTES) {
      await res.body?.cancel();
      throw this.#error(
        ImageErrorCode.Protocol,
        `${what}: ${declared} bytes is too large for a manifest`,
      );
    }
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await res.arrayBuffer());
    } catch (err) {
      throw this.#wrap(err, what);
    }
    if (bytes.length > MAX_MANIFEST_BYTES) {
      throw this.#error(ImageErrorCode.Protocol, `${what}: too large for a manifest`);
    }
    const digest = sha256(bytes);
    const stated = res.headers.get('docker-content-digest');
    if (expected !== undefined && digest !== expected) {
      throw this.#error(ImageErrorCode.DigestMismatch, `${what}: content hashes to ${digest}`);
    }
    if (stated !== null && stated.startsWith('sha256:') && stated !== digest) {
      throw this.#error(
        ImageErrorCode.DigestMismatch,
        `${what}: registry says ${stated}, content hashes to ${digest}`,
      );
    }
    return { bytes, digest, contentType: res.headers.get('content-type') ?? undefined };
  }

  /**
   * Downloads blob `digest` of `size` bytes into `partialPath`, resuming from what is already
   * there when the registry honours Range, retrying interrupted transfers per the retry policy.
   * Resolves once the file holds exactly the blob; on failure the partial file is removed.
   */
  async blob(
    digest: Digest,
    size: number,
    partialPath: string,
    onProgress?: (bytes: number, total: number) => void,
  ): Promise<void> {
    const retry = this.#o.retry ?? DEFAULT_RETRY;
    const what = `blob ${digest}`;
    let lastError: ImageError | undefined;
    try {
      for (let attempt = 0; attempt < retry.attempts; attempt++) {
        if (attempt > 0) {
          try {
            await sleep(
              this.#o.clock ?? systemClock,
              retry.delayMs * 2 ** (attempt - 1),
              this.#o.signal,
            );
          } catch (err) {
            throw this.#wrap(err, what);
          }
        }
        try {
          await this.#blobAttempt(digest, size, partialPath, what, onProgress);
          return;
        } catch (err) {
          const e = this.#wrap(err, what);
          if (e.code !== ImageErrorCode.Unreachable) throw e;
          lastError = e;
        }
      }
      throw this.#error(
        ImageErrorCode.Unreachable,
        `${what}: gave up after ${retry.attempts} attempts: ${lastError?.message ?? ''}`,
        lastError,
      );
    } catch (err) {
      await rm(partialPath, { force: true });
      throw err;
    }
  }

  async #blobAttempt(
    digest: Digest,
    size: number,
    partialPath: string,
    what: string,
    onProgress: ((bytes: number, total: number) => void) | undefined,
  ): Promise<void> {
    const have = await stat(partialPath).then(
      (s) => s.size,
      () => 0,
    );
    const headers: Record<string, string> = {};
    if (have > 0 && have < size) headers.range = `bytes=${have}-`;
    const res = await this.#get(`${this.#base}/blobs/${digest}`, headers, what);
    let offset: number;
    if (res.status === 206 && have > 0 && have < size) {
      const range = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
      if (range === null || Number(range[1]) !== have) {
        await res.body?.cancel();
        throw this.#error(
          ImageErrorCode.Protocol,
          `${what}: asked for bytes ${have}- and got a different range`,
        );
      }
      offset = have;
    } else if (res.status === 200) {
      offset = 0;
    } else {
      await res.body?.cancel();
      throw this.#statusError(res.status, what);
    }
    const hash = createHash('sha256');
    if (offset > 0) await hashFile(partialPath, hash);
    const file = await open(partialPath, offset > 0 ? 'r+' : 'w');
    let written = offset;
    try {
      if (res.body !== null) {
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          if (written + chunk.length > size) {
            throw this.#error(
              ImageErrorCode.Protocol,
              `${what}: more than the ${size} bytes the manifest states`,
            );
          }
          hash.update(chunk);
          await file.write(chunk, 0, chunk.length, written);
          written += chunk.length;
          onProgress?.(written, size);
        }
      }
    } finally {
      await file.close();
    }
    if (written !== size) {
      throw this.#error(
        ImageErrorCode.Unreachable,
        `${what}: transfer ended at ${written} of ${size} bytes`,
      );
    }
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== digest) {
      throw this.#error(ImageErrorCode.DigestMismatch, `${what}: content hashes to ${got}`);
    }
  }
}
