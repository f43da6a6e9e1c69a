// The images part of the agent, as the rest of the agent sees it: pull a reference, read its
// record (runtime config and overlayfs lower directories), collect unused images.

export { ImageService, isLoopbackRegistry } from './image-service.js';
export type {
  GcResult,
  ImageRecord,
  ImageRuntimeConfig,
  ImageServiceOptions,
  ImageStats,
  PullProgress,
} from './image-service.js';
export { ImageError, ImageErrorCode, isImageError } from '../../common/image/errors.js';
export { formatReference, parseReference } from '../../common/image/reference.js';
export type { ImageReference, ParseReferenceResult } from '../../common/image/reference.js';
export type { Digest } from '../../common/image/digest.js';
export type { Credentials, RetryPolicy } from '../../common/image/registry-client.js';
