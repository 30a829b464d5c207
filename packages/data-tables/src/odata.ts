// Lossless conversion between an entity in OData JSON as on the wire (values with `<name>@odata.type`
// annotations, in either order) and the shape @azure/data-tables uses. Used by the CLI and for
// working with entities captured from other SDKs.
import { ClientSideEncryptionError } from "@azure-cse/core-envelope";
import { decodeBase64Strict } from "@azure-cse/core-envelope/internal";
import { isTypedValue } from "./format.js";
import type { EntityRecord } from "./entity-crypto.js";
import { getOwn, newRecord } from "./entity-names.js";
import { quoteForDisplay as quote } from "@azure-cse/core-envelope/internal";

const ANNOTATION = "@odata.type";
// Maps, not object literals: a property named "constructor" must not find Object's constructor.
const WIRE_TO_SDK = new Map([["PartitionKey", "partitionKey"], ["RowKey", "rowKey"], ["Timestamp", "timestamp"], ["odata.etag", "etag"]]);
const SDK_TO_WIRE = new Map([["partitionKey", "PartitionKey"], ["rowKey", "RowKey"], ["timestamp", "Timestamp"], ["etag", "odata.etag"]]);
const EDM_TYPES = new Set(["Binary", "Boolean", "DateTime", "Double", "Guid", "Int32", "Int64", "String"]);

function invalid(message: string): ClientSideEncryptionError {
  return new ClientSideEncryptionError("INVALID_ARGUMENT", message);
}

/**
 * Parses an OData JSON entity. Annotated values become `{ value, type }` (exactly what the wire said,
 * e.g. Int64 stays a decimal string, Double "NaN" stays a string), except `Edm.Binary`, which becomes a
 * Uint8Array. Unannotated values stay JSON primitives. PartitionKey/RowKey/Timestamp/odata.etag get the
 * SDK's names (partitionKey, rowKey, timestamp, etag).
 */
export function entityFromODataJson(wire: unknown): EntityRecord {
  if (typeof wire !== "object" || wire === null || Array.isArray(wire)) throw invalid("An OData entity must be a JSON object.");
  const obj = wire as Record<string, unknown>;
  const out = newRecord<EntityRecord>();
  for (const [key, value] of Object.entries(obj)) {
    if (key.endsWith(ANNOTATION)) {
      const owner = key.slice(0, -ANNOTATION.length);
      if (!Object.prototype.hasOwnProperty.call(obj, owner)) throw invalid(`The annotation ${quote(key)} has no property ${quote(owner)}.`);
      continue;
    }
    const name = WIRE_TO_SDK.get(key) ?? key;
    const annotation = getOwn(obj, key + ANNOTATION);
    if (annotation === undefined || key === "Timestamp") {
      // Timestamp is kept as the service's string; other unannotated values are JSON primitives.
      if (value !== null && typeof value === "object") throw invalid(`Property ${quote(key)} is a JSON ${Array.isArray(value) ? "array" : "object"}; OData entity values are primitives.`);
      out[name] = value;
      continue;
    }
    if (typeof annotation !== "string" || !annotation.startsWith("Edm.") || !EDM_TYPES.has(annotation.slice(4))) {
      throw invalid(`Property ${quote(key)} has an unknown type annotation ${typeof annotation === "string" ? quote(annotation, 64) : typeof annotation}.`);
    }
    const type = annotation.slice(4);
    if (type === "Binary") {
      const bytes = typeof value === "string" ? decodeBase64Strict(value) : undefined;
      if (!bytes) throw invalid(`Property ${quote(key)} is annotated Edm.Binary but is not base64.`);
      out[name] = new Uint8Array(bytes);
    } else {
      out[name] = { value, type };
    }
  }
  return out;
}

/**
 * Serializes an SDK-shaped entity to OData JSON as the SDK would send it: each annotation right after its
 * value. Uint8Array → base64 + Edm.Binary, bigint → Int64 string, Date → DateTime, `{value, type}` → value
 * + `Edm.<type>` (String values are written without an annotation).
 */
export function entityToODataJson(entity: EntityRecord): Record<string, unknown> {
  if (typeof entity !== "object" || entity === null || Array.isArray(entity)) throw invalid("An entity must be an object.");
  const out = newRecord<Record<string, unknown>>();
  for (const [name, value] of Object.entries(entity)) {
    const key = SDK_TO_WIRE.get(name) ?? name;
    if (value instanceof Uint8Array) {
      out[key] = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");
      out[key + ANNOTATION] = "Edm.Binary";
    } else if (typeof value === "bigint") {
      out[key] = value.toString();
      out[key + ANNOTATION] = "Edm.Int64";
    } else if (value instanceof Date) {
      out[key] = value.toISOString();
      out[key + ANNOTATION] = "Edm.DateTime";
    } else if (isTypedValue(value)) {
      if (!EDM_TYPES.has(value.type)) throw invalid(`Property ${quote(name)} has unknown type ${quote(value.type, 40)}.`);
      let v = value.value;
      if (value.type === "Binary" && v instanceof Uint8Array) v = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
      if (value.type === "Boolean" && typeof v === "string") v = v === "true";
      if (value.type === "Int32" && typeof v === "string") v = Number(v);
      // disableTypeConversion gives Doubles as strings; finite ones go back to JSON numbers (NaN/±Infinity stay strings).
      if (value.type === "Double" && typeof v === "string" && Number.isFinite(Number(v)) && v.trim() !== "") v = Number(v);
      out[key] = v;
      // Like the SDKs: strings, Int32, booleans and non-integral finite doubles need no annotation on the wire.
      const bare =
        value.type === "String" ||
        (value.type === "Int32" && typeof v === "number") ||
        (value.type === "Boolean" && typeof v === "boolean") ||
        (value.type === "Double" && typeof v === "number" && Number.isFinite(v) && !Number.isInteger(v));
      if (!bare) out[key + ANNOTATION] = `Edm.${value.type}`;
    } else {
      if (value !== null && typeof value === "object") throw invalid(`Property ${quote(name)} has an unsupported value type.`);
      out[key] = value;
    }
  }
  return out;
}
