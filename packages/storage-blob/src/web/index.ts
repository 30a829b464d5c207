// Public API of @azure-cse/storage-blob/web: client-side encrypted block blobs in the browser, over the official
// @azure/storage-blob browser build (the app's BlobClient / BlockBlobClient) and @azure-cse/core-envelope/web
// (Web Crypto). No Node built-in and no Buffer. The stored format is the Node entry's and the other SDKs'
// (EncryptionData in the `encryptiondata` metadata, 2.x regions), so either side reads what the other writes.
export { ClientSideEncryptionError, type ClientSideEncryptionPolicy, type KeyEncryptionKey, type KeyResolver, type PlaintextRange, type WebByteInput } from "@azure-cse/core-envelope/web";
export {
  uploadEncryptedBlob,
  openDecryptedBlob,
  downloadDecryptedBlob,
  type WebBlockBlobClientLike,
  type WebBlobClientLike,
  type WebUploadOptions,
  type WebUploadResult,
  type WebDownloadOptions,
  type WebOpenedBlob,
  type WebDownloadedBlob,
  type WebBodyTransport,
} from "./blob.js";
export { WebEncryptedBlobClient, type WebEncryptedBlobClientOptions } from "./client.js";
export {
  getEncryptedBlobProperties,
  setEncryptedBlobMetadata,
  updateBlobKeyEncryptionKey,
  type WebBlobProperties,
  type WebBlobPropertiesOptions,
  type WebBlobReadConditions,
  type WebContainerListingLike,
  type WebMetadataCaseOptions,
  type WebEncryptionSummary,
  type WebSetMetadataResult,
  type WebUpdateKeyEncryptionKeyOptions,
  type WebUpdateKeyEncryptionKeyResult,
} from "./metadata.js";
