// Blob side of the operations engine: listing pages, classification, the per-blob migrate and rotate
// steps, and the post-rotation verification. Builds on @azure-cse/storage-blob (download pinned to the
// ETag, streamed staged upload committing metadata in Put Block List, updateKeyEncryptionKey).
import { createHash } from "node:crypto";
import type { BlobClient, BlobGetPropertiesResponse, BlobHTTPHeaders, BlobItem, ContainerClient, ContainerListBlobFlatSegmentResponse } from "@azure/storage-blob";
import {
  ClientSideEncryptionError,
  ENCRYPTION_DATA_METADATA_KEY,
  findEncryptionDataInMetadata,
  parseEncryptionData,
  rewrapContentKey,
  unwrapContentKey,
  type ClientSideEncryptionPolicy,
  type EncryptionProtocol,
  type KeyEncryptionKey,
} from "@azure-cse/core-envelope";
import { toTypedError } from "@azure-cse/core-envelope";
import { describeEncryption, EncryptedBlobClient } from "@azure-cse/storage-blob";
import { chooseBlockSize, reencryptedStoredUpperBound, type BlockSizeOptions } from "./blocks.js";
import type { ListedPage, StepContext } from "./runner.js";
import { emptyVerify, verifyNote, type ObjectOutcome, type SkipReason, type VerifyResult } from "./report.js";

export interface BlobScope {
  container: ContainerClient;
  prefix?: string;
  /** Listing page size (default 1000). */
  pageSize?: number;
  /** List the blobs' tags too (migrate: an untagged blob then needs no Get Blob Tags). */
  includeTags?: boolean;
}

/** Marks items of a listing made with includeTags (an untagged blob then has no `tags`). */
const TAGS_LISTED = Symbol("tagsListed");
function listedWithTags(item: BlobItem): boolean {
  return (item as BlobItem & { [TAGS_LISTED]?: boolean })[TAGS_LISTED] === true;
}

/** Listing pages (metadata included) from a continuation token. */
export async function* blobPages(scope: BlobScope, from: string | null): AsyncGenerator<ListedPage<BlobItem>> {
  const iter = scope.container
    .listBlobsFlat({ prefix: scope.prefix || undefined, includeMetadata: true, ...(scope.includeTags ? { includeTags: true } : {}) })
    .byPage({ maxPageSize: scope.pageSize ?? 1000, continuationToken: from ?? undefined });
  let token = from;
  try {
    for await (const page of iter as AsyncIterable<ContainerListBlobFlatSegmentResponse>) {
      const next = page.continuationToken ? page.continuationToken : null;
      if (scope.includeTags) for (const item of page.segment.blobItems) (item as BlobItem & { [TAGS_LISTED]?: boolean })[TAGS_LISTED] = true;
      yield { token, next, items: page.segment.blobItems };
      token = next;
    }
  } catch (e) {
    throw toTypedError(e, { container: scope.container.containerName });
  }
}

/** ETags from listings come without quotes; conditions and responses use the quoted form. */
export function quoteEtag(etag: string): string {
  return etag.startsWith('"') || etag.startsWith("W/") ? etag : `"${etag}"`;
}
function sameEtag(a: string | undefined, b: string | undefined): boolean {
  const u = (t: string | undefined) => t?.replace(/^"|"$/g, "");
  return a !== undefined && b !== undefined && u(a) === u(b);
}

type Classified =
  | { action: "work"; protocol: string; keyId: string; plaintextLength?: number }
  | { action: "skip"; reason: SkipReason; protocol?: string; keyId?: string; plaintextLength?: number }
  | { action: "fail"; code: string; message: string };

function describe(item: BlobItem) {
  return describeEncryption(item.metadata, item.properties.contentLength);
}

/**
 * Migration selection: every 1.0 blob, and every 2.x blob wrapped by an offered old key (not the new key).
 * 2.x blobs already under the new key are current; blobs under keys nobody offered are left alone.
 */
export function classifyForMigrate(item: BlobItem, newKeyId: string, offeredKeyIds: ReadonlySet<string>): Classified {
  const d = describe(item);
  if (!d.isClientSideEncrypted) return { action: "skip", reason: "not-encrypted" };
  if (d.encryptionDataError) return { action: "fail", code: d.encryptionDataError.code, message: d.encryptionDataError.message };
  const e = d.encryption!;
  const base = { protocol: e.protocol, keyId: e.keyId, plaintextLength: d.plaintextLength };
  if (e.protocol !== "1.0") {
    if (e.keyId === newKeyId) return { action: "skip", reason: "already-current", ...base };
    if (!offeredKeyIds.has(e.keyId)) return { action: "skip", reason: "other-key", ...base };
  }
  if (item.properties.blobType && item.properties.blobType !== "BlockBlob") return { action: "skip", reason: "not-block-blob", ...base };
  if (item.properties.accessTier === "Archive") return { action: "skip", reason: "archived", ...base };
  return { action: "work", ...base };
}

