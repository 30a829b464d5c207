// Deterministic random sources for tests (never for keys outside a test). A policy's `random` option takes them.
import { createHash } from "node:crypto";

/** A random source that returns the given buffers in order and fails on anything unexpected (count or size). */
export function fixedRandom(values) {
  const queue = [...values];
  return (n) => {
    const v = queue.shift();
    if (!v || v.length !== n) throw new Error(`unexpected random request of ${n} bytes`);
    return v;
  };
}

/** SHA-256(`${seed}/${counter}`) blocks, cut to each request: the same seed gives the same bytes. */
export function seededRandom(seed) {
  let counter = 0;
  return (n) => {
    const out = Buffer.alloc(n);
    for (let off = 0; off < n; off += 32) {
      const block = createHash("sha256").update(`${seed}/${counter++}`).digest();
      block.copy(out, off, 0, Math.min(32, n - off));
    }
    return out;
  };
}

/** Bytes from a seeded number generator in [0, 1) (e.g. createPrng of tools/fault-proxy), one call a byte. */
export function randomFromPrng(rand) {
  return (n) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
}
