// A tug control plane as local processes, shared by the README demo, the control benchmark and the
// process tests: N managers (`init`, then `join` one by one), processes of hollow agents
// (integration-tests/demo/hollow-agents-main.ts, many simulated nodes each), a real agent process
// (agent/main.ts, containers and all, swept away at cleanup), the leader's address (Membership
// Members), a typed Watch stream, and a manager's peak RSS from /proc.

import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';

import type { ObjectKind, StoredObject } from '../../common/model.js';
import * as controlPb from '../../proto/gen/control.js';
import * as membershipPb from '../../proto/gen/membership.js';
import type { Cleanup } from './cleanup.js';
import { freePorts } from './ports.js';
import { ManagedProcess } from './process.js';
import { waitFor } from './wait.js';

const MANAGER_MAIN = fileURLToPath(new URL('../../manager/main.js', import.meta.url));
const AGENT_MAIN = fileURLToPath(new URL('../../agent/main.js', import.meta.url));
const AGENTS_MAIN = fileURLToPath(
  new URL('../../integration-tests/demo/hollow-agents-main.js', import.meta.url),
);

/** The JSON ready line a tug process prints once serving, if it carries `key`. */
export const jsonReadyLine =
  (key: string) =>
  (line: string): Record<string, unknown> | undefined => {
    if (!line.startsWith('{')) return undefined;
    const o = JSON.parse(line) as Record<string, unknown>;
    return o['ready'] === true && key in o ? o : undefined;
  };

export interface TugManagers {
  readonly addresses: readonly string[];
  readonly processes: readonly ManagedProcess[];
}

export interface StartManagersOptions {
  readonly cleanup: Cleanup;
  /** Data dirs (`m1`, …) and logs (`manager-1.log`, …) go here. */
  readonly dir: string;
  readonly count?: number;
  readonly readyTimeoutMs?: number;
  /** Flags for node itself, before the script (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  /** SIGTERM to SIGKILL at cleanup (a profiling manager needs time to write its profile). */
  readonly stopGraceMs?: number;
  /** See `managerImageArgs`. */
  readonly registryMirrors?: ReadonlyMap<string, string>;
}

/**
 * How test and bench managers pin image digests: through the given registry mirrors (as the
 * agent pulls), or — none given — not at all, so that no manager asks a registry (or a DNS
 * server) outside loopback for names like `registry.local:5000`.
 */
const managerImageArgs = (mirrors: ReadonlyMap<string, string> | undefined): string[] =>
  mirrors === undefined || mirrors.size === 0
    ? ['--resolve-image', 'never']
    : [...mirrors].flatMap(([from, to]) => ['--registry-mirror', `${from}=${to}`]);

/**
 * Starts `count` managers: the first `init`s, the others `join` it one at a time (a join waits for
 * the previous learner to be added). Every process is tracked by `cleanup`.
 */
export async function startTugManagers(options: StartManagersOptions): Promise<TugManagers> {
  const count = options.count ?? 3;
  const ports = await freePorts(count);
  const addresses = ports.map((p) => `127.0.0.1:${p}`);
  const processes: ManagedProcess[] = [];
  for (let i = 0; i < count; i++) {
    const name = `manager-${i + 1}`;
    const verb = i === 0 ? ['init'] : ['join', addresses[0]!];
    const { process: p } = await ManagedProcess.start({
      name,
      command: process.execPath,
      args: [
        ...(options.nodeArgs ?? []),
        MANAGER_MAIN,
        ...verb,
        '--data-dir',
        join(options.dir, `m${i + 1}`),
        '--listen',
        addresses[i]!,
        ...managerImageArgs(options.registryMirrors),
      ],
      logFile: join(options.dir, `${name}.log`),
      ready: { parse: jsonReadyLine('address'), timeoutMs: options.readyTimeoutMs ?? 30_000 },
    });
    options.cleanup.trackProcess(p, options.stopGraceMs);
    processes.push(p);
  }
  return { addresses, processes };
}

export interface RestartManagerOptions {
  readonly cleanup: Cleanup;
  /** The `dir` the managers were started with. */
  readonly dir: string;
  /** 0-based, as in `TugManagers.processes` (data dir `m${index + 1}`). */
  readonly index: number;
  readonly readyTimeoutMs?: number;
  readonly nodeArgs?: readonly string[];
  readonly stopGraceMs?: number;
  /** As given to `startTugManagers`. */
  readonly registryMirrors?: ReadonlyMap<string, string>;
}

/**
 * Starts manager `index` of `startTugManagers` again (`run` from its data dir, same address, log
 * appended to), e.g. after a SIGKILL. Resolves once it serves; tracked by `cleanup`.
 */
