import test from 'ava';
import fc from 'fast-check';

import type { ContainerSpec } from '../../common/model.js';
import {
  buildOciSpec,
  CPU_PERIOD_US,
  DEFAULT_CAPABILITIES,
  INIT_PATH_IN_CONTAINER,
  MASKED_PATHS,
  READONLY_PATHS,
  resolveArgs,
  resolveEnv,
  resolveUser,
} from './oci-spec.js';
import type { OciSpecInput } from './oci-spec.js';

const container = (over: Partial<ContainerSpec> = {}): ContainerSpec => ({
  image: 'busybox',
  env: {},
  readOnlyRootfs: false,
  stopGracePeriodMs: 10_000,
  ...over,
});

const input = (over: Partial<OciSpecInput> = {}): OciSpecInput => ({
  container: container({ command: ['sh'] }),
  resources: { limits: {}, reservations: {} },
  image: {},
  rootfs: '/var/lib/tug/rootfs/t1',
  hostname: 'web-1',
  cgroupsPath: '/tug/n1/t1',
  initPath: '/usr/bin/tini-static',
  user: { uid: 0, gid: 0 },
  ...over,
});

const build = (over: Partial<OciSpecInput> = {}) => {
  const out = buildOciSpec(input(over));
  if (!out.ok) throw new Error(out.detail);
  return out.spec;
};

test('oci-spec: tini is PID 1, mounted read-only, and runs the command after --', (t) => {
  const spec = build({ container: container({ command: ['nginx'], args: ['-g', 'x'] }) });
  t.deepEqual(spec.process.args, [INIT_PATH_IN_CONTAINER, '--', 'nginx', '-g', 'x']);
  const init = spec.mounts.find((m) => m.destination === INIT_PATH_IN_CONTAINER);
  t.is(init?.source, '/usr/bin/tini-static');
  t.true(init?.options.includes('ro'));
  t.false(spec.process.terminal);
});

