// Options bags and results of the encrypted clients. They follow @azure/storage-blob's conventions.
import type {
  BlobGetPropertiesResponse,
  BlobHTTPHeaders,
  BlobRequestConditions,
  BlockBlobTier,
  CommonOptions,
  ModifiedAccessConditions,
  Tags,
} from "@azure/storage-blob";
import type { AbortSignalLike, EncryptionProtocol } from "@azure-cse/core-envelope";

/** The Azure SDKs' abort signal type (from @azure/abort-controller, through core); an AbortSignal is one. */
export type { AbortSignalLike } from "@azure-cse/core-envelope";

/** Progress in **plaintext** bytes. */
export interface PlaintextProgressEvent {
  loadedBytes: number;
}

export interface EncryptedOperationOptions extends CommonOptions {
  abortSignal?: AbortSignalLike;
}

export interface EncryptedUploadOptions extends EncryptedOperationOptions {
  /** User metadata, stored unencrypted next to `encryptiondata` (copied; a key `encryptiondata` is refused). */
  metadata?: Record<string, string>;
  blobHTTPHeaders?: BlobHTTPHeaders;
  tags?: Tags;
  tier?: BlockBlobTier | string;
  /** Access conditions for the write (e.g. `{ ifNoneMatch: "*" }` to create only). */
  conditions?: BlobRequestConditions;
  /** Called with the plaintext bytes stored so far. */
  onProgress?: (progress: PlaintextProgressEvent) => void;
  /**
   * Largest plaintext size sent as one Put Blob; default 256 MiB, the same rule as `@azure/storage-blob`, so
   * the request shape does not change with encryption (the stored body is 28 bytes per 4 MiB region larger).
   */
  maxSingleShotSize?: number;
  /** Stored bytes per staged block; default 4 MiB (known sizes) or 8 MiB (streams), as in `@azure/storage-blob`. */
  blockSize?: number;
  /** Blocks staged in parallel; default 5. Memory stays about blockSize × (concurrency + 1). */
  concurrency?: number;
}

export interface EncryptionSummary {
  protocol: EncryptionProtocol;
  /** WrappedContentKey.KeyId: the key-encryption key that can unwrap the content key. */
  keyId: string;
  /** WrappedContentKey.Algorithm. */
  keyWrapAlgorithm: string;
  /** Plaintext bytes per GCM region (2.x). */
  regionSize?: number;
  /** KeyWrappingMetadata.EncryptionLibrary: the writer (informational). */
  encryptionLibrary?: string;
}

export interface EncryptedUploadResponse {
  etag?: string;
  lastModified?: Date;
  versionId?: string;
  requestId?: string;
  /** How the blob was written: one Put Blob or staged blocks + Put Block List. */
  uploadPath: "single-put" | "blocks";
  /** Number of staged blocks (0 for a single put). */
  blockCount: number;
  plaintextLength: number;
  storedLength: number;
  encryption: EncryptionSummary;
}

export interface EncryptedDownloadOptions extends EncryptedOperationOptions {
  /** Read conditions; the first response's ETag then pins every further request (If-Match). */
  conditions?: BlobRequestConditions;
  /** Called with the plaintext bytes delivered so far. */
  onProgress?: (progress: PlaintextProgressEvent) => void;
  /** Retries of a broken response stream (the SDK's `maxRetryRequests`), always pinned to the ETag. */
  maxRetryRequests?: number;
}

export interface EncryptedParallelDownloadOptions extends EncryptedDownloadOptions {
  /** Plaintext bytes per ranged request, rounded to whole regions (2.x) or CBC blocks (1.0); default 4 MiB. */
  blockSize?: number;
  /** Ranged requests in flight; default 5. Memory stays about one region per request in flight. */
  concurrency?: number;
}

/** What a download returns: a plaintext stream and plaintext sizes. */
export interface EncryptedBlobDownloadResponse {
  /** Plaintext. Errors are typed ClientSideEncryptionErrors (DECRYPTION_FAILED, CONDITION_NOT_MET…). */
  readableStreamBody: NodeJS.ReadableStream;
  /** Plaintext bytes the stream will deliver. */
  contentLength: number;
  /** Stored (ciphertext) length of the whole blob. */
  storedContentLength: number;
  /** The ETag every request of this download was pinned to. */
  etag: string;
  lastModified?: Date;
  metadata?: Record<string, string>;
  blobType?: string;
  contentType?: string;
  isClientSideEncrypted: boolean;
  encryption?: EncryptionSummary;
}

export interface EncryptedGetPropertiesOptions extends EncryptedOperationOptions {
  conditions?: BlobRequestConditions;
  /**
   * 1.0 only: learn the exact plaintext length by fetching and decrypting the last one or two CBC blocks.
   * Default false: reading properties never decrypts (a padding check answered by a metadata call would be
   * a padding oracle without any download); `allowedReadProtocols` is honoured when set.
   */
  computeV1PlaintextLength?: boolean;
}

export type EncryptedBlobProperties = BlobGetPropertiesResponse & {
  /** True when the blob carries `encryptiondata` metadata (even if it cannot be parsed). */
  isClientSideEncrypted: boolean;
  encryption?: EncryptionSummary;
  /** Plaintext length: exact for 2.x; for 1.0 when computed (see `computeV1PlaintextLength`). */
  plaintextLength?: number;
  /** Stored (ciphertext) length, the service's Content-Length. */
  storedContentLength?: number;
  /** Set when `encryptiondata` is present but unreadable; such a blob can never be decrypted. */
  encryptionDataError?: { code: string; message: string };
};

export interface EncryptedSetMetadataOptions extends EncryptedOperationOptions {
  conditions?: BlobRequestConditions;
}

export interface UpdateKeyEncryptionKeyOptions extends EncryptedOperationOptions {
  /** Algorithm for the new wrap; default the new key's `defaultWrapAlgorithm`. */
  keyWrapAlgorithm?: string;
  /** Conditions for reading the blob; the write is always If-Match the ETag that was read. */
  conditions?: BlobRequestConditions;
}

export interface UpdateKeyEncryptionKeyResponse {
  etag?: string;
  lastModified?: Date;
  previousKeyId: string;
  keyId: string;
  keyWrapAlgorithm: string;
}

export interface EncryptedCreateSnapshotOptions extends EncryptedOperationOptions {
  /** New metadata for the snapshot; `encryptiondata` is carried over automatically (a caller key is refused). */
  metadata?: Record<string, string>;
  conditions?: BlobRequestConditions;
}

export interface EncryptedCopyOptions extends EncryptedOperationOptions {
  /** Replace the metadata on the copy; `encryptiondata` of the source is carried over (a caller key is refused). */
  metadata?: Record<string, string>;
  tags?: Tags;
  tier?: BlockBlobTier | string;
  /** Conditions on the destination. */
  conditions?: BlobRequestConditions;
  /** Conditions on reading the source; the copy is then pinned to the source ETag that was read. */
  sourceConditions?: ModifiedAccessConditions;
  /** Poll interval while the service copies; default 500 ms. */
  pollIntervalInMs?: number;
}

export interface EncryptedCopyResponse {
  etag?: string;
  lastModified?: Date;
  copyId?: string;
  copyStatus?: string;
  isClientSideEncrypted: boolean;
}
