// N simulated agents in one process, for the demo and process tests: they register with the
// manager at --manager, heartbeat, and report every assigned task running (no containers).
// Prints {"ready":true,"nodes":[…]} once all are registered; SIGTERM/SIGINT stop them.
import { credentials } from '@grpc/grpc-js';
import { HollowAgent } from '../../manager/dispatcher/hollow-agent.js';
import * as pb from '../../proto/gen/dispatcher.js';

const flag = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
};

const main = async (): Promise<void> => {
  const manager = flag('manager');
  const count = Number(flag('count') ?? '3');
  if (manager === undefined || !Number.isSafeInteger(count) || count < 1) {
    process.stderr.write('usage: hollow-agents-main --manager HOST:PORT [--count N]\n');
    process.exit(2);
  }
  const client = new pb.DispatcherServiceClient(manager, credentials.createInsecure());
  const agents = Array.from(
    { length: count },
    (_, i) => new HollowAgent({ client, hostname: `node-${i + 1}` }),
  );
  await Promise.all(agents.map((a) => a.start()));
  process.stdout.write(`${JSON.stringify({ ready: true, nodes: agents.map((a) => a.nodeId) })}\n`);
  const stop = (): void => {
    for (const a of agents) a.stop();
    client.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
};

main().catch((e: unknown) => {
  process.stderr.write(`hollow agents failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
