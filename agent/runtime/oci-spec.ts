// The OCI runtime `config.json` tug generates for one container: from the task's ContainerSpec, the
// image config, the rootfs, the network namespace and the cgroup path. Pure: the same input always
// gives the same spec, so every rule here is unit- and property-tested. The defaults follow Docker's
// (capabilities, mounts, masked and read-only paths), since that is what images are written for.

import type { ContainerSpec, Resources } from '../../common/model.js';

// ---- the subset of the OCI runtime spec we write ---------------------------------------------

export interface OciMount {
  readonly destination: string;
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}

export interface OciIdMapping {
  readonly containerID: number;
  readonly hostID: number;
  readonly size: number;
}

export interface OciSpec {
  readonly ociVersion: string;
  readonly process: {
    readonly terminal: boolean;
    readonly user: {
      readonly uid: number;
      readonly gid: number;
      readonly additionalGids?: readonly number[];
    };
    readonly args: readonly string[];
    readonly env: readonly string[];
    readonly cwd: string;
    readonly capabilities: {
      readonly bounding: readonly string[];
      readonly effective: readonly string[];
      readonly permitted: readonly string[];
    };
    readonly rlimits: readonly {
      readonly type: string;
      readonly hard: number;
      readonly soft: number;
    }[];
    readonly noNewPrivileges: boolean;
  };
  readonly root: { readonly path: string; readonly readonly: boolean };
  readonly hostname: string;
  readonly mounts: readonly OciMount[];
  readonly linux: {
    readonly namespaces: readonly { readonly type: string; readonly path?: string }[];
    readonly uidMappings?: readonly OciIdMapping[];
    readonly gidMappings?: readonly OciIdMapping[];
    readonly cgroupsPath: string;
    readonly resources: {
      readonly devices: readonly { readonly allow: boolean; readonly access: string }[];
      readonly memory?: { readonly limit: number; readonly swap: number };
      readonly cpu?: {
        readonly shares?: number;
        readonly quota?: number;
        readonly period?: number;
      };
      readonly pids?: { readonly limit: number };
    };
    readonly maskedPaths: readonly string[];
    readonly readonlyPaths: readonly string[];
  };
}

// ---- inputs ------------------------------------------------------------------------------------

/** The parts of an OCI image config that decide how the container starts (agent/image's
 * `ImageRuntimeConfig` fits as it is). */
export interface ImageConfig {
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  /** `KEY=value` strings, as in the image config. */
  readonly env?: readonly string[];
  readonly workingDir?: string;
  readonly user?: string;
}

export interface BindMount {
  readonly source: string;
  readonly destination: string;
  readonly readOnly: boolean;
}

/** An overlay rootfs: the image's layers under a task's own upper and work directories. */
export interface OverlayLayers {
  /** Top first. */
  readonly lowerDirs: readonly string[];
  readonly upperDir: string;
  readonly workDir: string;
}

/** overlayfs mount options for `layers` (`mount -o`, or an OCI mount's options). */
export const overlayOptions = (layers: OverlayLayers): string =>
  `lowerdir=${layers.lowerDirs.join(':')},upperdir=${layers.upperDir},workdir=${layers.workDir}`;

export interface OciSpecInput {
  readonly container: ContainerSpec;
  readonly resources: { readonly limits: Resources; readonly reservations: Resources };
  readonly image: ImageConfig;
  /** Absolute path of the prepared rootfs (with `overlay`: the empty directory it goes on). */
  readonly rootfs: string;
  /**
   * The runtime mounts the rootfs itself: an overlay of these layers at `/`, made inside the
   * container's mount namespace before any other mount (runc 1.1 does this for the first mount
   * whose destination is `/`). Saves the host a `mount` process per start and leaves no host
   * mount to clean up: the overlay goes with the container's last process. Not with a user
   * namespace (the mapped root cannot mount the host's layers).
   */
  readonly overlay?: OverlayLayers;
  readonly hostname: string;
  /** `/tug/<node>/<task>`: absolute, so it is the same in every hierarchy. */
  readonly cgroupsPath: string;
  /** Join this network namespace; absent: the container gets a new, empty one. */
  readonly netnsPath?: string;
  /** Host path of a static `tini`, bind-mounted read-only as the container's PID 1. */
  readonly initPath: string;
  /** The user as numbers (resolved against the image's /etc/passwd by the caller). */
  readonly user: {
    readonly uid: number;
    readonly gid: number;
    readonly additionalGids?: readonly number[];
  };
  /** Map container root to an unprivileged host range (user namespace). */
  readonly userNamespace?: {
    readonly hostUid: number;
    readonly hostGid: number;
    readonly size: number;
  };
  readonly binds?: readonly BindMount[];
  /** RLIMIT_NOFILE for the container (soft = hard); absent: inherited. */
  readonly nofile?: number;
}

