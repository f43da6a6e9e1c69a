// Public surface of the pure Raft core.
export * from './types.js';
export { Raft, type RaftOptions } from './raft.js';
export { encodeConfChange, decodeConfChange } from './confchange.js';
export { entrySize } from './raft-log.js';
