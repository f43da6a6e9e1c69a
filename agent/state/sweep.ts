// What the agent made on this host, found from the host itself (not from memory, which a crash
// loses), and its removal: overlay mounts under the state dir, task directories, containers in
// the runtime's state, and cgroup directories under /tug/<node> in every hierarchy. The agent
// removes what no assigned task wants after its first full assignment set; `sweepAll` removes
// everything (tests, the demo, decommissioning a node).

import { execFile } from 'node:child_process';
import { readFile, readdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

import { cgroupDirs, removeCgroup, type CgroupLayout } from '../linux/cgroups.js';
import type { ContainerRuntime } from '../runtime/runtime.js';

const run = promisify(execFile);

const unescapeMount = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Mount points at or below `dir`, deepest first (the order to unmount them in). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp === undefined) continue;
    const p = unescapeMount(mp);
    if (p === dir || p.startsWith(prefix)) out.push(p);
  }
  return out.sort((a, b) => b.length - a.length);
}

export async function isMounted(p: string): Promise<boolean> {
  return (await mountsUnder(p)).includes(p);
}

export async function unmount(p: string): Promise<void> {
  try {
    await run('umount', [p]);
  } catch (err) {
    // Already gone (a concurrent sweep, or never mounted): nothing to do.
    if (!(await isMounted(p))) return;
    throw err;
  }
}

/** The tasks directory's entries (task ids). */
export async function taskDirs(tasksDir: string): Promise<string[]> {
  try {
    return (await readdir(tasksDir, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

/** Task ids that have a cgroup directory under `/tug/<node>` in some hierarchy. */
export async function cgroupTasks(layout: CgroupLayout, node: string): Promise<string[]> {
  const ids = new Set<string>();
  for (const dir of cgroupDirs(layout, `/tug/${node}`)) {
    try {
      for (const e of await readdir(dir, { withFileTypes: true }))
        if (e.isDirectory()) ids.add(e.name);
    } catch {
      // This hierarchy has no directory for the node.
    }
  }
  return [...ids].sort();
}

export interface SweepTargets {
  readonly stateDir: string;
  readonly runtime: ContainerRuntime;
  readonly cgroups: CgroupLayout;
  /** Whose `/tug/<node>` cgroups to look at; absent: cgroups are left alone. */
  readonly nodeId?: string;
  /** Task ids to keep; everything else goes. */
  readonly keep: ReadonlySet<string>;
  readonly log?: (line: string) => void;
}

/**
 * Removes every container, mount, task directory and cgroup of ours that no kept task wants.
 * Logs (`logs/<task>`) stay: they are kept until history pruning.
 */
export async function sweep(t: SweepTargets): Promise<string[]> {
  const removed: string[] = [];
  const log = t.log ?? (() => undefined);
  for (const c of await t.runtime.list()) {
    if (t.keep.has(c.id)) continue;
    await t.runtime.remove(c.id);
    removed.push(`container ${c.id}`);
  }
  // Half-created containers (no meta.json) are not listed; their directories are.
  const containersDir = path.join(t.stateDir, 'runtime', 'containers');
  for (const id of await taskDirs(containersDir)) {
    if (t.keep.has(id)) continue;
    await t.runtime.remove(id);
    removed.push(`container ${id}`);
  }
  const tasksDir = path.join(t.stateDir, 'tasks');
  for (const mp of await mountsUnder(tasksDir)) {
    const id = path.relative(tasksDir, mp).split(path.sep)[0] ?? '';
    if (t.keep.has(id)) continue;
    await unmount(mp);
    removed.push(`mount ${mp}`);
  }
  for (const id of await taskDirs(tasksDir)) {
    if (t.keep.has(id)) continue;
    await rm(path.join(tasksDir, id), { recursive: true, force: true });
    removed.push(`task dir ${id}`);
  }
  if (t.nodeId !== undefined && t.nodeId !== '') {
    for (const id of await cgroupTasks(t.cgroups, t.nodeId)) {
      if (t.keep.has(id)) continue;
      await removeCgroup(t.cgroups, `/tug/${t.nodeId}/${id}`, '');
      removed.push(`cgroup /tug/${t.nodeId}/${id}`);
    }
    // The node's own directory, once empty (removeCgroup only removes it with a child).
    if (t.keep.size === 0)
      for (const dir of cgroupDirs(t.cgroups, `/tug/${t.nodeId}`))
        await rmdir(dir).catch(() => undefined);
  }
  for (const r of removed) log(`sweep: removed ${r}`);
  return removed;
}
