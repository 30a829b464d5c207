import { randomInt } from "node:crypto";
import { CryptographyClient } from "@azure/keyvault-keys";
import type { CryptographyClientOptions, UnwrapKeyOptions, WrapKeyOptions } from "@azure/keyvault-keys";
import type { TokenCredential } from "@azure/core-auth";
import { ClientSideEncryptionError, LIBRARY_ID } from "@azure-cse/core-envelope";
import type { AbortSignalLike, KeyEncryptionKey, KeyOperationOptions, WrapKeyResult } from "@azure-cse/core-envelope";
import { checkUnwrapAlgorithm, checkWrapAlgorithm } from "./algorithms.js";
import type { KeyVaultWrapAlgorithm } from "./algorithms.js";
import type { ContentKeyCache } from "./content-key-cache.js";
import { keyVaultError, serviceFailure } from "./errors.js";
import type { KeyVaultOperation } from "./errors.js";
import { parseKeyId, sameKey } from "./key-id.js";
import { describeValue, quote } from "./text.js";
import type { ParsedKeyId } from "./key-id.js";

/** Any @azure/identity credential: the Azure SDKs' TokenCredential (from @azure/core-auth). */
export type { TokenCredential };

export interface KeyVaultKeyEncryptionKeyOptions {
  /** Algorithm used when the policy names none; default "RSA-OAEP" (use "A256KW" etc. for Managed HSM oct-HSM keys). */
  defaultWrapAlgorithm?: KeyVaultWrapAlgorithm;
  /**
   * Options for the CryptographyClient: retryOptions (429/5xx retries), tlsOptions, proxyOptions,
   * serviceVersion, disableChallengeResourceVerification...
   */
  clientOptions?: CryptographyClientOptions;
  /** Consult this cache of unwrapped content keys before calling Key Vault (off by default). */
  contentKeyCache?: ContentKeyCache;
  /**
   * Versionless ids only: after this long the CryptographyClient is rebuilt, so that wraps pick up a
   * new key version after rotation (the client otherwise keeps the version it first fetched).
   * Default 1 hour.
   */
  keyRefreshIntervalInMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

const DEFAULT_REFRESH_MS = 60 * 60_000;
const GIVEN_CLIENT = Symbol("givenClient");
interface InternalOptions extends KeyVaultKeyEncryptionKeyOptions {
  [GIVEN_CLIENT]?: CryptographyClient;
}

function invalidArgument(message: string, keyId?: string): ClientSideEncryptionError {
  return new ClientSideEncryptionError("INVALID_ARGUMENT", message, keyId === undefined ? {} : { details: { keyId } });
}

function invalidKeyId(keyId: unknown): ClientSideEncryptionError {
  if (typeof keyId !== "string") return invalidArgument(`keyId must be a Key Vault key id string; it is ${describeValue(keyId)}.`);
  return new ClientSideEncryptionError(
    "INVALID_ARGUMENT",
    `keyId ${quote(keyId)} is not a Key Vault key id; expected https://{vault}.vault.azure.net/keys/{name}[/{version}] (or a Managed HSM key id).`,
    { details: { keyId } },
  );
}

function aborted(keyId: string): ClientSideEncryptionError {
  return new ClientSideEncryptionError("ABORTED", "The operation was aborted.", { details: { keyId } });
}

function sleep(ms: number, signal: AbortSignalLike | undefined, keyId: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(keyId));
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted(keyId));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener?.("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener?.("abort", onAbort, { once: true });
  });
}

/** Waits for `p` (which never rejects) unless the signal fires first. */
function waitOrAbort(p: Promise<void>, signal: AbortSignalLike | undefined, keyId: string): Promise<void> {
  if (!signal?.addEventListener) return p;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(aborted(keyId));
    signal.addEventListener?.("abort", onAbort, { once: true });
    void p.then(() => {
      signal.removeEventListener?.("abort", onAbort);
      resolve();
    });
  });
}

