// One test per script in testdata/: runs it through a fresh InteractionEnv and compares the
// transcript. With TUG_REGEN=1 it rewrites the script's expected output instead (see
// datadriven.ts), so behaviour changes are reviewed as a git diff.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { formatMismatch, parseScript, runScript } from './datadriven.js';
import { InteractionEnv } from './env.js';

// Tests run from build/; the scripts are read (and regenerated) in the source tree.
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../../../..');
const testdata = join(root, 'manager/raft/core/interaction/testdata');
if (!existsSync(testdata)) throw new Error(`interaction scripts not found at ${testdata}`);
const regen = process.env.TUG_REGEN === '1';

const scripts = readdirSync(testdata)
  .filter((f) => f.endsWith('.txt'))
  .sort();

for (const name of scripts) {
  test(`raft interaction: ${name}`, (t) => {
    const path = join(testdata, name);
    const text = readFileSync(path, 'utf8');
    const script = parseScript(relative(root, path), text);
    const env = new InteractionEnv();
    const outcome = runScript(script, (cmd) => env.handle(cmd));
    if (regen) {
      if (outcome.regenerated !== text) writeFileSync(path, outcome.regenerated);
      t.pass();
      return;
    }
    if (outcome.mismatches.length > 0) {
      t.fail(outcome.mismatches.map(formatMismatch).join('\n\n'));
      return;
    }
    t.pass();
  });
}

test('raft interaction: there are scripts to run', (t) => {
  t.true(scripts.length > 0);
});
