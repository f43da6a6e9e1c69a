// A real 3-process Raft KV cluster (WAL with fsync, gRPC transport) under concurrent clients while
// the leader is SIGKILLed and restarted again and again. The client history must be linearizable:
// no acknowledged write lost, no stale read, whatever the kills did.
import test from 'ava';
import { Cleanup } from '../../bench/lib/cleanup.js';
import type { MemberClient } from '../../bench/lib/leader-driver.js';
import { TUG_SERVER, tugCluster } from '../../bench/raft/tug.js';
import { HistoryRecorder } from '../../common/testing/history.js';
import { checkKv, type KvInput, type KvOutput } from '../../common/testing/kv-model.js';
import { sleep, waitFor } from '../../bench/lib/wait.js';

const KEYS = ['a', 'b', 'c', 'd', 'e'];
const CLIENTS = 4;
const KILLS = 5;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

test('raft kv: history stays linearizable while the leader is SIGKILLed repeatedly', async (t) => {
  const cleanup = new Cleanup();
  t.teardown(async () => {
    await cleanup.run();
  });
  const dir = cleanup.tempDir('tug-raft-lin-');
  const cluster = await tugCluster({
    server: TUG_SERVER,
    size: 3,
    dir,
    cleanup,
    readyTimeoutMs: 30_000,
  });
  await cluster.start();
  await cluster.waitHealthy({ timeoutMs: 30_000 });

  const history = new HistoryRecorder<KvInput, KvOutput>();
  let stop = false;
  let acked = 0;
  const clients: MemberClient[][] = Array.from({ length: CLIENTS }, () =>
    Array.from({ length: cluster.size }, (_, i) => cluster.client(i)),
  );
  t.teardown(() => {
    for (const cs of clients) for (const c of cs) c.close();
  });

  // Each client sends every operation to a random member: followers forward puts to the leader
  // and serve gets through ReadIndex, so every path is exercised. No retries — a put that fails
  // may still have happened, so it is recorded as an unknown outcome and the client moves on.
  const runClient = async (id: number): Promise<void> => {
    let n = 0;
    while (!stop) {
      const key = KEYS[Math.floor(Math.random() * KEYS.length)]!;
      const member = clients[id]![Math.floor(Math.random() * cluster.size)]!;
      if (Math.random() < 0.5) {
        const value = `c${id}-${n++}`;
        const h = history.invoke(id, { op: 'put', key, value });
        try {
          await member.put(key, encoder.encode(value), 3000);
          history.ok(h, {});
          acked++;
        } catch {
          history.unknown(h);
        }
      } else {
        const h = history.invoke(id, { op: 'get', key });
        try {
          const v = await member.get(key, 3000);
          history.ok(h, { value: v === null ? null : decoder.decode(v) });
        } catch {
          history.unknown(h);
        }
      }
    }
  };
  const running = Array.from({ length: CLIENTS }, (_, i) => runClient(i));

  const leaders: string[] = [];
  try {
    for (let k = 0; k < KILLS; k++) {
      await sleep(1500);
      const leader = await cluster.waitHealthy({ timeoutMs: 30_000 });
      leaders.push(cluster.memberName(leader));
      await cluster.kill(leader);
      // Writes must be acknowledged again without the killed member.
      const before = acked;
      await waitFor(() => acked > before, {
        what: 'a put acknowledged after the kill',
        timeoutMs: 20_000,
      });
      await cluster.restart(leader);
    }
    await sleep(1000);
  } finally {
    stop = true;
    await Promise.all(running);
  }

  const ops = history.history();
  t.log(
    `${ops.length} operations, ${acked} puts acknowledged, leaders killed: ${leaders.join(', ')}`,
  );
  t.is(leaders.length, KILLS);
  t.true(acked > 50, 'the cluster made progress');
  const result = checkKv(ops);
  if (result.ok !== true) t.fail(result.ok === false ? result.explanation : result.reason);
  else t.pass();
});
