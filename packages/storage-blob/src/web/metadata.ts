// Metadata-side operations of an encrypted blob in the browser, the Node client's getProperties / setMetadata /
// updateKeyEncryptionKey: an encryption summary with the plaintext length, a metadata write that keeps
// `encryptiondata`, and key rotation that rewrites only the wrapped key (core's rewrapContentKey), each write
// If-Match the ETag read, so a concurrent writer yields CONDITION_NOT_MET and nothing is lost.
import {
  ClientSideEncryptionError,
  ENCRYPTION_DATA_METADATA_KEY,
  findEncryptionDataInMetadata,
  parseEncryptionData,
  rewrapContentKey,
  unwrapWebContentKey,
  v2PlaintextLength,
  type AbortSignalLike,
  type ClientSideEncryptionPolicy,
  type EncryptionData,
  type KeyEncryptionKey,
} from "@azure-cse/core-envelope/web";
import { summarizeEncryptionData, type EncryptionSummaryOf } from "../shared/encryption-summary.js";
import { metadataCaseFromListing, type ListedBlobLike } from "../shared/metadata-case.js";
import { aborted, checkMetadata, serviceError, type WebBlobClientLike } from "./blob.js";

/** The non-secret summary of a blob's EncryptionData. */
export type WebEncryptionSummary = EncryptionSummaryOf;

/** Conditions on the blob read first (e.g. `{ ifMatch: etag }` from an earlier read); the write is pinned to the ETag read. */
export interface WebBlobReadConditions {
  ifMatch?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: Date;
  ifUnmodifiedSince?: Date;
}

export interface WebBlobPropertiesOptions {
  conditions?: WebBlobReadConditions;
  abortSignal?: AbortSignalLike;
}

export interface WebBlobProperties {
  etag: string | undefined;
  lastModified: Date | undefined;
  /** User metadata without `encryptiondata`. */
  metadata: Record<string, string>;
  /** True when the blob carries `encryptiondata` metadata (even if it cannot be parsed). */
  isClientSideEncrypted: boolean;
  encryption?: WebEncryptionSummary;
  /** Plaintext length: exact for 2.x and plaintext blobs; undefined for 1.0 (its padding is only known at the end). */
  plaintextLength: number | undefined;
  /** Stored (ciphertext) length, the service's Content-Length. */
  storedContentLength: number | undefined;
  /** Set when `encryptiondata` is present but unreadable; such a blob can never be decrypted. */
  encryptionDataError?: { code: string; message: string };
}

export interface WebSetMetadataResult {
  etag: string | undefined;
  lastModified: Date | undefined;
}

/**
 * What is used of a `ContainerClient` (the official SDK's, browser or Node build): `listBlobsFlat` with `prefix`,
 * `includeMetadata: true` and `abortSignal`, read until the blob's entry.
 */
export interface WebContainerListingLike {
  /** When both this and the blob client's `containerName` are known they must be equal (else INVALID_ARGUMENT). */
  readonly containerName?: string;
  listBlobsFlat(options?: { prefix?: string; includeMetadata?: boolean; abortSignal?: AbortSignalLike }): AsyncIterable<ListedBlobLike>;
}

/**
 * Keeping metadata names' case on a rewrite. Get Blob Properties returns metadata as response headers, whose names
 * browsers (fetch) and Node lower-case, so a rewrite from them stores "Owner" as "owner". With `container` (the blob's
 * ContainerClient; listing needs container-level permission, e.g. a container SAS with list), the names' case is
 * taken from a List Blobs entry (prefix = the blob's name, metadata included) whose name equals the blob client's
 * `name` and whose ETag and metadata (ignoring name case) equal the properties read. Otherwise (no `container`, no
 * `name` on the blob client, a snapshot or version URL, a listing that fails, no such entry, another ETag or other
 * values) the names are written lower-cased, as without it; values are never taken from the listing when they differ.
 */
export interface WebMetadataCaseOptions {
  container?: WebContainerListingLike;
}

export interface WebUpdateKeyEncryptionKeyOptions extends WebBlobPropertiesOptions, WebMetadataCaseOptions {
  /** Wrap algorithm for the new key; default its defaultWrapAlgorithm. */
  keyWrapAlgorithm?: string;
}

