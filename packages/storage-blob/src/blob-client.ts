// EncryptedBlobClient: client-side encryption around an @azure/storage-blob BlobClient (composition).
// The work is split by job: blob-upload.ts, blob-download.ts, blob-metadata.ts, blob-rotation.ts, with the
// shared read helpers in blob-context.ts; this file is the public class and delegates to them.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { BlobClient, BlobRequestConditions } from "@azure/storage-blob";
import { ClientSideEncryptionError, checkedByteSource, type ClientSideEncryptionPolicy, type KeyEncryptionKey } from "@azure-cse/core-envelope";
import { BlobContext } from "./blob-context.js";
import { download, downloadToBuffer, downloadToFile } from "./blob-download.js";
import { copyFromBlob, createSnapshot, getProperties, setMetadata } from "./blob-metadata.js";
import { updateKeyEncryptionKey } from "./blob-rotation.js";
import { MAX_SINGLE_PUT_SIZE, toBuffer, upload, type UploadableData } from "./blob-upload.js";
import { storageCall } from "./errors.js";
import { checkString, optionsOf } from "./internal.js";
import type {
  AbortSignalLike,
  EncryptedBlobDownloadResponse,
  EncryptedBlobProperties,
  EncryptedCopyOptions,
  EncryptedCopyResponse,
  EncryptedCreateSnapshotOptions,
  EncryptedDownloadOptions,
  EncryptedGetPropertiesOptions,
  EncryptedParallelDownloadOptions,
  EncryptedSetMetadataOptions,
  EncryptedUploadOptions,
  EncryptedUploadResponse,
  UpdateKeyEncryptionKeyOptions,
  UpdateKeyEncryptionKeyResponse,
} from "./models.js";

export { MAX_SINGLE_PUT_SIZE, type UploadableData };

const MiB = 1024 * 1024;
/**
 * A blob client that encrypts on upload and decrypts on download, byte-compatible with the official
 * .NET, Java and Python SDKs (protocols 1.0, 2.0 and 2.1). It wraps, and never subclasses, a
 * `BlobClient`, so it works with any credential that client has.
 */
export class EncryptedBlobClient {
  readonly #client: BlobClient;
  readonly #policy: ClientSideEncryptionPolicy;
  readonly #c: BlobContext;

