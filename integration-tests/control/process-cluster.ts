// A control plane of real processes for the control process tests: 3 managers (init, join, join),
// processes of hollow agents that know every manager (so they fail over), one control client per
// manager, and a history of store events checked against the cluster invariants — fed from one
// manager's Watch and, when that manager dies, resumed on a survivor from the last version seen.
// Also: SIGKILL of the leader, restart of a killed manager, and waiting for it to catch up.
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import type { Cleanup } from '../../bench/lib/cleanup.js';
import type { ManagedProcess } from '../../bench/lib/process.js';
import {
  findTugLeader,
  restartTugManager,
  startHollowAgents,
  startTugManagers,
  watchStore,
  type HollowAgentsProcess,
  type WatchHandle,
} from '../../bench/lib/tug-cluster.js';
import { waitFor } from '../../bench/lib/wait.js';
import { ControlClient } from '../../cli/client.js';
import {
  ClusterHistory,
  type AcknowledgedWrite,
  type HistoryEvent,
} from '../../common/testing/cluster-invariants.js';

/**
 * A control plane of processes. `TUG_TEST_KEEP_LOGS=<dir>` keeps every process's log (copied to a
 * fresh folder of `<dir>` at cleanup) to diagnose a failure.
 */
export interface ProcessClusterOptions {
  readonly agentProcesses: number;
  readonly agentsPerProcess: number;
  /** Agents get the whole manager list (`--managers`) rather than only the first leader. */
  readonly failover: boolean;
  /** Deadline of every control call. */
  readonly callTimeoutMs?: number;
  /** Every event as observed (replays included), after the history folded it. */
  readonly onEvent?: (e: HistoryEvent) => void;
}

export class ProcessCluster {
  readonly cleanup: Cleanup;
  readonly dir: string;
  readonly addresses: readonly string[];
  /** The current process of each manager (replaced by a restart). */
  readonly processes: ManagedProcess[];
  /** One client per manager address (it reconnects after a restart). */
  readonly clients: readonly ControlClient[];
  readonly agents: readonly HollowAgentsProcess[];
  readonly history = new ClusterHistory();
  readonly acked: AcknowledgedWrite[] = [];
  /** Watches opened after the first, because the watched manager went away. */
  resumes = 0;
  #watch: WatchHandle | undefined;
  #watched = -1;
  #watchError: Error | undefined;
  #closing = false;
  readonly #onEvent: ((e: HistoryEvent) => void) | undefined;

  private constructor(
    cleanup: Cleanup,
    dir: string,
    addresses: readonly string[],
    processes: ManagedProcess[],
    clients: readonly ControlClient[],
    agents: readonly HollowAgentsProcess[],
    onEvent: ((e: HistoryEvent) => void) | undefined,
  ) {
    this.cleanup = cleanup;
    this.dir = dir;
    this.addresses = addresses;
    this.processes = processes;
    this.clients = clients;
    this.agents = agents;
    this.#onEvent = onEvent;
  }

  /** Starts everything and waits for every agent's node to be ready; `cleanup` undoes it all. */
  static async start(cleanup: Cleanup, options: ProcessClusterOptions): Promise<ProcessCluster> {
    const dir = cleanup.tempDir('tug-it-control-');
    // Runs after every process has stopped (cleanup goes newest first), before `dir` goes.
    const keep = process.env['TUG_TEST_KEEP_LOGS'];
    if (keep !== undefined && keep !== '') {
      const copyLogs = (): void => {
        const to = join(keep, `${new Date().toISOString()}-${process.pid}`);
        mkdirSync(to, { recursive: true });
        for (const f of readdirSync(dir)) {
          if (f.endsWith('.log')) cpSync(join(dir, f), join(to, f));
        }
      };
      cleanup.add(
        `copy of the logs to ${keep}`,
        () => {
          copyLogs();
          return Promise.resolve();
        },
        copyLogs,
      );
    }
    const managers = await startTugManagers({ cleanup, dir });
    const leader = await findTugLeader(managers.addresses);
    const clients = managers.addresses.map(
      (a) => new ControlClient(a, options.callTimeoutMs ?? 15_000),
    );
    cleanup.add(
      'control clients',
      () => {
        for (const c of clients) c.close();
        return Promise.resolve();
      },
      () => {
        for (const c of clients) c.close();
      },
    );
    const agents: HollowAgentsProcess[] = [];
    for (let i = 0; i < options.agentProcesses; i++) {
      agents.push(
        await startHollowAgents({
          cleanup,
          dir,
          name: `agents-${String.fromCharCode(97 + i)}`,
          manager: leader,
          ...(options.failover ? { managers: managers.addresses } : {}),
          count: options.agentsPerProcess,
        }),
      );
    }
    const cluster = new ProcessCluster(
      cleanup,
      dir,
      managers.addresses,
      [...managers.processes],
      clients,
      agents,
      options.onEvent,
    );
    const total = options.agentProcesses * options.agentsPerProcess;
    await waitFor(() => cluster.readyNodes(leader).then((n) => n === total), {
      what: `${total} nodes ready`,
      timeoutMs: 30_000,
    });
    cleanup.add(
      'watch',
      () => {
        cluster.#closing = true;
        cluster.#watch?.cancel();
        return Promise.resolve();
      },
      () => {
        cluster.#closing = true;
        cluster.#watch?.cancel();
      },
    );
    return cluster;
  }

