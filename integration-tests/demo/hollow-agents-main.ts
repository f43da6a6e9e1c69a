// N simulated agents in one process, for the demo and process tests: they register with the
// managers at --manager (or --managers, comma-separated, to fail over between them), heartbeat,
// and report every assigned task running (no containers). Prints {"ready":true,"nodes":[…]} once
// all are registered; SIGTERM/SIGINT stop them.
import { HollowAgent } from '../../agent/hollow/hollow-agent.js';
import { DispatcherClients } from '../../agent/session/clients.js';

const flag = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
};

const main = async (): Promise<void> => {
  const managers = [flag('manager'), ...(flag('managers') ?? '').split(',')].filter(
    (m): m is string => m !== undefined && m !== '',
  );
  const count = Number(flag('count') ?? '3');
  if (managers.length === 0 || !Number.isSafeInteger(count) || count < 1) {
    process.stderr.write(
      'usage: hollow-agents-main --manager HOST:PORT | --managers H:P,H:P,… [--count N]\n',
    );
    process.exit(2);
  }
  // One client per manager address for all agents: grpc-js multiplexes their calls.
  const clients = new DispatcherClients();
  const agents = Array.from(
    { length: count },
    (_, i) => new HollowAgent({ clients, managers, hostname: `node-${i + 1}` }),
  );
  const stop = (): void => {
    // Sessions first (cancelled, never written to again), then their clients.
    for (const a of agents) a.stop();
    clients.close();
    process.exit(0);
  };
  // Before "ready": whoever reads it may signal at once.
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await Promise.all(agents.map((a) => a.start()));
  process.stdout.write(`${JSON.stringify({ ready: true, nodes: agents.map((a) => a.nodeId) })}\n`);
};

main().catch((e: unknown) => {
  process.stderr.write(`hollow agents failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
