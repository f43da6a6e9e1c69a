// Test support: a cluster of managers in this process, on loopback with fast ticks, started the
// way a real cluster starts (every member bootstrapped with the same voters, peers known, then
// Raft run). For tests only — production code never imports it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../bench/lib/wait.js';
import { Manager, type ManagerOptions } from '../manager.js';
import { memberId, type MemberId } from '../raft/core/index.js';

export interface InProcessCluster {
  readonly dir: string;
  /** The managers started, in id order; a test may take out one it stops itself. */
  readonly managers: Manager[];
  /** The manager that believes it leads, if any. */
  leader(): Manager | undefined;
  /** Waits for a leader among `managers` (default 10 s). */
  waitLeader(timeoutMs?: number): Promise<Manager>;
  /** Stops every manager still listed and removes the data directory. */
  close(): Promise<void>;
}

export interface InProcessOptions {
  /** Temp directory name prefix, e.g. 'tug-forward-'. */
  readonly prefix: string;
  /** Default 3. */
  readonly count?: number;
  /** Extra options for each manager (given its id). */
  readonly options?: (id: MemberId) => Partial<ManagerOptions>;
}

export async function startInProcessManagers(o: InProcessOptions): Promise<InProcessCluster> {
  const dir = await mkdtemp(join(tmpdir(), o.prefix));
  const ids = Array.from({ length: o.count ?? 3 }, (_, i) => memberId(i + 1));
  const managers: Manager[] = [];
  const cluster: InProcessCluster = {
    dir,
    managers,
    leader: () => managers.find((m) => m.raft.status().role === 'leader'),
    waitLeader: (timeoutMs = 10_000) =>
      waitFor(() => cluster.leader(), { what: 'a leader', timeoutMs }),
    close: async () => {
      for (const m of managers.splice(0)) await m.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const id of ids) {
      managers.push(
        await Manager.start({
          id,
          dataDir: join(dir, String(id)),
          clusterId: 'test',
          listen: '127.0.0.1:0',
          bootstrap: ids,
          tickMs: 20,
          ...o.options?.(id),
        }),
      );
    }
  } catch (err) {
    await cluster.close();
    throw err;
  }
  for (const m of managers) {
    for (const other of managers) if (other !== m) m.addPeer(other.id, other.address);
    m.run();
  }
  return cluster;
}