test('oci-spec: Docker default capabilities, masked and read-only paths, standard mounts', (t) => {
  const spec = build();
  t.is(DEFAULT_CAPABILITIES.length, 14);
  t.true(DEFAULT_CAPABILITIES.includes('CAP_NET_RAW'));
  t.false(DEFAULT_CAPABILITIES.includes('CAP_SYS_ADMIN'));
  for (const set of ['bounding', 'effective', 'permitted'] as const)
    t.deepEqual(spec.process.capabilities[set], DEFAULT_CAPABILITIES);
  t.deepEqual(spec.linux.maskedPaths, MASKED_PATHS);
  t.deepEqual(spec.linux.readonlyPaths, READONLY_PATHS);
  const dests = spec.mounts.map((m) => m.destination);
  for (const d of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys'])
    t.true(dests.includes(d), d);
  t.deepEqual(spec.linux.resources.devices, [{ allow: false, access: 'rwm' }]);
});

test('oci-spec: namespaces — new netns without a path, joined netns with one, user ns as an option', (t) => {
  const types = (s: ReturnType<typeof build>) => s.linux.namespaces.map((n) => n.type).sort();
  const fresh = build();
  t.deepEqual(types(fresh), ['ipc', 'mount', 'network', 'pid', 'uts']);
  t.is(fresh.linux.namespaces.find((n) => n.type === 'network')?.path, undefined);
  t.is(fresh.linux.uidMappings, undefined);
  const joined = build({
    netnsPath: '/run/netns/t1',
    userNamespace: { hostUid: 100_000, hostGid: 100_000, size: 65_536 },
  });
  t.is(joined.linux.namespaces.find((n) => n.type === 'network')?.path, '/run/netns/t1');
  t.deepEqual(types(joined), ['ipc', 'mount', 'network', 'pid', 'user', 'uts']);
  t.deepEqual(joined.linux.uidMappings, [{ containerID: 0, hostID: 100_000, size: 65_536 }]);
  // A joined netns is the host user namespace's: sysfs cannot be mounted, so /sys is bound.
  t.is(joined.mounts.find((m) => m.destination === '/sys')?.type, 'none');
  t.is(fresh.mounts.find((m) => m.destination === '/sys')?.type, 'sysfs');
});

test('oci-spec: resources map to memory (no extra swap), CFS quota, shares and pids', (t) => {
  const spec = build({
    resources: {
      limits: { memoryBytes: 16 << 20, cpus: 1.5, pids: 64 },
      reservations: { cpus: 0.5 },
    },
  });
  t.deepEqual(spec.linux.resources.memory, { limit: 16 << 20, swap: 16 << 20 });
  t.deepEqual(spec.linux.resources.cpu, { quota: 150_000, period: CPU_PERIOD_US, shares: 512 });
  t.deepEqual(spec.linux.resources.pids, { limit: 64 });
  const none = build();
  t.is(none.linux.resources.memory, undefined);
  t.is(none.linux.resources.cpu, undefined);
  t.is(none.linux.resources.pids, undefined);
});

test('oci-spec: hostname, cwd, read-only root, cgroupsPath and binds come through', (t) => {
  const spec = build({
    container: container({ command: ['x'], workdir: '/app', readOnlyRootfs: true }),
    binds: [{ source: '/srv/data', destination: '/data', readOnly: true }],
  });
  t.is(spec.hostname, 'web-1');
  t.is(spec.process.cwd, '/app');
  t.deepEqual(spec.root, { path: '/var/lib/tug/rootfs/t1', readonly: true });
  t.is(spec.linux.cgroupsPath, '/tug/n1/t1');
  const bind = spec.mounts.find((m) => m.destination === '/data');
  t.deepEqual(bind?.options, ['rbind', 'rprivate', 'ro']);
  t.is(build({ image: { workingDir: '/img' } }).process.cwd, '/img');
  t.is(build().process.cwd, '/');
});

test('oci-spec: refuses a container with no command and relative paths', (t) => {
  t.like(buildOciSpec(input({ container: container() })), { ok: false, reason: 'no-command' });
  t.like(buildOciSpec(input({ container: container({ command: ['x'], workdir: 'app' }) })), {
    ok: false,
    reason: 'bad-path',
  });
  t.like(buildOciSpec(input({ cgroupsPath: '/tug/../etc' })), { ok: false, reason: 'bad-path' });
});

const word = fc.stringMatching(/^[a-z]{1,6}$/);
const words = fc.array(word, { maxLength: 3 });

test('oci-spec: args follow Docker — command replaces entrypoint and drops the image cmd', (t) => {
  fc.assert(
    fc.property(
      fc.option(words, { nil: undefined }),
      fc.option(words, { nil: undefined }),
      fc.option(words, { nil: undefined }),
      fc.option(words, { nil: undefined }),
      (command, args, entrypoint, cmd) => {
        const c = container({
          ...(command === undefined ? {} : { command }),
          ...(args === undefined ? {} : { args }),
        });
        const image = {
          ...(entrypoint === undefined ? {} : { entrypoint }),
          ...(cmd === undefined ? {} : { cmd }),
        };
        const expected =
          command !== undefined
            ? [...command, ...(args ?? [])]
            : [...(entrypoint ?? []), ...(args ?? cmd ?? [])];
        t.deepEqual(resolveArgs(c, image), expected);
      },
    ),
  );
});

test('oci-spec: env — spec wins over image, every key once, PATH always set', (t) => {
  const kv = fc.dictionary(fc.stringMatching(/^[A-Z]{1,4}$/), word, { maxKeys: 5 });
  fc.assert(
    fc.property(kv, kv, (imageEnv, specEnv) => {
      const env = resolveEnv(
        container({ env: specEnv }),
        { env: Object.entries(imageEnv).map(([k, v]) => `${k}=${v}`) },
        'h',
      );
      const keys = env.map((e) => e.slice(0, e.indexOf('=')));
      t.is(new Set(keys).size, keys.length);
      t.true(keys.includes('PATH'));
      const got = new Map(
        env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
      );
      for (const [k, v] of Object.entries(specEnv)) t.is(got.get(k), v);
      for (const [k, v] of Object.entries(imageEnv)) if (!(k in specEnv)) t.is(got.get(k), v);
    }),
  );
});

test('oci-spec: resolveUser reads numbers, names and groups', (t) => {
  const passwd = 'root:x:0:0::/root:/bin/sh\nwww:x:33:34::/var/www:/bin/false\n';
  const group = 'root:x:0:\nstaff:x:50:\n';
  t.deepEqual(resolveUser(undefined, passwd, group), { uid: 0, gid: 0 });
  t.deepEqual(resolveUser('www', passwd, group), { uid: 33, gid: 34 });
  t.deepEqual(resolveUser('www:staff', passwd, group), { uid: 33, gid: 50 });
  t.deepEqual(resolveUser('1000:1000', passwd, group), { uid: 1000, gid: 1000 });
  t.deepEqual(resolveUser('33', passwd, group), { uid: 33, gid: 34 });
  t.is(resolveUser('nobody', passwd, group), undefined);
  t.is(resolveUser('www:nogroup', passwd, group), undefined);
});

test('oci-spec: overlay — the runtime mounts the layers at / before anything else; never with a user namespace', (t) => {
  const overlay = { lowerDirs: ['/l/2', '/l/1'], upperDir: '/t/upper', workDir: '/t/work' };
  const spec = build({ overlay });
  t.deepEqual(spec.mounts[0], {
    destination: '/',
    type: 'overlay',
    source: 'overlay',
    options: ['lowerdir=/l/2:/l/1,upperdir=/t/upper,workdir=/t/work'],
  });
  t.is(spec.mounts.filter((m) => m.destination === '/').length, 1);
  t.is(spec.root.path, '/var/lib/tug/rootfs/t1');
  t.false(build().mounts.some((m) => m.destination === '/'));
  const userns = buildOciSpec(
    input({ overlay, userNamespace: { hostUid: 100_000, hostGid: 100_000, size: 65_536 } }),
  );
  t.false(userns.ok);
  for (const bad of ['relative/l', '/with,comma', '/with:colon']) {
    const out = buildOciSpec(input({ overlay: { ...overlay, lowerDirs: [bad] } }));
    t.false(out.ok, bad);
  }
});