function checkOptions(options: KeyVaultKeyEncryptionKeyOptions, keyId: string): void {
  if (typeof options !== "object" || options === null) throw invalidArgument(`options must be an object; it is ${describeValue(options)}.`, keyId);
  const { keyRefreshIntervalInMs: refresh, contentKeyCache: cache, clientOptions, now } = options;
  if (refresh !== undefined && !(typeof refresh === "number" && refresh > 0)) {
    throw invalidArgument(`keyRefreshIntervalInMs must be a positive number of milliseconds; it is ${describeValue(refresh)}.`, keyId);
  }
  if (cache !== undefined && (typeof cache !== "object" || cache === null || typeof (cache as { getOrUnwrap?: unknown }).getOrUnwrap !== "function")) {
    throw invalidArgument(`contentKeyCache must be a ContentKeyCache; it is ${describeValue(cache)}.`, keyId);
  }
  if (clientOptions !== undefined && (typeof clientOptions !== "object" || clientOptions === null)) {
    throw invalidArgument(`clientOptions must be an object; it is ${describeValue(clientOptions)}.`, keyId);
  }
  if (now !== undefined && typeof now !== "function") throw invalidArgument(`now must be a function; it is ${describeValue(now)}.`, keyId);
}

function checkOperationOptions(options: unknown, keyId: string): void {
  if (typeof options !== "object" || options === null) throw invalidArgument(`options must be an object; it is ${describeValue(options)}.`, keyId);
  const signal = (options as KeyOperationOptions).abortSignal;
  if (signal !== undefined && (typeof signal !== "object" || signal === null || typeof signal.aborted !== "boolean")) {
    throw invalidArgument(`options.abortSignal must be an AbortSignal; it is ${describeValue(signal)}.`, keyId);
  }
}

type AzureAbortSignal = WrapKeyOptions["abortSignal"];
function azureSignal(signal: AbortSignalLike | undefined): AzureAbortSignal {
  return signal && typeof signal.addEventListener === "function" ? (signal as unknown as AzureAbortSignal) : undefined;
}

/**
 * An Azure Key Vault (or Managed HSM) key as a key-encryption key, over @azure/keyvault-keys'
 * CryptographyClient.
 *
 * - `keyId` is the id this object was constructed with, and never changes. Use a **versioned** id to
 *   pin a key version; a **versionless** id wraps with the key's current version.
 * - `wrapKey` always returns (and so stores as WrappedContentKey.KeyId) the **versioned** kid that did
 *   the wrapping, taken from the service's wrap response or from the key the client fetched. Data stays
 *   readable after the key is rotated. Because that stored id differs from a versionless `keyId`, reading
 *   it back goes through the policy's `keyResolver`: pair this key with a `KeyVaultKeyResolver`.
 * - `unwrapKey` asks Key Vault to unwrap with exactly `keyId`; it needs `keys/unwrapKey`, not `keys/get`.
 * - The first operation runs alone (token challenge and the client's one key lookup); concurrent
 *   callers wait for it, so N simultaneous first uses cost one lookup.
 */
export class KeyVaultKeyEncryptionKey implements KeyEncryptionKey {
  /** The id given to the constructor (versioned or versionless). */
  readonly keyId: string;
  readonly defaultWrapAlgorithm: KeyVaultWrapAlgorithm;
  /** Whether `keyId` names a single key version. */
  readonly isVersioned: boolean;
  readonly #parsed: ParsedKeyId;
  readonly #credential: TokenCredential | undefined;
  readonly #clientOptions: CryptographyClientOptions;
  readonly #cache: ContentKeyCache | undefined;
  readonly #refreshMs: number;
  readonly #now: () => number;
  readonly #given: CryptographyClient | undefined;
  #client: CryptographyClient;
  #clientCreated: number;
  #warm = false;
  #warming: Promise<void> | undefined;
  #lastWrapKeyId: string | undefined;

