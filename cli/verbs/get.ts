// `tug get`: lists services, tasks, nodes or networks (or shows one by name) as a table, a wide
// table, JSON or YAML. Tables resolve ids to names (a task's service and node) for people; JSON and
// YAML are the stored objects unchanged, for machines.

import type { Network, Node, Service, Task } from '../../common/model.js';
import { boolFlag, stringFlag } from '../args.js';
import type { ControlClient } from '../client.js';
import { logsClientFor, type TaskStat } from '../logs-client.js';
import { follow, Mirror, type MirroredKind } from '../mirror.js';
import { ServerError, UsageError } from '../errors.js';
import {
  age,
  bytes,
  columnWidths,
  labelList,
  machine,
  parseOutputFormat,
  table,
  tableRow,
  truncate,
  type OutputFormat,
} from '../output.js';
import type { Verb, VerbContext } from '../verb.js';

export const Resource = {
  Services: 'services',
  Tasks: 'tasks',
  Nodes: 'nodes',
  Networks: 'networks',
} as const;
export type Resource = (typeof Resource)[keyof typeof Resource];

const aliases: Readonly<Record<string, Resource>> = {
  services: 'services',
  service: 'services',
  svc: 'services',
  tasks: 'tasks',
  task: 'tasks',
  nodes: 'nodes',
  node: 'nodes',
  networks: 'networks',
  network: 'networks',
  net: 'networks',
};

export const parseResource = (word: string | undefined, verb: string): Resource => {
  const r = word === undefined ? undefined : aliases[word];
  if (r === undefined) {
    throw new UsageError(
      word === undefined
        ? 'expected what to show: services, tasks, nodes or networks'
        : `unknown resource "${word}": expected services, tasks, nodes or networks`,
      verb,
    );
  }
  return r;
};

const modeOf = (s: Service): string => s.spec.mode.type;

const isLive = (t: Task): boolean => t.desiredState === 'running';

/** running/desired, counting tasks meant to run that do. */
export const replicasOf = (s: Service, tasks: readonly Task[]): string => {
  const mine = tasks.filter((t) => t.serviceId === s.meta.id && isLive(t));
  const running = mine.filter((t) => t.status.state === 'running').length;
  const desired = s.spec.mode.type === 'replicated' ? s.spec.mode.replicas : mine.length;
  return `${running}/${desired}`;
};