export interface WebUpdateKeyEncryptionKeyResult extends WebSetMetadataResult {
  /** KeyId stored before the rotation. */
  previousKeyId: string;
  /** KeyId now stored. */
  keyId: string;
  keyWrapAlgorithm: string;
}

const invalid = (m: string) => new ClientSideEncryptionError("INVALID_ARGUMENT", m);

function optionsOf<T extends object>(options: T | undefined): T {
  if (options === undefined) return {} as T;
  if (typeof options !== "object" || options === null) throw invalid("options must be an object.");
  return options;
}

async function readProperties(client: WebBlobClientLike, options: WebBlobPropertiesOptions) {
  aborted(options.abortSignal);
  try {
    return await client.getProperties({ ...(options.conditions ? { conditions: options.conditions } : {}), ...(options.abortSignal ? { abortSignal: options.abortSignal } : {}) });
  } catch (e) {
    throw serviceError(e, "Get Blob Properties", client);
  }
}

function userMetadata(metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata ?? {})) if (k.toLowerCase() !== ENCRYPTION_DATA_METADATA_KEY) out[k] = v;
  return out;
}

export function checkContainer(container: unknown, client: WebBlobClientLike): WebContainerListingLike | undefined {
  if (container === undefined) return undefined;
  if (typeof container !== "object" || container === null || typeof (container as Partial<WebContainerListingLike>).listBlobsFlat !== "function") {
    throw invalid("container must be a ContainerClient (an object with listBlobsFlat).");
  }
  const c = container as WebContainerListingLike;
  if (typeof c.containerName === "string" && typeof client.containerName === "string" && c.containerName !== client.containerName) {
    throw invalid(`container is "${c.containerName}" but the blob is in "${client.containerName}".`);
  }
  return c;
}

/** The properties' user metadata, names in their stored case when `container` lists a matching entry (see WebMetadataCaseOptions). */
async function userMetadataKeepingCase(
  client: WebBlobClientLike,
  container: WebContainerListingLike | undefined,
  props: { etag?: string; metadata?: Record<string, string> },
  signal: AbortSignalLike | undefined,
): Promise<Record<string, string>> {
  const name = client.name;
  if (container === undefined || typeof name !== "string" || name === "") return userMetadata(props.metadata);
  try {
    const url = new URL(client.url);
    if (url.searchParams.has("snapshot") || url.searchParams.has("versionid")) return userMetadata(props.metadata);
    const listing = container.listBlobsFlat({ prefix: name, includeMetadata: true, ...(signal ? { abortSignal: signal } : {}) });
    const listed = await metadataCaseFromListing(listing, name, props.etag, props.metadata);
    if (listed) return userMetadata(listed);
  } catch {
    // Listing needs container-level permission (and an abort is reported by the write that follows): keep the lower-cased names.
  }
  return userMetadata(props.metadata);
}

/** Set Blob Metadata If-Match `etag` (a 412 is CONDITION_NOT_MET). */
async function writeMetadata(client: WebBlobClientLike, metadata: Record<string, string>, etag: string | undefined, signal: AbortSignalLike | undefined): Promise<WebSetMetadataResult> {
  if (typeof client.setMetadata !== "function") throw invalid("The blob client has no setMetadata (pass the official BlobClient).");
  if (etag === undefined) throw new ClientSideEncryptionError("SERVICE_ERROR", "The blob's properties came without an ETag, so the metadata cannot be written conditionally; nothing was changed.");
  aborted(signal);
  try {
    const r = await client.setMetadata(metadata, { conditions: { ifMatch: etag }, ...(signal ? { abortSignal: signal } : {}) });
    return { etag: r.etag, lastModified: r.lastModified };
  } catch (e) {
    throw serviceError(e, "Set Blob Metadata", client);
  }
}

/**
 * The blob's properties with the encryption summary (protocol, key id, wrap algorithm, region size) and the
 * plaintext length, without fetching any body byte or unwrapping any key (the Node client's `getProperties`).
 */