  constructor(keyId: string, credential: TokenCredential, options: KeyVaultKeyEncryptionKeyOptions = {}) {
    const parsed = typeof keyId === "string" ? parseKeyId(keyId) : undefined;
    if (!parsed) throw invalidKeyId(keyId);
    checkOptions(options, keyId);
    this.keyId = keyId;
    this.#parsed = parsed;
    this.isVersioned = parsed.version !== undefined;
    this.defaultWrapAlgorithm = checkWrapAlgorithm(options.defaultWrapAlgorithm ?? "RSA-OAEP", keyId, "defaultWrapAlgorithm");
    this.#given = (options as InternalOptions)[GIVEN_CLIENT];
    if (!this.#given && (typeof credential !== "object" || credential === null || typeof (credential as { getToken?: unknown }).getToken !== "function")) {
      throw invalidArgument(`credential must be a TokenCredential (an object with getToken(), e.g. from @azure/identity); it is ${describeValue(credential)}.`, keyId);
    }
    this.#credential = credential;
    this.#cache = options.contentKeyCache;
    this.#refreshMs = options.keyRefreshIntervalInMs ?? DEFAULT_REFRESH_MS;
    this.#now = options.now ?? Date.now;
    const user = options.clientOptions ?? {};
    const prefix = [LIBRARY_ID, user.userAgentOptions?.userAgentPrefix].filter(Boolean).join(" ");
    this.#clientOptions = { ...user, userAgentOptions: { ...user.userAgentOptions, userAgentPrefix: prefix } };
    this.#client = this.#newClient();
    this.#clientCreated = this.#now();
  }

  /**
   * A key-encryption key over an existing CryptographyClient (e.g. `keyClient.getCryptographyClient(name)`).
   * `keyId` is the client's `keyID`; the client is used as is (no refresh).
   */
  static fromCryptographyClient(client: CryptographyClient, options: Omit<KeyVaultKeyEncryptionKeyOptions, "clientOptions" | "keyRefreshIntervalInMs"> = {}): KeyVaultKeyEncryptionKey {
    const c = client as Partial<CryptographyClient> | null | undefined;
    if (typeof c !== "object" || c === null || typeof c.wrapKey !== "function" || typeof c.unwrapKey !== "function") {
      throw invalidArgument(`client must be an @azure/keyvault-keys CryptographyClient; it is ${describeValue(client)}.`);
    }
    if (typeof options !== "object" || options === null) throw invalidArgument(`options must be an object; it is ${describeValue(options)}.`);
    const internal: InternalOptions = { ...options, [GIVEN_CLIENT]: client };
    return new KeyVaultKeyEncryptionKey(client.keyID ?? "", undefined as unknown as TokenCredential, internal);
  }

  /** The versioned kid returned by the most recent successful wrap, if any. */
  get lastWrapKeyId(): string | undefined {
    return this.#lastWrapKeyId;
  }

  #newClient(): CryptographyClient {
    if (this.#given) return this.#given;
    // CryptographyClient writes into the options object it is given; pass a copy each time.
    return new CryptographyClient(this.keyId, this.#credential as TokenCredential, { ...this.#clientOptions, userAgentOptions: { ...this.#clientOptions.userAgentOptions } });
  }

  #currentClient(): CryptographyClient {
    if (!this.#given && !this.isVersioned && this.#now() - this.#clientCreated >= this.#refreshMs && !this.#warming) {
      this.#client = this.#newClient();
      this.#clientCreated = this.#now();
      this.#warm = false;
    }
    return this.#client;
  }

  /** Lets the first operation on a client run alone; the others wait for it (success or failure). */
  async #gated<T>(op: () => Promise<T>, signal: AbortSignalLike | undefined): Promise<T> {
    for (;;) {
      if (signal?.aborted) throw aborted(this.keyId);
      if (this.#warm) return op();
      if (!this.#warming) {
        const p = op();
        this.#warming = p.then(
          () => {
            this.#warm = true;
          },
          () => undefined,
        ).finally(() => {
          this.#warming = undefined;
        });
        return p;
      }
      await waitOrAbort(this.#warming, signal, this.keyId);
    }
  }