export async function restartTugManager(options: RestartManagerOptions): Promise<ManagedProcess> {
  const name = `manager-${options.index + 1}`;
  const { process: p } = await ManagedProcess.start({
    name,
    command: process.execPath,
    args: [
      ...(options.nodeArgs ?? []),
      MANAGER_MAIN,
      'run',
      '--data-dir',
      join(options.dir, `m${options.index + 1}`),
      ...managerImageArgs(options.registryMirrors),
    ],
    logFile: join(options.dir, `${name}.log`),
    ready: { parse: jsonReadyLine('address'), timeoutMs: options.readyTimeoutMs ?? 30_000 },
  });
  options.cleanup.trackProcess(p, options.stopGraceMs);
  return p;
}

export interface HollowAgentsProcess {
  readonly process: ManagedProcess;
  /** Node ids of the agents it runs, from its ready line. */
  readonly nodeIds: readonly string[];
}

export interface StartAgentsOptions {
  readonly cleanup: Cleanup;
  readonly dir: string;
  /** Names the log file (`<name>.log`). */
  readonly name: string;
  /** The manager the agents register with first. */
  readonly manager: string;
  /** Every manager, to fail over between (`--managers`); without it only `manager` is known up front. */
  readonly managers?: readonly string[];
  readonly count: number;
  readonly readyTimeoutMs?: number;
}

/** One process of `count` hollow agents registered with `manager`; tracked by `cleanup`. */
export async function startHollowAgents(options: StartAgentsOptions): Promise<HollowAgentsProcess> {
  const { process: p, ready } = await ManagedProcess.start({
    name: options.name,
    command: process.execPath,
    args: [
      AGENTS_MAIN,
      '--manager',
      options.manager,
      ...(options.managers === undefined ? [] : ['--managers', options.managers.join(',')]),
      '--count',
      String(options.count),
    ],
    logFile: join(options.dir, `${options.name}.log`),
    ready: { parse: jsonReadyLine('nodes'), timeoutMs: options.readyTimeoutMs ?? 60_000 },
  });
  options.cleanup.trackProcess(p);
  const nodes = ready?.['nodes'];
  const nodeIds = Array.isArray(nodes) ? nodes.map(String) : [];
  return { process: p, nodeIds };
}

export interface TugAgentProcess {
  readonly process: ManagedProcess;
  readonly nodeId: string;
  readonly stateDir: string;
}

export interface StartAgentOptions {
  readonly cleanup: Cleanup;
  /** The log (`<name>.log`) and the state directory (`<name>/`) go here. */
  readonly dir: string;
  /** Names the log file and state directory; default `agent`. */
  readonly name?: string;
  /** Managers to register with (`--manager`, comma-separated). */
  readonly managers: readonly string[];
  readonly hostname?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** `--registry-mirror REGISTRY=MIRROR` for each entry. */
  readonly registryMirrors?: ReadonlyMap<string, string>;
  readonly readyTimeoutMs?: number;
}

/**
 * Starts one real agent process (needs root). At cleanup it is stopped (SIGTERM) and then
 * everything it made is removed with the agent's own sweep — containers, mounts, task
 * directories, cgroups — since a stopped agent leaves its containers running by design.
 */
export async function startTugAgent(options: StartAgentOptions): Promise<TugAgentProcess> {
  const name = options.name ?? 'agent';
  const stateDir = join(options.dir, name);
  const args = [AGENT_MAIN, '--manager', options.managers.join(','), '--state-dir', stateDir];
  if (options.hostname !== undefined) args.push('--hostname', options.hostname);
  for (const [k, v] of Object.entries(options.labels ?? {})) args.push('--label', `${k}=${v}`);
  for (const [from, to] of options.registryMirrors ?? [])
    args.push('--registry-mirror', `${from}=${to}`);
  const { process: p, ready } = await ManagedProcess.start({
    name,
    command: process.execPath,
    args,
    logFile: join(options.dir, `${name}.log`),
    ready: { parse: jsonReadyLine('nodeId'), timeoutMs: options.readyTimeoutMs ?? 30_000 },
  });
  const id = ready?.['nodeId'];
  const nodeId = typeof id === 'string' ? id : '';
  // Registered before the process itself, so it runs after the process has stopped.
  options.cleanup.add(
    `containers of agent ${name} (${stateDir})`,
    () => sweepAgentState(stateDir, nodeId),
    () => {
      // The exit-time last resort cannot await: the same sweep, in a child process waited for.
      const script = `const m = await import(${JSON.stringify(import.meta.url)}); await m.sweepAgentState(${JSON.stringify(stateDir)}, ${JSON.stringify(nodeId)});`;
      spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        stdio: 'ignore',
        timeout: 60_000,
      });
    },
  );
  options.cleanup.trackProcess(p);
  return { process: p, nodeId, stateDir };
}

