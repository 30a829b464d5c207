import { ClientSideEncryptionError } from "@azure-cse/core-envelope";
import { TtlLruCache } from "@azure-cse/core-envelope/internal";
import type { KeyOperationOptions } from "@azure-cse/core-envelope";
import type { CryptographyClientOptions } from "@azure/keyvault-keys";
import type { KeyVaultWrapAlgorithm } from "./algorithms.js";
import { ContentKeyCache } from "./content-key-cache.js";
import type { ContentKeyCacheOptions } from "./content-key-cache.js";
import { KeyVaultKeyEncryptionKey } from "./kek.js";
import type { TokenCredential } from "./kek.js";
import { parseKeyId } from "./key-id.js";
import { checkWrapAlgorithm } from "./algorithms.js";
import { describeValue, quote } from "./text.js";

export interface KeyVaultKeyResolverOptions {
  /** CryptographyClient options shared by every key (retryOptions, tlsOptions, ...). */
  clientOptions?: CryptographyClientOptions;
  /** Default wrap algorithm of keys from `getKeyEncryptionKey`; default "RSA-OAEP". */
  defaultWrapAlgorithm?: KeyVaultWrapAlgorithm;
  /** How long a key's client is reused before it is rebuilt (new token challenge and key lookup); default 1 hour. */
  ttlInMs?: number;
  /** Most keys cached (least recently used evicted first); default 100. */
  maxEntries?: number;
  /**
   * Cache unwrapped content keys per (key id, algorithm, wrapped key) — off by default, because it keeps
   * plaintext content keys in memory. `true` = defaults (1000 keys, 5 minutes), or options, or your own cache.
   */
  contentKeyCache?: boolean | ContentKeyCacheOptions | ContentKeyCache;
  /**
   * Vault URLs (e.g. "https://my-vault.vault.azure.net") whose keys may be resolved. Stored key ids come
   * from the data; ids in other vaults resolve to nothing (KEY_NOT_FOUND) instead of sending requests
   * there. Default: any vault (the Key Vault client still refuses to authenticate to non-Key Vault hosts
   * unless disableChallengeResourceVerification is set).
   */
  allowedVaults?: readonly string[];
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * A core KeyResolver for Key Vault key ids: `(keyId) => KeyVaultKeyEncryptionKey | undefined`, plus helpers.
 * Ids that are not Key Vault key ids (or not in `allowedVaults`) resolve to undefined.
 */
export interface KeyVaultKeyResolver {
  (keyId: string, options?: KeyOperationOptions): Promise<KeyVaultKeyEncryptionKey | undefined>;
  /**
   * The cached key for `keyId` (created on first use), for writing: pass a versionless id to always wrap
   * with the current version, and set the resolver as the policy's keyResolver to read what it wrote.
   */
  getKeyEncryptionKey(keyId: string): KeyVaultKeyEncryptionKey;
  /** lookups = keys created (each costs one token challenge and key lookup on first use); hits = reuses. */
  readonly stats: { readonly lookups: number; readonly hits: number; readonly evictions: number };
  /** The content-key cache, when enabled. */
  readonly contentKeyCache: ContentKeyCache | undefined;
  /** Drops every cached key and zeroes every cached content key. */
  clear(): void;
}

function invalidArgument(message: string, keyId?: string): ClientSideEncryptionError {
  return new ClientSideEncryptionError("INVALID_ARGUMENT", message, keyId === undefined ? {} : { details: { keyId } });
}

function normalizeVault(url: unknown): string {
  if (typeof url !== "string") throw invalidArgument(`allowedVaults must be an array of vault URL strings; it holds ${describeValue(url)}.`);
  try {
    return new URL(url).origin.toLowerCase();
  } catch {
    throw invalidArgument(`allowedVaults: ${quote(url)} is not a URL.`);
  }
}

/** Every option is checked here, so that a bad value fails when the resolver is made, not on the first read. */
function checkResolverOptions(credential: unknown, options: KeyVaultKeyResolverOptions): void {
  if (typeof options !== "object" || options === null) throw invalidArgument(`options must be an object; it is ${describeValue(options)}.`);
  if (typeof credential !== "object" || credential === null || typeof (credential as { getToken?: unknown }).getToken !== "function") {
    throw invalidArgument(`credential must be a TokenCredential (an object with getToken(), e.g. from @azure/identity); it is ${describeValue(credential)}.`);
  }
  const { allowedVaults, clientOptions, contentKeyCache, now, defaultWrapAlgorithm } = options;
  if (allowedVaults !== undefined && !Array.isArray(allowedVaults)) {
    throw invalidArgument(`allowedVaults must be an array of vault URLs (e.g. ["https://my-vault.vault.azure.net"]); it is ${describeValue(allowedVaults)}.`);
  }
  if (clientOptions !== undefined && (typeof clientOptions !== "object" || clientOptions === null)) throw invalidArgument(`clientOptions must be an object; it is ${describeValue(clientOptions)}.`);
  if (contentKeyCache !== undefined && typeof contentKeyCache !== "boolean" && (typeof contentKeyCache !== "object" || contentKeyCache === null)) {
    throw invalidArgument(`contentKeyCache must be a boolean, ContentKeyCacheOptions or a ContentKeyCache; it is ${describeValue(contentKeyCache)}.`);
  }
  if (now !== undefined && typeof now !== "function") throw invalidArgument(`now must be a function; it is ${describeValue(now)}.`);
  if (defaultWrapAlgorithm !== undefined) checkWrapAlgorithm(defaultWrapAlgorithm, "", "defaultWrapAlgorithm");
}

/**
 * Creates a resolver that maps stored Key Vault key ids to key-encryption keys, caching one
 * CryptographyClient per key id (TTL, size cap). Concurrent first uses of a key share one key object,
 * whose first operation runs alone, so they cost one lookup.
 */
export function createKeyVaultKeyResolver(credential: TokenCredential, options: KeyVaultKeyResolverOptions = {}): KeyVaultKeyResolver {
  checkResolverOptions(credential, options);
  const ttl = options.ttlInMs ?? 60 * 60_000;
  const max = options.maxEntries ?? 100;
  const now = options.now ?? Date.now;
  if (!(typeof ttl === "number" && ttl > 0) || !(Number.isInteger(max) && max > 0)) throw invalidArgument("ttlInMs must be a positive number and maxEntries a positive integer.");
  const allowed = options.allowedVaults?.map(normalizeVault);
  const cekOption = options.contentKeyCache;
  const contentKeyCache =
    cekOption instanceof ContentKeyCache ? cekOption : cekOption === true ? new ContentKeyCache() : cekOption ? new ContentKeyCache(cekOption) : undefined;
  const stats = { lookups: 0, hits: 0, evictions: 0 };
  // Expired and pushed-out keys count as evictions (a cleared cache does not).
  const cache = new TtlLruCache<string, KeyVaultKeyEncryptionKey>({
    maxEntries: max,
    ttlInMs: ttl,
    now,
    onEvict: (_kek, reason) => {
      if (reason === "expired" || reason === "capacity") stats.evictions++;
    },
  });

  function isAllowed(keyId: string): boolean {
    const parsed = parseKeyId(keyId);
    if (!parsed) return false;
    return !allowed || allowed.includes(new URL(parsed.vaultUrl).origin.toLowerCase());
  }

  function get(keyId: string): KeyVaultKeyEncryptionKey {
    const hit = cache.get(keyId);
    if (hit) {
      stats.hits++;
      return hit;
    }
    stats.lookups++;
    const kek = new KeyVaultKeyEncryptionKey(keyId, credential, {
      clientOptions: options.clientOptions,
      defaultWrapAlgorithm: options.defaultWrapAlgorithm,
      contentKeyCache,
      keyRefreshIntervalInMs: ttl,
      now,
    });
    cache.set(keyId, kek);
    return kek;
  }

  const resolver = (async (keyId: string) => {
    if (typeof keyId !== "string") throw invalidArgument(`keyId must be a string; it is ${describeValue(keyId)}.`);
    return isAllowed(keyId) ? get(keyId) : undefined;
  }) as KeyVaultKeyResolver;
  Object.defineProperties(resolver, {
    stats: { value: stats, enumerable: true },
    contentKeyCache: { value: contentKeyCache, enumerable: true },
    getKeyEncryptionKey: {
      value: (keyId: string) => {
        if (typeof keyId !== "string") throw invalidArgument(`keyId must be a Key Vault key id string; it is ${describeValue(keyId)}.`);
        if (!parseKeyId(keyId)) throw invalidArgument(`keyId ${quote(keyId)} is not a Key Vault key id.`, keyId);
        if (!isAllowed(keyId)) throw invalidArgument(`Key ${quote(keyId)} is not in one of the resolver's allowedVaults.`, keyId);
        return get(keyId);
      },
    },
    clear: {
      value: () => {
        cache.clear();
        contentKeyCache?.clear();
      },
    },
  });
  return resolver;
}
