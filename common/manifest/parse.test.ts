import test from 'ava';

import { formatManifestErrors, ManifestInvalidError, parseManifests } from './parse.js';
import type { ManifestError, ParseOptions, ServiceManifest } from './parse.js';

const lines = (...ls: string[]): string => ls.join('\n') + '\n';
const image = 'image: registry.local:5000/tug/busybox:latest';
/** A Service document whose spec lines start on line 5, indented two spaces (column 3). */
const service = (spec: string[], name = 'web'): string =>
  lines(
    'apiVersion: tug/v1',
    'kind: Service',
    `metadata: { name: ${name} }`,
    'spec:',
    ...spec.map((l) => `  ${l}`),
  );
const network = (name: string, spec = '{}'): string =>
  lines('apiVersion: tug/v1', 'kind: Network', `metadata: { name: ${name} }`, `spec: ${spec}`);

type Where = [file: string, line: number, column: number, field: string, code: string];
const where = (e: ManifestError): Where => [e.file, e.line, e.column, e.field, e.code];

const errorsOf = (
  text: string | { file: string; text: string }[],
  options?: ParseOptions,
): ManifestError[] => {
  const r = parseManifests(typeof text === 'string' ? [{ file: 'a.yaml', text }] : text, options);
  if (r.ok) throw new Error('expected errors, got manifests');
  return [...r.errors];
};

const serviceOf = (text: string, options?: ParseOptions): ServiceManifest => {
  const r = parseManifests([{ file: 'a.yaml', text }], options);
  if (!r.ok) throw new Error(formatManifestErrors(r.errors));
  const m = r.manifests.find((x) => x.kind === 'Service');
  if (m?.kind !== 'Service') throw new Error('expected a service');
  return m;
};

test('parseManifests: fills every default of a minimal service', (t) => {
  const m = serviceOf(service([image]));
  t.like(m, { kind: 'Service', file: 'a.yaml', line: 1, name: 'web', labels: {} });
  t.deepEqual(m.spec, {
    container: {
      image: 'registry.local:5000/tug/busybox:latest',
      env: {},
      readOnlyRootfs: false,
      stopGracePeriodMs: 10_000,
    },
    mode: { type: 'replicated', replicas: 1 },
    ports: [],
    resources: { limits: {}, reservations: {} },
    networks: [],
    placement: { constraints: [], maxReplicasPerNode: 0 },
    restartPolicy: { condition: 'any', delayMs: 5000, maxAttempts: 0, windowMs: 0 },
    update: {
      parallelism: 1,
      delayMs: 0,
      order: 'stop-first',
      failureAction: 'pause',
      monitorMs: 5000,
      maxFailureRatio: 0,
    },
  });
});

