// EncryptedBlobClient's reads: streamed download (whole or ranged) and parallel ranged downloads to a
// buffer or a file. Every request is pinned to the first ETag read. Not exported from the package.
import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { ClientSideEncryptionError, DECRYPTION_FAILED_MESSAGE, collectBytes, openRangedRead, planRange } from "@azure-cse/core-envelope";
import { throwIfAborted } from "@azure-cse/core-envelope/internal";
import { guardBody, summarize, type BlobContext, type PinnedBlob } from "./blob-context.js";
import { storageCall, toTypedError } from "./errors.js";
import { checkNonNegative, checkPositive, checkString, linkedController, optionsOf, runPool } from "./internal.js";
import type { EncryptedBlobDownloadResponse, EncryptedDownloadOptions, EncryptedParallelDownloadOptions, EncryptionSummary } from "./models.js";

const MiB = 1024 * 1024;
const DEFAULT_CONCURRENCY = 5;
const DEFAULT_DOWNLOAD_BLOCK_SIZE = 4 * MiB;

/**
 * Downloads plaintext as a stream. A whole-blob download is a single GET (metadata from its response);
 * a range first reads the properties, then fetches only the covering regions (2.x) or CBC blocks plus
 * the previous block as IV (1.0). Every request is pinned to the first response's ETag.
 */
