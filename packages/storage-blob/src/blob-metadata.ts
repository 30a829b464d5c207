// EncryptedBlobClient's metadata-safe operations: properties with the encryption summary, and metadata
// writes, snapshots and copies that keep `encryptiondata`. Not exported from the package.
import type { BlobClient } from "@azure/storage-blob";
import {
  ClientSideEncryptionError,
  ENCRYPTION_DATA_METADATA_KEY,
  findEncryptionDataInMetadata,
  maxReadRegionSize,
  parseEncryptionData,
  v2PlaintextLength,
} from "@azure-cse/core-envelope";
import { summarize, type BlobContext, type BlobEncryptionState } from "./blob-context.js";
import { storageCall, toTypedError } from "./errors.js";
import { copyUserMetadata, optionsOf } from "./internal.js";
import type {
  EncryptedBlobProperties,
  EncryptedCopyOptions,
  EncryptedCopyResponse,
  EncryptedCreateSnapshotOptions,
  EncryptedGetPropertiesOptions,
  EncryptedSetMetadataOptions,
} from "./models.js";

/**
 * The service properties plus `isClientSideEncrypted`, the protocol, key id and plaintext length
 * (2.x: exact from the stored length; 1.0: from the last CBC blocks when a key is available).
 */
export async function getProperties(c: BlobContext, options: EncryptedGetPropertiesOptions = {}): Promise<EncryptedBlobProperties> {
  options = optionsOf(options, "getProperties options");
  const props = await storageCall(c.ctx(), () =>
    c.client.getProperties({ conditions: options.conditions, abortSignal: options.abortSignal, tracingOptions: options.tracingOptions }),
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
    state = c.encryptionOf(props.metadata, props.blobType)!;
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
    const cek = await c.guard(c.contentKey(state.data, options.abortSignal));
    try {
      out.plaintextLength = await c.plaintextLength(state, cek, stored, props.etag!, options);
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
export async function setMetadata(c: BlobContext, metadata: Record<string, string> = {}, options: EncryptedSetMetadataOptions = {}): Promise<{ etag?: string; lastModified?: Date }> {
  options = optionsOf(options, "setMetadata options");
  const user = copyUserMetadata(metadata);
  const pinned = await c.pinnedProperties(options);
  const raw = c.guardSync(() => findEncryptionDataInMetadata(pinned.metadata));
  if (raw !== undefined) user[ENCRYPTION_DATA_METADATA_KEY] = raw;
  const res = await storageCall(c.ctx(), () =>
    c.client.setMetadata(user, {
      conditions: { ...options.conditions, ifMatch: pinned.etag, ifNoneMatch: undefined },
      abortSignal: options.abortSignal,
      tracingOptions: options.tracingOptions,
    }),
  );
  return { etag: res.etag, lastModified: res.lastModified };
}

/**
 * Creates a snapshot. Without `metadata` the snapshot keeps the blob's metadata (including
 * `encryptiondata`); with `metadata`, `encryptiondata` is carried over (If-Match the ETag read).
 */
export async function createSnapshot(c: BlobContext, options: EncryptedCreateSnapshotOptions = {}): Promise<{ snapshot?: string; etag?: string; lastModified?: Date }> {
  options = optionsOf(options, "createSnapshot options");
  if (options.metadata === undefined) {
    const res = await storageCall(c.ctx(), () =>
      c.client.createSnapshot({ conditions: options.conditions, abortSignal: options.abortSignal, tracingOptions: options.tracingOptions }),
    );
    return { snapshot: res.snapshot, etag: res.etag, lastModified: res.lastModified };
  }
  const user = copyUserMetadata(options.metadata);
  const pinned = await c.pinnedProperties(options);
  const raw = c.guardSync(() => findEncryptionDataInMetadata(pinned.metadata));
  if (raw !== undefined) user[ENCRYPTION_DATA_METADATA_KEY] = raw;
  const res = await storageCall(c.ctx(), () =>
    c.client.createSnapshot({
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
export async function copyFromBlob(c: BlobContext, src: BlobClient, options: EncryptedCopyOptions = {}): Promise<EncryptedCopyResponse> {
  options = optionsOf(options, "copyFromBlob options");
  if (typeof src !== "object" || src === null || typeof (src as Partial<BlobClient>).getProperties !== "function" || typeof (src as Partial<BlobClient>).url !== "string") {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", "copyFromBlob's source must be an EncryptedBlobClient or an @azure/storage-blob BlobClient.");
  }
  const user = options.metadata === undefined ? undefined : copyUserMetadata(options.metadata);
  const srcCtx = { container: src.containerName, blob: src.name };
  const props = await storageCall(srcCtx, () =>
    src.getProperties({ conditions: options.sourceConditions, abortSignal: options.abortSignal, tracingOptions: options.tracingOptions }),
  );
  const raw = c.guardSync(() => findEncryptionDataInMetadata(props.metadata));
  if (raw === undefined && c.requireEncryption) {
    throw new ClientSideEncryptionError(
      "ENCRYPTION_REQUIRED",
      `The copy source "${src.containerName}/${src.name}" is not client-side encrypted; with requireEncryption this client does not create plaintext blobs.`,
      { details: srcCtx },
    );
  }
  if (raw !== undefined) c.guardSync(() => parseEncryptionData(raw, { maxRegionSize: maxReadRegionSize(c.policy) }));
  if (user && raw !== undefined) user[ENCRYPTION_DATA_METADATA_KEY] = raw;
  const result = await storageCall(c.ctx(), async () => {
    const poller = await c.client.beginCopyFromURL(src.url, {
      metadata: user,
      tags: options.tags,
      tier: options.tier,
      conditions: options.conditions,
      sourceConditions: { ifMatch: props.etag },
      abortSignal: options.abortSignal,
      intervalInMs: options.pollIntervalInMs ?? 500,
      tracingOptions: options.tracingOptions,
    });
    return poller.pollUntilDone();
  });
  if (result.copyStatus !== undefined && result.copyStatus !== "success") {
    throw new ClientSideEncryptionError("SERVICE_ERROR", `The copy ended with status "${result.copyStatus}".`, { details: { ...c.ctx(), copyStatus: result.copyStatus } });
  }
  return { etag: result.etag, lastModified: result.lastModified, copyId: result.copyId, copyStatus: result.copyStatus, isClientSideEncrypted: raw !== undefined };
}
