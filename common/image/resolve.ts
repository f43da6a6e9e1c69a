// Tag → digest: asks the registry (or its mirror) which manifest a tag names right now, so the
// manager can pin a service's image (docs/controlapi.md, "Image pinning"). The digest is that of
// what the tag names, index or manifest alike: the agent picks the platform from an index itself.

import { ImageError } from './errors.js';
import type { Digest } from './digest.js';
import { formatReference, parseReference } from './reference.js';
import { isLoopbackRegistry } from './registry-host.js';
import { RegistryClient, type Credentials } from './registry-client.js';

export type ResolveOutcome =
  { readonly ok: true; readonly digest: Digest } | { readonly ok: false; readonly reason: string };

export interface ResolveOptions {
  /** registry host[:port] → mirror host[:port], as the agent's `--registry-mirror`. */
  readonly mirrors?: ReadonlyMap<string, string> | undefined;
  /** Plain HTTP to this host[:port]? Default: loopback hosts only, as the agent. */
  readonly plainHttp?: ((host: string) => boolean) | undefined;
  readonly credentials?: ((registry: string) => Credentials | undefined) | undefined;
  readonly fetch?: typeof fetch | undefined;
  /** Bounds the whole exchange (token included); an abort becomes a failed outcome. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * The digest `image` names. A reference that already carries a digest resolves to it without a
 * request. Never throws: every failure is an outcome with a reason a person can act on.
 */
export async function resolveImageDigest(
  image: string,
  o: ResolveOptions = {},
): Promise<ResolveOutcome> {
  const parsed = parseReference(image);
  if (!parsed.ok) return { ok: false, reason: parsed.reason };
  const ref = parsed.ref;
  if (ref.digest !== undefined) return { ok: true, digest: ref.digest };
  const endpoint = o.mirrors?.get(ref.registry) ?? ref.registry;
  const client = new RegistryClient({
    reference: formatReference(ref),
    registry: ref.registry,
    endpoint,
    repository: ref.repository,
    plainHttp: (o.plainHttp ?? isLoopbackRegistry)(endpoint),
    credentials: o.credentials?.(ref.registry),
    ...(o.fetch === undefined ? {} : { fetch: o.fetch }),
    signal: o.signal,
  });
  try {
    // The whole manifest, not a HEAD: registries need not send Docker-Content-Digest, and the
    // digest is then only known from the bytes (a few KiB at most).
    const m = await client.manifest(ref.tag ?? 'latest');
    return { ok: true, digest: m.digest };
  } catch (err) {
    if (err instanceof ImageError) return { ok: false, reason: err.message };
    return { ok: false, reason: `image ${image}: ${String(err)}` };
  }
}
