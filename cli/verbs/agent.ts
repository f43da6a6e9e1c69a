// `tug agent`: run an agent in the foreground with the same code as `node build/agent/main.js`,
// joining the cluster of the managers given by --manager (comma-separated). Stays until SIGINT or
// SIGTERM; the containers keep running after it stops (conmon owns them).

import { listFlag, stringFlag } from '../args.js';
import { UsageError } from '../errors.js';
import type { Verb } from '../verb.js';

export const agentVerb: Verb = {
  name: 'agent',
  summary: 'Run an agent: join the cluster and run the tasks assigned to this node',
  usage: `Usage: tug agent --manager HOST:PORT[,HOST:PORT…] --state-dir DIR [--hostname H]
                 [--label KEY=VALUE]… [--runtime runc|crun] [--insecure-registry HOST:PORT]…
                 [--registry-mirror REGISTRY=HOST:PORT]…

Registers this host as a node (hostname, platform, CPUs, memory, labels), keeps a session with
the managers (it learns the others from the one it is given) and runs its tasks in containers
(runc or crun under conmon). Needs root. Prints {"ready":true,"nodeId":…} once connected. The
state directory keeps the node id, images, container state, task directories and logs; a restart
with the same one re-adopts the running containers.`,
  flags: {
    'state-dir': { type: 'string', value: 'DIR', help: 'where the agent keeps its state' },
    hostname: { type: 'string', value: 'H', help: 'node hostname (default: the host name)' },
    label: { type: 'string', multiple: true, value: 'KEY=VALUE', help: 'node label (repeatable)' },
    runtime: { type: 'string', value: 'runc|crun', help: 'OCI runtime (default runc)' },
    'insecure-registry': {
      type: 'string',
      multiple: true,
      value: 'HOST:PORT',
      help: 'registry spoken to over plain HTTP (loopback ones always are)',
    },
    'registry-mirror': {
      type: 'string',
      multiple: true,
      value: 'REGISTRY=HOST:PORT',
      help: 'pull images of REGISTRY from HOST:PORT (the reference keeps its name)',
    },
    addr: { type: 'string', value: 'IP', help: 'address other nodes reach this one at' },
  },
  run: async (ctx) => {
    if (ctx.args.positionals.length > 0)
      throw new UsageError(`unexpected argument "${ctx.args.positionals[0]!}"`, 'agent');
    // Loaded only here: the other verbs need none of the agent's code.
    const m = await import('../../agent/main.js');
    const { Agent } = await import('../../agent/agent.js');
    let opts;
    try {
      opts = m.agentOptions({
        manager: stringFlag(ctx.args, 'manager') ?? ctx.io.env['TUG_MANAGER'],
        'state-dir': stringFlag(ctx.args, 'state-dir'),
        hostname: stringFlag(ctx.args, 'hostname'),
        label: listFlag(ctx.args, 'label'),
        runtime: stringFlag(ctx.args, 'runtime'),
        'insecure-registry': listFlag(ctx.args, 'insecure-registry'),
        'registry-mirror': listFlag(ctx.args, 'registry-mirror'),
        addr: stringFlag(ctx.args, 'addr'),
      });
    } catch (e) {
      if (e instanceof m.AgentUsageError) throw new UsageError(e.message, 'agent');
      throw e;
    }
    const log = (line: string): void => {
      ctx.io.stderr.write(`${new Date(ctx.now()).toISOString()} ${line}\n`);
    };
    let fatal: (() => void) | undefined;
    const ended = new Promise<'fatal'>((resolve) => {
      fatal = () => {
        resolve('fatal');
      };
    });
    const agent = await Agent.start({ ...opts, log, onFatal: () => fatal?.() });
    ctx.io.stdout.write(`${JSON.stringify({ ready: true, nodeId: agent.nodeId })}\n`);
    let onSignal: (() => void) | undefined;
    const signalled = new Promise<'signal'>((resolve) => {
      onSignal = () => {
        resolve('signal');
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    });
    const why = await Promise.race([signalled, ended]);
    process.off('SIGINT', onSignal!);
    process.off('SIGTERM', onSignal!);
    log(`agent ${agent.nodeId}: stopping (containers keep running)`);
    await agent.stop();
    return why === 'fatal' ? 1 : undefined;
  },
};
