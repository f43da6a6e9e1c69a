// The agent process: `node build/agent/main.js --manager H:P[,H:P…] --state-dir DIR
// [--hostname H] [--label k=v…] [--runtime runc|crun] [--insecure-registry host:port…]
// [--registry-mirror host:port=mirror:port…] [--addr IP]`. Prints one JSON line `{"ready":true,"nodeId":…}` once its first session is up;
// SIGTERM or SIGINT stops the agent and leaves the containers running (conmon owns them).

import { parseArgs } from 'node:util';

import { Agent, type AgentOptions } from './agent.js';
import { RuntimeKind } from './runtime/runtime.js';
import { parseRegistryMirrors } from '../common/image/registry-host.js';

export class AgentUsageError extends Error {
  readonly code = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'AgentUsageError';
  }
}

export const agentUsage = `Usage: agent --manager HOST:PORT[,HOST:PORT…] --state-dir DIR [--hostname H]
             [--label KEY=VALUE]… [--runtime runc|crun] [--insecure-registry HOST:PORT]…
             [--registry-mirror HOST:PORT=MIRROR:PORT]… [--addr IP]`;

/** The agent's flags, as given to `node build/agent/main.js` or `tug agent`. */
export interface AgentFlags {
  readonly manager?: string | undefined;
  readonly 'state-dir'?: string | undefined;
  readonly hostname?: string | undefined;
  readonly label?: readonly string[] | undefined;
  readonly runtime?: string | undefined;
  readonly 'insecure-registry'?: readonly string[] | undefined;
  /** `registry=mirror`, both host[:port]: pull images of `registry` from `mirror`. */
  readonly 'registry-mirror'?: readonly string[] | undefined;
  readonly addr?: string | undefined;
}

/** Checks the flags and turns them into AgentOptions (without log and callbacks). */
export function agentOptions(f: AgentFlags): AgentOptions {
  const managers = (f.manager ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (managers.length === 0) throw new AgentUsageError('--manager is required');
  const stateDir = f['state-dir'];
  if (stateDir === undefined || stateDir === '')
    throw new AgentUsageError('--state-dir is required');
  const labels: Record<string, string> = {};
  for (const l of f.label ?? []) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new AgentUsageError(`--label ${l}: expected KEY=VALUE`);
    labels[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const runtime = f.runtime ?? RuntimeKind.Runc;
  if (runtime !== RuntimeKind.Runc && runtime !== RuntimeKind.Crun)
    throw new AgentUsageError(`--runtime ${runtime}: expected runc or crun`);
  const parsedMirrors = parseRegistryMirrors(f['registry-mirror'] ?? []);
  if (!parsedMirrors.ok) throw new AgentUsageError(parsedMirrors.reason);
  const mirrors = parsedMirrors.mirrors;
  return {
    managers,
    stateDir,
    labels,
    runtime,
    insecureRegistries: f['insecure-registry'] ?? [],
    ...(mirrors.size === 0 ? {} : { registryMirrors: mirrors }),
    ...(f.hostname === undefined ? {} : { hostname: f.hostname }),
    ...(f.addr === undefined ? {} : { addr: f.addr }),
  };
}

const main = async (): Promise<void> => {
  const log = (line: string): void => {
    process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  };
  let opts: AgentOptions;
  try {
    const { values } = parseArgs({
      args: process.argv.slice(2),
      options: {
        manager: { type: 'string' },
        'state-dir': { type: 'string' },
        hostname: { type: 'string' },
        label: { type: 'string', multiple: true },
        runtime: { type: 'string' },
        'insecure-registry': { type: 'string', multiple: true },
        'registry-mirror': { type: 'string', multiple: true },
        addr: { type: 'string' },
      },
    });
    opts = agentOptions(values);
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n${agentUsage}\n`);
    process.exit(2);
  }
  const started: { agent?: Agent } = {};
  const agent = await Agent.start({
    ...opts,
    log,
    onFatal: (e) => {
      log(`agent: session ended for good: ${e.code}: ${e.message}`);
      void (started.agent?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
    },
  });
  started.agent = agent;
  process.stdout.write(`${JSON.stringify({ ready: true, nodeId: agent.nodeId })}\n`);
  const onSignal = (): void => {
    log(`agent ${agent.nodeId}: stopping (containers keep running)`);
    agent.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        log(`agent: stop failed: ${String(e)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
};

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  main().catch((e: unknown) => {
    process.stderr.write(
      `agent failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exit(1);
  });
}
