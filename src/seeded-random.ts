/**
 * mulberry32: a tiny, fast, seedable PRNG (2^32 period) returning uniform floats in [0, 1). The one generator
 * behind benchmark workloads and test cases, so every random input can be replayed from its seed.
 *
 * @example
 * const random = seededRandom(42);
 * random(); // the same first value on every run and in every runtime
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
