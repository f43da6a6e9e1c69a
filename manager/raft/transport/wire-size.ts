// Upper bounds on the encoded size of raft.proto messages, computed from the core types without
// encoding, so the sender can cut batches under the gRPC message-size bound before serializing.
// Every field number in raft.proto is below 16, so each tag is one byte; a varint is at most 10
// bytes; a length prefix is at most 5 bytes (lengths below 2^35).
import type { ConfState, Entry, Message, Snapshot } from '../core/index.js';

const TAG = 1;
const VARINT = 10;
const LENGTH_PREFIX = 5;
const SCALAR_FIELD = TAG + VARINT;
const lengthField = (bodyBytes: number): number => TAG + LENGTH_PREFIX + bodyBytes;

const entryBody = (e: Entry): number => 3 * SCALAR_FIELD + lengthField(e.data.byteLength);

// Repeated uint64 fields are packed: one tag and length, then the varints.
const confBody = (c: ConfState): number =>
  3 * lengthField(0) + VARINT * (c.voters.length + c.learners.length + c.removed.length);

const snapshotBody = (s: Snapshot): number =>
  lengthField(2 * SCALAR_FIELD + lengthField(confBody(s.metadata.conf))) +
  lengthField(s.data.byteLength);

// type, from, to, term, logTerm, index, commit, reject, rejectHint, logTermHint.
const MESSAGE_SCALARS = 10 * SCALAR_FIELD;

const messageBody = (m: Message): number => {
  let n = MESSAGE_SCALARS + lengthField(m.context.byteLength);
  for (const e of m.entries) n += lengthField(entryBody(e));
  if (m.snapshot !== null) n += lengthField(snapshotBody(m.snapshot));
  return n;
};

/** Bytes a message can add to a SendRequest (as one element of its repeated field), at most. */
export const messageWireBound = (m: Message): number => lengthField(messageBody(m));

/** Bytes of a SendRequest without its messages (cluster id, from, to), at most. */
export const sendRequestOverheadBound = (clusterId: string): number =>
  lengthField(Buffer.byteLength(clusterId, 'utf8')) + 2 * SCALAR_FIELD;

/** Bytes of a SendSnapshotRequest carrying a chunk of the given length, at most. */
export const snapshotChunkWireBound = (chunkBytes: number): number => lengthField(chunkBytes);
