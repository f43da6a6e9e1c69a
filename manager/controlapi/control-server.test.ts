import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  Server,
  ServerCredentials,
  credentials,
  status,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import type { Network, Node, NodeId, Service, ServiceSpec, Task } from '../../common/model.js';
import { MemoryStore, StoreWriter, type MemoryStoreOptions } from '../store/index.js';
import { FakeProposer, makeNode, makeService, makeTask } from '../store/test-fixtures.js';
import * as pb from '../../proto/gen/control.js';
import { ControlServer, nextService, watchMessages } from './control-server.js';

const baseSpec: ServiceSpec = makeService('x').spec;

const setup = async (t: ExecutionContext, storeOpts: MemoryStoreOptions = {}) => {
  const store = new MemoryStore(storeOpts);
  const proposer = new FakeProposer(store);
  const writer = new StoreWriter({ proposer, now: () => 1_000 });
  let n = 0;
  const control = new ControlServer({
    store,
    writer,
    now: () => 1_000,
    newId: () => `id${String(++n).padStart(4, '0')}`,
  });
  const server = new Server();
  server.addService(pb.ControlServiceService, control.handlers());
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => {
      if (err !== null) reject(err);
      else resolve(p);
    });
  });
  const client = new pb.ControlServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  t.teardown(() => {
    client.close();
    server.forceShutdown();
  });
  return { store, writer, proposer, client };
};

/** One unary call as a promise. */
const call = <Res>(
  f: (cb: (err: ServiceError | null, res: Res) => void) => unknown,
): Promise<Res> =>
  new Promise((resolve, reject) => {
    f((err, res) => {
      if (err !== null) reject(err);
      else resolve(res);
    });
  });

const failsWith = async (
  t: ExecutionContext,
  p: Promise<unknown>,
  code: status,
  ...messageParts: string[]
): Promise<ServiceError> => {
  const err = await t.throwsAsync<ServiceError>(p);
  t.is(err.code, code, err.details);
  for (const part of messageParts) t.true(err.details.includes(part), err.details);
  return err;
};

const manifestSources = (): pb.ManifestSource[] => {
  const dir = join(process.cwd(), 'manifests');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => ({ file: `manifests/${f}`, text: readFileSync(join(dir, f), 'utf8') }));
};

const createService = async (
  client: pb.ControlServiceClient,
  name: string,
  spec: ServiceSpec = baseSpec,
): Promise<Service> => {
  const res = await call<pb.CreateServiceResponse>((cb) =>
    client.createService({ name, labels: { app: name }, specJson: JSON.stringify(spec) }, cb),
  );
  return JSON.parse(res.serviceJson) as Service;
};

const getService = async (client: pb.ControlServiceClient, ref: string): Promise<Service> => {
  const res = await call<pb.GetServiceResponse>((cb) => client.getService({ service: ref }, cb));
  return JSON.parse(res.serviceJson) as Service;
};

const withImage = (spec: ServiceSpec, image: string): ServiceSpec => ({
  ...spec,
  container: { ...spec.container, image },
});

/** Collects `n` events (however they are split into messages), then cancels the stream. */
const collect = (stream: ClientReadableStream<pb.WatchResponse>, n: number) =>
  new Promise<pb.WatchEvent[]>((resolve, reject) => {
    const out: pb.WatchEvent[] = [];
    stream.on('data', (r: pb.WatchResponse) => {
      out.push(...r.events);
      if (out.length >= n) {
        stream.removeListener('error', reject);
        stream.on('error', () => {});
        stream.cancel();
        resolve(out);
      }
    });
    stream.on('error', reject);
  });

const watchReady = (stream: ClientReadableStream<pb.WatchResponse>) =>
  new Promise<void>((resolve) => {
    stream.once('metadata', () => {
      resolve();
    });
  });

// ---- services -------------------------------------------------------------------------------

