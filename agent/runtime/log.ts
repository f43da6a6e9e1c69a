// Reading a container's log as conmon writes it (the CRI "k8s-file" format): one line per record,
// `<RFC 3339 nano time> <stdout|stderr> <F|P> <text>`, where P marks a partial line continued by the
// next record. Rotation by size is conmon's (`--log-size-max`, which truncates); keeping rotated
// generations is a later step.

export interface LogRecord {
  readonly time: string;
  readonly stream: 'stdout' | 'stderr';
  /** False when the line was split (conmon's buffer filled); the next record continues it. */
  readonly full: boolean;
  readonly text: string;
}

/** Parses one line; undefined for anything that is not a record. Pure. */
export function parseLogLine(line: string): LogRecord | undefined {
  const m = /^(\S+) (stdout|stderr) ([FP]) ?(.*)$/.exec(line);
  if (m === null) return undefined;
  return {
    time: m[1]!,
    stream: m[2] as 'stdout' | 'stderr',
    full: m[3] === 'F',
    text: m[4] ?? '',
  };
}

/** Whole lines of output, partial records joined. Pure. */
export function logLines(text: string): { stream: 'stdout' | 'stderr'; text: string }[] {
  const out: { stream: 'stdout' | 'stderr'; text: string }[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const r = parseLogLine(raw);
    if (r === undefined) continue;
    pending += r.text;
    if (r.full) {
      out.push({ stream: r.stream, text: pending });
      pending = '';
    }
  }
  return out;
}
