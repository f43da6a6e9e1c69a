// A service image pinned by the manager is the user's reference plus `@sha256:…`
// (docs/controlapi.md, "Image pinning"). These helpers tell the pin apart from what the user
// wrote, for the manager's "changed?" decision and `tug diff`, which must agree.

import type { ServiceSpec } from '../model.js';

const PIN = /@sha256:[a-f0-9]{64}$/;

/** Whether the reference already names a digest (the user's own pin, or ours). */
export const isPinned = (image: string): boolean => PIN.test(image);

/** The reference without its `@sha256:…` part. */
export const unpinned = (image: string): string => image.replace(PIN, '');

/**
 * The stored spec as the user would have written it, for deciding "changed": when the user's
 * image names no digest, the stored one's pin (ours) is left out. A user who pins by hand is
 * compared exactly.
 */
export const storedAsWritten = (stored: ServiceSpec, userImage: string): ServiceSpec =>
  isPinned(userImage) ? stored : withImage(stored, unpinned(stored.container.image));

export const withImage = (spec: ServiceSpec, image: string): ServiceSpec => ({
  ...spec,
  container: { ...spec.container, image },
});
