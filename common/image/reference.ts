// Image references: `host[:port]/path/name[:tag][@sha256:…]`, parsed and printed. The grammar is
// the distribution project's, minus its defaults: there is no Docker Hub here, so a reference must
// start with a registry host (a name with a dot or a port, `localhost`, or a bracketed IPv6
// address), and a missing tag means `latest` only when there is no digest either.

import { isDigest, type Digest } from './digest.js';

export interface ImageReference {
  /** `host` or `host:port`, as written. */
  readonly registry: string;
  /** The repository path inside the registry, e.g. `library/busybox`. */
  readonly repository: string;
  /** Undefined only when the reference is pinned by digest alone. */
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;
}

export type ParseReferenceResult =
  | { readonly ok: true; readonly ref: ImageReference }
  | { readonly ok: false; readonly reason: string };

const HOST_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = new RegExp(
  `^(?:${HOST_LABEL}(?:\\.${HOST_LABEL})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?$`,
);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const MAX_NAME = 255;

const looksLikeHost = (s: string): boolean =>
  s.includes('.') || s.includes(':') || s === 'localhost' || s.startsWith('[');

export function parseReference(input: string): ParseReferenceResult {
  const fail = (reason: string): ParseReferenceResult => ({ ok: false, reason });
  if (input.length === 0) return fail('empty image reference');
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) return fail(`"${d}" is not a sha256 digest (sha256:<64 lowercase hex>)`);
    digest = d;
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? rest : rest.slice(0, slash);
  if (slash < 0 || !looksLikeHost(first)) {
    return fail(
      'no registry host: there is no default registry, write the host first ' +
        '(e.g. 127.0.0.1:5000/busybox:latest)',
    );
  }
  if (!HOST.test(first)) return fail(`"${first}" is not a valid registry host`);
  let path = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag)) return fail(`"${tag}" is not a valid tag`);
  }
  if (path.length === 0) return fail('no repository name after the registry host');
  if (path.length > MAX_NAME) return fail(`repository name longer than ${MAX_NAME} characters`);
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      return fail(
        `"${component}" is not a valid repository path component (lowercase letters, digits, ` +
          'separated by ".", "_", "__" or "-")',
      );
    }
  }
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { ok: true, ref: { registry: first, repository: path, tag, digest } };
}

/** The canonical form: default tag filled in, so equal images print equal. */
export function formatReference(ref: ImageReference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}
