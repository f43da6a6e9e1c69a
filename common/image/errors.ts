// The typed errors of image handling. Every one names the image reference it concerns, so a task
// rejected for it carries a reason a person can act on ("pulling 127.0.0.1:5000/web:v2: registry
// unreachable: …"). `temporary` says whether trying again later could help.

export const ImageErrorCode = {
  /** The reference string does not parse, or has no registry host. */
  BadReference: 'bad-reference',
  /** The registry answered that the repository, tag or manifest does not exist. */
  NotFound: 'not-found',
  /** Credentials were refused or the token exchange failed. */
  Unauthorized: 'unauthorized',
  /** The registry could not be reached, went away mid-transfer, or answered 5xx. */
  Unreachable: 'registry-unreachable',
  /** The registry answered something the protocol does not allow (bad JSON, wrong size…). */
  Protocol: 'protocol',
  /** Content did not hash to the digest that names it. */
  DigestMismatch: 'digest-mismatch',
  /** No manifest in the index is for linux/amd64, or a media type we cannot handle. */
  Unsupported: 'unsupported',
  /** A layer could not be unpacked. */
  Unpack: 'unpack-failed',
  /** The caller aborted. */
  Aborted: 'aborted',
} as const;
export type ImageErrorCode = (typeof ImageErrorCode)[keyof typeof ImageErrorCode];

const TEMPORARY: ReadonlySet<ImageErrorCode> = new Set([
  ImageErrorCode.Unreachable,
  ImageErrorCode.Aborted,
]);

export class ImageError extends Error {
  override readonly name = 'ImageError';
  readonly code: ImageErrorCode;
  /** The reference as the caller gave it. */
  readonly reference: string;
  readonly temporary: boolean;

  constructor(code: ImageErrorCode, reference: string, detail: string, options?: ErrorOptions) {
    super(`image ${reference}: ${code}: ${detail}`, options);
    this.code = code;
    this.reference = reference;
    this.temporary = TEMPORARY.has(code);
  }
}

export const isImageError = (err: unknown, code?: ImageErrorCode): err is ImageError =>
  err instanceof ImageError && (code === undefined || err.code === code);
