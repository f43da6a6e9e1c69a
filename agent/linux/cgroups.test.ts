import test from 'ava';

import { cgroupDirs, parseCgroupMounts, parseFlatKeyed, parseLimit } from './cgroups.js';

const hybrid = `
30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
35 30 0:31 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
36 30 0:32 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
`;

test('cgroups: parses a hybrid layout, co-mounted controllers share one directory', (t) => {
  const l = parseCgroupMounts(hybrid);
  t.is(l.mode, 'hybrid');
  t.is(l.unified, '/sys/fs/cgroup/unified');
  t.is(l.v1.get('memory'), '/sys/fs/cgroup/memory');
  t.is(l.v1.get('name=systemd'), '/sys/fs/cgroup/systemd');
  t.is(l.v1.get('net_prio'), '/sys/fs/cgroup/net_cls,net_prio');
  t.false(l.v1.has('xattr'));
  t.deepEqual(cgroupDirs(l, '/tug/n1/t1'), [
    '/sys/fs/cgroup/cpu/tug/n1/t1',
    '/sys/fs/cgroup/cpuacct/tug/n1/t1',
    '/sys/fs/cgroup/memory/tug/n1/t1',
    '/sys/fs/cgroup/net_cls,net_prio/tug/n1/t1',
    '/sys/fs/cgroup/systemd/tug/n1/t1',
    '/sys/fs/cgroup/unified/tug/n1/t1',
  ]);
});

test('cgroups: a pure v2 host and a pure v1 host', (t) => {
  const v2 = parseCgroupMounts('31 25 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n');
  t.is(v2.mode, 'v2');
  t.deepEqual(cgroupDirs(v2, '/tug/x'), ['/sys/fs/cgroup/tug/x']);
  const v1 = parseCgroupMounts('34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n');
  t.is(v1.mode, 'v1');
  t.is(v1.unified, undefined);
});

test('cgroups: flat keyed files and limits parse, unlimited is undefined', (t) => {
  const oom = parseFlatKeyed('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
  t.is(oom.get('oom_kill'), 2);
  t.is(parseLimit('max\n'), undefined);
  t.is(parseLimit('9223372036854771712\n'), undefined);
  t.is(parseLimit('16777216\n'), 16777216);
});
