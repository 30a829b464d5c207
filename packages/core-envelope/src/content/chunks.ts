// Crypto-free operations on streams of byte chunks, shared by the Node backend (content/streams.ts) and the web
// backend (web/content.ts). No Node built-in and no Buffer here: each backend passes its own chunk conversion.

/**
 * Drops `skip` bytes, then passes at most `take` bytes (all when undefined). Stops reading once done. Each chunk
 * goes through `asChunk` first (the Node backend's Buffer view and type check; the identity on the web), and the
 * pieces yielded are `subarray`s of its results, so of the same type.
 */
export async function* sliceChunks<T extends Uint8Array>(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, skip: number, take: number | undefined, asChunk: (chunk: Uint8Array) => T): AsyncGenerator<T> {
  let toSkip = skip;
  let left = take ?? Number.POSITIVE_INFINITY;
  if (left <= 0) return;
  for await (const raw of source) {
    let chunk = asChunk(raw);
    if (toSkip > 0) {
      const k = Math.min(toSkip, chunk.length);
      chunk = chunk.subarray(k) as T;
      toSkip -= k;
    }
    if (!chunk.length) continue;
    if (chunk.length >= left) {
      yield chunk.subarray(0, left) as T;
      return;
    }
    left -= chunk.length;
    yield chunk;
  }
}

/** The bytes of `parts` in order, in one new Uint8Array of `total` bytes (their summed length when omitted). */
export function concatBytes(parts: readonly Uint8Array[], total?: number): Uint8Array {
  const out = new Uint8Array(total ?? parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
