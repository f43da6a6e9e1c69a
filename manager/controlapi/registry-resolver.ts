// The ImageResolver the manager process uses: asks the image's registry (or its mirror, as the
// agents' `--registry-mirror`) over the distribution API, bounded by a timeout so a registry that
// does not answer delays a write by at most that long and then leaves the image unpinned.

import { resolveImageDigest, type ResolveOptions } from '../../common/image/resolve.js';
import type { ImageResolver } from './image-pinning.js';

export interface RegistryResolverOptions extends Omit<ResolveOptions, 'signal'> {
  /** Default 5 s (Swarm's CLI gives up and creates the service unpinned, too). */
  readonly timeoutMs?: number | undefined;
}

export const DEFAULT_RESOLVE_TIMEOUT_MS = 5_000;

export const registryImageResolver =
  ({ timeoutMs = DEFAULT_RESOLVE_TIMEOUT_MS, ...o }: RegistryResolverOptions = {}): ImageResolver =>
  (image) =>
    resolveImageDigest(image, { ...o, signal: AbortSignal.timeout(timeoutMs) });
