// An in-process registry speaking just enough of the distribution API for the pull client's unit
// tests, with knobs for what a real one rarely does on demand: require Bearer tokens, redirect
// blobs elsewhere, cut a blob off mid-transfer, ignore Range, or serve bytes that do not match
// their digest. Every request is logged for assertions.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRegistryOptions {
  /** Require `Authorization: Bearer <token>`; the token server at /token hands it out. */
  readonly token?: string;
  /** Answer blob requests with a 307 to /storage/<digest>. */
  readonly redirectBlobs?: boolean;
  /** Ignore Range headers (always send the whole blob with 200). */
  readonly noRange?: boolean;
}

export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly range: string | undefined;
  readonly authorization: string | undefined;
  readonly accept: string | undefined;
}

export const sha256Of = (b: Uint8Array): string =>
  `sha256:${createHash('sha256').update(b).digest('hex')}`;

export class FakeRegistry {
  readonly #server: Server;
  readonly #o: FakeRegistryOptions;
  readonly blobs = new Map<string, Buffer>();
  readonly manifests = new Map<string, { bytes: Buffer; mediaType: string }>();
  /** digest → bytes to send before destroying the connection, consumed by one request each. */
  readonly cuts = new Map<string, number[]>();
  /** digest → bytes to serve instead of the real content. */
  readonly corrupt = new Map<string, Buffer>();
  readonly log: LoggedRequest[] = [];
  host = '';

  private constructor(o: FakeRegistryOptions) {
    this.#o = o;
    this.#server = createServer((req, res) => {
      this.#handle(req, res);
    });
  }

  static async start(o: FakeRegistryOptions = {}): Promise<FakeRegistry> {
    const r = new FakeRegistry(o);
    await new Promise<void>((resolve) => r.#server.listen(0, '127.0.0.1', resolve));
    r.host = `127.0.0.1:${(r.#server.address() as AddressInfo).port}`;
    return r;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
    });
  }

  addBlob(bytes: Buffer): string {
    const d = sha256Of(bytes);
    this.blobs.set(d, bytes);
    return d;
  }

  /** Stores a manifest under its digest and, if given, a tag; returns the digest. */
  addManifest(doc: unknown, mediaType: string, tag?: string): string {
    const bytes = Buffer.from(JSON.stringify(doc));
    const d = sha256Of(bytes);
    this.manifests.set(d, { bytes, mediaType });
    if (tag !== undefined) this.manifests.set(tag, { bytes, mediaType });
    return d;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', `http://${this.host}`);
    this.log.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      range: req.headers.range,
      authorization: req.headers.authorization,
      accept: req.headers.accept,
    });
    if (url.pathname === '/token') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: this.#o.token ?? '' }));
      return;
    }
    const storage = /^\/storage\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
    if (storage !== null) {
      this.#sendBlob(storage[1]!, req, res);
      return;
    }
    if (this.#o.token !== undefined && req.headers.authorization !== `Bearer ${this.#o.token}`) {
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="http://${this.host}/token",service="fake",scope="repository:x:pull"`,
      });
      res.end();
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (m === null) {
      res.writeHead(url.pathname === '/v2/' ? 200 : 404);
      res.end();
      return;
    }
    const [, , kind, id] = m;
    if (kind === 'manifests') {
      const man = this.manifests.get(id!);
      if (man === undefined) {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200, {
        'content-type': man.mediaType,
        'docker-content-digest': sha256Of(man.bytes),
      });
      res.end(man.bytes);
      return;
    }
    if (this.#o.redirectBlobs === true) {
      res.writeHead(307, { location: `http://${this.host}/storage/${id!}` });
      res.end();
      return;
    }
    this.#sendBlob(id!, req, res);
  }

  #sendBlob(digest: string, req: IncomingMessage, res: ServerResponse): void {
    const real = this.blobs.get(digest);
    if (real === undefined) {
      res.writeHead(404);
      res.end();
      return;
    }
    const bytes = this.corrupt.get(digest) ?? real;
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range !== null && this.#o.noRange !== true) start = Number(range[1]);
    const body = bytes.subarray(start);
    const headers: Record<string, string> = { 'content-length': String(body.length) };
    if (start > 0) headers['content-range'] = `bytes ${start}-${bytes.length - 1}/${bytes.length}`;
    res.writeHead(start > 0 ? 206 : 200, headers);
    const cut = this.cuts.get(digest)?.shift();
    if (cut !== undefined) {
      res.write(body.subarray(0, cut), () => {
        res.destroy();
      });
      return;
    }
    res.end(body);
  }
}
