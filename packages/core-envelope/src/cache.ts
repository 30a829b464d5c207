// The one bounded cache of the libraries: entries expire after a TTL and the least recently used goes first
// when the size cap is reached. Used by the caching key resolver, the Key Vault resolver and the content-key
// cache; `onEvict` lets an owner wipe what it evicts (content keys) and count evictions.
import { invalidArgument } from "./errors.js";

/** Why an entry left the cache. */
export type CacheEvictionReason = "expired" | "capacity" | "replaced" | "cleared";

export interface TtlLruCacheOptions<V> {
  /** Most entries kept; the least recently used is evicted first. A positive integer. */
  maxEntries: number;
  /** How long an entry is served after it was set, in milliseconds. Positive. */
  ttlInMs: number;
  /** Clock, for tests; default Date.now. */
  now?: () => number;
  /** Called with every value that leaves the cache (not for `delete`). */
  onEvict?: (value: V, reason: CacheEvictionReason) => void;
}

/** A bounded map with a time-to-live per entry and least-recently-used eviction. */
export class TtlLruCache<K, V> {
  readonly maxEntries: number;
  readonly ttlInMs: number;
  readonly #now: () => number;
  readonly #onEvict: ((value: V, reason: CacheEvictionReason) => void) | undefined;
  readonly #entries = new Map<K, { value: V; expires: number }>();

  constructor(options: TtlLruCacheOptions<V>) {
    if (!(Number.isInteger(options.maxEntries) && options.maxEntries > 0) || !(typeof options.ttlInMs === "number" && options.ttlInMs > 0)) {
      throw invalidArgument("maxEntries must be a positive integer and ttlInMs a positive number.");
    }
    this.maxEntries = options.maxEntries;
    this.ttlInMs = options.ttlInMs;
    this.#now = options.now ?? Date.now;
    this.#onEvict = options.onEvict;
  }

  /** Number of entries held (expired ones included until they are looked up or pushed out). */
  get size(): number {
    return this.#entries.size;
  }

  /** The live value for `key` (and it becomes the most recently used), or undefined; an expired entry is evicted. */
  get(key: K): V | undefined {
    const hit = this.#entries.get(key);
    if (!hit) return undefined;
    this.#entries.delete(key);
    if (hit.expires > this.#now()) {
      this.#entries.set(key, hit);
      return hit.value;
    }
    this.#onEvict?.(hit.value, "expired");
    return undefined;
  }

  /** Stores `value` for `ttlInMs`; a previous value of `key` is evicted ("replaced"), then the oldest over the cap ("capacity"). */
  set(key: K, value: V): void {
    const previous = this.#entries.get(key);
    if (previous) {
      this.#entries.delete(key);
      this.#onEvict?.(previous.value, "replaced");
    }
    this.#entries.set(key, { value, expires: this.#now() + this.ttlInMs });
    while (this.#entries.size > this.maxEntries) {
      const [oldest, entry] = this.#entries.entries().next().value as [K, { value: V }];
      this.#entries.delete(oldest);
      this.#onEvict?.(entry.value, "capacity");
    }
  }

  /** Removes `key` without calling onEvict; returns whether it was there. */
  delete(key: K): boolean {
    return this.#entries.delete(key);
  }

  /** Evicts every entry ("cleared"). */
  clear(): void {
    const values = [...this.#entries.values()];
    this.#entries.clear();
    for (const e of values) this.#onEvict?.(e.value, "cleared");
  }
}