  constructor(blobClient: BlobClient, policy: ClientSideEncryptionPolicy) {
    if (!blobClient || typeof blobClient.download !== "function") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", "EncryptedBlobClient needs an @azure/storage-blob BlobClient.");
    }
    if (!policy || typeof policy !== "object") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", "EncryptedBlobClient needs a ClientSideEncryptionPolicy.");
    }
    this.#client = blobClient;
    this.#policy = policy;
    this.#c = new BlobContext(blobClient, policy);
  }

  /** The wrapped client. Writing through it bypasses encryption. */
  get blobClient(): BlobClient {
    return this.#client;
  }
  get policy(): ClientSideEncryptionPolicy {
    return this.#policy;
  }
  get name(): string {
    return this.#client.name;
  }
  get containerName(): string {
    return this.#client.containerName;
  }
  get url(): string {
    return this.#client.url;
  }

  /** The same blob at a snapshot (read-only). */
  withSnapshot(snapshot: string): EncryptedBlobClient {
    checkString(snapshot, "withSnapshot's snapshot");
    return new EncryptedBlobClient(this.#client.withSnapshot(snapshot), this.#policy);
  }
  /** The same blob at a version (read-only). */
  withVersion(versionId: string): EncryptedBlobClient {
    checkString(versionId, "withVersion's versionId");
    return new EncryptedBlobClient(this.#client.withVersion(versionId), this.#policy);
  }

  // ---------------------------------------------------------------- upload (blob-upload.ts)

  /** Encrypts and uploads a buffer (one Put Blob while the encrypted size fits `maxSingleShotSize`). */
  async uploadData(data: UploadableData, options: EncryptedUploadOptions = {}): Promise<EncryptedUploadResponse> {
    options = optionsOf(options, "uploadData options");
    const buf = await toBuffer(data);
    return upload(this.#c, () => [buf], buf.length, options, true);
  }

  /**
   * Encrypts and uploads a stream with bounded memory (about blockSize × (concurrency + 1)): encryption
   * runs as the stream is read, blocks are staged in parallel and committed together with the encryption
   * metadata. A stream that ends within the first block is sent as one Put Blob.
   */
  async uploadStream(stream: AsyncIterable<Uint8Array> | NodeJS.ReadableStream, options: EncryptedUploadOptions = {}): Promise<EncryptedUploadResponse> {
    options = optionsOf(options, "uploadStream options");
    // Checked before any key is used: a non-stream is INVALID_ARGUMENT; a failing stream is SOURCE_ERROR.
    const source = checkedByteSource(stream, "uploadStream's stream");
    return upload(this.#c, () => source, undefined, options, false);
  }

  /** Encrypts and uploads a local file (streamed; one Put Blob while it fits `maxSingleShotSize`). */
  async uploadFile(filePath: string, options: EncryptedUploadOptions = {}): Promise<EncryptedUploadResponse> {
    options = optionsOf(options, "uploadFile options");
    checkString(filePath, "uploadFile's filePath");
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(filePath);
    } catch (e) {
      throw new ClientSideEncryptionError("NOT_FOUND", `Cannot read the file to upload: ${(e as Error).message}`, { cause: e });
    }
    if (st.isDirectory()) throw new ClientSideEncryptionError("INVALID_ARGUMENT", "uploadFile's filePath is a directory; give a file.");
    // A FIFO, character device or /dev/stdin has no meaningful size: read it as a one-shot stream.
    if (!st.isFile()) return upload(this.#c, () => checkedByteSource(createReadStream(filePath, { highWaterMark: MiB }), "uploadFile's file"), undefined, options, false);
    return upload(this.#c, () => checkedByteSource(createReadStream(filePath, { highWaterMark: MiB }), "uploadFile's file"), st.size, options, true);
  }

  // ---------------------------------------------------------------- download (blob-download.ts)


  /**
   * Downloads plaintext as a stream. A whole-blob download is a single GET (metadata from its response);
   * a range first reads the properties, then fetches only the covering regions (2.x) or CBC blocks plus
   * the previous block as IV (1.0). Every request is pinned to the first response's ETag.
   */
  async download(offset = 0, count?: number, options: EncryptedDownloadOptions = {}): Promise<EncryptedBlobDownloadResponse> {
    return download(this.#c, offset, count, options);
  }

  /** Downloads plaintext into a new Buffer with parallel ranged GETs (bounded memory besides the result). */
  async downloadToBuffer(offset = 0, count?: number, options: EncryptedParallelDownloadOptions = {}): Promise<Buffer> {
    return downloadToBuffer(this.#c, offset, count, options);
  }


  /**
   * Downloads plaintext to a file with parallel ranged GETs, writing to a temporary file that is renamed
   * into place only on success: a failed or aborted download leaves no (partial) file.
   */
  async downloadToFile(filePath: string, offset = 0, count?: number, options: EncryptedParallelDownloadOptions = {}): Promise<Omit<EncryptedBlobDownloadResponse, "readableStreamBody">> {
    return downloadToFile(this.#c, filePath, offset, count, options);
  }

  // ---------------------------------------------------------------- metadata-safe operations (blob-metadata.ts)

  /**
   * The service properties plus `isClientSideEncrypted`, the protocol, key id and plaintext length
   * (2.x: exact from the stored length; 1.0: from the last CBC blocks when a key is available).
   */
  async getProperties(options: EncryptedGetPropertiesOptions = {}): Promise<EncryptedBlobProperties> {
    return getProperties(this.#c, options);
  }


  /**
   * Replaces the user metadata while keeping `encryptiondata` (a plain Set Blob Metadata would drop it and
   * make the blob undecryptable). Conditional on the ETag read, so a concurrent change fails with
   * CONDITION_NOT_MET instead of being overwritten. A caller key `encryptiondata` is refused.
   */
  async setMetadata(metadata: Record<string, string> = {}, options: EncryptedSetMetadataOptions = {}): Promise<{ etag?: string; lastModified?: Date }> {
    return setMetadata(this.#c, metadata, options);
  }

  /**
   * Creates a snapshot. Without `metadata` the snapshot keeps the blob's metadata (including
   * `encryptiondata`); with `metadata`, `encryptiondata` is carried over (If-Match the ETag read).
   */
  async createSnapshot(options: EncryptedCreateSnapshotOptions = {}): Promise<{ snapshot?: string; etag?: string; lastModified?: Date }> {
    return createSnapshot(this.#c, options);
  }

  /**
   * Server-side copy of another blob (same account, or a source URL the service can read) that keeps the
   * source's `encryptiondata`, even when new metadata is given. The copy is pinned to the source ETag
   * read first. With requireEncryption, copying an unencrypted source is refused (ENCRYPTION_REQUIRED).
   */
  async copyFromBlob(source: EncryptedBlobClient | BlobClient, options: EncryptedCopyOptions = {}): Promise<EncryptedCopyResponse> {
    return copyFromBlob(this.#c, source instanceof EncryptedBlobClient ? source.blobClient : source, options);
  }

  // ---------------------------------------------------------------- rotation (blob-rotation.ts)

  /**
   * Key rotation: re-wraps the content key with `newKeyEncryptionKey` and rewrites only
   * `WrappedContentKey` (no data is re-uploaded). The old key is found through the policy (keyResolver or
   * keyEncryptionKey). The new wrap is unwrapped and compared before anything is written, and the write is
   * If-Match the ETag read, so a concurrent change fails with CONDITION_NOT_MET and nothing is lost.
   */
  async updateKeyEncryptionKey(newKeyEncryptionKey: KeyEncryptionKey, options: UpdateKeyEncryptionKeyOptions = {}): Promise<UpdateKeyEncryptionKeyResponse> {
    return updateKeyEncryptionKey(this.#c, newKeyEncryptionKey, options);
  }

  // ---------------------------------------------------------------- passthrough

  /** Whether the blob exists. */
  async exists(options: EncryptedGetPropertiesOptions = {}): Promise<boolean> {
    options = optionsOf(options, "exists options");
    return storageCall(this.#c.ctx(), () => this.#client.exists({ conditions: options.conditions, abortSignal: options.abortSignal, tracingOptions: options.tracingOptions }));
  }

  /** Deletes the blob (and, with `deleteSnapshots: "include"`, its snapshots). */
  async delete(options: { conditions?: BlobRequestConditions; deleteSnapshots?: "include" | "only"; abortSignal?: AbortSignalLike } = {}): Promise<void> {
    options = optionsOf(options, "delete options");
    await storageCall(this.#c.ctx(), () => this.#client.delete(options));
  }

  /** Deletes the blob if it exists. */
  async deleteIfExists(options: { conditions?: BlobRequestConditions; deleteSnapshots?: "include" | "only"; abortSignal?: AbortSignalLike } = {}): Promise<boolean> {
    options = optionsOf(options, "deleteIfExists options");
    const r = await storageCall(this.#c.ctx(), () => this.#client.deleteIfExists(options));
    return r.succeeded;
  }
}
