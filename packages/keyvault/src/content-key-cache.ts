import { ClientSideEncryptionError } from "@azure-cse/core-envelope";
import { TtlLruCache } from "@azure-cse/core-envelope/internal";
import type { KeyEncryptionKey, KeyOperationOptions, WrapKeyResult } from "@azure-cse/core-envelope";

export interface ContentKeyCacheOptions {
  /** Most unwrapped content keys kept (least recently used evicted first); default 1000. */
  maxEntries?: number;
  /** How long an unwrapped content key is kept; default 5 minutes. */
  ttlInMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}


/**
 * A bounded cache of unwrapped content keys, keyed by (key id, algorithm, wrapped key bytes). Off unless
 * you create one: it keeps plaintext content keys in memory. Evicted, expired and cleared keys are
 * overwritten with zeros; callers always receive a copy, which they may zero themselves.
 * Concurrent unwraps of the same wrapped key share one call.
 */
export class ContentKeyCache {
  readonly maxEntries: number;
  readonly ttlInMs: number;
  /** Unwraps served from the cache, unwraps performed, and keys evicted (size cap or expiry). */
  readonly stats = { hits: 0, misses: 0, evictions: 0 };
  readonly #entries: TtlLruCache<string, Buffer>;
  readonly #pending = new Map<string, Promise<Buffer>>();

  constructor(options: ContentKeyCacheOptions = {}) {
    if (typeof options !== "object" || options === null) throw new ClientSideEncryptionError("INVALID_ARGUMENT", "ContentKeyCache: options must be an object.");
    this.maxEntries = options.maxEntries ?? 1000;
    this.ttlInMs = options.ttlInMs ?? 5 * 60_000;
    if (!(Number.isInteger(this.maxEntries) && this.maxEntries > 0) || !(this.ttlInMs > 0)) {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", "ContentKeyCache: maxEntries must be a positive integer and ttlInMs positive.");
    }
    // Every key that leaves the cache is zeroed; expired and pushed-out keys count as evictions.
    this.#entries = new TtlLruCache<string, Buffer>({
      maxEntries: this.maxEntries,
      ttlInMs: this.ttlInMs,
      now: options.now,
      onEvict: (key, reason) => {
        key.fill(0);
        if (reason === "expired" || reason === "capacity") this.stats.evictions++;
      },
    });
  }

  /** Number of content keys held. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Returns (a copy of) the cached content key, or unwraps it with `unwrap` and caches the result. The
   * cache takes ownership of the buffer `unwrap` returns and zeroes it when the entry goes.
   */
  async getOrUnwrap(keyId: string, algorithm: string, encryptedKey: Uint8Array, unwrap: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const id = `${keyId}\u0000${algorithm}\u0000${Buffer.from(encryptedKey).toString("base64")}`;
    const hit = this.#entries.get(id);
    if (hit) {
      this.stats.hits++;
      return Buffer.from(hit);
    }
    let pending = this.#pending.get(id);
    if (pending) {
      this.stats.hits++;
    } else {
      this.stats.misses++;
      pending = (async () => {
        try {
          // The cache owns the buffer `unwrap` returned (zeroed on eviction); waiters copy from `plain`.
          const result = await unwrap();
          if (!(result instanceof Uint8Array)) throw new ClientSideEncryptionError("INVALID_ARGUMENT", "The key's unwrapKey must return a Uint8Array.");
          const owned = Buffer.isBuffer(result) ? result : Buffer.from(result);
          const plain = Buffer.from(owned);
          this.#entries.set(id, owned);
          return plain;
        } finally {
          this.#pending.delete(id);
        }
      })();
      this.#pending.set(id, pending);
    }
    return Buffer.from(await pending);
  }

  /** Zeroes and drops every cached content key. */
  clear(): void {
    this.#entries.clear();
  }
}

/**
 * Wraps any key-encryption key so that its `unwrapKey` consults `cache` first. Useful for ranged reads
 * of one blob (each range would otherwise unwrap the same content key again). `keyId`,
 * `defaultWrapAlgorithm` and `wrapKey` are the inner key's.
 */
export function withContentKeyCache(kek: KeyEncryptionKey, cache: ContentKeyCache): KeyEncryptionKey {
  const k = kek as Partial<KeyEncryptionKey> | null;
  if (typeof k !== "object" || k === null || typeof k.keyId !== "string" || typeof k.wrapKey !== "function" || typeof k.unwrapKey !== "function") {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", "kek must be a KeyEncryptionKey (keyId, wrapKey, unwrapKey).");
  }
  if (!(cache instanceof ContentKeyCache)) throw new ClientSideEncryptionError("INVALID_ARGUMENT", "cache must be a ContentKeyCache.");
  return {
    get keyId() {
      return kek.keyId;
    },
    get defaultWrapAlgorithm() {
      return kek.defaultWrapAlgorithm;
    },
    wrapKey(algorithm: string, key: Uint8Array, options?: KeyOperationOptions): Promise<WrapKeyResult> {
      return kek.wrapKey(algorithm, key, options);
    },
    unwrapKey(algorithm: string, encryptedKey: Uint8Array, options?: KeyOperationOptions): Promise<Uint8Array> {
      return cache.getOrUnwrap(kek.keyId, algorithm, encryptedKey, () => kek.unwrapKey(algorithm, encryptedKey, options));
    },
  };
}
