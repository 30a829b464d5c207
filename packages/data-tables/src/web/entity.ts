// Table entities in the legacy SDKs' client-side encryption format (protocol 1.0, the only one any table reader
// knows), with the Web Crypto backend. The crypto-free format (names, limits, name lists, IV input, value shapes)
// is src/shared/entity-format.ts, shared with the Node entry; this module adds Web Crypto and the web API. Each
// selected string property is AES-256-CBC encrypted under one content key with
// IV = SHA-256(entity IV ‖ UTF-8(RowKey + PartitionKey + name))[0..16]; `_ClientEncryptionMetadata2` holds the
// encrypted name list, `_ClientEncryptionMetadata1` the EncryptionData. test/web.test.ts checks both entries
// read each other's entities.
import {
  ClientSideEncryptionError,
  LIBRARY_ID,
  base64DecodeStrict,
  parseEncryptionData,
  serializeEncryptionData,
  unwrapWebContentKey,
  webRandomBytes,
  type AbortSignalLike,
  type ClientSideEncryptionPolicy,
  type EncryptionDataV1,
} from "@azure-cse/core-envelope/web";
import {
  MAX_PROPERTY_VALUE_SIZE,
  MAX_USER_PROPERTIES,
  METADATA1,
  METADATA2,
  binaryBytes,
  formatNameList,
  getOwn as own,
  hasUserValues,
  isDroppedOnWrite,
  isPresent as present,
  isMetadataProperty as isMetadata,
  isSystemProperty as isSystem,
  propertyIvInput,
  stringValue,
  tryDecodeUtf8Strict,
  tryEntityKeys,
  tryParseNameList,
} from "../shared/entity-format.js";

export const WEB_METADATA1 = METADATA1;
export const WEB_METADATA2 = METADATA2;

/** Decides per property whether to encrypt it (never asked about keys, Timestamp or the metadata names). */
export type WebEncryptionResolver = (partitionKey: string, rowKey: string, propertyName: string) => boolean;

export interface WebPropertySelection {
  encryptionResolver?: WebEncryptionResolver;
  encryptedProperties?: readonly string[];
}

export type WebEntityRecord = Record<string, unknown>;

export interface WebEncryptedEntity {
  /** The entity to send: ciphertexts as Uint8Array (Edm.Binary) plus both metadata properties. */
  entity: WebEntityRecord & { partitionKey: string; rowKey: string };
  encryptedProperties: string[];
}

export interface WebDecryptEntityOptions {
  /** Decrypted values as `{ value, type: "String" }` (the SDK's disableTypeConversion shape). */
  typedValues?: boolean;
  abortSignal?: AbortSignalLike;
}

const invalid = (m: string) => new ClientSideEncryptionError("INVALID_ARGUMENT", m);
const decryptionFailed = () => new ClientSideEncryptionError("DECRYPTION_FAILED", "Decryption failed.");
const encoder = new TextEncoder();
const binaryValue = (v: unknown): Uint8Array | undefined => binaryBytes(v, base64DecodeStrict);

interface CbcSubtle {
  importKey(format: "raw", key: Uint8Array<ArrayBuffer>, algorithm: { name: "AES-CBC" }, extractable: false, usages: string[]): Promise<unknown>;
  encrypt(algorithm: { name: "AES-CBC"; iv: Uint8Array<ArrayBuffer> }, key: unknown, data: Uint8Array<ArrayBuffer>): Promise<ArrayBuffer>;
  decrypt(algorithm: { name: "AES-CBC"; iv: Uint8Array<ArrayBuffer> }, key: unknown, data: Uint8Array<ArrayBuffer>): Promise<ArrayBuffer>;
  digest(algorithm: "SHA-256", data: Uint8Array<ArrayBuffer>): Promise<ArrayBuffer>;
}
function subtle(): CbcSubtle {
  const s = (globalThis as { crypto?: { subtle?: CbcSubtle } }).crypto?.subtle;
  if (!s) throw new ClientSideEncryptionError("UNSUPPORTED_OPERATION", "Web Crypto (crypto.subtle) is not available here (browsers need a secure context).");
  return s;
}

