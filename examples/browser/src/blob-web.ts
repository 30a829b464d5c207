// Encrypted block-blob upload and download in the browser: @azure-cse/core-envelope/web for the crypto,
// the official @azure/storage-blob browser build for the writes and properties, and fetch() for ranged
// downloads (a ReadableStream: the SDK's browser download buffers the whole range into a Blob). Stored
// format = the Node and Python writers' (EncryptionData in the `encryptiondata` metadata, 2.x regions).
import type { ContainerClient } from "@azure/storage-blob";
import {
  ClientSideEncryptionError,
  createWebContentEncryption,
  decryptWebRange,
  findEncryptionDataInMetadata,
  parseEncryptionData,
  ENCRYPTION_DATA_METADATA_KEY,
  type ClientSideEncryptionPolicy,
  type PlaintextRange,
  type WebByteInput,
} from "@azure-cse/core-envelope/web";

/** Ciphertext bytes staged per Put Block (whole regions; at least one region). */
const BLOCK_TARGET = 4 * 1024 * 1024;

function blockId(i: number): string {
  return btoa(`block-${String(i).padStart(6, "0")}`);
}

export interface UploadResult {
  storedLength: number;
  regions: number;
  blocks: number;
  encryptionData: string;
}

/** Encrypts `source` region by region and stages the regions as blocks; memory stays about one block. */
export async function uploadEncrypted(container: ContainerClient, name: string, source: WebByteInput, policy: ClientSideEncryptionPolicy, metadata: Record<string, string> = {}): Promise<UploadResult> {
  const ce = await createWebContentEncryption(policy);
  const client = container.getBlockBlobClient(name);
  const ids: string[] = [];
  let pending: Uint8Array[] = [];
  let held = 0;
  let stored = 0;
  let regions = 0;
  const flush = async () => {
    if (!held) return;
    const block = new Uint8Array(held);
    let o = 0;
    for (const p of pending) {
      block.set(p, o);
      o += p.length;
    }
    const id = blockId(ids.length);
    await client.stageBlock(id, block, block.length);
    ids.push(id);
    pending = [];
    held = 0;
  };
  try {
    for await (const region of ce.encrypt(source)) {
      pending.push(region);
      held += region.length;
      stored += region.length;
      regions++;
      if (held >= BLOCK_TARGET) await flush();
    }
    await flush();
    const encryptionData = ce.toJson(true);
    await client.commitBlockList(ids, { metadata: { ...metadata, [ENCRYPTION_DATA_METADATA_KEY]: encryptionData } });
    return { storedLength: stored, regions, blocks: ids.length, encryptionData };
  } finally {
    ce.dispose();
  }
}

/**
 * Downloads and decrypts a blob (or a plaintext range of it) as an async iterable of verified plaintext.
 * The stored bytes arrive as a fetch() ReadableStream pinned to the blob's ETag (If-Match), so a blob
 * changed between the properties and the body read fails instead of mixing versions.
 */
export async function downloadDecrypted(container: ContainerClient, name: string, policy: ClientSideEncryptionPolicy, range?: PlaintextRange): Promise<AsyncGenerator<Uint8Array>> {
  const client = container.getBlobClient(name);
  const props = await client.getProperties();
  const json = findEncryptionDataInMetadata(props.metadata);
  if (json === undefined) throw new ClientSideEncryptionError("ENCRYPTION_REQUIRED", `Blob "${name}" carries no encryption metadata; it was not returned.`);
  const data = parseEncryptionData(json);
  const etag = props.etag ?? "";
  return decryptWebRange(data, policy, props.contentLength ?? 0, async (offset, count) => {
    const headers: Record<string, string> = { "If-Match": etag };
    if (offset > 0 || count !== undefined) headers.Range = `bytes=${offset}-${count === undefined ? "" : offset + count - 1}`;
    const res = await fetch(client.url, { headers });
    if (res.status === 412) throw new ClientSideEncryptionError("CONDITION_NOT_MET", `Blob "${name}" changed while it was being read.`);
    if (!res.ok || !res.body) throw new ClientSideEncryptionError("SERVICE_ERROR", `Reading blob "${name}" failed with HTTP ${res.status}.`, { details: { status: res.status } });
    return res.body;
  }, range ? { range } : {});
}
