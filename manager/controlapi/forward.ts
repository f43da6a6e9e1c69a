// Follower → leader forwarding of the control API: which RPCs must run on the leader, the wait for
// an election when no leader is known, one gRPC client per leader address, relaying the leader's
// answer (status, message, headers and trailers) so the caller cannot tell, loop protection, and
// the bounded deadline of writes. Reads run locally unless the caller asks for a linearizable one
// (docs/controlapi.md).
import {
  Client,
  credentials,
  Metadata,
  status,
  type handleUnaryCall,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceError,
  type StatusObject,
} from '@grpc/grpc-js';
import * as pb from '../../proto/gen/control.js';
import {
  LEADER_METADATA,
  NOT_LEADER_METADATA,
  RELAY_FAILED_METADATA,
  WriteDeadlineError,
  toStatus,
} from './errors.js';

/** Set on a forwarded call (value: the forwarding member's id); such a call is never forwarded again. */
export const FORWARDED_METADATA = 'x-tug-forwarded';
/** Set to "true" on a read to have it answered by the leader after a ReadIndex round. */
export const LINEARIZABLE_METADATA = 'x-tug-linearizable';

type Method = keyof typeof pb.ControlServiceService;
type Kind = 'write' | 'read' | 'stream';

/**
 * Every RPC, classified; a new RPC does not compile until it is listed here, so a new write
 * cannot silently run on a follower.
 */
export const methodKinds: Readonly<Record<Method, Kind>> = {
  createService: 'write',
  updateService: 'write',
  getService: 'read',
  listServices: 'read',
  removeService: 'write',
  scale: 'write',
  createNetwork: 'write',
  listNetworks: 'read',
  removeNetwork: 'write',
  listTasks: 'read',
  getTask: 'read',
  listNodes: 'read',
  getNode: 'read',
  updateNode: 'write',
  removeNode: 'write',
  apply: 'write',
  watch: 'stream',
};

export interface ForwarderDeps {
  readonly self: number;
  /** Raft's view: the leader's member id (0: none known) and whether this member leads. */
  readonly status: () => { readonly leader: number; readonly isLeader: boolean };
  /** Where a member serves ('' when unknown). */
  readonly addressOf: (id: number) => string;
  /** A linearizable read point on the leader. */
  readonly readIndex: () => Promise<number>;
  /** How long a call waits for a leader to be elected (≈ two election timeouts). */
  readonly electionWaitMs: number;
  /** How often the wait looks at Raft's status. */
  readonly pollMs: number;
  /** Deadline of a write on the leader when the caller set none (or a later one). */
  readonly writeTimeoutMs: number;
  readonly now?: () => number;
  readonly log?: (line: string) => void;
}

/** Headers that belong to the hop, not to the caller's request. */
const hopHeaders = new Set(['user-agent', 'content-type', 'te', 'host', 'accept-encoding']);

const withoutHop = (from: Metadata): Metadata => {
  const md = new Metadata();
  for (const [k, values] of Object.entries(from.toJSON())) {
    if (k.startsWith('grpc-') || k.startsWith(':') || hopHeaders.has(k)) continue;
    for (const v of values) md.add(k, v);
  }
  return md;
};

/** The caller's deadline in epoch ms (Infinity when none). */
const deadlineOf = (call: ServerUnaryCall<unknown, unknown>): number => {
  const d = call.getDeadline();
  return d instanceof Date ? d.getTime() : d;
};

const unavailable = (details: string, leader = 0): Partial<ServiceError> => {
  const metadata = new Metadata();
  metadata.set(NOT_LEADER_METADATA, 'true');
  if (leader !== 0) metadata.set(LEADER_METADATA, String(leader));
  return { code: status.UNAVAILABLE, details, metadata };
};

const isNotLeader = (e: Partial<ServiceError>): boolean =>
  e.code === status.UNAVAILABLE && (e.metadata?.get(NOT_LEADER_METADATA).length ?? 0) > 0;

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, Math.max(0, ms));
  });