export interface Columns {
  readonly head: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

export const servicesTable = (
  services: readonly Service[],
  tasks: readonly Task[],
  wide: boolean,
  now: number,
): string => render(servicesColumns(services, tasks, wide, now));

const render = (c: Columns): string => table(c.head, c.rows);

export const servicesColumns = (
  services: readonly Service[],
  tasks: readonly Task[],
  wide: boolean,
  now: number,
): Columns => {
  const ports = (s: Service): string =>
    s.spec.ports
      .map((p) => `${p.published === undefined ? '' : `${p.published}->`}${p.target}/${p.protocol}`)
      .join(',');
  const head = ['NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'];
  const rows = services.map((s) => [
    s.meta.name,
    modeOf(s),
    replicasOf(s, tasks),
    s.spec.container.image,
    ports(s),
  ]);
  if (!wide) return { head, rows };
  return {
    head: [...head, 'NETWORKS', 'SPEC', 'AGE', 'ID'],
    rows: services.map((s, i) => [
      ...rows[i]!,
      s.spec.networks.join(','),
      String(s.specVersion),
      age(now - s.meta.createdAt),
      s.meta.id,
    ]),
  };
};

export interface Names {
  readonly services: ReadonlyMap<string, string>;
  readonly nodes: ReadonlyMap<string, string>;
}

export const tasksTable = (
  tasks: readonly Task[],
  names: Names,
  wide: boolean,
  now: number,
  stats?: ReadonlyMap<string, TaskStat>,
): string => render(tasksColumns(tasks, names, wide, now, stats));

/** The wide columns of a task's latest figures ('-' where the leader holds none). */
export const statsCells = (s: TaskStat | undefined): string[] =>
  s === undefined
    ? ['-', '-', '-', '-']
    : [
        `${s.cpuSeconds.toFixed(1)}s`,
        s.memoryLimitBytes > 0
          ? `${bytes(s.memoryBytes)}/${bytes(s.memoryLimitBytes)}`
          : bytes(s.memoryBytes),
        String(s.pids),
        String(s.oomKills),
      ];

export const tasksColumns = (
  tasks: readonly Task[],
  names: Names,
  wide: boolean,
  now: number,
  stats?: ReadonlyMap<string, TaskStat>,
): Columns => {
  const head = ['NAME', 'SERVICE', 'SLOT', 'NODE', 'DESIRED', 'STATE', 'AGE', 'MESSAGE'];
  const rows = tasks.map((t) => [
    t.meta.name,
    names.services.get(t.serviceId) ?? t.serviceId,
    t.slot === undefined ? '-' : String(t.slot),
    t.nodeId === undefined ? '-' : (names.nodes.get(t.nodeId) ?? t.nodeId),
    t.desiredState,
    t.status.state,
    age(now - t.status.timestamp),
    wide ? t.status.message : truncate(t.status.message, 60),
  ]);
  if (!wide) return { head, rows };
  return {
    head: [...head, 'IMAGE', 'ID', 'CPU', 'MEM', 'PIDS', 'OOM'],
    rows: tasks.map((t, i) => [
      ...rows[i]!,
      t.spec.image,
      t.meta.id,
      ...statsCells(stats?.get(t.meta.id)),
    ]),
  };
};

export const nodesTable = (nodes: readonly Node[], wide: boolean): string =>
  render(nodesColumns(nodes, wide));

export const nodesColumns = (nodes: readonly Node[], wide: boolean): Columns => {
  const head = ['NAME', 'ROLE', 'AVAILABILITY', 'STATE', 'ADDRESS'];
  const rows = nodes.map((n) => [
    n.meta.name,
    n.spec.role,
    n.spec.availability,
    n.status.state,
    n.status.addr,
  ]);
  if (!wide) return { head, rows };
  return {
    head: [...head, 'PLATFORM', 'CPUS', 'MEMORY', 'LABELS', 'ID'],
    rows: nodes.map((n, i) => [
      ...rows[i]!,
      `${n.description.platform.os}/${n.description.platform.arch}`,
      String(n.description.resources.cpus),
      bytes(n.description.resources.memoryBytes),
      labelList(n.spec.labels),
      n.meta.id,
    ]),
  };
};

export const networksTable = (networks: readonly Network[], wide: boolean): string =>
  render(networksColumns(networks, wide));

export const networksColumns = (networks: readonly Network[], wide: boolean): Columns => {
  const head = ['NAME', 'DRIVER', 'SUBNET', 'VNI'];
  const rows = networks.map((n) => [
    n.meta.name,
    n.spec.driver,
    n.allocation?.subnet ?? n.spec.subnet ?? '-',
    n.allocation === undefined ? '-' : String(n.allocation.vni),
  ]);
  if (!wide) return { head, rows };
  return {
    head: [...head, 'GATEWAY', 'ATTACHABLE', 'ID'],
    rows: networks.map((n, i) => [
      ...rows[i]!,
      n.allocation?.gateway ?? '-',
      String(n.spec.attachable),
      n.meta.id,
    ]),
  };
};

/**
 * The leader's latest figures of these tasks, for -o wide. A manager that cannot say (no leader
 * now) leaves the columns empty rather than failing the listing.
 */
const taskStatsFor = async (
  ctx: VerbContext,
  tasks: readonly Task[],
): Promise<ReadonlyMap<string, TaskStat>> => {
  const logs = await logsClientFor(ctx);
  try {
    const stats = await logs.taskStats(tasks.map((t) => t.meta.id));
    return new Map(stats.map((s) => [s.taskId, s]));
  } catch (err) {
    ctx.io.stderr.write(`warning: no resource figures: ${(err as Error).message}\n`);
    return new Map();
  } finally {
    logs.close();
  }
};

/** Id → name of services and nodes, for tables of tasks. */
export const namesFor = async (client: ControlClient): Promise<Names> => {
  const [services, nodes] = await Promise.all([client.listServices(), client.listNodes()]);
  return {
    services: new Map(services.items.map((s) => [s.meta.id, s.meta.name])),
    nodes: new Map(nodes.items.map((n) => [n.meta.id, n.meta.name])),
  };
};

const byName = <T extends { readonly meta: { readonly name: string } }>(xs: readonly T[]): T[] =>
  [...xs].sort((a, b) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0));

