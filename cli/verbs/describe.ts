// `tug describe`: one service, task or node in detail, for a person asking "what is it doing and
// why". A task's status message is shown as the reason it waits (the scheduler writes which
// filters rejected which nodes there).

import { updateConfigDefaults, type Node, type Service, type Task } from '../../common/model.js';
import { UsageError } from '../errors.js';
import { age, bytes, fields, labelList } from '../output.js';
import type { Verb } from '../verb.js';
import { namesFor, parseResource, tasksTable } from './get.js';

const orDash = (s: string | undefined): string => (s === undefined || s === '' ? '-' : s);

const updateConfigLine = (s: Service): string => {
  const u = { ...updateConfigDefaults, ...s.spec.update };
  const ratio = u.maxFailureRatio === 0 ? '' : `, max failure ratio ${u.maxFailureRatio}`;
  return `parallelism ${u.parallelism}, ${u.order}, on failure ${u.failureAction}, monitor ${u.monitorMs}ms${ratio}`;
};

/** The orchestrator's account of the rollout of the current spec, if one ran. */
const rolloutLine = (s: Service): string => {
  const u = s.updateStatus;
  if (u === undefined || u.specVersion !== s.specVersion) return '-';
  return u.message === '' ? u.state : `${u.state}: ${u.message}`;
};

const describeService = (s: Service, now: number): string => {
  const c = s.spec.container;
  const mode =
    s.spec.mode.type === 'replicated' ? `replicated, ${s.spec.mode.replicas} replicas` : 'global';
  return fields([
    ['Name', s.meta.name],
    ['ID', s.meta.id],
    ['Labels', orDash(labelList(s.meta.labels))],
    ['Mode', mode],
    ['Image', c.image],
    ['Command', orDash(c.command?.join(' '))],
    ['Args', orDash(c.args?.join(' '))],
    [
      'Ports',
      orDash(
        s.spec.ports.map((p) => `${p.published ?? '-'}->${p.target}/${p.protocol}`).join(', '),
      ),
    ],
    ['Networks', orDash(s.spec.networks.join(', '))],
    ['Constraints', orDash(s.spec.placement.constraints.join(', '))],
    ['Restart', `${s.spec.restartPolicy.condition}, delay ${s.spec.restartPolicy.delayMs}ms`],
    ['Update', updateConfigLine(s)],
    [
      'Preferences',
      orDash(s.spec.placement.preferences?.map((p) => `spread ${p.spread}`).join(', ')),
    ],
    ['Rollout', rolloutLine(s)],
    ['Spec version', String(s.specVersion)],
    ['Version', String(s.meta.version)],
    ['Created', `${age(now - s.meta.createdAt)} ago`],
  ]);
};

const describeTask = (t: Task, service: string, node: string, now: number): string => {
  const pairs: [string, string][] = [
    ['Name', t.meta.name],
    ['ID', t.meta.id],
    ['Service', service],
    ['Slot', t.slot === undefined ? '-' : String(t.slot)],
    ['Node', node],
    ['Image', t.spec.image],
    ['Desired state', t.desiredState],
    ['State', `${t.status.state} (${age(now - t.status.timestamp)} ago)`],
  ];
  if (t.status.exitCode !== undefined) pairs.push(['Exit code', String(t.status.exitCode)]);
  if (t.status.health !== undefined) pairs.push(['Health', t.status.health]);
  // Pending is the state people ask about: say it as a reason.
  pairs.push([
    t.status.state === 'pending' ? 'Pending because' : 'Message',
    orDash(t.status.message),
  ]);
  return fields(pairs);
};

const describeNode = (n: Node): string =>
  fields([
    ['Name', n.meta.name],
    ['ID', n.meta.id],
    ['Role', n.spec.role],
    ['Availability', n.spec.availability],
    ['State', n.status.state],
    ['Message', orDash(n.status.message)],
    ['Address', orDash(n.status.addr)],
    ['Hostname', n.description.hostname],
    ['Platform', `${n.description.platform.os}/${n.description.platform.arch}`],
    [
      'Resources',
      `${n.description.resources.cpus} CPUs, ${bytes(n.description.resources.memoryBytes)}`,
    ],
    ['Labels', orDash(labelList(n.spec.labels))],
    ['Engine labels', orDash(labelList(n.description.labels))],
    ['Version', String(n.meta.version)],
  ]);

export const describeVerb: Verb = {
  name: 'describe',
  summary: 'Show one service, task or node in detail',
  usage: `Usage: tug describe service|task|node NAME

A service or node is followed by its tasks; a pending task says why it waits.`,
  flags: {},
  run: async (ctx) => {
    const [word, name, extra] = ctx.args.positionals;
    const resource = parseResource(word, 'describe');
    if (resource === 'networks')
      throw new UsageError('describe: expected service, task or node', 'describe');
    if (name === undefined) throw new UsageError(`expected the ${word!}'s name`, 'describe');
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`, 'describe');
    const client = await ctx.client();
    const now = ctx.now();
    const out = ctx.io.stdout;
    switch (resource) {
      case 'services': {
        const s = await client.getService(name);
        out.write(describeService(s, now));
        const [tasks, names] = await Promise.all([
          client.listTasks({ service: s.meta.id }),
          namesFor(client),
        ]);
        out.write(`\nTasks:\n${tasksTable(tasks.items, names, false, now)}`);
        break;
      }
      case 'tasks': {
        const t = await client.getTask(name);
        const names = await namesFor(client);
        const node = t.nodeId === undefined ? '-' : (names.nodes.get(t.nodeId) ?? t.nodeId);
        out.write(describeTask(t, names.services.get(t.serviceId) ?? t.serviceId, node, now));
        break;
      }
      case 'nodes': {
        const n = await client.getNode(name);
        out.write(describeNode(n));
        const [tasks, names] = await Promise.all([
          client.listTasks({ node: n.meta.id }),
          namesFor(client),
        ]);
        out.write(`\nTasks:\n${tasksTable(tasks.items, names, false, now)}`);
        break;
      }
    }
  },
};