  clientOf(address: string): ControlClient {
    return this.clients[this.addresses.indexOf(address)]!;
  }

  running(index: number): boolean {
    return this.processes[index]!.running;
  }

  /** Index of the manager watched now. */
  get watched(): number {
    return this.#watched;
  }

  /** Nodes `address` reads as ready. */
  async readyNodes(address: string): Promise<number> {
    const nodes = await this.clientOf(address).listNodes();
    return nodes.items.filter((n) => n.status.state === 'ready').length;
  }

  /** Index of the leader the running managers agree on. */
  async leader(timeoutMs = 30_000): Promise<number> {
    const up = this.addresses.filter((_, i) => this.running(i));
    return this.addresses.indexOf(await findTugLeader(up, { timeoutMs }));
  }

  /**
   * Starts the history on manager `index`, from now (the history must be empty). Later, if that
   * manager goes away, the watch moves to a running one from `history.resumeFrom`.
   */
  async watchFrom(index: number): Promise<void> {
    await this.#open(index, undefined);
  }

  async #open(index: number, fromVersion: number | undefined): Promise<void> {
    const handle = watchStore(
      this.addresses[index]!,
      // Every kind, so the history's version follows the store's (a manager's list version).
      fromVersion === undefined ? {} : { fromVersion },
      (e) => {
        this.history.observe(e);
        this.#onEvent?.(e);
      },
    );
    try {
      await handle.established;
    } catch (err) {
      handle.cancel();
      throw err;
    }
    this.#watch = handle;
    this.#watched = index;
    void handle.ended.catch(async () => {
      if (this.#closing || this.#watch !== handle) return;
      this.resumes++;
      try {
        await this.#resume(index);
      } catch (err) {
        this.#watchError = err instanceof Error ? err : new Error(String(err));
      }
    });
  }

  /** Another running manager (any, if none other is up yet), from the last version seen. */
  async #resume(lost: number): Promise<void> {
    await waitFor(
      async () => {
        if (this.#closing) return true;
        const order = this.addresses.map((_, i) => i).filter((i) => i !== lost);
        order.push(lost);
        for (const i of order) {
          if (!this.running(i)) continue;
          try {
            // Only a manager that has applied what the history saw: the store's watch delivers
            // every event it applies after the watch opens, even ones before `fromVersion`.
            const at = (await this.clients[i]!.listServices()).version;
            if (at < this.history.version) continue;
            await this.#open(i, this.history.resumeFrom);
            return true;
          } catch {
            // Not serving (yet), or its event log does not reach back: the next one.
          }
        }
        return false;
      },
      { what: 'a manager to resume the watch on', timeoutMs: 30_000, intervalMs: 200 },
    );
  }

  /** Throws if the history could not be kept going. */
  checkWatch(): void {
    if (this.#watchError !== undefined) throw this.#watchError;
  }

  /** Waits until the history has every acknowledged write and `done` holds. */
  until(what: string, done: () => boolean, timeoutMs = 60_000): Promise<true> {
    return waitFor(
      () => {
        this.checkWatch();
        return this.acked.every((w) => w.version <= this.history.version) && done();
      },
      {
        what,
        timeoutMs,
        intervalMs: 50,
        isFatal: (err) => err === this.#watchError && err !== undefined,
      },
    );
  }

  /** SIGKILLs manager `index` and waits for it to be gone. */
  async kill(index: number): Promise<void> {
    const p = this.processes[index]!;
    p.kill('SIGKILL');
    await p.exited;
  }

  /**
   * Starts a killed manager again from its data dir and waits until it has applied `version` and
   * everything the history has seen.
   */
  async restart(index: number, version: number): Promise<void> {
    this.processes[index] = await restartTugManager({
      cleanup: this.cleanup,
      dir: this.dir,
      index,
    });
    await this.caughtUp(index, Math.max(version, this.history.version));
  }

  /** Waits until manager `index` has applied `version` (its local reads say so). */
  async caughtUp(index: number, version: number): Promise<void> {
    const client = this.clients[index]!;
    await waitFor(async () => (await client.listServices()).version >= version, {
      what: `manager ${index + 1} at version ${version}`,
      timeoutMs: 30_000,
      intervalMs: 100,
    });
  }

  /** Stops every manager with SIGTERM; the ones that needed SIGKILL within `graceMs`. */
  async stopManagers(graceMs: number): Promise<string[]> {
    this.#closing = true;
    this.#watch?.cancel();
    const stubborn: string[] = [];
    for (const p of this.processes) {
      if (!p.running) continue;
      const exit = await p.stop(graceMs);
      if (exit.signal === 'SIGKILL') stubborn.push(p.name);
    }
    return stubborn;
  }
}
