// A client-side copy of part of the store, kept current from lists and the Watch stream: what
// `get -w` and `apply --wait` read instead of polling. `follow` lists, then watches from the
// list's version, and on OUT_OF_RANGE (watch too old) lists and watches again.

import type { Network, Node, Service, Task } from '../common/model.js';
import type { ControlClient, WatchEvent } from './client.js';
import { ServerError } from './errors.js';

export type MirroredKind = 'service' | 'task' | 'node' | 'network';

interface Entry<T> {
  readonly object: T;
  /** Store version this entry reflects: later events replace it, earlier ones are ignored. */
  readonly at: number;
}

class Table<T extends { readonly meta: { readonly id: string } }> {
  private readonly live = new Map<string, Entry<T>>();
  /** Deleted ids with the version of the delete, so a stale list cannot bring them back. */
  private readonly gone = new Map<string, number>();

  reset(items: readonly T[], at: number): void {
    this.live.clear();
    this.gone.clear();
    for (const o of items) this.live.set(o.meta.id, { object: o, at });
  }

  put(o: T, at: number): boolean {
    const id = o.meta.id;
    if ((this.live.get(id)?.at ?? -1) >= at || (this.gone.get(id) ?? -1) >= at) return false;
    this.live.set(id, { object: o, at });
    return true;
  }

  delete(id: string, at: number): boolean {
    if ((this.gone.get(id) ?? -1) >= at) return false;
    this.gone.set(id, at);
    return this.live.delete(id);
  }

  values(): T[] {
    return [...this.live.values()].map((e) => e.object);
  }
}

export class Mirror {
  readonly services = new Table<Service>();
  readonly tasks = new Table<Task>();
  readonly nodes = new Table<Node>();
  readonly networks = new Table<Network>();

  /** Applies one event; false if it was older than what is held (a replay after a list). */
  apply(e: WatchEvent): boolean {
    switch (e.kind) {
      case 'service':
        return e.type === 'delete'
          ? this.services.delete(e.object.meta.id, e.version)
          : this.services.put(e.object, e.version);
      case 'task':
        return e.type === 'delete'
          ? this.tasks.delete(e.object.meta.id, e.version)
          : this.tasks.put(e.object, e.version);
      case 'node':
        return e.type === 'delete'
          ? this.nodes.delete(e.object.meta.id, e.version)
          : this.nodes.put(e.object, e.version);
      case 'network':
        return e.type === 'delete'
          ? this.networks.delete(e.object.meta.id, e.version)
          : this.networks.put(e.object, e.version);
      case 'cluster':
        return false;
    }
  }

  /** Lists `kinds` afresh; returns the lowest version read, to watch from. */
  async load(client: ControlClient, kinds: readonly MirroredKind[]): Promise<number> {
    const versions: number[] = [];
    for (const k of kinds) {
      switch (k) {
        case 'service': {
          const l = await client.listServices();
          this.services.reset(l.items, l.version);
          versions.push(l.version);
          break;
        }
        case 'task': {
          const l = await client.listTasks();
          this.tasks.reset(l.items, l.version);
          versions.push(l.version);
          break;
        }
        case 'node': {
          const l = await client.listNodes();
          this.nodes.reset(l.items, l.version);
          versions.push(l.version);
          break;
        }
        case 'network': {
          const l = await client.listNetworks();
          this.networks.reset(l.items, l.version);
          versions.push(l.version);
          break;
        }
      }
    }
    return Math.min(...versions);
  }
}

export interface FollowOptions {
  readonly kinds: readonly MirroredKind[];
  readonly signal: AbortSignal;
  /** After the (re)list, with no event, and after every event that changed the mirror. */
  readonly onChange: (event: WatchEvent | undefined) => void;
}

/** Keeps `mirror` current until `signal` aborts (resolves) or the stream fails (rejects). */
export const follow = async (
  client: ControlClient,
  mirror: Mirror,
  opts: FollowOptions,
): Promise<void> => {
  while (!opts.signal.aborted) {
    const from = await mirror.load(client, opts.kinds);
    opts.onChange(undefined);
    // onChange may have decided it has seen enough.
    if (opts.signal.aborted) return;
    try {
      const events = await client.watch({
        fromVersion: from,
        kinds: opts.kinds,
        signal: opts.signal,
      });
      for await (const e of events) {
        if (mirror.apply(e)) opts.onChange(e);
      }
      // The stream ended without an abort: the manager went away or ended it. List again.
      if (!opts.signal.aborted) continue;
    } catch (err) {
      if (err instanceof ServerError && err.status === 'OUT_OF_RANGE') continue;
      throw err;
    }
  }
};
