// Metadata names in their stored case, from a container listing. Get Blob Properties returns the names as response
// headers (`x-ms-meta-<name>`), which Node's http module and browsers' fetch lower-case; List Blobs with
// include=metadata returns them as XML element names, in their stored case. Shared by the Node entry's key rotation
// (src/blob-rotation.ts) and the web entry's (src/web/metadata.ts). Crypto-free, no Node built-in, no Buffer; typed
// structurally (the SDK's BlobItem fits ListedBlobLike).

/** What is used of one List Blobs entry (the SDK's `BlobItem`). */
export interface ListedBlobLike {
  name: string;
  properties: { etag?: string };
  metadata?: Record<string, string>;
}

/** Listings give the ETag without quotes, response headers with them. */
const unquote = (t: string | undefined): string | undefined => t?.replace(/^"|"$/g, "");

/** Same names ignoring case (response headers lower-case them) and the same values. */
function sameMetadataIgnoringNameCase(listed: Record<string, string>, fromHeaders: Record<string, string> | undefined): boolean {
  const a = Object.entries(listed).map(([k, v]) => [k.toLowerCase(), v] as const);
  const b = new Map(Object.entries(fromHeaders ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const));
  return a.length === b.size && a.every(([k, v]) => b.get(k) === v);
}

/**
 * The listed metadata of `blobName` (names in their stored case) when the listing entry of exactly that name has
 * the ETag `etag` read from the properties and the same names (ignoring case) and values as `fromHeaders`; else
 * undefined (the caller keeps the lower-cased names). The listing is a response body nothing checks: it is used
 * only for the names' case, and only when it agrees with the response headers of the same version, so a corrupted
 * or stale listing is never written back. `listing` should be a prefix listing (`prefix: blobName`, metadata
 * included); iteration stops at the entry of that name. Errors of the listing propagate.
 */
export async function metadataCaseFromListing(
  listing: AsyncIterable<ListedBlobLike>,
  blobName: string,
  etag: string | undefined,
  fromHeaders: Record<string, string> | undefined,
): Promise<Record<string, string> | undefined> {
  if (etag === undefined) return undefined;
  for await (const item of listing) {
    if (item.name !== blobName) continue;
    if (unquote(item.properties.etag) === unquote(etag) && item.metadata && sameMetadataIgnoringNameCase(item.metadata, fromHeaders)) return item.metadata;
    return undefined;
  }
  return undefined;
}
