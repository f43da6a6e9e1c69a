// The reference system: a 3-member etcd (Debian's etcd-server, v3.4) on loopback, each member with
// its own data dir, default timeouts and fsync, driven through the `etcd3` client. Each member gets
// its own single-host client with the library's retries and circuit breakers off, so that leader
// discovery and retries are the shared LeaderFollowingDriver's, exactly as for tug.

import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import {
  Etcd3,
  GRPCDeadlineExceededError,
  GRPCResourceExhastedError,
  GRPCUnavailableError,
  type IOptions,
} from 'etcd3';

import type { Cleanup } from '../lib/cleanup.js';
import { ReplicatedCluster, type ClusterMemberSpec, type ClusterOptions } from '../lib/cluster.js';
import type { MemberClient, MemberStatus } from '../lib/leader-driver.js';
import { freePorts } from '../lib/ports.js';
import { ManagedProcess } from '../lib/process.js';

export const DEFAULT_ETCD_BINARY = '/usr/bin/etcd';

/** Same reconnect pacing for both systems' clients, so neither waits on a long gRPC backoff. */
export const GRPC_CHANNEL_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
} as const;

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/**
 * A cockatiel-shaped policy that runs the call once: failures surface to our driver unchanged.
 * Built by hand because cockatiel is etcd3's dependency, not ours; the cast only skips
 * `_altReturn`, a property that exists in cockatiel's types alone.
 */
const runOnce = {
  onSuccess: () => ({ dispose: () => undefined }),
  onFailure: () => ({ dispose: () => undefined }),
  execute: async <T>(
    fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T,
    signal?: AbortSignal,
  ): Promise<T> => fn({ signal: signal ?? new AbortController().signal }),
} as unknown as Policy;

const deadline = (timeoutMs: number): { deadline: Date } => ({
  deadline: new Date(Date.now() + timeoutMs),
});

export class EtcdMemberClient implements MemberClient {
  readonly name: string;
  readonly #client: Etcd3;

  constructor(name: string, clientUrl: string) {
    this.name = name;
    this.#client = new Etcd3({
      hosts: clientUrl,
      grpcOptions: GRPC_CHANNEL_OPTIONS,
      faultHandling: { host: () => runOnce, global: runOnce },
    });
  }

  async put(key: string, value: Uint8Array, timeoutMs: number): Promise<void> {
    await this.#client
      .put(key)
      .value(Buffer.from(value.buffer, value.byteOffset, value.byteLength))
      .options(deadline(timeoutMs))
      .exec();
  }

  /** Linearizable: etcd3's range requests are not serializable unless asked. */
  get(key: string, timeoutMs: number): Promise<Uint8Array | null> {
    return this.#client.get(key).options(deadline(timeoutMs)).buffer();
  }

  async status(timeoutMs: number): Promise<MemberStatus> {
    const s = await this.#client.maintenance.status(deadline(timeoutMs));
    return {
      id: s.header.member_id,
      leader: s.leader === '0' || s.leader === '' ? null : s.leader,
      term: Number(s.raftTerm),
      commitIndex: Number(s.raftIndex),
      appliedIndex: Number(s.raftAppliedIndex),
    };
  }

  /** etcd reports "no leader", "leader changed" and its own request timeouts as UNAVAILABLE. */
  isRetryable(err: unknown): boolean {
    return (
      err instanceof GRPCUnavailableError ||
      err instanceof GRPCDeadlineExceededError ||
      err instanceof GRPCResourceExhastedError
    );
  }

  close(): void {
    this.#client.close();
  }
}

export interface EtcdClusterOptions {
  readonly binary: string;
  readonly size: number;
  /** Parent for the members' data dirs and logs; removed by the caller's cleanup. */
  readonly dir: string;
  readonly cleanup: Cleanup;
  readonly cluster?: ClusterOptions;
  readonly host?: string;
}

/** etcd reads every ETCD_* variable as a flag: keep the caller's environment out of the comparison. */
function etcdEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_')));
}

export async function etcdCluster(options: EtcdClusterOptions): Promise<ReplicatedCluster> {
  const host = options.host ?? '127.0.0.1';
  const ports = await freePorts(options.size * 2, host);
  const names = Array.from({ length: options.size }, (_, i) => `etcd-${i + 1}`);
  const peerUrl = (i: number): string => `http://${host}:${ports[2 * i]!}`;
  const clientUrl = (i: number): string => `http://${host}:${ports[2 * i + 1]!}`;
  const initialCluster = names.map((n, i) => `${n}=${peerUrl(i)}`).join(',');
  const token = `tug-bench-${randomBytes(4).toString('hex')}`;

  const specs = names.map((name, i): ClusterMemberSpec => {
    const dataDir = join(options.dir, name);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // A restarted member finds its WAL and ignores the --initial-* flags, as in production.
    const args = [
      `--name=${name}`,
      `--data-dir=${dataDir}`,
      `--listen-peer-urls=${peerUrl(i)}`,
      `--initial-advertise-peer-urls=${peerUrl(i)}`,
      `--listen-client-urls=${clientUrl(i)}`,
      `--advertise-client-urls=${clientUrl(i)}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-token=${token}`,
      '--initial-cluster-state=new',
      '--heartbeat-interval=100',
      '--election-timeout=1000',
      '--logger=zap',
      '--log-outputs=stderr',
    ];
    return {
      name,
      start: async () =>
        (
          await ManagedProcess.start({
            name,
            command: options.binary,
            args,
            env: etcdEnv(),
            logFile: join(options.dir, `${name}.log`),
          })
        ).process,
      client: () => new EtcdMemberClient(name, clientUrl(i)),
    };
  });
  return new ReplicatedCluster('etcd', specs, options.cleanup, options.cluster);
}
