// Content digests: the only algorithm tug accepts is sha256 (what every registry serves), so a
// digest is a branded "sha256:<64 lowercase hex>" string, checked once at the edge.

export type Digest = string & { readonly __brand: 'Digest' };

const DIGEST = /^sha256:[a-f0-9]{64}$/;

export const isDigest = (s: string): s is Digest => DIGEST.test(s);

/** The digest, or undefined when `s` is not a well-formed sha256 digest. */
export const parseDigest = (s: string): Digest | undefined => (isDigest(s) ? s : undefined);

/** The 64 hex characters, used as file names in the blob and layer stores. */
export const digestHex = (d: Digest): string => d.slice('sha256:'.length);

export const digestFromHex = (hex: string): Digest | undefined => parseDigest(`sha256:${hex}`);
