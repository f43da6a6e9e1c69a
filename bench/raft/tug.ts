// The system under test: three `tug` Raft KV server processes on loopback, each with its own data
// dir, driven through the generated gRPC client of proto/kv.proto. The process contract (flags, the
// JSON ready line) is the server's public interface, parsed and checked here in one place.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { credentials, Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';

import { KvServiceClient } from '../../proto/gen/kv.js';
import type { Cleanup } from '../lib/cleanup.js';
import { ReplicatedCluster, type ClusterMemberSpec, type ClusterOptions } from '../lib/cluster.js';
import type { MemberClient, MemberStatus } from '../lib/leader-driver.js';
import { freePorts } from '../lib/ports.js';
import { ManagedProcess } from '../lib/process.js';
import { GRPC_CHANNEL_OPTIONS } from './etcd.js';

// Resolved from this module (build/bench/raft/) so the benchmark works from any directory.
/** The real server: build/manager/raft/kv/server-main.js. */
export const TUG_SERVER = fileURLToPath(
  new URL('../../manager/raft/kv/server-main.js', import.meta.url),
);
/** The harness-check stand-in (build/bench/raft/fake-kv-server.js); never a source of numbers. */
export const FAKE_SERVER = fileURLToPath(new URL('./fake-kv-server.js', import.meta.url));

/** What a server prints on stdout, once, when both its listeners are up. */
export interface ReadyLine {
  readonly id: number;
  readonly raft: string;
  readonly kv: string;
  /** Set only by the fake server. */
  readonly fake: boolean;
}

/** Parses one stdout line; undefined unless it is the ready line of member `expectedId`. */
export function parseReadyLine(line: string, expectedId: number): ReadyLine | undefined {
  if (!line.startsWith('{')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const o = parsed as Record<string, unknown>;
  if (o['ready'] !== true) return undefined;
  if (o['id'] !== expectedId || typeof o['raft'] !== 'string' || typeof o['kv'] !== 'string') {
    throw new Error(`malformed ready line from member ${expectedId}: ${line}`);
  }
  return { id: o['id'], raft: o['raft'], kv: o['kv'], fake: o['fake'] === true };
}

const RETRYABLE: ReadonlySet<number> = new Set([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.RESOURCE_EXHAUSTED,
]);

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number';
}

function unary<Req, Res>(
  call: (
    request: Req,
    metadata: Metadata,
    options: { deadline: Date },
    callback: (err: ServiceError | null, response: Res) => void,
  ) => unknown,
  request: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    call(
      request,
      new Metadata(),
      { deadline: new Date(Date.now() + timeoutMs) },
      (err, response) => {
        if (err !== null) reject(err);
        else resolve(response);
      },
    );
  });
}

export class TugMemberClient implements MemberClient {
  readonly name: string;
  readonly #client: KvServiceClient;

  constructor(name: string, address: string) {
    this.name = name;
    this.#client = new KvServiceClient(address, credentials.createInsecure(), GRPC_CHANNEL_OPTIONS);
  }

  async put(key: string, value: Uint8Array, timeoutMs: number): Promise<void> {
    const value_ = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    await unary(this.#client.put.bind(this.#client), { key, value: value_ }, timeoutMs);
  }

  async get(key: string, timeoutMs: number): Promise<Uint8Array | null> {
    const r = await unary(
      this.#client.get.bind(this.#client),
      { key, serializable: false },
      timeoutMs,
    );
    return r.found ? r.value : null;
  }

  async status(timeoutMs: number): Promise<MemberStatus> {
    const s = await unary(this.#client.status.bind(this.#client), {}, timeoutMs);
    return {
      id: String(s.id),
      leader: s.leader === 0 ? null : String(s.leader),
      term: s.term,
      commitIndex: s.commit,
      appliedIndex: s.applied,
    };
  }

  isRetryable(err: unknown): boolean {
    return isServiceError(err) && RETRYABLE.has(err.code);
  }

  close(): void {
    this.#client.close();
  }
}

export interface TugClusterOptions {
  /** Path of the server's main module (TUG_SERVER or FAKE_SERVER). */
  readonly server: string;
  readonly size: number;
  readonly dir: string;
  readonly cleanup: Cleanup;
  readonly cluster?: ClusterOptions;
  readonly readyTimeoutMs: number;
  /** Called with every ready line, e.g. to refuse a fake server. */
  readonly onReady?: (member: string, ready: ReadyLine) => void;
  readonly host?: string;
}

export async function tugCluster(options: TugClusterOptions): Promise<ReplicatedCluster> {
  const host = options.host ?? '127.0.0.1';
  const ports = await freePorts(options.size * 2, host);
  const raftAddr = (i: number): string => `${host}:${ports[2 * i]!}`;
  const kvAddr = (i: number): string => `${host}:${ports[2 * i + 1]!}`;
  const peers = Array.from({ length: options.size }, (_, i) => `${i + 1}=${raftAddr(i)}`).join(',');

  const specs = Array.from({ length: options.size }, (_, i): ClusterMemberSpec => {
    const id = i + 1;
    const name = `tug-${id}`;
    const dataDir = join(options.dir, name);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const args = [
      options.server,
      '--id',
      String(id),
      '--peers',
      peers,
      '--listen',
      kvAddr(i),
      '--data-dir',
      dataDir,
    ];
    return {
      name,
      start: async () => {
        const { process: proc, ready } = await ManagedProcess.start({
          name,
          command: process.execPath,
          args,
          logFile: join(options.dir, `${name}.log`),
          ready: { parse: (line) => parseReadyLine(line, id), timeoutMs: options.readyTimeoutMs },
        });
        try {
          if (ready!.kv !== kvAddr(i)) {
            throw new Error(
              `${name} says it serves on ${ready!.kv}, but was told --listen ${kvAddr(i)}`,
            );
          }
          options.onReady?.(name, ready!);
        } catch (err) {
          proc.kill('SIGKILL');
          await proc.exited;
          throw err;
        }
        return proc;
      },
      client: () => new TugMemberClient(name, kvAddr(i)),
    };
  });
  return new ReplicatedCluster('tug', specs, options.cleanup, options.cluster);
}