const findNamed = <T extends { readonly meta: { readonly name: string; readonly id: string } }>(
  xs: readonly T[],
  name: string,
): T | undefined => xs.find((x) => x.meta.name === name) ?? xs.find((x) => x.meta.id === name);

const show = (
  format: OutputFormat,
  items: readonly unknown[],
  single: boolean,
  toTable: (wide: boolean) => string,
): string => {
  if (format === 'json' || format === 'yaml') return machine(format, single ? items[0] : items);
  return toTable(format === 'wide');
};

const watchKinds: Readonly<Record<Resource, readonly MirroredKind[]>> = {
  // A service's REPLICAS column counts its tasks; a task's row names its service and node.
  services: ['service', 'task'],
  tasks: ['task', 'service', 'node'],
  nodes: ['node'],
  networks: ['network'],
};

interface WatchFilter {
  readonly name: string | undefined;
  readonly service: string | undefined;
  readonly node: string | undefined;
}

const matchesRef = (
  o: { readonly meta: { readonly id: string; readonly name: string } },
  ref: string,
): boolean => o.meta.id === ref || o.meta.name === ref;

/** The rows `get` would print now, keyed by object id, sorted by name. */
const currentRows = (
  resource: Resource,
  m: Mirror,
  f: WatchFilter,
  wide: boolean,
  now: number,
): { columns: Columns; ids: string[]; objects: unknown[] } => {
  const pick = <T extends { readonly meta: { readonly id: string; readonly name: string } }>(
    xs: readonly T[],
  ): T[] => byName(f.name === undefined ? xs : xs.filter((x) => matchesRef(x, f.name!)));
  switch (resource) {
    case 'services': {
      const xs = pick(m.services.values());
      return {
        columns: servicesColumns(xs, m.tasks.values(), wide, now),
        ids: xs.map((x) => x.meta.id),
        objects: xs,
      };
    }
    case 'tasks': {
      const services = m.services.values();
      const nodes = m.nodes.values();
      const svc =
        f.service === undefined ? undefined : services.find((x) => matchesRef(x, f.service!));
      const node = f.node === undefined ? undefined : nodes.find((x) => matchesRef(x, f.node!));
      const xs = pick(m.tasks.values()).filter(
        (t) =>
          (f.service === undefined || t.serviceId === svc?.meta.id) &&
          (f.node === undefined || t.nodeId === node?.meta.id),
      );
      const names: Names = {
        services: new Map(services.map((x) => [x.meta.id, x.meta.name])),
        nodes: new Map(nodes.map((x) => [x.meta.id, x.meta.name])),
      };
      return {
        columns: tasksColumns(xs, names, wide, now),
        ids: xs.map((x) => x.meta.id),
        objects: xs,
      };
    }
    case 'nodes': {
      const xs = pick(m.nodes.values());
      return { columns: nodesColumns(xs, wide), ids: xs.map((x) => x.meta.id), objects: xs };
    }
    case 'networks': {
      const xs = pick(m.networks.values());
      return { columns: networksColumns(xs, wide), ids: xs.map((x) => x.meta.id), objects: xs };
    }
  }
};

/**
 * `get -w`: the table once, then every row that changed (a deleted object's row once more), as
 * events arrive, until interrupted. JSON and YAML print each changed object. Rows are compared
 * with ages left out, so time passing alone prints nothing.
 */