/** First 16 bytes of SHA-256(entityIv ‖ UTF-8(s)); s = RowKey + PartitionKey + name (legacy Java: PartitionKey + RowKey + name). */
async function propertyIv(entityIv: Uint8Array, pk: string, rk: string, name: string, javaOrder: boolean): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await subtle().digest("SHA-256", propertyIvInput(entityIv, pk, rk, name, javaOrder))).slice(0, 16);
}

function entityKeys(entity: WebEntityRecord): { partitionKey: string; rowKey: string } {
  if (typeof entity !== "object" || entity === null || Array.isArray(entity)) throw invalid("The entity must be an object.");
  const keys = tryEntityKeys(entity);
  if (!keys) throw invalid("The entity needs string partitionKey and rowKey values.");
  return keys;
}

function quote(n: string): string {
  return JSON.stringify(n.length > 64 ? `${n.slice(0, 64)}…` : n);
}

/** The user properties of `entity` that `selection` would encrypt (no type check; keys, Timestamp and the metadata names never). */
export function webSelectedProperties(entity: WebEntityRecord, selection: WebPropertySelection = {}): string[] {
  const { partitionKey, rowKey } = entityKeys(entity);
  const listed = new Set(selection.encryptedProperties ?? []);
  return Object.keys(entity).filter((name) => !isSystem(name) && !isMetadata(name) && (listed.has(name) || (selection.encryptionResolver?.(partitionKey, rowKey, name) ?? false)));
}

/**
 * Encrypts the selected string properties with a fresh content key and entity IV (protocol 1.0 — tables have no
 * other) and adds both metadata properties, like the legacy .NET/Python writers. Non-string selections, reserved
 * names and values over the service's 64 KiB are INVALID_ARGUMENT / PAYLOAD_TOO_LARGE before anything is sent.
 */
export async function encryptWebEntity(entity: WebEntityRecord, policy: ClientSideEncryptionPolicy, selection: WebPropertySelection = {}, options: { abortSignal?: AbortSignalLike } = {}): Promise<WebEncryptedEntity> {
  const { partitionKey, rowKey } = entityKeys(entity);
  if (typeof policy !== "object" || policy === null) throw invalid("The encryption policy must be an object.");
  if (typeof selection !== "object" || selection === null) throw invalid("selection must be an object.");
  const listed = new Set(selection.encryptedProperties ?? []);
  if (selection.encryptedProperties !== undefined && !Array.isArray(selection.encryptedProperties)) throw invalid("encryptedProperties must be an array of property names.");
  if (selection.encryptionResolver !== undefined && typeof selection.encryptionResolver !== "function") throw invalid("encryptionResolver must be a function.");
  for (const n of listed) if (typeof n !== "string" || isSystem(n) || isMetadata(n)) throw invalid(`Property ${quote(String(n))} can never be encrypted.`);
  const names: string[] = [];
  let userCount = 0;
  for (const [name, value] of Object.entries(entity)) {
    if (isMetadata(name)) throw invalid(`The property name ${quote(name)} is reserved for the encryption metadata.`);
    if (name === "__proto__") throw invalid('A property named "__proto__" cannot be written through the web entry (the SDK drops it); use the Node entry.');
    if (isSystem(name)) continue;
    userCount++;
    const chosen = listed.has(name) || (selection.encryptionResolver?.(partitionKey, rowKey, name) ?? false);
    if (!chosen) continue;
    if (stringValue(value) === undefined) throw invalid(`Property ${quote(name)} is not a string; only string values can be encrypted.`);
    names.push(name);
  }
  if (userCount > MAX_USER_PROPERTIES) throw new ClientSideEncryptionError("PAYLOAD_TOO_LARGE", `The entity has ${userCount} properties; with the two metadata properties at most ${MAX_USER_PROPERTIES} fit.`);
  const kek = policy.keyEncryptionKey;
  if (!kek) throw new ClientSideEncryptionError("KEY_NOT_FOUND", "No keyEncryptionKey is configured, so nothing can be encrypted (and plaintext is never written).");
  const random = policy.random ?? webRandomBytes;
  const cek = Uint8Array.from(random(32));
  const iv = Uint8Array.from(random(16));
  if (cek.length !== 32 || iv.length !== 16) throw invalid("The random source returned the wrong number of bytes.");
  try {
    const algorithm = policy.keyWrapAlgorithm ?? kek.defaultWrapAlgorithm;
    let wrapped;
    try {
      wrapped = await kek.wrapKey(algorithm, cek.slice(), options.abortSignal ? { abortSignal: options.abortSignal } : {});
    } catch (e) {
      if (ClientSideEncryptionError.is(e)) throw e;
      throw new ClientSideEncryptionError("KEY_OPERATION_FAILED", "Wrapping the content key failed.", { cause: e, details: { keyId: kek.keyId } });
    }
    const data: EncryptionDataV1 = {
      wrappedContentKey: { keyId: wrapped.keyId || kek.keyId, encryptedKey: wrapped.encryptedKey, algorithm },
      keyWrappingMetadata: { EncryptionLibrary: LIBRARY_ID },
      protocol: "1.0",
      contentEncryptionIV: iv,
    };
    const key = await subtle().importKey("raw", cek, { name: "AES-CBC" }, false, ["encrypt"]);
    const seal = async (name: string, text: string) => new Uint8Array(await subtle().encrypt({ name: "AES-CBC", iv: await propertyIv(iv, partitionKey, rowKey, name, false) }, key, encoder.encode(text)));
    const chosen = new Set(names);
    const out = Object.create(null) as WebEncryptedEntity["entity"];
    out.partitionKey = partitionKey;
    out.rowKey = rowKey;
    for (const [name, value] of Object.entries(entity)) {
      if (isDroppedOnWrite(name)) continue;
      if (!chosen.has(name)) {
        out[name] = value;
        continue;
      }
      const c = await seal(name, stringValue(value)!);
      if (c.length > MAX_PROPERTY_VALUE_SIZE) throw new ClientSideEncryptionError("PAYLOAD_TOO_LARGE", `Encrypted property ${quote(name)} would be ${c.length} bytes; the service stores at most ${MAX_PROPERTY_VALUE_SIZE}.`);
      out[name] = c;
    }
    out[WEB_METADATA2] = await seal(WEB_METADATA2, formatNameList(names));
    out[WEB_METADATA1] = serializeEncryptionData(data, { includeEncryptionMode: false });
    return { entity: out, encryptedProperties: names };
  } finally {
    cek.fill(0);
  }
}

