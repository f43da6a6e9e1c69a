import test from 'ava';
import fc from 'fast-check';

import type { Healthcheck, Network, Resources, ServiceSpec } from '../model.js';
import { formatManifestErrors, parseManifests } from './parse.js';
import type { Manifest } from './parse.js';
import { renderManifests } from './render.js';

const name = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
// Arbitrary text, including strings YAML would otherwise read as numbers, booleans or null.
const text = fc.oneof(
  fc.string(),
  fc.constantFrom('1', 'true', 'null', '~', '0x1f', 'yes', ' a ', '#x', '- a'),
);
const nonEmpty = fc.string({ minLength: 1 });
const ms = fc.nat({ max: 100 * 3_600_000 });
const positiveMs = fc.integer({ min: 1, max: 3_600_000 });
const labelKey = fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9._/-]{0,10}[A-Za-z0-9])?$/);
const envKey = fc.string({ minLength: 1 }).filter((k) => !/[=\0]/.test(k));

const opt = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.option(arb, { nil: undefined });
/** Drops undefined fields, as exactOptionalPropertyTypes wants. */
const compact = <T extends object>(o: { [K in keyof T]-?: T[K] | undefined }): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

const resources = (withPids: boolean): fc.Arbitrary<Resources> =>
  fc
    .record({
      cpus: opt(fc.integer({ min: 1, max: 64_000 }).map((m) => m / 1000)),
      memoryBytes: opt(fc.integer({ min: 1, max: 2 ** 45 })),
      pids: withPids ? opt(fc.integer({ min: 1, max: 100_000 })) : fc.constant(undefined),
    })
    .map((r) => compact<Resources>(r));

const healthcheck: fc.Arbitrary<Healthcheck> = fc.record({
  command: fc.array(text, { minLength: 1, maxLength: 4 }),
  intervalMs: positiveMs,
  timeoutMs: positiveMs,
  retries: fc.integer({ min: 1, max: 10 }),
  startPeriodMs: ms,
});

const constraint = fc
  .tuple(
    fc.oneof(
      fc.constantFrom('node.id', 'node.hostname', 'node.platform.os', 'node.platform.arch'),
      labelKey.map((k) => `node.labels.${k}`),
    ),
    fc.constantFrom('==', '!='),
    // Constraint values are single words (common/constraints.ts).
    fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,8}[a-z0-9]$/),
  )
  .map(([k, op, v]) => `${k} ${op} ${v}`);