export async function getEncryptedBlobProperties(client: WebBlobClientLike, options?: WebBlobPropertiesOptions): Promise<WebBlobProperties> {
  const o = optionsOf(options);
  const props = await readProperties(client, o);
  const out: WebBlobProperties = {
    etag: props.etag,
    lastModified: props.lastModified,
    metadata: userMetadata(props.metadata),
    isClientSideEncrypted: false,
    plaintextLength: props.contentLength,
    storedContentLength: props.contentLength,
  };
  let data: EncryptionData;
  try {
    const raw = findEncryptionDataInMetadata(props.metadata);
    if (raw === undefined) return out;
    data = parseEncryptionData(raw);
  } catch (e) {
    const err = ClientSideEncryptionError.is(e) ? e : new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", "Invalid encryption metadata.", { cause: e });
    return { ...out, isClientSideEncrypted: true, plaintextLength: undefined, encryptionDataError: { code: err.code, message: err.message } };
  }
  out.isClientSideEncrypted = true;
  out.encryption = summarizeEncryptionData(data);
  out.plaintextLength = data.protocol === "1.0" ? undefined : v2PlaintextLength(props.contentLength ?? 0, data.encryptedRegionInfo.dataLength);
  return out;
}

/**
 * Replaces the user metadata while keeping `encryptiondata` (a plain Set Blob Metadata would drop it and make the
 * blob undecryptable), If-Match the ETag read: a concurrent change is CONDITION_NOT_MET, not overwritten. A caller
 * key `encryptiondata` is INVALID_ARGUMENT.
 */
export async function setEncryptedBlobMetadata(client: WebBlobClientLike, metadata: Record<string, string> = {}, options?: WebBlobPropertiesOptions): Promise<WebSetMetadataResult> {
  const o = optionsOf(options);
  const user = { ...checkMetadata(metadata) };
  const props = await readProperties(client, o);
  const raw = findEncryptionDataInMetadata(props.metadata);
  if (raw !== undefined) user[ENCRYPTION_DATA_METADATA_KEY] = raw;
  return writeMetadata(client, user, props.etag, o.abortSignal);
}

/**
 * Key rotation: unwraps the content key with `policy` (keyResolver or keyEncryptionKey), re-wraps it under
 * `newKeyEncryptionKey` and checks that the new key unwraps it back (core's `rewrapContentKey`: only
 * WrappedContentKey's KeyId, EncryptedKey and Algorithm change), then rewrites the metadata If-Match the ETag
 * read. No content is re-uploaded. Metadata names come back lower-cased from Get Blob Properties; with
 * `options.container` their case is taken from a container listing (see WebMetadataCaseOptions), else they are
 * written lower-cased.
 */
export async function updateBlobKeyEncryptionKey(
  client: WebBlobClientLike,
  policy: ClientSideEncryptionPolicy,
  newKeyEncryptionKey: KeyEncryptionKey,
  options?: WebUpdateKeyEncryptionKeyOptions,
): Promise<WebUpdateKeyEncryptionKeyResult> {
  const o = optionsOf(options);
  if (typeof policy !== "object" || policy === null) throw invalid("The encryption policy must be an object.");
  const container = checkContainer(o.container, client);
  const props = await readProperties(client, o);
  const raw = findEncryptionDataInMetadata(props.metadata);
  if (raw === undefined) throw new ClientSideEncryptionError("ENCRYPTION_REQUIRED", "The blob is not client-side encrypted: there is no content key to rotate.");
  const data = parseEncryptionData(raw, policy.maxRegionSize !== undefined ? { maxRegionSize: policy.maxRegionSize } : {});
  const signal = o.abortSignal ? { abortSignal: o.abortSignal } : {};
  const cek = await unwrapWebContentKey(data, policy, signal);
  try {
    const r = await rewrapContentKey(raw, data.protocol, cek, newKeyEncryptionKey, {
      ...(o.keyWrapAlgorithm !== undefined ? { keyWrapAlgorithm: o.keyWrapAlgorithm } : {}),
      ...signal,
      argumentName: "newKeyEncryptionKey",
    });
    const others = await userMetadataKeepingCase(client, container, props, o.abortSignal);
    const written = await writeMetadata(client, { ...others, [ENCRYPTION_DATA_METADATA_KEY]: r.encryptionDataJson }, props.etag, o.abortSignal);
    return { ...written, previousKeyId: r.previousKeyId, keyId: r.keyId, keyWrapAlgorithm: r.keyWrapAlgorithm };
  } finally {
    cek.fill(0);
  }
}
