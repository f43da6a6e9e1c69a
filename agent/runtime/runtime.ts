// Runs containers from generated bundles through an OCI runtime (runc, or crun), each under its own
// `conmon` monitor. Owns tug's runtime state directory:
//
//   <stateDir>/root/               the runtime's --root: only tug's containers are listed there
//   <stateDir>/exits/<id>          conmon's exit file (exit code as text)
//   <stateDir>/containers/<id>/    bundle (config.json), meta.json, pidfiles, the monitor's own log,
//                                  and conmon's persist dir files `exit` and `oom`
//   <stateDir>/containers/<id>/exec-<pid>-<n>/   one exec (health check) under way: its process
//                                  spec, pid, output log; removed when it ends
//
// conmon is the container's parent (a child subreaper that daemonizes), so the container, its log and
// its exit code outlive the agent; a new ContainerRuntime on the same stateDir re-adopts them with
// list(). Nothing here keeps in-memory state that a restart would lose.

import { execFile, spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { chmod, mkdir, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { readCgroupStats, removeCgroup } from '../linux/cgroups.js';
import type { CgroupLayout, CgroupStats } from '../linux/cgroups.js';
import { RuntimeError, RuntimeErrorCode } from './errors.js';
import { logLines } from './log.js';
import type { OciSpec } from './oci-spec.js';

export const RuntimeKind = { Runc: 'runc', Crun: 'crun' } as const;
export type RuntimeKind = (typeof RuntimeKind)[keyof typeof RuntimeKind];

export const ContainerStatus = {
  Created: 'created',
  Running: 'running',
  Paused: 'paused',
  Stopped: 'stopped',
} as const;
export type ContainerStatus = (typeof ContainerStatus)[keyof typeof ContainerStatus];

export interface ContainerRuntimeOptions {
  readonly stateDir: string;
  readonly cgroups: CgroupLayout;
  /** Default runc. */
  readonly kind?: RuntimeKind;
  /** Binary of the OCI runtime; default `/usr/sbin/runc` or `/usr/bin/crun`. */
  readonly runtimePath?: string;
  readonly conmonPath?: string;
  /** conmon truncates a container's log past this size; undefined = unlimited. */
  readonly logSizeMaxBytes?: number;
  /** Bound on each runtime command and on waiting for the monitor (default 15 s). */
  readonly commandTimeoutMs?: number;
}

export interface CreateOptions {
  /** Where the container's output goes, in conmon's k8s-file format; default in its state dir. */
  readonly logPath?: string;
}

export interface ContainerInfo {
  readonly id: string;
  readonly status: ContainerStatus;
  /** The container's init (tini) as the host sees it; absent once stopped. */
  readonly pid?: number;
  readonly cgroupsPath: string;
  readonly logPath: string;
}

export interface ExecOptions {
  /** Bound on the process; past it the process group is killed and `exec` throws `timeout`. */
  readonly timeoutMs: number;
  /** Output kept (the first bytes; the rest is dropped). Default 4096, as Docker's health log. */
  readonly maxOutputBytes?: number;
}

export interface ExecResult {
  /** The process's exit code, 128 + signal if it was killed, or the runtime's own failure code. */
  readonly exitCode: number;
  /** stdout and stderr interleaved (the runtime's error, if it could not start the process). */
  readonly output: string;
}

export interface ExitStatus {
  /** As conmon reports it: the init's exit code, or 128 + signal if it was killed. */
  readonly exitCode: number;
  /** The kernel's OOM killer killed a process of the container. */
  readonly oomKilled: boolean;
}

interface Meta {
  readonly id: string;
  readonly cgroupsPath: string;
  readonly logPath: string;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const POLL_MS = 20;

export class ContainerRuntime {
  readonly kind: RuntimeKind;
  readonly #stateDir: string;
  readonly #cgroups: CgroupLayout;
  readonly #runtimePath: string;
  readonly #conmonPath: string;
  readonly #logSizeMax: number | undefined;
  readonly #timeoutMs: number;
  #prepared: Promise<string> | undefined;
  #execSeq = 0;

  constructor(options: ContainerRuntimeOptions) {
    this.kind = options.kind ?? RuntimeKind.Runc;
    this.#stateDir = options.stateDir;
    this.#cgroups = options.cgroups;
    this.#runtimePath =
      options.runtimePath ?? (this.kind === RuntimeKind.Runc ? '/usr/sbin/runc' : '/usr/bin/crun');
    this.#conmonPath = options.conmonPath ?? 'conmon';
    this.#logSizeMax = options.logSizeMaxBytes;
    this.#timeoutMs = options.commandTimeoutMs ?? 15_000;
  }

  get #root(): string {
    return path.join(this.#stateDir, 'root');
  }
  get #exits(): string {
    return path.join(this.#stateDir, 'exits');
  }
  #dir(id: string): string {
    return path.join(this.#stateDir, 'containers', id);
  }

  /**
   * The executable conmon and we invoke. crun 1.8 refuses hybrid cgroups; in a private mount
   * namespace without the cgroup2 mount it sees a plain v1 host, so on hybrid hosts crun runs
   * through a wrapper that does exactly that (each invocation; the container's own mount namespace
   * is created from that private one, so nothing leaks to the host).
   */
  #runtimeBinary(): Promise<string> {
    this.#prepared ??= (async () => {
      await mkdir(this.#root, { recursive: true });
      await mkdir(this.#exits, { recursive: true });
      await mkdir(path.join(this.#stateDir, 'containers'), { recursive: true });
      await mkdir(path.join(this.#stateDir, 'sockets'), { recursive: true });
      if (this.kind !== RuntimeKind.Crun || this.#cgroups.mode !== 'hybrid')
        return this.#runtimePath;
      const unified = this.#cgroups.unified ?? '/sys/fs/cgroup/unified';
      const wrapper = path.join(this.#stateDir, 'crun-v1');
      const script =
        '#!/bin/sh\n' +
        '# Generated by tug: crun 1.8 refuses hybrid cgroups; hide the cgroup2 mount from it.\n' +
        `exec unshare --mount --propagation private /bin/sh -c 'umount ${shq(unified)} && exec "$0" "$@"' ${shq(this.#runtimePath)} "$@"\n`;
      await writeFile(wrapper, script);
      await chmod(wrapper, 0o755);
      return wrapper;
    })();
    return this.#prepared;
  }

  async #runtime(id: string, args: readonly string[]): Promise<string> {
    const bin = await this.#runtimeBinary();
    return new Promise((resolve, reject) => {
      execFile(
        bin,
        ['--root', this.#root, ...args],
        { timeout: this.#timeoutMs },
        (err, stdout, stderr) => {
          if (err === null) resolve(stdout);
          else
            reject(
              new RuntimeError(
                RuntimeErrorCode.CommandFailed,
                id,
                `${this.kind} ${args[0] ?? ''}: ${stderr.trim() || err.message}`,
                { cause: err },
              ),
            );
        },
      );
    });
  }

  /** Writes the bundle and starts the container's monitor, which runs `<runtime> create`. */
  async create(id: string, spec: OciSpec, options: CreateOptions = {}): Promise<ContainerInfo> {
    if (!ID_RE.test(id))
      throw new RuntimeError(RuntimeErrorCode.BadSpec, id, 'invalid container id');
    const bin = await this.#runtimeBinary();
    const dir = this.#dir(id);
    await mkdir(dir, { recursive: true });
    const logPath = options.logPath ?? path.join(dir, 'ctr.log');
    const meta: Meta = { id, cgroupsPath: spec.linux.cgroupsPath, logPath };
    await Promise.all([
      writeFile(path.join(dir, 'meta.json'), JSON.stringify(meta)),
      writeFile(path.join(dir, 'config.json'), JSON.stringify(spec)),
    ]);

    const args = [
      '--api-version', '1',
      '-c', id,
      '-u', id,
      '-n', id,
      '-r', bin,
      '-b', dir,
      '-p', path.join(dir, 'pid'),
      '--conmon-pidfile', path.join(dir, 'conmon.pid'),
      '-l', `k8s-file:${logPath}`,
      '--exit-dir', this.#exits,
      '--persist-dir', dir,
      '--socket-dir-path', path.join(this.#stateDir, 'sockets'),
      '--runtime-arg', '--root',
      '--runtime-arg', this.#root,
      ...(this.#logSizeMax === undefined ? [] : ['--log-size-max', String(this.#logSizeMax)]),
    ]; // prettier-ignore
    // The daemonized conmon keeps whatever fds it gets: give it a file, never a pipe we wait on.
    // The sync pipe (fd 3) is the exception: conmon writes one JSON line to it and we stop reading.
    const monitorLog = await open(path.join(dir, 'conmon.log'), 'a');
    try {
      const child = spawn(this.#conmonPath, args, {
        stdio: ['ignore', monitorLog.fd, monitorLog.fd, 'pipe'],
        env: { ...process.env, _OCI_SYNCPIPE: '3' },
        // conmon 2.1.6 also drops an `oom` marker in its working directory: keep it in ours.
        cwd: dir,
        detached: true,
      });
      const sync = child.stdio[3];
      if (sync === null || sync === undefined) throw new Error('no sync pipe');
      const reply = await new Promise<{ data: number; message?: string }>((resolve, reject) => {
        let buf = '';
        const timer = setTimeout(() => {
          reject(new RuntimeError(RuntimeErrorCode.Timeout, id, 'conmon did not answer'));
        }, this.#timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          sync.destroy();
        };
        sync.on('data', (chunk: Buffer) => {
          buf += chunk.toString('utf8');
          const nl = buf.indexOf('\n');
          if (nl < 0) return;
          done();
          try {
            resolve(JSON.parse(buf.slice(0, nl)) as { data: number; message?: string });
          } catch (err) {
            reject(
              new RuntimeError(RuntimeErrorCode.CreateFailed, id, `bad reply from conmon: ${buf}`, {
                cause: err,
              }),
            );
          }
        });
        sync.on('close', () => {
          done();
          reject(
            new RuntimeError(RuntimeErrorCode.CreateFailed, id, 'conmon exited without answering'),
          );
        });
        child.on('error', (err) => {
          done();
          reject(
            new RuntimeError(RuntimeErrorCode.CreateFailed, id, 'cannot run conmon', {
              cause: err,
            }),
          );
        });
      });
      child.unref();
      if (reply.data < 0)
        throw new RuntimeError(
          RuntimeErrorCode.CreateFailed,
          id,
          reply.message ?? 'runtime create failed',
        );
      return {
        id,
        status: ContainerStatus.Created,
        pid: reply.data,
        cgroupsPath: meta.cgroupsPath,
        logPath,
      };
    } catch (err) {
      // A failed create leaves the runtime's state and cgroups behind: take them away now. The
      // create's error is the one to report; a failed clean-up rides along as its cause.
      const cleanup = await this.remove(id).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (cleanup !== undefined)
        throw new RuntimeError(
          RuntimeErrorCode.CreateFailed,
          id,
          `create failed and clean-up failed too: ${String(err)}`,
          { cause: cleanup },
        );
      if (!(err instanceof RuntimeError)) throw err;
      const said = (await readOptional(path.join(dir, 'conmon.log')))?.trim().slice(-2000) ?? '';
      throw new RuntimeError(
        err.code,
        id,
        `${err.message.replace(/^container \S+: /, '')}${said === '' ? '' : `; conmon: ${said}`}`,
        { cause: err },
      );
    } finally {
      await monitorLog.close();
    }
  }

  async start(id: string): Promise<void> {
    if (this.kind === RuntimeKind.Runc && (await this.#releaseInit(id))) return;
    await this.#runtime(id, ['start', id]);
  }

  /**
   * What `runc start` does, without a runc process (≈ 10–15 ms of every start here): after
   * `runc create` the container's init waits to write one byte into `<root>/<id>/exec.fifo`;
   * reading it lets the init exec the container's process (its end closes on exec: EOF), and a
   * container whose fifo is gone is `running` to runc. Opened non-blocking and polled, so an init
   * that died never blocks a thread. False when there is no fifo (not runc's layout): the caller
   * falls back to `runc start`.
   */
  async #releaseInit(id: string): Promise<boolean> {
    const fifo = path.join(this.#root, id, 'exec.fifo');
    let fh;
    try {
      fh = await open(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new RuntimeError(
        RuntimeErrorCode.CommandFailed,
        id,
        `opening exec.fifo: ${String(err)}`,
        {
          cause: err,
        },
      );
    }
    try {
      const pid = Number((await readOptional(path.join(this.#dir(id), 'pid')))?.trim());
      const deadline = performance.now() + this.#timeoutMs;
      const buf = Buffer.alloc(16);
      let got = 0;
      for (;;) {
        let n: number | undefined;
        try {
          n = (await fh.read(buf, 0, buf.length, null)).bytesRead;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        }
        if (n !== undefined && n > 0) {
          got += n;
          continue;
        }
        // EOF after the byte: the init has exec'd. EOF before it: the init has not opened its
        // end yet. EAGAIN: it has, but not written (or not exec'd) yet.
        if (n === 0 && got > 0) break;
        if (Number.isInteger(pid) && pid > 0 && !(await isLive(pid)))
          throw new RuntimeError(
            RuntimeErrorCode.CommandFailed,
            id,
            'container process is already dead',
          );
        if (performance.now() > deadline)
          throw new RuntimeError(RuntimeErrorCode.Timeout, id, 'the container did not start');
        await delay(1);
      }
    } finally {
      await fh.close();
    }
    await rm(fifo, { force: true });
    return true;
  }

  async #meta(id: string): Promise<Meta> {
    try {
      return JSON.parse(await readFile(path.join(this.#dir(id), 'meta.json'), 'utf8')) as Meta;
    } catch (err) {
      throw new RuntimeError(RuntimeErrorCode.NotFound, id, 'no such container', { cause: err });
    }
  }

  /** The container as the runtime sees it; `stopped` also when the runtime has forgotten it. */
  async state(id: string): Promise<ContainerInfo> {
    const meta = await this.#meta(id);
    const base = { id, cgroupsPath: meta.cgroupsPath, logPath: meta.logPath };
    try {
      const s = JSON.parse(await this.#runtime(id, ['state', id])) as {
        status: string;
        pid?: number;
      };
      const status = (Object.values(ContainerStatus) as string[]).includes(s.status)
        ? (s.status as ContainerStatus)
        : ContainerStatus.Stopped;
      return status !== ContainerStatus.Stopped && s.pid !== undefined && s.pid > 0
        ? { ...base, status, pid: s.pid }
        : { ...base, status };
    } catch (err) {
      if (err instanceof RuntimeError && err.code === RuntimeErrorCode.CommandFailed)
        return { ...base, status: ContainerStatus.Stopped };
      throw err;
    }
  }

  /** Every container in tug's state directory: what an agent re-adopts after a restart. */
  async list(): Promise<ContainerInfo[]> {
    await this.#runtimeBinary();
    const ids = await readdir(path.join(this.#stateDir, 'containers'));
    const out: ContainerInfo[] = [];
    for (const id of ids.sort()) {
      try {
        out.push(await this.state(id));
      } catch (err) {
        // A directory without meta.json is a create that crashed half-way: remove() cleans it.
        if (!(err instanceof RuntimeError && err.code === RuntimeErrorCode.NotFound)) throw err;
      }
    }
    return out;
  }

  /** Undefined while the container has not exited. Read it before remove(). */
  async exitStatus(id: string): Promise<ExitStatus | undefined> {
    const dir = this.#dir(id);
    let text: string;
    try {
      text = await readFile(path.join(dir, 'exit'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const exitCode = Number(text.trim());
    // conmon writes `oom` when it saw the event; the cgroup counter catches a kill it missed
    // (e.g. one that happened while a previous conmon-less step held the cgroup).
    let oomKilled = await exists(path.join(dir, 'oom'));
    if (!oomKilled) {
      const meta = await this.#meta(id);
      const stats = await readCgroupStats(this.#cgroups, meta.cgroupsPath);
      oomKilled = (stats.oomKills ?? 0) > 0;
    }
    return { exitCode: Number.isFinite(exitCode) ? exitCode : -1, oomKilled };
  }

  async stats(id: string): Promise<CgroupStats> {
    const meta = await this.#meta(id);
    return readCgroupStats(this.#cgroups, meta.cgroupsPath);
  }

  async #waitExit(id: string, timeoutMs: number): Promise<ExitStatus | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const st = await this.exitStatus(id);
      if (st !== undefined || performance.now() >= deadline) return st;
      await delay(Math.min(POLL_MS, Math.max(1, deadline - performance.now())));
    }
  }

  /**
   * Runs `argv` inside the running container, as the container's own process would run (its
   * user, env, cwd, capabilities: the bundle's `process` with other args), and resolves with its
   * exit code and output. For health checks.
   *
   * Through conmon's exec mode (`conmon --exec --sync`, as Podman does), not a foreground
   * `runc exec`: runc copies a foreground process's output through pipes of its own and waits for
   * their EOF, so a check that leaves a background child holding its output (`daemon &`) would
   * hold runc, and us, until that child exits. conmon runs `runc exec -d`, is the process's
   * subreaper, answers its pid and then its exit code on the sync pipe, and returns when the
   * process itself exits; children it left in the container are not waited for (they belong to
   * the container's init from then on). The output comes from conmon's log file, never a pipe.
   *
   * Time-boxed: after `timeoutMs` the process's group inside the container is SIGKILLed (the
   * runtime makes the process a session leader, so that also takes what it forked and did not
   * detach) and so is conmon's group; `exec` then throws `RuntimeError('timeout')` once conmon is
   * gone (bounded by `commandTimeoutMs`).
   */
  async exec(id: string, argv: readonly string[], options: ExecOptions): Promise<ExecResult> {
    if (!ID_RE.test(id))
      throw new RuntimeError(RuntimeErrorCode.BadSpec, id, 'invalid container id');
    if (argv.length === 0) throw new RuntimeError(RuntimeErrorCode.BadSpec, id, 'empty command');
    const bin = await this.#runtimeBinary();
    const dir = this.#dir(id);
    let spec: OciSpec;
    try {
      spec = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as OciSpec;
    } catch (err) {
      throw new RuntimeError(RuntimeErrorCode.NotFound, id, 'no such container', { cause: err });
    }
    // Everything of one exec lives in its own directory, removed at the end.
    const execDir = path.join(dir, `exec-${process.pid}-${++this.#execSeq}`);
    await mkdir(execDir);
    const processFile = path.join(execDir, 'process.json');
    const pidFile = path.join(execDir, 'pid');
    const logFile = path.join(execDir, 'out.log');
    await writeFile(processFile, JSON.stringify({ ...spec.process, terminal: false, args: argv }));
    const args = [
      '--api-version', '1',
      '-c', id,
      '-u', path.basename(execDir),
      '-n', id,
      '-r', bin,
      '-b', dir,
      '-p', pidFile,
      '-l', `k8s-file:${logFile}`,
      '--exit-dir', execDir,
      '--persist-dir', execDir,
      '--socket-dir-path', path.join(this.#stateDir, 'sockets'),
      '-e', '--exec-process-spec', processFile,
      '--sync',
      '--runtime-arg', '--root',
      '--runtime-arg', this.#root,
    ]; // prettier-ignore
    const monitorLog = await open(path.join(execDir, 'conmon.log'), 'a');
    try {
      const child = spawn(this.#conmonPath, args, {
        stdio: ['ignore', monitorLog.fd, monitorLog.fd, 'pipe'],
        env: { ...process.env, _OCI_SYNCPIPE: '3' },
        cwd: execDir,
        detached: true,
      });
      const sync = child.stdio[3];
      if (sync === null || sync === undefined) throw new Error('no sync pipe');
      const messages: { data: number; message?: string }[] = [];
      let buf = '';
      sync.on('data', (chunk: Buffer) => {
        buf += chunk.toString('utf8');
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          try {
            messages.push(JSON.parse(buf.slice(0, nl)) as { data: number; message?: string });
          } catch {
            // not a message of the protocol: ignore
          }
          buf = buf.slice(nl + 1);
        }
      });
      const exited = new Promise<void>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', () => {
          resolve();
        });
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => {
          resolve('timeout');
        }, options.timeoutMs);
      });
      let first: 'timeout' | 'exited';
      try {
        first = await Promise.race([exited.then(() => 'exited' as const), timedOut]);
      } catch (err) {
        throw new RuntimeError(RuntimeErrorCode.CommandFailed, id, 'cannot run conmon', {
          cause: err,
        });
      } finally {
        clearTimeout(timer);
      }
      if (first === 'timeout') {
        // conmon has not reaped the process yet (it would have exited), so the pid is still it.
        const pid = Number((await readOptional(pidFile))?.trim());
        if (Number.isInteger(pid) && pid > 0) {
          signal(-pid, 'SIGKILL');
          signal(pid, 'SIGKILL');
        }
        if (child.pid !== undefined) signal(-child.pid, 'SIGKILL');
        const gone = await Promise.race([
          exited.then(() => true),
          delay(this.#timeoutMs).then(() => false),
        ]);
        throw new RuntimeError(
          RuntimeErrorCode.Timeout,
          id,
          `exec exceeded its timeout of ${options.timeoutMs} ms` +
            (gone ? '' : ` and conmon (pid ${child.pid ?? '?'}) did not exit`),
        );
      }
      sync.destroy();
      // First message: the process's pid (or -1 and the runtime's error); then its exit code.
      const started = messages[0];
      const ended = messages[1];
      const max = options.maxOutputBytes ?? 4096;
      if (started === undefined || started.data < 0 || ended === undefined) {
        const why =
          started?.message ??
          ended?.message ??
          ((await readOptional(path.join(execDir, 'conmon.log')))?.trim() || 'exec failed');
        return { exitCode: 126, output: cutUtf8(runtimeMessage(why), max) };
      }
      const text = logLines((await readOptional(logFile)) ?? '')
        .map((l) => `${l.text}\n`)
        .join('');
      return { exitCode: ended.data, output: cutUtf8(text, max) };
    } finally {
      await monitorLog.close();
      await rm(execDir, { recursive: true, force: true });
    }
  }

  /**
   * SIGTERM to the init (tini passes it to the app), SIGKILL after `graceMs`; resolves with the
   * exit status once conmon has recorded it.
   */
  async stop(id: string, graceMs: number): Promise<ExitStatus> {
    const done = await this.exitStatus(id);
    if (done !== undefined) return done;
    await this.#kill(id, 'TERM');
    const graceful = await this.#waitExit(id, graceMs);
    if (graceful !== undefined) return graceful;
    await this.#kill(id, 'KILL');
    const killed = await this.#waitExit(id, this.#timeoutMs);
    if (killed === undefined)
      throw new RuntimeError(RuntimeErrorCode.Timeout, id, 'no exit recorded after SIGKILL');
    return killed;
  }

  async #kill(id: string, signal: string): Promise<void> {
    try {
      await this.#runtime(id, ['kill', id, signal]);
    } catch (err) {
      // It may have exited between our check and the kill; the exit file will say so.
      if (!(err instanceof RuntimeError && err.code === RuntimeErrorCode.CommandFailed)) throw err;
    }
  }

  /**
   * Deletes the container (killing it if it still runs), waits for its monitor to finish, and
   * removes what the runtimes leave behind: the cgroup directories in every hierarchy, the state
   * directory and the exit file. Idempotent.
   */
  async remove(id: string): Promise<void> {
    if (!ID_RE.test(id))
      throw new RuntimeError(RuntimeErrorCode.BadSpec, id, 'invalid container id');
    const dir = this.#dir(id);
    let meta: Meta | undefined;
    try {
      meta = await this.#meta(id);
    } catch {
      meta = undefined;
    }
    if (await exists(path.join(this.#root, id))) await this.#runtime(id, ['delete', '--force', id]);
    const monitor = Number((await readOptional(path.join(dir, 'conmon.pid')))?.trim());
    if (Number.isInteger(monitor) && monitor > 0) {
      const deadline = performance.now() + this.#timeoutMs;
      while (await isLive(monitor)) {
        if (performance.now() > deadline)
          throw new RuntimeError(RuntimeErrorCode.Timeout, id, `monitor ${monitor} did not exit`);
        await delay(POLL_MS);
      }
    }
    if (meta !== undefined) await removeCgroup(this.#cgroups, meta.cgroupsPath, '');
    await rm(dir, { recursive: true, force: true });
    await rm(path.join(this.#exits, id), { force: true });
  }
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

async function exists(p: string): Promise<boolean> {
  try {
    const fh = await open(p, fsConstants.O_RDONLY);
    await fh.close();
    return true;
  } catch {
    return false;
  }
}

/** kill(2) that ignores a process already gone. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** The `msg` of a runtime's logfmt error line (`time=… level=error msg="…"`), else the text. */
function runtimeMessage(text: string): string {
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(text);
  if (m === null) return text.trim();
  try {
    return JSON.parse(`"${m[1] ?? ''}"`) as string;
  } catch {
    return m[1] ?? text.trim();
  }
}

/** The first `max` bytes of `s` as UTF-8 (a character cut at the end is dropped). */
function cutUtf8(s: string, max: number): string {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length <= max) return s;
  return new TextDecoder('utf-8', { fatal: false })
    .decode(bytes.subarray(0, max))
    .replace(/\uFFFD$/, '');
}

async function readOptional(p: string): Promise<string | undefined> {
  try {
    return await readFile(p, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` still runs. A zombie counts as gone: the daemonized conmon is re-parented to the
 * host's init, which may reap it late (or, in some sandboxes, never).
 */
async function isLive(pid: number): Promise<boolean> {
  const stat = await readOptional(`/proc/${pid}/stat`);
  if (stat === undefined) return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}