test('control: create, get by id and name, list', async (t) => {
  const { client } = await setup(t);
  const web = await createService(client, 'web');
  await createService(client, 'api');
  t.is(web.meta.name, 'web');
  t.is(web.meta.id, 'id0001' as Service['meta']['id']);
  t.is(web.specVersion, 1);
  t.true(web.meta.version > 0);
  t.deepEqual(web.meta.labels, { app: 'web' });
  t.is(web.spec.container.image, 'busybox');
  t.deepEqual(await getService(client, web.meta.id), web);
  t.deepEqual(await getService(client, 'web'), web);
  const list = await call<pb.ListServicesResponse>((cb) => client.listServices({}, cb));
  t.deepEqual(
    list.servicesJson.map((s) => (JSON.parse(s) as Service).meta.name),
    ['api', 'web'],
  );
  t.true(list.version >= web.meta.version);
  await failsWith(t, getService(client, 'nope'), status.NOT_FOUND, 'service nope not found');
  await failsWith(t, createService(client, 'web'), status.ALREADY_EXISTS, 'web');
});

test('control: create refuses an invalid spec naming the field', async (t) => {
  const { client, store } = await setup(t);
  const bad = { ...baseSpec, mode: { type: 'replicated', replicas: -1 } } as ServiceSpec;
  await failsWith(t, createService(client, 'web', bad), status.INVALID_ARGUMENT, 'replicas');
  await failsWith(
    t,
    createService(client, 'web', { ...baseSpec, networks: ['missing'] }),
    status.INVALID_ARGUMENT,
    'missing',
  );
  await failsWith(
    t,
    call((cb) => client.createService({ name: 'web', labels: {}, specJson: '{' }, cb)),
    status.INVALID_ARGUMENT,
    'not valid JSON',
  );
  t.is(store.count('service'), 0);
});

test('control: update bumps specVersion only when more than replicas changes', async (t) => {
  const { client } = await setup(t);
  const web = await createService(client, 'web');
  const update = (s: Service, spec: ServiceSpec) =>
    call<pb.UpdateServiceResponse>((cb) =>
      client.updateService(
        {
          service: 'web',
          version: s.meta.version,
          specJson: JSON.stringify(spec),
          setLabels: false,
          labels: {},
        },
        cb,
      ),
    ).then((r) => JSON.parse(r.serviceJson) as Service);
  const v2 = await update(web, withImage(baseSpec, 'nginx'));
  t.is(v2.specVersion, 2);
  t.is(v2.spec.container.image, 'nginx');
  t.is(v2.previousSpec?.container.image, 'busybox');
  t.deepEqual(v2.meta.labels, { app: 'web' });
  const v3 = await update(v2, { ...v2.spec, mode: { type: 'replicated', replicas: 5 } });
  t.is(v3.specVersion, 2, 'replicas alone is not a spec change');
  t.deepEqual(v3.spec.mode, { type: 'replicated', replicas: 5 });
  t.is(v3.previousSpec?.container.image, 'busybox');
  // The version read is stale now: refused, nothing written.
  await failsWith(
    t,
    update(v2, withImage(baseSpec, 'httpd')),
    status.ABORTED,
    'changed since it was read',
  );
  t.is((await getService(client, 'web')).spec.container.image, 'nginx');
  await failsWith(
    t,
    call((cb) =>
      client.updateService(
        {
          service: 'web',
          version: 0,
          specJson: JSON.stringify(baseSpec),
          setLabels: false,
          labels: {},
        },
        cb,
      ),
    ),
    status.INVALID_ARGUMENT,
    'version is required',
  );
});

test('control: remove service shuts its tasks down in the same transaction', async (t) => {
  const { client, store, writer, proposer } = await setup(t);
  const web = await createService(client, 'web');
  const other = await createService(client, 'other');
  const seeded = await writer.submit([
    { op: 'create', kind: 'task', object: makeTask('t1', web.meta.id, { slot: 1 }) },
    { op: 'create', kind: 'task', object: makeTask('t2', web.meta.id, { slot: 2 }) },
    { op: 'create', kind: 'task', object: makeTask('t3', other.meta.id, { slot: 1 }) },
  ]);
  t.true(seeded.ok);
  const before = proposer.proposed.length;
  await failsWith(
    t,
    call((cb) => client.removeService({ service: 'web', version: web.meta.version + 100 }, cb)),
    status.ABORTED,
  );
  t.truthy(store.get('service', web.meta.id));
  const res = await call<pb.RemoveServiceResponse>((cb) =>
    client.removeService({ service: 'web', version: 0 }, cb),
  );
  t.is(store.get('service', web.meta.id), undefined);
  for (const id of ['t1', 't2']) {
    const task = store.get('task', id)!;
    t.is(task.desiredState, 'shutdown');
    t.is(task.meta.version, res.version, 'written with the delete');
  }
  t.is(store.get('task', 't3')!.desiredState, 'running');
  t.true(proposer.proposed.length > before);
  await failsWith(t, getService(client, 'web'), status.NOT_FOUND);
});

