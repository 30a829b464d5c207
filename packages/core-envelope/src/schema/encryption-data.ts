// EncryptionData: the JSON stored beside every encrypted blob, queue message and table entity.
// Pure format code: no crypto, safe to fuzz.
import { decodeBase64Strict, encodeBase64, escapeForDisplay } from "../internal/bytes.js";
import { ClientSideEncryptionError, invalidEncryptionData } from "../errors.js";
import { LIBRARY_ID } from "../version.js";

export type EncryptionProtocol = "1.0" | "2.0" | "2.1";
export const SUPPORTED_PROTOCOLS: readonly EncryptionProtocol[] = ["1.0", "2.0", "2.1"];

export const V1_ALGORITHM = "AES_CBC_256";
export const V2_ALGORITHM = "AES_GCM_256";
export const V2_NONCE_LENGTH = 12;
export const V2_TAG_LENGTH = 16;
/** Region size of protocol 2.0 (and the default of 2.1). */
export const V2_DEFAULT_REGION_SIZE = 4 * 1024 * 1024;
export const MIN_REGION_SIZE = 16;
export const MAX_REGION_SIZE = 1024 * 1024 * 1024;
/**
 * Default largest region a reader accepts (`maxRegionSize`): 16 MiB. Every official writer's region fits
 * (.NET, Python and Java write 4 MiB; Java 2.1 only differs when its user sets another size), and a reader
 * never buffers more than this of unverified plaintext because an attacker edited DataLength. A policy that
 * writes 2.1 with a larger `regionSize` reads its own data (see `maxReadRegionSize`).
 */
export const DEFAULT_MAX_READ_REGION_SIZE = 16 * 1024 * 1024;
/** Default bound on the serialized metadata a reader accepts (blob metadata is capped at 8 KiB by the service). */
export const DEFAULT_MAX_ENCRYPTION_DATA_LENGTH = 16 * 1024;

export interface WrappedContentKey {
  /** Id of the key-encryption key, compared by exact string equality. */
  keyId: string;
  /** Wrap of the CEK (1.0) or of `protocol ‖ 00×5 ‖ CEK` (2.x). */
  encryptedKey: Uint8Array;
  /** Opaque algorithm name handed back to the key's unwrap. */
  algorithm: string;
}

interface EncryptionDataBase {
  wrappedContentKey: WrappedContentKey;
  /** Informational `KeyWrappingMetadata` (string values only); `EncryptionLibrary` names the writer. */
  keyWrappingMetadata?: Record<string, string>;
  /** `EncryptionMode` as stored ("FullBlob" on blobs); never validated. */
  encryptionMode?: string;
}

export interface EncryptionDataV1 extends EncryptionDataBase {
  protocol: "1.0";
  /** The 16-byte CBC IV. */
  contentEncryptionIV: Uint8Array;
}

export interface EncryptionDataV2 extends EncryptionDataBase {
  protocol: "2.0" | "2.1";
  encryptedRegionInfo: { dataLength: number; nonceLength: 12 };
}

export type EncryptionData = EncryptionDataV1 | EncryptionDataV2;

