// Serial on purpose: these tests count the process's open handles, so nothing else may run.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { memberId } from '../core/index.js';
import { startFakePeer, startRecorder } from './harness.js';
import { message, pseudoRandomBytes, snapMessage, waitFor } from './testing.js';

const m1 = memberId(1);
const m2 = memberId(2);
const m3 = memberId(3);
const m4 = memberId(4);

/** Handles that would keep the process alive: sockets, servers, timers. */
const liveHandles = (): string[] =>
  process
    .getActiveResourcesInfo()
    .filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap' || r === 'Timeout')
    .sort();

test.serial('lifecycle: close() leaves no socket, server or timer behind', async (t) => {
  const before = liveHandles();
  // A long backoff, so a reconnect timer leaked by close() would outlive the waits below.
  const a = await startRecorder(m1, { backoffInitialMs: 60_000, backoffMaxMs: 60_000 });
  const b = await startRecorder(m2);
  const fake = await startFakePeer();
  a.transport.addPeer(m2, b.address);
  b.transport.addPeer(m1, a.address);
  a.transport.addPeer(m3, '127.0.0.1:1');
  a.transport.addPeer(m4, fake.address);
  a.transport.send([message({ from: m1, to: m2 }), message({ from: m1, to: m3 })]);
  b.transport.send([message({ from: m2, to: m1 })]);
  await waitFor(
    () => a.received.length > 0 && b.received.length > 0 && a.unreachable.includes(m3),
    'traffic both ways and member 3 unreachable',
  );
  // A snapshot in flight as well.
  a.transport.send([snapMessage(m1, m4, pseudoRandomBytes(8 << 20, 1))]);

  // Closing a alone must release everything a opened, while its peers are still up: its streams,
  // its connections to them, its server, its timers. What remains are the other two servers.
  await a.transport.close();
  const others = [...before, 'TCPServerWrap', 'TCPServerWrap'].sort();
  // Closing sockets is asynchronous in Node even after every owner let go of them.
  await waitFor(
    () => liveHandles().join() === others.join(),
    `handles to be ${others.join()}, now ${liveHandles().join()}`,
    5000,
  );
  await Promise.all([b.transport.close(), fake.stop()]);
  await waitFor(
    () => liveHandles().join() === before.join(),
    `handles back to ${before.join() || 'none'}, now ${liveHandles().join()}`,
    5000,
  );
  t.pass();
});

test.serial(
  'lifecycle: close() is idempotent and the transport refuses use afterwards',
  async (t) => {
    const a = await startRecorder(m1);
    await Promise.all([a.transport.close(), a.transport.close()]);
    await a.transport.close();
    t.throws(
      () => {
        a.transport.addPeer(m2, '127.0.0.1:1');
      },
      { message: /closed/ },
    );
    await t.throwsAsync(a.transport.listen('127.0.0.1:0'), { message: /closed/ });
    a.transport.send([message({ from: m1, to: m2 })]);
    t.deepEqual(a.unreachable, []);
  },
);

test.serial(
  'lifecycle: a process that used two transports exits on its own after close()',
  async (t) => {
    const transport = new URL('./transport.js', import.meta.url).href;
    const script = `
    import { RaftTransport } from ${JSON.stringify(transport)};
    const got = [];
    const mk = (self) => new RaftTransport({
      clusterId: 'c', self, onMessage: (m) => got.push(m), backoffInitialMs: 60000, backoffMaxMs: 60000 });
    const a = mk(1), b = mk(2);
    a.addPeer(2, await b.listen('127.0.0.1:0'));
    b.addPeer(1, await a.listen('127.0.0.1:0'));
    b.addPeer(3, '127.0.0.1:1');
    const m = { type: 'app', from: 1, to: 2, term: 1, logTerm: 0, index: 0, entries: [], commit: 0,
      reject: false, rejectHint: 0, logTermHint: 0, snapshot: null, context: new Uint8Array(0) };
    a.send([m]);
    b.send([{ ...m, from: 2, to: 3 }]);
    while (got.length === 0) await new Promise((r) => setTimeout(r, 5));
    // Member 3 does not exist: wait for the failed dial, which arms a 30-60 s reconnect timer.
    await new Promise((r) => setTimeout(r, 200));
    await Promise.all([a.close(), b.close()]);
    console.log('closed');
  `;
    // If anything were left open the child would hang until the timeout kills it.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', script],
      { timeout: 20_000 },
    );
    t.is(stdout.trim(), 'closed');
  },
);