test('parseManifests: reads every field of a full service', (t) => {
  const m = serviceOf(
    network('front') +
      '---\n' +
      service([
        image,
        'command: [httpd]',
        'args: ["-f", "-p", "8080"]',
        'env: { A: "1" }',
        'workdir: /srv',
        'user: 1000',
        'readOnlyRootfs: true',
        'stopGracePeriod: 1m30s',
        'ports: [{ target: 8080, published: 80, protocol: udp }]',
        'resources: { limits: { cpus: 0.5, memory: 64Mi, pids: 100 }, reservations: { cpus: 0.1, memory: 16Mi } }',
        'networks: [front]',
        'placement: { constraints: ["node.labels.zone == a"], maxReplicasPerNode: 2, preferences: [{ spread: node.labels.zone }, { spread: engine.labels.rack }] }',
        'restartPolicy: { condition: on-failure, delay: 500ms, maxAttempts: 3, window: 1m }',
        'healthcheck: { command: [/bin/true], interval: 5s, timeout: 2s, retries: 4, startPeriod: 10s }',
        'update: { parallelism: 2, delay: 2s, order: start-first, failureAction: continue, monitor: 30s, maxFailureRatio: 0.2 }',
        'mode: replicated',
        'replicas: 3',
      ]),
  );
  t.is(m.line, 6);
  t.deepEqual(m.spec, {
    container: {
      image: 'registry.local:5000/tug/busybox:latest',
      command: ['httpd'],
      args: ['-f', '-p', '8080'],
      env: { A: '1' },
      workdir: '/srv',
      user: '1000',
      readOnlyRootfs: true,
      stopGracePeriodMs: 90_000,
      healthcheck: {
        command: ['/bin/true'],
        intervalMs: 5000,
        timeoutMs: 2000,
        retries: 4,
        startPeriodMs: 10_000,
      },
    },
    mode: { type: 'replicated', replicas: 3 },
    ports: [{ target: 8080, published: 80, protocol: 'udp' }],
    resources: {
      limits: { cpus: 0.5, memoryBytes: 64 * 2 ** 20, pids: 100 },
      reservations: { cpus: 0.1, memoryBytes: 16 * 2 ** 20 },
    },
    networks: ['front'],
    placement: {
      constraints: ['node.labels.zone == a'],
      maxReplicasPerNode: 2,
      preferences: [{ spread: 'node.labels.zone' }, { spread: 'engine.labels.rack' }],
    },
    restartPolicy: { condition: 'on-failure', delayMs: 500, maxAttempts: 3, windowMs: 60_000 },
    update: {
      parallelism: 2,
      delayMs: 2000,
      order: 'start-first',
      failureAction: 'continue',
      monitorMs: 30_000,
      maxFailureRatio: 0.2,
    },
  });
});

test('parseManifests: reads env as a list of NAME=value and a global mode', (t) => {
  const m = serviceOf(service([image, 'env: ["A=1", "B=x=y", "C="]', 'mode: global']));
  t.deepEqual(m.spec.container.env, { A: '1', B: 'x=y', C: '' });
  t.deepEqual(m.spec.mode, { type: 'global' });
});

test('parseManifests: keeps an env or label key named __proto__ as a plain key', (t) => {
  const m = serviceOf(service([image, 'env: { __proto__: x }']));
  t.deepEqual(Object.entries(m.spec.container.env), [['__proto__', 'x']]);
  t.is(Object.getPrototypeOf(m.spec.container.env), Object.prototype);
});

test('parseManifests: reads a network with defaults and labels', (t) => {
  const r = parseManifests([
    {
      file: 'n.yaml',
      text:
        network('front') + '---\n' + network('back', '{ subnet: 10.1.0.0/16, attachable: true }'),
    },
  ]);
  t.true(r.ok);
  if (!r.ok) return;
  t.deepEqual(
    r.manifests.map((m) => [m.name, m.spec]),
    [
      ['front', { driver: 'overlay', attachable: false }],
      ['back', { driver: 'overlay', subnet: '10.1.0.0/16', attachable: true }],
    ],
  );
});

test('parseManifests: skips empty documents and comments', (t) => {
  const r = parseManifests([
    { file: 'a.yaml', text: '# nothing\n---\n---\n' + service([image]) + '---\n' },
  ]);
  t.true(r.ok);
  if (r.ok) t.is(r.manifests.length, 1);
});

test('parseManifests: reports a YAML syntax error with its position and still checks other documents', (t) => {
  const errors = errorsOf(lines('a: [b', 'c: d') + '---\n' + service([image, 'replicas: x']));
  t.deepEqual(errors.map(where)[0]?.slice(0, 2), ['a.yaml', 2]);
  t.is(errors[0]?.code, 'syntax');
  t.is(errors[0]?.field, '');
  t.deepEqual(where(errors.at(-1)!), ['a.yaml', 9, 13, 'spec.replicas', 'wrong-type']);
});

test('parseManifests: reports duplicate keys as syntax errors', (t) => {
  const errors = errorsOf(service([image, image]));
  t.deepEqual(
    errors.map((e) => [e.line, e.code]),
    [[6, 'syntax']],
  );
});