/** Removes every container, mount, task directory and cgroup an agent left in `stateDir`. */
export async function sweepAgentState(stateDir: string, nodeId: string): Promise<void> {
  // Loaded only here: the benchmarks and hollow-agent users need none of the agent's code.
  const [{ detectCgroups }, { ContainerRuntime }, { sweep }] = await Promise.all([
    import('../../agent/linux/cgroups.js'),
    import('../../agent/runtime/runtime.js'),
    import('../../agent/state/sweep.js'),
  ]);
  const cgroups = await detectCgroups();
  await sweep({
    stateDir,
    runtime: new ContainerRuntime({ stateDir: join(stateDir, 'runtime'), cgroups }),
    cgroups,
    nodeId,
    keep: new Set(),
  });
}

function membersOf(address: string, timeoutMs: number): Promise<membershipPb.MembersResponse> {
  const client = new membershipPb.MembershipServiceClient(address, credentials.createInsecure());
  return new Promise<membershipPb.MembersResponse>((resolve, reject) => {
    client.members({}, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
      client.close();
      if (err === null) resolve(res);
      else reject(err);
    });
  });
}

/**
 * The address of the manager every reachable member names as leader (and that names itself), once
 * they agree on it and it is one of `addresses`.
 */
export async function findTugLeader(
  addresses: readonly string[],
  options: { readonly timeoutMs?: number; readonly signal?: AbortSignal } = {},
): Promise<string> {
  return waitFor(
    async () => {
      const answers = await Promise.allSettled(addresses.map((a) => membersOf(a, 1000)));
      const named = new Set<string>();
      for (const a of answers) {
        if (a.status === 'fulfilled' && a.value.leader !== 0) named.add(a.value.leaderAddress);
      }
      if (named.size !== 1) return undefined;
      const [leader] = [...named];
      return leader !== undefined && addresses.includes(leader) ? leader : undefined;
    },
    {
      what: `a leader among ${addresses.join(', ')}`,
      timeoutMs: options.timeoutMs ?? 30_000,
      intervalMs: 100,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    },
  );
}

/** A store event as the Watch RPC delivers it, with the object parsed. */
export type WatchedEvent = StoredObject & {
  readonly type: 'create' | 'update' | 'delete';
  readonly version: number;
};

export interface WatchHandle {
  /** Resolves once the server has the watch in place (later writes will be seen). */
  readonly established: Promise<void>;
  /** Settles when the stream ends: resolves on cancel(), rejects on any other end. */
  readonly ended: Promise<void>;
  readonly cancel: () => void;
}

/** Opens a Watch on `address` and calls `onEvent` for every event, in order. */
export function watchStore(
  address: string,
  request: { readonly fromVersion?: number; readonly kinds?: readonly ObjectKind[] },
  onEvent: (event: WatchedEvent) => void,
): WatchHandle {
  const client = new controlPb.ControlServiceClient(address, credentials.createInsecure(), {
    // Tasks of big services in one batch of events must not trip the default 4 MiB limit.
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  });
  const stream = client.watch({
    ...(request.fromVersion === undefined ? {} : { fromVersion: request.fromVersion }),
    kinds: [...(request.kinds ?? [])],
  });
  let cancelled = false;
  const established = new Promise<void>((resolve, reject) => {
    stream.once('metadata', () => {
      resolve();
    });
    stream.once('error', reject);
  });
  const ended = new Promise<void>((resolve, reject) => {
    stream.on('data', (m: controlPb.WatchResponse) => {
      for (const e of m.events) {
        const object: unknown = JSON.parse(e.objectJson);
        onEvent({
          type: e.type as WatchedEvent['type'],
          kind: e.kind,
          version: e.version,
          object,
        } as WatchedEvent);
      }
    });
    stream.on('error', (err: ServiceError) => {
      client.close();
      if (cancelled) resolve();
      else reject(new Error(`watch on ${address} failed: ${err.message}`, { cause: err }));
    });
    stream.on('end', () => {
      client.close();
      if (cancelled) resolve();
      else reject(new Error(`watch on ${address} ended`));
    });
  });
  // Whoever awaits neither still must not see an unhandled rejection.
  established.catch(() => undefined);
  ended.catch(() => undefined);
  return {
    established,
    ended,
    cancel: () => {
      cancelled = true;
      stream.cancel();
    },
  };
}

/** Peak resident set (VmHWM) of `pid` in MiB, from /proc; read before the process exits. */
export async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  if (match === null) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}
