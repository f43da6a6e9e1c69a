// The manager as processes: init one, join two (three voters), SIGKILL the leader (the other two
// elect one and take a write), restart the killed one from its data dir (a voter again).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import test from 'ava';
import { freePorts } from '../bench/lib/ports.js';
import { ManagedProcess } from '../bench/lib/process.js';
import { waitFor } from '../bench/lib/wait.js';
import * as controlPb from '../proto/gen/control.js';
import * as pb from '../proto/gen/membership.js';
import { parseCommand, UsageError } from './main.js';

interface Ready {
  readonly id: number;
  readonly address: string;
}

const members = (address: string): Promise<pb.MembersResponse> => {
  const client = new pb.MembershipServiceClient(address, credentials.createInsecure());
  return new Promise<pb.MembersResponse>((resolve, reject) => {
    client.members({}, (err, res) => {
      client.close();
      if (err !== null) reject(err);
      else resolve(res);
    });
  });
};

const applyService = (address: string, name: string): Promise<controlPb.ApplyResponse> => {
  const client = new controlPb.ControlServiceClient(address, credentials.createInsecure());
  const text = `apiVersion: tug/v1\nkind: Service\nmetadata: { name: ${name} }\nspec: { image: busybox:latest, replicas: 1 }\n`;
  return new Promise((resolve, reject) => {
    client.apply({ sources: [{ file: `${name}.yaml`, text }], dryRun: false }, (err, res) => {
      client.close();
      if (err !== null) reject(err);
      else resolve(res);
    });
  });
};

const listServices = (address: string): Promise<string[]> => {
  const client = new controlPb.ControlServiceClient(address, credentials.createInsecure());
  return new Promise((resolve, reject) => {
    client.listServices({}, (err, res) => {
      client.close();
      if (err !== null) reject(err);
      else resolve(res.servicesJson);
    });
  });
};

const voters = (r: pb.MembersResponse): number[] =>
  r.members.filter((m) => m.role === 'voter').map((m) => m.id);

test('manager main: parses init, join and run, and refuses the rest', (t) => {
  t.like(parseCommand(['init', '--data-dir', 'd', '--listen', 'h:1']), {
    type: 'init',
    clusterId: 'tug',
    tickMs: 100,
  });
  t.like(parseCommand(['join', 'a:1', '--data-dir', 'd', '--listen', 'h:2', '--tick-ms', '20']), {
    type: 'join',
    target: 'a:1',
    tickMs: 20,
  });
  t.like(parseCommand(['run', '--data-dir', 'd']), {
    type: 'run',
    dataDir: 'd',
    electionTicks: 30,
  });
  t.like(parseCommand(['run', '--data-dir', 'd', '--election-ticks', '50']), { electionTicks: 50 });
  t.throws(() => parseCommand(['run', '--data-dir', 'd', '--election-ticks', '1']), {
    instanceOf: UsageError,
  });
  t.throws(() => parseCommand(['run']), { instanceOf: UsageError });
  t.throws(() => parseCommand(['run', '--data-dir', 'd', '--listen', 'x:1']), {
    instanceOf: UsageError,
  });
  t.throws(() => parseCommand(['join', '--data-dir', 'd', '--listen', 'h:2']), {
    instanceOf: UsageError,
  });
  t.throws(() => parseCommand(['nope']), { instanceOf: UsageError });
});

test('manager main: init, two joins, the leader killed and restarted', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tug-manager-main-'));
  const procs: ManagedProcess[] = [];
  t.teardown(async () => {
    for (const p of procs) await p.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const start = async (name: string, args: string[]): Promise<Ready> => {
    const { process: p, ready } = await ManagedProcess.start<Ready>({
      name,
      command: process.execPath,
      args: ['build/manager/main.js', ...args, '--tick-ms', '20'],
      logFile: join(dir, `${name}.log`),
      ready: {
        parse: (line) =>
          line.startsWith('{"ready":true') ? (JSON.parse(line) as Ready) : undefined,
        timeoutMs: 15_000,
      },
    });
    procs.push(p);
    t.teardown(() => {
      if (!t.passed) t.log(`${name} log:\n${p.logTail(40)}`);
    });
    return ready!;
  };

  const first = await start('m1', [
    'init',
    '--data-dir',
    join(dir, 'm1'),
    '--listen',
    '127.0.0.1:0',
  ]);
  t.is(first.id, 1);
  const byId = new Map<number, { name: string; address: string }>([
    [1, { name: 'm1', address: first.address }],
  ]);
  for (const name of ['m2', 'm3']) {
    const r = await start(name, [
      'join',
      first.address,
      '--data-dir',
      join(dir, name),
      '--listen',
      `127.0.0.1:${(await freePorts(1))[0]!}`,
    ]);
    byId.set(r.id, { name, address: r.address });
  }
  t.deepEqual([...byId.keys()].sort(), [1, 2, 3]);
  const all = await waitFor(
    async () => {
      const r = await members(first.address);
      return voters(r).length === 3 ? r : undefined;
    },
    { what: 'three voters', timeoutMs: 15_000 },
  );
  t.deepEqual(
    all.members.map((m) => [m.id, m.address]),
    [...byId].sort((a, b) => a[0] - b[0]).map(([id, m]) => [id, m.address]),
  );

  // Kill whoever leads; the other two elect a leader and take a write.
  const leaderId = all.leader;
  const killed = byId.get(leaderId)!;
  const proc = procs.find((p) => p.name === killed.name)!;
  proc.kill('SIGKILL');
  await proc.exited;
  const survivor = [...byId].find(([id]) => id !== leaderId)![1].address;
  const newLeader = await waitFor(
    async () => {
      const r = await members(survivor).catch(() => undefined);
      return r !== undefined && r.leader !== 0 && r.leader !== leaderId ? r : undefined;
    },
    { what: 'a new leader', timeoutMs: 15_000 },
  );
  const applied = await applyService(newLeader.leaderAddress, 'web');
  t.is(applied.results[0]?.action, 'created');

  // The killed member comes back from its data dir alone and is a voter again.
  const back = await start(`${killed.name}-again`, ['run', '--data-dir', join(dir, killed.name)]);
  t.is(back.id, leaderId);
  t.is(back.address, killed.address);
  await waitFor(
    async () => {
      const r = await members(back.address).catch(() => undefined);
      return r !== undefined && voters(r).length === 3 && r.leader !== 0 ? r : undefined;
    },
    { what: 'the restarted member back among three voters', timeoutMs: 15_000 },
  );
  // It has the write made while it was down.
  await waitFor(
    async () => {
      const names = await listServices(back.address).catch(() => []);
      return names.some((j) => j.includes('"web"'));
    },
    { what: 'the restarted member to hold the write made while it was down', timeoutMs: 15_000 },
  );
  t.pass();
});