test('parseManifests: rejects unknown fields with a suggestion at every level', (t) => {
  const errors = errorsOf(
    lines('apiVersion: tug/v1', 'kind: Service', 'metadata: { name: web, lables: {} }', 'spec:') +
      lines(
        `  ${image}`,
        '  replica: 2',
        '  resources: { limits: { memroy: 1Mi } }',
        '  volumes: []',
        'status: {}',
      ),
  );
  t.deepEqual(errors.map(where), [
    ['a.yaml', 3, 24, 'metadata.lables', 'unknown-field'],
    ['a.yaml', 6, 3, 'spec.replica', 'unknown-field'],
    ['a.yaml', 7, 26, 'spec.resources.limits.memroy', 'unknown-field'],
    ['a.yaml', 8, 3, 'spec.volumes', 'unknown-field'],
    ['a.yaml', 9, 1, 'status', 'unknown-field'],
  ]);
  t.regex(errors[0]!.message, /did you mean "labels"/);
  t.regex(errors[1]!.message, /did you mean "replicas"/);
  t.regex(errors[2]!.message, /did you mean "memory"/);
  t.notRegex(errors[3]!.message, /did you mean/);
});

test('parseManifests: rejects pids among reservations', (t) => {
  const errors = errorsOf(service([image, 'resources: { reservations: { pids: 3 } }']));
  t.deepEqual(errors.map(where), [
    ['a.yaml', 6, 32, 'spec.resources.reservations.pids', 'unknown-field'],
  ]);
});

test('parseManifests: reports missing required fields', (t) => {
  t.deepEqual(errorsOf(lines('kind: Network', 'metadata: {}')).map(where), [
    ['a.yaml', 1, 1, 'apiVersion', 'missing-field'],
    ['a.yaml', 2, 11, 'metadata.name', 'missing-field'],
  ]);
  t.deepEqual(errorsOf(service(['replicas: 1'])).map(where), [
    ['a.yaml', 5, 3, 'spec.image', 'missing-field'],
  ]);
  t.deepEqual(
    errorsOf(lines('apiVersion: tug/v1', 'kind: Service', 'metadata: { name: web }')).map(where),
    [['a.yaml', 1, 1, 'spec', 'missing-field']],
  );
  t.deepEqual(errorsOf(service([image, 'healthcheck: { interval: 1s }'])).map(where), [
    ['a.yaml', 6, 16, 'spec.healthcheck.command', 'missing-field'],
  ]);
  t.deepEqual(errorsOf(service([image, 'ports: [{ published: 80 }]'])).map(where), [
    ['a.yaml', 6, 11, 'spec.ports[0].target', 'missing-field'],
  ]);
});

test('parseManifests: rejects an unsupported apiVersion and an unknown kind', (t) => {
  const errors = errorsOf(
    lines('apiVersion: v1', 'kind: service', 'metadata: { name: web }', 'spec: {}'),
  );
  t.deepEqual(errors.map(where), [
    ['a.yaml', 1, 13, 'apiVersion', 'invalid-value'],
    ['a.yaml', 2, 7, 'kind', 'invalid-value'],
  ]);
  t.regex(errors[1]!.message, /did you mean "Service"/);
});

test('parseManifests: rejects wrong types, with a hint to quote numbers meant as strings', (t) => {
  const errors = errorsOf(
    service([
      'image: [busybox]',
      'env: { PORT: 8080 }',
      'args: [-p, 8080]',
      'readOnlyRootfs: "yes"',
      'ports: { target: 80 }',
      'replicas: three',
      'resources: { limits: { cpus: half } }',
      'placement: []',
    ]),
  );
  t.deepEqual(errors.map(where), [
    ['a.yaml', 5, 10, 'spec.image', 'wrong-type'],
    ['a.yaml', 6, 16, 'spec.env.PORT', 'wrong-type'],
    ['a.yaml', 7, 14, 'spec.args[1]', 'wrong-type'],
    ['a.yaml', 8, 19, 'spec.readOnlyRootfs', 'wrong-type'],
    ['a.yaml', 9, 10, 'spec.ports', 'wrong-type'],
    ['a.yaml', 10, 13, 'spec.replicas', 'wrong-type'],
    ['a.yaml', 11, 32, 'spec.resources.limits.cpus', 'wrong-type'],
    ['a.yaml', 12, 14, 'spec.placement', 'wrong-type'],
  ]);
  t.regex(errors[1]!.message, /quote it: "8080"/);
});

