// EncryptedBlobClient's upload: one Put Blob while the plaintext fits maxSingleShotSize, else staged blocks
// committed with the encryption metadata. Not exported from the package (the class is the API).
import { createHash } from "node:crypto";
import type { BlockBlobClient, Metadata } from "@azure/storage-blob";
import {
  ClientSideEncryptionError,
  ENCRYPTION_DATA_METADATA_KEY,
  createContentEncryption,
  type ByteSource,
  type ContentEncryption,
} from "@azure-cse/core-envelope";
import { sourceFailed, throwIfAborted } from "@azure-cse/core-envelope/internal";
import { summarize, type BlobContext } from "./blob-context.js";
import { toTypedError } from "./errors.js";
import { blockIdFactory, checkPositive, copyUserMetadata, linkedController, plaintextProgress } from "./internal.js";
import type { EncryptedUploadOptions, EncryptedUploadResponse, EncryptionSummary } from "./models.js";
import { RepeatableBody, ReplayableBody } from "./replayable-body.js";

const MiB = 1024 * 1024;
/** Single Put Blob limit of the service (and @azure/storage-blob's default maxSingleShotSize). */
export const MAX_SINGLE_PUT_SIZE = 256 * MiB;
const MAX_BLOCK_SIZE = 4000 * MiB;
const MAX_BLOCKS = 50000;
const DEFAULT_UPLOAD_BLOCK_SIZE = 4 * MiB;
const DEFAULT_STREAM_BLOCK_SIZE = 8 * MiB;
const DEFAULT_CONCURRENCY = 5;

/** Data accepted by `uploadData`. */
export type UploadableData = Buffer | Uint8Array | ArrayBuffer | ArrayBufferView | { arrayBuffer(): Promise<ArrayBuffer>; size: number };

export async function toBuffer(data: UploadableData): Promise<Buffer> {
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
 * `open` gives the plaintext; when `reopenable` (buffers, files) it may be called again and reads the
 * same source from the start, so a single Put Blob is encrypted again for an SDK retry instead of
 * keeping its whole ciphertext in memory. A one-shot stream is opened exactly once.
 */
export async function upload(c: BlobContext, open: () => ByteSource, knownSize: number | undefined, options: EncryptedUploadOptions, reopenable: boolean): Promise<EncryptedUploadResponse> {
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
  const enc = await createContentEncryption(c.policy, { abortSignal: options.abortSignal });
  try {
    const metadata: Metadata = { ...userMetadata, [ENCRYPTION_DATA_METADATA_KEY]: enc.toJson(true) };
    const summary = summarize(enc.encryptionData);
    let plainCount = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const chunk of open()) {
        plainCount += chunk.length;
        yield chunk;
      }
    }
    const block = c.client.getBlockBlobClient();
    if (knownSize !== undefined) {
      const stored = enc.storedLength(knownSize);
      // The plain SDK's rule on the plaintext size, so switching to this client keeps the request shape:
      // a 256 MiB upload stays one Put Blob (256 MiB + 28 B per region; the service takes up to 5000 MiB).
      if (knownSize <= maxSingle) {
        if (stored === 0) {
          for await (const chunk of enc.encrypt(counted())) if (chunk.length) throw sizeChanged(c);
          const res = await putBlob(c, block, Buffer.alloc(0), 0, metadata, options, enc, knownSize);
          return { ...res, plaintextLength: knownSize, storedLength: stored, encryption: summary };
        }
        const { controller, dispose } = linkedController(options.abortSignal);
        let body: { stream: () => NodeJS.ReadableStream; failure: { e: unknown } | undefined; close(): Promise<void> };
        if (reopenable && enc.protocol !== "1.0") {
          // Encrypted while it is sent, region by region, and encrypted again from the source for an SDK
          // retry (deterministic nonces: identical bytes, verified per region by its tag before release),
          // so memory stays at about one region instead of the whole body.
          body = new RepeatableBody(enc.encryptRepeatable(open), stored, () => sizeChanged(c), () => controller.abort());
        } else {
          // Protocol 1.0 or a one-shot stream: the cipher's output buffers go to the request as they come
          // and are kept, so an SDK retry replays the same bytes (the key encrypts once).
          body = new ReplayableBody(enc.encrypt(counted()), stored, () => sizeChanged(c), () => controller.abort());
        }
        let res;
        try {
          res = await putBlob(c, block, body.stream, stored, metadata, { ...options, abortSignal: controller.signal }, enc, knownSize);
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
    return await staged(c, block, enc.encrypt(counted()), blockSize, maxSingle, metadata, options, enc, summary, () => plainCount, knownSize);
  } catch (e) {
    throw toTypedError(e, c.ctx(), { callerSignal: options.abortSignal });
  } finally {
    enc.dispose();
  }
}

function sizeChanged(c: BlobContext): ClientSideEncryptionError {
  return new ClientSideEncryptionError("INVALID_ARGUMENT", "The source changed size while it was being uploaded; nothing was written.", { details: c.ctx() });
}

async function putBlob(c: BlobContext, 
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

async function staged(c: BlobContext, 
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
    if (knownSize !== undefined && plainCount() !== knownSize) throw sizeChanged(c);
    if (firstBlockPending && fill <= maxSingle) {
      // The whole encrypted body fits one request: keep the single Put Blob shape.
      const res = await putBlob(c, block, current.subarray(0, fill), fill, metadata, { ...options, abortSignal: controller.signal }, enc, plainCount());
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