export async function download(c: BlobContext, offset = 0, count?: number, options: EncryptedDownloadOptions = {}): Promise<EncryptedBlobDownloadResponse> {
  options = optionsOf(options, "download options");
  checkNonNegative(offset, "offset");
  checkNonNegative(count, "count");
  throwIfAborted(options.abortSignal);
  let pinned: PinnedBlob;
  let body: NodeJS.ReadableStream | undefined;
  const whole = offset === 0 && count === undefined;
  if (whole) {
    const res = await storageCall(
      c.ctx(),
      () =>
        c.client.download(0, undefined, {
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
      throw new ClientSideEncryptionError("SERVICE_ERROR", "The service returned no ETag, Content-Length or body.", { details: c.ctx() });
    }
    pinned = { etag: res.etag, storedLength: res.contentLength, metadata: res.metadata, blobType: res.blobType, lastModified: res.lastModified, contentType: res.contentType };
    body = res.readableStreamBody;
  } else {
    pinned = await c.pinnedProperties(options);
  }
  const discard = (): void => {
    (body as Readable | undefined)?.destroy?.();
  };
  try {
    const state = c.encryptionOf(pinned.metadata, pinned.blobType);
    const base = { etag: pinned.etag, lastModified: pinned.lastModified, metadata: pinned.metadata, blobType: pinned.blobType, contentType: pinned.contentType, storedContentLength: pinned.storedLength };
    if (!state) {
      if (c.requireEncryption) throw c.notEncrypted();
      // requireEncryption: false — unencrypted blobs pass through (still pinned to the ETag).
      if (!body) {
        const end = count === undefined ? pinned.storedLength : Math.min(pinned.storedLength, offset + count);
        if (offset >= end) return { ...base, readableStreamBody: Readable.from([]), contentLength: 0, isClientSideEncrypted: false };
        body = await c.fetch(offset, end - offset, pinned.etag, options);
        return { ...base, readableStreamBody: body, contentLength: end - offset, isClientSideEncrypted: false };
      }
      return { ...base, readableStreamBody: body, contentLength: pinned.storedLength, isClientSideEncrypted: false };
    }
    const encryption = summarize(state.data);
    // Core's ranged-read façade: unwraps the key (every read), plans, finds the plaintext length and authenticates
    // a read that returns nothing. A whole-blob GET's body serves the content read; any other read is a ranged GET
    // pinned to the ETag.
    const read = await openRangedRead(
      state.data,
      c.policy,
      pinned.storedLength,
      async (storedOffset, storedCount, purpose) => {
        if (purpose === "content" && body) return body as AsyncIterable<Uint8Array>;
        const fetched = await c.fetch(storedOffset, storedCount ?? pinned.storedLength - storedOffset, pinned.etag, options);
        if (purpose === "content") body = fetched;
        return fetched as AsyncIterable<Uint8Array>;
      },
      { range: { offset, count }, padded: state.padded, abortSignal: options.abortSignal },
    );
    if (read.contentLength === 0) {
      discard();
      return { ...base, readableStreamBody: Readable.from([]), contentLength: 0, isClientSideEncrypted: true, encryption };
    }
    let delivered = 0;
    const onProgress = options.onProgress;
    const checked = c.typedStream(read.body, options.abortSignal, (n) => {
      delivered += n;
      onProgress?.({ loadedBytes: delivered });
    });
    return { ...base, readableStreamBody: Readable.from(checked, { objectMode: false }), contentLength: read.contentLength, isClientSideEncrypted: true, encryption };
  } catch (e) {
    discard();
    throw toTypedError(e, c.ctx(), { callerSignal: options.abortSignal });
  }
}

/**
 * Plans a parallel download: reads the properties once (the ETag pins every later request), unwraps
 * the content key once, and cuts the plaintext range into region/block-aligned ranged GETs.
 */
async function parallel(c: BlobContext, 
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
  const pinned = await c.pinnedProperties(options);
  const state = c.encryptionOf(pinned.metadata, pinned.blobType);
  const { controller, dispose } = linkedController(options.abortSignal);
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  let delivered = 0;
  const progress = (n: number): void => {
    delivered += n;
    options.onProgress?.({ loadedBytes: delivered });
  };
  try {
    if (!state) {
      if (c.requireEncryption) throw c.notEncrypted();
      const end = count === undefined ? pinned.storedLength : Math.min(pinned.storedLength, offset + count);
      const length = Math.max(0, end - offset);
      await begin(length);
      const size = options.blockSize ?? DEFAULT_DOWNLOAD_BLOCK_SIZE;
      const chunks = Math.ceil(length / size);
      await runPool(chunks, concurrency, controller, async (i) => {
        const cs = offset + i * size;
        const ce = Math.min(end, cs + size);
        const body = await c.fetch(cs, ce - cs, pinned.etag, options, controller.signal);
        let pos = cs - offset;
        for await (const chunk of body as AsyncIterable<Buffer>) {
          await write(pos, chunk);
          pos += chunk.length;
          progress(chunk.length);
        }
        if (pos !== ce - offset) throw new ClientSideEncryptionError("SERVICE_ERROR", "The service returned fewer bytes than requested.", { details: c.ctx() });
      });
      return { pinned, length };
    }
    const { data } = state;
    const cek = await c.contentKey(data, options.abortSignal);
    try {
      const total = await c.plaintextLength(state, cek, pinned.storedLength, pinned.etag, options);
      const end = count === undefined ? total : Math.min(total, offset + count);
      const length = Math.max(0, end - offset);
      if (length === 0) {
        // No plaintext to return: still authenticate a stored region (1.0: the padding was checked above).
        const witness = planRange(data, { offset, count: 0 }, pinned.storedLength, { padded: state.padded });
        if (!witness.empty && data.protocol !== "1.0") {
          const body = await c.fetch(witness.storedOffset, witness.storedCount ?? pinned.storedLength - witness.storedOffset, pinned.etag, options, controller.signal);
          await collectBytes(c.decrypting(state, cek, witness, body as AsyncIterable<Uint8Array>, options.abortSignal));
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
        if (plan.empty) throw new ClientSideEncryptionError("DECRYPTION_FAILED", DECRYPTION_FAILED_MESSAGE, { details: c.ctx() });
        const body = await c.fetch(plan.storedOffset, plan.storedCount ?? pinned.storedLength - plan.storedOffset, pinned.etag, options, controller.signal);
        let pos = cs - offset;
        for await (const chunk of c.decrypting(state, cek, plan, body as AsyncIterable<Uint8Array>, options.abortSignal)) {
          await write(pos, chunk);
          pos += chunk.length;
          progress(chunk.length);
        }
        if (pos !== ce - offset) throw new ClientSideEncryptionError("DECRYPTION_FAILED", DECRYPTION_FAILED_MESSAGE, { details: c.ctx() });
      });
      return { pinned, length, encryption: summarize(data) };
    } finally {
      cek.fill(0);
    }
  } catch (e) {
    throw toTypedError(e, c.ctx(), { callerSignal: options.abortSignal });
  } finally {
    dispose();
  }
}

/** Downloads plaintext into a new Buffer with parallel ranged GETs (bounded memory besides the result). */
export async function downloadToBuffer(c: BlobContext, offset = 0, count?: number, options: EncryptedParallelDownloadOptions = {}): Promise<Buffer> {
  options = optionsOf(options, "downloadToBuffer options");
  let out = Buffer.alloc(0);
  await parallel(c, offset,
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
export async function downloadToFile(c: BlobContext, filePath: string, offset = 0, count?: number, options: EncryptedParallelDownloadOptions = {}): Promise<Omit<EncryptedBlobDownloadResponse, "readableStreamBody">> {
  options = optionsOf(options, "downloadToFile options");
  checkString(filePath, "downloadToFile's filePath");
  const dir = path.dirname(path.resolve(filePath));
  const tmp = path.join(dir, `.${path.basename(filePath)}.${randomBytes(6).toString("hex")}.partial`);
  const fh = await open(tmp, "wx", 0o600);
  let closed = false;
  try {
    const r = await parallel(c, offset,
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
    throw toTypedError(e, c.ctx(), { callerSignal: options.abortSignal });
  }
}