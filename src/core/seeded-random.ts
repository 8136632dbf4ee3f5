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

/**
 * murmur3's 32-bit finaliser: avalanches every input bit into every output bit. Turns structured integers
 * (hash accumulators, seed combinations) into well-spread seeds and hash values. Unsigned 32-bit.
 *
 * @example
 * fmix32(1) !== fmix32(2); // and the two differ in about half their bits
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