export interface ParseEncryptionDataOptions {
  /** Largest 2.1 DataLength (region size) accepted; default `DEFAULT_MAX_READ_REGION_SIZE` (16 MiB); at most 1 GiB (the format maximum). */
  maxRegionSize?: number;
  /** Largest serialized metadata accepted, in characters; default 16 KiB. */
  maxLength?: number;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * Lower-cases A-Z only. Field names are ASCII; full Unicode folding would let look-alikes such as
 * U+212A KELVIN SIGN ("\u212AeyId") stand for "KeyId", which no other SDK reader accepts.
 */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** Field lookup by case-insensitive (ASCII) name; two spellings of one name are ambiguous and refused. */
function field(obj: Record<string, Json>, name: string, path: string): Json | undefined {
  const lower = asciiLower(name);
  let found: Json | undefined;
  let count = 0;
  for (const k of Object.keys(obj)) {
    if (k.length === lower.length && asciiLower(k) === lower) {
      found = obj[k];
      count++;
    }
  }
  if (count > 1) throw invalidEncryptionData(`field ${path}${name} appears more than once with different letter case`);
  return found;
}

function isObject(v: Json | undefined): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function requireObject(obj: Record<string, Json>, name: string, path = ""): Record<string, Json> {
  const v = field(obj, name, path);
  if (!isObject(v)) throw invalidEncryptionData(`${path}${name} is missing or not an object`);
  return v;
}

function requireString(obj: Record<string, Json>, name: string, path: string): string {
  const v = field(obj, name, path);
  if (typeof v !== "string" || v.length === 0) throw invalidEncryptionData(`${path}${name} is missing or not a non-empty string`);
  return v;
}

function requireBase64(obj: Record<string, Json>, name: string, path: string): Uint8Array {
  const s = requireString(obj, name, path);
  const b = decodeBase64Strict(s);
  if (!b || b.length === 0) throw invalidEncryptionData(`${path}${name} is not standard padded base64`);
  return b;
}

function requireInteger(obj: Record<string, Json>, name: string, path: string): number {
  const v = field(obj, name, path);
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw invalidEncryptionData(`${path}${name} is missing or not an integer`);
  return v;
}

/**
 * Parses and validates EncryptionData (a JSON string or an already parsed object).
 * Field names are matched case-insensitively, unknown fields are ignored, version-specific fields are
 * required, and an unknown protocol fails closed with UNSUPPORTED_PROTOCOL.
 */
export function parseEncryptionData(input: string | object, options: ParseEncryptionDataOptions = {}): EncryptionData {
  const maxLength = options.maxLength ?? DEFAULT_MAX_ENCRYPTION_DATA_LENGTH;
  const maxRegion = Math.min(options.maxRegionSize ?? DEFAULT_MAX_READ_REGION_SIZE, MAX_REGION_SIZE);
  // A NaN or negative bound would silently disable the check (every comparison with NaN is false).
  if (!(maxLength >= 0) || !(maxRegion >= 0)) {
    throw new ClientSideEncryptionError("INVALID_ARGUMENT", "maxLength and maxRegionSize must be non-negative numbers.");
  }
  let root: Json;
  if (typeof input === "string") {
    if (input.length > maxLength) throw invalidEncryptionData(`metadata is ${input.length} characters, more than the ${maxLength} allowed`);
    try {
      root = JSON.parse(input) as Json;
    } catch {
      throw invalidEncryptionData("metadata is not valid JSON");
    }
  } else {
    root = input as Json;
  }
  if (!isObject(root)) throw invalidEncryptionData("metadata is not a JSON object");

  const agent = requireObject(root, "EncryptionAgent");
  const protocol = requireString(agent, "Protocol", "EncryptionAgent.");
  const algorithm = requireString(agent, "EncryptionAlgorithm", "EncryptionAgent.");
  if (!(SUPPORTED_PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new ClientSideEncryptionError(
      "UNSUPPORTED_PROTOCOL",
      `Encryption protocol "${escapeForDisplay(protocol, 32)}" is not supported (supported: ${SUPPORTED_PROTOCOLS.join(", ")}). The data was not decrypted.`,
      { details: { protocol: protocol.slice(0, 32) } },
    );
  }
  const expectedAlgorithm = protocol === "1.0" ? V1_ALGORITHM : V2_ALGORITHM;
  if (algorithm !== expectedAlgorithm) {
    throw invalidEncryptionData(`EncryptionAgent.EncryptionAlgorithm must be ${expectedAlgorithm} for protocol ${protocol}`);
  }

  const wck = requireObject(root, "WrappedContentKey");
  const wrappedContentKey: WrappedContentKey = {
    keyId: requireString(wck, "KeyId", "WrappedContentKey."),
    encryptedKey: requireBase64(wck, "EncryptedKey", "WrappedContentKey."),
    algorithm: requireString(wck, "Algorithm", "WrappedContentKey."),
  };

  const base: EncryptionDataBase = { wrappedContentKey };
  const kwm = field(root, "KeyWrappingMetadata", "");
  if (isObject(kwm)) {
    const meta: Record<string, string> = {};
    // EncryptionLibrary is matched case-insensitively like every other field (it drives the legacy
    // Java table IV order) and stored under its canonical name.
    for (const [k, v] of Object.entries(kwm)) if (typeof v === "string") meta[asciiLower(k) === "encryptionlibrary" ? "EncryptionLibrary" : k] = v;
    base.keyWrappingMetadata = meta;
  }
  const mode = field(root, "EncryptionMode", "");
  if (typeof mode === "string") base.encryptionMode = mode;

  if (protocol === "1.0") {
    const iv = requireBase64(root, "ContentEncryptionIV", "");
    if (iv.length !== 16) throw invalidEncryptionData("ContentEncryptionIV must be 16 bytes");
    return { ...base, protocol: "1.0", contentEncryptionIV: iv };
  }
  const region = requireObject(root, "EncryptedRegionInfo");
  const dataLength = requireInteger(region, "DataLength", "EncryptedRegionInfo.");
  const nonceLength = requireInteger(region, "NonceLength", "EncryptedRegionInfo.");
  if (nonceLength !== V2_NONCE_LENGTH) throw invalidEncryptionData("EncryptedRegionInfo.NonceLength must be 12");
  if (dataLength < MIN_REGION_SIZE || dataLength > MAX_REGION_SIZE) {
    throw invalidEncryptionData(`EncryptedRegionInfo.DataLength must be between ${MIN_REGION_SIZE} and ${MAX_REGION_SIZE}`);
  }
  // Protocol 2.0 is defined with 4 MiB regions (.NET refuses anything else as 2.0); other sizes are 2.1.
  if (protocol === "2.0" && dataLength !== V2_DEFAULT_REGION_SIZE) {
    throw invalidEncryptionData(`EncryptedRegionInfo.DataLength must be ${V2_DEFAULT_REGION_SIZE} for protocol 2.0`);
  }
  if (dataLength > maxRegion) {
    throw invalidEncryptionData(`EncryptedRegionInfo.DataLength ${dataLength} exceeds this reader's limit of ${maxRegion} bytes (raise the maxRegionSize read option to accept larger regions)`);
  }
  return { ...base, protocol: protocol as "2.0" | "2.1", encryptedRegionInfo: { dataLength, nonceLength: 12 } };
}

export interface SerializeEncryptionDataOptions {
  /** Blobs write `"EncryptionMode":"FullBlob"`; queue messages and table entities do not. */
  includeEncryptionMode: boolean;
}

/** JSON with every non-ASCII character escaped as \uXXXX, so the result is safe as an HTTP header value. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** The object form written by this library: exact names and casing, .NET/Java order, no extra fields. */
export function encryptionDataToJson(data: EncryptionData, options: SerializeEncryptionDataOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (options.includeEncryptionMode) out.EncryptionMode = "FullBlob";
  out.WrappedContentKey = {
    KeyId: data.wrappedContentKey.keyId,
    EncryptedKey: encodeBase64(data.wrappedContentKey.encryptedKey),
    Algorithm: data.wrappedContentKey.algorithm,
  };
  out.EncryptionAgent = { Protocol: data.protocol, EncryptionAlgorithm: data.protocol === "1.0" ? V1_ALGORITHM : V2_ALGORITHM };
  if (data.protocol === "1.0") out.ContentEncryptionIV = encodeBase64(data.contentEncryptionIV);
  else out.EncryptedRegionInfo = { DataLength: data.encryptedRegionInfo.dataLength, NonceLength: V2_NONCE_LENGTH };
  out.KeyWrappingMetadata = { EncryptionLibrary: data.keyWrappingMetadata?.EncryptionLibrary ?? LIBRARY_ID };
  return out;
}

/** Compact JSON, ASCII only. */
export function serializeEncryptionData(data: EncryptionData, options: SerializeEncryptionDataOptions): string {
  return asciiJson(encryptionDataToJson(data, options));
}

/** The blob metadata key. Writers use exactly this; readers match it case-insensitively. */
export const ENCRYPTION_DATA_METADATA_KEY = "encryptiondata";

/** Finds `encryptiondata` in a metadata map, whatever its letter case. Two spellings → INVALID_ENCRYPTION_DATA. */
export function findEncryptionDataInMetadata(metadata: Record<string, string> | undefined): string | undefined {
  if (!metadata) return undefined;
  let found: string | undefined;
  let n = 0;
  for (const [k, v] of Object.entries(metadata)) {
    if (k.toLowerCase() === ENCRYPTION_DATA_METADATA_KEY) {
      found = v;
      n++;
    }
  }
  if (n > 1) throw invalidEncryptionData("the metadata holds more than one encryptiondata key");
  return found;
}

/** Whether readers will treat the writer as legacy Java (table IV order): no KeyWrappingMetadata, or a library id containing "Java". */
export function isLegacyJavaWriter(data: EncryptionData): boolean {
  const lib = data.keyWrappingMetadata?.EncryptionLibrary;
  return data.keyWrappingMetadata === undefined || (lib !== undefined && lib.includes("Java"));
}
