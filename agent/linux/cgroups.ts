// cgroups as the agent sees them: where every hierarchy is mounted (v1, hybrid or unified v2),
// the directories one cgroup path has in each of them, reading a container's resource figures, and
// removing the directories the OCI runtimes leave behind (they delete only the leaf, never its
// parents, and on a hybrid host they also create it in the unified tree).

import { readFile, readdir, rmdir } from 'node:fs/promises';
import path from 'node:path';

export const CgroupMode = { V1: 'v1', Hybrid: 'hybrid', V2: 'v2' } as const;
export type CgroupMode = (typeof CgroupMode)[keyof typeof CgroupMode];

export interface CgroupLayout {
  readonly mode: CgroupMode;
  /** v1 hierarchies: controller (or `name=systemd`) → mount point. Co-mounted controllers share one. */
  readonly v1: ReadonlyMap<string, string>;
  /** The cgroup2 mount, if any (on a hybrid host it holds no resource controllers we use). */
  readonly unified?: string;
}

/** Parses /proc/self/mountinfo into the cgroup layout. Pure. */
export function parseCgroupMounts(mountinfo: string): CgroupLayout {
  const v1 = new Map<string, string>();
  let unified: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const mountPoint = left[4];
    const fsType = right[0];
    const superOptions = right[2] ?? '';
    if (mountPoint === undefined) continue;
    if (fsType === 'cgroup2') unified = unescapeMount(mountPoint);
    if (fsType !== 'cgroup') continue;
    for (const opt of superOptions.split(',')) {
      if (
        opt === 'rw' ||
        opt === 'ro' ||
        opt.startsWith('release_agent') ||
        opt === 'clone_children'
      )
        continue;
      if (opt === 'noprefix' || opt === 'xattr' || opt === 'cpuset_v2_mode') continue;
      v1.set(opt, unescapeMount(mountPoint));
    }
  }
  const mode =
    v1.size === 0 ? CgroupMode.V2 : unified === undefined ? CgroupMode.V1 : CgroupMode.Hybrid;
  return unified === undefined ? { mode, v1 } : { mode, v1, unified };
}

const unescapeMount = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export async function detectCgroups(): Promise<CgroupLayout> {
  return parseCgroupMounts(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** Every directory `cgroupPath` (absolute, e.g. `/tug/n1/t1`) has: one per distinct hierarchy. */
export function cgroupDirs(layout: CgroupLayout, cgroupPath: string): string[] {
  const roots = new Set(layout.v1.values());
  if (layout.unified !== undefined) roots.add(layout.unified);
  return [...roots].sort().map((root) => path.join(root, cgroupPath));
}

/**
 * Removes `cgroupPath` in every hierarchy (children first: a runtime may have left nested
 * directories), then each parent up to but not including `keepAbove` when it is empty. Parents
 * still used by another container stay. A cgroup with live processes cannot be removed: that is
 * an error the caller must see (a leak), not something to ignore.
 */
export async function removeCgroup(
  layout: CgroupLayout,
  cgroupPath: string,
  keepAbove: string,
): Promise<void> {
  for (const dir of cgroupDirs(layout, cgroupPath)) await removeTree(dir);
  const parents: string[] = [];
  for (
    let p = path.posix.dirname(cgroupPath);
    p !== '/' && p.startsWith(keepAbove + '/');
    p = path.posix.dirname(p)
  )
    parents.push(p);
  for (const parent of parents)
    for (const dir of cgroupDirs(layout, parent)) {
      try {
        await rmdir(dir);
      } catch (err) {
        if (!isCode(err, 'ENOENT', 'ENOTEMPTY', 'EBUSY')) throw err;
      }
    }
}

async function removeTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isCode(err, 'ENOENT')) return;
    throw err;
  }
  for (const e of entries) if (e.isDirectory()) await removeTree(path.join(dir, e.name));
  // The kernel may still be tearing down the last task's css for a moment after it exits.
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      if (isCode(err, 'ENOENT')) return;
      if (!isCode(err, 'EBUSY') || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const isCode = (err: unknown, ...codes: string[]): boolean =>
  err instanceof Error && codes.includes((err as NodeJS.ErrnoException).code ?? '');

/** One container's resource figures, read from its cgroup. Undefined fields were not available. */
export interface CgroupStats {
  readonly cpuSeconds?: number;
  readonly memoryBytes?: number;
  /** Undefined when unlimited. */
  readonly memoryLimitBytes?: number;
  readonly pids?: number;
  readonly pidsLimit?: number;
  /** Times the kernel's OOM killer killed a process in this cgroup. */
  readonly oomKills?: number;
}

/** `key value` lines (cpu.stat, memory.events, memory.oom_control, memory.stat) → numbers. Pure. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === undefined || v === undefined) continue;
    const n = Number(v);
    if (Number.isFinite(n)) out.set(k, n);
  }
  return out;
}

/** A v1 limit file or a v2 `max`-style file; undefined for "no limit". Pure. */
export function parseLimit(text: string): number | undefined {
  const t = text.trim();
  if (t === 'max' || t === '') return undefined;
  const n = Number(t);
  // v1 reports "unlimited" as a page-rounded LONG_MAX.
  if (!Number.isFinite(n) || n >= 2 ** 62) return undefined;
  return n;
}

async function readOpt(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (isCode(err, 'ENOENT', 'ENODEV', 'EINVAL')) return undefined;
    throw err;
  }
}

