// Forwarding over real gRPC with three in-process managers: writes sent to a follower land on the
// leader, its errors come back with their codes, a forwarded call is never forwarded again,
// linearizable reads, and writes during a leader change or without quorum end — never hang.
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import test from 'ava';
import { freePorts } from '../../bench/lib/ports.js';
import { waitFor } from '../../bench/lib/wait.js';
import * as pb from '../../proto/gen/control.js';
import type { Manager } from '../manager.js';
import { startInProcessManagers } from '../testing/in-process.js';
import { LEADER_METADATA, NOT_LEADER_METADATA, RELAY_FAILED_METADATA } from './errors.js';
import { Forwarder, FORWARDED_METADATA, LINEARIZABLE_METADATA } from './forward.js';

type Req = pb.CreateNetworkRequest | pb.ListNetworksRequest;

const call = <Res>(
  client: pb.ControlServiceClient,
  method: 'createNetwork' | 'listNetworks',
  req: Req,
  md = new Metadata(),
  timeoutMs = 10_000,
): Promise<Res> =>
  new Promise((resolve, reject) => {
    (
      client[method] as unknown as (
        r: Req,
        m: Metadata,
        o: { deadline: number },
        cb: (e: ServiceError | null, r: Res) => void,
      ) => void
    ).call(client, req, md, { deadline: Date.now() + timeoutMs }, (err, res) => {
      if (err !== null) reject(err);
      else resolve(res);
    });
  });

const createNetwork = (
  client: pb.ControlServiceClient,
  name: string,
  md?: Metadata,
  timeoutMs?: number,
): Promise<pb.CreateNetworkResponse> =>
  call(client, 'createNetwork', { name, labels: {}, specJson: '{}' }, md, timeoutMs);

test('forward: followers forward writes to the leader and relay its answers', async (t) => {
  const cluster = await startInProcessManagers({ prefix: 'tug-forward-' });
  const { managers } = cluster;
  const clients: pb.ControlServiceClient[] = [];
  t.teardown(async () => {
    for (const c of clients) c.close();
    await cluster.close();
  });
  const clientOf = (m: Manager): pb.ControlServiceClient => {
    const c = new pb.ControlServiceClient(m.address, credentials.createInsecure());
    clients.push(c);
    return c;
  };
  const leader = await cluster.waitLeader();
  const follower = managers.find((m) => m !== leader)!;
  const fc = clientOf(follower);

  // A write sent to a follower succeeds and is visible everywhere.
  const created = await createNetwork(fc, 'front');
  t.regex(created.networkJson, /"name":"front"/);
  for (const m of managers) {
    await waitFor(() => m.store.find('network', { name: 'front' }).length === 1, {
      what: `manager ${m.id} sees the network`,
      timeoutMs: 10_000,
    });
  }

  // The leader's refusals come back with their code and message.
  const dup = await t.throwsAsync<ServiceError>(createNetwork(fc, 'front'));
  t.is(dup.code, status.ALREADY_EXISTS);
  t.regex(dup.details, /front/);
  const bad = await t.throwsAsync<ServiceError>(createNetwork(fc, 'Not A Name'));
  t.is(bad.code, status.INVALID_ARGUMENT);

  // A linearizable read on a follower goes through the leader.
  const listed = await call<pb.ListNetworksResponse>(
    fc,
    'listNetworks',
    {},
    (() => {
      const md = new Metadata();
      md.set(LINEARIZABLE_METADATA, 'true');
      return md;
    })(),
  );
  t.is(listed.networksJson.length, 1);

  // Loop protection: a forwarded call that reaches a follower is refused, naming the leader.
  const hop = new Metadata();
  hop.set(FORWARDED_METADATA, '99');
  const looped = await t.throwsAsync<ServiceError>(createNetwork(fc, 'loop', hop));
  t.is(looped.code, status.UNAVAILABLE);
  t.regex(looped.details, /not the leader/);
  t.deepEqual(looped.metadata.get(LEADER_METADATA), [String(leader.id)]);
  t.deepEqual(looped.metadata.get(NOT_LEADER_METADATA), ['true']);
  t.is(follower.store.find('network', { name: 'loop' }).length, 0);

  // The leader goes away: a write sent to a follower meanwhile succeeds or fails cleanly.
  await leader.stop();
  managers.splice(managers.indexOf(leader), 1);
  const during = await createNetwork(fc, 'during', undefined, 8_000).then(
    () => status.OK,
    (e: unknown) => (e as ServiceError).code,
  );
  t.true(
    [status.OK, status.UNAVAILABLE, status.DEADLINE_EXCEEDED].includes(during),
    `code ${during}`,
  );
  const next = await cluster.waitLeader();
  const survivor = managers.find((m) => m !== next) ?? next;
  await createNetwork(clientOf(survivor), 'after');
  t.is(next.store.find('network', { name: 'after' }).length, 1);

  // Without quorum no leader can be elected: the write fails UNAVAILABLE after the bounded wait.
  await next.stop();
  managers.splice(managers.indexOf(next), 1);
  const alone = managers[0]!;
  const noQuorum = await t.throwsAsync<ServiceError>(
    createNetwork(clientOf(alone), 'nobody', undefined, 20_000),
  );
  t.is(noQuorum.code, status.UNAVAILABLE, noQuorum.details);
});

