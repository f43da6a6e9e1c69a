// The manager as a process: `init` a new single-member cluster, `join` a running one, or `run`
// again from a data directory. Owns manager.json (who this member is and the peer table, saved on
// every conf change so a restart needs only --data-dir), the JSON ready line on stdout, and the
// clean stop on SIGTERM/SIGINT or once the member has left the cluster (docs/membership.md).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import * as pb from '../proto/gen/membership.js';
import { DEFAULT_ELECTION_TICKS, Manager } from './manager.js';
import { LEADER_ADDRESS_METADATA } from './membership.js';
import { memberId, type MemberId } from './raft/core/index.js';
import { stopOnSignals } from '../common/process.js';
import { parseRegistryMirrors } from '../common/image/registry-host.js';
import { registryImageResolver } from './controlapi/registry-resolver.js';

export interface ManagerConfig {
  readonly id: number;
  readonly clusterId: string;
  /** The address actually bound (not port 0), so peers' saved tables stay right across restarts. */
  readonly listen: string;
  readonly peers: readonly { readonly id: number; readonly address: string }[];
  /** Set once this member left the cluster: `run` refuses to start it again. */
  readonly left?: boolean;
}

/** `--resolve-image` and `--registry-mirror` (docs/controlapi.md, "Image pinning"). */
export interface ImageOptions {
  /** `always` (default): pin service images to digests; `never`: store them as written. */
  readonly resolveImage?: 'always' | 'never';
  readonly registryMirrors?: ReadonlyMap<string, string>;
}

export type Command = ImageOptions &
  (
    | {
        type: 'init';
        dataDir: string;
        listen: string;
        clusterId: string;
        tickMs: number;
        /** Default DEFAULT_ELECTION_TICKS (optional: `tug manager` builds commands too). */
        electionTicks?: number;
      }
    | {
        type: 'join';
        target: string;
        dataDir: string;
        listen: string;
        tickMs: number;
        /** Default DEFAULT_ELECTION_TICKS (optional: `tug manager` builds commands too). */
        electionTicks?: number;
      }
    | { type: 'run'; dataDir: string; tickMs: number; electionTicks?: number }
  );

const usage = `usage: main init --data-dir DIR --listen HOST:PORT [--cluster-id ID] [--tick-ms 100] [--election-ticks 30] [IMAGE FLAGS]
       main join ADDR --data-dir DIR --listen HOST:PORT [--tick-ms 100] [--election-ticks 30] [IMAGE FLAGS]
       main run --data-dir DIR [--tick-ms 100] [--election-ticks 30] [IMAGE FLAGS]
IMAGE FLAGS: [--resolve-image always|never] [--registry-mirror REGISTRY=MIRROR]…`;

export class UsageError extends Error {
  readonly code = 'usage';
  constructor(message: string) {
    super(`${message}\n${usage}`);
    this.name = 'UsageError';
  }
}

