// What machine a benchmark ran on, recorded next to its numbers: results from different machines
// or loads are not comparable, and the record says so.

import { execFile } from 'node:child_process';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface MachineInfo {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly memoryMiB: number;
  readonly kernel: string;
  readonly node: string;
  /** 1-minute load average when the run started: a busy machine makes every number worse. */
  readonly loadAverage1m: number;
  readonly date: string;
}

export function machineInfo(now: Date = new Date()): MachineInfo {
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryMiB: Math.round(totalmem() / 1024 / 1024),
    kernel: release(),
    node: process.version,
    loadAverage1m: loadavg()[0] ?? 0,
    date: now.toISOString(),
  };
}

/** Runs `command args` (e.g. `etcd --version`) and returns its first stdout line matching `pattern`. */
export async function toolVersion(
  command: string,
  args: readonly string[],
  pattern: RegExp,
  timeoutMs = 10_000,
): Promise<string> {
  const { stdout } = await execFileAsync(command, [...args], { timeout: timeoutMs });
  const match = pattern.exec(stdout);
  if (match === null)
    throw new Error(`${command} ${args.join(' ')}: no version matching ${pattern} in output`);
  return match[1] ?? match[0];
}
