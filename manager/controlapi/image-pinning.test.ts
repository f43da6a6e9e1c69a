import test from 'ava';
import type { Service, ServiceSpec } from '../../common/model.js';
import { MemoryStore, StoreWriter } from '../store/index.js';
import { FakeProposer, makeService } from '../store/test-fixtures.js';
import type * as pb from '../../proto/gen/control.js';
import { ControlServer } from './control-server.js';
import type { ImageResolver } from './image-pinning.js';

const IMAGE = 'registry.local:5000/tug/web:v1';
const digest = (c: string): string => `sha256:${c.repeat(64)}`;

/** A registry whose tags can be moved; counts the lookups. */
const fakeRegistry = () => {
  const tags = new Map<string, string>([[IMAGE, digest('a')]]);
  const asked: string[] = [];
  const resolve: ImageResolver = (image) => {
    asked.push(image);
    const d = tags.get(image);
    return Promise.resolve(
      d === undefined ? { ok: false, reason: `${image}: not-found` } : { ok: true, digest: d },
    );
  };
  return { tags, asked, resolve };
};

const setup = (resolveImage: ImageResolver | undefined) => {
  const store = new MemoryStore();
  const proposer = new FakeProposer(store);
  let n = 0;
  const control = new ControlServer({
    store,
    writer: new StoreWriter({ proposer, now: () => 1_000 }),
    now: () => 1_000,
    newId: () => `id${String(++n).padStart(4, '0')}`,
    resolveImage,
  });
  const service = (name = 'web'): Service => store.find('service', { name })[0]!;
  return { store, proposer, control, service };
};

const spec = (image = IMAGE, greeting = 'hello', replicas = 2): ServiceSpec => {
  const s = makeService('x').spec;
  return {
    ...s,
    container: { ...s.container, image, env: { GREETING: greeting } },
    mode: { type: 'replicated', replicas },
  };
};

const manifest = (image = IMAGE, greeting = 'hello', replicas = 2): pb.ManifestSource => ({
  file: 'web.yaml',
  text: `apiVersion: tug/v1
kind: Service
metadata:
  name: web
spec:
  image: ${image}
  env:
    GREETING: ${greeting}
  replicas: ${replicas}
`,
});

const apply = (c: ControlServer, src: pb.ManifestSource, dryRun = false) =>
  c.apply({ sources: [src], dryRun });

test('image pinning: create stores the tag plus the digest it names now', async (t) => {
  const reg = fakeRegistry();
  const { control, service } = setup(reg.resolve);
  const res = await control.createService({
    name: 'web',
    labels: {},
    specJson: JSON.stringify(spec()),
  });
  t.deepEqual(res.warnings, []);
  t.is(service().spec.container.image, `${IMAGE}@${digest('a')}`);
  t.deepEqual(reg.asked, [IMAGE]);
});

test('image pinning: a failed resolve stores the image as written and warns, naming it', async (t) => {
  const reg = fakeRegistry();
  reg.tags.clear();
  const { control, service } = setup(reg.resolve);
  const res = await control.createService({
    name: 'web',
    labels: {},
    specJson: JSON.stringify(spec()),
  });
  t.is(service().spec.container.image, IMAGE);
  t.is(res.warnings.length, 1);
  t.regex(
    res.warnings[0]!,
    /service web: image registry\.local:5000\/tug\/web:v1 not pinned.*not-found/,
  );
});

test('image pinning: a resolver that throws is a warning, not a failed write', async (t) => {
  const { control, service } = setup(() => Promise.reject(new Error('boom')));
  const res = await apply(control, manifest());
  t.deepEqual(
    res.results.map((r) => r.action),
    ['created'],
  );
  t.is(service().spec.container.image, IMAGE);
  t.regex(res.warnings.join('\n'), /boom/);
});

test('image pinning: re-applying an unchanged manifest keeps the digest even after the tag moved', async (t) => {
  const reg = fakeRegistry();
  const { control, proposer, service } = setup(reg.resolve);
  await apply(control, manifest());
  const written = proposer.proposed.length;
  reg.tags.set(IMAGE, digest('b'));
  const again = await apply(control, manifest());
  t.deepEqual(
    again.results.map((r) => r.action),
    ['unchanged'],
  );
  t.is(proposer.proposed.length, written, 'nothing written');
  t.is(service().spec.container.image, `${IMAGE}@${digest('a')}`);
  t.deepEqual(reg.asked, [IMAGE], 'not asked again');
});

