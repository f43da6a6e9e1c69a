import test from 'ava';
import fc from 'fast-check';

import { formatReference, parseReference } from './reference.js';

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const host = fc.oneof(
  fc.tuple(label, label).map(([a, b]) => `${a}.${b}`),
  fc.tuple(label, fc.integer({ min: 1, max: 65535 })).map(([a, p]) => `${a}:${p}`),
  fc.integer({ min: 1, max: 65535 }).map((p) => `127.0.0.1:${p}`),
  fc.constant('localhost'),
);
const component = fc
  .stringMatching(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/)
  .filter((s) => s.length <= 30);
const repo = fc.array(component, { minLength: 1, maxLength: 3 }).map((c) => c.join('/'));
const tag = fc.stringMatching(/^[\w][\w.-]{0,20}$/);
const digest = fc.stringMatching(/^[a-f0-9]{64}$/).map((h) => `sha256:${h}`);

test('reference: valid references parse and print back unchanged', (t) => {
  t.notThrows(() => {
    fc.assert(
      fc.property(host, repo, fc.option(tag), fc.option(digest), (h, r, tg, d) => {
        const s = `${h}/${r}${tg === null ? '' : `:${tg}`}${d === null ? '' : `@${d}`}`;
        const p = parseReference(s);
        if (!p.ok) return false;
        const expectTag = tg ?? (d === null ? 'latest' : undefined);
        const printed = `${h}/${r}${expectTag === undefined ? '' : `:${expectTag}`}${d === null ? '' : `@${d}`}`;
        return (
          p.ref.registry === h &&
          p.ref.repository === r &&
          p.ref.tag === expectTag &&
          p.ref.digest === (d ?? undefined) &&
          formatReference(p.ref) === printed &&
          // Canonical form is a fixed point.
          parseReference(printed).ok
        );
      }),
    );
  });
});

test('reference: a reference without a registry host is rejected with a hint', (t) => {
  fc.assert(
    fc.property(
      repo.filter((r) => !r.split('/')[0]!.includes('.')),
      fc.option(tag),
      (r, tg) => {
        const p = parseReference(`${r}${tg === null ? '' : `:${tg}`}`);
        return !p.ok && p.reason.includes('no registry host');
      },
    ),
  );
  const p = parseReference('busybox');
  t.false(p.ok);
  if (!p.ok) t.regex(p.reason, /no default registry/);
});

test('reference: malformed references are rejected', (t) => {
  for (const bad of [
    '',
    '127.0.0.1:5000/',
    '127.0.0.1:5000/Busybox',
    '127.0.0.1:5000/busy box',
    '127.0.0.1:5000/busybox:',
    '127.0.0.1:5000/busybox:-x',
    '127.0.0.1:5000/busybox@sha256:abc',
    '127.0.0.1:5000/busybox@md5:d41d8cd98f00b204e9800998ecf8427e',
    '127.0.0.1:5000//busybox',
    'bad_host.com/busybox',
  ]) {
    t.false(parseReference(bad).ok, bad);
  }
});

test('reference: host port and tag colons are told apart', (t) => {
  const p = parseReference('localhost:5000/a/b:v1.2');
  t.true(p.ok);
  if (p.ok)
    t.deepEqual(p.ref, {
      registry: 'localhost:5000',
      repository: 'a/b',
      tag: 'v1.2',
      digest: undefined,
    });
  const q = parseReference('[::1]:5000/a');
  t.true(q.ok);
  if (q.ok) t.is(q.ref.registry, '[::1]:5000');
});
