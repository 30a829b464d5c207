// Public API of @azure-cse/keyvault. Everything exported here is deliberate.
export { KeyVaultKeyEncryptionKey, type KeyVaultKeyEncryptionKeyOptions, type TokenCredential } from "./kek.js";
export { createKeyVaultKeyResolver, type KeyVaultKeyResolver, type KeyVaultKeyResolverOptions } from "./resolver.js";
export { ContentKeyCache, withContentKeyCache, type ContentKeyCacheOptions } from "./content-key-cache.js";
export {
  KEY_VAULT_WRAP_ALGORITHMS,
  KEY_VAULT_UNWRAP_ALGORITHMS,
  type KeyVaultWrapAlgorithm,
  type KeyVaultUnwrapAlgorithm,
} from "./algorithms.js";
export { isVersionedKeyId } from "./key-id.js";
