// Public API of @azure-cse/core-envelope/web: the Web Crypto backend for browsers (and any runtime with
// globalThis.crypto.subtle). No Node built-in and no Buffer; every operation is async and Uint8Array-only.
// The format code (EncryptionData, sizes and range plans, errors) is shared with the Node entry.
export { VERSION, LIBRARY_ID } from "../version.js";
export { ClientSideEncryptionError, DECRYPTION_FAILED_MESSAGE, type ClientSideEncryptionErrorCode } from "../errors.js";
export type { ClientSideEncryptionPolicy } from "../policy.js";
export type { KeyEncryptionKey, KeyResolver, KeyOperationOptions, WrapKeyResult, AbortSignalLike } from "../kek/types.js";
export {
  parseEncryptionData,
  serializeEncryptionData,
  encryptionDataToJson,
  findEncryptionDataInMetadata,
  ENCRYPTION_DATA_METADATA_KEY,
  V2_DEFAULT_REGION_SIZE,
  DEFAULT_MAX_READ_REGION_SIZE,
  type EncryptionData,
  type EncryptionDataV1,
  type EncryptionDataV2,
  type EncryptionProtocol,
  type WrappedContentKey,
  type ParseEncryptionDataOptions,
} from "../schema/encryption-data.js";
export { V2_REGION_OVERHEAD, v2StoredLength, v2PlaintextLength, planRange, type PlaintextRange, type RangePlan } from "../content/sizes.js";
export { base64Encode, base64DecodeStrict, base64UrlDecode, base64UrlEncode } from "./base64.js";
export type { WebCryptoKey } from "./webcrypto-types.js";
export { webRandomBytes } from "./subtle.js";
export {
  webByteSource,
  webRegionNonce,
  encryptWebGcmRegions,
  decryptWebGcmRegions,
  decryptWebCbc,
  sliceWebBytes,
  collectWebBytes,
  toReadableStream,
  type WebByteInput,
  type WebGcmDecryptOptions,
  type ReadableStreamLike,
  type ReadableStreamReaderLike,
  type BlobLike,
} from "./content.js";
export { RemoteKeyEncryptionKey, type RemoteKeyEncryptionKeyOptions, type FetchLike, type FetchResponseLike } from "./remote-key.js";
export { WebAesKeyWrapKey, WebRsaKey, webKeyFromJwk, type WebAesKeyWrapAlgorithm, type WebRsaWrapAlgorithm, type WebKeyImportOptions } from "./keys.js";
export {
  createWebContentEncryption,
  unwrapWebContentKey,
  selectWebKeyEncryptionKey,
  webContentKeyFromUnwrapped,
  decryptWebPlanned,
  decryptWebRange,
  type WebContentEncryption,
  type WebDecryptOptions,
} from "./envelope.js";
// Key rotation: the Node entry's rule (rotation.ts, crypto through the KeyEncryptionKey interface only).
export { concatBytes } from "../content/chunks.js";
export { toTypedError, type TypedErrorOptions, type ServiceErrorContext } from "../service-errors.js";
export { rewrapContentKey, replaceWrappedContentKey, type RewrapContentKeyOptions, type RewrapContentKeyResult } from "../rotation.js";
