// `tug rm`: removes services (their tasks are shut down at once) and networks.

import { UsageError } from '../errors.js';
import type { Verb } from '../verb.js';

export const rmVerb: Verb = {
  name: 'rm',
  summary: 'Remove services or networks',
  usage: `Usage: tug rm service|network NAME [NAME …]

Removing a service shuts its tasks down; a network is refused while a service uses it.`,
  flags: {},
  run: async (ctx) => {
    const [kind, ...names] = ctx.args.positionals;
    if (kind !== 'service' && kind !== 'network') {
      throw new UsageError(
        kind === undefined
          ? 'expected service or network'
          : `cannot remove "${kind}": expected service or network`,
        'rm',
      );
    }
    if (names.length === 0) throw new UsageError(`expected the ${kind}'s name`, 'rm');
    const client = await ctx.client();
    for (const name of names) {
      if (kind === 'service') await client.removeService(name);
      else await client.removeNetwork(name);
      ctx.io.stdout.write(`${kind}/${name} removed\n`);
    }
  },
};
