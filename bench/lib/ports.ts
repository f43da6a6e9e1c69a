// Free loopback ports for the processes a benchmark starts. The kernel picks them (bind to port 0);
// all sockets are held open until every port is chosen so the ports are distinct, then released.
// Another process could take one before ours binds it; startup then fails loudly, never silently.

import { createServer, type Server } from 'node:net';

function listenOnAnyPort(host: string): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected listen address ${String(address)} on ${host}`));
        return;
      }
      resolve({ server, port: address.port });
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}

/** Returns `count` distinct ports that were free on `host` a moment ago. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`freePorts: count must be a non-negative integer, got ${String(count)}`);
  }
  const held: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const { server, port } = await listenOnAnyPort(host);
      held.push(server);
      ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(held.map(close));
  }
}
