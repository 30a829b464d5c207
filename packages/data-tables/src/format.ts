// The legacy table-entity encryption format (protocol 1.0), as written by WindowsAzure.Storage 9.x,
// azure-storage-java v8 and azure-cosmosdb-table. Pure format code: no I/O.
// Spec: queue-table-keys-format.md §2.2–§2.3, §2.6.
import { decodeBase64Strict, decryptionFailed, sha256 } from "@azure-cse/core-envelope/internal";

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
 * Per-property IV: the first 16 bytes of SHA-256(entityIV ‖ UTF-8(s)) where s is RowKey + PartitionKey + name
 * (.NET/Python writers and every reader's default), or PartitionKey + RowKey + name for legacy Java writers.
 * Plain concatenation, no separator.
 */
export function derivePropertyIv(entityIv: Uint8Array, partitionKey: string, rowKey: string, name: string, javaOrder = false): Buffer {
  const s = javaOrder ? partitionKey + rowKey + name : rowKey + partitionKey + name;
  return sha256(entityIv, Buffer.from(s, "utf8")).subarray(0, 16);
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
 * Anything else is a decryption failure (wrong key, tampering).
 */
export function parseNameList(text: string, javaFormat: boolean): string[] {
  if (!javaFormat) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw decryptionFailed();
    }
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw decryptionFailed();
    return v;
  }
  if (text.length < 2 || !text.startsWith("[") || !text.endsWith("]")) throw decryptionFailed();
  const inner = text.slice(1, -1);
  if (inner.trim() === "") return [];
  return inner
    .split(",")
    .map((n) => n.trim())
    .map((n) => (n.length >= 2 && n.startsWith('"') && n.endsWith('"') ? n.slice(1, -1) : n))
    .filter((n) => n.length > 0);
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Strict UTF-8 decode (a CBC block that decrypts to invalid UTF-8 is a decryption failure, as in Python). */
export function decodeUtf8Strict(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw decryptionFailed();
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


/** Bytes of an Edm.Binary value in any form the SDK produces (Uint8Array, or `{value: base64, type: "Binary"}`). */
export function binaryValue(v: unknown): Buffer | undefined {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (isTypedValue(v) && v.type === "Binary") {
    if (v.value instanceof Uint8Array) return Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength);
    if (typeof v.value === "string") return decodeBase64Strict(v.value);
  }
  return undefined;
}

/** A string value (plain or typed `String`), else undefined. */
export function stringValue(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isTypedValue(v) && v.type === "String" && typeof v.value === "string") return v.value;
  return undefined;
}

/** Bytes the service counts for one value (documented formula: strings 4 + 2/char, binary 4 + n, …). */
function valueSize(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === "string") return 4 + 2 * v.length;
  if (typeof v === "boolean") return 1;
  if (typeof v === "bigint") return 8;
  if (typeof v === "number") return Number.isInteger(v) && v >= -2147483648 && v <= 2147483647 ? 4 : 8;
  if (v instanceof Date) return 8;
  if (v instanceof Uint8Array) return 4 + v.byteLength;
  if (isTypedValue(v)) {
    switch (v.type) {
      case "String":
        return 4 + 2 * String(v.value).length;
      case "Binary": {
        const b = binaryValue(v);
        return 4 + (b ? b.length : Math.ceil((String(v.value).length * 3) / 4));
      }
      case "Boolean":
        return 1;
      case "Int32":
        return 4;
      case "Guid":
        return 16;
      default:
        return 8; // Int64, Double, DateTime
    }
  }
  return 0;
}

/** Stored size of an entity per the Azure Tables formula: 4 + 2·len(PK+RK) + Σ(8 + 2·len(name) + size(value)). */
export function estimateEntitySize(entity: Record<string, unknown>, partitionKey: string, rowKey: string): number {
  let size = 4 + 2 * (partitionKey.length + rowKey.length);
  for (const [name, value] of Object.entries(entity)) {
    if (isSystemProperty(name)) continue;
    size += 8 + 2 * name.length + valueSize(value);
  }
  return size;
}
