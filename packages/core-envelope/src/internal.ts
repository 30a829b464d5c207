/**
 * `@azure-cse/core-envelope/internal` — helpers shared by the `@azure-cse` packages themselves: strict base64,
 * display escaping, ASCII JSON, hashing, one-shot buffer ciphers with a caller-chosen IV/nonce, error builders,
 * service-error predicates and the bounded TTL/LRU cache.
 *
 * @internal Not part of the public API: no semver guarantee; applications use the package root.
 * @packageDocumentation
 */
export { decodeBase64Strict, escapeForDisplay } from "./internal/bytes.js";
export { escapeUnsafeCharacters, quoteForDisplay } from "./internal/display.js";
export { checkOptionsObject, guardKek, guardPolicy, invalidArgument, safeError, safely } from "./internal/service-safety.js";
export { asciiJson } from "./schema/encryption-data.js";
export { encryptCbcBuffer, decryptCbcBuffer, encryptGcmBuffer, decryptGcmBuffer, sha256 } from "./content/buffers.js";
export { decryptionFailed, sourceFailed, throwIfAborted, describeValue } from "./errors.js";
export { nothingToRotate, replaceWrappedContentKey } from "./rotation.js";
export { serviceCall, statusCodeOf, isServiceFailure, isNetworkErrorCode, serviceErrorCode, CONDITION_ERROR_CODES, type ServiceErrorContext } from "./service-errors.js";
export { TtlLruCache, type TtlLruCacheOptions, type CacheEvictionReason } from "./cache.js";
