// One member of the replicated KV demo as a process: WAL in --data-dir, Raft over gRPC to the
// --peers, the KV service on --listen (and on the Raft address, which followers forward to).
// Prints one JSON line {"ready":true,…} on stdout once serving; SIGTERM/SIGINT stop it cleanly.
import { credentials, Server, ServerCredentials } from '@grpc/grpc-js';
import { memberId, type MemberId } from '../core/index.js';
import { openRaftMember } from '../member.js';
import * as pb from '../../../proto/gen/kv.js';
import { KvStateMachine } from './kv-state.js';
import { createKvService } from './kv-service.js';
import { stopOnSignals } from '../../../common/process.js';

export interface KvServerArgs {
  readonly id: MemberId;
  readonly peers: ReadonlyMap<MemberId, string>;
  readonly listen: string;
  readonly dataDir: string;
  readonly clusterId: string;
  readonly tickMs: number;
  readonly snapshotEntries: number;
}

const usage = `usage: server-main --id N --peers 1=host:port,2=host:port,… --listen host:port --data-dir DIR
       [--cluster-id ID] [--tick-ms 100] [--snapshot-entries 10000]`;

export const parseArgs = (argv: readonly string[]): KvServerArgs => {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!;
    const v = argv[i + 1];
    if (!k.startsWith('--') || v === undefined) throw new Error(`bad argument "${k}"\n${usage}`);
    flags.set(k.slice(2), v);
  }
  const need = (k: string): string => {
    const v = flags.get(k);
    if (v === undefined) throw new Error(`missing --${k}\n${usage}`);
    return v;
  };
  const int = (k: string, dflt: number): number => {
    const raw = flags.get(k);
    const n = raw === undefined ? dflt : Number(raw);
    if (!Number.isSafeInteger(n) || n <= 0)
      throw new Error(`--${k} must be a positive integer, got "${raw}"`);
    return n;
  };
  const peers = new Map<MemberId, string>();
  for (const part of need('peers').split(',')) {
    const m = /^(\d+)=(.+:\d+)$/.exec(part.trim());
    if (m === null) throw new Error(`--peers entry "${part}" is not ID=host:port`);
    peers.set(memberId(Number(m[1])), m[2]!);
  }
  const id = memberId(int('id', 0));
  if (!peers.has(id)) throw new Error(`--peers does not list this member's id ${id}`);
  for (const k of flags.keys()) {
    if (
      !['id', 'peers', 'listen', 'data-dir', 'cluster-id', 'tick-ms', 'snapshot-entries'].includes(
        k,
      )
    ) {
      throw new Error(`unknown flag --${k}\n${usage}`);
    }
  }
  return {
    id,
    peers,
    listen: need('listen'),
    dataDir: need('data-dir'),
    clusterId: flags.get('cluster-id') ?? 'tug-kv',
    tickMs: int('tick-ms', 100),
    snapshotEntries: int('snapshot-entries', 10_000),
  };
};

const bind = (server: Server, address: string): Promise<string> =>
  new Promise((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, port) => {
      if (err !== null) reject(new Error(`cannot listen on ${address}: ${err.message}`));
      else resolve(`${address.slice(0, address.lastIndexOf(':'))}:${port}`);
    });
  });

export const runKvServer = async (
  args: KvServerArgs,
  log: (line: string) => void,
): Promise<() => Promise<void>> => {
  const kv = new KvStateMachine();
  const member = await openRaftMember({
    id: args.id,
    dataDir: args.dataDir,
    clusterId: args.clusterId,
    stateMachine: kv,
    bootstrap: [...args.peers.keys()],
    tickMs: args.tickMs,
    snapshotEntries: args.snapshotEntries,
    log,
    onLeaderChange: (leader, term) => {
      log(`member ${args.id}: leader is ${leader} at term ${term}`);
    },
    onFatal: (err) => {
      // Fail-stop: serving on after a failed fsync could acknowledge what is not on disk.
      log(`member ${args.id}: fatal: ${err.message}; exiting`);
      process.exit(1);
    },
  });
  const { node, transport } = member;
  const clients = new Map<MemberId, pb.KvServiceClient>();
  for (const [id, addr] of args.peers) {
    if (id === args.id) continue;
    transport.addPeer(id, addr);
    clients.set(id, new pb.KvServiceClient(addr, credentials.createInsecure()));
  }
  const service = createKvService({ node, kv, clientFor: (m) => clients.get(m) });
  const raftAddress = await transport.listen(args.peers.get(args.id)!, [
    { definition: pb.KvServiceService, implementation: service },
  ]);
  const clientServer = new Server();
  clientServer.addService(pb.KvServiceService, service);
  const kvAddress = await bind(clientServer, args.listen);
  node.start();
  process.stdout.write(
    `${JSON.stringify({ ready: true, id: args.id, raft: raftAddress, kv: kvAddress })}\n`,
  );

  return async () => {
    for (const c of clients.values()) c.close();
    await new Promise<void>((resolve) => {
      clientServer.tryShutdown(() => {
        resolve();
      });
    });
    await member.close();
  };
};

const main = async (): Promise<void> => {
  const log = (line: string): void => {
    process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  };
  let args: KvServerArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  }
  const stop = await runKvServer(args, log);
  stopOnSignals(`member ${args.id}`, stop, log);
};

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  main().catch((e: unknown) => {
    process.stderr.write(
      `kv server failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exit(1);
  });
}