/** Rotation selection: encrypted blobs whose content key is wrapped by one of the old keys. */
export function classifyForRotate(item: BlobItem, newKeyId: string, oldKeyIds: ReadonlySet<string>): Classified {
  const d = describe(item);
  if (!d.isClientSideEncrypted) return { action: "skip", reason: "not-encrypted" };
  if (d.encryptionDataError) return { action: "fail", code: d.encryptionDataError.code, message: d.encryptionDataError.message };
  const e = d.encryption!;
  const base = { protocol: e.protocol, keyId: e.keyId, plaintextLength: d.plaintextLength };
  if (e.keyId === newKeyId) return { action: "skip", reason: "already-current", ...base };
  if (!oldKeyIds.has(e.keyId)) return { action: "skip", reason: "other-key", ...base };
  if (item.properties.accessTier === "Archive") return { action: "skip", reason: "archived", ...base };
  return { action: "work", ...base };
}

function outcomeBase(item: BlobItem): Pick<ObjectOutcome, "key" | "name" | "storedBytes"> {
  return { key: item.name, name: item.name, storedBytes: item.properties.contentLength ?? 0 };
}

function failed(item: BlobItem, e: unknown): ObjectOutcome {
  const err = toTypedError(e, { container: "", blob: item.name });
  return { ...outcomeBase(item), outcome: "failed", code: err.code, message: err.message };
}

/** Skip or fail outcome for a classification that is not work (and recovery of a write a killed run committed). */
function notWork(item: BlobItem, c: Exclude<Classified, { action: "work" }>, doneKind: "migrated" | "rotated", ctx: StepContext | undefined): ObjectOutcome {
  if (c.action === "fail") return { ...outcomeBase(item), outcome: "failed", code: c.code, message: c.message };
  const state = c.protocol !== undefined && c.keyId !== undefined ? { protocol: c.protocol, keyId: c.keyId } : undefined;
  if (c.reason === "already-current" && ctx?.recoveredEtag !== undefined && !sameEtag(ctx.recoveredEtag, item.properties.etag)) {
    // A killed earlier run was writing this blob and its commit landed: count it as done.
    return { ...outcomeBase(item), outcome: doneKind, to: state, plaintextBytes: c.plaintextLength, newStoredBytes: item.properties.contentLength, recovered: true };
  }
  return { ...outcomeBase(item), outcome: "skipped", reason: c.reason, ...(state ? { from: state } : {}) };
}

/** Dry run: what migrate/rotate would do with this blob, without touching it. */
export function planBlob(item: BlobItem, c: Classified): ObjectOutcome {
  if (c.action === "work") {
    return { ...outcomeBase(item), outcome: "planned", from: { protocol: c.protocol, keyId: c.keyId }, plaintextBytes: c.plaintextLength ?? item.properties.contentLength ?? 0 };
  }
  return notWork(item, c, "migrated", undefined);
}

export interface MigrateSettings {
  container: ContainerClient;
  /** Offers the old keys (and the new one) for unwrapping. */
  readPolicy: ClientSideEncryptionPolicy;
  /** keyEncryptionKey = the new key, encryptionVersion 2.0 or 2.1 (+ regionSize). */
  writePolicy: ClientSideEncryptionPolicy;
  newKeyId: string;
  offeredKeyIds: ReadonlySet<string>;
  regionSize: number;
  /** Blocks staged in parallel per blob; default 2 (memory ≈ blockSize × (blockConcurrency + 1) per blob). */
  blockConcurrency?: number;
  blockSize?: BlockSizeOptions;
  maxRetryRequests?: number;
}

function headersOf(p: Pick<BlobGetPropertiesResponse, "contentType" | "contentEncoding" | "contentLanguage" | "contentDisposition" | "cacheControl">): BlobHTTPHeaders {
  const h: BlobHTTPHeaders = {};
  if (p.contentType !== undefined) h.blobContentType = p.contentType;
  if (p.contentEncoding !== undefined) h.blobContentEncoding = p.contentEncoding;
  if (p.contentLanguage !== undefined) h.blobContentLanguage = p.contentLanguage;
  if (p.contentDisposition !== undefined) h.blobContentDisposition = p.contentDisposition;
  if (p.cacheControl !== undefined) h.blobCacheControl = p.cacheControl;
  return h;
}

