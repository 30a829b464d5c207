// Public API of @azure-cse/storage-blob. Everything exported here is deliberate.
export { EncryptedBlobClient, MAX_SINGLE_PUT_SIZE, type UploadableData } from "./blob-client.js";
export { EncryptedContainerClient, describeEncryption, type EncryptedBlobItem } from "./container-client.js";
export { EncryptedBlobServiceClient } from "./service-client.js";
export { toTypedError, type TypedErrorOptions } from "./errors.js";
export type {
  AbortSignalLike,
  PlaintextProgressEvent,
  EncryptedOperationOptions,
  EncryptedUploadOptions,
  EncryptedUploadResponse,
  EncryptionSummary,
  EncryptedDownloadOptions,
  EncryptedParallelDownloadOptions,
  EncryptedBlobDownloadResponse,
  EncryptedGetPropertiesOptions,
  EncryptedBlobProperties,
  EncryptedSetMetadataOptions,
  UpdateKeyEncryptionKeyOptions,
  UpdateKeyEncryptionKeyResponse,
  EncryptedCreateSnapshotOptions,
  EncryptedCopyOptions,
  EncryptedCopyResponse,
} from "./models.js";
export { ClientSideEncryptionError, type ClientSideEncryptionPolicy, type KeyEncryptionKey, type KeyResolver } from "@azure-cse/core-envelope";