// ---- scale ----------------------------------------------------------------------------------

test('control: scale sets replicas of several services at once, refusing global ones', async (t) => {
  const { client } = await setup(t);
  await createService(client, 'a');
  await createService(client, 'b');
  await createService(client, 'g', { ...baseSpec, mode: { type: 'global' } });
  const res = await call<pb.ScaleResponse>((cb) => client.scale({ replicas: { a: 3, b: 0 } }, cb));
  const scaled = res.servicesJson.map((s) => JSON.parse(s) as Service);
  t.deepEqual(
    scaled.map((s) => [s.meta.name, s.spec.mode, s.specVersion]),
    [
      ['a', { type: 'replicated', replicas: 3 }, 1],
      ['b', { type: 'replicated', replicas: 0 }, 1],
    ],
  );
  t.is(scaled[0]!.meta.version, scaled[1]!.meta.version, 'one transaction');
  await failsWith(
    t,
    call((cb) => client.scale({ replicas: { a: 7, g: 2 } }, cb)),
    status.FAILED_PRECONDITION,
    'service g is global',
  );
  t.deepEqual((await getService(client, 'a')).spec.mode, { type: 'replicated', replicas: 3 });
  await failsWith(
    t,
    call((cb) => client.scale({ replicas: { zzz: 1 } }, cb)),
    status.NOT_FOUND,
    'zzz',
  );
});

// ---- networks -------------------------------------------------------------------------------

test('control: networks are created, listed, and not removed while in use', async (t) => {
  const { client } = await setup(t);
  const spec: Network['spec'] = { driver: 'overlay', subnet: '10.1.0.0/24', attachable: false };
  const created = await call<pb.CreateNetworkResponse>((cb) =>
    client.createNetwork({ name: 'front', labels: {}, specJson: JSON.stringify(spec) }, cb),
  );
  const net = JSON.parse(created.networkJson) as Network;
  t.deepEqual(net.spec, spec);
  await failsWith(
    t,
    call((cb) =>
      client.createNetwork(
        { name: 'bad', labels: {}, specJson: JSON.stringify({ ...spec, subnet: 'nope' }) },
        cb,
      ),
    ),
    status.INVALID_ARGUMENT,
    'subnet',
  );
  await createService(client, 'web', { ...baseSpec, networks: ['front'] });
  await failsWith(
    t,
    call((cb) => client.removeNetwork({ network: 'front', version: 0 }, cb)),
    status.FAILED_PRECONDITION,
    'in use by service web',
  );
  await call((cb) => client.removeService({ service: 'web', version: 0 }, cb));
  await call((cb) => client.removeNetwork({ network: 'front', version: 0 }, cb));
  const list = await call<pb.ListNetworksResponse>((cb) => client.listNetworks({}, cb));
  t.deepEqual(list.networksJson, []);
});

// ---- tasks and nodes ------------------------------------------------------------------------

test('control: list tasks filters by service, node and desired state', async (t) => {
  const { client, writer } = await setup(t);
  const web = await createService(client, 'web');
  const api = await createService(client, 'api');
  t.true(
    (
      await writer.submit([
        { op: 'create', kind: 'node', object: makeNode('n1', 'node-1') },
        {
          op: 'create',
          kind: 'task',
          object: makeTask('t1', web.meta.id, { slot: 1, nodeId: 'n1' as Node['meta']['id'] }),
        },
        {
          op: 'create',
          kind: 'task',
          object: makeTask('t2', web.meta.id, { slot: 2, desiredState: 'shutdown' }),
        },
        {
          op: 'create',
          kind: 'task',
          object: makeTask('t3', api.meta.id, { slot: 1, nodeId: 'n1' as Node['meta']['id'] }),
        },
      ])
    ).ok,
  );
  const ids = async (req: Partial<pb.ListTasksRequest>) => {
    const res = await call<pb.ListTasksResponse>((cb) =>
      client.listTasks({ service: '', node: '', desiredState: '', ...req }, cb),
    );
    return res.tasksJson.map((x) => (JSON.parse(x) as Task).meta.id).sort();
  };
  t.deepEqual(await ids({}), ['t1', 't2', 't3']);
  t.deepEqual(await ids({ service: 'web' }), ['t1', 't2']);
  t.deepEqual(await ids({ node: 'node-1' }), ['t1', 't3']);
  t.deepEqual(await ids({ service: 'web', desiredState: 'running' }), ['t1']);
  t.deepEqual(await ids({ desiredState: 'shutdown' }), ['t2']);
  await failsWith(t, ids({ desiredState: 'sleeping' }), status.INVALID_ARGUMENT, 'sleeping');
  const task = await call<pb.GetTaskResponse>((cb) => client.getTask({ task: 't1' }, cb));
  t.is((JSON.parse(task.taskJson) as Task).serviceId, web.meta.id);
});

