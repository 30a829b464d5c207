// EncryptedBlobClient's key rotation: re-wraps the content key and rewrites only `encryptiondata`
// (If-Match the ETag read; metadata names keep their case when a listing allows it). Not exported from the package.
import { ContainerClient } from "@azure/storage-blob";
import {
  ClientSideEncryptionError,
  ENCRYPTION_DATA_METADATA_KEY,
  findEncryptionDataInMetadata,
  maxReadRegionSize,
  parseEncryptionData,
  rewrapContentKey,
  type KeyEncryptionKey,
} from "@azure-cse/core-envelope";
import { nothingToRotate } from "@azure-cse/core-envelope/internal";
import type { BlobContext, PinnedBlob } from "./blob-context.js";
import { storageCall } from "./errors.js";
import { metadataCaseFromListing } from "./shared/metadata-case.js";
import { optionsOf, withoutEncryptionData } from "./internal.js";
import type { UpdateKeyEncryptionKeyOptions, UpdateKeyEncryptionKeyResponse } from "./models.js";
/** Reads the metadata with its original key case when a listing allows it (Get Properties lower-cases keys). */
async function metadataPreservingCase(c: BlobContext, pinned: PinnedBlob): Promise<Record<string, string>> {
  try {
    const pipeline = (c.client as unknown as { pipeline?: ConstructorParameters<typeof ContainerClient>[1] }).pipeline;
    const url = new URL(c.client.url);
    const containerUrlOf = containerUrl(c);
    if (!pipeline || !containerUrlOf || url.searchParams.has("snapshot") || url.searchParams.has("versionid")) return pinned.metadata ?? {};
    const container = new ContainerClient(containerUrlOf, pipeline as never);
    const listed = await metadataCaseFromListing(container.listBlobsFlat({ prefix: c.client.name, includeMetadata: true }), c.client.name, pinned.etag, pinned.metadata);
    if (listed) return listed;
  } catch {
    // Listing needs container-level permission; fall back to the lower-cased keys.
  }
  return pinned.metadata ?? {};
}

function containerUrl(c: BlobContext): string | undefined {
  const u = new URL(c.client.url);
  u.search = "";
  const encodedName = c.client.name.split("/").map(encodeURIComponent).join("/");
  const s = u.toString();
  for (const suffix of [`/${encodedName}`, `/${c.client.name}`]) if (s.endsWith(suffix)) return s.slice(0, s.length - suffix.length);
  return undefined;
}

/**
 * Key rotation: re-wraps the content key with `newKeyEncryptionKey` and rewrites only
 * `WrappedContentKey` (no data is re-uploaded). The old key is found through the policy (keyResolver or
 * keyEncryptionKey). The new wrap is unwrapped and compared before anything is written, and the write is
 * If-Match the ETag read, so a concurrent change fails with CONDITION_NOT_MET and nothing is lost.
 */
export async function updateKeyEncryptionKey(c: BlobContext, newKeyEncryptionKey: KeyEncryptionKey, options: UpdateKeyEncryptionKeyOptions = {}): Promise<UpdateKeyEncryptionKeyResponse> {
  options = optionsOf(options, "updateKeyEncryptionKey options");
  if (!newKeyEncryptionKey || typeof newKeyEncryptionKey.wrapKey !== "function") {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", "updateKeyEncryptionKey needs the new KeyEncryptionKey.");
  }
  const pinned = await c.pinnedProperties(options);
  const raw = c.guardSync(() => findEncryptionDataInMetadata(pinned.metadata));
  if (raw === undefined) throw nothingToRotate(`Blob "${c.client.containerName}/${c.client.name}"`, c.ctx());
  const data = c.guardSync(() => parseEncryptionData(raw, { maxRegionSize: maxReadRegionSize(c.policy) }));
  const cek = await c.guard(c.contentKey(data, options.abortSignal));
  try {
    const r = await c.guard(
      rewrapContentKey(raw, data.protocol, cek, newKeyEncryptionKey, { keyWrapAlgorithm: options.keyWrapAlgorithm, abortSignal: options.abortSignal, details: c.ctx() }),
    );
    const others = withoutEncryptionData(await metadataPreservingCase(c, pinned));
    const res = await storageCall(c.ctx(), () =>
      c.client.setMetadata(
        { ...others, [ENCRYPTION_DATA_METADATA_KEY]: r.encryptionDataJson },
        {
          conditions: c.pinned(options.conditions, pinned.etag),
          abortSignal: options.abortSignal,
          tracingOptions: options.tracingOptions,
        },
      ),
    );
    return { etag: res.etag, lastModified: res.lastModified, previousKeyId: r.previousKeyId, keyId: r.keyId, keyWrapAlgorithm: r.keyWrapAlgorithm };
  } finally {
    cek.fill(0);
  }
}
