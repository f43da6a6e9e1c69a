import { isDeepStrictEqual } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { EntryType, MessageType, memberId, type Message } from '../core/index.js';
import * as pb from '../../../proto/gen/raft.js';
import { messageFromProto, messageToProto } from './convert.js';
import { RaftTransportError, TransportErrorCode } from './errors.js';
import { arbMessage, message, withWireType } from './testing.js';

const overTheWire = (m: Message): Message =>
  messageFromProto(pb.Message.decode(pb.Message.encode(messageToProto(m)).finish()));

const a = memberId(1);
const b = memberId(2);

test('convert: every message round-trips through the wire with every field intact', (t) => {
  // Plain predicates, not t.* calls, inside the property: fast-check reports the counterexample.
  fc.assert(
    fc.property(arbMessage, (m) => isDeepStrictEqual(overTheWire(m), m)),
    { numRuns: 1000 },
  );
  t.pass();
});

test('convert: an all-zero message round-trips and costs only its member ids on the wire', (t) => {
  const m = message({ type: MessageType.Heartbeat, from: a, to: b });
  t.deepEqual(overTheWire(m), m);
  // type (2 bytes) + from (2) + to (2): zero values are left out entirely.
  t.is(pb.Message.encode(messageToProto(m)).finish().length, 6);
});

test('convert: the largest safe terms, indexes and member ids survive', (t) => {
  const max = Number.MAX_SAFE_INTEGER;
  const m = message({
    type: MessageType.Snap,
    from: memberId(max),
    to: memberId(max - 1),
    term: max,
    logTerm: max,
    index: max,
    commit: max,
    rejectHint: max,
    logTermHint: max,
    entries: [
      { term: max, index: max, type: EntryType.ConfChange, data: new Uint8Array([0, 255]) },
    ],
    snapshot: {
      metadata: {
        index: max,
        term: max,
        conf: { voters: [memberId(max)], learners: [], removed: [memberId(max - 2)] },
      },
      data: new Uint8Array(0),
    },
  });
  t.deepEqual(overTheWire(m), m);
});

test('convert: binary data keeps every byte value, including zeros at the ends', (t) => {
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
  const m = message({
    from: a,
    to: b,
    context: new Uint8Array([0, 0, 0]),
    entries: [{ term: 1, index: 1, type: EntryType.Normal, data: bytes }],
  });
  const back = overTheWire(m);
  t.deepEqual(back, m);
  t.true(back.entries[0]!.data instanceof Uint8Array);
  t.false(Buffer.isBuffer(back.entries[0]!.data));
});

test('convert: bytes that are views into a larger buffer are sent as the view only', (t) => {
  const big = Uint8Array.from({ length: 100 }, (_, i) => i);
  const view = big.subarray(10, 20);
  const back = overTheWire(message({ from: a, to: b, context: view }));
  t.deepEqual([...back.context], [...view]);
});

const wire = (fields: Partial<pb.Message>): pb.Message =>
  pb.Message.fromPartial({ type: pb.MessageType.MESSAGE_TYPE_APP, from: 1, to: 2, ...fields });

const refused = (t: ExecutionContext, p: pb.Message, field: string): void => {
  const err = t.throws(() => messageFromProto(p), { instanceOf: RaftTransportError });
  t.is(err?.code, TransportErrorCode.InvalidMessage);
  t.true(err?.message.startsWith(field), `"${err?.message}" should name ${field}`);
};

test('convert: refuses an unspecified or unknown message type, naming the field', (t) => {
  refused(t, wire({ type: pb.MessageType.MESSAGE_TYPE_UNSPECIFIED }), 'message.type');
  refused(t, withWireType(wire({}), 99), 'message.type');
});

test('convert: refuses member id 0 as sender, recipient or voter', (t) => {
  refused(t, wire({ from: 0 }), 'message.from');
  refused(t, wire({ to: 0 }), 'message.to');
  refused(
    t,
    wire({
      type: pb.MessageType.MESSAGE_TYPE_SNAP,
      snapshot: {
        metadata: { index: 1, term: 1, conf: { voters: [1, 0], learners: [], removed: [] } },
        data: Buffer.alloc(0),
      },
    }),
    'message.snapshot.metadata.conf.voters[1]',
  );
});

test('convert: refuses an unknown entry type, naming the entry', (t) => {
  const ok = { term: 1, index: 1, type: pb.EntryType.ENTRY_TYPE_NORMAL, data: Buffer.alloc(0) };
  refused(
    t,
    wire({ entries: [ok, { ...ok, type: pb.EntryType.ENTRY_TYPE_UNSPECIFIED }] }),
    'message.entries[1].type',
  );
});

test('convert: refuses a snap message without a complete snapshot', (t) => {
  const snap = pb.MessageType.MESSAGE_TYPE_SNAP;
  refused(t, wire({ type: snap }), 'message.snapshot');
  refused(
    t,
    wire({ type: snap, snapshot: { metadata: undefined, data: Buffer.alloc(0) } }),
    'message.snapshot.metadata',
  );
  refused(
    t,
    wire({
      type: snap,
      snapshot: { metadata: { index: 1, term: 1, conf: undefined }, data: Buffer.alloc(0) },
    }),
    'message.snapshot.metadata.conf',
  );
});

test('convert: the decoder refuses numbers above 2^53-1 instead of rounding them', (t) => {
  // Field 4 (term) as a varint of 2^53: representable on the wire, not as a JS number.
  const bytes = new BinaryWriter()
    .uint32((4 << 3) | 0)
    .uint64(2n ** 53n)
    .finish();
  t.throws(() => pb.Message.decode(bytes), { message: /MAX_SAFE_INTEGER/ });
});