test('control: update node sets availability and labels with optimistic concurrency', async (t) => {
  const { client, writer } = await setup(t);
  t.true(
    (await writer.submit([{ op: 'create', kind: 'node', object: makeNode('n1', 'node-1') }])).ok,
  );
  const read = await call<pb.GetNodeResponse>((cb) => client.getNode({ node: 'node-1' }, cb));
  const node = JSON.parse(read.nodeJson) as Node;
  const res = await call<pb.UpdateNodeResponse>((cb) =>
    client.updateNode(
      {
        node: 'n1',
        version: node.meta.version,
        availability: 'drain',
        setLabels: true,
        labels: { zone: 'a' },
      },
      cb,
    ),
  );
  const updated = JSON.parse(res.nodeJson) as Node;
  t.deepEqual(updated.spec, { role: 'worker', availability: 'drain', labels: { zone: 'a' } });
  await failsWith(
    t,
    call((cb) =>
      client.updateNode(
        {
          node: 'n1',
          version: node.meta.version,
          availability: 'active',
          setLabels: false,
          labels: {},
        },
        cb,
      ),
    ),
    status.ABORTED,
    'changed since it was read',
  );
  await failsWith(
    t,
    call((cb) =>
      client.updateNode(
        {
          node: 'n1',
          version: updated.meta.version,
          availability: 'asleep',
          setLabels: false,
          labels: {},
        },
        cb,
      ),
    ),
    status.INVALID_ARGUMENT,
    'asleep',
  );
  const list = await call<pb.ListNodesResponse>((cb) => client.listNodes({}, cb));
  t.is(list.nodesJson.length, 1);
});

// ---- apply ----------------------------------------------------------------------------------

test('control: apply the repo manifests, then again: all unchanged', async (t) => {
  const { client, store, proposer } = await setup(t);
  const sources = manifestSources();
  t.true(sources.length >= 3);
  const first = await call<pb.ApplyResponse>((cb) => client.apply({ sources, dryRun: false }, cb));
  t.true(first.results.length > 0);
  t.true(first.results.every((r) => r.action === 'created' && r.id !== ''));
  t.is(proposer.proposed.length, 1, 'one transaction');
  t.is(store.count('service') + store.count('network'), first.results.length);
  for (const r of first.results) {
    const kind = r.kind === 'Service' ? 'service' : 'network';
    t.is(store.get(kind, r.id)?.meta.name, r.name);
    t.is(store.get(kind, r.id)?.meta.version, first.version);
  }
  const again = await call<pb.ApplyResponse>((cb) => client.apply({ sources, dryRun: false }, cb));
  t.deepEqual(
    again.results,
    first.results.map((r) => ({ ...r, action: 'unchanged' })),
  );
  t.is(proposer.proposed.length, 1, 'nothing written');
});

test('control: apply updates a changed service and reports it', async (t) => {
  const { client, store } = await setup(t);
  const sources = manifestSources();
  await call((cb) => client.apply({ sources, dryRun: false }, cb));
  const web = store.find('service', { name: 'web' })[0]!;
  const changed = sources.map((s) =>
    s.file === 'manifests/web.yaml'
      ? { ...s, text: s.text.replace('GREETING: hello', 'GREETING: hi') }
      : s,
  );
  const dry = await call<pb.ApplyResponse>((cb) =>
    client.apply({ sources: changed, dryRun: true }, cb),
  );
  t.deepEqual(
    dry.results.filter((r) => r.action !== 'unchanged').map((r) => [r.name, r.action]),
    [['web', 'updated']],
  );
  t.is(store.get('service', web.meta.id)!.meta.version, web.meta.version, 'dry run wrote nothing');
  await call((cb) => client.apply({ sources: changed, dryRun: false }, cb));
  const after = store.get('service', web.meta.id)!;
  t.is(after.spec.container.env['GREETING'], 'hi');
  t.is(after.specVersion, web.specVersion + 1);
  t.is(after.previousSpec?.container.env['GREETING'], 'hello');
});

