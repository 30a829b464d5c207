// The state every part of EncryptedBlobClient shares: the wrapped BlobClient, the policy, and the read
// helpers (pinned properties, ranged fetches, key unwrap, typed errors). Not exported from the package.
import type { Readable } from "node:stream";
import type { BlobClient, BlobRequestConditions } from "@azure/storage-blob";
import {
  ClientSideEncryptionError,
  decryptPlanned,
  findEncryptionDataInMetadata,
  maxReadRegionSize,
  parseEncryptionData,
  plaintextLengthOf,
  unwrapContentKey,
  type ByteSource,
  type ClientSideEncryptionPolicy,
  type EncryptionData,
  type RangePlan,
} from "@azure-cse/core-envelope";
import { storageCall, toTypedError } from "./errors.js";
import { summarizeEncryptionData } from "./shared/encryption-summary.js";
import type { AbortSignalLike, EncryptedDownloadOptions, EncryptionSummary } from "./models.js";

export interface BlobEncryptionState {
  data: EncryptionData;
  /** False for legacy unpadded 1.0 page blobs. */
  padded: boolean;
}

export interface PinnedBlob {
  etag: string;
  storedLength: number;
  metadata: Record<string, string> | undefined;
  blobType: string | undefined;
  lastModified: Date | undefined;
  contentType: string | undefined;
}

export function summarize(data: EncryptionData): EncryptionSummary {
  return summarizeEncryptionData(data);
}

/**
 * A response body can fail (connection dropped mid-body) before anything reads it; without a listener
 * that 'error' event would be an uncaught exception. The error stays on the stream (`errored`), so the
 * reader that iterates it later still receives it.
 */
export function guardBody(body: NodeJS.ReadableStream | undefined): void {
  body?.on("error", () => undefined);
}

/** One blob: its client, the policy, and the helpers the upload, download, metadata and rotation parts share. */
export class BlobContext {
  constructor(
    readonly client: BlobClient,
    readonly policy: ClientSideEncryptionPolicy,
  ) {}

  ctx(): Record<string, string> {
    return { container: this.client.containerName, blob: this.client.name };
  }

  get requireEncryption(): boolean {
    return this.policy.requireEncryption ?? true;
  }

  /** Parses the blob's encryption metadata; undefined when it has none. Unreadable metadata always throws. */
  encryptionOf(metadata: Record<string, string> | undefined, blobType: string | undefined): BlobEncryptionState | undefined {
    const raw = findEncryptionDataInMetadata(metadata);
    if (raw === undefined) return undefined;
    const data = parseEncryptionData(raw, { maxRegionSize: maxReadRegionSize(this.policy) });
    return { data, padded: !(data.protocol === "1.0" && blobType === "PageBlob") };
  }

  notEncrypted(): ClientSideEncryptionError {
    return new ClientSideEncryptionError(
      "ENCRYPTION_REQUIRED",
      `Blob "${this.client.containerName}/${this.client.name}" has no client-side encryption metadata, and requireEncryption is on: its content is not returned. Set requireEncryption: false to read unencrypted blobs.`,
      { details: this.ctx() },
    );
  }

  pinned(conditions: BlobRequestConditions | undefined, etag: string): BlobRequestConditions {
    const c: BlobRequestConditions = { ifMatch: etag };
    if (conditions?.leaseId) c.leaseId = conditions.leaseId;
    if (conditions?.tagConditions) c.tagConditions = conditions.tagConditions;
    return c;
  }

  async pinnedProperties(options: { conditions?: BlobRequestConditions; abortSignal?: AbortSignalLike; tracingOptions?: EncryptedDownloadOptions["tracingOptions"] }): Promise<PinnedBlob> {
    const p = await storageCall(this.ctx(), () =>
      this.client.getProperties({ conditions: options.conditions, abortSignal: options.abortSignal, tracingOptions: options.tracingOptions }),
    );
    if (!p.etag || p.contentLength === undefined) throw new ClientSideEncryptionError("SERVICE_ERROR", "The service returned no ETag or Content-Length.", { details: this.ctx() });
    return { etag: p.etag, storedLength: p.contentLength, metadata: p.metadata, blobType: p.blobType, lastModified: p.lastModified, contentType: p.contentType };
  }

  /** Fetches stored bytes [offset, offset + count) pinned to `etag`. */
  async fetch(offset: number, count: number, etag: string, options: EncryptedDownloadOptions, signal?: AbortSignalLike): Promise<NodeJS.ReadableStream> {
    const res = await storageCall(
      this.ctx(),
      () =>
        this.client.download(offset, count, {
          conditions: this.pinned(options.conditions, etag),
          abortSignal: signal ?? options.abortSignal,
          maxRetryRequests: options.maxRetryRequests,
          tracingOptions: options.tracingOptions,
        }),
      { callerSignal: options.abortSignal },
    );
    guardBody(res.readableStreamBody);
    if (res.etag !== undefined && res.etag !== etag) {
      (res.readableStreamBody as Readable | undefined)?.destroy?.();
      throw toTypedError({ statusCode: 412, details: { errorCode: "ConditionNotMet" } }, this.ctx());
    }
    if (!res.readableStreamBody) throw new ClientSideEncryptionError("SERVICE_ERROR", "The service returned no body.", { details: this.ctx() });
    return res.readableStreamBody;
  }

  /** Unwraps the content key for a blob (KEK selection per core rules). */
  async contentKey(data: EncryptionData, signal: AbortSignalLike | undefined): Promise<Buffer> {
    return Buffer.from(await unwrapContentKey(data, this.policy, { abortSignal: signal }));
  }

  /** Exact plaintext length of an encrypted blob (core's plaintextLengthOf; 1.0 reads the last CBC blocks, pinned). */
  async plaintextLength(state: BlobEncryptionState, cek: Uint8Array, stored: number, etag: string, options: EncryptedDownloadOptions): Promise<number> {
    const fetchTail = async (offset: number, count: number | undefined): Promise<AsyncIterable<Uint8Array>> =>
      (await this.fetch(offset, count ?? stored - offset, etag, options)) as AsyncIterable<Uint8Array>;
    return this.guard(plaintextLengthOf(state.data, cek, stored, fetchTail, state.padded), { callerSignal: options.abortSignal });
  }

  async guard<T>(p: Promise<T>, abort?: { callerSignal: AbortSignalLike | undefined }): Promise<T> {
    try {
      return await p;
    } catch (e) {
      throw toTypedError(e, this.ctx(), abort);
    }
  }

  /** Decrypts a fetched range; errors become typed; progress in plaintext bytes. */
  decrypting(state: BlobEncryptionState, cek: Uint8Array, plan: RangePlan, source: ByteSource, callerSignal: AbortSignalLike | undefined, onChunk?: (n: number) => void): AsyncGenerator<Buffer> {
    return this.typedStream(decryptPlanned(state.data, cek, plan, source, this.policy, state.padded), callerSignal, onChunk);
  }

  /** A plaintext stream whose failures become typed errors (with this blob's context); `onChunk` counts plaintext bytes. */
  typedStream(source: AsyncIterable<Buffer>, callerSignal: AbortSignalLike | undefined, onChunk?: (n: number) => void): AsyncGenerator<Buffer> {
    const ctx = this.ctx();
    return (async function* () {
      try {
        for await (const chunk of source) {
          onChunk?.(chunk.length);
          yield chunk;
        }
      } catch (e) {
        throw toTypedError(e, ctx, { callerSignal });
      }
    })();
  }

  guardSync<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw toTypedError(e, this.ctx());
    }
  }
}
