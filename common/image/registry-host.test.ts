import test from 'ava';
import { isLoopbackRegistry, parseRegistryMirrors } from './registry-host.js';

test('parseRegistryMirrors: REGISTRY=MIRROR pairs, each registry once', (t) => {
  const ok = parseRegistryMirrors(['registry.local:5000=127.0.0.1:5001', 'a.io = b.io:1']);
  t.true(ok.ok);
  if (ok.ok)
    t.deepEqual(
      [...ok.mirrors],
      [
        ['registry.local:5000', '127.0.0.1:5001'],
        ['a.io', 'b.io:1'],
      ],
    );
  t.false(parseRegistryMirrors(['a.io']).ok);
  t.false(parseRegistryMirrors(['a.io=b=c']).ok);
  t.false(parseRegistryMirrors(['a.io=http://b']).ok);
  t.false(parseRegistryMirrors(['a.io=b', 'a.io=c']).ok);
});

test('isLoopbackRegistry: loopback hosts only', (t) => {
  for (const h of ['localhost', '127.0.0.1:5000', '[::1]:5000']) t.true(isLoopbackRegistry(h), h);
  for (const h of ['registry.local:5000', '10.0.0.1', 'localhost.io'])
    t.false(isLoopbackRegistry(h), h);
});