test('parseManifests: rejects names that are not DNS labels', (t) => {
  for (const name of ['Web', 'web_1', '-web', 'a'.repeat(64), '"1.2"']) {
    const errors = errorsOf(service([image], name));
    t.deepEqual(errors.map(where), [['a.yaml', 3, 19, 'metadata.name', 'invalid-value']], name);
  }
});

test('parseManifests: rejects negative and fractional replicas, and replicas on a global service', (t) => {
  t.deepEqual(errorsOf(service([image, 'replicas: -1'])).map(where), [
    ['a.yaml', 6, 13, 'spec.replicas', 'invalid-value'],
  ]);
  t.deepEqual(errorsOf(service([image, 'replicas: 1.5'])).map(where), [
    ['a.yaml', 6, 13, 'spec.replicas', 'invalid-value'],
  ]);
  t.deepEqual(errorsOf(service([image, 'mode: global', 'replicas: 2'])).map(where), [
    ['a.yaml', 7, 3, 'spec.replicas', 'conflict'],
  ]);
  t.deepEqual(errorsOf(service([image, 'mode: globl'])).map(where), [
    ['a.yaml', 6, 9, 'spec.mode', 'invalid-value'],
  ]);
  t.true(parseManifests([{ file: 'a.yaml', text: service([image, 'replicas: 0']) }]).ok);
});

test('parseManifests: rejects bad durations, quantities, constraints and ports', (t) => {
  const errors = errorsOf(
    service([
      image,
      'stopGracePeriod: 10',
      'restartPolicy: { delay: 5 s, window: 1d, condition: always }',
      'healthcheck: { command: [sh], interval: 0s }',
      'resources: { limits: { memory: 64m, cpus: 0, pids: 0 } }',
      'placement: { constraints: ["node.zone == a", "node.role == boss"] }',
      'ports: [{ target: 0, published: 65536, protocol: sctp }]',
      'update: { parallelism: -1, order: random }',
    ]),
  );
  t.deepEqual(errors.map(where), [
    ['a.yaml', 6, 20, 'spec.stopGracePeriod', 'invalid-value'],
    ['a.yaml', 7, 27, 'spec.restartPolicy.delay', 'invalid-value'],
    ['a.yaml', 7, 40, 'spec.restartPolicy.window', 'invalid-value'],
    ['a.yaml', 7, 55, 'spec.restartPolicy.condition', 'invalid-value'],
    ['a.yaml', 8, 43, 'spec.healthcheck.interval', 'invalid-value'],
    ['a.yaml', 9, 34, 'spec.resources.limits.memory', 'invalid-value'],
    ['a.yaml', 9, 45, 'spec.resources.limits.cpus', 'invalid-value'],
    ['a.yaml', 9, 54, 'spec.resources.limits.pids', 'invalid-value'],
    ['a.yaml', 10, 30, 'spec.placement.constraints[0]', 'invalid-value'],
    ['a.yaml', 10, 48, 'spec.placement.constraints[1]', 'invalid-value'],
    ['a.yaml', 11, 21, 'spec.ports[0].target', 'invalid-value'],
    ['a.yaml', 11, 35, 'spec.ports[0].published', 'invalid-value'],
    ['a.yaml', 11, 52, 'spec.ports[0].protocol', 'invalid-value'],
    ['a.yaml', 12, 26, 'spec.update.parallelism', 'invalid-value'],
    ['a.yaml', 12, 37, 'spec.update.order', 'invalid-value'],
  ]);
  t.regex(errors[5]!.message, /did you mean "64Mi"/);
});

