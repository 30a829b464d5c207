// The crypto-free part of the legacy table-entity encryption format (protocol 1.0), shared by the Node entry
// (src/format.ts, src/entity-crypto.ts) and the web entry (src/web/entity.ts). No Node built-in, no Buffer, no
// import of either core-envelope entry: errors are signalled by `undefined`, and each caller throws its own
// entry's ClientSideEncryptionError. Spec: queue-table-keys-format.md §2.2–§2.3, §2.6.

/** Holds the key-wrapping JSON (`EncryptionData` without EncryptionMode), as an Edm.String. */
export const METADATA1 = "_ClientEncryptionMetadata1";
/** Holds the CBC-encrypted list of encrypted property names, as an Edm.Binary. */
export const METADATA2 = "_ClientEncryptionMetadata2";

/** The service's limit of 255 properties includes PartitionKey, RowKey and Timestamp, and encryption adds two. */
export const MAX_USER_PROPERTIES = 250;
/** Largest entity the service stores, computed with the documented size formula. */
export const MAX_ENTITY_SIZE = 1024 * 1024;
/** Largest Edm.Binary (or Edm.String, counted as UTF-16) property value. */
export const MAX_PROPERTY_VALUE_SIZE = 64 * 1024;

const SYSTEM_NAMES = new Set(["partitionKey", "rowKey", "timestamp", "etag", "PartitionKey", "RowKey", "Timestamp"]);

/** Properties that are service/SDK bookkeeping, not user data: keys, timestamp, etag and `odata.*` annotations. */
export function isSystemProperty(name: string): boolean {
  return SYSTEM_NAMES.has(name) || name.startsWith("odata.") || name.includes("@odata.");
}

/** The two names this format reserves. */
export function isMetadataProperty(name: string): boolean {
  return name === METADATA1 || name === METADATA2;
}

/** Whether a property may ever be encrypted: never the keys, Timestamp, etag, annotations or the metadata names. */
export function isEncryptableName(name: string): boolean {
  return !isSystemProperty(name) && !isMetadataProperty(name);
}

/**
 * Names a writer does not copy into the entity it sends: the keys (written once as partitionKey/rowKey) and the
 * service's bookkeeping (etag, Timestamp, `odata.*`; the service sets Timestamp). `x@odata.type` annotations stay.
 */
export function isDroppedOnWrite(name: string): boolean {
  if (name === "partitionKey" || name === "rowKey" || name === "PartitionKey" || name === "RowKey") return true;
  return name === "etag" || name === "timestamp" || name === "Timestamp" || name.startsWith("odata.");
}

/** Whether a value was actually returned: neither undefined nor null (a projected column the entity lacks comes back as null). */
export function isPresent(v: unknown): boolean {
  return v !== undefined && v !== null;
}

/** Whether the entity has any user property with a value (legacy Java writes no name list when it has none). */
export function hasUserValues(entity: object): boolean {
  return Object.entries(entity).some(([n, v]) => !isSystemProperty(n) && !isMetadataProperty(n) && isPresent(v));
}

const encoder = new TextEncoder();

/**
 * The bytes hashed for a per-property IV: entityIV ‖ UTF-8(s), where s is RowKey + PartitionKey + name (.NET/Python
 * writers and every reader's default), or PartitionKey + RowKey + name for legacy Java writers. Plain
 * concatenation, no separator. The IV is the first 16 bytes of SHA-256 of this (hashed by each backend).
 */
export function propertyIvInput(entityIv: Uint8Array, partitionKey: string, rowKey: string, name: string, javaOrder = false): Uint8Array<ArrayBuffer> {
  const s = encoder.encode(javaOrder ? partitionKey + rowKey + name : rowKey + partitionKey + name);
  const input = new Uint8Array(entityIv.length + s.length);
  input.set(entityIv);
  input.set(s, entityIv.length);
  return input;
}

/**
 * The name list written to `_ClientEncryptionMetadata2`: a compact JSON array with raw UTF-8 (what .NET writes).
 * Every reader accepts it: .NET/Python parse JSON, and Java's reader strips quotes and spaces. Names are not
 * `\u`-escaped, because the Java reader would not unescape them.
 */
export function formatNameList(names: readonly string[]): string {
  return JSON.stringify(names);
}

