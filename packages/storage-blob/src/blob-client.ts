// EncryptedBlobClient: client-side encryption around an @azure/storage-blob BlobClient (composition).
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { ContainerClient } from "@azure/storage-blob";
import type { BlobClient, BlobRequestConditions, BlockBlobClient, Metadata } from "@azure/storage-blob";
import {
  ClientSideEncryptionError,
  DECRYPTION_FAILED_MESSAGE,
  ENCRYPTION_DATA_METADATA_KEY,
  contentKeyFromUnwrapped,
  createContentEncryption,
  decryptCbc,
  decryptPlanned,
  findEncryptionDataInMetadata,
  keyWrapInput,
  checkedByteSource,
  maxReadRegionSize,
  parseEncryptionData,
  planRange,
  serializeEncryptionData,
  unwrapContentKey,
  v2PlaintextLength,
  collectBytes,
  type ByteSource,
  type ClientSideEncryptionPolicy,
  type ContentEncryption,
  type EncryptionData,
  type EncryptionDataV1,
  type KeyEncryptionKey,
  type RangePlan,
  throwIfAborted,
  sourceFailed,
} from "@azure-cse/core-envelope";
import { storageCall, toTypedError } from "./errors.js";
import { RepeatableBody, ReplayableBody } from "./replayable-body.js";
import {
  blockIdFactory,
  checkString,
  optionsOf,
  checkNonNegative,
  checkPositive,
  copyUserMetadata,
  linkedController,
  plaintextProgress,
  runPool,
  withoutEncryptionData,
} from "./internal.js";
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
  EncryptionSummary,
  UpdateKeyEncryptionKeyOptions,
  UpdateKeyEncryptionKeyResponse,
} from "./models.js";

const MiB = 1024 * 1024;
/** Single Put Blob limit of the service (and @azure/storage-blob's default maxSingleShotSize). */
export const MAX_SINGLE_PUT_SIZE = 256 * MiB;
const MAX_BLOCK_SIZE = 4000 * MiB;
const MAX_BLOCKS = 50000;
const DEFAULT_UPLOAD_BLOCK_SIZE = 4 * MiB;
const DEFAULT_STREAM_BLOCK_SIZE = 8 * MiB;
const DEFAULT_CONCURRENCY = 5;
const DEFAULT_DOWNLOAD_BLOCK_SIZE = 4 * MiB;

/** Data accepted by `uploadData`. */
export type UploadableData = Buffer | Uint8Array | ArrayBuffer | ArrayBufferView | { arrayBuffer(): Promise<ArrayBuffer>; size: number };

interface BlobEncryptionState {
  data: EncryptionData;
  /** False for legacy unpadded 1.0 page blobs. */
  padded: boolean;
}

interface PinnedBlob {
  etag: string;
  storedLength: number;
  metadata: Record<string, string> | undefined;
  blobType: string | undefined;
  lastModified: Date | undefined;
  contentType: string | undefined;
}

function summarize(data: EncryptionData): EncryptionSummary {
  const s: EncryptionSummary = {
    protocol: data.protocol,
    keyId: data.wrappedContentKey.keyId,
    keyWrapAlgorithm: data.wrappedContentKey.algorithm,
  };
  if (data.protocol !== "1.0") s.regionSize = data.encryptedRegionInfo.dataLength;
  const lib = data.keyWrappingMetadata?.EncryptionLibrary;
  if (lib !== undefined) s.encryptionLibrary = lib;
  return s;
}

async function toBuffer(data: UploadableData): Promise<Buffer> {
  if (data === null || data === undefined) throw new ClientSideEncryptionError("INVALID_ARGUMENT", `uploadData needs data: a Buffer, Uint8Array, ArrayBuffer, typed array or Blob (got ${String(data)}).`);
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (typeof (data as { arrayBuffer?: unknown }).arrayBuffer === "function") {
    let ab: unknown;
    try {
      ab = await data.arrayBuffer();
    } catch (e) {
      throw sourceFailed(e);
    }
    if (!(ab instanceof ArrayBuffer)) throw new ClientSideEncryptionError("INVALID_ARGUMENT", "uploadData: the Blob's arrayBuffer() did not return an ArrayBuffer.");
    return Buffer.from(ab);
  }
  throw new ClientSideEncryptionError("INVALID_ARGUMENT", "uploadData accepts a Buffer, Uint8Array, ArrayBuffer, typed array or Blob.");
}

/**
 * A response body can fail (connection dropped mid-body) before anything reads it; without a listener
 * that 'error' event would be an uncaught exception. The error stays on the stream (`errored`), so the
 * reader that iterates it later still receives it.
 */
function guardBody(body: NodeJS.ReadableStream | undefined): void {
  body?.on("error", () => undefined);
}

/**
 * A blob client that encrypts on upload and decrypts on download, byte-compatible with the official
 * .NET, Java and Python SDKs (protocols 1.0, 2.0 and 2.1). It wraps, and never subclasses, a
 * `BlobClient`, so it works with any credential that client has.
 */
export class EncryptedBlobClient {
  readonly #client: BlobClient;
  readonly #policy: ClientSideEncryptionPolicy;