test('image pinning: a changed spec re-resolves, so a moved tag rolls out with it', async (t) => {
  const reg = fakeRegistry();
  const { control, service } = setup(reg.resolve);
  await apply(control, manifest());
  const before = service();
  reg.tags.set(IMAGE, digest('b'));
  const res = await apply(control, manifest(IMAGE, 'hi'));
  t.deepEqual(
    res.results.map((r) => r.action),
    ['updated'],
  );
  const after = service();
  t.is(after.spec.container.image, `${IMAGE}@${digest('b')}`);
  t.is(after.specVersion, before.specVersion + 1);
  t.is(after.previousSpec?.container.image, `${IMAGE}@${digest('a')}`);
});

test('image pinning: a replicas-only change keeps the digest and rolls nothing', async (t) => {
  const reg = fakeRegistry();
  const { control, service } = setup(reg.resolve);
  await apply(control, manifest());
  const before = service();
  reg.tags.set(IMAGE, digest('b'));
  await apply(control, manifest(IMAGE, 'hello', 5));
  const after = service();
  t.deepEqual(after.spec.mode, { type: 'replicated', replicas: 5 });
  t.is(after.spec.container.image, `${IMAGE}@${digest('a')}`);
  t.is(after.specVersion, before.specVersion);
  t.is(reg.asked.length, 1);
});

test('image pinning: an image the user pinned is stored as written, without asking', async (t) => {
  const reg = fakeRegistry();
  const { control, service } = setup(reg.resolve);
  const pinned = `${IMAGE}@${digest('c')}`;
  await apply(control, manifest(pinned));
  t.is(service().spec.container.image, pinned);
  t.deepEqual(reg.asked, []);
  const again = await apply(control, manifest(pinned));
  t.deepEqual(
    again.results.map((r) => r.action),
    ['unchanged'],
  );
  // Dropping the hand-written pin is a change only in what the user wrote: the stored pin is kept.
  const dropped = await apply(control, manifest(IMAGE));
  t.deepEqual(
    dropped.results.map((r) => r.action),
    ['unchanged'],
  );
});

test('image pinning: a dry run resolves and warns but writes nothing', async (t) => {
  const reg = fakeRegistry();
  reg.tags.clear();
  const { control, proposer, store } = setup(reg.resolve);
  const res = await apply(control, manifest(), true);
  t.deepEqual(
    res.results.map((r) => [r.action, r.id]),
    [['created', '']],
  );
  t.is(res.warnings.length, 1);
  t.is(proposer.proposed.length, 0);
  t.is(store.count('service'), 0);
});

test('image pinning: update re-resolves a changed spec and keeps the digest for a labels-only one', async (t) => {
  const reg = fakeRegistry();
  const { control, service } = setup(reg.resolve);
  await control.createService({ name: 'web', labels: {}, specJson: JSON.stringify(spec()) });
  reg.tags.set(IMAGE, digest('b'));
  await control.updateService({
    service: 'web',
    version: service().meta.version,
    specJson: JSON.stringify(spec()),
    setLabels: true,
    labels: { team: 'a' },
  });
  t.is(service().spec.container.image, `${IMAGE}@${digest('a')}`);
  t.is(service().specVersion, 1);
  const res = await control.updateService({
    service: 'web',
    version: service().meta.version,
    specJson: JSON.stringify(spec(IMAGE, 'hi')),
    setLabels: false,
    labels: {},
  });
  t.deepEqual(res.warnings, []);
  t.is(service().spec.container.image, `${IMAGE}@${digest('b')}`);
  t.is(service().specVersion, 2);
});

test('image pinning: without a resolver images are stored as written', async (t) => {
  const { control, service } = setup(undefined);
  const res = await apply(control, manifest());
  t.deepEqual(res.warnings, []);
  t.is(service().spec.container.image, IMAGE);
});

test('image pinning: one lookup per distinct image in an apply', async (t) => {
  const reg = fakeRegistry();
  const { control, store } = setup(reg.resolve);
  const two = manifest().text + '---\n' + manifest().text.replace('name: web', 'name: api');
  await control.apply({ sources: [{ file: 'two.yaml', text: two }], dryRun: false });
  t.deepEqual(reg.asked, [IMAGE]);
  t.true(store.list('service').every((s) => s.spec.container.image === `${IMAGE}@${digest('a')}`));
});