/**
 * Parses a decrypted name list. Normal writers store a JSON array of strings; legacy Java stores
 * `Arrays.toString` output (`[a, b]`, no quotes), read when the writer is detected as Java.
 * Anything else is `undefined` (the caller's DECRYPTION_FAILED: wrong key, tampering).
 */
export function tryParseNameList(text: string, javaFormat: boolean): string[] | undefined {
  if (!javaFormat) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return undefined;
    }
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) return undefined;
    return v;
  }
  if (text.length < 2 || !text.startsWith("[") || !text.endsWith("]")) return undefined;
  const inner = text.slice(1, -1);
  if (inner.trim() === "") return [];
  return inner
    .split(",")
    .map((n) => n.trim())
    .map((n) => (n.length >= 2 && n.startsWith('"') && n.endsWith('"') ? n.slice(1, -1) : n))
    .filter((n) => n.length > 0);
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Strict UTF-8 decode; `undefined` for invalid UTF-8 (a CBC block that decrypts to it is a decryption failure, as in Python). */
export function tryDecodeUtf8Strict(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** An `@azure/data-tables` typed value: `{ value, type }`. */
export interface TypedValue {
  value: unknown;
  type: string;
}

export function isTypedValue(v: unknown): v is TypedValue {
  return typeof v === "object" && v !== null && !(v instanceof Uint8Array) && !(v instanceof Date) && "type" in v && "value" in v && typeof (v as TypedValue).type === "string";
}

/** A string value (plain or typed `String`), else undefined. */
export function stringValue(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isTypedValue(v) && v.type === "String" && typeof v.value === "string") return v.value;
  return undefined;
}

/**
 * Bytes of an Edm.Binary value in any form the SDK produces (Uint8Array, or `{value: base64, type: "Binary"}`),
 * the given arrays as they are; `decodeBase64` is the caller's strict base64 decoder.
 */
export function binaryBytes(v: unknown, decodeBase64: (s: string) => Uint8Array | undefined): Uint8Array | undefined {
  if (v instanceof Uint8Array) return v;
  if (isTypedValue(v) && v.type === "Binary") {
    if (v.value instanceof Uint8Array) return v.value;
    if (typeof v.value === "string") return decodeBase64(v.value);
  }
  return undefined;
}

/** An own-property read (never the prototype's `constructor`, `toString`, …). */
export function getOwn(record: object, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(record, name) ? (record as Record<string, unknown>)[name] : undefined;
}

/** PartitionKey and RowKey of an SDK-shaped entity (also accepts the wire spelling); `undefined` when either is not a string. */
export function tryEntityKeys(entity: object): { partitionKey: string; rowKey: string } | undefined {
  const pk = getOwn(entity, "partitionKey") ?? getOwn(entity, "PartitionKey");
  const rk = getOwn(entity, "rowKey") ?? getOwn(entity, "RowKey");
  if (typeof pk !== "string" || typeof rk !== "string") return undefined;
  return { partitionKey: pk, rowKey: rk };
}

/** The CONDITION_NOT_MET message of both entries: the entity changed since the caller's ETag. */
export const ENTITY_CHANGED_MESSAGE = "The entity changed since it was read (ETag mismatch); read it again and retry.";

/** Why a merge may never write encrypted properties (both entries refuse such a merge with UNSUPPORTED_OPERATION). */
export const MERGE_REFUSED_MESSAGE =
  "Merge cannot write encrypted properties: every encrypted property of an entity shares one content key and IV, and " +
  `${METADATA2} lists all of them, so a merge would either leave ciphertext under a key the new metadata does not describe ` +
  'or add encrypted properties the stored list does not know. Use mode "Replace" (read, change and write the whole entity).';

/**
 * The stored encrypted properties (`storedNames`, the decrypted `_ClientEncryptionMetadata2` list) that a merge of
 * `entity` would overwrite with plaintext (both entries refuse such a merge).
 */
export function storedEncryptedClash(storedNames: readonly string[], entity: object): string[] {
  return storedNames.filter((n) => Object.prototype.hasOwnProperty.call(entity, n));
}

/** The UNSUPPORTED_OPERATION message of both entries for a merge that touches stored encrypted properties; `quote` is the entry's display quoting. */
export function storedEncryptedMergeMessage(clash: readonly string[], quote: (name: string) => string): string {
  return `Merge refused: it would overwrite stored encrypted propert${clash.length > 1 ? "ies" : "y"} ${clash.map((n) => quote(n)).join(", ")} with plaintext and leave stale encryption metadata. Use mode "Replace".`;
}
