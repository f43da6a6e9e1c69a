// `tug scale`: sets replica counts of several replicated services in one transaction.

import { UsageError } from '../errors.js';
import type { Verb } from '../verb.js';

export const scaleVerb: Verb = {
  name: 'scale',
  summary: 'Set the replicas of replicated services',
  usage: `Usage: tug scale SERVICE=N [SERVICE=N …]

Sets every count in one transaction: all or none.`,
  flags: {},
  run: async (ctx) => {
    const { positionals } = ctx.args;
    if (positionals.length === 0) throw new UsageError('expected SERVICE=N', 'scale');
    const replicas: Record<string, number> = {};
    for (const p of positionals) {
      const m = /^([^=]+)=(\d+)$/.exec(p);
      if (m === null) {
        throw new UsageError(`"${p}": expected SERVICE=N with N a whole number`, 'scale');
      }
      const n = Number(m[2]);
      if (!Number.isSafeInteger(n) || n > 0xffff_ffff) {
        throw new UsageError(`"${p}": ${m[2]!} replicas is too many`, 'scale');
      }
      replicas[m[1]!] = n;
    }
    const client = await ctx.client();
    const services = await client.scale(replicas);
    for (const s of services) {
      const n = s.spec.mode.type === 'replicated' ? s.spec.mode.replicas : 0;
      ctx.io.stdout.write(`service/${s.meta.name} scaled to ${n}\n`);
    }
  },
};
