// A real registry for tests and the demo: Debian's `docker-registry` (distribution 2.8) on a free
// loopback port, with its own config file and storage in a temporary directory; stopped by pid
// and its directory removed by `stop()`. Optionally fills it with the busybox test image by
// running scripts/build-test-image.sh.

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePorts } from '../../bench/lib/ports.js';
import { ManagedProcess } from '../../bench/lib/process.js';
import { waitFor } from '../../bench/lib/wait.js';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

/** scripts/build-test-image.sh, found from this file's place in build/ or the source tree. */
export const BUILD_TEST_IMAGE_SCRIPT = join(
  dirname(fileURLToPath(import.meta.url)).replace(/\/build\//, '/'),
  '..',
  '..',
  'scripts',
  'build-test-image.sh',
);

export interface TestRegistry {
  /** `127.0.0.1:<port>`, the host part of image references. */
  readonly host: string;
  readonly dir: string;
  readonly process: ManagedProcess;
  /** Kills the registry at once (SIGKILL), leaving its storage: for "registry went away" tests. */
  kill(): Promise<void>;
  /** Stops the registry and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  readonly timeoutMs?: number;
}

export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'tug-registry-'));
  try {
    const [port] = await freePorts(1);
    const host = `127.0.0.1:${port!}`;
    const config = join(dir, 'config.yml');
    await writeFile(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: warn',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(dir, 'data')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: ${host}`,
        '',
      ].join('\n'),
    );
    const { process: proc } = await ManagedProcess.start({
      name: 'docker-registry',
      command: REGISTRY_BINARY,
      args: ['serve', config],
      logFile: join(dir, 'registry.log'),
    });
    let stopped = false;
    const stop = async (): Promise<void> => {
      if (stopped) return;
      stopped = true;
      await proc.stop(2000);
      await rm(dir, { recursive: true, force: true });
    };
    try {
      await waitFor(
        async () => {
          if (!proc.running) throw new Error(`registry exited:\n${proc.logTail()}`);
          const res = await fetch(`http://${host}/v2/`);
          await res.body?.cancel();
          return res.status === 200;
        },
        {
          what: `docker-registry on ${host}`,
          timeoutMs: options.timeoutMs ?? 10_000,
          intervalMs: 50,
        },
      );
    } catch (err) {
      await stop();
      throw err;
    }
    return {
      host,
      dir,
      process: proc,
      kill: async () => {
        proc.kill('SIGKILL');
        await proc.exited;
      },
      stop,
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Runs scripts/build-test-image.sh against `host`: pushes `<host>/<repo>:latest` and `:httpd`,
 * and `:big` when `bigMb` is given.
 */
export function pushTestImage(
  host: string,
  opts: { repo?: string; bigMb?: number } = {},
): Promise<void> {
  const args = [BUILD_TEST_IMAGE_SCRIPT, host];
  if (opts.repo !== undefined) args.push('--repo', opts.repo);
  if (opts.bigMb !== undefined) args.push('--big-mb', String(opts.bigMb));
  return new Promise((resolve, reject) => {
    const child = spawn('bash', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr += s;
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`build-test-image.sh exited ${String(code)}: ${stderr.trim()}`));
    });
  });
}