  constructor(blobClient: BlobClient, policy: ClientSideEncryptionPolicy) {
    if (!blobClient || typeof blobClient.download !== "function") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", "EncryptedBlobClient needs an @azure/storage-blob BlobClient.");
    }
    if (!policy || typeof policy !== "object") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", "EncryptedBlobClient needs a ClientSideEncryptionPolicy.");
    }
    this.#client = blobClient;
    this.#policy = policy;
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

  /** Raw block staging would bypass encryption, so it is not offered. */
  getBlockBlobClient(): never {
    throw this.#unsupported("Raw block blob operations (stageBlock, commitBlockList) would bypass encryption; use uploadData, uploadStream or uploadFile.");
  }
  /** Page blobs cannot be written with client-side encryption (no SDK writes 2.x page blobs). */
  getPageBlobClient(): never {
    throw this.#unsupported("Page blobs cannot be written with client-side encryption; only block blobs are written (legacy 1.0 page blobs can still be read).");
  }
  /** Append blobs cannot be written with client-side encryption. */
  getAppendBlobClient(): never {
    throw this.#unsupported("Append blobs cannot be written with client-side encryption: an encrypted body cannot be appended to.");
  }
  /** Always fails: page writes cannot be encrypted. */
  async uploadPages(): Promise<never> {
    return this.getPageBlobClient();
  }
  /** Always fails: appends cannot be encrypted. */
  async appendBlock(): Promise<never> {
    return this.getAppendBlobClient();
  }

  #unsupported(message: string): ClientSideEncryptionError {
    return new ClientSideEncryptionError("UNSUPPORTED_OPERATION", message, { details: this.#ctx() });
  }

  #ctx(): Record<string, string> {
    return { container: this.#client.containerName, blob: this.#client.name };
  }

  get #requireEncryption(): boolean {
    return this.#policy.requireEncryption ?? true;
  }

  // ---------------------------------------------------------------- upload

  /** Encrypts and uploads a buffer (one Put Blob while the encrypted size fits `maxSingleShotSize`). */
  async uploadData(data: UploadableData, options: EncryptedUploadOptions = {}): Promise<EncryptedUploadResponse> {
    options = optionsOf(options, "uploadData options");
    const buf = await toBuffer(data);
    return this.#upload(() => [buf], buf.length, options, true);
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
    return this.#upload(() => source, undefined, options, false);
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
    if (!st.isFile()) return this.#upload(() => checkedByteSource(createReadStream(filePath, { highWaterMark: MiB }), "uploadFile's file"), undefined, options, false);
    return this.#upload(() => checkedByteSource(createReadStream(filePath, { highWaterMark: MiB }), "uploadFile's file"), st.size, options, true);
  }

  /**
   * `open` gives the plaintext; when `reopenable` (buffers, files) it may be called again and reads the
   * same source from the start, so a single Put Blob is encrypted again for an SDK retry instead of
   * keeping its whole ciphertext in memory. A one-shot stream is opened exactly once.
   */
  async #upload(open: () => ByteSource, knownSize: number | undefined, options: EncryptedUploadOptions, reopenable: boolean): Promise<EncryptedUploadResponse> {
    const userMetadata = copyUserMetadata(options.metadata);
    const maxSingle = options.maxSingleShotSize ?? MAX_SINGLE_PUT_SIZE;
    if (!Number.isSafeInteger(maxSingle) || maxSingle < 0 || maxSingle > MAX_SINGLE_PUT_SIZE) {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", `maxSingleShotSize must be from 0 to ${MAX_SINGLE_PUT_SIZE} bytes.`);
    }
    checkPositive(options.blockSize, "blockSize");
    checkPositive(options.concurrency, "concurrency");
    if (options.blockSize !== undefined && options.blockSize > MAX_BLOCK_SIZE) {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", `blockSize must be at most ${MAX_BLOCK_SIZE} bytes.`);
    }
    throwIfAborted(options.abortSignal);
    const enc = await createContentEncryption(this.#policy, { abortSignal: options.abortSignal });
    try {
      const metadata: Metadata = { ...userMetadata, [ENCRYPTION_DATA_METADATA_KEY]: enc.toJson(true) };
      const summary = summarize(enc.encryptionData);
      let plainCount = 0;
      async function* counted(): AsyncGenerator<Uint8Array> {
        for await (const c of open()) {
          plainCount += c.length;
          yield c;
        }
      }
      const block = this.#client.getBlockBlobClient();
      if (knownSize !== undefined) {
        const stored = enc.storedLength(knownSize);
        // The plain SDK's rule on the plaintext size, so switching to this client keeps the request shape:
        // a 256 MiB upload stays one Put Blob (256 MiB + 28 B per region; the service takes up to 5000 MiB).
        if (knownSize <= maxSingle) {
          if (stored === 0) {
            for await (const c of enc.encrypt(counted())) if (c.length) throw this.#sizeChanged();
            const res = await this.#putBlob(block, Buffer.alloc(0), 0, metadata, options, enc, knownSize);
            return { ...res, plaintextLength: knownSize, storedLength: stored, encryption: summary };
          }
          const { controller, dispose } = linkedController(options.abortSignal);
          let body: { stream: () => NodeJS.ReadableStream; failure: { e: unknown } | undefined; close(): Promise<void> };
          if (reopenable && enc.protocol !== "1.0") {
            // Encrypted while it is sent, region by region, and encrypted again from the source for an SDK
            // retry (deterministic nonces: identical bytes, verified per region by its tag before release),
            // so memory stays at about one region instead of the whole body.
            body = new RepeatableBody(enc.encryptRepeatable(open), stored, () => this.#sizeChanged(), () => controller.abort());
          } else {
            // Protocol 1.0 or a one-shot stream: the cipher's output buffers go to the request as they come
            // and are kept, so an SDK retry replays the same bytes (the key encrypts once).
            body = new ReplayableBody(enc.encrypt(counted()), stored, () => this.#sizeChanged(), () => controller.abort());
          }
          let res;
          try {
            res = await this.#putBlob(block, body.stream, stored, metadata, { ...options, abortSignal: controller.signal }, enc, knownSize);
          } catch (e) {
            await body.close();
            throw body.failure ? body.failure.e : e;
          } finally {
            dispose();
          }
          // An attempt the SDK gave up on without destroying its stream must not keep its source (a file) open.
          await body.close();
          return { ...res, plaintextLength: knownSize, storedLength: stored, encryption: summary };
        }
      }
      let blockSize = options.blockSize ?? (knownSize === undefined ? DEFAULT_STREAM_BLOCK_SIZE : DEFAULT_UPLOAD_BLOCK_SIZE);
      if (knownSize !== undefined && options.blockSize === undefined) {
        blockSize = Math.max(blockSize, Math.ceil(enc.storedLength(knownSize) / MAX_BLOCKS));
      }
      return await this.#staged(block, enc.encrypt(counted()), blockSize, maxSingle, metadata, options, enc, summary, () => plainCount, knownSize);
    } catch (e) {
      throw toTypedError(e, this.#ctx(), { callerSignal: options.abortSignal });
    } finally {
      enc.dispose();
    }
  }

  #sizeChanged(): ClientSideEncryptionError {
    return new ClientSideEncryptionError("INVALID_ARGUMENT", "The source changed size while it was being uploaded; nothing was written.", { details: this.#ctx() });
  }

  async #putBlob(
    block: BlockBlobClient,
    body: Buffer | (() => NodeJS.ReadableStream),
    length: number,
    metadata: Metadata,
    options: EncryptedUploadOptions,
    enc: ContentEncryption,
    plaintextTotal: number,
  ): Promise<Omit<EncryptedUploadResponse, "plaintextLength" | "storedLength" | "encryption">> {
    const onProgress = options.onProgress;
    const res = await block.upload(body, length, {
      metadata,
      blobHTTPHeaders: options.blobHTTPHeaders,
      tags: options.tags,
      tier: options.tier,
      conditions: options.conditions,
      abortSignal: options.abortSignal,
      tracingOptions: options.tracingOptions,
      onProgress: onProgress ? (p) => onProgress({ loadedBytes: plaintextProgress(enc.encryptionData, p.loadedBytes, plaintextTotal) }) : undefined,
    });
    onProgress?.({ loadedBytes: plaintextTotal });
    return { etag: res.etag, lastModified: res.lastModified, versionId: res.versionId, requestId: res.requestId, uploadPath: "single-put", blockCount: 0 };
  }

  async #staged(
    block: BlockBlobClient,
    ciphertext: AsyncGenerator<Buffer>,
    blockSize: number,
    maxSingle: number,
    metadata: Metadata,
    options: EncryptedUploadOptions,
    enc: ContentEncryption,
    summary: EncryptionSummary,
    plainCount: () => number,
    knownSize: number | undefined,
  ): Promise<EncryptedUploadResponse> {
    const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    const idOf = blockIdFactory();
    const ids: string[] = [];
    const { controller, dispose } = linkedController(options.abortSignal);
    const inFlight = new Set<Promise<void>>();
    let failure: { e: unknown } | undefined;
    let storedDone = 0;
    let storedTotal = 0;
    const onProgress = options.onProgress;
    const spare: Buffer[] = [];
    const stage = (buf: Buffer, index: number): void => {
      const id = idOf(index);
      ids.push(id);
      const p = block
        .stageBlock(id, buf, buf.length, {
          abortSignal: controller.signal,
          conditions: options.conditions?.leaseId ? { leaseId: options.conditions.leaseId } : undefined,
          // Azurite and the service validate the block; Azurite also skips its slow CRC64 with an MD5.
          transactionalContentMD5: createHash("md5").update(buf).digest(),
          tracingOptions: options.tracingOptions,
        })
        .then(
          () => {
            // The request is complete: the buffer can take the next block (no allocation per block, so
            // no fresh pages to fault in and no heap growth with the blob size).
            if (buf.length === blockSize && spare.length <= concurrency) spare.push(buf);
            storedDone += buf.length;
            onProgress?.({ loadedBytes: plaintextProgress(enc.encryptionData, storedDone, plainCount()) });
          },
          (e: unknown) => {
            if (!failure) {
              failure = { e };
              controller.abort();
            }
          },
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    };
    try {
      let current: Buffer = Buffer.allocUnsafe(blockSize);
      let fill = 0;
      let index = 0;
      let firstBlockPending = true;
      for await (const piece of ciphertext) {
        let pos = 0;
        while (pos < piece.length) {
          const n = Math.min(piece.length - pos, blockSize - fill);
          piece.copy(current, fill, pos, pos + n);
          fill += n;
          pos += n;
          storedTotal += n;
          if (fill === blockSize) {
            firstBlockPending = false;
            if (index >= MAX_BLOCKS) throw new ClientSideEncryptionError("PAYLOAD_TOO_LARGE", `The upload needs more than ${MAX_BLOCKS} blocks; raise blockSize.`);
            stage(current, index++);
            fill = 0;
            while (inFlight.size >= concurrency) await Promise.race(inFlight);
            if (failure) throw failure.e;
            throwIfAborted(controller.signal);
            current = spare.pop() ?? Buffer.allocUnsafe(blockSize);
          }
        }
      }
      if (knownSize !== undefined && plainCount() !== knownSize) throw this.#sizeChanged();
      if (firstBlockPending && fill <= maxSingle) {
        // The whole encrypted body fits one request: keep the single Put Blob shape.
        const res = await this.#putBlob(block, current.subarray(0, fill), fill, metadata, { ...options, abortSignal: controller.signal }, enc, plainCount());
        return { ...res, plaintextLength: plainCount(), storedLength: fill, encryption: summary };
      }
      if (fill > 0) stage(current.subarray(0, fill), index++);
      await Promise.all(inFlight);
      if (failure) throw failure.e;
      throwIfAborted(controller.signal);
      // Metadata goes on the Put Block List itself: the blob never exists without its key metadata.
      const res = await block.commitBlockList(ids, {
        metadata,
        blobHTTPHeaders: options.blobHTTPHeaders,
        tags: options.tags,
        tier: options.tier,
        conditions: options.conditions,
        abortSignal: controller.signal,
        tracingOptions: options.tracingOptions,
      });
      onProgress?.({ loadedBytes: plainCount() });
      return {
        etag: res.etag,
        lastModified: res.lastModified,
        versionId: res.versionId,
        requestId: res.requestId,
        uploadPath: "blocks",
        blockCount: ids.length,
        plaintextLength: plainCount(),
        storedLength: storedTotal,
        encryption: summary,
      };
    } catch (e) {
      controller.abort();
      await Promise.allSettled(inFlight);
      await ciphertext.return(undefined);
      throw failure && !ClientSideEncryptionError.is(e) ? failure.e : e;
    } finally {
      dispose();
    }
  }

  // ---------------------------------------------------------------- read helpers

  /** Parses the blob's encryption metadata; undefined when it has none. Unreadable metadata always throws. */
  #encryptionOf(metadata: Record<string, string> | undefined, blobType: string | undefined): BlobEncryptionState | undefined {
    const raw = findEncryptionDataInMetadata(metadata);
    if (raw === undefined) return undefined;
    const data = parseEncryptionData(raw, { maxRegionSize: maxReadRegionSize(this.#policy) });
    return { data, padded: !(data.protocol === "1.0" && blobType === "PageBlob") };
  }

  #notEncrypted(): ClientSideEncryptionError {
    return new ClientSideEncryptionError(
      "ENCRYPTION_REQUIRED",
      `Blob "${this.containerName}/${this.name}" has no client-side encryption metadata, and requireEncryption is on: its content is not returned. Set requireEncryption: false to read unencrypted blobs.`,
      { details: this.#ctx() },
    );
  }

  #pinned(conditions: BlobRequestConditions | undefined, etag: string): BlobRequestConditions {
    const c: BlobRequestConditions = { ifMatch: etag };
    if (conditions?.leaseId) c.leaseId = conditions.leaseId;
    if (conditions?.tagConditions) c.tagConditions = conditions.tagConditions;
    return c;
  }

  async #pinnedProperties(options: { conditions?: BlobRequestConditions; abortSignal?: AbortSignalLike; tracingOptions?: EncryptedDownloadOptions["tracingOptions"] }): Promise<PinnedBlob> {
    const p = await storageCall(this.#ctx(), () =>
      this.#client.getProperties({ conditions: options.conditions, abortSignal: options.abortSignal, tracingOptions: options.tracingOptions }),
    );
    if (!p.etag || p.contentLength === undefined) throw new ClientSideEncryptionError("SERVICE_ERROR", "The service returned no ETag or Content-Length.", { details: this.#ctx() });
    return { etag: p.etag, storedLength: p.contentLength, metadata: p.metadata, blobType: p.blobType, lastModified: p.lastModified, contentType: p.contentType };
  }

  /** Fetches stored bytes [offset, offset + count) pinned to `etag`. */
  async #fetch(offset: number, count: number, etag: string, options: EncryptedDownloadOptions, signal?: AbortSignalLike): Promise<NodeJS.ReadableStream> {
    const res = await storageCall(
      this.#ctx(),
      () =>
        this.#client.download(offset, count, {
          conditions: this.#pinned(options.conditions, etag),
          abortSignal: signal ?? options.abortSignal,
          maxRetryRequests: options.maxRetryRequests,
          tracingOptions: options.tracingOptions,
        }),
      { callerSignal: options.abortSignal },
    );
    guardBody(res.readableStreamBody);
    if (res.etag !== undefined && res.etag !== etag) {
      (res.readableStreamBody as Readable | undefined)?.destroy?.();
      throw toTypedError({ statusCode: 412, details: { errorCode: "ConditionNotMet" } }, this.#ctx());
    }
    if (!res.readableStreamBody) throw new ClientSideEncryptionError("SERVICE_ERROR", "The service returned no body.", { details: this.#ctx() });
    return res.readableStreamBody;
  }

  /** Unwraps the content key for a blob (KEK selection per core rules). */
  async #contentKey(data: EncryptionData, signal: AbortSignalLike | undefined): Promise<Buffer> {
    return Buffer.from(await unwrapContentKey(data, this.#policy, { abortSignal: signal }));
  }

  /** 1.0: exact plaintext length from the last one or two CBC blocks (the padding tells). */
  async #v1PlaintextLength(data: EncryptionDataV1, cek: Uint8Array, stored: number, etag: string, options: EncryptedDownloadOptions): Promise<number> {
    if (stored < 16 || stored % 16 !== 0) throw new ClientSideEncryptionError("DECRYPTION_FAILED", DECRYPTION_FAILED_MESSAGE, { details: this.#ctx() });
    const start = stored >= 32 ? stored - 32 : 0;
    const body = await this.#fetch(start, stored - start, etag, options);
    const last = await this.#guard(collectBytes(decryptCbc(body as AsyncIterable<Uint8Array>, cek, data.contentEncryptionIV, { unpad: true, ivFromStream: stored >= 32 })), { callerSignal: options.abortSignal });
    return stored - 16 + last.length;
  }

  async #guard<T>(p: Promise<T>, abort?: { callerSignal: AbortSignalLike | undefined }): Promise<T> {
    try {
      return await p;
    } catch (e) {
      throw toTypedError(e, this.#ctx(), abort);
    }
  }

  /** Exact plaintext length of an encrypted blob. */
  async #plaintextLength(state: BlobEncryptionState, cek: Uint8Array, stored: number, etag: string, options: EncryptedDownloadOptions): Promise<number> {
    const { data } = state;
    if (data.protocol === "1.0") return state.padded ? this.#v1PlaintextLength(data, cek, stored, etag, options) : stored;
    const p = v2PlaintextLength(stored, data.encryptedRegionInfo.dataLength);
    if (p === undefined) throw new ClientSideEncryptionError("DECRYPTION_FAILED", DECRYPTION_FAILED_MESSAGE, { details: this.#ctx() });
    return p;
  }

  /** Decrypts a fetched range; errors become typed; progress in plaintext bytes. */
  #decrypting(state: BlobEncryptionState, cek: Uint8Array, plan: RangePlan, source: ByteSource, callerSignal: AbortSignalLike | undefined, onChunk?: (n: number) => void): AsyncGenerator<Buffer> {
    const ctx = this.#ctx();
    const policy = this.#policy;
    return (async function* () {
      try {
        for await (const chunk of decryptPlanned(state.data, cek, plan, source, policy, state.padded)) {
          onChunk?.(chunk.length);
          yield chunk;
        }
      } catch (e) {
        throw toTypedError(e, ctx, { callerSignal });
      }
    })();
  }

  // ---------------------------------------------------------------- download

  /**
   * Downloads plaintext as a stream. A whole-blob download is a single GET (metadata from its response);
   * a range first reads the properties, then fetches only the covering regions (2.x) or CBC blocks plus
   * the previous block as IV (1.0). Every request is pinned to the first response's ETag.
   */
  async download(offset = 0, count?: number, options: EncryptedDownloadOptions = {}): Promise<EncryptedBlobDownloadResponse> {
    options = optionsOf(options, "download options");
    checkNonNegative(offset, "offset");
    checkNonNegative(count, "count");
    throwIfAborted(options.abortSignal);
    let pinned: PinnedBlob;
    let body: NodeJS.ReadableStream | undefined;
    const whole = offset === 0 && count === undefined;
    if (whole) {
      const res = await storageCall(
        this.#ctx(),
        () =>
          this.#client.download(0, undefined, {
            conditions: options.conditions ? { ...options.conditions } : {},
            abortSignal: options.abortSignal,
            maxRetryRequests: options.maxRetryRequests,
            tracingOptions: options.tracingOptions,
          }),
        { callerSignal: options.abortSignal },
      );
      // The body may fail before anyone reads it (key unwrap, 1.0 length lookup): keep that error for the reader.
      guardBody(res.readableStreamBody);
      if (!res.etag || res.contentLength === undefined || !res.readableStreamBody) {
        throw new ClientSideEncryptionError("SERVICE_ERROR", "The service returned no ETag, Content-Length or body.", { details: this.#ctx() });
      }
      pinned = { etag: res.etag, storedLength: res.contentLength, metadata: res.metadata, blobType: res.blobType, lastModified: res.lastModified, contentType: res.contentType };
      body = res.readableStreamBody;
    } else {
      pinned = await this.#pinnedProperties(options);
    }
    const discard = (): void => {
      (body as Readable | undefined)?.destroy?.();
    };
    try {
      const state = this.#encryptionOf(pinned.metadata, pinned.blobType);
      const base = { etag: pinned.etag, lastModified: pinned.lastModified, metadata: pinned.metadata, blobType: pinned.blobType, contentType: pinned.contentType, storedContentLength: pinned.storedLength };
      if (!state) {
        if (this.#requireEncryption) throw this.#notEncrypted();
        // requireEncryption: false — unencrypted blobs pass through (still pinned to the ETag).
        if (!body) {
          const end = count === undefined ? pinned.storedLength : Math.min(pinned.storedLength, offset + count);
          if (offset >= end) return { ...base, readableStreamBody: Readable.from([]), contentLength: 0, isClientSideEncrypted: false };
          body = await this.#fetch(offset, end - offset, pinned.etag, options);
          return { ...base, readableStreamBody: body, contentLength: end - offset, isClientSideEncrypted: false };
        }
        return { ...base, readableStreamBody: body, contentLength: pinned.storedLength, isClientSideEncrypted: false };
      }
      const encryption = summarize(state.data);
      // Every read selects and unwraps the content key, even when no byte will be returned.
      const cek = await this.#contentKey(state.data, options.abortSignal);
      let plan: RangePlan;
      try {
        plan = planRange(state.data, { offset, count }, pinned.storedLength, { padded: state.padded });
      } catch (e) {
        cek.fill(0);
        throw e;
      }
      if (plan.empty || plan.take === 0) {
        // No plaintext to return; any stored region is still authenticated before success.
        try {
          if (!plan.empty) {
            if (!body) body = await this.#fetch(plan.storedOffset, plan.storedCount ?? pinned.storedLength - plan.storedOffset, pinned.etag, options);
            await this.#guard(collectBytes(this.#decrypting(state, cek, plan, body as AsyncIterable<Uint8Array>, options.abortSignal)), { callerSignal: options.abortSignal });
          }
        } finally {
          cek.fill(0);
        }
        discard();
        return { ...base, readableStreamBody: Readable.from([]), contentLength: 0, isClientSideEncrypted: true, encryption };
      }
      let contentLength: number;
      if (state.data.protocol === "1.0" && plan.includesLastBlock) {
        const total = await this.#plaintextLength(state, cek, pinned.storedLength, pinned.etag, options);
        contentLength = Math.max(0, Math.min(count === undefined ? total : offset + count, total) - offset);
      } else if (state.data.protocol === "1.0") {
        contentLength = plan.take!;
      } else {
        const total = await this.#plaintextLength(state, cek, pinned.storedLength, pinned.etag, options);
        contentLength = Math.max(0, Math.min(count === undefined ? total : offset + count, total) - offset);
      }
      if (contentLength === 0) {
        cek.fill(0);
        discard();
        return { ...base, readableStreamBody: Readable.from([]), contentLength: 0, isClientSideEncrypted: true, encryption };
      }
      if (!body) body = await this.#fetch(plan.storedOffset, plan.storedCount ?? pinned.storedLength - plan.storedOffset, pinned.etag, options);
      let delivered = 0;
      const onProgress = options.onProgress;
      const gen = this.#decrypting(state, cek, plan, body as AsyncIterable<Uint8Array>, options.abortSignal, (n) => {
        delivered += n;
        onProgress?.({ loadedBytes: delivered });
      });
      const ctx = this.#ctx();
      const expected = contentLength;
      const checked = (async function* () {
        try {
          yield* gen;
          if (delivered !== expected) throw new ClientSideEncryptionError("DECRYPTION_FAILED", DECRYPTION_FAILED_MESSAGE, { details: ctx });
        } finally {
          cek.fill(0);
        }
      })();
      return { ...base, readableStreamBody: Readable.from(checked, { objectMode: false }), contentLength, isClientSideEncrypted: true, encryption };
    } catch (e) {
      discard();
      throw toTypedError(e, this.#ctx(), { callerSignal: options.abortSignal });
    }
  }

  /**
   * Plans a parallel download: reads the properties once (the ETag pins every later request), unwraps
   * the content key once, and cuts the plaintext range into region/block-aligned ranged GETs.
   */
  async #parallel(
    offset: number,
    count: number | undefined,
    options: EncryptedParallelDownloadOptions,
    begin: (length: number) => Promise<void> | void,
    write: (position: number, chunk: Buffer) => Promise<void> | void,
  ): Promise<{ pinned: PinnedBlob; length: number; encryption?: EncryptionSummary }> {
    checkNonNegative(offset, "offset");
    checkNonNegative(count, "count");
    checkPositive(options.blockSize, "blockSize");
    checkPositive(options.concurrency, "concurrency");
    throwIfAborted(options.abortSignal);
    const pinned = await this.#pinnedProperties(options);
    const state = this.#encryptionOf(pinned.metadata, pinned.blobType);
    const { controller, dispose } = linkedController(options.abortSignal);
    const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    let delivered = 0;
    const progress = (n: number): void => {
      delivered += n;
      options.onProgress?.({ loadedBytes: delivered });
    };
    try {
      if (!state) {
        if (this.#requireEncryption) throw this.#notEncrypted();
        const end = count === undefined ? pinned.storedLength : Math.min(pinned.storedLength, offset + count);
        const length = Math.max(0, end - offset);
        await begin(length);
        const size = options.blockSize ?? DEFAULT_DOWNLOAD_BLOCK_SIZE;
        const chunks = Math.ceil(length / size);
        await runPool(chunks, concurrency, controller, async (i) => {
          const cs = offset + i * size;
          const ce = Math.min(end, cs + size);
          const body = await this.#fetch(cs, ce - cs, pinned.etag, options, controller.signal);
          let pos = cs - offset;
          for await (const c of body as AsyncIterable<Buffer>) {
            await write(pos, c);
            pos += c.length;
            progress(c.length);
          }
          if (pos !== ce - offset) throw new ClientSideEncryptionError("SERVICE_ERROR", "The service returned fewer bytes than requested.", { details: this.#ctx() });
        });
        return { pinned, length };
      }
      const { data } = state;
      const cek = await this.#contentKey(data, options.abortSignal);
      try {
        const total = await this.#plaintextLength(state, cek, pinned.storedLength, pinned.etag, options);
        const end = count === undefined ? total : Math.min(total, offset + count);
        const length = Math.max(0, end - offset);
        if (length === 0) {
          // No plaintext to return: still authenticate a stored region (1.0: the padding was checked above).
          const witness = planRange(data, { offset, count: 0 }, pinned.storedLength, { padded: state.padded });
          if (!witness.empty && data.protocol !== "1.0") {
            const body = await this.#fetch(witness.storedOffset, witness.storedCount ?? pinned.storedLength - witness.storedOffset, pinned.etag, options, controller.signal);
            await collectBytes(this.#decrypting(state, cek, witness, body as AsyncIterable<Uint8Array>, options.abortSignal));
          }
        }
        await begin(length);
        const unit = data.protocol === "1.0" ? 16 : data.encryptedRegionInfo.dataLength;
        const size = Math.max(unit, Math.floor((options.blockSize ?? DEFAULT_DOWNLOAD_BLOCK_SIZE) / unit) * unit);
        // Chunk boundaries on the unit grid, so every chunk decrypts on its own.
        const first = Math.floor(offset / size) * size;
        const chunks = length === 0 ? 0 : Math.ceil((end - first) / size);
        await runPool(chunks, concurrency, controller, async (i) => {
          const cs = Math.max(offset, first + i * size);
          const ce = Math.min(end, first + (i + 1) * size);
          const plan = planRange(data, { offset: cs, count: ce - cs }, pinned.storedLength, { padded: state.padded });
          if (plan.empty) throw new ClientSideEncryptionError("DECRYPTION_FAILED", DECRYPTION_FAILED_MESSAGE, { details: this.#ctx() });
          const body = await this.#fetch(plan.storedOffset, plan.storedCount ?? pinned.storedLength - plan.storedOffset, pinned.etag, options, controller.signal);
          let pos = cs - offset;
          for await (const c of this.#decrypting(state, cek, plan, body as AsyncIterable<Uint8Array>, options.abortSignal)) {
            await write(pos, c);
            pos += c.length;
            progress(c.length);
          }
          if (pos !== ce - offset) throw new ClientSideEncryptionError("DECRYPTION_FAILED", DECRYPTION_FAILED_MESSAGE, { details: this.#ctx() });
        });
        return { pinned, length, encryption: summarize(data) };
      } finally {
        cek.fill(0);
      }
    } catch (e) {
      throw toTypedError(e, this.#ctx(), { callerSignal: options.abortSignal });
    } finally {
      dispose();
    }
  }

  /** Downloads plaintext into a new Buffer with parallel ranged GETs (bounded memory besides the result). */
  async downloadToBuffer(offset = 0, count?: number, options: EncryptedParallelDownloadOptions = {}): Promise<Buffer> {
    options = optionsOf(options, "downloadToBuffer options");
    let out = Buffer.alloc(0);
    await this.#parallel(
      offset,
      count,
      options,
      (length) => {
        out = Buffer.alloc(length);
      },
      (pos, chunk) => {
        chunk.copy(out, pos);
      },
    );
    return out;
  }

  /**
   * Downloads plaintext to a file with parallel ranged GETs, writing to a temporary file that is renamed
   * into place only on success: a failed or aborted download leaves no (partial) file.
   */
  async downloadToFile(filePath: string, offset = 0, count?: number, options: EncryptedParallelDownloadOptions = {}): Promise<Omit<EncryptedBlobDownloadResponse, "readableStreamBody">> {
    options = optionsOf(options, "downloadToFile options");
    checkString(filePath, "downloadToFile's filePath");
    const dir = path.dirname(path.resolve(filePath));
    const tmp = path.join(dir, `.${path.basename(filePath)}.${randomBytes(6).toString("hex")}.partial`);
    const fh = await open(tmp, "wx", 0o600);
    let closed = false;
    try {
      const r = await this.#parallel(
        offset,
        count,
        options,
        () => undefined,
        async (pos, chunk) => {
          let done = 0;
          while (done < chunk.length) {
            const { bytesWritten } = await fh.write(chunk, done, chunk.length - done, pos + done);
            done += bytesWritten;
          }
        },
      );
      await fh.truncate(r.length);
      await fh.close();
      closed = true;
      await rename(tmp, filePath);
      const p = r.pinned;
      return {
        contentLength: r.length,
        storedContentLength: p.storedLength,
        etag: p.etag,
        lastModified: p.lastModified,
        metadata: p.metadata,
        blobType: p.blobType,
        contentType: p.contentType,
        isClientSideEncrypted: r.encryption !== undefined,
        encryption: r.encryption,
      };
    } catch (e) {
      if (!closed) await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw toTypedError(e, this.#ctx(), { callerSignal: options.abortSignal });
    }
  }

  // ---------------------------------------------------------------- metadata-safe operations

  /**
   * The service properties plus `isClientSideEncrypted`, the protocol, key id and plaintext length
   * (2.x: exact from the stored length; 1.0: from the last CBC blocks when a key is available).
   */
  async getProperties(options: EncryptedGetPropertiesOptions = {}): Promise<EncryptedBlobProperties> {
    options = optionsOf(options, "getProperties options");
    const props = await storageCall(this.#ctx(), () =>
      this.#client.getProperties({ conditions: options.conditions, abortSignal: options.abortSignal, tracingOptions: options.tracingOptions }),
    );
    const out: EncryptedBlobProperties = { ...props, isClientSideEncrypted: false, storedContentLength: props.contentLength };
    let raw: string | undefined;
    try {
      raw = findEncryptionDataInMetadata(props.metadata);
    } catch (e) {
      const err = toTypedError(e);
      return { ...out, isClientSideEncrypted: true, encryptionDataError: { code: err.code, message: err.message } };
    }
    if (raw === undefined) return out;
    let state: BlobEncryptionState;
    try {
      state = this.#encryptionOf(props.metadata, props.blobType)!;
    } catch (e) {
      const err = toTypedError(e);
      return { ...out, isClientSideEncrypted: true, encryptionDataError: { code: err.code, message: err.message } };
    }
    out.isClientSideEncrypted = true;
    out.encryption = summarize(state.data);
    const stored = props.contentLength ?? 0;
    if (state.data.protocol !== "1.0") {
      out.plaintextLength = v2PlaintextLength(stored, state.data.encryptedRegionInfo.dataLength);
    } else if (!state.padded) {
      out.plaintextLength = stored;
    } else if (options.computeV1PlaintextLength === true) {
      const cek = await this.#guard(this.#contentKey(state.data, options.abortSignal));
      try {
        out.plaintextLength = await this.#v1PlaintextLength(state.data, cek, stored, props.etag!, options);
      } finally {
        cek.fill(0);
      }
    }
    return out;
  }

  /**
   * Replaces the user metadata while keeping `encryptiondata` (a plain Set Blob Metadata would drop it and
   * make the blob undecryptable). Conditional on the ETag read, so a concurrent change fails with
   * CONDITION_NOT_MET instead of being overwritten. A caller key `encryptiondata` is refused.
   */
  async setMetadata(metadata: Record<string, string> = {}, options: EncryptedSetMetadataOptions = {}): Promise<{ etag?: string; lastModified?: Date }> {
    options = optionsOf(options, "setMetadata options");
    const user = copyUserMetadata(metadata);
    const pinned = await this.#pinnedProperties(options);
    const raw = this.#guardSync(() => findEncryptionDataInMetadata(pinned.metadata));
    if (raw !== undefined) user[ENCRYPTION_DATA_METADATA_KEY] = raw;
    const res = await storageCall(this.#ctx(), () =>
      this.#client.setMetadata(user, {
        conditions: { ...options.conditions, ifMatch: pinned.etag, ifNoneMatch: undefined },
        abortSignal: options.abortSignal,
        tracingOptions: options.tracingOptions,
      }),
    );
    return { etag: res.etag, lastModified: res.lastModified };
  }

  #guardSync<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw toTypedError(e, this.#ctx());
    }
  }

  /**
   * Creates a snapshot. Without `metadata` the snapshot keeps the blob's metadata (including
   * `encryptiondata`); with `metadata`, `encryptiondata` is carried over (If-Match the ETag read).
   */
  async createSnapshot(options: EncryptedCreateSnapshotOptions = {}): Promise<{ snapshot?: string; etag?: string; lastModified?: Date }> {
    options = optionsOf(options, "createSnapshot options");
    if (options.metadata === undefined) {
      const res = await storageCall(this.#ctx(), () =>
        this.#client.createSnapshot({ conditions: options.conditions, abortSignal: options.abortSignal, tracingOptions: options.tracingOptions }),
      );
      return { snapshot: res.snapshot, etag: res.etag, lastModified: res.lastModified };
    }
    const user = copyUserMetadata(options.metadata);
    const pinned = await this.#pinnedProperties(options);
    const raw = this.#guardSync(() => findEncryptionDataInMetadata(pinned.metadata));
    if (raw !== undefined) user[ENCRYPTION_DATA_METADATA_KEY] = raw;
    const res = await storageCall(this.#ctx(), () =>
      this.#client.createSnapshot({
        metadata: user,
        conditions: { ...options.conditions, ifMatch: pinned.etag, ifNoneMatch: undefined },
        abortSignal: options.abortSignal,
        tracingOptions: options.tracingOptions,
      }),
    );
    return { snapshot: res.snapshot, etag: res.etag, lastModified: res.lastModified };
  }

  /**
   * Server-side copy of another blob (same account, or a source URL the service can read) that keeps the
   * source's `encryptiondata`, even when new metadata is given. The copy is pinned to the source ETag
   * read first. With requireEncryption, copying an unencrypted source is refused (ENCRYPTION_REQUIRED).
   */
  async copyFromBlob(source: EncryptedBlobClient | BlobClient, options: EncryptedCopyOptions = {}): Promise<EncryptedCopyResponse> {
    options = optionsOf(options, "copyFromBlob options");
    const src = source instanceof EncryptedBlobClient ? source.blobClient : source;
    if (typeof src !== "object" || src === null || typeof (src as Partial<BlobClient>).getProperties !== "function" || typeof (src as Partial<BlobClient>).url !== "string") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", "copyFromBlob's source must be an EncryptedBlobClient or an @azure/storage-blob BlobClient.");
    }
    const user = options.metadata === undefined ? undefined : copyUserMetadata(options.metadata);
    const srcCtx = { container: src.containerName, blob: src.name };
    const props = await storageCall(srcCtx, () =>
      src.getProperties({ conditions: options.sourceConditions, abortSignal: options.abortSignal, tracingOptions: options.tracingOptions }),
    );
    const raw = this.#guardSync(() => findEncryptionDataInMetadata(props.metadata));
    if (raw === undefined && this.#requireEncryption) {
      throw new ClientSideEncryptionError(
        "ENCRYPTION_REQUIRED",
        `The copy source "${src.containerName}/${src.name}" is not client-side encrypted; with requireEncryption this client does not create plaintext blobs.`,
        { details: srcCtx },
      );
    }
    if (raw !== undefined) this.#guardSync(() => parseEncryptionData(raw, { maxRegionSize: maxReadRegionSize(this.#policy) }));
    if (user && raw !== undefined) user[ENCRYPTION_DATA_METADATA_KEY] = raw;
    const result = await storageCall(this.#ctx(), async () => {
      const poller = await this.#client.beginCopyFromURL(src.url, {
        metadata: user,
        tags: options.tags,
        tier: options.tier,
        conditions: options.conditions,
        sourceConditions: { ifMatch: props.etag },
        abortSignal: options.abortSignal,
        intervalInMs: options.pollIntervalMs ?? 500,
        tracingOptions: options.tracingOptions,
      });
      return poller.pollUntilDone();
    });
    if (result.copyStatus !== undefined && result.copyStatus !== "success") {
      throw new ClientSideEncryptionError("SERVICE_ERROR", `The copy ended with status "${result.copyStatus}".`, { details: { ...this.#ctx(), copyStatus: result.copyStatus } });
    }
    return { etag: result.etag, lastModified: result.lastModified, copyId: result.copyId, copyStatus: result.copyStatus, isClientSideEncrypted: raw !== undefined };
  }

  /** Reads the metadata with its original key case when a listing allows it (Get Properties lower-cases keys). */
  async #metadataPreservingCase(pinned: PinnedBlob): Promise<Record<string, string>> {
    try {
      const pipeline = (this.#client as unknown as { pipeline?: ConstructorParameters<typeof ContainerClient>[1] }).pipeline;
      const url = new URL(this.#client.url);
      const containerUrl = this.#containerUrl();
      if (!pipeline || !containerUrl || url.searchParams.has("snapshot") || url.searchParams.has("versionid")) return pinned.metadata ?? {};
      const container = new ContainerClient(containerUrl, pipeline as never);
      for await (const item of container.listBlobsFlat({ prefix: this.#client.name, includeMetadata: true })) {
        if (item.name === this.#client.name) {
          // Listings give the ETag without quotes.
          const unquote = (t: string | undefined): string | undefined => t?.replace(/^"|"$/g, "");
          // The listing is a response body nothing checks: use it only for the names' case, and only when its
          // values agree with the response headers of the same version (a corrupted listing must not be written back).
          if (unquote(item.properties.etag) === unquote(pinned.etag) && item.metadata && sameMetadataIgnoringNameCase(item.metadata, pinned.metadata)) return item.metadata;
          break;
        }
      }
    } catch {
      // Listing needs container-level permission; fall back to the lower-cased keys.
    }
    return pinned.metadata ?? {};
  }

  #containerUrl(): string | undefined {
    const u = new URL(this.#client.url);
    u.search = "";
    const encodedName = this.#client.name.split("/").map(encodeURIComponent).join("/");
    const s = u.toString();
    for (const suffix of [`/${encodedName}`, `/${this.#client.name}`]) if (s.endsWith(suffix)) return s.slice(0, s.length - suffix.length);
    return undefined;
  }

  /**
   * Key rotation: re-wraps the content key with `newKeyEncryptionKey` and rewrites only
   * `WrappedContentKey` (no data is re-uploaded). The old key is found through the policy (keyResolver or
   * keyEncryptionKey). The new wrap is unwrapped and compared before anything is written, and the write is
   * If-Match the ETag read, so a concurrent change fails with CONDITION_NOT_MET and nothing is lost.
   */
  async updateKeyEncryptionKey(newKeyEncryptionKey: KeyEncryptionKey, options: UpdateKeyEncryptionKeyOptions = {}): Promise<UpdateKeyEncryptionKeyResponse> {
    options = optionsOf(options, "updateKeyEncryptionKey options");
    if (!newKeyEncryptionKey || typeof newKeyEncryptionKey.wrapKey !== "function") {
      throw new ClientSideEncryptionError("INVALID_ARGUMENT", "updateKeyEncryptionKey needs the new KeyEncryptionKey.");
    }
    const pinned = await this.#pinnedProperties(options);
    const raw = this.#guardSync(() => findEncryptionDataInMetadata(pinned.metadata));
    if (raw === undefined) {
      throw new ClientSideEncryptionError("ENCRYPTION_REQUIRED", `Blob "${this.containerName}/${this.name}" is not client-side encrypted: there is no content key to rotate.`, {
        details: this.#ctx(),
      });
    }
    const data = this.#guardSync(() => parseEncryptionData(raw, { maxRegionSize: maxReadRegionSize(this.#policy) }));
    const cek = await this.#guard(this.#contentKey(data, options.abortSignal));
    const algorithm = options.keyWrapAlgorithm ?? newKeyEncryptionKey.defaultWrapAlgorithm;
    const newKid = newKeyEncryptionKey.keyId;
    try {
      let wrapped;
      try {
        wrapped = await newKeyEncryptionKey.wrapKey(algorithm, keyWrapInput(data.protocol, cek), { abortSignal: options.abortSignal });
      } catch (e) {
        if (ClientSideEncryptionError.is(e)) throw e;
        throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", `Wrapping the content key with the new key "${newKid}" failed; the blob was not changed.`, {
          cause: e,
          details: { ...this.#ctx(), keyId: newKid },
        });
      }
      let check: Uint8Array;
      try {
        check = contentKeyFromUnwrapped(data.protocol, await newKeyEncryptionKey.unwrapKey(algorithm, wrapped.encryptedKey, { abortSignal: options.abortSignal }));
      } catch (e) {
        if (ClientSideEncryptionError.is(e) && e.code !== "DECRYPTION_FAILED") throw e;
        check = Buffer.alloc(0);
      }
      if (!Buffer.from(check).equals(cek)) {
        throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", `The new key "${newKid}" did not unwrap its own wrap of the content key; the blob was not changed.`, {
          details: { ...this.#ctx(), keyId: newKid },
        });
      }
      const updated: EncryptionData = { ...data, wrappedContentKey: { keyId: wrapped.keyId || newKid, encryptedKey: wrapped.encryptedKey, algorithm } };
      const json = serializeEncryptionData(updated, { includeEncryptionMode: true });
      const others = withoutEncryptionData(await this.#metadataPreservingCase(pinned));
      const res = await storageCall(this.#ctx(), () =>
        this.#client.setMetadata(
          { ...others, [ENCRYPTION_DATA_METADATA_KEY]: json },
          {
            conditions: this.#pinned(options.conditions, pinned.etag),
            abortSignal: options.abortSignal,
            tracingOptions: options.tracingOptions,
          },
        ),
      );
      return { etag: res.etag, lastModified: res.lastModified, previousKeyId: data.wrappedContentKey.keyId, keyId: updated.wrappedContentKey.keyId, keyWrapAlgorithm: algorithm };
    } finally {
      cek.fill(0);
    }
  }

  /** Alias of `updateKeyEncryptionKey`. */
  async rotateKey(newKeyEncryptionKey: KeyEncryptionKey, options: UpdateKeyEncryptionKeyOptions = {}): Promise<UpdateKeyEncryptionKeyResponse> {
    return this.updateKeyEncryptionKey(newKeyEncryptionKey, options);
  }

  // ---------------------------------------------------------------- passthrough

  /** Whether the blob exists. */
  async exists(options: EncryptedGetPropertiesOptions = {}): Promise<boolean> {
    options = optionsOf(options, "exists options");
    return storageCall(this.#ctx(), () => this.#client.exists({ conditions: options.conditions, abortSignal: options.abortSignal, tracingOptions: options.tracingOptions }));
  }

  /** Deletes the blob (and, with `deleteSnapshots: "include"`, its snapshots). */
  async delete(options: { conditions?: BlobRequestConditions; deleteSnapshots?: "include" | "only"; abortSignal?: AbortSignalLike } = {}): Promise<void> {
    options = optionsOf(options, "delete options");
    await storageCall(this.#ctx(), () => this.#client.delete(options));
  }

  /** Deletes the blob if it exists. */
  async deleteIfExists(options: { conditions?: BlobRequestConditions; deleteSnapshots?: "include" | "only"; abortSignal?: AbortSignalLike } = {}): Promise<boolean> {
    options = optionsOf(options, "deleteIfExists options");
    const r = await storageCall(this.#ctx(), () => this.#client.deleteIfExists(options));
    return r.succeeded;
  }
}

/** Same names ignoring case (response headers lower-case them) and the same values. */
function sameMetadataIgnoringNameCase(listed: Record<string, string>, fromHeaders: Record<string, string> | undefined): boolean {
  const a = Object.entries(listed).map(([k, v]) => [k.toLowerCase(), v] as const);
  const b = new Map(Object.entries(fromHeaders ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const));
  return a.length === b.size && a.every(([k, v]) => b.get(k) === v);
}