export const parseCommand = (argv: readonly string[]): Command => {
  const [verb, ...rest] = argv;
  const positional: string[] = [];
  const flags = new Map<string, string>();
  const mirrorFlags: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const v = rest[i + 1];
    if (v === undefined) throw new UsageError(`flag ${a} needs a value`);
    // The one flag that may repeat.
    if (a === '--registry-mirror') mirrorFlags.push(v);
    else flags.set(a.slice(2), v);
    i++;
  }
  const allowed = {
    init: ['data-dir', 'listen', 'cluster-id', 'tick-ms', 'election-ticks', 'resolve-image'],
    join: ['data-dir', 'listen', 'tick-ms', 'election-ticks', 'resolve-image'],
    run: ['data-dir', 'tick-ms', 'election-ticks', 'resolve-image'],
  }[verb as 'init' | 'join' | 'run'] as string[] | undefined;
  if (allowed === undefined) throw new UsageError(`unknown command "${verb ?? ''}"`);
  for (const k of flags.keys())
    if (!allowed.includes(k)) throw new UsageError(`unknown flag --${k}`);
  const need = (k: string): string => {
    const v = flags.get(k);
    if (v === undefined) throw new UsageError(`missing --${k}`);
    return v;
  };
  const tickMs = Number(flags.get('tick-ms') ?? '100');
  if (!Number.isSafeInteger(tickMs) || tickMs <= 0) throw new UsageError('--tick-ms must be > 0');
  const electionTicks = Number(flags.get('election-ticks') ?? String(DEFAULT_ELECTION_TICKS));
  // Raft needs heartbeatTick (1) < electionTick.
  if (!Number.isSafeInteger(electionTicks) || electionTicks < 2)
    throw new UsageError('--election-ticks must be ≥ 2');
  const resolveImage = flags.get('resolve-image') ?? 'always';
  if (resolveImage !== 'always' && resolveImage !== 'never')
    throw new UsageError(`--resolve-image ${resolveImage}: expected always or never`);
  const mirrors = parseRegistryMirrors(mirrorFlags);
  if (!mirrors.ok) throw new UsageError(mirrors.reason);
  const image: ImageOptions = {
    resolveImage,
    ...(mirrors.mirrors.size === 0 ? {} : { registryMirrors: mirrors.mirrors }),
  };
  if (verb === 'join') {
    if (positional.length !== 1) throw new UsageError('join takes one ADDR');
    return {
      ...image,
      type: 'join',
      target: positional[0]!,
      dataDir: need('data-dir'),
      listen: need('listen'),
      tickMs,
      electionTicks,
    };
  }
  if (positional.length !== 0) throw new UsageError(`unexpected argument "${positional[0]!}"`);
  if (verb === 'init')
    return {
      ...image,
      type: 'init',
      dataDir: need('data-dir'),
      listen: need('listen'),
      clusterId: flags.get('cluster-id') ?? 'tug',
      tickMs,
      electionTicks,
    };
  return { ...image, type: 'run', dataDir: need('data-dir'), tickMs, electionTicks };
};

const configPath = (dataDir: string): string => join(dataDir, 'manager.json');

export const readConfig = async (dataDir: string): Promise<ManagerConfig> =>
  JSON.parse(await readFile(configPath(dataDir), 'utf8')) as ManagerConfig;

/** Write-then-rename, so a crash leaves the old table or the new one, never half of one. */
export const writeConfig = async (dataDir: string, c: ManagerConfig): Promise<void> => {
  const tmp = `${configPath(dataDir)}.tmp`;
  await writeFile(tmp, `${JSON.stringify(c, null, 2)}\n`);
  await rename(tmp, configPath(dataDir));
};

const exists = async (path: string): Promise<boolean> =>
  readFile(path).then(
    () => true,
    () => false,
  );

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** Asks `target` to add us; follows not-leader answers to the leader and retries while none. */
export const requestJoin = async (
  target: string,
  address: string,
  log: (line: string) => void,
  deadlineMs = 30_000,
): Promise<pb.JoinResponse> => {
  const until = Date.now() + deadlineMs;
  let at = target;
  for (;;) {
    const client = new pb.MembershipServiceClient(at, credentials.createInsecure());
    try {
      return await new Promise<pb.JoinResponse>((resolve, reject) => {
        client.join({ address }, new Metadata(), { deadline: Date.now() + 10_000 }, (err, res) => {
          if (err !== null) reject(err);
          else resolve(res);
        });
      });
    } catch (e) {
      const err = e as ServiceError;
      if (err.code !== status.UNAVAILABLE || Date.now() >= until) throw e;
      const leader = err.metadata?.get(LEADER_ADDRESS_METADATA)[0];
      if (typeof leader === 'string' && leader !== '' && leader !== at) {
        log(`join: ${at} is not the leader; asking ${leader}`);
        at = leader;
      } else {
        log(`join: ${at}: ${err.details}; retrying`);
        await sleep(500);
        at = target;
      }
    } finally {
      client.close();
    }
  }
};

