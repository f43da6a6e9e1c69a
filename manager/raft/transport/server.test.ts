import { createHash } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import {
  ChannelCredentials,
  status,
  type ClientWritableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { MessageType, memberId } from '../core/index.js';
import * as pb from '../../../proto/gen/raft.js';
import { messageToProto } from './convert.js';
import { startRecorder, type Recorder } from './harness.js';
import { message, pseudoRandomBytes, snapMessage, withWireType } from './testing.js';

const m1 = memberId(1);
const m2 = memberId(2);

type SnapshotPayload = pb.SendSnapshotRequest['payload'];

const header = (data: Uint8Array, over: Partial<pb.SnapshotHeader> = {}): SnapshotPayload => ({
  $case: 'header',
  value: {
    clusterId: 'cluster-a',
    message: messageToProto(snapMessage(m1, m2, new Uint8Array(0))),
    size: data.byteLength,
    sha256: createHash('sha256').update(data).digest(),
    ...over,
  },
});

const chunk = (data: Uint8Array): SnapshotPayload => ({ $case: 'chunk', value: Buffer.from(data) });

const receiver = async (t: ExecutionContext): Promise<Recorder> => {
  const b = await startRecorder(m2, { maxSnapshotBytes: 8 << 20 });
  t.teardown(() => b.transport.close());
  return b;
};

/** Plays raw requests at a receiver, as a misbehaving or corrupting sender would. */
const play = <Req>(
  t: ExecutionContext,
  address: string,
  open: (
    client: pb.RaftTransportServiceClient,
    cb: (err: ServiceError | null) => void,
  ) => ClientWritableStream<Req>,
  requests: readonly Req[],
): Promise<ServiceError | null> => {
  const client = new pb.RaftTransportServiceClient(address, ChannelCredentials.createInsecure());
  t.teardown(() => {
    client.close();
  });
  return new Promise((resolve) => {
    const call = open(client, (err) => {
      resolve(err);
    });
    for (const r of requests) call.write(r);
    call.end();
  });
};

const playSnapshot = (t: ExecutionContext, address: string, payloads: readonly SnapshotPayload[]) =>
  play<pb.SendSnapshotRequest>(
    t,
    address,
    (c, cb) => c.sendSnapshot(cb),
    payloads.map((payload) => ({ payload })),
  );

const playSend = (t: ExecutionContext, address: string, requests: readonly pb.SendRequest[]) =>
  play<pb.SendRequest>(t, address, (c, cb) => c.send(cb), requests);

test('server: accepts a snapshot whose chunks match size and digest', async (t) => {
  const b = await receiver(t);
  const data = pseudoRandomBytes(3000, 9);
  const err = await playSnapshot(t, b.address, [
    header(data),
    chunk(data.subarray(0, 1000)),
    chunk(data.subarray(1000)),
  ]);
  t.is(err, null);
  t.is(b.received.length, 1);
  t.deepEqual(b.received[0]!.snapshot!.data, data);
});

test('server: a corrupted chunk is refused with DATA_LOSS and nothing is delivered', async (t) => {
  const b = await receiver(t);
  const data = pseudoRandomBytes(3000, 9);
  const corrupted = Uint8Array.from(data.subarray(1000));
  corrupted[500]! ^= 0x01;
  const err = await playSnapshot(t, b.address, [
    header(data),
    chunk(data.subarray(0, 1000)),
    chunk(corrupted),
  ]);
  t.is(err?.code, status.DATA_LOSS);
  t.regex(err?.details ?? '', /snapshot-corrupt: .* does not match its sha256/);
  t.deepEqual(b.received, []);
});

test('server: missing or surplus snapshot data is refused', async (t) => {
  const b = await receiver(t);
  const data = pseudoRandomBytes(3000, 9);
  const short = await playSnapshot(t, b.address, [header(data), chunk(data.subarray(0, 2999))]);
  t.is(short?.code, status.DATA_LOSS);
  t.regex(short?.details ?? '', /ended after 2999 of 3000 bytes/);
  const long = await playSnapshot(t, b.address, [
    header(data),
    chunk(data),
    chunk(data.subarray(0, 1)),
  ]);
  t.is(long?.code, status.DATA_LOSS);
  t.regex(long?.details ?? '', /exceeds the announced 3000 bytes/);
  t.deepEqual(b.received, []);
});

test('server: snapshot protocol violations are refused naming the problem', async (t) => {
  const b = await receiver(t);
  const data = pseudoRandomBytes(100, 9);
  const cases: Array<[readonly SnapshotPayload[], number, RegExp]> = [
    [[chunk(data), header(data)], status.INVALID_ARGUMENT, /chunk before the header/],
    [[header(data), header(data)], status.INVALID_ARGUMENT, /second snapshot header/],
    [[], status.INVALID_ARGUMENT, /ended without a header/],
    [[undefined], status.INVALID_ARGUMENT, /neither header nor chunk/],
    [[header(data, { sha256: Buffer.alloc(16) })], status.INVALID_ARGUMENT, /sha256 is 16 bytes/],
    [[header(data, { size: 9 << 20 })], status.RESOURCE_EXHAUSTED, /exceeds this member's bound/],
    [[header(data, { clusterId: 'other' })], status.FAILED_PRECONDITION, /cluster "other"/],
    [
      [header(data, { message: messageToProto(message({ from: m1, to: m2 })) })],
      status.INVALID_ARGUMENT,
      /carries a app message, not snap/,
    ],
    [
      [header(data, { message: messageToProto(snapMessage(m1, memberId(3), new Uint8Array(0))) })],
      status.FAILED_PRECONDITION,
      /addressed to member 3, this is member 2/,
    ],
    [
      [header(data, { message: messageToProto(snapMessage(m1, m2, new Uint8Array(1))) })],
      status.INVALID_ARGUMENT,
      /must not carry data/,
    ],
  ];
  for (const [payloads, code, details] of cases) {
    const err = await playSnapshot(t, b.address, payloads);
    t.is(err?.code, code, String(details));
    t.regex(err?.details ?? '', details);
  }
  t.deepEqual(b.received, []);
});

test('server: a Send batch is refused whole if any message in it is bad', async (t) => {
  const b = await receiver(t);
  const good = messageToProto(message({ from: m1, to: m2, index: 1 }));
  const batch = (messages: pb.Message[], over: Partial<pb.SendRequest> = {}): pb.SendRequest => ({
    clusterId: 'cluster-a',
    from: 1,
    to: 2,
    messages,
    ...over,
  });
  const cases: Array<[pb.SendRequest[], number, RegExp]> = [
    [[batch([good, withWireType(good, 42)])], status.INVALID_ARGUMENT, /messages\[1\]\.type/],
    [
      [batch([good, { ...good, from: 3 }])],
      status.INVALID_ARGUMENT,
      /messages\[1\]\.from is 3 in a batch from 1/,
    ],
    [
      [batch([good, { ...good, to: 3 }])],
      status.FAILED_PRECONDITION,
      /messages\[1\] is addressed to member 3/,
    ],
    [
      [batch([good, messageToProto(snapMessage(m1, m2, new Uint8Array(1)))])],
      status.INVALID_ARGUMENT,
      /only accepted on SendSnapshot/,
    ],
    [[batch([good], { clusterId: 'other' })], status.FAILED_PRECONDITION, /cluster-mismatch/],
    [[batch([good], { to: 5 })], status.FAILED_PRECONDITION, /batch is addressed to member 5/],
    [[batch([good], { from: 0 })], status.INVALID_ARGUMENT, /batch sender 0/],
    [
      [batch([good]), batch([], { from: 3 })],
      status.INVALID_ARGUMENT,
      /stream from member 1 carried a batch from 3/,
    ],
  ];
  for (const [requests, code, details] of cases) {
    b.received.length = 0;
    const err = await playSend(t, b.address, requests);
    t.is(err?.code, code, String(details));
    t.regex(err?.details ?? '', details);
    // Only the valid first batch of the last case may have been delivered.
    t.true(b.received.every((m) => m.index === 1 && m.type === MessageType.App));
  }
});

test('server: a Send stream ended by the sender reports how many messages were delivered', async (t) => {
  const b = await receiver(t);
  const client = new pb.RaftTransportServiceClient(b.address, ChannelCredentials.createInsecure());
  t.teardown(() => {
    client.close();
  });
  const res = await new Promise<pb.SendResponse | undefined>((resolve, reject) => {
    const call = client.send((err, r) => {
      if (err === null) resolve(r);
      else reject(err);
    });
    for (let i = 0; i < 3; i++) {
      call.write({
        clusterId: 'cluster-a',
        from: 1,
        to: 2,
        messages: [messageToProto(message({ from: m1, to: m2, index: i }))],
      });
    }
    call.end();
  });
  t.is(res?.delivered, 3);
  t.deepEqual(
    b.received.map((m) => m.index),
    [0, 1, 2],
  );
});

test('server: a throwing onMessage is logged and does not break the stream', async (t) => {
  const seen: number[] = [];
  const b = await startRecorder(m2, {
    onMessage: (m) => {
      seen.push(m.index);
      if (m.index === 1) throw new Error('driver bug');
    },
  });
  t.teardown(() => b.transport.close());
  const err = await playSend(t, b.address, [
    {
      clusterId: 'cluster-a',
      from: 1,
      to: 2,
      messages: [0, 1, 2].map((index) => messageToProto(message({ from: m1, to: m2, index }))),
    },
  ]);
  t.is(err, null);
  t.deepEqual(seen, [0, 1, 2]);
  t.true(b.logs.some((l) => l.includes('onMessage threw') && l.includes('driver bug')));
});