function parseNameList(text: string, java: boolean): string[] {
  const names = tryParseNameList(text, java);
  if (names === undefined) throw decryptionFailed();
  return names;
}

function parseTableData(raw: unknown): EncryptionDataV1 {
  const json = stringValue(raw);
  if (json === undefined) throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", `Invalid encryption metadata: ${WEB_METADATA1} is not a string.`);
  const data = parseEncryptionData(json);
  if (data.protocol !== "1.0") throw new ClientSideEncryptionError("UNSUPPORTED_PROTOCOL", `Table entities only use encryption protocol 1.0; this entity says "${data.protocol}".`, { details: { protocol: data.protocol } });
  return data;
}

async function openProperty(key: unknown, entityIv: Uint8Array, pk: string, rk: string, name: string, java: boolean, c: Uint8Array): Promise<string> {
  let text: string | undefined;
  try {
    const iv = await propertyIv(entityIv, pk, rk, name, java);
    text = tryDecodeUtf8Strict(new Uint8Array(await subtle().decrypt({ name: "AES-CBC", iv }, key, Uint8Array.from(c))));
  } catch {
    throw decryptionFailed();
  }
  if (text === undefined) throw decryptionFailed();
  return text;
}

/** An entity's metadata opened: the unwrapped content key (the caller wipes it) and the decrypted name list. */
export interface WebOpenedEntity {
  encryptionData: EncryptionDataV1;
  contentKey: Uint8Array;
  javaWriter: boolean;
  names: string[];
}

/**
 * Parses `_ClientEncryptionMetadata1`, unwraps the content key and decrypts the name list of
 * `_ClientEncryptionMetadata2` (the Node entry's `openEntity`): what merges and key rotation check before writing.
 */