const serviceSpec = (networks: readonly string[]): fc.Arbitrary<ServiceSpec> =>
  fc
    .record({
      container: fc.record({
        image: fc.stringMatching(/^[a-z0-9][a-z0-9.:/_-]{0,30}$/),
        command: opt(fc.array(text, { minLength: 1, maxLength: 3 })),
        args: opt(fc.array(text, { maxLength: 3 })),
        env: fc.dictionary(envKey, text, { maxKeys: 4 }),
        workdir: opt(fc.string().map((s) => `/${s}`)),
        user: opt(nonEmpty),
        readOnlyRootfs: fc.boolean(),
        mounts: opt(
          fc.array(
            fc.record({
              source: fc.stringMatching(/^\/[a-z0-9/_-]{0,20}$/),
              target: fc.stringMatching(/^\/[a-z0-9/_-]{0,20}$/),
              readOnly: fc.boolean(),
            }),
            { minLength: 1, maxLength: 2 },
          ),
        ),
        userNamespace: opt(fc.boolean()),
        stopGracePeriodMs: ms,
        healthcheck: opt(healthcheck),
      }),
      mode: fc.oneof(
        fc.record({ type: fc.constant('replicated' as const), replicas: fc.nat({ max: 1000 }) }),
        fc.constant({ type: 'global' as const }),
      ),
      ports: fc.array(
        fc
          .record({
            target: fc.integer({ min: 1, max: 65535 }),
            published: fc.constant(undefined),
            protocol: fc.constantFrom('tcp' as const, 'udp' as const),
          })
          .map((p) => compact<ServiceSpec['ports'][number]>(p)),
        { maxLength: 3 },
      ),
      resources: fc
        .record({ limits: resources(true), reservations: resources(false) })
        .map((r) => ({
          limits: r.limits,
          // Reservations above limits are invalid: clamp them under.
          reservations: compact<Resources>({
            cpus:
              r.reservations.cpus === undefined
                ? undefined
                : Math.min(r.reservations.cpus, r.limits.cpus ?? Infinity),
            memoryBytes:
              r.reservations.memoryBytes === undefined
                ? undefined
                : Math.min(r.reservations.memoryBytes, r.limits.memoryBytes ?? Infinity),
            pids: undefined,
          }),
        })),
      networks: fc.subarray([...networks]),
      placement: fc.record(
        {
          constraints: fc.array(constraint, { maxLength: 3 }),
          maxReplicasPerNode: fc.nat({ max: 10 }),
          preferences: fc.array(
            fc.record({
              spread: fc.constantFrom('node.labels.zone', 'node.labels.rack', 'engine.labels.dc'),
            }),
            { minLength: 1, maxLength: 3 },
          ),
        },
        { requiredKeys: ['constraints', 'maxReplicasPerNode'] },
      ),
      restartPolicy: fc.record({
        condition: fc.constantFrom('none' as const, 'on-failure' as const, 'any' as const),
        delayMs: ms,
        maxAttempts: fc.nat({ max: 100 }),
        windowMs: ms,
      }),
      update: fc.record({
        parallelism: fc.nat({ max: 10 }),
        delayMs: ms,
        order: fc.constantFrom('stop-first' as const, 'start-first' as const),
        failureAction: fc.constantFrom('pause' as const, 'continue' as const),
        monitorMs: ms,
        maxFailureRatio: fc.constantFrom(0, 0.1, 0.25, 1),
      }),
    })
    .map((s) => ({ ...s, container: compact<ServiceSpec['container']>(s.container) }));

// Subnets differ by index so that generated networks never overlap.
const networkSpec = (index: number): fc.Arbitrary<Network['spec']> =>
  fc
    .record({
      driver: fc.constant('overlay' as const),
      subnet: opt(fc.integer({ min: 16, max: 30 }).map((prefix) => `10.${index}.0.0/${prefix}`)),
      attachable: fc.boolean(),
    })
    .map((n) => compact<Network['spec']>(n));

const manifests: fc.Arbitrary<Manifest[]> = fc
  .uniqueArray(name, { minLength: 1, maxLength: 6 })
  .chain((names) => {
    const [netNames, svcNames] = [names.slice(0, 2), names.slice(2)];
    const labels = fc.dictionary(labelKey, text, { maxKeys: 3 });
    return fc.tuple(
      fc.tuple(
        ...netNames.map((n, i) =>
          fc.record({
            kind: fc.constant('Network' as const),
            name: fc.constant(n),
            labels,
            spec: networkSpec(i),
          }),
        ),
      ),
      fc.tuple(
        ...svcNames.map((n) =>
          fc.record({
            kind: fc.constant('Service' as const),
            name: fc.constant(n),
            labels,
            spec: serviceSpec(netNames),
          }),
        ),
      ),
    );
  })
  .map(([nets, svcs]) =>
    [...nets, ...svcs].map((m): Manifest => ({ ...m, file: 'gen.yaml', line: 0 })),
  );

test('renderManifests: parseManifests reads back exactly the specs that were rendered, at their lines', (t) => {
  fc.assert(
    fc.property(manifests, (ms) => {
      const yaml = renderManifests(ms);
      const r = parseManifests([{ file: 'gen.yaml', text: yaml }]);
      if (!r.ok) throw new Error(`${formatManifestErrors(r.errors)}\n${yaml}`);
      const strip = (m: Manifest): unknown => ({
        kind: m.kind,
        name: m.name,
        labels: m.labels,
        spec: m.spec,
      });
      t.deepEqual(r.manifests.map(strip), ms.map(strip));
      // And each manifest's line is where its document starts.
      const lines = yaml.split('\n');
      for (const m of r.manifests) t.is(lines[m.line - 1], 'apiVersion: tug/v1');
    }),
    { numRuns: 100 },
  );
});
