// The baseline of the start-latency comparison: one container started by a bare `runc run -d`
// from a bundle equivalent to the agent's (the same image layers as an overlay rootfs, the same
// config.json from buildOciSpec with the task's own spec), detached with its stdio on files (a
// pipe would hold the caller until the container exits). Only the `runc run -d` process is timed;
// the mount and spec are prepared before (and timed separately), and the container, mount,
// cgroups and directory are removed after each sample.

import { execFile, spawn } from 'node:child_process';
import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

import type { Task } from '../../common/model.js';
import type { ImageRecord } from '../../agent/image/index.js';
import { removeCgroup, type CgroupLayout } from '../../agent/linux/cgroups.js';
import { buildOciSpec, overlayOptions, resolveUser } from '../../agent/runtime/oci-spec.js';
import { isMounted, unmount } from '../../agent/state/sweep.js';

const run = promisify(execFile);

export interface BareSample {
  /** `runc run -d` from spawn to its exit (the container's init is running then). */
  readonly runMs: number;
  /** The overlay mount (a `mount` process), for the breakdown. */
  readonly mountMs: number;
}

export interface BareRuncOptions {
  /** Scratch directory: runc's --root, bundles and rootfs mounts. */
  readonly dir: string;
  readonly cgroups: CgroupLayout;
  readonly image: ImageRecord;
  /** The task whose spec and resources the bundle reproduces. */
  readonly task: Task;
  readonly initPath: string;
  readonly runcPath?: string;
}

export class BareRunc {
  readonly #o: BareRuncOptions;
  readonly #runc: string;
  readonly #live = new Set<string>();
  #seq = 0;

  constructor(o: BareRuncOptions) {
    this.#o = o;
    this.#runc = o.runcPath ?? '/usr/sbin/runc';
  }

  get #root(): string {
    return path.join(this.#o.dir, 'root');
  }

  async sample(): Promise<BareSample> {
    const id = `bare-${++this.#seq}`;
    const bundle = path.join(this.#o.dir, id);
    this.#live.add(id);
    for (const d of ['upper', 'work', 'rootfs'])
      await mkdir(path.join(bundle, d), { recursive: true });
    await mkdir(this.#root, { recursive: true });
    const rootfs = path.join(bundle, 'rootfs');
    let t = performance.now();
    await run('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      overlayOptions({
        lowerDirs: this.#o.image.lowerDirs,
        upperDir: path.join(bundle, 'upper'),
        workDir: path.join(bundle, 'work'),
      }),
      rootfs,
    ]);
    const mountMs = performance.now() - t;
    const user = resolveUser(this.#o.task.spec.user ?? this.#o.image.config.user, '', '');
    const out = buildOciSpec({
      container: this.#o.task.spec,
      resources: this.#o.task.resources,
      image: this.#o.image.config,
      rootfs,
      hostname: id,
      cgroupsPath: `/tug/bench-bare/${id}`,
      initPath: this.#o.initPath,
      user: user ?? { uid: 0, gid: 0 },
    });
    if (!out.ok) throw new Error(`bare bundle: ${out.reason}: ${out.detail}`);
    await writeFile(path.join(bundle, 'config.json'), JSON.stringify(out.spec));
    const stdio = await open(path.join(bundle, 'stdio.log'), 'a');
    try {
      t = performance.now();
      await new Promise<void>((resolve, reject) => {
        const child = spawn(
          this.#runc,
          ['--root', this.#root, 'run', '-d', '--bundle', bundle, id],
          { stdio: ['ignore', stdio.fd, stdio.fd] },
        );
        child.once('error', reject);
        child.once('exit', (code) => {
          if (code === 0) resolve();
          else
            reject(new Error(`runc run -d ${id} exited ${String(code)} (see ${bundle}/stdio.log)`));
        });
      });
    } finally {
      await stdio.close();
    }
    return { runMs: performance.now() - t, mountMs };
  }

  /** Removes every container this made, its mount, cgroups and bundle. Idempotent. */
  async removeAll(): Promise<void> {
    for (const id of [...this.#live]) {
      const bundle = path.join(this.#o.dir, id);
      // delete --force kills the init (SIGKILL) and waits for it before removing the state.
      await run(this.#runc, ['--root', this.#root, 'delete', '--force', id]).catch(() => undefined);
      const rootfs = path.join(bundle, 'rootfs');
      if (await isMounted(rootfs)) await unmount(rootfs);
      await removeCgroup(this.#o.cgroups, `/tug/bench-bare/${id}`, '');
      await rm(bundle, { recursive: true, force: true });
      this.#live.delete(id);
    }
  }
}
