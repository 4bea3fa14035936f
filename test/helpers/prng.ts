/** Seeded test data shared by the ring tests (the plain-JS worker fixtures use test/fixtures/prng.mjs, the same functions). */

/** mulberry32: small seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Expected payload byte `i` of record `seq`; the first four bytes carry `seq` (little-endian) when they fit. */
export function byteAt(seq: number, i: number): number {
  if (i < 4) return (seq >>> (8 * i)) & 0xff;
  return (seq * 7 + i * 31 + (i >>> 8)) & 0xff;
}