test('control: apply dry run writes nothing', async (t) => {
  const { client, store, proposer } = await setup(t);
  const res = await call<pb.ApplyResponse>((cb) =>
    client.apply({ sources: manifestSources(), dryRun: true }, cb),
  );
  t.true(res.results.length > 0);
  t.true(res.results.every((r) => r.action === 'created' && r.id === ''));
  t.is(proposer.proposed.length, 0);
  t.is(store.count('service') + store.count('network'), 0);
});

test('control: a bad manifest is INVALID_ARGUMENT naming file, line and field; nothing written', async (t) => {
  const { client, store, proposer } = await setup(t);
  const bad = {
    file: 'bad.yaml',
    text: [
      'apiVersion: tug/v1',
      'kind: Service',
      'metadata: { name: broken }',
      'spec:',
      '  image: busybox',
      '  replicas: -2',
      '',
    ].join('\n'),
  };
  await failsWith(
    t,
    call((cb) => client.apply({ sources: [...manifestSources(), bad], dryRun: false }, cb)),
    status.INVALID_ARGUMENT,
    'bad.yaml:6:',
    'spec.replicas',
  );
  t.is(proposer.proposed.length, 0);
  t.is(store.count('service') + store.count('network'), 0);
});

test('control: apply refuses to change a network spec in place', async (t) => {
  const { client, store } = await setup(t);
  const sources = manifestSources();
  await call((cb) => client.apply({ sources, dryRun: false }, cb));
  const version = store.version;
  const changed = sources.map((s) => ({
    ...s,
    text: s.text.replace('10.10.0.0/24', '10.11.0.0/24'),
  }));
  await failsWith(
    t,
    call((cb) => client.apply({ sources: changed, dryRun: false }, cb)),
    status.INVALID_ARGUMENT,
    'network front: spec cannot change',
  );
  t.is(store.version, version);
});

// ---- watch ----------------------------------------------------------------------------------

test('control: watch streams events as they are written', async (t) => {
  const { client } = await setup(t);
  const stream = client.watch({ kinds: ['service'] });
  await watchReady(stream);
  const events = collect(stream, 3);
  const web = await createService(client, 'web');
  await call((cb) => client.scale({ replicas: { web: 2 } }, cb));
  await call((cb) => client.removeService({ service: 'web', version: 0 }, cb));
  const got = await events;
  t.deepEqual(
    got.map((e) => [e.type, e.kind]),
    [
      ['create', 'service'],
      ['update', 'service'],
      ['delete', 'service'],
    ],
  );
  t.is((JSON.parse(got[0]!.objectJson) as Service).meta.id, web.meta.id);
  t.true(got[0]!.version < got[1]!.version && got[1]!.version < got[2]!.version);
});

test('control: watch messages carry a burst of events, split under the size limit in order', (t) => {
  const big = 'x'.repeat(300 * 1024);
  const events = Array.from({ length: 10 }, (_, i) => ({
    type: 'create' as const,
    kind: 'service' as const,
    version: i + 1,
    object: { ...makeService(`s${i}`), meta: { ...makeService(`s${i}`).meta, labels: { big } } },
  }));
  const messages = watchMessages(events);
  t.true(messages.length > 1 && messages.length < events.length, `${messages.length} messages`);
  t.deepEqual(
    messages.flat().map((e) => e.version),
    events.map((e) => e.version),
  );
  for (const m of messages) {
    const bytes = m.reduce((n, e) => n + e.objectJson.length, 0);
    t.true(bytes <= 1024 * 1024, `${bytes} bytes in one message`);
  }
  t.deepEqual(
    watchMessages(events.slice(0, 3).map((e) => ({ ...e, object: makeService('small') }))).map(
      (m) => m.length,
    ),
    [3],
    'small events travel together',
  );
});