function userMetadataOf(item: BlobItem): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(item.metadata ?? {})) if (k.toLowerCase() !== ENCRYPTION_DATA_METADATA_KEY) out[k] = v;
  return out;
}

/**
 * The upload wraps an error of its source as SOURCE_ERROR (cause: the error). Migrate's source is its own
 * download (and the second read of a 1.0 blob): what failed there is the storage read, so the cause is
 * reported (a changed blob is "changed", a corrupted read InconsistentRead), not the wrapper.
 */
function unwrapSourceError(e: unknown): unknown {
  return ClientSideEncryptionError.is(e) && e.code === "SOURCE_ERROR" && e.cause !== undefined ? e.cause : e;
}

function skipOnCondition(item: BlobItem, e: unknown, from?: { protocol: string; keyId: string }): ObjectOutcome {
  const err = toTypedError(unwrapSourceError(e));
  if (err.code === "CONDITION_NOT_MET") return { ...outcomeBase(item), outcome: "skipped", reason: "changed", ...(from ? { from } : {}) };
  if (err.code === "NOT_FOUND") return { ...outcomeBase(item), outcome: "skipped", reason: "deleted", ...(from ? { from } : {}) };
  return failed(item, err);
}

/**
 * Migrates one blob in place: download pinned to the listed ETag, stream-decrypt, stream-re-encrypt as 2.x
 * under the new key, stage blocks (sized from the blob size), and commit the block list together with the
 * new encryption metadata, the user metadata, content headers, tags and access tier, If-Match the listed
 * ETag. Staged blocks stay invisible until that single commit; a blob changed meanwhile is skipped.
 */
export async function migrateBlob(item: BlobItem, s: MigrateSettings, ctx: StepContext): Promise<ObjectOutcome> {
  const c = classifyForMigrate(item, s.newKeyId, s.offeredKeyIds);
  if (c.action !== "work") return notWork(item, c, "migrated", ctx);
  const from = { protocol: c.protocol, keyId: c.keyId };
  const etag = quoteEtag(item.properties.etag);
  const raw = s.container.getBlobClient(item.name);
  await ctx.markInFlight(etag);
  let tags: Record<string, string> | undefined;
  let props: BlobGetPropertiesResponse;
  try {
    // What is copied comes from response headers pinned to the ETag (a listing body is not checked by
    // anything: a byte corrupted in it would be written into the new version); the listing only supplies
    // the original case of the metadata names, and its values must agree with the headers.
    props = await raw.getProperties({ conditions: { ifMatch: etag } });
    if (!sameMetadata(userMetadataOf(item), props.metadata)) return failed(item, inconsistentRead(item.name, "the listed metadata differs from the blob's"));
    // Tags do not change the ETag, so they are read as late as possible. An untagged blob (no tags in the
    // listing and x-ms-tag-count 0 in the pinned HEAD: two responses agree) needs no Get Blob Tags.
    const untagged = listedWithTags(item) && Object.keys(item.tags ?? {}).length === 0 && (props.tagCount ?? 0) === 0;
    tags = untagged ? undefined : await readTags(raw, props.tagCount ?? 0, item.name);
  } catch (e) {
    return skipOnCondition(item, e, from);
  }
  let body: NodeJS.ReadableStream | undefined;
  try {
    const dl = await new EncryptedBlobClient(raw, s.readPolicy).download(0, undefined, { conditions: { ifMatch: etag }, maxRetryRequests: s.maxRetryRequests ?? 5 });
    body = dl.readableStreamBody;
    const stored = props.contentLength ?? dl.storedContentLength;
    const blockSize = chooseBlockSize(reencryptedStoredUpperBound(stored, c.plaintextLength, s.regionSize), s.blockSize);
    const source = body as AsyncIterable<Uint8Array>;
    // 1.0 (CBC) has no integrity: a bit flipped in transit decrypts to other bytes without any error, and the
    // commit would make them permanent. Such blobs are read a second time before the commit (see below).
    const digest = c.protocol === "1.0" || dl.encryption?.protocol === "1.0" ? createHash("sha256") : undefined;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const chunk of source) {
        ctx.addBytes(chunk.length);
        digest?.update(chunk);
        yield chunk;
      }
      // Runs before the upload sees the end of the stream, so before any commit.
      if (digest) await confirmSecondRead(raw, s, etag, digest.digest(), item.name);
    }
    const tier = props.accessTier && !props.accessTierInferred ? (props.accessTier as BlobItem["properties"]["accessTier"]) : undefined;
    const res = await new EncryptedBlobClient(raw, s.writePolicy).uploadStream(counted(), {
      metadata: userMetadataOf(item),
      blobHTTPHeaders: headersOf(props),
      tags,
      tier,
      conditions: { ifMatch: etag },
      blockSize,
      maxSingleShotSize: blockSize,
      concurrency: s.blockConcurrency ?? 2,
    });
    return {
      ...outcomeBase(item),
      outcome: "migrated",
      from,
      to: { protocol: res.encryption.protocol, keyId: res.encryption.keyId },
      plaintextBytes: res.plaintextLength,
      newStoredBytes: res.storedLength,
    };
  } catch (e) {
    (body as { destroy?: () => void } | undefined)?.destroy?.();
    return skipOnCondition(item, e, from);
  }
}

