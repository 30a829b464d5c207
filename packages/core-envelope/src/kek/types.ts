import type { AbortSignalLike } from "@azure/abort-controller";

/** The Azure SDKs' abort signal type (from @azure/abort-controller); a DOM/Node `AbortSignal` is one. */
export type { AbortSignalLike };

export interface KeyOperationOptions {
  abortSignal?: AbortSignalLike;
}

export interface WrapKeyResult {
  /** The wrapped bytes stored (base64) as `WrappedContentKey.EncryptedKey`. */
  encryptedKey: Uint8Array;
  /**
   * The key id to store as `WrappedContentKey.KeyId`. Key Vault keys return their **versioned** id
   * here, so data stays readable after the key is rotated in the vault.
   */
  keyId: string;
}

/**
 * A key-encryption key (KEK): wraps and unwraps content-encryption keys. The shape mirrors .NET's
 * IKeyEncryptionKey and Python's duck-typed KEK: the algorithm is an opaque string stored with the
 * data and handed back on unwrap.
 */
export interface KeyEncryptionKey {
  /** The id this key reports; compared by exact string equality with the stored KeyId. */
  readonly keyId: string;
  /** The algorithm used when the caller does not name one (e.g. "A256KW", "RSA-OAEP"). */
  readonly defaultWrapAlgorithm: string;
  wrapKey(algorithm: string, key: Uint8Array, options?: KeyOperationOptions): Promise<WrapKeyResult>;
  unwrapKey(algorithm: string, encryptedKey: Uint8Array, options?: KeyOperationOptions): Promise<Uint8Array>;
}

/** Resolves a stored key id to a key-encryption key; returns undefined when the id is unknown. */
export type KeyResolver = (
  keyId: string,
  options?: KeyOperationOptions,
) => Promise<KeyEncryptionKey | undefined> | KeyEncryptionKey | undefined;
