// The pure choices of a reconnecting agent session: how long to wait before the next attempt
// (capped exponential backoff with jitter, so a thousand agents cut off by one leader change do
// not all knock on the next manager in the same millisecond) and which manager to try next.

export interface BackoffOptions {
  readonly baseMs: number;
  readonly maxMs: number;
}

export const defaultBackoff: BackoffOptions = { baseMs: 50, maxMs: 2000 };

/**
 * Delay before reconnect attempt `attempt` (0 = the first retry): `base · 2^attempt` capped at
 * `max`, then drawn uniformly from its upper half ("equal jitter": never near zero, so a failing
 * manager is not hammered, yet spread). `random` returns [0, 1).
 */
export const backoffMs = (attempt: number, random: () => number, o = defaultBackoff): number => {
  const ceiling = Math.min(o.maxMs, o.baseMs * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + (ceiling / 2) * random();
};

/**
 * The manager to try next: the leader a manager named (when there is one), else the one after
 * `last` in the list, so an agent cycles through all of them rather than retrying a dead one.
 */
export const nextManager = (
  managers: readonly string[],
  last: string,
  leaderHint: string,
): string | undefined => {
  if (leaderHint !== '') return leaderHint;
  if (managers.length === 0) return last === '' ? undefined : last;
  const i = managers.indexOf(last);
  return managers[(i + 1) % managers.length];
};