/** Starts the manager the command describes; resolves once it serves, with its stop. */
export const runCommand = async (
  cmd: Command,
  log: (line: string) => void,
): Promise<{ manager: Manager; stop: () => Promise<void>; left: Promise<void> }> => {
  await mkdir(cmd.dataDir, { recursive: true });
  let config: ManagerConfig;
  let bootstrap: MemberId[] | undefined;
  let listen: string;
  if (cmd.type === 'run') {
    config = await readConfig(cmd.dataDir);
    if (config.left === true)
      throw new UsageError(
        `${cmd.dataDir} belongs to member ${config.id}, which left the cluster; use a new data directory to join again`,
      );
    listen = config.listen;
  } else {
    if (await exists(configPath(cmd.dataDir)))
      throw new UsageError(`${cmd.dataDir} already holds a manager; use "run"`);
    listen = cmd.listen;
    if (cmd.type === 'init') {
      config = { id: 1, clusterId: cmd.clusterId, listen, peers: [] };
      bootstrap = [memberId(1)];
    } else {
      // The address is asked for before we listen: join needs a fixed port, not 0.
      if (listen.endsWith(':0')) throw new UsageError('join needs --listen with a fixed port');
      const res = await requestJoin(cmd.target, listen, log);
      config = {
        id: res.id,
        clusterId: res.clusterId,
        listen,
        peers: res.members
          .filter((m) => m.id !== res.id && m.address !== '')
          .map((m) => ({ id: m.id, address: m.address })),
      };
    }
  }
  const id = memberId(config.id);
  // Saves run one after another so the file always ends with the newest table.
  let saving: Promise<void> = Promise.resolve();
  const save = (c: ManagerConfig): void => {
    saving = saving
      .then(() => writeConfig(cmd.dataDir, c))
      .catch((e: unknown) => {
        log(`manager ${id}: saving manager.json failed: ${String(e)}`);
      });
  };
  const current = { config };
  let onLeft: () => void = () => undefined;
  const left = new Promise<void>((resolve) => {
    onLeft = resolve;
  });
  const manager = await Manager.start({
    id,
    dataDir: cmd.dataDir,
    clusterId: config.clusterId,
    listen,
    ...(bootstrap === undefined ? {} : { bootstrap }),
    tickMs: cmd.tickMs,
    electionTicks: cmd.electionTicks ?? DEFAULT_ELECTION_TICKS,
    ...(cmd.resolveImage === 'never'
      ? {}
      : { resolveImage: registryImageResolver({ mirrors: cmd.registryMirrors }) }),
    log,
    onPeersChange: (peers) => {
      current.config = {
        ...current.config,
        peers: [...peers].map(([pid, address]) => ({ id: pid, address })),
      };
      save(current.config);
    },
    onLeft: () => {
      current.config = { ...current.config, left: true };
      save(current.config);
      onLeft();
    },
  });
  current.config = { ...current.config, listen: manager.address };
  for (const p of config.peers) manager.addPeer(memberId(p.id), p.address);
  save(current.config);
  await saving;
  manager.run();
  return {
    manager,
    left,
    stop: async () => {
      await manager.stop();
      await saving;
    },
  };
};

const main = async (): Promise<void> => {
  const log = (line: string): void => {
    process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  };
  let cmd: Command;
  try {
    cmd = parseCommand(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  }
  const { manager, stop, left } = await runCommand(cmd, log);
  process.stdout.write(
    `${JSON.stringify({ ready: true, id: manager.id, address: manager.address })}\n`,
  );
  stopOnSignals(`manager ${manager.id}`, stop, log);
  // Leaving is a clean end: stop and exit 0, as on SIGTERM.
  await left;
  log(`manager ${manager.id}: left the cluster, stopping`);
  await stop();
  process.exit(0);
};

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  main().catch((e: unknown) => {
    process.stderr.write(
      `manager failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exit(1);
  });
}
