// How a registry host is reached, shared by the agent (pulls) and the manager (digest pinning):
// which hosts speak plain HTTP, and registry mirrors given as `REGISTRY=MIRROR` flags.

const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/;

/** Loopback registries are assumed to speak plain HTTP (a local test or cache registry). */
export const isLoopbackRegistry = (registry: string): boolean => LOOPBACK.test(registry);

export type ParseMirrorsResult =
  | { readonly ok: true; readonly mirrors: ReadonlyMap<string, string> }
  | { readonly ok: false; readonly reason: string };

/**
 * `--registry-mirror` values, `REGISTRY=MIRROR` (host[:port] each): requests for images of
 * REGISTRY go to MIRROR, with the same repository path.
 */
export function parseRegistryMirrors(values: readonly string[]): ParseMirrorsResult {
  const mirrors = new Map<string, string>();
  const hostPort = /^[^\s/=@]+$/;
  for (const m of values) {
    const [from, to, ...rest] = m.split('=').map((s) => s.trim());
    if (
      from === undefined ||
      to === undefined ||
      rest.length > 0 ||
      !hostPort.test(from) ||
      !hostPort.test(to)
    ) {
      return {
        ok: false,
        reason: `--registry-mirror ${m}: expected REGISTRY=MIRROR (host:port each)`,
      };
    }
    if (mirrors.has(from)) return { ok: false, reason: `--registry-mirror: ${from} given twice` };
    mirrors.set(from, to);
  }
  return { ok: true, mirrors };
}
