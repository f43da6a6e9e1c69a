import test from 'ava';

import { main as tug } from '../cli/main.js';
import { agentOptions, AgentUsageError } from './main.js';

test('agent main: flags become options; bad ones are usage errors', (t) => {
  t.like(
    agentOptions({
      manager: '127.0.0.1:1, 127.0.0.1:2',
      'state-dir': '/tmp/x',
      label: ['zone=a', 'rack=r=1'],
      'insecure-registry': ['reg:5000'],
    }),
    {
      managers: ['127.0.0.1:1', '127.0.0.1:2'],
      stateDir: '/tmp/x',
      labels: { zone: 'a', rack: 'r=1' },
      runtime: 'runc',
      insecureRegistries: ['reg:5000'],
    },
  );
  t.throws(() => agentOptions({ 'state-dir': '/tmp/x' }), { instanceOf: AgentUsageError });
  t.throws(() => agentOptions({ manager: 'h:1' }), { message: /--state-dir/ });
  t.throws(() => agentOptions({ manager: 'h:1', 'state-dir': 'd', label: ['novalue'] }), {
    message: /KEY=VALUE/,
  });
  t.throws(() => agentOptions({ manager: 'h:1', 'state-dir': 'd', runtime: 'docker' }), {
    message: /runc or crun/,
  });
});

test('agent main: tug agent without --state-dir is a usage error (exit 2)', async (t) => {
  let err = '';
  const code = await tug(['agent', '--manager', '127.0.0.1:1'], {
    stdout: { write: () => true },
    stderr: {
      write: (s: string) => {
        err += s;
        return true;
      },
    },
    stdin: (async function* () {})(),
    env: {},
  });
  t.is(code, 2);
  t.regex(err, /--state-dir is required/);
});

test('agent main: --registry-mirror REGISTRY=MIRROR becomes registryMirrors; malformed ones are usage errors', (t) => {
  const base = { manager: 'h:1', 'state-dir': 'd' };
  t.deepEqual(
    agentOptions({ ...base, 'registry-mirror': ['registry.local:5000=127.0.0.1:4000'] })
      .registryMirrors,
    new Map([['registry.local:5000', '127.0.0.1:4000']]),
  );
  t.is(agentOptions(base).registryMirrors, undefined);
  for (const bad of ['registry.local:5000', 'a=b=c', '=127.0.0.1:1', 'a=http://b:1']) {
    t.throws(() => agentOptions({ ...base, 'registry-mirror': [bad] }), {
      instanceOf: AgentUsageError,
      message: /--registry-mirror/,
    });
  }
  t.throws(() => agentOptions({ ...base, 'registry-mirror': ['a:1=b:1', 'a:1=c:1'] }), {
    message: /given twice/,
  });
});
