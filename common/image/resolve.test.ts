import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { waitFor } from '../../bench/lib/wait.js';
import { MediaType } from './manifest.js';
import { resolveImageDigest } from './resolve.js';

const INDEX = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });
const INDEX_DIGEST = `sha256:${createHash('sha256').update(INDEX).digest('hex')}`;

/** A registry on loopback serving one tag, `app:v1`; records the requests. */
const registry = async (
  t: ExecutionContext,
  handle?: (req: IncomingMessage, res: ServerResponse) => boolean,
) => {
  const seen: { url: string; accept: string }[] = [];
  const server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', accept: req.headers.accept ?? '' });
    if (handle?.(req, res) === true) return;
    if (req.url === '/v2/app/manifests/v1') {
      res.writeHead(200, { 'content-type': MediaType.OciIndex });
      res.end(INDEX);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  );
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
};

test('resolveImageDigest: a tag resolves to the digest of what it names, index included', async (t) => {
  const r = await registry(t);
  const out = await resolveImageDigest(`${r.host}/app:v1`);
  t.deepEqual(out, { ok: true, digest: INDEX_DIGEST });
  t.is(r.seen.length, 1);
  t.true(r.seen[0]!.accept.includes(MediaType.OciIndex), 'asks for OCI types too');
});

test('resolveImageDigest: an unknown tag is a failed outcome naming it', async (t) => {
  const r = await registry(t);
  const out = await resolveImageDigest(`${r.host}/app:v2`);
  t.false(out.ok);
  if (!out.ok) t.regex(out.reason, /app:v2.*not-found/);
});

test('resolveImageDigest: a pinned reference needs no request; a bad one fails without one', async (t) => {
  const r = await registry(t);
  const d = `sha256:${'e'.repeat(64)}`;
  t.deepEqual(await resolveImageDigest(`${r.host}/app:v1@${d}`), { ok: true, digest: d });
  const bad = await resolveImageDigest('busybox');
  t.false(bad.ok);
  t.is(r.seen.length, 0);
});

test('resolveImageDigest: a mirror stands in for the registry', async (t) => {
  const mirror = await registry(t);
  const out = await resolveImageDigest('registry.local:5000/app:v1', {
    mirrors: new Map([['registry.local:5000', mirror.host]]),
  });
  t.deepEqual(out, { ok: true, digest: INDEX_DIGEST });
  t.is(mirror.seen.length, 1);
});

test('resolveImageDigest: a registry that never answers ends in a failed outcome on abort', async (t) => {
  const r = await registry(t, () => true);
  const ac = new AbortController();
  const p = resolveImageDigest(`${r.host}/app:v1`, { signal: ac.signal });
  // Abort once the request is in, so it is the hanging registry that is given up on.
  await waitFor(() => r.seen.length > 0, { what: 'the request', timeoutMs: 10_000, intervalMs: 5 });
  ac.abort();
  const out = await p;
  t.false(out.ok);
  if (!out.ok) t.regex(out.reason, /aborted/);
});
