// `tug node`: the operator's part of a node — availability (drain, pause, activate) and labels.
// Both are read-modify-write with the version read; a concurrent change (ABORTED) is retried on
// the fresh node, since the request is absolute (availability) or per key (labels).

import type { Node } from '../../common/model.js';
import type { ControlClient } from '../client.js';
import { ServerError, UsageError } from '../errors.js';
import type { Verb } from '../verb.js';

const attempts = 3;

const update = async (
  client: ControlClient,
  name: string,
  change: (n: Node) => { availability: string; labels?: Record<string, string> },
): Promise<Node> => {
  for (let i = 1; ; i++) {
    const node = await client.getNode(name);
    const c = change(node);
    try {
      return await client.updateNode({
        node: node.meta.id,
        version: node.meta.version,
        availability: c.availability,
        setLabels: c.labels !== undefined,
        labels: c.labels ?? {},
      });
    } catch (err) {
      if (!(err instanceof ServerError && err.status === 'ABORTED') || i >= attempts) throw err;
    }
  }
};

const availabilityOf: Readonly<Record<string, string>> = {
  drain: 'drain',
  pause: 'pause',
  activate: 'active',
};

export const nodeVerb: Verb = {
  name: 'node',
  summary: 'Drain, pause or activate a node; set or remove its labels',
  usage: `Usage: tug node drain|pause|activate NODE
       tug node label NODE key=value|key- [key=value|key- …]

drain moves the node's tasks elsewhere; pause keeps them but places no new ones; activate undoes
either. label sets key=value or removes key-.`,
  flags: {},
  run: async (ctx) => {
    const [action, name, ...rest] = ctx.args.positionals;
    if (action === undefined)
      throw new UsageError('expected drain, pause, activate or label', 'node');
    if (name === undefined) throw new UsageError('expected the node name', 'node');
    const availability = availabilityOf[action];
    if (availability !== undefined) {
      if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]!}"`, 'node');
      const client = await ctx.client();
      const n = await update(client, name, () => ({ availability }));
      ctx.io.stdout.write(`node/${n.meta.name} ${n.spec.availability}\n`);
      return;
    }
    if (action !== 'label') {
      throw new UsageError(
        `unknown action "${action}": expected drain, pause, activate or label`,
        'node',
      );
    }
    if (rest.length === 0) throw new UsageError('expected key=value or key-', 'node');
    const set: Record<string, string> = {};
    const removed: string[] = [];
    for (const r of rest) {
      const eq = r.indexOf('=');
      if (eq > 0) set[r.slice(0, eq)] = r.slice(eq + 1);
      else if (r.endsWith('-') && r.length > 1) removed.push(r.slice(0, -1));
      else throw new UsageError(`"${r}": expected key=value or key-`, 'node');
    }
    const client = await ctx.client();
    const n = await update(client, name, (node) => {
      const labels = Object.fromEntries(
        Object.entries({ ...node.spec.labels, ...set }).filter(([k]) => !removed.includes(k)),
      );
      return { availability: '', labels };
    });
    ctx.io.stdout.write(`node/${n.meta.name} labeled\n`);
  },
};