/** A server call as grpc-js hands it to a handler, for what the forwarder reads of it. */
const fakeCall = (md: Metadata, deadline: number) =>
  ({
    request: { name: 'n', labels: {}, specJson: '{}' },
    metadata: md,
    getDeadline: () => deadline,
    sendMetadata: () => undefined,
  }) as unknown as Parameters<pb.ControlServiceServer['createNetwork']>[0];

const answer = (
  handler: pb.ControlServiceServer['createNetwork'],
  md = new Metadata(),
  deadline = Infinity,
): Promise<Partial<ServiceError> | null> =>
  new Promise((resolve) => {
    handler(fakeCall(md, deadline), (err) => {
      resolve(err);
    });
  });

const baseDeps = {
  self: 1,
  addressOf: () => '',
  readIndex: () => Promise.resolve(1),
  electionWaitMs: 100,
  pollMs: 5,
  writeTimeoutMs: 50,
};

test('forward: a write that never commits on the leader fails DEADLINE_EXCEEDED', async (t) => {
  const f = new Forwarder({ ...baseDeps, status: () => ({ leader: 1, isLeader: true }) });
  const never = (() => undefined) as unknown as pb.ControlServiceServer['createNetwork'];
  const wrapped = f.wrap({ createNetwork: never } as unknown as pb.ControlServiceServer);
  const err = await answer(wrapped.createNetwork);
  t.is(err?.code, status.DEADLINE_EXCEEDED);
  t.regex(err?.details ?? '', /not committed within \d+ ms/);
  // The caller's earlier deadline wins over the default.
  const early = await answer(wrapped.createNetwork, new Metadata(), Date.now() + 10);
  t.is(early?.code, status.DEADLINE_EXCEEDED);
  f.close();
});

test('forward: without a leader a write waits for an election, then fails UNAVAILABLE', async (t) => {
  let leader = 0;
  const f = new Forwarder({
    ...baseDeps,
    electionWaitMs: 5_000,
    status: () => ({ leader, isLeader: leader === 1 }),
  });
  let calls = 0;
  const ok = ((_call: unknown, cb: (e: null, r: object) => void) => {
    calls++;
    cb(null, { networkJson: '{}' });
  }) as unknown as pb.ControlServiceServer['createNetwork'];
  const wrapped = f.wrap({ createNetwork: ok } as unknown as pb.ControlServiceServer);
  // Elected while the call waits: it is served.
  const pending = answer(wrapped.createNetwork);
  leader = 1;
  t.is(await pending, null);
  t.is(calls, 1);
  // Never elected: UNAVAILABLE once the wait is over, not a hang.
  leader = 0;
  const short = new Forwarder({ ...baseDeps, status: () => ({ leader: 0, isLeader: false }) });
  const err = await answer(
    short.wrap({ createNetwork: ok } as unknown as pb.ControlServiceServer).createNetwork,
  );
  t.is(err?.code, status.UNAVAILABLE);
  t.regex(err?.details ?? '', /no leader elected within 100 ms/);
  t.deepEqual(err?.metadata?.get(NOT_LEADER_METADATA), ['true']);
  t.is(calls, 1);
  f.close();
  short.close();
});

test("forward: a leader unreachable while relaying is UNAVAILABLE marked as the follower's answer, outcome unknown", async (t) => {
  // Nothing listens on this port: the relay to "the leader" fails in transport.
  const [port] = await freePorts(1);
  const f = new Forwarder({
    ...baseDeps,
    writeTimeoutMs: 5_000,
    addressOf: () => `127.0.0.1:${port}`,
    status: () => ({ leader: 2, isLeader: false }),
  });
  const local = (() => {
    t.fail('a follower must not run a write itself');
  }) as unknown as pb.ControlServiceServer['createNetwork'];
  const wrapped = f.wrap({ createNetwork: local } as unknown as pb.ControlServiceServer);
  const err = await answer(wrapped.createNetwork, new Metadata(), Date.now() + 5_000);
  t.is(err?.code, status.UNAVAILABLE);
  t.regex(err?.details ?? '', /leader \(member 2 at 127\.0\.0\.1:\d+\) unreachable from member 1/);
  t.regex(err?.details ?? '', /may or may not have taken effect/);
  t.deepEqual(err?.metadata?.get(RELAY_FAILED_METADATA), ['true']);
  t.deepEqual(err?.metadata?.get(NOT_LEADER_METADATA), []);
  f.close();
});