/** A handler's answer, as the server will send it. */
type Answer =
  | { readonly ok: true; readonly value: unknown; readonly trailer?: Metadata }
  | { readonly ok: false; readonly error: Partial<ServiceError> };

export class Forwarder {
  private readonly deps: ForwarderDeps;
  private readonly now: () => number;
  /**
   * One client per leader address, made when a member is first seen leading. Kept (not closed)
   * when the leader changes, so calls still in flight to the old leader end with its answer rather
   * than CANCELLED; there are only as many as members that ever led.
   */
  private readonly clients = new Map<string, Client>();
  private closed = false;

  constructor(deps: ForwarderDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
  }

  /** The handlers with writes (and linearizable reads) sent to the leader. */
  wrap(local: pb.ControlServiceServer): pb.ControlServiceServer {
    const out: pb.ControlServiceServer = { ...local };
    for (const [name, kind] of Object.entries(methodKinds) as [Method, Kind][]) {
      if (kind === 'stream') continue;
      const handler = local[name] as handleUnaryCall<unknown, unknown>;
      const wrapped: handleUnaryCall<unknown, unknown> = (call, cb) => {
        this.serve(name, kind, handler, call).then(
          (a) => {
            if (a.ok) cb(null, a.value, a.trailer);
            else cb(a.error);
          },
          (e: unknown) => {
            cb(toStatus(e));
          },
        );
      };
      (out as Record<Method, unknown>)[name] = wrapped;
    }
    return out;
  }

