import { invalidArgument } from "../errors.js";
import { escapeForDisplay } from "../internal/bytes.js";
import { TtlLruCache } from "../cache.js";
import type { KeyEncryptionKey, KeyOperationOptions, KeyResolver } from "./types.js";

/** A resolver over a fixed set of keys, by exact key id. Duplicate ids are refused. */
export function createLocalKeyResolver(keys: Iterable<KeyEncryptionKey>): KeyResolver {
  const byId = new Map<string, KeyEncryptionKey>();
  for (const k of keys) {
    if (byId.has(k.keyId)) throw invalidArgument(`Two keys share the key id "${escapeForDisplay(k.keyId)}".`);
    byId.set(k.keyId, k);
  }
  return (keyId) => byId.get(keyId);
}

export interface CachingKeyResolverOptions {
  /** How long a resolved key is kept; default 10 minutes. */
  ttlInMs?: number;
  /** Maximum number of cached keys (least recently used evicted first); default 100. */
  maxEntries?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export interface CachingKeyResolver extends KeyResolver {
  /** Number of calls made to the inner resolver (cache misses that were not coalesced). */
  readonly stats: { lookups: number; hits: number };
  clear(): void;
}

/**
 * Caches another resolver's keys by id (TTL, size cap). Concurrent misses for one id share a single
 * lookup. Unknown ids (undefined) and failures are not cached.
 */
export function createCachingKeyResolver(inner: KeyResolver, options: CachingKeyResolverOptions = {}): CachingKeyResolver {
  const ttl = options.ttlInMs ?? 10 * 60_000;
  const max = options.maxEntries ?? 100;
  if (!(ttl > 0) || !(max > 0)) throw invalidArgument("ttlInMs and maxEntries must be positive.");
  const cache = new TtlLruCache<string, KeyEncryptionKey>({ maxEntries: max, ttlInMs: ttl, now: options.now });
  const pending = new Map<string, Promise<KeyEncryptionKey | undefined>>();
  const stats = { lookups: 0, hits: 0 };

  const resolver = (async (keyId: string, opts?: KeyOperationOptions) => {
    const hit = cache.get(keyId);
    if (hit) {
      stats.hits++;
      return hit;
    }
    let p = pending.get(keyId);
    if (!p) {
      stats.lookups++;
      p = Promise.resolve(inner(keyId, opts)).then(
        (key) => {
          pending.delete(keyId);
          if (key) cache.set(keyId, key);
          return key;
        },
        (err: unknown) => {
          pending.delete(keyId);
          throw err;
        },
      );
      pending.set(keyId, p);
    } else {
      stats.hits++;
    }
    return p;
  }) as CachingKeyResolver;
  Object.defineProperty(resolver, "stats", { value: stats });
  resolver.clear = () => cache.clear();
  return resolver;
}
