import { isDeepStrictEqual } from 'node:util';
import test from 'ava';
import {
  credentials,
  logVerbosity,
  makeGenericClientConstructor,
  setLogVerbosity,
  status,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import fc from 'fast-check';
import { EntryType, MessageType, memberId, type MemberId, type Message } from '../core/index.js';
import * as pb from '../../../proto/gen/raft.js';
import { RaftTransportError, TransportErrorCode } from './errors.js';
import { startFakePeer, startRecorder } from './harness.js';
import { arbMessage, message, pseudoRandomBytes, snapMessage, waitFor } from './testing.js';
import { RaftTransport } from './transport.js';

// The bind-failure case makes grpc-js print its own error; ours carries the same information.
setLogVerbosity(logVerbosity.NONE);

const m1 = memberId(1);
const m2 = memberId(2);
const m3 = memberId(3);

const app = (from: typeof m1, to: typeof m1, index: number, bytes = 8): Message =>
  message({
    type: MessageType.App,
    from,
    to,
    term: 3,
    index,
    logTerm: 3,
    commit: index,
    entries: [
      {
        term: 3,
        index: index + 1,
        type: EntryType.Normal,
        data: pseudoRandomBytes(bytes, index + 1),
      },
    ],
  });

test('transport: delivers every message in order with all fields intact', async (t) => {
  const a = await startRecorder(m1);
  const b = await startRecorder(m2);
  t.teardown(() => Promise.all([a.transport.close(), b.transport.close()]));
  a.transport.addPeer(m2, b.address);

  // Every kind of message, with random field values, addressed from 1 to 2.
  const sent = fc
    .sample(arbMessage, { numRuns: 600, seed: 42 })
    .filter((m) => m.type !== MessageType.Snap)
    .map((m) => ({ ...m, from: m1, to: m2 }));
  for (let i = 0; i < sent.length; i += 37) a.transport.send(sent.slice(i, i + 37));

  await waitFor(() => b.received.length >= sent.length, 'all messages at member 2');
  t.is(b.received.length, sent.length);
  // ava's deepEqual is slow on hundreds of messages: compare cheaply, diff only the first mismatch.
  const bad = sent.findIndex((m, i) => !isDeepStrictEqual(b.received[i], m));
  if (bad >= 0) t.deepEqual(b.received[bad], sent[bad], `message ${bad}`);
  else t.pass();
  t.deepEqual(a.unreachable, []);
});

test('transport: three members exchange messages, each stream in order', async (t) => {
  const members = [m1, m2, m3];
  const nodes = await Promise.all(members.map((id) => startRecorder(id)));
  t.teardown(() => Promise.all(nodes.map((n) => n.transport.close())));
  for (const [i, n] of nodes.entries()) {
    for (const [j, peer] of nodes.entries())
      if (i !== j) n.transport.addPeer(members[j]!, peer.address);
  }
  const perPair = 500;
  for (let k = 0; k < perPair; k++) {
    for (const [i, n] of nodes.entries()) {
      n.transport.send(members.filter((_, j) => j !== i).map((to) => app(members[i]!, to, k)));
    }
  }
  await waitFor(
    () => nodes.every((n) => n.received.length >= 2 * perPair),
    'every member to receive from both others',
  );
  for (const [j, n] of nodes.entries()) {
    for (const [i, from] of members.entries()) {
      if (i === j) continue;
      const indexes = n.received.filter((m) => m.from === from).map((m) => m.index);
      t.deepEqual(indexes, [...Array(perPair).keys()], `${from} → ${members[j]}`);
    }
  }
});

test('transport: splits batches to stay under maxMessageBytes', async (t) => {
  const fake = await startFakePeer();
  const maxMessageBytes = 256 * 1024;
  const a = await startRecorder(m1, { maxMessageBytes });
  t.teardown(() => Promise.all([a.transport.close(), fake.stop()]));
  a.transport.addPeer(m2, fake.address);

  // 3 MiB in one call: far more than one request may carry.
  const sent = Array.from({ length: 150 }, (_, i) => app(m1, m2, i, 20 * 1024));
  a.transport.send(sent);
  await waitFor(
    () => fake.batches.reduce((n, b) => n + b.messages.length, 0) >= sent.length,
    'all messages at the fake peer',
  );
  const sizes = fake.batches.map((b) => pb.SendRequest.encode(b).finish().length);
  t.true(fake.batches.length >= 12, `${fake.batches.length} batches`);
  for (const size of sizes) t.true(size <= maxMessageBytes, `a batch of ${size} bytes`);
  // Batches are cut close to the bound, not message by message.
  t.true(Math.max(...sizes) > maxMessageBytes / 2);
  t.deepEqual(
    fake.batches.flatMap((b) => b.messages.map((m) => m.index)),
    sent.map((m) => m.index),
  );
  for (const b of fake.batches) {
    t.is(b.clusterId, 'cluster-a');
    t.is(b.from, 1);
    t.is(b.to, 2);
  }
});

test('transport: drops a message that cannot fit in any request and reports the peer unreachable', async (t) => {
  const fake = await startFakePeer();
  const a = await startRecorder(m1, { maxMessageBytes: 64 * 1024 });
  t.teardown(() => Promise.all([a.transport.close(), fake.stop()]));
  a.transport.addPeer(m2, fake.address);
  a.transport.send([app(m1, m2, 1), app(m1, m2, 2, 100 * 1024), app(m1, m2, 3)]);
  await waitFor(
    () => fake.batches.reduce((n, b) => n + b.messages.length, 0) >= 2,
    'the small messages',
  );
  t.deepEqual(
    fake.batches.flatMap((b) => b.messages.map((m) => m.index)),
    [1, 3],
  );
  t.deepEqual(a.unreachable, [m2]);
  t.true(a.logs.some((l) => l.includes('larger than maxMessageBytes')));
});

test('transport: a full queue drops the oldest App messages first and reports the peer unreachable', async (t) => {
  const b = await startRecorder(m2);
  const a = await startRecorder(m1, { maxQueueMessages: 10 });
  t.teardown(() => Promise.all([a.transport.close(), b.transport.close()]));
  a.transport.addPeer(m2, b.address);

  const heartbeats = Array.from({ length: 4 }, (_, i) =>
    message({ type: MessageType.Heartbeat, from: m1, to: m2, commit: i }),
  );
  const apps = Array.from({ length: 30 }, (_, i) => app(m1, m2, 100 + i));
  // One call, so nothing leaves before the queue bound applies.
  a.transport.send([...heartbeats, ...apps]);

  await waitFor(() => b.received.length >= 10, 'the surviving messages');
  t.deepEqual(b.received, [...heartbeats, ...apps.slice(-6)]);
  t.deepEqual(a.unreachable, [m2]);
});

test('transport: sends a 20 MiB snapshot in chunks and the receiver verifies it', async (t) => {
  const a = await startRecorder(m1);
  const b = await startRecorder(m2);
  t.teardown(() => Promise.all([a.transport.close(), b.transport.close()]));
  a.transport.addPeer(m2, b.address);

  const data = pseudoRandomBytes(20 * 1024 * 1024 + 12345, 7);
  const snap = snapMessage(m1, m2, data);
  a.transport.send([snap, app(m1, m2, 5)]);

  await waitFor(() => a.snapshotStatus.length > 0, 'the snapshot outcome');
  t.deepEqual(a.snapshotStatus, [{ to: m2, ok: true }]);
  await waitFor(() => b.received.length >= 2, 'both messages');
  const got = b.received.find((m) => m.type === MessageType.Snap)!;
  t.deepEqual({ ...got, snapshot: null }, { ...snap, snapshot: null });
  t.deepEqual(got.snapshot!.metadata, snap.snapshot!.metadata);
  t.true(Buffer.from(got.snapshot!.data).equals(data), 'snapshot data differs');
});

test('transport: a snapshot goes as a header then chunks of snapshotChunkBytes', async (t) => {
  const fake = await startFakePeer();
  const a = await startRecorder(m1, { snapshotChunkBytes: 1024 * 1024 });
  t.teardown(() => Promise.all([a.transport.close(), fake.stop()]));
  a.transport.addPeer(m2, fake.address);
  const data = pseudoRandomBytes(5 * 1024 * 1024 + 1, 3);
  a.transport.send([snapMessage(m1, m2, data)]);
  await waitFor(() => a.snapshotStatus.length > 0, 'the snapshot outcome');
  t.deepEqual(a.snapshotStatus, [{ to: m2, ok: true }]);

  const [first, ...rest] = fake.snapshotRequests.map((r) => r.payload);
  t.is(first?.$case, 'header');
  const header = (first as { $case: 'header'; value: pb.SnapshotHeader }).value;
  t.is(header.size, data.byteLength);
  t.is(header.clusterId, 'cluster-a');
  t.is(header.message?.snapshot?.data.byteLength, 0);
  t.is(
    header.sha256.toString('hex'),
    (await import('node:crypto')).createHash('sha256').update(data).digest('hex'),
  );
  t.deepEqual(
    rest.map((p) => (p?.$case === 'chunk' ? p.value.byteLength : -1)),
    [1048576, 1048576, 1048576, 1048576, 1048576, 1],
  );
});

test('transport: a snapshot refused by the receiver is reported failed', async (t) => {
  const fake = await startFakePeer({
    code: status.DATA_LOSS,
    details: 'snapshot-corrupt: no',
  });
  const a = await startRecorder(m1);
  t.teardown(() => Promise.all([a.transport.close(), fake.stop()]));
  a.transport.addPeer(m2, fake.address);
  a.transport.send([snapMessage(m1, m2, pseudoRandomBytes(3 * 1024 * 1024, 1))]);
  await waitFor(() => a.snapshotStatus.length > 0, 'the snapshot outcome');
  t.deepEqual(a.snapshotStatus, [{ to: m2, ok: false }]);
  t.true(a.logs.some((l) => l.includes('snapshot-corrupt')));
});

test('transport: a newer snapshot replaces a queued one, which is reported failed', async (t) => {
  const a = await startRecorder(m1);
  const b = await startRecorder(m2);
  t.teardown(() => Promise.all([a.transport.close(), b.transport.close()]));
  a.transport.addPeer(m2, b.address);
  const s1 = snapMessage(m1, m2, pseudoRandomBytes(2 << 20, 1));
  const s2 = snapMessage(m1, m2, pseudoRandomBytes(1000, 2));
  const s3 = snapMessage(m1, m2, pseudoRandomBytes(1000, 3));
  a.transport.send([s1]);
  a.transport.send([s2]);
  a.transport.send([s3]);
  await waitFor(() => a.snapshotStatus.length >= 3, 'three outcomes');
  t.deepEqual(
    a.snapshotStatus.map((s) => s.ok),
    [false, true, true],
  );
  t.deepEqual(
    b.received.map((m) => m.snapshot!.data.byteLength),
    [2 << 20, 1000],
  );
  t.deepEqual(b.received[1]!.snapshot!.data, s3.snapshot!.data);
});

test('transport: a restarted peer gets traffic again after backoff', async (t) => {
  const a = await startRecorder(m1, { backoffInitialMs: 20, backoffMaxMs: 200 });
  let b = await startRecorder(m2);
  t.teardown(() => Promise.all([a.transport.close(), b.transport.close()]));
  a.transport.addPeer(m2, b.address);
  let index = 0;
  const sendOne = (): void => {
    a.transport.send([app(m1, m2, index++)]);
  };

  sendOne();
  await waitFor(() => b.received.length === 1, 'the first message');
  await b.transport.close();

  // Raft keeps sending while the peer is down: the transport must say it is unreachable.
  await waitFor(() => {
    sendOne();
    return a.unreachable.length > 0;
  }, 'member 2 reported unreachable');
  t.true(a.unreachable.every((id) => id === m2));

  const restarted = await startRecorder(m2, { listen: b.address });
  b = restarted;
  await waitFor(() => {
    sendOne();
    return restarted.received.length >= 3;
  }, 'traffic to the restarted member');
  const got = restarted.received.map((m) => m.index);
  t.deepEqual(
    got,
    [...got].sort((x, y) => x - y),
    'in order on the new stream',
  );
  t.true(a.logs.some((l) => l.includes('is up')));
});

test('transport: a member of another cluster is refused', async (t) => {
  const a = await startRecorder(m1, { clusterId: 'cluster-x' });
  const b = await startRecorder(m2, { clusterId: 'cluster-y' });
  t.teardown(() => Promise.all([a.transport.close(), b.transport.close()]));
  a.transport.addPeer(m2, b.address);
  a.transport.send([app(m1, m2, 1)]);
  a.transport.send([snapMessage(m1, m2, pseudoRandomBytes(1000, 1))]);
  await waitFor(
    () => a.unreachable.length > 0 && a.snapshotStatus.length > 0,
    'the refusals to reach member 1',
  );
  t.deepEqual(b.received, []);
  t.deepEqual(a.snapshotStatus, [{ to: m2, ok: false }]);
  t.true(b.logs.some((l) => l.includes('"cluster-x"') && l.includes('"cluster-y"')));
  t.true(a.logs.some((l) => l.includes('cluster-mismatch')));
  // A refused stream never counts as up, so its retries keep backing off.
  t.false(a.logs.some((l) => l.includes('is up')));
});

test('transport: a message for a member not at that address is refused', async (t) => {
  const a = await startRecorder(m1);
  const b = await startRecorder(m2);
  t.teardown(() => Promise.all([a.transport.close(), b.transport.close()]));
  // Member 1 believes member 3 lives where member 2 is (a reused address).
  a.transport.addPeer(m3, b.address);
  a.transport.send([app(m1, m3, 1)]);
  await waitFor(() => a.unreachable.length > 0, 'member 3 reported unreachable');
  t.deepEqual(b.received, []);
  t.true(a.logs.some((l) => l.includes('wrong-recipient')));
});

test('transport: messages to unknown members are reported unreachable, logged once', async (t) => {
  const a = await startRecorder(m1);
  t.teardown(() => a.transport.close());
  a.transport.send([app(m1, m3, 1)]);
  a.transport.send([app(m1, m3, 2), snapMessage(m1, m3, new Uint8Array(10))]);
  t.deepEqual(a.unreachable, [m3, m3, m3]);
  t.deepEqual(a.snapshotStatus, [{ to: m3, ok: false }]);
  t.is(a.logs.filter((l) => l.includes('no address for member 3')).length, 1);
});

test('transport: updatePeer moves traffic to the new address, removePeer stops it', async (t) => {
  const a = await startRecorder(m1);
  const b1 = await startRecorder(m2);
  const b2 = await startRecorder(m2);
  t.teardown(() => Promise.all([a, b1, b2].map((n) => n.transport.close())));
  a.transport.addPeer(m2, b1.address);
  a.transport.send([app(m1, m2, 1)]);
  await waitFor(() => b1.received.length === 1, 'the message at the old address');
  a.transport.updatePeer(m2, b2.address);
  a.transport.send([app(m1, m2, 2)]);
  await waitFor(() => b2.received.length === 1, 'the message at the new address');
  t.is(b1.received.length, 1);
  a.transport.removePeer(m2);
  a.transport.removePeer(m2);
  a.transport.send([app(m1, m2, 3)]);
  t.deepEqual(a.unreachable, [m2]);
});

test('transport: refuses bad arguments with errors naming them', async (t) => {
  const mk = (over: object): RaftTransport =>
    new RaftTransport({ clusterId: 'c', self: m1, onMessage: () => {}, ...over });
  const code = (fn: () => unknown): string | undefined =>
    t.throws(fn, { instanceOf: RaftTransportError })?.code;

  t.is(
    code(() => mk({ clusterId: '' })),
    TransportErrorCode.InvalidArgument,
  );
  t.throws(() => mk({ self: 0 }), { message: /self: invalid member id 0/ });
  t.throws(() => mk({ maxMessageBytes: 10 }), {
    message: /maxMessageBytes must be an integer >= 4096/,
  });
  t.throws(() => mk({ maxMessageBytes: 65536, snapshotChunkBytes: 65536 }), {
    message: /snapshotChunkBytes 65536 does not fit/,
  });

  const tr = mk({});
  t.teardown(() => tr.close());
  t.throws(
    () => {
      tr.addPeer(m2, 'nohostport');
    },
    {
      message: /address of member 2 "nohostport" is not host:port/,
    },
  );
  t.throws(
    () => {
      tr.addPeer(m2, '127.0.0.1:70000');
    },
    { message: /is not host:port/ },
  );
  t.throws(
    () => {
      tr.addPeer(m1, '127.0.0.1:1');
    },
    { message: /member 1 is this member/ },
  );
  t.throws(
    () => {
      tr.addPeer(2.5 as MemberId, '127.0.0.1:1');
    },
    { message: /peer id/ },
  );
  tr.addPeer(m2, '[::1]:7000');
  tr.addPeer(m2, '[::1]:7000');
  t.throws(
    () => {
      tr.addPeer(m2, '127.0.0.1:7000');
    },
    {
      message: /already at \[::1\]:7000; use updatePeer/,
    },
  );
  t.is(
    code(() => {
      tr.updatePeer(m3, '127.0.0.1:1');
    }),
    TransportErrorCode.UnknownPeer,
  );
  t.throws(
    () => {
      tr.send([app(m2, m3, 1)]);
    },
    { message: /from 2 to 3 through member 1/ },
  );

  await t.throwsAsync(tr.listen('localhost'), { message: /listen address "localhost"/ });
  const other = await startRecorder(m3);
  t.teardown(() => other.transport.close());
  const err = await t.throwsAsync(tr.listen(other.address), { instanceOf: RaftTransportError });
  t.is(err?.code, TransportErrorCode.ListenFailed);
  t.true(err?.temporary);
});

test('transport: serves extra services on the Raft port', async (t) => {
  const echo = {
    definition: {
      echo: {
        path: '/tug.test.Echo/Echo',
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    },
    implementation: {
      echo: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
        cb(null, Buffer.concat([Buffer.from('echo:'), call.request]));
      },
    },
  };
  const b = new RaftTransport({ clusterId: 'c', self: m2, onMessage: () => {} });
  t.teardown(() => b.close());
  const address = await b.listen('127.0.0.1:0', [echo]);
  const EchoClient = makeGenericClientConstructor(echo.definition, 'Echo');
  const client = new EchoClient(address, credentials.createInsecure());
  t.teardown(() => {
    client.close();
  });
  const reply = await new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest(
      '/tug.test.Echo/Echo',
      (x: Buffer) => x,
      (x: Buffer) => x,
      Buffer.from('hi'),
      (err, res) => {
        if (err === null && res !== undefined) resolve(res);
        else reject(err ?? new Error('no response'));
      },
    );
  });
  t.is(reply.toString(), 'echo:hi');
});
