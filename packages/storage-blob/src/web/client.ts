// The class over the web entry's functions: a block blob with a fixed encryption policy (upload and download in
// blob.ts, properties, metadata and key rotation in metadata.ts).
import type { ClientSideEncryptionPolicy, KeyEncryptionKey, WebByteInput } from "@azure-cse/core-envelope/web";
import {
  downloadDecryptedBlob,
  invalid,
  openDecryptedBlob,
  uploadEncryptedBlob,
  type WebBlobClientLike,
  type WebBlockBlobClientLike,
  type WebDownloadedBlob,
  type WebDownloadOptions,
  type WebOpenedBlob,
  type WebUploadOptions,
  type WebUploadResult,
} from "./blob.js";
import {
  checkContainer,
  getEncryptedBlobProperties,
  setEncryptedBlobMetadata,
  updateBlobKeyEncryptionKey,
  type WebBlobProperties,
  type WebBlobPropertiesOptions,
  type WebContainerListingLike,
  type WebMetadataCaseOptions,
  type WebSetMetadataResult,
  type WebUpdateKeyEncryptionKeyOptions,
  type WebUpdateKeyEncryptionKeyResult,
} from "./metadata.js";

/** Options of `WebEncryptedBlobClient`. */
export type WebEncryptedBlobClientOptions = WebMetadataCaseOptions;

/**
 * A block blob with a fixed encryption policy: `upload`, `download` (ReadableStream) and `openRead` (async iterable).
 * `options.container` (the blob's ContainerClient) lets `updateKeyEncryptionKey` keep metadata names' case (see
 * WebMetadataCaseOptions); an `updateKeyEncryptionKey` option `container` takes precedence.
 */
export class WebEncryptedBlobClient {
  /** The container listing used to keep metadata names' case, if one was given. */
  readonly container: WebContainerListingLike | undefined;
  constructor(
    readonly client: WebBlockBlobClientLike & WebBlobClientLike,
    readonly policy: ClientSideEncryptionPolicy,
    options?: WebEncryptedBlobClientOptions,
  ) {
    if (options !== undefined && (typeof options !== "object" || options === null)) throw invalid("options must be an object.");
    this.container = checkContainer(options?.container, client);
  }
  get url(): string {
    return this.client.url;
  }
  upload(source: WebByteInput, options?: WebUploadOptions): Promise<WebUploadResult> {
    return uploadEncryptedBlob(this.client, source, this.policy, options);
  }
  download(options?: WebDownloadOptions): Promise<WebDownloadedBlob> {
    return downloadDecryptedBlob(this.client, this.policy, options);
  }
  openRead(options?: WebDownloadOptions): Promise<WebOpenedBlob<AsyncGenerator<Uint8Array>>> {
    return openDecryptedBlob(this.client, this.policy, options);
  }
  /** Properties with the encryption summary and plaintext length (no key unwrapped, no body read). */
  getProperties(options?: WebBlobPropertiesOptions): Promise<WebBlobProperties> {
    return getEncryptedBlobProperties(this.client, options);
  }
  /** Replaces the user metadata and keeps `encryptiondata` (If-Match the ETag read). */
  setMetadata(metadata?: Record<string, string>, options?: WebBlobPropertiesOptions): Promise<WebSetMetadataResult> {
    return setEncryptedBlobMetadata(this.client, metadata, options);
  }
  /** Re-wraps the content key under `newKeyEncryptionKey`; metadata only, If-Match the ETag read; names keep their case with a container (see WebMetadataCaseOptions). */
  updateKeyEncryptionKey(newKeyEncryptionKey: KeyEncryptionKey, options?: WebUpdateKeyEncryptionKeyOptions): Promise<WebUpdateKeyEncryptionKeyResult> {
    const container = options?.container ?? this.container;
    return updateBlobKeyEncryptionKey(this.client, this.policy, newKeyEncryptionKey, container === undefined ? options : { ...options, container });
  }
}