  /**
   * The Azure pipeline retries 429/503 with Retry-After and 408/5xx with exponential backoff
   * (clientOptions.retryOptions). A 429 *without* Retry-After is not retried there; retry it here.
   */
  async #withThrottleRetry<T>(op: KeyVaultOperation, fn: () => Promise<T>, signal: AbortSignalLike | undefined): Promise<T> {
    const r = this.#clientOptions.retryOptions ?? {};
    const maxRetries = r.maxRetries ?? 3;
    const base = r.retryDelayInMs ?? 1000;
    const cap = r.maxRetryDelayInMs ?? 64_000;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const f = serviceFailure(e);
        if (f.statusCode === 429 && f.retryAfter === undefined && attempt < maxRetries) {
          const delay = Math.min(cap, base * 2 ** attempt) * (randomInt(800, 1201) / 1000);
          await sleep(delay, signal, this.keyId);
          continue;
        }
        throw keyVaultError(e, op, this.keyId);
      }
    }
  }

  async wrapKey(algorithm: string, key: Uint8Array, options: KeyOperationOptions = {}): Promise<WrapKeyResult> {
    const alg = checkWrapAlgorithm(algorithm, this.keyId);
    if (!(key instanceof Uint8Array) || key.length === 0) throw invalidArgument(`key must be a non-empty Uint8Array (the content key to wrap); it is ${describeValue(key)}.`, this.keyId);
    checkOperationOptions(options, this.keyId);
    const signal = options.abortSignal;
    const client = this.#currentClient();
    return this.#gated(
      () =>
        this.#withThrottleRetry(
          "wrapKey",
          async () => {
            let responseKid: string | undefined;
            const opts: WrapKeyOptions = {
              abortSignal: azureSignal(signal),
              onResponse: (raw) => {
                const kid = (raw.parsedBody as { kid?: unknown } | undefined)?.kid;
                if (raw.status === 200 && typeof kid === "string") responseKid = kid;
              },
            };
            const result = await client.wrapKey(alg, key, opts);
            const kid = responseKid ?? result.keyID;
            const parsed = kid === undefined ? undefined : parseKeyId(kid);
            if (!kid || !parsed?.version) {
              throw new ClientSideEncryptionError(
                "KEY_OPERATION_FAILED",
                `Key Vault did not report which version of key ${quote(this.keyId)} wrapped the content key; refusing to store a versionless key id (it breaks after key rotation).`,
                { details: { keyId: this.keyId, reportedKeyId: kid } },
              );
            }
            if (!sameKey(parsed, this.#parsed) || (this.#parsed.version !== undefined && parsed.version !== this.#parsed.version)) {
              throw new ClientSideEncryptionError(
                "KEY_OPERATION_FAILED",
                `Key Vault reported key ${quote(kid)} for a wrap with key ${quote(this.keyId)}.`,
                { details: { keyId: this.keyId, reportedKeyId: kid } },
              );
            }
            if (!(result.result instanceof Uint8Array) || result.result.length === 0) {
              throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", `Key Vault returned no wrapped key for key ${quote(kid)}.`, { details: { keyId: kid } });
            }
            this.#lastWrapKeyId = kid;
            return { encryptedKey: Buffer.from(result.result), keyId: kid };
          },
          signal,
        ),
      signal,
    );
  }

  async unwrapKey(algorithm: string, encryptedKey: Uint8Array, options: KeyOperationOptions = {}): Promise<Uint8Array> {
    const alg = checkUnwrapAlgorithm(algorithm, this.keyId);
    if (!(encryptedKey instanceof Uint8Array)) throw invalidArgument(`encryptedKey must be a Uint8Array; it is ${describeValue(encryptedKey)}.`, this.keyId);
    checkOperationOptions(options, this.keyId);
    const signal = options.abortSignal;
    const remote = () => {
      const client = this.#currentClient();
      return this.#gated(
        () =>
          this.#withThrottleRetry(
            "unwrapKey",
            async () => {
              const opts: UnwrapKeyOptions = { abortSignal: azureSignal(signal) };
              const result = await client.unwrapKey(alg, encryptedKey, opts);
              if (!(result.result instanceof Uint8Array) || result.result.length === 0) {
                throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", `Key Vault returned no content key for key ${quote(this.keyId)}.`, { details: { keyId: this.keyId } });
              }
              return Buffer.from(result.result);
            },
            signal,
          ),
        signal,
      );
    };
    return this.#cache ? this.#cache.getOrUnwrap(this.keyId, alg, encryptedKey, remote) : remote();
  }
}
