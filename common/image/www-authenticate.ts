// Parses a WWW-Authenticate challenge (RFC 7235): `Bearer realm="…",service="…",scope="…"` or
// `Basic realm="…"`. Pure; the token flow that uses it lives in registry-client.ts.

export interface Challenge {
  /** Lower-cased: "bearer", "basic", … */
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

const PARAM = /\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)/y;

/** The first challenge in `header`, or undefined when it has no scheme. */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?:\s+|$)/.exec(header);
  if (m === null) return undefined;
  const params: Record<string, string> = {};
  PARAM.lastIndex = m[0].length;
  for (;;) {
    const start = PARAM.lastIndex;
    if (start >= header.length) break;
    const p = PARAM.exec(header);
    if (p === null) break;
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
    if (PARAM.lastIndex === start) break;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}
