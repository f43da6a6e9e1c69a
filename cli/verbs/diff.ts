// `tug diff`: what `apply` would change, as a unified diff of each object's YAML, cluster against
// manifests (kubectl diff style). Both sides are rendered by the same code (common/manifest/
// render.ts) from parsed objects, so defaults and formatting never show up as differences.
// Exit 0: no differences; 1: differences; errors are 6 (docs/cli.md).

import type { Manifest } from '../../common/manifest/parse.js';
import { renderManifests } from '../../common/manifest/render.js';
import { storedAsWritten } from '../../common/image/pin.js';
import type { Network, Service } from '../../common/model.js';
import { ExitCode } from '../errors.js';
import { unifiedDiff } from '../unified-diff.js';
import type { Verb } from '../verb.js';
import { fileFlag, readManifests } from './apply.js';

/** The stored object as the manifest that would have made it. */
export const serviceManifest = (s: Service): Manifest => ({
  kind: 'Service',
  file: '',
  line: 0,
  name: s.meta.name,
  labels: s.meta.labels,
  spec: s.spec,
});

export const networkManifest = (n: Network): Manifest => ({
  kind: 'Network',
  file: '',
  line: 0,
  name: n.meta.name,
  labels: n.meta.labels,
  spec: n.spec,
});

export const diffVerb: Verb = {
  name: 'diff',
  summary: 'Show what apply would change, as a unified diff',
  usage: `Usage: tug diff -f FILE|DIR|- [-f …]

Validates the manifests as apply does, then prints a unified diff of each object's YAML that
differs: the cluster's (---) against the manifest's (+++); a new object is diffed against
/dev/null. Exit 0: no differences, 1: differences, 6: an error (other verbs' exit 1).`,
  flags: { file: fileFlag },
  errorExitCode: ExitCode.DiffError,
  run: async (ctx) => {
    const { manifests } = await readManifests(ctx, 'diff');
    const client = await ctx.client();
    const [services, networks] = await Promise.all([client.listServices(), client.listNetworks()]);
    let differs = false;
    for (const m of manifests) {
      const kind = m.kind.toLowerCase();
      const stored =
        m.kind === 'Service'
          ? services.items
              .filter((s) => s.meta.name === m.name)
              // The manager's digest pin is not the user's change (apply says "unchanged").
              .map((s) =>
                serviceManifest({ ...s, spec: storedAsWritten(s.spec, m.spec.container.image) }),
              )[0]
          : networks.items.filter((n) => n.meta.name === m.name).map(networkManifest)[0];
      const out = unifiedDiff(
        stored === undefined ? '/dev/null' : `${kind}/${m.name} (cluster)`,
        `${kind}/${m.name} (${m.file})`,
        stored === undefined ? '' : renderManifests([stored]),
        renderManifests([m]),
      );
      if (out === '') continue;
      differs = true;
      ctx.io.stdout.write(out);
    }
    return differs ? 1 : ExitCode.Ok;
  },
};