const num = (t: string | undefined): number | undefined => {
  if (t === undefined) return undefined;
  const n = Number(t.trim());
  return Number.isFinite(n) ? n : undefined;
};

/** Reads the figures of `cgroupPath`: v1 controllers where mounted, else cgroup2. */
export async function readCgroupStats(
  layout: CgroupLayout,
  cgroupPath: string,
): Promise<CgroupStats> {
  const v1 = (controller: string, file: string): Promise<string | undefined> => {
    const root = layout.v1.get(controller);
    return root === undefined
      ? Promise.resolve(undefined)
      : readOpt(path.join(root, cgroupPath, file));
  };
  const v2 = (file: string): Promise<string | undefined> =>
    layout.mode === CgroupMode.V2 && layout.unified !== undefined
      ? readOpt(path.join(layout.unified, cgroupPath, file))
      : Promise.resolve(undefined);
  const stats: {
    cpuSeconds?: number;
    memoryBytes?: number;
    memoryLimitBytes?: number;
    pids?: number;
    pidsLimit?: number;
    oomKills?: number;
  } = {};
  const set = (k: keyof typeof stats, v: number | undefined): void => {
    if (v !== undefined) stats[k] = v;
  };
  if (layout.mode === CgroupMode.V2) {
    const cpu = await v2('cpu.stat');
    const usec = cpu === undefined ? undefined : parseFlatKeyed(cpu).get('usage_usec');
    set('cpuSeconds', usec === undefined ? undefined : usec / 1e6);
    set('memoryBytes', num(await v2('memory.current')));
    const memMax = await v2('memory.max');
    set('memoryLimitBytes', memMax === undefined ? undefined : parseLimit(memMax));
    set('pids', num(await v2('pids.current')));
    const pidsMax = await v2('pids.max');
    set('pidsLimit', pidsMax === undefined ? undefined : parseLimit(pidsMax));
    const events = await v2('memory.events');
    set('oomKills', events === undefined ? undefined : parseFlatKeyed(events).get('oom_kill'));
    return stats;
  }
  const ns = num(await v1('cpuacct', 'cpuacct.usage'));
  set('cpuSeconds', ns === undefined ? undefined : ns / 1e9);
  set('memoryBytes', num(await v1('memory', 'memory.usage_in_bytes')));
  const lim = await v1('memory', 'memory.limit_in_bytes');
  set('memoryLimitBytes', lim === undefined ? undefined : parseLimit(lim));
  set('pids', num(await v1('pids', 'pids.current')));
  const pidsMax = await v1('pids', 'pids.max');
  set('pidsLimit', pidsMax === undefined ? undefined : parseLimit(pidsMax));
  const oom = await v1('memory', 'memory.oom_control');
  set('oomKills', oom === undefined ? undefined : parseFlatKeyed(oom).get('oom_kill'));
  return stats;
}
