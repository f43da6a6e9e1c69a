// A replicated store run as one local process per member (etcd, tug's Raft KV, tug managers): start
// them, tell when the cluster is healthy, kill and restart members with their data, stop them all.
// Which binary and which client are the caller's; the lifecycle and the health rule are shared.

import type { Cleanup } from './cleanup.js';
import { BenchError, BenchErrorCode } from './errors.js';
import {
  LeaderFollowingDriver,
  type LeaderDriverOptions,
  type MemberClient,
  type MemberStatus,
} from './leader-driver.js';
import type { ExitInfo, ManagedProcess } from './process.js';
import { waitFor } from './wait.js';

/** A member process exited without being asked to: the cluster is not what is being measured. */
export class MemberDiedError extends BenchError {
  readonly code = BenchErrorCode.MemberDied;
  override readonly name = 'MemberDiedError';
  readonly member: string;
  constructor(member: string, exit: ExitInfo | undefined, logTail: string) {
    super(
      `${member} exited on its own (code ${String(exit?.code)}, signal ${String(exit?.signal)}); log tail:\n${logTail}`,
    );
    this.member = member;
  }
}

export interface ClusterMemberSpec {
  readonly name: string;
  /** Starts this member's process (again, with the same data dir, after a kill); resolves once it is up. */
  start(): Promise<ManagedProcess>;
  /** A new client for this member; the caller closes it. */
  client(): MemberClient;
}

interface Member {
  readonly spec: ClusterMemberSpec;
  readonly admin: MemberClient;
  process: ManagedProcess | undefined;
  untrack: (() => void) | undefined;
}

export interface HealthyOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  readonly statusTimeoutMs?: number;
}

/**
 * Healthy means: every member answers, all name the same leader, that leader claims itself, and
 * every member has applied what the leader had committed when it was asked (so a restarted member
 * has caught up). Returns the leader's index, or undefined when not healthy.
 */
export function healthyLeader(
  statuses: readonly PromiseSettledResult<MemberStatus>[],
): number | undefined {
  const values: MemberStatus[] = [];
  for (const s of statuses) {
    if (s.status === 'rejected') return undefined;
    values.push(s.value);
  }
  const leaderId = values[0]?.leader ?? null;
  if (leaderId === null || values.some((v) => v.leader !== leaderId)) return undefined;
  const leaderIndex = values.findIndex((v) => v.id === leaderId);
  if (leaderIndex < 0) return undefined;
  const committed = values[leaderIndex]!.commitIndex;
  if (values.some((v) => v.appliedIndex < committed)) return undefined;
  return leaderIndex;
}

export interface ClusterOptions {
  /** SIGTERM to SIGKILL when stopping a member. */
  readonly stopGraceMs?: number;
  /** Told every (re)start of a member, e.g. to log pids. */
  readonly onStart?: (member: string, pid: number) => void;
}

export class ReplicatedCluster {
  readonly system: string;
  readonly #members: Member[];
  readonly #cleanup: Cleanup;
  readonly #stopGraceMs: number;
  readonly #onStart: ((member: string, pid: number) => void) | undefined;

  constructor(
    system: string,
    specs: readonly ClusterMemberSpec[],
    cleanup: Cleanup,
    options: ClusterOptions = {},
  ) {
    if (specs.length === 0) throw new RangeError(`${system}: a cluster needs at least one member`);
    this.system = system;
    this.#cleanup = cleanup;
    this.#stopGraceMs = options.stopGraceMs ?? 5000;
    this.#onStart = options.onStart;
    this.#members = specs.map((spec) => ({
      spec,
      admin: spec.client(),
      process: undefined,
      untrack: undefined,
    }));
  }

  get size(): number {
    return this.#members.length;
  }

  memberName(index: number): string {
    return this.#member(index).spec.name;
  }

  process(index: number): ManagedProcess | undefined {
    return this.#member(index).process;
  }

  /** Starts every member at once: Raft members wait for each other before they serve. */
  async start(): Promise<void> {
    await Promise.all(this.#members.map((_, i) => this.#startMember(i)));
  }

  statuses(timeoutMs = 1000): Promise<PromiseSettledResult<MemberStatus>[]> {
    return Promise.allSettled(this.#members.map((m) => m.admin.status(timeoutMs)));
  }

  /** Waits until healthyLeader() holds; returns the leader's index. */
  async waitHealthy(options: HealthyOptions): Promise<number> {
    return waitFor(
      async () => {
        this.#checkRunning();
        return healthyLeader(await this.statuses(options.statusTimeoutMs ?? 1000));
      },
      {
        what: `${this.system} cluster healthy with ${this.size} members`,
        timeoutMs: options.timeoutMs,
        intervalMs: 50,
        isFatal: (err) => err instanceof MemberDiedError,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      },
    );
  }

  /** SIGKILLs member `index` by pid and waits until it is gone. */
  async kill(index: number): Promise<void> {
    const member = this.#member(index);
    const proc = member.process;
    if (proc === undefined) throw new Error(`${member.spec.name} is not running`);
    proc.kill('SIGKILL');
    await proc.exited;
    member.untrack?.();
    member.process = undefined;
    member.untrack = undefined;
  }

  /** Starts member `index` again with its data, after kill(). */
  async restart(index: number): Promise<void> {
    const member = this.#member(index);
    if (member.process !== undefined) throw new Error(`${member.spec.name} is still running`);
    await this.#startMember(index);
  }

  /** A fresh client of member `index` alone; the caller closes it. */
  client(index: number): MemberClient {
    return this.#member(index).spec.client();
  }

  /** A driver over fresh clients to every member; close it when done. */
  driver(options: LeaderDriverOptions = {}): LeaderFollowingDriver {
    return new LeaderFollowingDriver(
      this.#members.map((m) => m.spec.client()),
      options,
    );
  }

  /** Stops every member (SIGTERM, then SIGKILL) and closes the admin clients. */
  async stop(): Promise<void> {
    for (const m of this.#members) m.admin.close();
    await Promise.all(
      this.#members.map(async (m) => {
        const proc = m.process;
        if (proc === undefined) return;
        await proc.stop(this.#stopGraceMs);
        m.untrack?.();
        m.process = undefined;
        m.untrack = undefined;
      }),
    );
  }

  /** Log tails of every member, for error reports. */
  logTails(lines = 15): string {
    return this.#members
      .map((m) =>
        m.process === undefined
          ? `--- ${m.spec.name}: not running`
          : `--- ${m.spec.name} (${m.process.logFile}):\n${m.process.logTail(lines)}`,
      )
      .join('\n');
  }

  async #startMember(index: number): Promise<void> {
    const member = this.#member(index);
    const proc = await member.spec.start();
    member.process = proc;
    member.untrack = this.#cleanup.trackProcess(proc, this.#stopGraceMs);
    this.#onStart?.(member.spec.name, proc.pid);
  }

  /** A member that died on its own makes the cluster unusable for measurement: fail loudly. */
  #checkRunning(): void {
    for (const m of this.#members) {
      const proc = m.process;
      if (proc !== undefined && !proc.running) {
        const exit = proc.exitInfo;
        throw new MemberDiedError(m.spec.name, exit, proc.logTail());
      }
    }
  }

  #member(index: number): Member {
    const m = this.#members[index];
    if (m === undefined)
      throw new RangeError(`${this.system}: no member ${index} (size ${this.size})`);
    return m;
  }
}