export async function openWebEntity(metadata1: unknown, metadata2: unknown, partitionKey: string, rowKey: string, policy: ClientSideEncryptionPolicy, options: { abortSignal?: AbortSignalLike } = {}): Promise<WebOpenedEntity> {
  const data = parseTableData(metadata1);
  const list = binaryValue(metadata2) ?? (typeof metadata2 === "string" && metadata2.length <= (MAX_PROPERTY_VALUE_SIZE * 4) / 3 + 4 ? base64DecodeStrict(metadata2) : undefined);
  if (!list) throw new ClientSideEncryptionError("INVALID_ENCRYPTION_DATA", `Invalid encryption metadata: ${WEB_METADATA2} is not binary.`);
  if (list.length > MAX_PROPERTY_VALUE_SIZE) throw decryptionFailed();
  const java = data.keyWrappingMetadata === undefined || (data.keyWrappingMetadata.EncryptionLibrary ?? "").includes("Java");
  const cek = await unwrapWebContentKey(data, policy, options.abortSignal ? { abortSignal: options.abortSignal } : {});
  try {
    const key = await subtle().importKey("raw", Uint8Array.from(cek), { name: "AES-CBC" }, false, ["decrypt"]);
    const names = parseNameList(await openProperty(key, data.contentEncryptionIV, partitionKey, rowKey, WEB_METADATA2, java, list), java);
    return { encryptionData: data, contentKey: cek, javaWriter: java, names };
  } catch (e) {
    cek.fill(0);
    throw e;
  }
}

/**
 * Decrypts an entity read through the official TableClient (browser or Node build): every property named in
 * `_ClientEncryptionMetadata2` comes back as a string, and both metadata properties are removed. Legacy Java
 * writers (no KeyWrappingMetadata, or an EncryptionLibrary containing "Java") use their IV order and list
 * format. No metadata: ENCRYPTION_REQUIRED unless `requireEncryption: false`. Stored data that does not decrypt
 * (a listed property missing or not binary, one metadata property without the other) is DECRYPTION_FAILED.
 */
export async function decryptWebEntity<T extends WebEntityRecord>(entity: T, policy: ClientSideEncryptionPolicy, options: WebDecryptEntityOptions = {}): Promise<T> {
  if (typeof entity !== "object" || entity === null || Array.isArray(entity)) throw invalid("The entity must be an object.");
  if (typeof policy !== "object" || policy === null) throw invalid("The encryption policy must be an object.");
  const m1 = own(entity, WEB_METADATA1);
  const m2 = own(entity, WEB_METADATA2);
  const copy = (): T => {
    const out = Object.create(null) as WebEntityRecord;
    for (const [k, v] of Object.entries(entity)) if (!isMetadata(k)) out[k] = v;
    return out as T;
  };
  const keyOptions = options.abortSignal ? { abortSignal: options.abortSignal } : {};
  if (!present(m1) && !present(m2)) {
    if (policy.requireEncryption ?? true) throw new ClientSideEncryptionError("ENCRYPTION_REQUIRED", "The entity has no client-side encryption metadata, and requireEncryption is on.");
    return copy();
  }
  if (!present(m2) && present(m1)) {
    // Legacy Java writes no name list for an entity without properties; the key is still unwrapped.
    if (!hasUserValues(entity)) {
      (await unwrapWebContentKey(parseTableData(m1), policy, keyOptions)).fill(0);
      return copy();
    }
  }
  if (!present(m1) || !present(m2)) throw decryptionFailed();
  const { partitionKey: pk, rowKey: rk } = entityKeys(entity);
  const opened = await openWebEntity(m1, m2, pk, rk, policy, keyOptions);
  const { encryptionData: data, javaWriter: java, contentKey: cek } = opened;
  try {
    const key = await subtle().importKey("raw", Uint8Array.from(cek), { name: "AES-CBC" }, false, ["decrypt"]);
    const open = (name: string, c: Uint8Array): Promise<string> => openProperty(key, data.contentEncryptionIV, pk, rk, name, java, c);
    const names = new Set(opened.names);
    for (const n of names) if (isSystem(n) || isMetadata(n) || !present(own(entity, n))) throw decryptionFailed();
    const out = Object.create(null) as WebEntityRecord;
    for (const [name, value] of Object.entries(entity)) {
      if (isMetadata(name)) continue;
      if (!names.has(name)) {
        out[name] = value;
        continue;
      }
      const c = binaryValue(value);
      if (!c) throw decryptionFailed();
      const text = await open(name, c);
      out[name] = options.typedValues ? { value: text, type: "String" } : text;
    }
    return out as T;
  } finally {
    cek.fill(0);
  }
}
