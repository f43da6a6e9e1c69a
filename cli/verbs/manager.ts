// `tug manager`: run a manager in the foreground (init a cluster, join one, or run again from its
// data directory) with the same code as `node build/manager/main.js`, and the membership commands
// (ls, leave, remove) over tug.membership.v1. Membership calls use grpc-js here directly: they are
// not control API calls, so cli/client.ts does not carry them.

import { join } from 'node:path';
import { credentials, Metadata, status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import * as pb from '../../proto/gen/membership.js';
import { parseDurationFlag, stringFlag } from '../args.js';
import { resolveManager } from '../config.js';
import { ServerError, UnreachableError, UsageError } from '../errors.js';
import { machine, parseOutputFormat, table } from '../output.js';
import type { Verb, VerbContext } from '../verb.js';

const defaultListen = '127.0.0.1:4270';
const defaultTimeoutMs = 10_000;

const statusName = (code: number): string =>
  Object.entries(grpcStatus).find(([, v]) => (v as number) === code)?.[0] ?? String(code);

/** `$XDG_DATA_HOME/tug/manager`, else `~/.local/share/tug/manager`. */
export const defaultDataDir = (env: Readonly<Record<string, string | undefined>>): string => {
  const xdg = env['XDG_DATA_HOME'];
  if (xdg !== undefined && xdg !== '') return join(xdg, 'tug', 'manager');
  const home = env['HOME'];
  if (home === undefined || home === '')
    throw new UsageError('no --data directory and no $HOME to put one in', 'manager');
  return join(home, '.local', 'share', 'tug', 'manager');
};

/** A membership RPC with a deadline; errors as the CLI's (unreachable vs refused). */
const call = <Res>(
  address: string,
  timeoutMs: number,
  f: (
    c: pb.MembershipServiceClient,
    md: Metadata,
    opts: { deadline: number },
    cb: (err: ServiceError | null, res: Res) => void,
  ) => unknown,
): Promise<Res> => {
  const client = new pb.MembershipServiceClient(address, credentials.createInsecure());
  return new Promise<Res>((resolve, reject) => {
    client.waitForReady(Date.now() + timeoutMs, (ready) => {
      if (ready !== undefined) {
        reject(new UnreachableError(address, { cause: ready }));
        return;
      }
      f(client, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err === null) resolve(res);
        else if (err.code === grpcStatus.DEADLINE_EXCEEDED)
          reject(new UnreachableError(address, { cause: err }));
        else reject(new ServerError(statusName(err.code), err.details, { cause: err }));
      });
    });
  }).finally(() => {
    client.close();
  });
};

const members = (address: string, timeoutMs: number): Promise<pb.MembersResponse> =>
  call<pb.MembersResponse>(address, timeoutMs, (c, md, o, cb) => c.members({}, md, o, cb));

const ls = async (ctx: VerbContext, address: string, timeoutMs: number): Promise<void> => {
  const format = parseOutputFormat(stringFlag(ctx.args, 'output'), 'manager');
  let res = await members(address, timeoutMs);
  // Only the leader knows who it hears from; ask it when it is someone else.
  if (!res.fromLeader && res.leaderAddress !== '' && res.leaderAddress !== address) {
    res = await members(res.leaderAddress, timeoutMs).catch(() => res);
  }
  const rows = res.members.map((m) => ({
    id: m.id,
    address: m.address,
    role: m.role,
    leader: m.id === res.leader,
    reachable: res.fromLeader ? m.reachable : null,
  }));
  if (format === 'json' || format === 'yaml') {
    ctx.io.stdout.write(machine(format, { clusterId: res.clusterId, members: rows }));
    return;
  }
  ctx.io.stdout.write(
    table(
      ['ID', 'ADDRESS', 'ROLE', 'LEADER', 'REACHABLE'],
      rows.map((r) => [
        String(r.id),
        r.address,
        r.role,
        r.leader ? '*' : '',
        r.reachable === null ? 'unknown' : r.reachable ? 'yes' : 'no',
      ]),
    ),
  );
};

