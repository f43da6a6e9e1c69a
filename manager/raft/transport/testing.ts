// Test support for the transport's tests only: message builders, fast-check arbitraries for the
// core types, and polling instead of fixed sleeps.
import { setTimeout as delay } from 'node:timers/promises';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import fc from 'fast-check';
import {
  EntryType,
  MessageType,
  memberId,
  type ConfState,
  type Entry,
  type MemberId,
  type Message,
  type Snapshot,
} from '../core/index.js';
import * as pb from '../../../proto/gen/raft.js';

/** Polls cond until it holds; fails naming what it waited for. */
export const waitFor = async (
  cond: () => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(5);
  }
};

export const message = (fields: Partial<Message> & Pick<Message, 'from' | 'to'>): Message => ({
  type: MessageType.App,
  term: 0,
  logTerm: 0,
  index: 0,
  entries: [],
  commit: 0,
  reject: false,
  rejectHint: 0,
  logTermHint: 0,
  snapshot: null,
  context: new Uint8Array(0),
  ...fields,
});

export const snapMessage = (from: MemberId, to: MemberId, data: Uint8Array): Message =>
  message({
    type: MessageType.Snap,
    from,
    to,
    term: 7,
    snapshot: {
      metadata: {
        index: 1234,
        term: 6,
        conf: {
          voters: [memberId(1), memberId(2), memberId(3)],
          learners: [memberId(4)],
          removed: [memberId(9)],
        },
      },
      data,
    },
  });

/** Deterministic pseudo-random bytes, cheap enough for tens of megabytes. */
export const pseudoRandomBytes = (length: number, seed: number): Uint8Array => {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
};

export const arbMemberId: fc.Arbitrary<MemberId> = fc
  .oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }))
  .map(memberId);

/** Zero, small, any safe integer, and the 2^53-1 edge, all well represented. */
export const arbIndex: fc.Arbitrary<number> = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1, max: 1000 }),
  fc.maxSafeNat(),
  fc.constant(Number.MAX_SAFE_INTEGER),
);

// Plain-prototype objects, as the core builds them (fast-check defaults to null prototypes).
const plainRecord = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> =>
  fc.record(model, { noNullPrototype: true });

const arbBytes = fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 300 }));

export const arbEntry: fc.Arbitrary<Entry> = plainRecord({
  term: arbIndex,
  index: arbIndex,
  type: fc.constantFrom(...Object.values(EntryType)),
  data: arbBytes,
});

export const arbConfState: fc.Arbitrary<ConfState> = plainRecord({
  voters: fc.array(arbMemberId, { maxLength: 7 }),
  learners: fc.array(arbMemberId, { maxLength: 3 }),
  removed: fc.array(arbMemberId, { maxLength: 3 }),
});

export const arbSnapshot: fc.Arbitrary<Snapshot> = plainRecord({
  metadata: plainRecord({ index: arbIndex, term: arbIndex, conf: arbConfState }),
  data: arbBytes,
});

/** Any message the core could produce; snap messages always carry a snapshot. */
export const arbMessage: fc.Arbitrary<Message> = plainRecord({
  type: fc.constantFrom(...Object.values(MessageType)),
  from: arbMemberId,
  to: arbMemberId,
  term: arbIndex,
  logTerm: arbIndex,
  index: arbIndex,
  entries: fc.array(arbEntry, { maxLength: 5 }),
  commit: arbIndex,
  reject: fc.boolean(),
  rejectHint: arbIndex,
  logTermHint: arbIndex,
  snapshot: fc.option(arbSnapshot, { nil: null }),
  context: arbBytes,
}).chain((m) =>
  m.type === MessageType.Snap && m.snapshot === null
    ? arbSnapshot.map((snapshot) => ({ ...m, snapshot }))
    : fc.constant(m),
);

/**
 * The message as it decodes when its type field holds a number this version does not know, as
 * sent by a newer or broken peer. Built from bytes: protobuf takes the last value of a field.
 */
export const withWireType = (m: pb.Message, type: number): pb.Message =>
  pb.Message.decode(
    Buffer.concat([
      pb.Message.encode(m).finish(),
      new BinaryWriter()
        .uint32((1 << 3) | 0)
        .int32(type)
        .finish(),
    ]),
  );