test('control: watch resumes from a version', async (t) => {
  const { client } = await setup(t);
  await createService(client, 'a');
  const list = await call<pb.ListServicesResponse>((cb) => client.listServices({}, cb));
  await createService(client, 'b');
  await createService(client, 'c');
  const got = await collect(client.watch({ fromVersion: list.version, kinds: [] }), 2);
  t.deepEqual(
    got.map((e) => (JSON.parse(e.objectJson) as Service).meta.name),
    ['b', 'c'],
  );
});

test('control: watch from a compacted version ends with OUT_OF_RANGE', async (t) => {
  const { client } = await setup(t, { maxEventLog: 2 });
  for (const name of ['a', 'b', 'c', 'd']) await createService(client, name);
  await failsWith(
    t,
    collect(client.watch({ fromVersion: 0, kinds: [] }), 1),
    status.OUT_OF_RANGE,
    're-list',
  );
  await failsWith(
    t,
    collect(client.watch({ kinds: ['gadget'] }), 1),
    status.INVALID_ARGUMENT,
    'unknown kind gadget',
  );
});

test('control: remove node refuses a ready node unless forced, and orphans its tasks', async (t) => {
  const { client, writer, store } = await setup(t);
  const svc = makeService('web');
  t.true(
    (
      await writer.submit([
        { op: 'create', kind: 'node', object: makeNode('n1', 'node-1') },
        { op: 'create', kind: 'node', object: makeNode('n2', 'node-2') },
        { op: 'create', kind: 'service', object: svc },
      ])
    ).ok,
  );
  t.true(
    (
      await writer.submit([
        {
          op: 'create',
          kind: 'task',
          object: makeTask('t1', svc.meta.id, {
            slot: 1,
            nodeId: 'n1' as NodeId,
            state: 'running',
          }),
        },
        {
          op: 'create',
          kind: 'task',
          object: makeTask('t2', svc.meta.id, {
            slot: 2,
            nodeId: 'n2' as NodeId,
            state: 'running',
          }),
        },
      ])
    ).ok,
  );
  await failsWith(
    t,
    call((cb) => client.removeNode({ node: 'node-1', version: 0, force: false }, cb)),
    status.FAILED_PRECONDITION,
    'node-1 is ready, not down',
  );
  t.not(store.get('node', 'n1'), undefined);
  // A down node goes without force.
  const n2 = store.get('node', 'n2')!;
  t.true(
    (
      await writer.submit([
        {
          op: 'update',
          kind: 'node',
          object: { ...n2, status: { ...n2.status, state: 'down' } },
        },
      ])
    ).ok,
  );
  await call<pb.RemoveNodeResponse>((cb) =>
    client.removeNode({ node: 'node-2', version: 0, force: false }, cb),
  );
  t.is(store.get('node', 'n2'), undefined);
  t.is(store.get('task', 't2')?.status.state, 'orphaned');
  await call<pb.RemoveNodeResponse>((cb) =>
    client.removeNode({ node: 'n1', version: 0, force: true }, cb),
  );
  t.is(store.get('node', 'n1'), undefined);
  t.is(store.get('task', 't1')?.status.state, 'orphaned');
  await failsWith(
    t,
    call((cb) => client.removeNode({ node: 'n1', version: 0, force: true }, cb)),
    status.NOT_FOUND,
  );
});

test('nextService: update defaults filled in are no spec change; a scale keeps the update status', (t) => {
  const stored = makeService('s1', 'web', 2);
  const reapplied: ServiceSpec = {
    ...stored.spec,
    update: { ...stored.spec.update, failureAction: 'pause', monitorMs: 5000, maxFailureRatio: 0 },
  };
  t.is(nextService(stored, reapplied, {}).specVersion, stored.specVersion);
  const changed: ServiceSpec = {
    ...stored.spec,
    update: { ...stored.spec.update, failureAction: 'continue' },
  };
  t.is(nextService(stored, changed, {}).specVersion, stored.specVersion + 1);

  const paused: Service = {
    ...stored,
    updateStatus: {
      state: 'paused',
      specVersion: 1,
      startedAt: 1,
      total: 2,
      failures: 1,
      message: 'update paused',
    },
  };
  const scaled: ServiceSpec = { ...stored.spec, mode: { type: 'replicated', replicas: 5 } };
  t.deepEqual(nextService(paused, scaled, {}).updateStatus, paused.updateStatus);
});
