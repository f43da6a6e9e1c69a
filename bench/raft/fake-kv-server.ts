// THROWAWAY FAKE of the tug Raft KV server, for checking the benchmark harness before the real
// server exists. It speaks the same process contract (flags, JSON ready line, proto/kv.proto) but
// has no Raft, no log, no disk: each member keeps its own in-memory map, and the "leader" is the
// lowest-id member whose raft port accepts connections. Its numbers measure nothing; the benchmark
// refuses it unless run with --fake, and labels the output FAKE.

import { mkdirSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { parseArgs } from 'node:util';

import { Server, ServerCredentials, status as GrpcStatus } from '@grpc/grpc-js';

import { KvServiceService, type KvServiceServer } from '../../proto/gen/kv.js';

interface Peer {
  readonly id: number;
  readonly host: string;
  readonly port: number;
}

function splitHostPort(addr: string, what: string): { host: string; port: number } {
  const colon = addr.lastIndexOf(':');
  const port = Number(addr.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`${what}: expected host:port, got '${addr}'`);
  }
  return { host: addr.slice(0, colon), port };
}

function parsePeers(raw: string): Peer[] {
  return raw.split(',').map((part) => {
    const eq = part.indexOf('=');
    const id = Number(part.slice(0, eq));
    if (eq <= 0 || !Number.isInteger(id) || id <= 0)
      throw new Error(`--peers: bad entry '${part}'`);
    return { id, ...splitHostPort(part.slice(eq + 1), '--peers') };
  });
}

function reachable(peer: Peer, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: peer.host, port: peer.port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => {
      done(false);
    });
    socket.once('connect', () => {
      done(true);
    });
    socket.once('error', () => {
      done(false);
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      id: { type: 'string' },
      peers: { type: 'string' },
      listen: { type: 'string' },
      'data-dir': { type: 'string' },
    },
    strict: true,
  });
  const id = Number(values.id);
  if (!Number.isInteger(id) || id <= 0)
    throw new Error(`--id: expected a positive integer, got '${values.id}'`);
  if (
    values.peers === undefined ||
    values.listen === undefined ||
    values['data-dir'] === undefined
  ) {
    throw new Error('--peers, --listen and --data-dir are required');
  }
  const peers = parsePeers(values.peers);
  const self = peers.find((p) => p.id === id);
  if (self === undefined) throw new Error(`--peers does not list --id ${id}`);
  const listen = splitHostPort(values.listen, '--listen');
  mkdirSync(values['data-dir'], { recursive: true });

  // The raft port only exists so peers can see this member is alive.
  const raft = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    raft.once('error', reject);
    raft.listen(self.port, self.host, resolve);
  });

  let leader = 0;
  let term = 1;
  let index = 0;
  const data = new Map<string, Buffer>();
  const elect = async (): Promise<void> => {
    const alive = await Promise.all(
      peers.map(async (p) => (p.id === id || (await reachable(p, 100)) ? p.id : Infinity)),
    );
    const next = Math.min(...alive);
    if (next !== leader) {
      leader = next;
      term++;
    }
  };
  await elect();
  let electing = false;
  const ticker = setInterval(() => {
    if (electing) return;
    electing = true;
    void elect().finally(() => {
      electing = false;
    });
  }, 100);

  const service: KvServiceServer = {
    put: (call, callback) => {
      if (call.request.key === '') {
        callback({ code: GrpcStatus.INVALID_ARGUMENT, details: 'empty key' });
        return;
      }
      data.set(call.request.key, Buffer.from(call.request.value));
      index++;
      callback(null, { index });
    },
    get: (call, callback) => {
      const value = data.get(call.request.key);
      callback(null, { found: value !== undefined, value: value ?? Buffer.alloc(0), index });
    },
    status: (_call, callback) => {
      // No log: commit/applied stay 0 so "caught up" holds trivially.
      callback(null, {
        id,
        leader,
        term,
        role: leader === id ? 'leader' : 'follower',
        commit: 0,
        applied: 0,
        voters: peers.map((p) => p.id),
        learners: [],
      });
    },
  };
  const server = new Server();
  server.addService(KvServiceService, service);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${listen.host}:${listen.port}`,
      ServerCredentials.createInsecure(),
      (err, p) => {
        if (err !== null) reject(err);
        else resolve(p);
      },
    );
  });

  const stop = (): void => {
    clearInterval(ticker);
    raft.close();
    server.tryShutdown(() => {
      process.exit(0);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.write(
    `${JSON.stringify({ ready: true, id, raft: `${self.host}:${self.port}`, kv: `${listen.host}:${port}`, fake: true })}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`fake-kv-server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
