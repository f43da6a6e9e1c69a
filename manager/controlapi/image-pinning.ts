// Image pinning: a service's image tag is resolved to a digest when the service is created or its
// spec changes, and stored as `name:tag@sha256:…` — the user's text plus the digest — so every
// task runs the same image even if the tag moves, and agents skip the registry's tag check.
// Pure helpers here; the resolving itself is injected (ControlServerDeps.resolveImage).

import { isPinned, withImage } from '../../common/image/pin.js';
import type { ServiceSpec } from '../../common/model.js';

export type ResolveImageOutcome =
  { readonly ok: true; readonly digest: string } | { readonly ok: false; readonly reason: string };

/** Asks the registry which digest `image` names now. Must not throw; bounded in time. */
export type ImageResolver = (image: string) => Promise<ResolveImageOutcome>;

/** `spec` with its image pinned by `pins`, or as written when there is no resolution for it. */
export const pinSpec = (
  spec: ServiceSpec,
  pins: ReadonlyMap<string, ResolveImageOutcome>,
): { spec: ServiceSpec; warning: string | undefined } => {
  const image = spec.container.image;
  if (isPinned(image)) return { spec, warning: undefined };
  const r = pins.get(image);
  if (r === undefined) return { spec, warning: undefined };
  if (!r.ok) {
    return {
      spec,
      warning: `image ${image} not pinned to a digest (each agent resolves the tag itself): ${r.reason}`,
    };
  }
  return { spec: withImage(spec, `${image}@${r.digest}`), warning: undefined };
};

/** Resolves each distinct image once, all at the same time. */
export const resolveAll = async (
  resolver: ImageResolver,
  images: Iterable<string>,
): Promise<Map<string, ResolveImageOutcome>> => {
  const distinct = [...new Set(images)].filter((i) => !isPinned(i));
  const outcomes = await Promise.all(
    distinct.map((i) =>
      resolver(i).catch((err: unknown): ResolveImageOutcome => ({
        ok: false,
        reason: String(err),
      })),
    ),
  );
  return new Map(distinct.map((i, n) => [i, outcomes[n]!]));
};
