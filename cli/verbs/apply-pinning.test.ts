// `tug apply` and `tug diff` against a manager that pins images (a fake resolver, real Raft WAL
// and gRPC on loopback): warnings go to stderr, and the manager's pin is no difference.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import test from 'ava';
import { waitFor } from '../../bench/lib/wait.js';
import { Manager } from '../../manager/manager.js';
import { memberId } from '../../manager/raft/core/index.js';
import { main } from '../main.js';

const DIGEST = `sha256:${'d'.repeat(64)}`;

const manifest = (name: string, image: string, greeting = 'hello'): string => `apiVersion: tug/v1
kind: Service
metadata:
  name: ${name}
spec:
  image: ${image}
  env:
    GREETING: ${greeting}
`;

test('apply: images pinned by the manager, unpinnable ones warned about on stderr; diff ignores the pin', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tug-cli-pin-'));
  const id = memberId(1);
  const manager = await Manager.start({
    id,
    dataDir: join(dir, 'data'),
    clusterId: 'test',
    listen: '127.0.0.1:0',
    bootstrap: [id],
    tickMs: 20,
    resolveImage: (image) =>
      Promise.resolve(
        image.includes('/gone:')
          ? { ok: false, reason: `image ${image}: registry-unreachable: ECONNREFUSED` }
          : { ok: true, digest: DIGEST },
      ),
  });
  t.teardown(async () => {
    await manager.stop();
    await rm(dir, { recursive: true, force: true });
  });
  manager.run();
  await waitFor(() => manager.raft.status().role === 'leader', {
    what: 'a leader',
    timeoutMs: 10_000,
  });
  const tug = async (argv: readonly string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      stdin: Readable.from(['']),
      env: { HOME: dir, TUG_MANAGER: manager.address },
    });
    return { code, stdout, stderr };
  };
  const file = join(dir, 'svc.yaml');
  await writeFile(
    file,
    `${manifest('web', 'registry.local:5000/tug/web:v1')}---\n${manifest('old', 'registry.local:5000/tug/gone:v1')}`,
  );

  const applied = await tug(['apply', '-f', file]);
  t.is(applied.code, 0, applied.stderr);
  t.regex(applied.stdout, /^service\/web created$/m);
  t.is(
    applied.stderr,
    'warning: service old: image registry.local:5000/tug/gone:v1 not pinned to a digest (each agent resolves the tag itself): image registry.local:5000/tug/gone:v1: registry-unreachable: ECONNREFUSED\n',
  );
  const web = manager.store.find('service', { name: 'web' })[0]!;
  t.is(web.spec.container.image, `registry.local:5000/tug/web:v1@${DIGEST}`);

  const diff = await tug(['diff', '-f', file]);
  t.is(diff.code, 0, diff.stdout);
  await writeFile(file, manifest('web', 'registry.local:5000/tug/web:v1', 'hi'));
  const changed = await tug(['diff', '-f', file]);
  t.is(changed.code, 1);
  t.regex(changed.stdout, /^\+ +GREETING: hi$/m);
  t.notRegex(changed.stdout, /sha256/);
});
