/** A random source that returns the given buffers in order and fails on anything unexpected (count or size). */
export function fixedRandom(values: readonly Uint8Array[]): (n: number) => Uint8Array;
/** SHA-256(`${seed}/${counter}`) blocks, cut to each request: the same seed gives the same bytes. */
export function seededRandom(seed: string): (n: number) => Uint8Array;
/** Bytes from a seeded number generator in [0, 1) (e.g. createPrng of tools/fault-proxy), one call a byte. */
export function randomFromPrng(rand: () => number): (n: number) => Uint8Array;
