// The legacy table-entity encryption format (protocol 1.0), as written by WindowsAzure.Storage 9.x,
// azure-storage-java v8 and azure-cosmosdb-table. Pure format code: no I/O. The crypto-free part lives in
// shared/entity-format.ts (also used by the web entry); this module adds the Node (Buffer, node:crypto) helpers.
// Spec: queue-table-keys-format.md §2.2–§2.3, §2.6.
import { decodeBase64Strict, decryptionFailed, sha256 } from "@azure-cse/core-envelope/internal";
import { binaryBytes, isSystemProperty, isTypedValue, propertyIvInput, tryDecodeUtf8Strict, tryParseNameList } from "./shared/entity-format.js";

export {
  METADATA1,
  METADATA2,
  MAX_USER_PROPERTIES,
  MAX_ENTITY_SIZE,
  MAX_PROPERTY_VALUE_SIZE,
  isSystemProperty,
  isMetadataProperty,
  isEncryptableName,
  formatNameList,
  isTypedValue,
  stringValue,
  type TypedValue,
} from "./shared/entity-format.js";

/**
 * Per-property IV: the first 16 bytes of SHA-256(entityIV ‖ UTF-8(s)) where s is RowKey + PartitionKey + name
 * (.NET/Python writers and every reader's default), or PartitionKey + RowKey + name for legacy Java writers.
 * Plain concatenation, no separator.
 */
export function derivePropertyIv(entityIv: Uint8Array, partitionKey: string, rowKey: string, name: string, javaOrder = false): Buffer {
  return sha256(propertyIvInput(entityIv, partitionKey, rowKey, name, javaOrder)).subarray(0, 16);
}

/**
 * Parses a decrypted name list. Normal writers store a JSON array of strings; legacy Java stores
 * `Arrays.toString` output (`[a, b]`, no quotes), read when the writer is detected as Java.
 * Anything else is a decryption failure (wrong key, tampering).
 */
export function parseNameList(text: string, javaFormat: boolean): string[] {
  const names = tryParseNameList(text, javaFormat);
  if (names === undefined) throw decryptionFailed();
  return names;
}

/** Strict UTF-8 decode (a CBC block that decrypts to invalid UTF-8 is a decryption failure, as in Python). */
export function decodeUtf8Strict(bytes: Uint8Array): string {
  const text = tryDecodeUtf8Strict(bytes);
  if (text === undefined) throw decryptionFailed();
  return text;
}

/** Bytes of an Edm.Binary value in any form the SDK produces (Uint8Array, or `{value: base64, type: "Binary"}`). */
export function binaryValue(v: unknown): Buffer | undefined {
  const b = binaryBytes(v, decodeBase64Strict);
  return b === undefined ? undefined : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
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
