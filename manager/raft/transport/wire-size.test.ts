import test from 'ava';
import fc from 'fast-check';
import * as pb from '../../../proto/gen/raft.js';
import { messageToProto, toBuffer } from './convert.js';
import { arbMessage } from './testing.js';
import { messageWireBound, sendRequestOverheadBound, snapshotChunkWireBound } from './wire-size.js';

test('wire-size: the bound of a SendRequest is never below its encoded size', (t) => {
  fc.assert(
    fc.property(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.array(arbMessage, { maxLength: 6 }),
      (clusterId, messages) => {
        const encoded = pb.SendRequest.encode({
          clusterId,
          from: Number.MAX_SAFE_INTEGER,
          to: Number.MAX_SAFE_INTEGER,
          messages: messages.map(messageToProto),
        }).finish().length;
        const bound =
          sendRequestOverheadBound(clusterId) +
          messages.reduce((sum, m) => sum + messageWireBound(m), 0);
        return encoded <= bound;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

test('wire-size: the bound of a message is tight enough to batch by', (t) => {
  fc.assert(
    fc.property(arbMessage, (m) => {
      const encoded = pb.Message.encode(messageToProto(m)).finish().length;
      const slack = messageWireBound(m) - encoded;
      // Fixed slack per message, entry and conf member: never proportional to the payload.
      const members =
        m.snapshot === null ? 0 : Object.values(m.snapshot.metadata.conf).flat().length;
      const budget = 140 + 45 * m.entries.length + (m.snapshot === null ? 0 : 80 + 10 * members);
      return slack >= 0 && slack <= budget;
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

test('wire-size: the bound of a snapshot chunk request is never below its encoded size', (t) => {
  for (const n of [0, 1, 127, 128, 16383, 16384, 1 << 20]) {
    const encoded = pb.SendSnapshotRequest.encode({
      payload: { $case: 'chunk', value: toBuffer(new Uint8Array(n)) },
    }).finish().length;
    t.true(encoded <= snapshotChunkWireBound(n), `chunk of ${n}`);
  }
});
