// Writes the small tar archive that turns OCI whiteouts into overlayfs ones: a character device
// 0:0 for each deleted path and the `trusted.overlay.opaque=y` xattr for each opaque directory.
// Node can make neither a device node nor an xattr, GNU tar can make both, so we describe them as
// an archive (PAX headers carry the long names and the xattr) and let tar extract it.

export type OverlayEntry =
  | { readonly type: 'whiteout'; readonly path: string }
  | {
      readonly type: 'opaque';
      readonly path: string;
      readonly mode: number;
      readonly uid: number;
      readonly gid: number;
      readonly mtimeSec: number;
    };

const BLOCK = 512;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(
  name: string,
  type: string,
  size: number,
  mode: number,
  uid: number,
  gid: number,
  mtime: number,
): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name.slice(0, 99), 0, 'utf8');
  h.write(octal(mode & 0o7777, 8), 100);
  h.write(octal(uid, 8), 108);
  h.write(octal(gid, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(mtime, 12), 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.write(octal(0, 8), 329);
  h.write(octal(0, 8), 337);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148);
  return h;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + Buffer.byteLength(body) !== len)
    len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

const pad = (n: number): Buffer => Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);

/** The archive, paths relative to the layer root (no leading slash). */
export function overlayTar(entries: readonly OverlayEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    let pax = paxRecord('path', e.path);
    if (e.type === 'opaque') pax += paxRecord('SCHILY.xattr.trusted.overlay.opaque', 'y');
    const paxBytes = Buffer.from(pax, 'utf8');
    parts.push(
      header('PaxHeader', 'x', paxBytes.length, 0o644, 0, 0, 0),
      paxBytes,
      pad(paxBytes.length),
    );
    if (e.type === 'whiteout') parts.push(header(e.path, '3', 0, 0, 0, 0, 0));
    else parts.push(header(e.path, '5', 0, e.mode, e.uid, e.gid, e.mtimeSec));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}