test('parseManifests: rejects reservations above limits and reused published ports', (t) => {
  const errors = errorsOf([
    {
      file: 'a.yaml',
      text: service([
        image,
        'resources: { limits: { cpus: 0.5, memory: 1Mi }, reservations: { cpus: 1, memory: 2Mi } }',
        'ports: [{ target: 80, published: 80 }, { target: 81, published: 80, protocol: udp }]',
      ]),
    },
    { file: 'b.yaml', text: service([image, 'ports: [{ target: 8080, published: 80 }]'], 'api') },
  ]);
  t.deepEqual(errors.map(where), [
    ['a.yaml', 6, 74, 'spec.resources.reservations.cpus', 'conflict'],
    ['a.yaml', 6, 85, 'spec.resources.reservations.memory', 'conflict'],
    ['b.yaml', 6, 38, 'spec.ports[0].published', 'conflict'],
  ]);
  t.regex(errors[2]!.message, /80\/tcp is already published by service "web" at a\.yaml:7:36/);
});

test('parseManifests: reports a duplicate name at both places, across files', (t) => {
  const errors = errorsOf([
    { file: 'a.yaml', text: service([image]) },
    { file: 'b.yaml', text: lines('# again') + service([image]) + '---\n' + network('web') },
  ]);
  t.deepEqual(errors.map(where), [
    ['a.yaml', 3, 19, 'metadata.name', 'duplicate-name'],
    ['b.yaml', 4, 19, 'metadata.name', 'duplicate-name'],
  ]);
  t.regex(errors[0]!.message, /Service "web" is also defined at b\.yaml:4:19/);
  t.regex(errors[1]!.message, /Service "web" is also defined at a\.yaml:3:19/);
});

test('parseManifests: resolves networks from the manifests or the cluster, and reports the rest', (t) => {
  const text =
    network('front') + '---\n' + service([image, 'networks: [front, back, frnt, front]']);
  const errors = errorsOf(text);
  t.deepEqual(errors.map(where), [
    ['a.yaml', 11, 21, 'spec.networks[1]', 'unknown-network'],
    ['a.yaml', 11, 27, 'spec.networks[2]', 'unknown-network'],
    ['a.yaml', 11, 33, 'spec.networks[3]', 'invalid-value'],
  ]);
  t.regex(errors[1]!.message, /did you mean "front"/);
  const known = errorsOf(text, { existingNetworks: new Set(['back', 'frnt']) });
  t.deepEqual(
    known.map((e) => e.field),
    ['spec.networks[3]'],
  );
});

test('parseManifests: rejects bad subnets and overlapping ones', (t) => {
  const errors = errorsOf(
    network('a', '{ subnet: 10.0.0.1/24 }') +
      '---\n' +
      network('b', '{ subnet: 10.0.0.0/16 }') +
      '---\n' +
      network('c', '{ subnet: 10.0.128.0/24, driver: bridge }') +
      '---\n' +
      network('d', '{ subnet: 300.0.0.0/8 }'),
  );
  t.deepEqual(errors.map(where), [
    ['a.yaml', 4, 17, 'spec.subnet', 'invalid-value'],
    ['a.yaml', 14, 17, 'spec.subnet', 'conflict'],
    ['a.yaml', 14, 40, 'spec.driver', 'invalid-value'],
    ['a.yaml', 19, 17, 'spec.subnet', 'invalid-value'],
  ]);
  t.regex(errors[0]!.message, /did you mean 10\.0\.0\.0\/24/);
});

test('parseManifests: follows YAML anchors and aliases', (t) => {
  const m = serviceOf(
    service([image, 'command: &cmd [sh, -c, "exit 0"]', 'healthcheck: { command: *cmd }']),
  );
  t.deepEqual(m.spec.container.healthcheck?.command, ['sh', '-c', 'exit 0']);
});

