// The replicated object store: public surface.
export { changeId, MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export {
  StoreWriter,
  update,
  defaultMaxProposalBytes,
  defaultMaxProposalChanges,
  type Proposer,
  type StoreWriterDeps,
} from './writer.js';
export type { WatchOptions } from './watch.js';
export { canonicalJson, decodeBatch, encodeBatch, encodeTransaction, type Batch } from './codec.js';
export * from './types.js';
export { followStore, runLoops, type FollowOptions } from './follow.js';
