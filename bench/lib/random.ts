// A seeded pseudo-random source for load generation, so a run's key sequence can be reproduced.

export type Random = () => number;

/** Uniform numbers in [0, 1) determined by `seed`: the same generator the Raft tests use. */
export { seededRandom } from '../../manager/raft/core/testing/network.js';

/** A uniform integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random() * n);
}
