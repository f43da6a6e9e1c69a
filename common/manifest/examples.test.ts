import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { formatManifestErrors, parseManifests } from './parse.js';

// ava runs from the repository root; the examples are not copied into build/.
const dir = join(process.cwd(), 'manifests');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
const sources = files.map((f) => ({
  file: `manifests/${f}`,
  text: readFileSync(join(dir, f), 'utf8'),
}));

test('manifests/: the expected examples exist', (t) => {
  for (const f of ['web.yaml', 'worker-global.yaml', 'stack.yaml', 'spread-zones.yaml'])
    t.true(files.includes(f), f);
});

for (const source of sources) {
  test(`manifests/: ${source.file} is valid on its own`, (t) => {
    const r = parseManifests([source]);
    t.true(r.ok, r.ok ? '' : formatManifestErrors(r.errors));
  });
}

test('manifests/: all examples can be applied together', (t) => {
  const r = parseManifests(sources);
  t.true(r.ok, r.ok ? '' : formatManifestErrors(r.errors));
  if (!r.ok) return;
  const names = r.manifests.map((m) => `${m.kind}/${m.name}`).sort();
  t.deepEqual(names, [
    'Network/backend',
    'Network/front',
    'Service/api',
    'Service/node-agent',
    'Service/queue-worker',
    'Service/web',
    'Service/zoned',
  ]);
  const global = r.manifests.find((m) => m.name === 'node-agent');
  t.deepEqual(global?.kind === 'Service' ? global.spec.mode : undefined, { type: 'global' });
});