const watchResource = async (
  ctx: VerbContext,
  client: ControlClient,
  resource: Resource,
  format: OutputFormat,
  filter: WatchFilter,
): Promise<void> => {
  const mirror = new Mirror();
  const wide = format === 'wide';
  const machineFormat = format === 'json' || format === 'yaml' ? format : undefined;
  /** Per id: the row as compared (ages at time 0) and as printed. */
  const shown = new Map<string, { key: string; text: string }>();
  let widths: number[] | undefined;
  const out = ctx.io.stdout;
  const print = (obj: unknown, text: string): void => {
    if (machineFormat === 'json') out.write(JSON.stringify(obj) + '\n');
    else if (machineFormat === 'yaml') out.write('---\n' + machine('yaml', obj));
    else out.write(text);
  };
  const refresh = (): void => {
    const now = ctx.now();
    const cur = currentRows(resource, mirror, filter, wide, now);
    const keys = currentRows(resource, mirror, filter, wide, 0).columns.rows;
    if (widths === undefined) {
      widths = columnWidths(cur.columns.head, cur.columns.rows);
      if (machineFormat === undefined) out.write(tableRow(cur.columns.head, widths));
    }
    const seen = new Set<string>();
    cur.ids.forEach((id, i) => {
      seen.add(id);
      const key = JSON.stringify(keys[i]);
      if (shown.get(id)?.key === key) return;
      const text = tableRow(cur.columns.rows[i]!, widths!);
      shown.set(id, { key, text });
      print(cur.objects[i], text);
    });
    for (const [id, row] of shown) {
      if (seen.has(id)) continue;
      shown.delete(id);
      // kubectl prints a deleted object's last row too; JSON/YAML readers get a marker.
      print({ deleted: id }, row.text);
    }
  };
  await follow(client, mirror, {
    kinds: watchKinds[resource],
    signal: ctx.signal,
    onChange: refresh,
  });
};

export const getVerb: Verb = {
  name: 'get',
  summary: 'List services, tasks, nodes or networks',
  usage: `Usage: tug get services|tasks|nodes|networks [NAME] [-o table|wide|json|yaml] [--service S] [--node N] [-w]

Tables for people; -o json and -o yaml print the stored objects (one object when NAME is given).
-w prints the table, then each row that changes (a deleted object's row once more) as the
manager's events arrive, until interrupted; with -o json or yaml, each changed object.`,
  flags: {
    output: {
      type: 'string',
      short: 'o',
      value: 'FORMAT',
      help: 'table (default), wide, json or yaml',
    },
    service: { type: 'string', value: 'SERVICE', help: 'tasks only: of this service (name or id)' },
    node: { type: 'string', value: 'NODE', help: 'tasks only: on this node (name or id)' },
    watch: { type: 'boolean', short: 'w', help: 'then print changes as they happen' },
  },
  run: async (ctx) => {
    const [word, name, extra] = ctx.args.positionals;
    const resource = parseResource(word, 'get');
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`, 'get');
    const format = parseOutputFormat(stringFlag(ctx.args, 'output'), 'get');
    const service = stringFlag(ctx.args, 'service');
    const node = stringFlag(ctx.args, 'node');
    if (resource !== 'tasks' && (service !== undefined || node !== undefined)) {
      throw new UsageError(`flags --service and --node apply to tasks only`, 'get');
    }
    const client = await ctx.client();
    if (boolFlag(ctx.args, 'watch')) {
      await watchResource(ctx, client, resource, format, { name, service, node });
      return;
    }
    const now = ctx.now();
    let out: string;
    switch (resource) {
      case 'services': {
        const all = byName((await client.listServices()).items);
        const services = name === undefined ? all : [await client.getService(name)];
        const tasks =
          format === 'json' || format === 'yaml' ? [] : (await client.listTasks()).items;
        out = show(format, services, name !== undefined, (w) =>
          servicesTable(services, tasks, w, now),
        );
        break;
      }
      case 'tasks': {
        const tasks =
          name === undefined
            ? byName((await client.listTasks({ service: service ?? '', node: node ?? '' })).items)
            : [await client.getTask(name)];
        const names =
          format === 'json' || format === 'yaml'
            ? { services: new Map(), nodes: new Map() }
            : await namesFor(client);
        const stats = format === 'wide' ? await taskStatsFor(ctx, tasks) : undefined;
        out = show(format, tasks, name !== undefined, (w) =>
          tasksTable(tasks, names, w, now, stats),
        );
        break;
      }
      case 'nodes': {
        const nodes =
          name === undefined
            ? byName((await client.listNodes()).items)
            : [await client.getNode(name)];
        out = show(format, nodes, name !== undefined, (w) => nodesTable(nodes, w));
        break;
      }
      case 'networks': {
        const all = byName((await client.listNetworks()).items);
        // No GetNetwork RPC: pick it from the list.
        const networks =
          name === undefined ? all : [findNamed(all, name)].filter((n) => n !== undefined);
        if (name !== undefined && networks.length === 0) {
          throw new ServerError('NOT_FOUND', `network ${name} not found`);
        }
        out = show(format, networks, name !== undefined, (w) => networksTable(networks, w));
        break;
      }
    }
    ctx.io.stdout.write(out);
  },
};
