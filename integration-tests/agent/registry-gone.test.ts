// A registry that disappears mid-pull: the agent is pulling an image with a big layer when the
// registry process is SIGKILLed. The task must be rejected with a reason naming the image and the
// registry failure, no partial blob may stay in the agent's store, and the leak check holds.
// The image is named as the example manifests name theirs (registry.local:5000/…) and reached
// through a registry mirror, so this also checks the mirror option end to end. Needs root.

import { watch } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

import test from 'ava';

import { waitFor } from '../../bench/lib/wait.js';
import { Agent } from '../../agent/agent.js';
import { pushTestImage, startRegistry } from '../../agent/testing/registry.js';
import { sha256Of } from '../../agent/testing/fake-registry.js';
import { serviceYaml, withCluster } from './harness.js';

/** Big enough that the download is still under way when the kill lands (see below). */
const BIG_MB = 96;

test('agent: a registry that disappears mid-pull rejects the task, naming the image and the registry', async (t) => {
  const registry = await startRegistry();
  try {
    await pushTestImage(registry.host, { repo: 'heavy', bigMb: BIG_MB });
    // The big layer is the last one of :big (build-test-image.sh adds it on top of latest's).
    const res = await fetch(`http://${registry.host}/v2/heavy/manifests/big`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    const manifest = (await res.json()) as { layers: { digest: string; size: number }[] };
    const big = manifest.layers.at(-1)!;
    t.true(big.size > BIG_MB * 1024 * 1024 * 0.9, 'random bytes do not compress');
    const bigPartial = `${big.digest.slice('sha256:'.length)}.partial`;
    await withCluster(t, {}, async (c, onCleanUp) => {
      // The big layer's partial file appears in ingest/ as its download starts: the registry is
      // killed from the inotify event, long before BIG_MB MiB can cross loopback. (Other blobs
      // pass through ingest/ too; only the big one's name counts.)
      const ingest = path.join(c.stateDir, 'images', 'ingest');
      await mkdir(ingest, { recursive: true });
      let killed: Promise<void> | undefined;
      const watcher = watch(ingest, (_event, name) => {
        if (killed === undefined && name === bigPartial) {
          killed = registry.kill(); // SIGKILL, sent before this returns
        }
      });
      onCleanUp(async () => {
        watcher.close();
        await killed;
      });
      const agent = await Agent.start({
        managers: [c.manager.address],
        stateDir: c.stateDir,
        hostname: 'it-node',
        registryMirrors: new Map([['registry.local:5000', registry.host]]),
        exitPollMs: 250,
      });
      onCleanUp(() => agent.stop({ removeContainers: true }));

      const image = 'registry.local:5000/heavy:big';
      await c.apply(serviceYaml({ name: 'heavy', image, command: ['sleep', '1000'], replicas: 1 }));
      const task = await waitFor(
        () => c.tasks('heavy').find((x) => x.status.state === 'rejected'),
        { what: 'the heavy task rejected', timeoutMs: 60_000 },
      );
      t.not(killed, undefined, 'the registry was killed during the pull');
      const why = task.status.message;
      t.log(why);
      t.true(why.includes(image), why);
      t.regex(why, /registry-unreachable/);
      t.true(why.includes(`registry.local:5000 (mirror ${registry.host})`), why);
      t.is(task.spec.image, image, 'the spec keeps the reference as written');

      // No partial blob; what is stored is whole (every blob hashes to its name).
      t.deepEqual(await readdir(ingest), []);
      const blobs = agent.images.layout.blobsDir;
      t.false((await readdir(blobs)).includes(bigPartial.replace('.partial', '')));
      for (const name of await readdir(blobs))
        t.is(sha256Of(await readFile(path.join(blobs, name))), `sha256:${name}`);
      t.is(await agent.images.get(image), undefined);
    });
  } finally {
    await registry.stop();
  }
});
