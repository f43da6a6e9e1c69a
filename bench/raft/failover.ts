// One failover trial: with a put loop running at one request in flight, SIGKILL the leader and
// measure the time from the kill to the first put acknowledged by the new leader; then restart the
// killed member with its data and wait until the cluster is healthy again before the next trial.

import type { ReplicatedCluster } from '../lib/cluster.js';
import { benchKey, randomValue } from '../lib/load.js';
import { randomInt, type Random } from '../lib/random.js';
import { sleep, waitFor } from '../lib/wait.js';

export interface FailoverTrial {
  /** The member that was leader and was killed. */
  readonly killed: string;
  /** Kill to first acknowledged put that was served after the kill. */
  readonly failoverMs: number;
  /** Attempts the driver retried while the cluster had no reachable leader. */
  readonly failedAttempts: number;
  /** The member that acknowledged that put. */
  readonly newLeader: string;
  /** Restart of the killed member to a healthy 3-member cluster (not part of failover time). */
  readonly recoveryMs: number;
}

export interface FailoverOptions {
  readonly keyCount: number;
  readonly valueBytes: number;
  readonly random: Random;
  /** How long the put loop runs steadily before the kill. */
  readonly steadyMs: number;
  /** Bound on kill-to-ack; a cluster that does not recover within it fails the run. */
  readonly failoverTimeoutMs: number;
  readonly healthyTimeoutMs: number;
  readonly signal?: AbortSignal;
}

/**
 * An ack counts as "after the kill" when its put was sent after the kill or had at least one
 * failed attempt: a put in flight at the kill that the dying leader had already answered does not
 * count, and one that failed over does, without waiting for the next put.
 */
export async function failoverTrial(
  cluster: ReplicatedCluster,
  options: FailoverOptions,
): Promise<FailoverTrial> {
  await cluster.waitHealthy({
    timeoutMs: options.healthyTimeoutMs,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const driver = cluster.driver({
    opTimeoutMs: options.failoverTimeoutMs,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const value = randomValue(options.random, options.valueBytes);
  let killAt: number | undefined;
  let ack: { at: number; leader: string } | undefined;
  let stop = false;
  let acks = 0;

  const loop = async (): Promise<void> => {
    while (!stop && options.signal?.aborted !== true) {
      const key = benchKey(
        randomInt(options.random, options.keyCount),
        options.keyCount,
        'failover/',
      );
      const sentAt = performance.now();
      const failedBefore = driver.failedAttempts;
      await driver.put(key, value);
      const at = performance.now();
      acks++;
      if (
        killAt !== undefined &&
        ack === undefined &&
        (sentAt >= killAt || driver.failedAttempts > failedBefore)
      ) {
        ack = { at, leader: driver.leaderName ?? '?' };
      }
    }
  };

  const running = loop();
  let loopError: Error | undefined;
  running.catch((err: unknown) => {
    loopError = err instanceof Error ? err : new Error(String(err));
  });
  // The loop failing (e.g. no leader within its op timeout) ends any wait at once.
  const unlessLoopFailed = <T>(value: T): T => {
    if (loopError !== undefined) throw loopError;
    return value;
  };
  try {
    await waitFor(() => unlessLoopFailed(acks > 0 ? true : undefined), {
      what: `first put on ${cluster.system} before the kill`,
      timeoutMs: options.failoverTimeoutMs,
      intervalMs: 10,
      isFatal: () => true,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    await sleep(options.steadyMs, options.signal);
    // Ask again rather than trust the cached answer: the put loop then uses the member we kill.
    const leader = await driver.rediscover();
    const killed = cluster.memberName(leader);
    killAt = performance.now();
    await cluster.kill(leader);
    const acked = await waitFor(() => unlessLoopFailed(ack), {
      what: `${cluster.system} to acknowledge a put after killing leader ${killed}`,
      timeoutMs: options.failoverTimeoutMs,
      intervalMs: 5,
      isFatal: () => true,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const failoverMs = acked.at - killAt;
    const failedAttempts = driver.failedAttempts;
    stop = true;
    await running;
    const restartAt = performance.now();
    await cluster.restart(leader);
    await cluster.waitHealthy({
      timeoutMs: options.healthyTimeoutMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    return {
      killed,
      failoverMs,
      failedAttempts,
      newLeader: acked.leader,
      recoveryMs: performance.now() - restartAt,
    };
  } finally {
    stop = true;
    await running.catch(() => undefined);
    await driver.close();
  }
}