function inconsistentRead(name: string, what: string): ClientSideEncryptionError {
  return new ClientSideEncryptionError("SERVICE_ERROR", `Two reads of blob "${name}" disagree (${what}): a response was corrupted in transit. The blob was not changed; run the migration again.`, {
    details: { blob: name, errorCode: "InconsistentRead" },
  });
}

/** Same names (ignoring case: response headers lower-case them) and the same values. */
function sameMetadata(listed: Record<string, string>, fromHeaders: Record<string, string> | undefined): boolean {
  const a = Object.entries(listed).map(([k, v]) => [k.toLowerCase(), v] as const);
  const b = new Map(Object.entries(fromHeaders ?? {}).filter(([k]) => k.toLowerCase() !== ENCRYPTION_DATA_METADATA_KEY).map(([k, v]) => [k.toLowerCase(), v] as const));
  return a.length === b.size && a.every(([k, v]) => b.get(k) === v);
}

/** Tags (a response body): their number must match the x-ms-tag-count header, and non-empty tags must read the same twice. */
async function readTags(raw: BlobClient, count: number, name: string): Promise<Record<string, string> | undefined> {
  const first = (await raw.getTags()).tags;
  if (Object.keys(first).length !== count) throw inconsistentRead(name, "the tags differ from the tag count");
  if (count === 0) return undefined;
  const second = (await raw.getTags()).tags;
  if (JSON.stringify(Object.entries(first).sort()) !== JSON.stringify(Object.entries(second).sort())) throw inconsistentRead(name, "the tags differ");
  return first;
}

/**
 * Reads the blob again (same ETag) and requires the same plaintext digest as the first read; otherwise the
 * migration of this blob fails with SERVICE_ERROR (errorCode InconsistentRead) and nothing is written.
 */
async function confirmSecondRead(raw: BlobClient, s: MigrateSettings, etag: string, expected: Buffer, name: string): Promise<void> {
  const dl = await new EncryptedBlobClient(raw, s.readPolicy).download(0, undefined, { conditions: { ifMatch: etag }, maxRetryRequests: s.maxRetryRequests ?? 5 });
  const body = dl.readableStreamBody as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
  const h = createHash("sha256");
  try {
    for await (const chunk of body ?? []) h.update(chunk);
  } finally {
    body?.destroy?.();
  }
  if (!h.digest().equals(expected)) {
    throw inconsistentRead(name, "protocol 1.0 has no integrity check and the two plaintexts differ");
  }
}

export interface RotateSettings {
  container: ContainerClient;
  /** Offers the old keys for unwrapping. */
  readPolicy: ClientSideEncryptionPolicy;
  newKey: KeyEncryptionKey;
  oldKeyIds: ReadonlySet<string>;
  /** Attempts when the blob changes between read and write (each re-reads and re-checks); default 3. */
  attempts?: number;
}