test('parseManifests: returns no manifests at all when any document is wrong', (t) => {
  const r = parseManifests([
    { file: 'good.yaml', text: service([image]) },
    { file: 'bad.yaml', text: service([image, 'replicas: -1'], 'api') },
  ]);
  t.false(r.ok);
  t.false('manifests' in r);
});

test('formatManifestErrors: prints file:line:column: field: message', (t) => {
  const errors = errorsOf(lines('a: [b') + '---\n' + service([image, 'replicas: -1']));
  const out = formatManifestErrors(errors).split('\n');
  t.regex(out[0]!, /^a\.yaml:\d+:\d+: \S/);
  t.is(out.at(-1), 'a.yaml:8:13: spec.replicas: must be a whole number ≥ 0, not -1');
  const thrown = new ManifestInvalidError(errors);
  t.is(thrown.code, 'manifest-invalid');
  t.is(thrown.errors, errors);
});

test('parseManifests: checks the update failure knobs and placement preferences', (t) => {
  const errors = errorsOf(
    service([
      image,
      'update: { failureAction: rollback, monitor: soon, maxFailureRatio: 1.5 }',
      'placement: { preferences: [{ spread: zone }, { spreed: node.labels.a }, node.labels.b] }',
    ]),
  );
  t.deepEqual(errors.map(where), [
    ['a.yaml', 6, 28, 'spec.update.failureAction', 'invalid-value'],
    ['a.yaml', 6, 47, 'spec.update.monitor', 'invalid-value'],
    ['a.yaml', 6, 70, 'spec.update.maxFailureRatio', 'invalid-value'],
    ['a.yaml', 7, 40, 'spec.placement.preferences[0].spread', 'invalid-value'],
    ['a.yaml', 7, 48, 'spec.placement.preferences[1].spread', 'missing-field'],
    ['a.yaml', 7, 50, 'spec.placement.preferences[1].spreed', 'unknown-field'],
    ['a.yaml', 7, 75, 'spec.placement.preferences[2]', 'wrong-type'],
  ]);
  t.is(
    errors[0]!.message,
    '"rollback" is not supported yet (use pause or continue)',
    'rollback is refused until the orchestrator implements it',
  );
  t.regex(errors[3]!.message, /node\.labels\.<name> or engine\.labels\.<name>/);
});

test('parseManifests: reads bind mounts and the user namespace option, and checks their paths', (t) => {
  const ok = parseManifests([
    {
      file: 'a.yaml',
      text: service([
        image,
        'userNamespace: true',
        'mounts: [{ type: bind, source: /srv/data, target: /data, readOnly: true }, { source: /tmp/x, target: /x }]',
      ]),
    },
  ]);
  if (!ok.ok) return t.fail(formatManifestErrors(ok.errors));
  const m = ok.manifests[0]!;
  if (m.kind !== 'Service') return t.fail('not a service');
  t.true(m.spec.container.userNamespace);
  t.deepEqual(m.spec.container.mounts, [
    { source: '/srv/data', target: '/data', readOnly: true },
    { source: '/tmp/x', target: '/x', readOnly: false },
  ]);

  const errors = errorsOf(
    service([
      image,
      'userNamespace: maybe',
      'mounts: [{ type: volume, source: data, target: /d }, { source: /a/../etc, target: /e }, { source: /b }]',
    ]),
  );
  t.deepEqual(errors.map(where), [
    ['a.yaml', 6, 18, 'spec.userNamespace', 'wrong-type'],
    ['a.yaml', 7, 20, 'spec.mounts[0].type', 'invalid-value'],
    ['a.yaml', 7, 36, 'spec.mounts[0].source', 'invalid-value'],
    ['a.yaml', 7, 66, 'spec.mounts[1].source', 'invalid-value'],
    ['a.yaml', 7, 91, 'spec.mounts[2].target', 'missing-field'],
  ]);
  t.is(errors[2]!.message, 'must be an absolute path');
  t.is(errors[3]!.message, 'must not contain ".."');
});