export type OciSpecOutcome =
  | { readonly ok: true; readonly spec: OciSpec }
  | { readonly ok: false; readonly reason: 'no-command' | 'bad-path'; readonly detail: string };

// ---- Docker's defaults -------------------------------------------------------------------------

/** Docker's default capability set (moby `oci/caps/defaults.go`): ping needs NET_RAW, etc. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export const MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** Where the init is mounted inside the container. */
export const INIT_PATH_IN_CONTAINER = '/sbin/tini-tug';
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** CFS period used with quotas: the kernel default, as Docker uses. */
export const CPU_PERIOD_US = 100_000;

// ---- building ------------------------------------------------------------------------------------

/** Docker's rule: a command given in the spec replaces the entrypoint and drops the image's cmd. */
export function resolveArgs(container: ContainerSpec, image: ImageConfig): readonly string[] {
  if (container.command !== undefined) return [...container.command, ...(container.args ?? [])];
  return [...(image.entrypoint ?? []), ...(container.args ?? image.cmd ?? [])];
}

/** Image env first, then the spec's (which wins); PATH defaulted; HOSTNAME set as Docker does. */
export function resolveEnv(
  container: ContainerSpec,
  image: ImageConfig,
  hostname: string,
): readonly string[] {
  const env = new Map<string, string>();
  env.set('PATH', DEFAULT_PATH.slice('PATH='.length));
  env.set('HOSTNAME', hostname);
  for (const kv of image.env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  for (const [k, v] of Object.entries(container.env)) env.set(k, v);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

const isAbsolute = (p: string): boolean => p.startsWith('/') && !p.split('/').includes('..');

export function buildOciSpec(input: OciSpecInput): OciSpecOutcome {
  const args = resolveArgs(input.container, input.image);
  if (args.length === 0)
    return {
      ok: false,
      reason: 'no-command',
      detail: 'neither the spec nor the image gives a command',
    };
  const cwd = input.container.workdir ?? (input.image.workingDir || '/');
  for (const p of [
    cwd,
    input.rootfs,
    input.cgroupsPath,
    ...(input.binds ?? []).map((b) => b.destination),
  ])
    if (!isAbsolute(p))
      return { ok: false, reason: 'bad-path', detail: `not an absolute path: ${p}` };

  const userns = input.userNamespace;
  const overlay = input.overlay;
  if (overlay !== undefined) {
    if (userns !== undefined)
      return {
        ok: false,
        reason: 'bad-path',
        detail: 'a user-namespaced container needs its rootfs mounted on the host',
      };
    for (const p of [...overlay.lowerDirs, overlay.upperDir, overlay.workDir])
      if (!isAbsolute(p) || /[,:]/.test(p))
        return { ok: false, reason: 'bad-path', detail: `not a usable overlay layer path: ${p}` };
  }
  const namespaces: { type: string; path?: string }[] = [
    { type: 'pid' },
    { type: 'mount' },
    { type: 'ipc' },
    { type: 'uts' },
    input.netnsPath === undefined
      ? { type: 'network' }
      : { type: 'network', path: input.netnsPath },
  ];
  if (userns !== undefined) namespaces.push({ type: 'user' });

  // sysfs can only be mounted by a user namespace that owns the network namespace too; a joined
  // netns belongs to the host's user namespace, so then /sys is bind-mounted instead (as runc does).
  const sysMount: OciMount =
    userns !== undefined && input.netnsPath !== undefined
      ? {
          destination: '/sys',
          type: 'none',
          source: '/sys',
          options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'],
        }
      : {
          destination: '/sys',
          type: 'sysfs',
          source: 'sysfs',
          options: ['nosuid', 'noexec', 'nodev', 'ro'],
        };
  const mounts: OciMount[] = [
    ...(overlay === undefined
      ? []
      : [
          {
            destination: '/',
            type: 'overlay',
            source: 'overlay',
            options: [overlayOptions(overlay)],
          },
        ]),
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      // gid=5 (tty) does not exist in a user namespace without it mapped.
      options: [
        'nosuid',
        'noexec',
        'newinstance',
        'ptmxmode=0666',
        'mode=0620',
        ...(userns === undefined ? ['gid=5'] : []),
      ],
    },
    sysMount,
    {
      destination: '/dev/mqueue',
      type: 'mqueue',
      source: 'mqueue',
      options: ['nosuid', 'noexec', 'nodev'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    {
      destination: INIT_PATH_IN_CONTAINER,
      type: 'none',
      source: input.initPath,
      options: ['bind', 'ro', 'nosuid', 'nodev'],
    },
    ...(input.binds ?? []).map((b) => ({
      destination: b.destination,
      type: 'none',
      source: b.source,
      options: ['rbind', 'rprivate', b.readOnly ? 'ro' : 'rw'],
    })),
  ];

  const { limits, reservations } = input.resources;
  const resources: {
    devices: { allow: boolean; access: string }[];
    memory?: { limit: number; swap: number };
    cpu?: { shares?: number; quota?: number; period?: number };
    pids?: { limit: number };
  } = { devices: [{ allow: false, access: 'rwm' }] };
  // swap = limit: no swap beyond the memory limit, so a limit means what it says.
  if (limits.memoryBytes !== undefined)
    resources.memory = { limit: limits.memoryBytes, swap: limits.memoryBytes };
  const cpu: { shares?: number; quota?: number; period?: number } = {};
  if (limits.cpus !== undefined) {
    cpu.quota = Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US));
    cpu.period = CPU_PERIOD_US;
  }
  // Shares weigh CPU under contention in proportion to what the task reserved (1024 = one core).
  if (reservations.cpus !== undefined)
    cpu.shares = Math.max(2, Math.round(reservations.cpus * 1024));
  if (cpu.quota !== undefined || cpu.shares !== undefined) resources.cpu = cpu;
  if (limits.pids !== undefined) resources.pids = { limit: limits.pids };

  const caps = [...DEFAULT_CAPABILITIES];
  const spec: OciSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: input.user,
      args: [INIT_PATH_IN_CONTAINER, '--', ...args],
      env: resolveEnv(input.container, input.image, input.hostname),
      cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      // Without a figure the container inherits the monitor's limits, as Docker's do the daemon's;
      // a fixed high number fails where the agent's own hard limit is lower.
      rlimits:
        input.nofile === undefined
          ? []
          : [{ type: 'RLIMIT_NOFILE', hard: input.nofile, soft: input.nofile }],
      noNewPrivileges: false,
    },
    root: { path: input.rootfs, readonly: input.container.readOnlyRootfs },
    hostname: input.hostname,
    mounts,
    linux: {
      namespaces,
      ...(userns === undefined
        ? {}
        : {
            uidMappings: [{ containerID: 0, hostID: userns.hostUid, size: userns.size }],
            gidMappings: [{ containerID: 0, hostID: userns.hostGid, size: userns.size }],
          }),
      cgroupsPath: input.cgroupsPath,
      resources,
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
  return { ok: true, spec };
}

/**
 * Resolves an image `user` string (`uid`, `uid:gid`, `name`, `name:group`) to numbers using the
 * rootfs's /etc/passwd and /etc/group texts (passed in, so this stays pure). Undefined: unknown.
 */
export function resolveUser(
  user: string | undefined,
  passwd: string,
  group: string,
): { uid: number; gid: number } | undefined {
  if (user === undefined || user === '') return { uid: 0, gid: 0 };
  const [u = '', g] = user.split(':');
  const rows = (text: string): string[][] =>
    text
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(':'));
  const numeric = (s: string): number | undefined => (/^\d+$/.test(s) ? Number(s) : undefined);
  let uid = numeric(u);
  let gid: number | undefined;
  const pw = rows(passwd).find((r) =>
    uid === undefined ? r[0] === u : numeric(r[2] ?? '') === uid,
  );
  if (uid === undefined) {
    if (pw === undefined) return undefined;
    uid = numeric(pw[2] ?? '');
  }
  if (uid === undefined) return undefined;
  if (g !== undefined) {
    gid = numeric(g) ?? numeric(rows(group).find((r) => r[0] === g)?.[2] ?? '');
    if (gid === undefined) return undefined;
  } else gid = numeric(pw?.[3] ?? '') ?? 0;
  return { uid, gid };
}