  close(): void {
    this.closed = true;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private async serve(
    name: Method,
    kind: 'write' | 'read',
    handler: handleUnaryCall<unknown, unknown>,
    call: ServerUnaryCall<unknown, unknown>,
  ): Promise<Answer> {
    const linearizable = call.metadata.get(LINEARIZABLE_METADATA)[0] === 'true';
    if (kind === 'read' && !linearizable) return runLocal(handler, call, Infinity);
    const deadline = deadlineOf(call);
    const forwardedBy = call.metadata.get(FORWARDED_METADATA)[0];
    if (forwardedBy !== undefined) {
      // One hop at most: a leader change while the call travelled is the caller's to retry.
      const s = this.deps.status();
      if (!s.isLeader) {
        return {
          ok: false,
          error: unavailable(
            `member ${this.deps.self} is not the leader (call forwarded by member ${String(forwardedBy)}); retry`,
            s.leader,
          ),
        };
      }
      return this.onLeader(kind, handler, call, deadline);
    }
    // Waiting for an election is bounded twice: by the caller's deadline and by electionWaitMs.
    const until = Math.min(deadline, this.now() + this.deps.electionWaitMs);
    let last: Partial<ServiceError> | null = null;
    for (;;) {
      const leader = await this.awaitLeader(until);
      if (leader === 0) {
        return {
          ok: false,
          error:
            last ??
            unavailable(
              `no leader elected within ${this.deps.electionWaitMs} ms (member ${this.deps.self} asked); retry later`,
            ),
        };
      }
      const a =
        leader === this.deps.self
          ? await this.onLeader(kind, handler, call, deadline)
          : await this.forward(name, leader, call, deadline);
      // Not-leader answers mean the proposal was never appended: safe to try the new leader.
      if (a.ok || !isNotLeader(a.error) || this.now() >= until) return a;
      last = a.error;
      await sleep(this.deps.pollMs);
    }
  }

  private async onLeader(
    kind: 'write' | 'read',
    handler: handleUnaryCall<unknown, unknown>,
    call: ServerUnaryCall<unknown, unknown>,
    deadline: number,
  ): Promise<Answer> {
    const until = Math.min(deadline, this.now() + this.deps.writeTimeoutMs);
    if (kind === 'read') {
      const read = await withDeadline(this.deps.readIndex(), until, this.now).then(
        () => null,
        (e: unknown) => ({ ok: false as const, error: toStatus(e) }),
      );
      if (read !== null) return read;
    }
    return runLocal(handler, call, until, this.now);
  }

  /** Waits until some member is known to lead (or `until`); 0 if none is. */
  private async awaitLeader(until: number): Promise<number> {
    for (;;) {
      const s = this.deps.status();
      if (s.isLeader) return this.deps.self;
      if (s.leader !== 0 && s.leader !== this.deps.self && this.deps.addressOf(s.leader) !== '')
        return s.leader;
      if (this.now() >= until || this.closed) return 0;
      await sleep(Math.min(this.deps.pollMs, until - this.now()));
    }
  }

  private clientFor(address: string): Client {
    let c = this.clients.get(address);
    if (c === undefined) {
      c = new Client(address, credentials.createInsecure());
      this.clients.set(address, c);
    }
    return c;
  }

  private forward(
    name: Method,
    leader: number,
    call: ServerUnaryCall<unknown, unknown>,
    deadline: number,
  ): Promise<Answer> {
    const address = this.deps.addressOf(leader);
    const def = pb.ControlServiceService[name] as unknown as {
      path: string;
      requestSerialize: (v: unknown) => Buffer;
      responseDeserialize: (b: Buffer) => unknown;
    };
    const md = withoutHop(call.metadata);
    md.set(FORWARDED_METADATA, String(this.deps.self));
    const client = this.clientFor(address);
    return new Promise<Answer>((resolve) => {
      let result: { err: ServiceError | null; value: unknown } | null = null;
      // The answer is complete with the status (and its trailers), which grpc-js emits after the
      // callback.
      const c = client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        call.request,
        md,
        { deadline: Number.isFinite(deadline) ? deadline : this.now() + this.deps.writeTimeoutMs },
        (err, value) => {
          result = { err, value };
        },
      );
      c.on('metadata', (headers: Metadata) => {
        call.sendMetadata(withoutHop(headers));
      });
      c.on('status', (s: StatusObject) => {
        const r = result;
        if (r === null || r.err !== null) {
          const metadata = s.metadata.clone();
          // Transport failures are ours to explain: the caller asked us, not the leader.
          const lost =
            s.code === status.UNAVAILABLE && metadata.get(NOT_LEADER_METADATA).length === 0;
          if (lost) metadata.set(RELAY_FAILED_METADATA, 'true');
          const details = lost
            ? `leader (member ${leader} at ${address}) unreachable from member ${this.deps.self}: ${s.details}; the call may or may not have taken effect: read before retrying`
            : s.details;
          resolve({ ok: false, error: { code: s.code, details, metadata } });
        } else resolve({ ok: true, value: r.value, trailer: s.metadata });
      });
    });
  }
}

/** Runs the local handler, failing DEADLINE_EXCEEDED at `until` (the write may still commit). */
const runLocal = (
  handler: handleUnaryCall<unknown, unknown>,
  call: ServerUnaryCall<unknown, unknown>,
  until: number,
  now: () => number = Date.now,
): Promise<Answer> => {
  const answer = new Promise<Answer>((resolve) => {
    const cb: sendUnaryData<unknown> = (err, value, trailer) => {
      if (err !== null) resolve({ ok: false, error: err });
      else resolve({ ok: true, value, ...(trailer === undefined ? {} : { trailer }) });
    };
    handler(call, cb);
  });
  return withDeadline(answer, until, now).catch((e: unknown): Answer => ({
    ok: false,
    error: toStatus(e),
  }));
};

const withDeadline = <T>(p: Promise<T>, until: number, now: () => number): Promise<T> => {
  if (!Number.isFinite(until)) return p;
  const ms = Math.max(0, until - now());
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new WriteDeadlineError(ms));
    }, ms);
  });
  return Promise.race([p, timeout]).finally(() => {
    clearTimeout(timer);
  });
};
