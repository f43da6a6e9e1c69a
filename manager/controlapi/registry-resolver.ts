// The ImageResolver the manager process uses: asks the image's registry (or its mirror, as the
// agents' `--registry-mirror`) over the distribution API, bounded by a timeout so a registry that
// does not answer delays a write by at most that long and then leaves the image unpinned.

import type { Credentials } from '../../common/image/registry-client.js';
import { resolveImageDigest } from '../../common/image/resolve.js';
import type { ImageResolver } from './image-pinning.js';

export interface RegistryResolverOptions {
  readonly mirrors?: ReadonlyMap<string, string> | undefined;
  /** Default: loopback hosts speak plain HTTP, others HTTPS (the agent's rule). */
  readonly plainHttp?: ((host: string) => boolean) | undefined;
  readonly credentials?: ((registry: string) => Credentials | undefined) | undefined;
  /** Default 5 s (Swarm's CLI gives up and creates the service unpinned, too). */
  readonly timeoutMs?: number | undefined;
  readonly fetch?: typeof fetch | undefined;
}

export const DEFAULT_RESOLVE_TIMEOUT_MS = 5_000;

export const registryImageResolver =
  (o: RegistryResolverOptions = {}): ImageResolver =>
  (image) =>
    resolveImageDigest(image, {
      mirrors: o.mirrors,
      plainHttp: o.plainHttp,
      credentials: o.credentials,
      fetch: o.fetch,
      signal: AbortSignal.timeout(o.timeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS),
    });
