// A seeded pseudo-random source for load generation, so a run's key sequence can be reproduced.
// mulberry32: 32-bit state, fast, good enough to spread keys; not for anything cryptographic.

export type Random = () => number;

/** Returns a function yielding uniform numbers in [0, 1) determined by `seed`. */
export function seededRandom(seed: number): Random {
  if (!Number.isSafeInteger(seed))
    throw new RangeError(`seed must be an integer, got ${String(seed)}`);
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random() * n);
}
