import { createServer } from 'node:net';

import test from 'ava';

import { freePorts } from './ports.js';

test('ports: returns distinct ports that can be bound right away', async (t) => {
  const ports = await freePorts(6);
  t.is(ports.length, 6);
  t.is(new Set(ports).size, 6);
  for (const port of ports) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
  }
  t.deepEqual(await freePorts(0), []);
  await t.throwsAsync(freePorts(-1), { message: /count must be a non-negative integer/ });
});