/** Re-wraps one blob's content key under the new key (metadata only), If-Match the ETag; retried on change. */
export async function rotateBlob(item: BlobItem, s: RotateSettings, ctx: StepContext): Promise<ObjectOutcome> {
  let current = item;
  const attempts = s.attempts ?? 3;
  for (let attempt = 0; ; attempt++) {
    const c = classifyForRotate(current, s.newKey.keyId, s.oldKeyIds);
    if (c.action !== "work") return notWork(current, c, "rotated", ctx);
    const from = { protocol: c.protocol, keyId: c.keyId };
    const etag = quoteEtag(current.properties.etag);
    await ctx.markInFlight(etag);
    const raw = s.container.getBlobClient(item.name);
    try {
      // First attempt: the listing already has the metadata names' case, so one pinned HEAD and the write
      // suffice; after a change the blob is re-read and the library's updateKeyEncryptionKey does it all.
      const keyId =
        attempt === 0 ? await rewrapFromListing(raw, current, etag, s) : (await new EncryptedBlobClient(raw, s.readPolicy).updateKeyEncryptionKey(s.newKey, { conditions: { ifMatch: etag } })).keyId;
      return { ...outcomeBase(current), outcome: "rotated", from, to: { protocol: c.protocol, keyId }, plaintextBytes: c.plaintextLength };
    } catch (e) {
      const err = toTypedError(e);
      if (err.code !== "CONDITION_NOT_MET" || attempt + 1 >= attempts) return skipOnCondition(current, err, from);
    }
    // Changed between listing (or the last attempt) and the write: read it again and re-check.
    try {
      const p = await raw.getProperties();
      current = {
        ...current,
        metadata: p.metadata,
        properties: { ...current.properties, etag: p.etag!, contentLength: p.contentLength, accessTier: p.accessTier as BlobItem["properties"]["accessTier"], blobType: p.blobType },
      };
    } catch (e) {
      return skipOnCondition(current, e, from);
    }
  }
}

/**
 * Re-wraps the content key of a listed blob with the new key: Get Blob Properties pinned to the listed ETag
 * supplies the values (the listing only the letter case of the metadata names, and both must agree), the
 * content key is unwrapped with the old keys, re-wrapped and checked by core's rewrapContentKey (the same code as
 * updateKeyEncryptionKey), and Set Blob Metadata (If-Match the ETag) replaces only `WrappedContentKey` in `encryptiondata`. Two requests,
 * where updateKeyEncryptionKey also lists the blob for the names' case. Returns the new key id.
 */
async function rewrapFromListing(raw: BlobClient, item: BlobItem, etag: string, s: RotateSettings): Promise<string> {
  const props = await raw.getProperties({ conditions: { ifMatch: etag } });
  const listed = findEncryptionDataInMetadata(item.metadata);
  const pinned = findEncryptionDataInMetadata(props.metadata);
  if (listed === undefined || pinned !== listed || !sameMetadata(userMetadataOf(item), props.metadata)) {
    throw inconsistentRead(item.name, "the listed metadata differs from the blob's");
  }
  const data = parseEncryptionData(pinned);
  const cek = await unwrapContentKey(data, s.readPolicy);
  try {
    const r = await rewrapContentKey(pinned, data.protocol, cek, s.newKey, { details: { blob: item.name } });
    await raw.setMetadata({ ...userMetadataOf(item), [ENCRYPTION_DATA_METADATA_KEY]: r.encryptionDataJson }, { conditions: { ifMatch: etag } });
    return r.keyId;
  } finally {
    cek.fill(0);
  }
}

/**
 * After rotation: every encrypted blob in scope must unwrap with the new key alone, and none may still
 * name an old key id. Reads metadata only (a listing), never content.
 */
export async function verifyBlobs(scope: BlobScope, newKey: KeyEncryptionKey, oldKeyIds: ReadonlySet<string>, select?: (item: BlobItem) => boolean, allowedReadProtocols?: readonly EncryptionProtocol[]): Promise<VerifyResult> {
  const v = emptyVerify();
  const policy: ClientSideEncryptionPolicy = { keyEncryptionKey: newKey, ...(allowedReadProtocols ? { allowedReadProtocols } : {}) };
  for await (const page of blobPages(scope, null)) {
    for (const item of page.items) {
      if (select && !select(item)) continue;
      let raw: string | undefined;
      try {
        raw = findEncryptionDataInMetadata(item.metadata);
      } catch (e) {
        v.checked++;
        verifyNote(v, "failed", { key: item.name, code: toTypedError(e).code });
        continue;
      }
      if (raw === undefined) {
        v.unencrypted++;
        continue;
      }
      v.checked++;
      let keyId: string | undefined;
      try {
        const data = parseEncryptionData(raw);
        keyId = data.wrappedContentKey.keyId;
        if (oldKeyIds.has(keyId)) {
          verifyNote(v, "stillOldKey", { key: item.name, keyId });
          continue;
        }
        const cek = await unwrapContentKey(data, policy);
        cek.fill(0);
        v.ok++;
      } catch (e) {
        const code = ClientSideEncryptionError.is(e) ? e.code : toTypedError(e).code;
        verifyNote(v, "failed", { key: item.name, code, ...(keyId !== undefined ? { keyId } : {}) });
      }
    }
  }
  v.passed = v.stillOldKeyCount === 0 && v.failedCount === 0;
  return v;
}
