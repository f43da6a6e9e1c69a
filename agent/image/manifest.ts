// Moved to common/image/manifest.ts (the manager resolves image digests with it too); re-exported so
// agent imports stay as they were.
export * from '../../common/image/manifest.js';