/** Runs a manager until it leaves the cluster or the process gets SIGINT/SIGTERM. */
const foreground = async (
  ctx: VerbContext,
  cmd: { type: 'init' | 'join' | 'run'; target?: string },
): Promise<void> => {
  const dataDir = stringFlag(ctx.args, 'data') ?? defaultDataDir(ctx.io.env);
  const listen = stringFlag(ctx.args, 'listen') ?? defaultListen;
  // Loaded only here: the other verbs need none of the manager's code.
  const m = await import('../../manager/main.js');
  const command =
    cmd.type === 'init'
      ? { type: 'init' as const, dataDir, listen, clusterId: 'tug', tickMs: 100 }
      : cmd.type === 'join'
        ? { type: 'join' as const, target: cmd.target!, dataDir, listen, tickMs: 100 }
        : { type: 'run' as const, dataDir, tickMs: 100 };
  const log = (line: string): void => {
    ctx.io.stderr.write(`${new Date(ctx.now()).toISOString()} ${line}\n`);
  };
  let running: Awaited<ReturnType<typeof m.runCommand>>;
  try {
    running = await m.runCommand(command, log);
  } catch (e) {
    if (e instanceof m.UsageError) throw new UsageError(e.message.split('\n')[0]!, 'manager');
    throw e;
  }
  ctx.io.stdout.write(
    `manager ${running.manager.id} serving at ${running.manager.address} (data in ${dataDir})\n`,
  );
  let onSignal: (() => void) | undefined;
  const signalled = new Promise<'signal'>((resolve) => {
    onSignal = () => {
      resolve('signal');
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  const why = await Promise.race([running.left.then(() => 'left' as const), signalled]);
  process.off('SIGINT', onSignal!);
  process.off('SIGTERM', onSignal!);
  log(
    why === 'left'
      ? `manager ${running.manager.id}: left the cluster, stopping`
      : `manager ${running.manager.id}: stopping`,
  );
  await running.stop();
};

export const managerVerb: Verb = {
  name: 'manager',
  summary: 'Run a manager (init, join, run) or change the managers (ls, leave, remove)',
  usage: `Usage: tug manager init [--data DIR] [--listen HOST:PORT]
       tug manager join ADDR [--data DIR] [--listen HOST:PORT]
       tug manager run [--data DIR]
       tug manager ls [-o table|json|yaml]
       tug manager leave [--force]
       tug manager remove ID [--force]

init starts a new cluster with this manager as its only member; join asks the manager at ADDR to
add this one; run starts it again from its data directory. These three stay in the foreground
until SIGINT/SIGTERM, or until the manager leaves the cluster. --listen is the address the other
managers and the CLI reach it at (default ${defaultListen}; join needs a fixed port). --data
defaults to $XDG_DATA_HOME/tug/manager or ~/.local/share/tug/manager.

ls lists the managers (the leader is marked *; REACHABLE is as the leader sees it). leave takes
the manager given by --manager out of the cluster, handing leadership over first if it leads, and
stops it. remove ID takes manager ID out. Both refuse to remove the last manager, and — unless
--force — to leave the remaining managers without a reachable majority.`,
  flags: {
    data: { type: 'string', value: 'DIR', help: 'data directory of the manager (init, join, run)' },
    listen: {
      type: 'string',
      value: 'HOST:PORT',
      help: `address to serve on and be reached at (init, join; default ${defaultListen})`,
    },
    force: {
      type: 'boolean',
      help: 'remove even if the remaining managers would have no reachable majority',
    },
    output: { type: 'string', short: 'o', value: 'FORMAT', help: 'ls: table, json or yaml' },
  },
  run: async (ctx) => {
    const [action, ...rest] = ctx.args.positionals;
    const want = (n: number, what: string): void => {
      if (rest.length < n) throw new UsageError(`manager ${action!}: expected ${what}`, 'manager');
      if (rest.length > n) throw new UsageError(`unexpected argument "${rest[n]!}"`, 'manager');
    };
    if (action === 'init' || action === 'run') {
      want(0, '');
      await foreground(ctx, { type: action });
      return;
    }
    if (action === 'join') {
      want(1, 'the address of a manager');
      await foreground(ctx, { type: 'join', target: rest[0]! });
      return;
    }
    if (action !== 'ls' && action !== 'leave' && action !== 'remove') {
      throw new UsageError(
        action === undefined
          ? 'expected init, join, run, ls, leave or remove'
          : `unknown action "${action}": expected init, join, run, ls, leave or remove`,
        'manager',
      );
    }
    const timeout = stringFlag(ctx.args, 'timeout');
    const timeoutMs =
      timeout === undefined ? defaultTimeoutMs : parseDurationFlag(timeout, '--timeout', 'manager');
    const force = ctx.args.flags['force'] === true;
    if (action === 'ls') {
      want(0, '');
      await ls(ctx, await resolveManager(stringFlag(ctx.args, 'manager'), ctx.io.env), timeoutMs);
      return;
    }
    if (action === 'leave') {
      want(0, '');
      const address = await resolveManager(stringFlag(ctx.args, 'manager'), ctx.io.env);
      const res = await call<pb.LeaveResponse>(address, timeoutMs, (c, md, o, cb) =>
        c.leave({ force }, md, o, cb),
      );
      ctx.io.stdout.write(`manager ${res.id} left the cluster\n`);
      return;
    }
    want(1, 'the id of a manager');
    const id = Number(rest[0]);
    if (!Number.isSafeInteger(id) || id <= 0)
      throw new UsageError(`"${rest[0]!}" is not a manager id (see tug manager ls)`, 'manager');
    const address = await resolveManager(stringFlag(ctx.args, 'manager'), ctx.io.env);
    await call<pb.RemoveResponse>(address, timeoutMs, (c, md, o, cb) =>
      c.remove({ id, force }, md, o, cb),
    );
    ctx.io.stdout.write(`manager ${id} removed\n`);
  },
};
