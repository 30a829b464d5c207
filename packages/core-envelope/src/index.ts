// Public API of @azure-cse/core-envelope. Everything exported here is deliberate.
export { VERSION, LIBRARY_ID } from "./version.js";
export {
  ClientSideEncryptionError,
  DECRYPTION_FAILED_MESSAGE,
  type ClientSideEncryptionErrorCode,
} from "./errors.js";
export { toTypedError, type TypedErrorOptions, type ServiceErrorContext } from "./service-errors.js";
export { defaultRandomSource, type RandomSource } from "./random.js";
export type { ClientSideEncryptionPolicy } from "./policy.js";

export {
  parseEncryptionData,
  serializeEncryptionData,
  encryptionDataToJson,
  findEncryptionDataInMetadata,
  isLegacyJavaWriter,
  ENCRYPTION_DATA_METADATA_KEY,
  SUPPORTED_PROTOCOLS,
  V1_ALGORITHM,
  V2_ALGORITHM,
  V2_DEFAULT_REGION_SIZE,
  V2_NONCE_LENGTH,
  V2_TAG_LENGTH,
  MIN_REGION_SIZE,
  MAX_REGION_SIZE,
  DEFAULT_MAX_READ_REGION_SIZE,
  DEFAULT_MAX_ENCRYPTION_DATA_LENGTH,
  type EncryptionData,
  type EncryptionDataV1,
  type EncryptionDataV2,
  type EncryptionProtocol,
  type WrappedContentKey,
  type ParseEncryptionDataOptions,
  type SerializeEncryptionDataOptions,
} from "./schema/encryption-data.js";

export type { KeyEncryptionKey, KeyResolver, KeyOperationOptions, WrapKeyResult, AbortSignalLike } from "./kek/types.js";
export {
  AesKeyWrapKey,
  RsaKey,
  keyFromJwk,
  keyFromRawBytes,
  type AesKeyWrapAlgorithm,
  type RsaWrapAlgorithm,
  type LocalKeyAlgorithm,
  type JsonWebKeyInput,
} from "./kek/local.js";
export { createLocalKeyResolver, createCachingKeyResolver, type CachingKeyResolver, type CachingKeyResolverOptions } from "./kek/resolvers.js";

export {
  CEK_LENGTH,
  protocolPrefix,
  keyWrapInput,
  contentKeyFromUnwrapped,
  resolveWriteSettings,
  createContentEncryption,
  selectKeyEncryptionKey,
  unwrapContentKey,
  checkKeyEncryptionKey,
  maxReadRegionSize,
  regionOrderCheckEnabled,
  decryptPlanned,
  type ContentEncryption,
  type WriteSettings,
  type DecryptOptions,
} from "./envelope.js";
export {
  openRangedRead,
  decryptRange,
  plaintextLengthOf,
  type OpenRangedReadOptions,
  type RangedRead,
  type StoredRangeFetch,
} from "./ranged-read.js";
export {
  rewrapContentKey,
  type RewrapContentKeyOptions,
  type RewrapContentKeyResult,
} from "./rotation.js";

export {
  V2_REGION_OVERHEAD,
  CBC_BLOCK,
  v1StoredLength,
  v2StoredLength,
  v2PlaintextLength,
  storedLength,
  planRange,
  planV1Range,
  planV2Range,
  type PlaintextRange,
  type RangePlan,
} from "./content/sizes.js";
export {
  regionNonce,
  RegionOrderValidator,
  NONCE_SCHEMES,
  WRITE_NONCE_SCHEME,
  ALLOW_MISORDERED_ENV,
  type NonceScheme,
} from "./content/nonce.js";
export {
  encryptGcmRegions,
  decryptGcmRegions,
  encryptCbc,
  decryptCbc,
  sliceBytes,
  collectBytes,
  checkedByteSource,
  type ByteSource,
  type GcmEncryptOptions,
  type GcmDecryptOptions,
  type CbcDecryptOptions,
} from "./content/streams.js";
// Helpers shared only by the @azure-cse packages (buffer ciphers, hashing, strict base64, ASCII JSON, error
// builders, the TTL/LRU cache) are in "@azure-cse/core-envelope/internal" (src/internal.ts), not here.
